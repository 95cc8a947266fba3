"""Attention schedules: how many query rows and heads each attention call of the C
runner takes, chosen by a small cost model within an arena budget.

The schedule of an attention op (its fields q_block, head_batch, qkv_all; format
version 2) changes the number of kernel calls and the scratch it needs, never the
integers: the NumPy reference ignores it. :func:`schedule_attention` is the lowering's
last step (:func:`pyreparam.quant.lower.lower`).
"""
from __future__ import annotations

from pyreparam.quant.program import OP_MHA, Program, mha_scratch_bytes, plan_arena

#: the arena may grow to this factor of the least-memory schedules' arena (when that
#: is more than the budget: the large models)
ARENA_GROWTH = 1.25

#: the attention schedule of least memory: one query row and one head per call
MIN_SCHEDULE = {"q_block": 1, "head_batch": 1, "qkv_all": 0}
#: rough costs (ns) on an x86 AVX-512 host for ranking schedules (fitted to
#: tools/bench_model_profile.py runs of the light models): one kernel call, one
#: multiply-accumulate of Q K^T or P V, one score the softmax passes over
CALL_NS, MAC_NS, SCORE_NS = 100.0, 0.02, 0.6
#: schedules whose estimated cost is within this factor of the cheapest that fits
#: count as equal; of those the one with the smallest scratch is taken
COST_SLACK = 1.05


def schedule_cost(rows: int, C: int, heads: int, window: int, q_block: int,
                  head_batch: int, qkv_all: int) -> float:
    """Estimated time (ns) of an attention op at T = rows under a schedule: kernel
    calls, the multiply-accumulates of Q K^T and P V over the keys each block spans
    and the scores the softmax passes over (a block spans more keys than a row's
    window: a window favours short blocks, global attention long ones)."""
    D = C // heads
    blocks = -(-rows // q_block)
    calls = 3 * (1 if qkv_all else heads) + 3 * blocks * (heads // head_batch)
    half = window // 2
    if window > 0:
        span = min(rows, window) if q_block == 1 else min(rows, q_block + 2 * half)
        pad = 0 if q_block == 1 else half
    else:
        span, pad = rows, 0
    scores = heads * (rows + blocks * pad) * span
    return calls * CALL_NS + 2 * heads * rows * span * D * MAC_NS + scores * SCORE_NS


def schedules(rows: int, C: int, heads: int, window: int) -> list[dict]:
    """The candidate schedules of an attention op, cheapest first (estimated).

    Under a window w a block of R rows spans min(rows, R + w - 1) keys for w useful
    ones; blocks spanning more than 2 w + 2 keys are left out (on Cortex-M, where the
    kernels' work outweighs their calls, R = 4..8 was best for w = 5 and 9, larger
    blocks cost up to 5 % more instructions than one row per call; on the host R = 8
    is as fast as 16)."""
    blocks = sorted({rows} | {b for b in (2, 4, 8, 16, 32, 64, 128, 256, 512) if b < rows}
                    | {1})
    if window > 0:
        blocks = [b for b in blocks if b == 1 or min(rows, b + window - 1) <= 2 * window + 2]
    out = []
    for qkv_all in (1, 0):
        for head_batch in sorted({1, heads if qkv_all else 1}):
            for q_block in blocks:
                out.append({"q_block": q_block, "head_batch": head_batch,
                            "qkv_all": qkv_all})
    return sorted(out, key=lambda s: (schedule_cost(rows, C, heads, window, **s),
                                      mha_scratch_bytes(rows, C, heads, window, **s)))


def schedule_attention(program: Program, arena_budget: int) -> int:
    """Give every attention op a fast schedule that keeps the arena within
    max(arena_budget, ARENA_GROWTH x the arena with the least-memory schedules): of
    the schedules
    whose estimated cost (:func:`schedule_cost`) is within COST_SLACK of the cheapest
    one that fits, the one with the smallest scratch. Ops are scheduled one after the
    other, the earlier ones keeping their choice. Sets the ops' fields and scratch
    sizes, re-plans the arena and returns its bytes."""
    limit = max(arena_budget, int(ARENA_GROWTH * plan_arena(program)))
    for op in program.ops:
        if op.type != OP_MHA:
            continue
        f = op.fields
        x, scratch = program.tensors[f["x"]], program.tensors[f["scratch"]]
        args = (x.rows, x.cols, f["heads"], f["window"])
        current = {k: f[k] for k in MIN_SCHEDULE}, scratch.cols

        def fits(cand: dict) -> bool:
            scratch.cols = mha_scratch_bytes(*args, **cand)
            f.update(cand)
            ok = plan_arena(program) <= limit
            f.update(current[0])
            scratch.cols = current[1]
            return ok

        ranked = schedules(*args)
        best = next((c for c in ranked if c == current[0] or fits(c)), current[0])
        bound = COST_SLACK * schedule_cost(*args, **best)
        near = sorted((c for c in ranked if schedule_cost(*args, **c) <= bound),
                      key=lambda c: mha_scratch_bytes(*args, **c))
        choice = next(c for c in near if c == best or fits(c))
        f.update(choice)
        scratch.cols = mha_scratch_bytes(*args, **choice)
    return plan_arena(program)


