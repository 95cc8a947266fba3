#!/usr/bin/env bash
# Cross builds for the MPS2 Cortex-M boards under QEMU (see README.md).
#
#   tools/mcu/build.sh lib TARGET VARIANT OUT_DIR
#       the C runtime as OUT_DIR/libpyreparam.a: every csrc/*.c, C99, -Werror;
#       VARIANT "ref" = the portable reference kernels, "dsp" = each reference file
#       replaced by its csrc/arm/<name>_dsp.c variant when there is one (same
#       prototypes, bit-identical results; needs a core with the DSP extension),
#       plus the shared kernels csrc/arm/pr_arm_*_dsp.c
#   tools/mcu/build.sh ktest TARGET OUT_DIR
#       OUT_DIR/kernel_test.elf: the dsp variants against the reference kernels
#       (kernel_test.c), each reference file compiled with its public name prefixed
#       by ref_
#   tools/mcu/build.sh fe TARGET LIB_DIR HEADER_DIR OUT_ELF
#       the front-end firmware: start-up, frontend_test.c and HEADER_DIR/frontend.h
#       (from frontend.py), linked with LIB_DIR/libpyreparam.a by link.ld
#   tools/mcu/build.sh head TARGET LIB_DIR HEADER_DIR OUT_ELF
#       the statistics head's firmware: start-up, head_test.c and HEADER_DIR/head.h
#       (from head.py), linked with LIB_DIR/libpyreparam.a by link.ld
#   tools/mcu/build.sh loop TARGET LIB_DIR HEADER_DIR OUT_ELF
#       a whole utterance with the head: head_loop.c, HEADER_DIR/model.h (export) and
#       HEADER_DIR/loop.h (head.py)
#   tools/mcu/build.sh layers TARGET LIB_DIR MODEL_DIR OUT_ELF
#       the layers firmware (layers.c: each product / softmax / depthwise call of one
#       pr_model_run marked and its shape printed), the kernels wrapped with -Wl,--wrap
#   tools/mcu/build.sh fw TARGET LIB_DIR MODEL_DIR OUT_ELF
#       the firmware: start-up, harness (main.c), MODEL_DIR/model.h (from
#       `pyreparam export --name pr_model_blob`) and MODEL_DIR/inputs.h, linked with
#       LIB_DIR/libpyreparam.a by link.ld; also OUT_ELF.map
#   tools/mcu/build.sh pipe TARGET LIB_DIR MODEL_DIR REC_DIR OUT_ELF
#       the pipeline firmware: start-up, pipeline.c, MODEL_DIR/model.h (with the
#       stream's configuration) and REC_DIR/recordings.h (from pipeline.py)
#   tools/mcu/build.sh cflags TARGET
#       prints the code generation flags of the runtime's build for TARGET (-O level,
#       CPU and float ABI, -fno-strict-aliasing): cmsis_nn.py builds CMSIS-NN with them
#
# TARGET: m3 (mps2-an385, Cortex-M3, no FPU), m4 (mps2-an386, Cortex-M4F, DSP),
# m7 (mps2-an500, Cortex-M7, DSP). OPT (default -O2) sets the optimization level.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CC="${CC_ARM:-arm-none-eabi-gcc}"
AR="${AR_ARM:-arm-none-eabi-ar}"
OPT="${OPT:--O2}"

cpu_flags() {
    case "$1" in
        m3) echo "-mcpu=cortex-m3 -mthumb -mfloat-abi=soft" ;;
        m4) echo "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16" ;;
        m7) echo "-mcpu=cortex-m7 -mthumb -mfloat-abi=hard -mfpu=fpv5-d16" ;;
        *) echo "unknown target $1 (m3, m4, m7)" >&2; exit 2 ;;
    esac
}

compile() {
    # shellcheck disable=SC2086
    "$CC" -std=c99 -Wall -Wextra -Werror -fno-strict-aliasing $OPT $1 \
        -ffunction-sections -fdata-sections -I"$ROOT/csrc" -I"$ROOT/csrc/arm" \
        -c "$2" -o "$3"
}

build_lib() {
    local target="$1" variant="$2" out="$3" flags src name
    flags="$(cpu_flags "$target")"
    if [[ "$variant" == dsp && "$target" == m3 ]]; then
        echo "the dsp variant needs the DSP extension (m4, m7), not $target" >&2
        exit 2
    fi
    [[ "$variant" == ref || "$variant" == dsp ]] || { echo "variant: ref or dsp" >&2; exit 2; }
    mkdir -p "$out/obj"
    rm -f "$out"/obj/*.o "$out/libpyreparam.a"
    for src in "$ROOT"/csrc/*.c; do
        name="$(basename "$src" .c)"
        if [[ "$variant" == dsp && -f "$ROOT/csrc/arm/${name}_dsp.c" ]]; then
            src="$ROOT/csrc/arm/${name}_dsp.c"
        fi
        # shellcheck disable=SC2086
        compile "$flags" "$src" "$out/obj/$name.o"
    done
    if [[ "$variant" == dsp ]]; then
        for src in "$ROOT"/csrc/arm/pr_arm_*_dsp.c; do
            compile "$flags" "$src" "$out/obj/$(basename "$src" .c).o"
        done
    fi
    "$AR" rcs "$out/libpyreparam.a" "$out"/obj/*.o
}

build_fw() {
    local target="$1" lib="$2" model="$3" elf="$4" flags cpu
    flags="$(cpu_flags "$target")"
    case "$target" in m3) cpu=cortex-m3 ;; m4) cpu=cortex-m4 ;; m7) cpu=cortex-m7 ;; esac
    mkdir -p "$(dirname "$elf")"
    # shellcheck disable=SC2086
    "$CC" -std=gnu99 -Wall -Wextra -Werror $OPT $flags -ffunction-sections -fdata-sections \
        -DMCU_CPU_NAME="\"$cpu\"" -I"$ROOT/csrc" -I"$model" \
        "$HERE/startup.c" "$HERE/main.c" \
        --specs=nano.specs --specs=rdimon.specs -nostartfiles -T "$HERE/link.ld" \
        -Wl,--gc-sections -Wl,-Map="$elf.map" -L"$lib" -lpyreparam -o "$elf"
}

WRAPPED="pr_linear_s8 pr_linear_s8_s16 pr_conv1d_s8 pr_bmm_nt_s8 pr_bmm_nn_s8 pr_softmax_s8
pr_depthwise_conv1d_s8"

build_layers() {
    local target="$1" lib="$2" model="$3" elf="$4" flags wraps=() name
    flags="$(cpu_flags "$target")"
    for name in $WRAPPED; do wraps+=("-Wl,--wrap=$name"); done
    mkdir -p "$(dirname "$elf")"
    # shellcheck disable=SC2086
    "$CC" -std=gnu99 -Wall -Wextra -Werror $OPT $flags -ffunction-sections -fdata-sections \
        -I"$ROOT/csrc" -I"$model" "$HERE/startup.c" "$HERE/layers.c" \
        --specs=nano.specs --specs=rdimon.specs -nostartfiles -T "$HERE/link.ld" \
        -Wl,--gc-sections "${wraps[@]}" -L"$lib" -lpyreparam -o "$elf"
}

# A harness firmware: start-up, one harness source (frontend_test.c, head_test.c,
# head_loop.c) and the generated headers of HEADER_DIR, linked with the runtime.
build_harness() {
    local target="$1" lib="$2" header="$3" elf="$4" source="$5" flags
    flags="$(cpu_flags "$target")"
    mkdir -p "$(dirname "$elf")"
    # shellcheck disable=SC2086
    "$CC" -std=gnu99 -Wall -Wextra -Werror $OPT $flags -ffunction-sections -fdata-sections \
        -I"$ROOT/csrc" -I"$header" "$HERE/startup.c" "$HERE/$source" \
        --specs=nano.specs --specs=rdimon.specs -nostartfiles -T "$HERE/link.ld" \
        -Wl,--gc-sections -Wl,-Map="$elf.map" -L"$lib" -lpyreparam -o "$elf"
}

build_pipe() {
    local target="$1" lib="$2" model="$3" recs="$4" elf="$5" flags cpu
    flags="$(cpu_flags "$target")"
    case "$target" in m3) cpu=cortex-m3 ;; m4) cpu=cortex-m4 ;; m7) cpu=cortex-m7 ;; esac
    mkdir -p "$(dirname "$elf")"
    # shellcheck disable=SC2086
    "$CC" -std=gnu99 -Wall -Wextra -Werror $OPT $flags -ffunction-sections -fdata-sections \
        -DMCU_CPU_NAME="\"$cpu\"" -I"$ROOT/csrc" -I"$model" -I"$recs" \
        "$HERE/startup.c" "$HERE/pipeline.c" \
        --specs=nano.specs --specs=rdimon.specs -nostartfiles -T "$HERE/link.ld" \
        -Wl,--gc-sections -Wl,-Map="$elf.map" -L"$lib" -lpyreparam -o "$elf"
}

build_ktest() {
    local target="$1" out="$2" flags src name objs=()
    flags="$(cpu_flags "$target")"
    build_lib "$target" dsp "$out/lib"
    mkdir -p "$out/ref"
    for src in "$ROOT"/csrc/arm/pr_*_dsp.c; do
        name="$(basename "$src" _dsp.c)"
        case "$name" in pr_arm_*|pr_build_info) continue ;; esac
        compile "$flags -D$name=ref_$name" "$ROOT/csrc/$name.c" "$out/ref/$name.o"
        objs+=("$out/ref/$name.o")
    done
    # shellcheck disable=SC2086
    "$CC" -std=gnu99 -Wall -Wextra -Werror $OPT $flags -ffunction-sections -fdata-sections \
        -fno-strict-aliasing -I"$ROOT/csrc" -I"$ROOT/csrc/arm" \
        "$HERE/startup.c" "$HERE/kernel_test.c" "${objs[@]}" \
        --specs=nano.specs --specs=rdimon.specs -nostartfiles -T "$HERE/link.ld" \
        -Wl,--gc-sections -L"$out/lib" -lpyreparam -o "$out/kernel_test.elf"
}

case "${1:-}" in
    lib) [[ $# -eq 4 ]] || { echo "usage: $0 lib TARGET VARIANT OUT_DIR" >&2; exit 2; }
         build_lib "$2" "$3" "$4" ;;
    ktest) [[ $# -eq 3 ]] || { echo "usage: $0 ktest TARGET OUT_DIR" >&2; exit 2; }
           build_ktest "$2" "$3" ;;
    fe) [[ $# -eq 5 ]] || { echo "usage: $0 fe TARGET LIB_DIR HEADER_DIR OUT_ELF" >&2; exit 2; }
        build_harness "$2" "$3" "$4" "$5" frontend_test.c ;;
    head) [[ $# -eq 5 ]] || { echo "usage: $0 head TARGET LIB_DIR HEADER_DIR OUT_ELF" >&2; exit 2; }
        build_harness "$2" "$3" "$4" "$5" head_test.c ;;
    loop) [[ $# -eq 5 ]] || { echo "usage: $0 loop TARGET LIB_DIR HEADER_DIR OUT_ELF" >&2; exit 2; }
        build_harness "$2" "$3" "$4" "$5" head_loop.c ;;
    layers) [[ $# -eq 5 ]] || { echo "usage: $0 layers TARGET LIB_DIR MODEL_DIR OUT_ELF" >&2; exit 2; }
        build_layers "$2" "$3" "$4" "$5" ;;
    fw) [[ $# -eq 5 ]] || { echo "usage: $0 fw TARGET LIB_DIR MODEL_DIR OUT_ELF" >&2; exit 2; }
        build_fw "$2" "$3" "$4" "$5" ;;
    cflags) [[ $# -eq 2 ]] || { echo "usage: $0 cflags TARGET" >&2; exit 2; }
            echo "$OPT $(cpu_flags "$2") -fno-strict-aliasing" ;;
    pipe) [[ $# -eq 6 ]] || { echo "usage: $0 pipe TARGET LIB_DIR MODEL_DIR REC_DIR OUT_ELF" >&2; exit 2; }
          build_pipe "$2" "$3" "$4" "$5" "$6" ;;
    *) sed -n '2,30p' "$0" >&2; exit 2 ;;
esac
