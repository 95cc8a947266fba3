"""Reading .npz archives that may be hostile: every array header is checked before
anything is allocated.

``np.load`` trusts an archive: an array header announcing 2^40 elements allocates
them before reading fails, a small file of compressed zeros inflates to gigabytes,
and a plain .npy in place of an archive returns an array where a mapping was
expected. :func:`read_npz` reads the zip directory and each member's .npy header
first, and refuses, with a :class:`ArchiveError` naming the file and the member, any
member that is not a .npy, any dtype outside numbers, booleans and strings (no
objects, no pickles), any header whose shape disagrees with the member's size, and
any size beyond the caller's caps (``check(name, shape, dtype)`` may refuse more,
e.g. a shape that disagrees with a model config). Only then is the data read, one
member at a time, never more bytes than its header announced.
"""
from __future__ import annotations

import ast
import os
import struct
import zipfile
from typing import Callable

import numpy as np

#: longest .npy header accepted (numpy writes at most a few hundred bytes)
MAX_HEADER_BYTES = 64 * 1024
#: most members an archive may hold
MAX_MEMBERS = 100_000
#: dtype kinds accepted: bool, signed and unsigned integers, floats, str, bytes
KINDS = "biufUS"


class ArchiveError(ValueError):
    """An archive that is not a safe, well-formed .npz (the message names it)."""


def _header(handle, name: str, where: str) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    """(shape, dtype, fortran_order, header bytes) of one member's .npy header."""
    magic = handle.read(8)
    if len(magic) < 8 or magic[:6] != b"\x93NUMPY" or magic[6] not in (1, 2, 3):
        raise ArchiveError(f"{where}: member {name} is not a .npy array")
    size_bytes = 2 if magic[6] == 1 else 4
    raw = handle.read(size_bytes)
    if len(raw) < size_bytes:
        raise ArchiveError(f"{where}: member {name} is truncated")
    length = int.from_bytes(raw, "little")
    if length > MAX_HEADER_BYTES:
        raise ArchiveError(f"{where}: member {name} has a {length:,}-byte header")
    text = handle.read(length)
    if len(text) < length:
        raise ArchiveError(f"{where}: member {name} is truncated")
    try:
        header = ast.literal_eval(text.decode("utf-8" if magic[6] == 3 else "latin1"))
        descr, fortran, shape = header["descr"], header["fortran_order"], header["shape"]
        dtype = np.dtype(np.lib.format.descr_to_dtype(descr))
        shape = tuple(shape)
        if not isinstance(fortran, bool) or not all(
                type(n) is int and n >= 0 for n in shape):
            raise ValueError("bad shape or order")
    except Exception:  # noqa: BLE001 - any malformed header is the same error
        raise ArchiveError(f"{where}: member {name} has a malformed .npy header") from None
    if dtype.kind not in KINDS or dtype.fields is not None or dtype.subdtype is not None \
            or dtype.hasobject:
        raise ArchiveError(f"{where}: member {name} has dtype {dtype}, not numbers or text")
    return shape, dtype, fortran, 8 + size_bytes + length


def _count(shape: tuple[int, ...], limit: int) -> int:
    """Elements of ``shape``, stopping as soon as the product exceeds ``limit``."""
    total = 1
    for n in shape:
        total *= n
        if total > limit:
            return limit + 1
    return total


#: What zipfile raises on damaged archives besides BadZipFile: unsupported versions
#: or methods (NotImplementedError), member names that are not UTF-8
#: (UnicodeDecodeError, a ValueError), short reads (EOFError, struct.error).
ZIP_ERRORS = (zipfile.BadZipFile, NotImplementedError, ValueError, EOFError, struct.error)


def read_npz(path: str | os.PathLike, *, max_array_bytes: int, max_total_bytes: int,
             check: Callable[[str, tuple[int, ...], np.dtype], None] | None = None,
             only: Callable[[str], bool] | None = None) -> dict[str, np.ndarray]:
    """The arrays of an .npz archive by name (without '.npy'), read safely.

    Parameters
    ----------
    path : the archive
    max_array_bytes, max_total_bytes : caps on one array's and all arrays' data
    check : called with (name, shape, dtype) of every member before anything is read;
        raises ArchiveError (or a subclass) to refuse it
    only : read just the members whose name it accepts (others are not checked)

    Raises
    ------
    ArchiveError
        Not a zip archive, a member that is not a safe .npy, a size beyond the caps,
        a header that disagrees with the data, corrupt or truncated data.
    """
    where = str(path)
    try:
        archive = zipfile.ZipFile(path)
    except ZIP_ERRORS:      # e.g. "zip file version 8.2", a member name not UTF-8
        raise ArchiveError(f"{where}: not a .npz archive (truncated, or another kind of "
                           "file)") from None
    except OSError as exc:
        raise ArchiveError(f"{where}: cannot read ({exc.strerror or exc})") from None
    arrays: dict[str, np.ndarray] = {}
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise ArchiveError(f"{where}: {len(members):,} members")
        plan, total = [], 0
        for info in members:
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if only is not None and not only(name):
                continue
            if not info.filename.endswith(".npy") or info.is_dir():
                raise ArchiveError(f"{where}: member {info.filename} is not a .npy array")
            try:
                with archive.open(info) as handle:
                    shape, dtype, fortran, offset = _header(handle, name, where)
            except ArchiveError:
                raise
            except ZIP_ERRORS + (OSError, RuntimeError) as exc:
                raise ArchiveError(f"{where}: member {name} is corrupt ({exc})") from None
            count = _count(shape, max_array_bytes // max(dtype.itemsize, 1))
            nbytes = count * dtype.itemsize
            if nbytes > max_array_bytes:
                raise ArchiveError(f"{where}: array {name} of shape {shape} is larger than "
                                   f"the {max_array_bytes:,} bytes allowed")
            if info.file_size != offset + nbytes:
                raise ArchiveError(f"{where}: array {name}'s header announces {nbytes:,} "
                                   f"bytes of data, the archive holds "
                                   f"{info.file_size - offset:,}")
            total += nbytes
            if total > max_total_bytes:
                raise ArchiveError(f"{where}: more than {max_total_bytes:,} bytes of arrays")
            if check is not None:
                check(name, shape, dtype)
            plan.append((info, name, shape, dtype, fortran, offset, nbytes))
        for info, name, shape, dtype, fortran, offset, nbytes in plan:
            try:
                with archive.open(info) as handle:
                    handle.read(offset)
                    data = handle.read(nbytes)
            except ZIP_ERRORS + (OSError, RuntimeError) as exc:
                raise ArchiveError(f"{where}: member {name} is corrupt ({exc})") from None
            if len(data) != nbytes:
                raise ArchiveError(f"{where}: member {name} is truncated")
            array = np.frombuffer(data, dtype=dtype).reshape(
                shape, order="F" if fortran else "C")
            arrays[name] = array.copy()
    return arrays
