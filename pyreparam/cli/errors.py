"""How the command line fails: one line naming the file and the problem, never a
traceback (unless ``PYREPARAM_DEBUG=1``).

Exit codes: 0 done, 1 an error (bad input file, unwritable output, a model or
training that cannot be used, ...), 2 a usage error (a bad option or argument, from
click), 130 interrupted. Warnings (``warnings.warn``: a relabelled manifest row, a
truncated WAV, ...) are printed as one ``warning: ...`` line on stderr.
"""
from __future__ import annotations

import os
import warnings

import click

DEBUG_VARIABLE = "PYREPARAM_DEBUG"


def debugging() -> bool:
    """Whether tracebacks are wanted (``PYREPARAM_DEBUG=1``)."""
    return os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


def one_line(text: str) -> str:
    """``text`` with its lines joined by '; ' (lists in messages stay readable)."""
    parts = [part.strip() for part in str(text).splitlines() if part.strip()]
    return "; ".join(parts)


def describe(exc: BaseException) -> str:
    """A one-line message for an exception that reached the command line."""
    if isinstance(exc, MemoryError):
        return "out of memory"
    if isinstance(exc, OSError) and not exc.args[1:] and str(exc):
        return one_line(str(exc))
    if isinstance(exc, OSError):
        where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
        reason = exc.strerror or str(exc)
        return f"{where}: {reason}" if where else reason
    if isinstance(exc, (ValueError, RuntimeError)) and type(exc).__module__.startswith(
            "pyreparam"):
        return one_line(str(exc))       # the library's own errors name their file
    return (f"internal error ({type(exc).__name__}: {one_line(str(exc))}); "
            f"run with {DEBUG_VARIABLE}=1 for the traceback")


class _Warnings:
    """Prints every distinct warning of one command once, as one line."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def show(self, message, category, filename, lineno, file=None, line=None) -> None:
        text = one_line(str(message))
        if text not in self.seen:
            self.seen.add(text)
            click.echo(f"warning: {text}", err=True)


class Group(click.Group):
    """The ``pyreparam`` group: turns every exception into a one-line error."""

    def invoke(self, ctx: click.Context):
        with warnings.catch_warnings():
            warnings.simplefilter("always", UserWarning)     # deduplicated by _Warnings
            if not debugging():
                warnings.showwarning = _Warnings().show
            return self._invoke(ctx)

    def _invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.UsageError,
                BrokenPipeError):                   # click handles EPIPE itself
            raise
        except click.ClickException as exc:
            exc.message = one_line(exc.message)
            raise
        except KeyboardInterrupt:
            if debugging():
                raise
            error = click.ClickException("interrupted")
            error.exit_code = 130
            raise error from None
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            if debugging():
                raise
            raise click.ClickException(describe(exc)) from None

