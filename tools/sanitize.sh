#!/usr/bin/env bash
# Build the C runtime's sources strictly and run the int8 kernels under ASan + UBSan.
#   1. every csrc/*.c compiles with -std=c99 -Wall -Wextra -Werror -pedantic at -O0
#      and -O3 (the cffi build itself does not use -Werror);
#   2. tools/sanitize_driver.c is linked against csrc/*.c with
#      -fsanitize=address,undefined -fno-sanitize-recover=all, at -O1 and at -O3 (the
#      vectorized loops), and run: any sanitizer report aborts with a non-zero status.
# Exits non-zero on any warning, any sanitizer report or any unexpected status code.
# Usage: tools/sanitize.sh        (CC=clang tools/sanitize.sh to use another compiler)
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

export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:exitcode=99"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
for opt in -O1 -O3; do
    echo "== ASan + UBSan driver ($opt)"
    "$CC" "${STRICT[@]}" "$opt" -g -fno-omit-frame-pointer \
        -fsanitize=address,undefined -fno-sanitize-recover=all \
        tools/sanitize_driver.c csrc/*.c -o "$OUT/sanitize_driver"
    "$OUT/sanitize_driver"
done
echo "== sanitize: clean"
