"""A one-line progress bar per fold: epoch, training loss and validation UA.

On a terminal with one fold at a time the line is redrawn in place; otherwise (a log
file, or folds running in parallel processes) one line is printed per epoch, each
handed to the operating system in one write (shorter than PIPE_BUF), so that the lines
of processes sharing a terminal, pipe or file never mix within a line.
"""
from __future__ import annotations

import sys


class FoldProgress:
    """Callable ``progress(state, row)`` for :func:`pyreparam.train.fold.train_fold`."""

    WIDTH = 20

    def __init__(self, label: str, epochs: int, *, quiet: bool = False, stream=None):
        self.label, self.epochs, self.quiet = label, epochs, quiet
        self.stream = stream or sys.stdout
        self.inplace = self.stream.isatty() and multiprocessing_parent()
        self.drawn = False

    def __call__(self, state, row: dict) -> None:
        if self.quiet:
            return
        filled = self.WIDTH * state.epoch // self.epochs
        bar = "#" * filled + "." * (self.WIDTH - filled)
        line = (f"{self.label} [{bar}] {state.epoch:>3}/{self.epochs} "
                f"loss {row['train_loss']:.3f}  val UA {100 * row['val_ua']:5.1f}%  "
                f"best {100 * state.best_val_ua:5.1f}% @{state.best_epoch}")
        if self.inplace:
            self.stream.write("\r" + line)
            self.drawn = True
        else:
            self.stream.flush()                  # what others wrote before, on its own
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def multiprocessing_parent() -> bool:
    """True in the main process (workers print whole lines)."""
    import multiprocessing
    return multiprocessing.parent_process() is None
