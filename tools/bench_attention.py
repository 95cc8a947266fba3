"""Benchmark one light multi-head self-attention block, forward + backward: NumPy vs torch.

The light figure asked for: B = 32, T = 75 (3 s after x4 subsampling), C = 64,
4 heads, global attention with a key-padding mask (valid lengths 50..75), float32.
An extra row times SpeechFormer's frame stage: T = 300, local window 5.

    python tools/bench_attention.py [--json PATH] [--runs 50] [--threads 2] [--clock wall]

pyreparam: pyreparam.ops.attention.mha_forward / mha_backward (the backward returns
dx and every weight gradient). torch: the twin's SelfAttention (scaled_dot_product_
attention with a boolean mask) and F.multi_head_attention_forward, each forward then
backward of sum(y * dy) with x requiring grad, so the same gradients are computed.
Runs are interleaved across the implementations; the table gives medians.
"""
from __future__ import annotations

import importlib
import os
import sys

importlib.import_module("bench_threads")  # BLAS threads from --threads, before NumPy

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from pyreparam.ops.attention import mha_backward, mha_forward  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_twin import SelfAttention, key_padding, local_window  # noqa: E402

CASES = (  # (label, B, T, C, H, window, min valid length)
    ("global B32 T75 C64 H4", 32, 75, 64, 4, None, 50),
    ("local w5 B32 T300 C64 H4", 32, 300, 64, 4, 5, 200),
)


def make_case(B, T, C, min_len, rng):
    x = rng.standard_normal((B, T, C)).astype(np.float32)
    lengths = rng.integers(min_len, T + 1, size=B)
    mask = np.arange(T)[None, :] < lengths[:, None]
    a = np.sqrt(6.0 / (4 * C))
    weights = dict(w_qkv=rng.uniform(-a, a, (3 * C, C)).astype(np.float32),
                   b_qkv=(0.1 * rng.standard_normal(3 * C)).astype(np.float32),
                   w_o=rng.uniform(-a, a, (C, C)).astype(np.float32),
                   b_o=(0.1 * rng.standard_normal(C)).astype(np.float32))
    dy = rng.standard_normal((B, T, C)).astype(np.float32)
    return x, mask, weights, dy


def numpy_runner(x, mask, w, dy, H, window):
    def run():
        y, cache = mha_forward(x, w["w_qkv"], w["b_qkv"], w["w_o"], w["b_o"], mask, H, window)
        return mha_backward(dy, cache)
    return run


def twin_runner(x, mask, w, dy, H, window):
    C = x.shape[-1]
    attn = SelfAttention(C, H)
    with torch.no_grad():
        attn.qkv.weight.copy_(torch.from_numpy(w["w_qkv"]))
        attn.qkv.bias.copy_(torch.from_numpy(w["b_qkv"]))
        attn.out.weight.copy_(torch.from_numpy(w["w_o"]))
        attn.out.bias.copy_(torch.from_numpy(w["b_o"]))
    m = torch.from_numpy(mask)
    allowed = key_padding(m) if window is None else local_window(m, window)
    xt, dyt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(dy)

    def run():
        attn.zero_grad(set_to_none=True)
        xt.grad = None
        attn(xt, allowed).backward(dyt)
    return run


def functional_runner(x, mask, w, dy, H, window):
    """F.multi_head_attention_forward: (T, B, C) layout, masks True = NOT allowed."""
    B, T, C = x.shape
    params = {k: torch.from_numpy(v).requires_grad_() for k, v in w.items()}
    m = torch.from_numpy(mask)
    attn_mask = None
    if window is not None:                   # (B H, T, T), True = blocked
        blocked = ~local_window(m, window).expand(B, H, T, T)
        attn_mask = blocked.reshape(B * H, T, T)
    xt = torch.from_numpy(x).transpose(0, 1).contiguous().requires_grad_()
    dyt = torch.from_numpy(dy).transpose(0, 1).contiguous()

    def run():
        for p in params.values():
            p.grad = None
        xt.grad = None
        y, _ = F.multi_head_attention_forward(
            xt, xt, xt, C, H, params["w_qkv"], params["b_qkv"], None, None, False, 0.0,
            params["w_o"], params["b_o"], training=True,
            key_padding_mask=None if window is not None else ~m, need_weights=False,
            attn_mask=attn_mask)
        y.backward(dyt)
    return run


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def interleaved(runners: dict, runs: int, warmup: int, clock=time.perf_counter
                ) -> dict[str, list[float]]:
    for _ in range(warmup):
        for run in runners.values():
            run()
    times = {name: [] for name in runners}
    names = list(runners)
    for i in range(runs):
        for name in names[i % len(names):] + names[:i % len(names)]:   # rotate the order
            start = clock()
            runners[name]()
            times[name].append(clock() - start)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="write the records to this JSON file")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time (default) or this process's CPU time; with "
                             "--threads 1 the CPU time is robust to other jobs' load")
    args = parser.parse_args(argv)
    if args.json:   # its folder now, not after the whole run
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    print(f"float32, forward + backward, {args.threads} threads, {args.clock} time, "
          f"medians of {args.runs}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'case':28s} {'pyreparam':>10s} {'twin SDPA':>10s} {'F.mha':>10s} "
          f"{'ratio/twin':>10s} {'ratio/F':>8s}   (ms)")
    records = []
    for label, B, T, C, H, window, min_len in CASES:
        x, mask, w, dy = make_case(B, T, C, min_len, np.random.default_rng(0))
        runners = {"pyreparam": numpy_runner(x, mask, w, dy, H, window),
                   "twin": twin_runner(x, mask, w, dy, H, window),
                   "functional": functional_runner(x, mask, w, dy, H, window)}
        med = {k: statistics.median(v) for k, v in interleaved(runners, args.runs, args.warmup,
                                                                 CLOCKS[args.clock]).items()}
        records.append(dict(config=label, pyreparam_s=med["pyreparam"], torch_s=med["twin"],
                            ratio=med["pyreparam"] / med["twin"],
                            torch_functional_s=med["functional"],
                            ratio_functional=med["pyreparam"] / med["functional"],
                            runs=args.runs, threads=args.threads, clock=args.clock))
        print(f"{label:28s} {med['pyreparam'] * 1e3:10.2f} {med['twin'] * 1e3:10.2f} "
              f"{med['functional'] * 1e3:10.2f} {med['pyreparam'] / med['twin']:10.2f} "
              f"{med['pyreparam'] / med['functional']:8.2f}", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        from pyreparam.atomic import write_text
        write_text(args.json, json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
