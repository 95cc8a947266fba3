# Sourced by tools/mcu/run.sh and tools/aarch64/run.sh: install what a harness needs
# from Debian's packages, then hand over to its Python driver.
#
#   install_missing PACKAGE...   apt-get install them (as root, or through sudo);
#                                nothing when the list is empty
#   run_driver SCRIPT ARGS...    exec SCRIPT with the first of $PYTHON, python, python3
#                                that imports pyreparam

install_missing() {
    (($#)) || return 0
    echo "installing $*"
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        if ! command -v sudo >/dev/null; then
            echo "need root (or sudo) to install $*" >&2
            exit 2
        fi
        sudo=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

run_driver() {
    local script=$1 candidate
    shift
    for candidate in "${PYTHON:-}" python python3; do
        if [[ -n "$candidate" ]] && "$candidate" -c "import pyreparam" 2>/dev/null; then
            exec "$candidate" "$script" "$@"
        fi
    done
    echo "no Python with pyreparam installed: set PYTHON (e.g. PYTHON=.venv/bin/python)" >&2
    exit 2
}
