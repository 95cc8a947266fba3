#!/usr/bin/env bash
# Build the C runtime's sources strictly and run the int8 kernels and the model
# runner under ASan + UBSan, for the portable build and every x86 SIMD build this
# machine runs.
#   1. every csrc/*.c compiles with -std=c99 -Wall -Wextra -Werror -pedantic at -O0
#      and -O3 (the cffi build itself does not use -Werror); so do the SIMD variants
#      csrc/x86/*.c of every level the machine runs;
#   2. tools/sanitize_driver.c (the kernels) and tools/sanitize_model_driver.c (the
#      model runner on real .prq files from tools/make_prq_samples.py, plus tiny
#      models with the least-memory attention schedules written as format version 1:
#      valid runs at many lengths, every truncation, thousands of corrupted copies
#      with the CRC repaired) are linked against csrc/*.c with
#      -fsanitize=address,undefined -fno-sanitize-recover=all, at -O1 and at -O3 (the
#      vectorized loops), and run: any sanitizer report aborts with a non-zero status;
#   3. the same two drivers at -O3 against the sources of each SIMD level the
#      machine's compiler builds and its CPU runs (csrc/build_ffi.py: probe,
#      select_sources), so the AVX2 / AVX-512 kernels run under the sanitizers too.
# Exits non-zero on any warning, any sanitizer report or any unexpected status code.
# Usage: tools/sanitize.sh        (CC=clang tools/sanitize.sh to use another compiler;
#        PYTHON=... the interpreter with pyreparam installed, default python3;
#        SIMD_LEVELS="avx2" to choose the SIMD levels, "" for none; JOBS=n parallel
#        compiles, default the number of CPUs)
set -euo pipefail
cd "$(dirname "$0")/.."

CC="${CC:-gcc}"
PY="${PYTHON:-python3}"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
STRICT=(-std=c99 -Wall -Wextra -Werror -pedantic -Icsrc)
SANITIZE=(-g -fno-omit-frame-pointer -fno-strict-aliasing -fsanitize=address,undefined
          -fno-sanitize-recover=all)

# csrc/build_ffi.py: "levels" (the SIMD levels this machine builds and runs) or
# "sources LEVEL" (the C files of a build at that level)
ffi() {
    CC="$CC" "$PY" - "$@" 2>/dev/null <<'EOF'
import os
import sys
sys.path.insert(0, "csrc")
import build_ffi
cmd, *args = sys.argv[1:]
if cmd == "levels":
    print(" ".join(lv for lv in build_ffi.SIMD_LEVELS[1:] if build_ffi.probe(lv)))
else:
    print(" ".join(os.path.relpath(p) for p in build_ffi.select_sources(args[0])))
EOF
}

if [ -z "${SIMD_LEVELS+set}" ]; then
    SIMD_LEVELS="$(ffi levels)"
fi

# compile_one DIR FLAGS... SOURCE: DIR/<source path with / as _>.o
compile_one() {
    local dir="$1" src="${!#}"
    set -- "${@:2:$#-2}"
    "$CC" "$@" -c "$src" -o "$dir/$(echo "${src%.c}" | tr / _).o"
}
export -f compile_one
export CC

# compile_all DIR FLAGS... -- SOURCES...: the sources not yet in DIR, JOBS at a time
compile_all() {
    local dir="$1" flags=() src todo=()
    shift
    while [ "$1" != "--" ]; do flags+=("$1"); shift; done
    shift
    mkdir -p "$dir"
    for src in "$@"; do
        [ -f "$dir/$(echo "${src%.c}" | tr / _).o" ] || todo+=("$src")
    done
    if [ "${#todo[@]}" -gt 0 ]; then
        printf '%s\n' "${todo[@]}" | xargs -P "$JOBS" -n 1 bash -c 'compile_one "$@"' _ \
            "$dir" "${flags[@]}"
    fi
}

echo "== strict compile ($CC -Werror)"
compile_all "$OUT/strict-O0" "${STRICT[@]}" -O0 -- csrc/*.c
compile_all "$OUT/strict-O3" "${STRICT[@]}" -O3 -- csrc/*.c
for level in $SIMD_LEVELS; do
    echo "== strict compile of the $level variants"
    # shellcheck disable=SC2046
    compile_all "$OUT/strict-O3" "${STRICT[@]}" -O3 -- $(ffi sources "$level")
done

echo "== sample model files (tools/make_prq_samples.py, least-memory / version 1)"
"$PY" tools/make_prq_samples.py "$OUT/models"
"$PY" - "$OUT/models" <<'EOF'
import sys
from pathlib import Path
sys.path.insert(0, "tools")
from make_prq_samples import TINY, sample
from pyreparam.quant.program import OP_MHA, check_arena, mha_scratch_bytes, plan_arena
from pyreparam.quant.prq import write_prq
out = Path(sys.argv[1])
for backbone, overrides in TINY.items():
    program, meta = sample(backbone, overrides, 40)
    for op in program.ops:               # the least-memory schedule: one row, one head
        if op.type == OP_MHA:
            f = op.fields
            x = program.tensors[f["x"]]
            f.update(q_block=1, head_batch=1, qkv_all=0)
            program.tensors[f["scratch"]].cols = mha_scratch_bytes(
                x.rows, x.cols, f["heads"], f["window"])
    plan_arena(program)
    check_arena(program)
    (out / f"tiny_{backbone}_v1.prq").write_bytes(write_prq(program, meta, version=1))
print(f"wrote {len(TINY)} version-1 model files to {out}")
EOF

export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:exitcode=99"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

# run_drivers LABEL OPT SOURCES...: the runtime's sources compiled with the sanitizers
# (a file shared by several builds, e.g. the model runner, only once per OPT), both
# drivers linked against them and run
run_drivers() {
    local label="$1" opt="$2" objs=() src
    shift 2
    echo "== ASan + UBSan build of the runtime ($label, $opt)"
    compile_all "$OUT/san$opt" "${STRICT[@]}" "$opt" "${SANITIZE[@]}" -- "$@"
    for src in "$@"; do
        objs+=("$OUT/san$opt/$(echo "${src%.c}" | tr / _).o")
    done
    echo "== ASan + UBSan driver ($label, $opt)"
    "$CC" "${STRICT[@]}" "$opt" "${SANITIZE[@]}" tools/sanitize_driver.c "${objs[@]}" \
        -o "$OUT/sanitize_driver"
    "$OUT/sanitize_driver"
    echo "== ASan + UBSan model runner ($label, $opt)"
    "$CC" "${STRICT[@]}" "$opt" "${SANITIZE[@]}" tools/sanitize_model_driver.c "${objs[@]}" \
        -o "$OUT/sanitize_model_driver"
    "$OUT/sanitize_model_driver" "$OUT"/models/*.prq
}

for opt in -O1 -O3; do
    run_drivers portable "$opt" csrc/*.c
done
for level in $SIMD_LEVELS; do
    # shellcheck disable=SC2046
    run_drivers "simd=$level" -O3 $(ffi sources "$level")
done
echo "== sanitize: clean (SIMD levels: ${SIMD_LEVELS:-none})"
