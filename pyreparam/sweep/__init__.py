"""Sweeps: grids of training runs on one executor, and paired comparisons of runs.

    spec        the TOML sweep file: a [base] of train options and a [grid] of lists
    runner      runs the grid (one folder per run, DIR/sweep.json), resumable
    executors   where folds are trained: local processes or a Ray cluster
    compare     pairs runs that differ in one option; paired differences and intervals
    stats       the statistics: t-interval over seeds, paired bootstrap over utterances
    plot        the figure of ``pyreparam compare --plot`` (optional matplotlib)
"""
