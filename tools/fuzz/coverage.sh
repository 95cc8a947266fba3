#!/usr/bin/env bash
# Source coverage of a fuzzing run's corpus (tools/fuzz/run.sh with WORK=DIR):
#   C       the harness rebuilt with clang's source-based coverage, every input of
#           DIR/prq and the seeds replayed, llvm-cov's report of the model loader
#           (pr_model_check, pr_model_run and their headers) and of all of csrc/
#   Python  fuzz_loaders.py --replay over DIR/python and the seeds under coverage.py
#           (pip install coverage), the report of the loader modules
# Usage: tools/fuzz/coverage.sh DIR      (CC, PYTHON, LLVM_COV, LLVM_PROFDATA as in run.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR="$1"
CC="${CC:-clang}"
PY="${PYTHON:-python3}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

if [ -d "$DIR/prq" ]; then
    echo "== C model loader: $(ls "$DIR/prq" | wc -l) inputs + seeds"
    "$CC" -g -O1 -std=c99 -Icsrc -fsanitize=fuzzer -fprofile-instr-generate \
        -fcoverage-mapping tools/fuzz/prq_fuzz.c csrc/*.c -o "$OUT/prq_cov"
    LLVM_PROFILE_FILE="$OUT/prq.profraw" "$OUT/prq_cov" -runs=0 "$DIR/prq" \
        tools/fuzz/corpus/prq >"$OUT/replay.log" 2>&1
    "${LLVM_PROFDATA:-llvm-profdata}" merge -sparse "$OUT/prq.profraw" -o "$OUT/prq.profdata"
    "${LLVM_COV:-llvm-cov}" report "$OUT/prq_cov" -instr-profile="$OUT/prq.profdata" \
        csrc/pr_model_check.c csrc/pr_model_run.c csrc/pr_model_validate.c csrc/pr_model_validate.h \
        csrc/pr_model_validate_ops.h csrc/pr_model_run_ops.h
    echo "all of csrc/:"
    "${LLVM_COV:-llvm-cov}" report "$OUT/prq_cov" -instr-profile="$OUT/prq.profdata" | tail -1
fi
if [ -d "$DIR/python" ]; then
    echo "== Python loaders: $(ls "$DIR/python" | wc -l) inputs + seeds"
    OMP_NUM_THREADS=1 "$PY" -m coverage run --data-file="$OUT/.coverage" \
        --include='*/pyreparam/quant/prq.py,*/pyreparam/models/archive.py,*/pyreparam/models/checkpoint.py,*/pyreparam/validate.py,*/pyreparam/data/manifest.py,*/pyreparam/audio/decode.py,*/pyreparam/infer.py,*/pyreparam/quant/workflow.py' \
        tools/fuzz/fuzz_loaders.py --replay "$DIR/python" tools/fuzz/corpus/python 2>/dev/null
    "$PY" -m coverage report --data-file="$OUT/.coverage"
fi
