"""What ``pyreparam inspect`` shows of a .prq: its ops with shapes at T_max, their
multiply-accumulates, flash (the device copy's bytes) and arena."""
from __future__ import annotations

from pyreparam.models.cost import FRAMES_PER_SECOND
from pyreparam.quant.export import device_blob
from pyreparam.quant.program import (
    DTYPES, KIND_ARENA, KIND_CONST, OP_CONV1D, OP_DWCONV, OP_LINEAR, OP_LOOP, OP_MHA,
    OP_NAMES, OP_TENSORS, Program, flash_bytes)


def op_macs(program: Program, op, lens: list[int], loop_rows: int | None = None) -> int:
    """Multiply-accumulates of one op at the given run-time lengths (inside a row loop,
    a per-block buffer stands for all loop_rows rows)."""
    t = program.tensors
    f = op.fields

    def rows(i: int) -> int:
        if t[i].len_id >= 0:
            return lens[t[i].len_id]
        return loop_rows if loop_rows is not None else t[i].rows

    if op.type == OP_LINEAR:
        return rows(f["y"]) * t[f["w"]].rows * t[f["w"]].cols
    if op.type == OP_CONV1D:
        return rows(f["y"]) * t[f["w"]].rows * t[f["w"]].cols
    if op.type == OP_DWCONV:
        return rows(f["y"]) * t[f["w"]].rows * t[f["w"]].cols
    if op.type == OP_MHA:
        T, C = rows(f["x"]), t[f["x"]].cols
        keys = min(f["window"], T) if f["window"] else T
        return 3 * T * C * C + 2 * T * keys * C
    return 0


def describe(program: Program, meta: dict, blob_bytes: int) -> dict:
    """What ``inspect`` prints: ops with shapes at T_max, flash (the bytes of the
    device copy: program, constants and the scales, no host metadata), arena, MACs/s."""
    lens = program.lengths_for(program.t_max)
    names = [r["name"] if r else None for r in meta.get("values", [None] * len(program.ops))]
    ops = []
    loop_rows, loop_end = None, -1
    for i, op in enumerate(program.ops):
        if i > loop_end:
            loop_rows = None
        if op.type == OP_LOOP:
            loop_rows, loop_end = lens[op.fields["len_id"]], i + op.fields["n_body"]
        shapes = {}
        for field in OP_TENSORS[op.type]:
            ref = op.fields[field]
            if ref < 0:
                continue
            tensor = program.tensors[ref]
            rows = lens[tensor.len_id] if tensor.len_id >= 0 else tensor.rows
            if loop_rows is not None and tensor.len_id < 0 and tensor.kind == KIND_ARENA:
                rows = loop_rows                  # a per-block buffer: all rows over time
            shapes[field] = [rows, tensor.cols, DTYPES[tensor.dtype].name]
        extra = {"n_body": op.fields["n_body"], "block": op.fields["block"]} \
            if op.type == OP_LOOP else {}
        ops.append({"index": i, "op": OP_NAMES[op.type],
                    "value": names[i] if i < len(names) else None, "tensors": shapes,
                    "macs": op_macs(program, op, lens, loop_rows), **extra})
    flash = flash_bytes(program)
    const = sum(t.nbytes for t in program.tensors if t.kind == KIND_CONST)
    macs = sum(o["macs"] for o in ops)
    seconds = program.t_max / FRAMES_PER_SECOND
    head = None
    if "head" in meta:                   # the statistics head (host metadata, qhead)
        from pyreparam.quant.qhead import from_meta
        h = from_meta(meta["head"], len(meta["classes"]))
        head = {"functionals": h.n_features, "classes": h.n_classes, "mix": h.mix / 2**15,
                "constant_bytes": h.constant_bytes}
    return {"t_max": program.t_max, "seconds": seconds, "n_ops": len(program.ops),
            "head": head,
            "n_tensors": len(program.tensors), "arena_bytes": program.arena_bytes,
            "arena_tensors": sum(t.kind == KIND_ARENA for t in program.tensors),
            "const_bytes": const, "const_breakdown": flash,
            "file_bytes": blob_bytes, "flash_bytes": len(device_blob(program, meta)),
            "macs": macs, "macs_per_second": int(round(macs / seconds)),
            "classes": meta.get("classes"), "model_config": meta.get("model_config"),
            "ops": ops}
