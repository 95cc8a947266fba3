#!/usr/bin/env bash
# Runs a list of `pyreparam train` runs, PARALLEL at a time (default 2), each into
# runs/NAME; a run that exists is resumed (train --resume), a finished one skipped, so
# the same command continues a killed list. The lever runs of the README are
# tools/sweeps/levers.jobs (one-option changes, which a sweep's grid product
# does not express).
#
#   tools/train_jobs.sh JOBFILE [PARALLEL]
#
# JOBFILE: one run per line, "NAME MANIFEST TRAIN-OPTIONS..." ('#' starts a comment;
# MANIFEST relative to the current folder). Logs go to runs/NAME.log.
set -euo pipefail
if (($# < 1)) || [[ ! -f $1 ]]; then
    echo "usage: tools/train_jobs.sh JOBFILE [PARALLEL]" >&2
    exit 2
fi
mkdir -p runs
job() {
    local name=$1
    shift
    if [[ -f runs/$name/results.json ]]; then
        return 0
    elif [[ -f runs/$name/run.json ]]; then
        pyreparam train --resume "runs/$name" --quiet > "runs/$name.log" 2>&1
    else
        pyreparam train "$@" --out "runs/$name" --quiet > "runs/$name.log" 2>&1
    fi
}
export -f job
grep -v '^[[:space:]]*#' "$1" | grep . | xargs -P "${2:-2}" -L 1 bash -c 'job "$@"' _
