#!/usr/bin/env bash
# Build the C runtime's sources strictly and run the int8 kernels and the model
# runner under ASan + UBSan.
#   1. every csrc/*.c compiles with -std=c99 -Wall -Wextra -Werror -pedantic at -O0
#      and -O3 (the cffi build itself does not use -Werror);
#   2. tools/sanitize_driver.c (the kernels) and tools/sanitize_model_driver.c (the
#      model runner on real .prq files from tools/make_prq_samples.py: valid runs at
#      many lengths, every truncation, thousands of corrupted copies with the CRC
#      repaired) are linked against csrc/*.c with -fsanitize=address,undefined
#      -fno-sanitize-recover=all, at -O1 and at -O3 (the vectorized loops), and run:
#      any sanitizer report aborts with a non-zero status.
# Exits non-zero on any warning, any sanitizer report or any unexpected status code.
# Usage: tools/sanitize.sh        (CC=clang tools/sanitize.sh to use another compiler;
#        PYTHON=... the interpreter with pyreparam installed, default python3)
set -euo pipefail
cd "$(dirname "$0")/.."

CC="${CC:-gcc}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
STRICT=(-std=c99 -Wall -Wextra -Werror -pedantic -Icsrc)

echo "== strict compile ($CC -Werror)"
for opt in -O0 -O3; do
    for src in csrc/*.c; do
        "$CC" "${STRICT[@]}" "$opt" -c "$src" -o "$OUT/$(basename "$src" .c).o"
    done
done

echo "== sample model files (tools/make_prq_samples.py)"
"${PYTHON:-python3}" tools/make_prq_samples.py "$OUT/models"

export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:exitcode=99"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
for opt in -O1 -O3; do
    echo "== ASan + UBSan driver ($opt)"
    "$CC" "${STRICT[@]}" "$opt" -g -fno-omit-frame-pointer \
        -fsanitize=address,undefined -fno-sanitize-recover=all \
        tools/sanitize_driver.c csrc/*.c -o "$OUT/sanitize_driver"
    "$OUT/sanitize_driver"
    echo "== ASan + UBSan model runner ($opt)"
    "$CC" "${STRICT[@]}" "$opt" -g -fno-omit-frame-pointer -fno-strict-aliasing \
        -fsanitize=address,undefined -fno-sanitize-recover=all \
        tools/sanitize_model_driver.c csrc/*.c -o "$OUT/sanitize_model_driver"
    "$OUT/sanitize_model_driver" "$OUT"/models/*.prq
done
echo "== sanitize: clean"
