#!/usr/bin/env bash
# Build the C runtime standalone (no Python): every csrc/*.c (the portable C99
# reference kernels and the model runner) with -std=c99 -Wall -Wextra -Werror into a
# static library, plus the public header next to it.
#
#   tools/build_c.sh [OUT_DIR]          default OUT_DIR: build/c
#   CC=arm-none-eabi-gcc CFLAGS="-mcpu=cortex-m4 -mthumb -Os" AR=arm-none-eabi-ar \
#       tools/build_c.sh build/m4       a cross build (any C99 compiler)
#
# -fno-strict-aliasing: the runner reads int32 tables straight out of the model blob
# (a byte array), as the cffi build does. The SIMD variants in csrc/x86/ are chosen by
# csrc/build_ffi.py for the Python extension only; this build is the portable one.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${1:-build/c}"
CC="${CC:-gcc}"
AR="${AR:-ar}"
CFLAGS="${CFLAGS:--O2}"
mkdir -p "$OUT/obj"
rm -f "$OUT"/obj/*.o "$OUT/libpyreparam.a"
for src in csrc/*.c; do
    # shellcheck disable=SC2086
    "$CC" -std=c99 -Wall -Wextra -Werror -fno-strict-aliasing $CFLAGS -Icsrc \
        -c "$src" -o "$OUT/obj/$(basename "$src" .c).o"
done
"$AR" rcs "$OUT/libpyreparam.a" "$OUT"/obj/*.o
cp csrc/pyreparam.h "$OUT/"
echo "built $OUT/libpyreparam.a ($(ls "$OUT"/obj/*.o | wc -l) objects) and $OUT/pyreparam.h"
