"""The ``pyreparam`` command line.

Each command group lives in its own module here and only parses options, calls
library code and prints; the work is done in the library.
"""
from __future__ import annotations

import click

from pyreparam import __version__
from pyreparam.cli.errors import Group


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pyreparam")
def main() -> None:
    """Re-parameterized lightweight Transformers for on-device speech emotion
    recognition.

    Train light Transformers with HRF (an extra linear factor before each FFN) in
    NumPy, fold the factors away exactly (deHRF), quantize to int8 and run the
    model through the portable C runtime.

    Errors are one line naming the file and the problem (exit 1; 2 for a bad option);
    set PYREPARAM_DEBUG=1 for a traceback.
    """


def _register() -> None:
    from pyreparam.cli.data import data
    from pyreparam.cli.model import init_command, merge_command, models_command
    from pyreparam.cli.quant import (export_command, infer_command, inspect_command,
                                     quantize_command)
    from pyreparam.cli.stream import listen_command
    from pyreparam.cli.sweep import compare_command, sweep_command
    from pyreparam.cli.train import demo_command, eval_command, train_command

    for command in (demo_command, data, init_command, merge_command, models_command,
                    train_command, sweep_command, compare_command, eval_command,
                    quantize_command, infer_command, export_command, inspect_command,
                    listen_command):
        main.add_command(command)


_register()

if __name__ == "__main__":  # pragma: no cover
    main()
