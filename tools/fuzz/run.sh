#!/usr/bin/env bash
# Run the fuzzers for a bounded time, one after the other:
#   c       tools/fuzz/prq_fuzz.c: libFuzzer + ASan + UBSan on pr_model_check and
#           pr_model_run (clang -fsanitize=fuzzer,address,undefined, csrc/*.c at -O1)
#   python  tools/fuzz/fuzz_loaders.py: atheris on the Python loaders (.prq, .npz,
#           manifests, audio decoding); needs `pip install ".[fuzz]"` (atheris)
# Each starts from its committed seed corpus (tools/fuzz/corpus/{prq,python}, left
# unchanged) and grows a working corpus in WORK; the last line of each run gives
# executions, coverage (cov: edges, ft: features) and corpus size. Exits non-zero on
# a crash, a sanitizer report, a leak, a timeout or an out-of-memory, and prints the
# input that caused it (also kept in WORK as crash-*, timeout-*, oom-*).
#
# Usage: tools/fuzz/run.sh [SECONDS [c|python|both]]
#   tools/fuzz/run.sh 60            # CI: 60 s each
#   tools/fuzz/run.sh 1800          # the longer run: 30 min each
#   WORK=build/fuzz tools/fuzz/run.sh 1800 c   # keep the working corpus
# Environment: CC (default clang), PYTHON (default python3), WORK (default a
# temporary folder), RSS_LIMIT_MB (default 2048 for C, 4096 for Python).
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_EACH="${1:-60}"
WHICH="${2:-both}"
CC="${CC:-clang}"
PY="${PYTHON:-python3}"
WORK="${WORK:-$(mktemp -d)}"
mkdir -p "$WORK/prq" "$WORK/python"

# summarize LOG: the final statistics of a libFuzzer log
summarize() {
    grep -E "^#[0-9]+[[:space:]]+DONE|^Done [0-9]+ runs|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" "$1" || true
}

# fuzz NAME LOG COMMAND...: run one fuzzer, report, fail on a finding
fuzz() {
    local name="$1" log="$2"
    shift 2
    echo "== fuzz $name for $SECONDS_EACH s"
    local status=0
    "$@" >"$log" 2>&1 || status=$?
    summarize "$log"
    if [ "$status" -ne 0 ]; then
        echo "FAIL: $name fuzzer exited with $status; the end of its log ($log):"
        grep -v '^"' "$log" | tail -40
        ls "$WORK"/{crash,timeout,oom,leak}-* 2>/dev/null || true
        return 1
    fi
}

if [ "$WHICH" = c ] || [ "$WHICH" = both ]; then
    echo "== build the libFuzzer harness ($CC, ASan + UBSan)"
    "$CC" -g -O1 -std=c99 -Icsrc -fsanitize=fuzzer,address,undefined \
        -fno-sanitize-recover=all tools/fuzz/prq_fuzz.c csrc/*.c -o "$WORK/prq_fuzz"
    ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="print_stacktrace=1" \
        fuzz "C model loader (pr_model_check, pr_model_run)" "$WORK/prq.log" \
        "$WORK/prq_fuzz" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
        -rss_limit_mb="${RSS_LIMIT_MB:-2048}" -timeout=30 -artifact_prefix="$WORK/" \
        "$WORK/prq" tools/fuzz/corpus/prq
fi

if [ "$WHICH" = python ] || [ "$WHICH" = both ]; then
    if ! "$PY" -c "import atheris" 2>/dev/null; then
        echo "atheris is missing: pip install \".[fuzz]\"" >&2
        exit 1
    fi
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
        fuzz "Python loaders (.prq, .npz, manifest, audio)" "$WORK/python.log" \
        "$PY" tools/fuzz/fuzz_loaders.py -max_total_time="$SECONDS_EACH" \
        -print_final_stats=1 -rss_limit_mb="${RSS_LIMIT_MB:-4096}" -timeout=60 \
        -artifact_prefix="$WORK/" "$WORK/python" tools/fuzz/corpus/python
fi
echo "== fuzz: no crash (working corpus and logs in $WORK)"
