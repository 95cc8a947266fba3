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
source "$HERE/../mcu/run_lib.sh"
install_missing "${missing[@]}"
run_driver "$HERE/aarch64.py" "$@"
