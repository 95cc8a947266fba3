#!/usr/bin/env bash
# aarch64 end to end: install the cross compiler, its C library and qemu-user if missing
# (Debian/Ubuntu packages, as root or through sudo), then build the runtime for the
# portable reference, NEON and NEON + dot product, run the kernel tests and the light
# models under qemu-aarch64 and check every output bit for bit against the host C
# runtime and the NumPy reference (tools/aarch64/aarch64.py; README.md in this folder).
#
#   tools/aarch64/run.sh [--json PATH] [--variants ref,neon,neondot]
#                        [--models convtransformer,conformer,speechformer] [--inputs 3]
#                        [--profile] [--no-verify-counts] [--prq BACKBONE=PATH] ...
#
# Exit status 0 only when every output matched. PYTHON selects the interpreter that
# has pyreparam installed (default: the first of python, python3 that imports it).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"

missing=()
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu)
if [[ ! -f /usr/aarch64-linux-gnu/lib/libc.a ]]; then
    missing+=(libc6-dev-arm64-cross)
fi
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
command -v cc >/dev/null || missing+=(gcc)
if ((${#missing[@]})); then
    echo "installing ${missing[*]}"
    if [[ $(id -u) -eq 0 ]]; then
        SUDO=()
    elif command -v sudo >/dev/null; then
        SUDO=(sudo)
    else
        echo "need root (or sudo) to install ${missing[*]}" >&2
        exit 2
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for candidate in "${PYTHON:-}" python python3; do
    if [[ -n "$candidate" ]] && "$candidate" -c "import pyreparam" 2>/dev/null; then
        exec "$candidate" "$HERE/aarch64.py" "$@"
    fi
done
echo "no Python with pyreparam installed: set PYTHON (e.g. PYTHON=.venv/bin/python)" >&2
exit 2
