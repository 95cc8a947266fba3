#!/usr/bin/env bash
# Cortex-M end to end: install the cross compiler, newlib and QEMU if missing
# (Debian/Ubuntu packages, as root or through sudo), then build, run under
# qemu-system-arm and check every model's int8 logits against the host C runtime and
# the NumPy reference (tools/mcu/mcu.py; README.md in this folder).
#
#   tools/mcu/run.sh [--json PATH] [--targets m4-ref,m4-dsp,m3-ref,m7-dsp]
#                    [--models convtransformer,conformer,speechformer] [--inputs 3]
#                    [--profile] [--no-verify-counts] [--prq BACKBONE=PATH]
#                    [--layers] [--cmsis-nn CMSIS_NN_CHECKOUT] ...
#
# Exit status 0 only when every output matched. PYTHON selects the interpreter that
# has pyreparam installed (default: the first of python, python3 that imports it).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"

missing=()
command -v arm-none-eabi-gcc >/dev/null || missing+=(gcc-arm-none-eabi)
if ! command -v arm-none-eabi-gcc >/dev/null ||
   [[ "$(arm-none-eabi-gcc -print-file-name=rdimon.specs)" == rdimon.specs ]]; then
    missing+=(libnewlib-arm-none-eabi)
fi
command -v qemu-system-arm >/dev/null || missing+=(qemu-system-arm)
command -v cc >/dev/null || missing+=(gcc)
source "$HERE/run_lib.sh"
install_missing "${missing[@]}"
run_driver "$HERE/mcu.py" "$@"
