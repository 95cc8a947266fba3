"""The one way pyreparam writes a file: atomically, durably, with the usual permissions.

:func:`atomic_write` writes into a temporary file in the target's own folder, flushes
and fsyncs it, renames it over the target (``os.replace``, atomic on POSIX and
Windows) and fsyncs the folder, so the target is either the old file or the complete
new one, also after a crash or a power cut. The new file gets the permissions other
tools give a new file, 0666 less the umask (0644 by default), never mkstemp's 0600.

Temporary files are named ``.<target name>.<pid>.<random>.tmp``. A process killed
between creating one and renaming it leaves it behind; the next write of the same
target removes every such file whose process is gone (a live process's temporary file
is left alone: two processes may write the same cache entry at once).

Every failure is an :class:`WriteError` (an ``OSError``) whose message names the
target and the reason, e.g. ``cannot write out/model.npz: Read-only file system``.
"""
from __future__ import annotations

import errno
import os
import re
import secrets
from pathlib import Path
from typing import Callable, BinaryIO


class WriteError(OSError):
    """An output file or folder that cannot be written; the message names it."""

    def __init__(self, path: str | os.PathLike, reason: str, errno_: int | None = None):
        super().__init__(errno_ or errno.EIO, f"cannot write {path}: {reason}")
        self.path = str(path)
        self.reason = reason

    def __str__(self) -> str:
        return self.args[1]

    def __reduce__(self):  # keep (path, reason) across pickling (worker processes)
        return (type(self), (self.path, self.reason, self.errno))


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def file_mode() -> int:
    """The mode of a new file: 0666 less the process's umask."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:   # no umask race
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def make_folder(folder: str | os.PathLike) -> Path:
    """Create ``folder`` (and its parents); :class:`WriteError` when it cannot be one."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise WriteError(folder, "a file of that name is in the way (a folder is needed)",
                         errno.EEXIST) from None
    except OSError as exc:
        raise WriteError(folder, _reason(exc), exc.errno) from None
    return folder


def _temp_pattern(name: str) -> re.Pattern:
    return re.compile(re.escape(f".{name}.") + r"(\d+)\.[0-9a-f]+\.tmp")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:            # exists, owned by someone else
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike, name: str | None = None) -> int:
    """Remove the temporary files of dead processes in ``folder`` (those of the target
    ``name`` only, when given); returns how many were removed."""
    folder = Path(folder)
    removed = 0
    try:
        entries = os.listdir(folder)
    except OSError:
        return 0
    if name is not None:
        patterns = [_temp_pattern(name)]
    else:
        patterns = [re.compile(r"\..+\.(\d+)\.[0-9a-f]+\.tmp")]
    for entry in entries:
        for pattern in patterns:
            match = pattern.fullmatch(entry)
            if match and not _alive(int(match.group(1))):
                try:
                    os.unlink(folder / entry)
                    removed += 1
                except OSError:
                    pass
    return removed


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return                                     # e.g. Windows: folders cannot be opened
    try:
        os.fsync(fd)
    except OSError:
        pass                          # some file systems refuse; the data is synced
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(binary_file)`` on a temporary file next to ``path``, then move it
    into place (see the module doc). Returns the path.

    Raises
    ------
    WriteError
        The folder cannot be created or written (read-only, full, a file in the way,
        a special file system): nothing was changed at ``path``.
    """
    path = Path(path)
    folder = make_folder(path.parent)
    if path.is_dir():
        raise WriteError(path, "is a folder", errno.EISDIR)
    remove_stale_temps(folder, path.name)
    temp = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise WriteError(path, _reason(exc), exc.errno) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, file_mode())
        os.replace(temp, path)
    except BaseException as exc:
        try:
            os.unlink(temp)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise WriteError(path, _reason(exc), exc.errno) from None
        raise
    _fsync_folder(folder)
    return path


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """:func:`atomic_write` of ``data``."""
    return atomic_write(path, lambda handle: handle.write(data))


def write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write` of ``text`` in UTF-8."""
    return write_bytes(path, text.encode("utf-8"))
