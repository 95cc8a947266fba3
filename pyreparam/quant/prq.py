r"""The .prq model file: a flat little-endian image of a :class:`Program` plus metadata.

Layout (all integers little-endian; every section offset a multiple of 16)::

    offset  size              content
    0       96                header: 24 uint32 words (below)
    ...     24 n_lengths      length rules: kind, src, a, b, c, max (int32 each)
    ...     32 n_tensors      tensor table (below)
    ...     ops_bytes         ops: per op uint32 type, uint32 n_words, n_words int32
    ...     data_bytes        constant data (weights, biases, multipliers, tables);
                              each tensor 16-byte aligned within the section
    ...     meta_bytes        UTF-8 JSON metadata for the host
    end-4   4                 CRC-32 (zlib / IEEE 802.3) of every byte before it

Header words: 0 magic 0x4D515250 ("PRQM"), 1 format version, 2 header bytes (96),
3 file bytes, 4 flags (0), 5 arena bytes needed at T_max, 6 T_max, 7 input tensor,
8 output tensor, 9 n_lengths, 10 lengths offset, 11 n_tensors, 12 tensors offset,
13 n_ops, 14 ops offset, 15 ops bytes, 16 data offset, 17 data bytes, 18 meta offset,
19 meta bytes, 20-23 reserved (0).

Tensor entry (32 bytes): uint8 kind (0 const, 1 arena, 2 input, 3 output), uint8
dtype (1 int8, 2 int16, 4 int32), uint16 reserved (0), int32 len_id (-1: fixed rows),
uint32 rows (capacity at T_max), uint32 cols, uint32 offset (const: within the data
section; arena: within the arena), uint32 nbytes (rows cols itemsize), uint32 first,
uint32 last (the arena tensor's live op range).

The C checker (csrc/pr_model_check.c) validates all of it; this reader checks the
framing (magic, version, sizes, CRC), parses, and validates every field of the
metadata (:func:`check_meta`) before anything uses it.
"""
from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np

from pyreparam import validate
from pyreparam.atomic import atomic_write
from pyreparam.quant.program import (
    DTYPES, KIND_CONST, OP_FIELDS, V1_DEFAULTS, LengthRule, Op, Program, Tensor)

MAGIC = 0x4D515250
VERSION = 2
#: versions this reader accepts (version 1: attention ops without their schedule)
READ_VERSIONS = (1, 2)
HEADER_BYTES = 96
LENGTH_BYTES = 24
TENSOR_BYTES = 32
SECTION_ALIGN = 16
FORMAT = "pyreparam-prq"
#: the metadata a host copy carries (a device copy from ``export`` has none of it)
HOST_KEYS = ("classes", "feature_config", "normalizer", "t_max", "model_config")


class PRQError(ValueError):
    """A .prq file is truncated, corrupt, of another version or not a .prq at all."""


def _pad(buf: bytearray, align: int = SECTION_ALIGN) -> int:
    buf.extend(b"\0" * (-len(buf) % align))
    return len(buf)


def _u32(v: int) -> int:
    return int(v) & 0xFFFFFFFF


def write_prq(program: Program, meta: dict, host: bool = True,
              version: int = VERSION) -> bytes:
    """Serialize a program and its metadata (JSON) into .prq bytes.

    With ``host`` the metadata also lists every op's value (name, scale, zero point)
    and every tensor's name, for reports; a device copy leaves them out. ``version``
    1 writes the older format (for runtimes that read only it), possible only when
    every attention op has the version-1 schedule (``V1_DEFAULTS``).
    """
    if version not in READ_VERSIONS:
        raise ValueError(f"cannot write format version {version}")
    data = bytearray()
    const_offset = {}
    for i, t in enumerate(program.tensors):
        if t.kind == KIND_CONST:
            const_offset[i] = _pad(data)
            data.extend(np.ascontiguousarray(t.data, DTYPES[t.dtype].newbyteorder("<"))
                        .tobytes())
    ops = bytearray()
    for op in program.ops:
        names = OP_FIELDS[op.type]
        if version < 2 and op.type in V1_DEFAULTS:
            legacy = V1_DEFAULTS[op.type]
            if any(op.fields[f] != v for f, v in legacy.items()):
                raise ValueError(f"an op with fields {op.fields} needs format version 2")
            names = tuple(f for f in names if f not in legacy)
        words = [op.fields[f] for f in names]
        ops.extend(struct.pack(f"<II{len(words)}I", op.type, len(words),
                               *map(_u32, words)))
    if host:
        meta = dict(meta, values=[op.value for op in program.ops],
                    tensor_names=[t.name for t in program.tensors])
    meta_bytes = json.dumps(meta, sort_keys=True).encode()

    out = bytearray(HEADER_BYTES)
    lengths_off = _pad(out)
    for r in program.lengths:
        out.extend(struct.pack("<6I", *map(_u32, (r.kind, r.src, r.a, r.b, r.c, r.max))))
    tensors_off = _pad(out)
    for i, t in enumerate(program.tensors):
        offset = const_offset.get(i, t.offset)
        out.extend(struct.pack("<BBHiIIIIII", t.kind, t.dtype, 0, t.len_id, t.rows, t.cols,
                               offset, t.nbytes, t.first, t.last))
    ops_off = _pad(out)
    out.extend(ops)
    data_off = _pad(out)
    out.extend(data)
    meta_off = _pad(out)
    out.extend(meta_bytes)
    _pad(out, 4)
    file_bytes = len(out) + 4
    header = [MAGIC, version, HEADER_BYTES, file_bytes, 0, program.arena_bytes,
              program.t_max, program.input, program.output, len(program.lengths),
              lengths_off, len(program.tensors), tensors_off, len(program.ops), ops_off,
              len(ops), data_off, len(data), meta_off, len(meta_bytes), 0, 0, 0, 0]
    out[:HEADER_BYTES] = struct.pack("<24I", *header)
    out.extend(struct.pack("<I", zlib.crc32(bytes(out)) & 0xFFFFFFFF))
    return bytes(out)


def _header(blob: bytes) -> list[int]:
    if len(blob) < HEADER_BYTES + 4:
        raise PRQError(f"truncated: {len(blob)} bytes is shorter than the header")
    h = list(struct.unpack_from("<24I", blob))
    if h[0] != MAGIC:
        raise PRQError("not a .prq model file (bad magic)")
    if h[1] not in READ_VERSIONS:
        raise PRQError(f"format version {h[1]} is not supported (this pyreparam reads "
                       f"versions {', '.join(map(str, READ_VERSIONS))})")
    if h[3] != len(blob):
        raise PRQError(f"truncated or padded: the header says {h[3]} bytes, the file has "
                       f"{len(blob)}")
    crc = struct.unpack_from("<I", blob, len(blob) - 4)[0]
    if zlib.crc32(blob[:-4]) & 0xFFFFFFFF != crc:
        raise PRQError("CRC mismatch: the file is corrupt")
    return h


def _section(blob: bytes, offset: int, size: int, what: str) -> bytes:
    if offset < HEADER_BYTES or offset + size > len(blob) - 4:
        raise PRQError(f"{what} section out of bounds")
    return blob[offset:offset + size]


def read_prq(blob: bytes) -> tuple[Program, dict]:
    """Parse .prq bytes into (program, metadata); raises :class:`PRQError`."""
    h = _header(blob)
    (arena, t_max, inp, outp, n_len, len_off, n_t, t_off, n_ops, ops_off, ops_bytes,
     data_off, data_bytes, meta_off, meta_bytes) = h[5:20]
    try:
        meta = json.loads(_section(blob, meta_off, meta_bytes, "metadata").decode())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise PRQError(f"corrupt metadata: {exc}") from None
    if not isinstance(meta, dict):
        raise PRQError(f"metadata is a {type(meta).__name__}, not a mapping")
    raw = _section(blob, len_off, n_len * LENGTH_BYTES, "lengths")
    lengths = [LengthRule(*struct.unpack_from("<6i", raw, i * LENGTH_BYTES))
               for i in range(n_len)]
    raw = _section(blob, t_off, n_t * TENSOR_BYTES, "tensors")
    data = _section(blob, data_off, data_bytes, "data")
    names = meta.get("tensor_names", [])
    names = names if isinstance(names, list) else []
    tensors = []
    for i in range(n_t):
        kind, dt, _, len_id, rows, cols, off, nbytes, first, last = struct.unpack_from(
            "<BBHiIIIIII", raw, i * TENSOR_BYTES)
        if dt not in DTYPES or rows * cols * DTYPES[dt].itemsize != nbytes:
            raise PRQError(f"tensor {i}: bad dtype or size")
        t = Tensor(names[i] if i < len(names) else f"t{i}", kind, dt, len_id, rows, cols,
                   None, off, first, last)
        if kind == KIND_CONST:
            if off + nbytes > len(data):
                raise PRQError(f"tensor {i}: constant data out of bounds")
            t.data = np.frombuffer(data, DTYPES[dt].newbyteorder("<"), rows * cols,
                                   off).astype(DTYPES[dt]).reshape(rows, cols)
        tensors.append(t)
    ops = _read_ops(_section(blob, ops_off, ops_bytes, "ops"), n_ops, meta, h[1])
    program = Program(lengths, tensors, ops, inp, outp, t_max, arena)
    check_meta(meta, program)
    return program, meta


def check_meta(meta, program: Program) -> None:
    """Validate the metadata of a parsed program: every field present is of the right
    type and range and agrees with the program (PRQError naming the field). A device
    copy has none of the host fields; a host copy has all of them."""
    if not isinstance(meta, dict):
        raise PRQError(f"metadata is a {type(meta).__name__}, not a mapping")
    n_in = program.tensors[program.input].cols if 0 <= program.input < len(
        program.tensors) else 0
    n_out = program.tensors[program.output].cols if 0 <= program.output < len(
        program.tensors) else 0
    try:
        for key, n in (("tensor_names", len(program.tensors)), ("values", len(program.ops))):
            if key in meta and (not isinstance(meta[key], list) or len(meta[key]) != n):
                raise validate.FrontendError(f"{key} must be a list of {n} entries")
        if not all(isinstance(t, str) for t in meta.get("tensor_names", [])):
            raise validate.FrontendError("tensor_names must be strings")
        for v in meta.get("values", []):
            if v is not None and not (isinstance(v, dict) and isinstance(v.get("name"), str)):
                raise validate.FrontendError(f"values entry {v!r:.60} is not a named value")
        for key in ("input", "output"):                 # a device copy keeps these
            if key in meta:
                validate.quantization(meta[key], "metadata", key)
        host = [k for k in HOST_KEYS if k in meta]
        if host and len(host) != len(HOST_KEYS):
            missing = sorted(set(HOST_KEYS) - set(host))
            raise validate.FrontendError(f"host metadata lacks {', '.join(missing)}")
        if not host:
            return
        config = meta["model_config"]
        if not isinstance(config, dict) or config.get("n_mels") != n_in or \
                config.get("n_classes") != n_out:
            raise validate.FrontendError(f"model_config {config!r:.80} does not match the "
                                         f"program ({n_in} mel bands, {n_out} classes)")
        validate.classes(meta["classes"], n_out, "classes")
        head = None
        if "head" in meta:
            from pyreparam.quant.qhead import HeadMetaError, from_meta
            try:
                head = from_meta(meta["head"], n_out)
            except HeadMetaError as exc:
                raise validate.FrontendError(str(exc)) from None
        features = validate.feature_config(meta["feature_config"], n_in, "feature_config",
                                           head is not None and head.pitch)
        validate.normalizer(meta["normalizer"], n_in, "normalizer")
        if meta["t_max"] != program.t_max:
            raise validate.FrontendError(f"t_max {meta['t_max']!r} differs from the "
                                         f"program's {program.t_max}")
        if head is not None and head.channels != features.channels:
            raise validate.FrontendError(f"head.channels {head.channels} differs from "
                                         f"the features' {features.channels} channels")
        speakers = meta.get("training_speakers", [])
        if not isinstance(speakers, list) or not all(isinstance(x, str) for x in speakers):
            raise validate.FrontendError("training_speakers must be a list of names")
    except validate.FrontendError as exc:
        raise PRQError(f"invalid metadata: {exc}") from None


def _read_ops(raw: bytes, n_ops: int, meta: dict, version: int = VERSION) -> list[Op]:
    values = meta.get("values", [])
    values = values if isinstance(values, list) else []
    ops, pos = [], 0
    for i in range(n_ops):
        if pos + 8 > len(raw):
            raise PRQError("ops section truncated")
        op_type, n = struct.unpack_from("<II", raw, pos)
        names = OP_FIELDS.get(op_type, ())
        defaults = V1_DEFAULTS.get(op_type, {}) if version < 2 else {}
        names = tuple(f for f in names if f not in defaults)
        if op_type not in OP_FIELDS or n != len(names) or pos + 8 + 4 * n > len(raw):
            raise PRQError(f"op {i}: unknown type {op_type} or bad size")
        words = struct.unpack_from(f"<{n}i", raw, pos + 8)
        ops.append(Op(op_type, dict(zip(names, words), **defaults),
                      values[i] if i < len(values) else None))
        pos += 8 + 4 * n
    return ops


def save_prq(path, program: Program, meta: dict) -> bytes:
    """Write a .prq file atomically; returns its bytes."""
    blob = write_prq(program, meta)
    atomic_write(path, lambda f: f.write(blob))
    return blob


def load_prq(path) -> tuple[Program, dict, bytes]:
    """(program, metadata, raw bytes) of a .prq file; :class:`PRQError` if unusable."""
    path = Path(path)
    if not path.is_file():
        raise PRQError(f"{path}: no such model file")
    blob = path.read_bytes()
    try:
        program, meta = read_prq(blob)
    except PRQError as exc:
        raise PRQError(f"{path}: {exc}") from None
    except (struct.error, ValueError, IndexError, KeyError, TypeError) as exc:
        raise PRQError(f"{path}: corrupt model file: {exc}") from None
    return program, meta, blob
