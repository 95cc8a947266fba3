"""Benchmark one training step of each light backbone: pyreparam (NumPy) vs its PyTorch twin.

A step is forward, cross-entropy, backward, gradient clipping (max norm 5) and an AdamW
update, in train mode (dropout 0.1), float32, on a batch of 32 utterances of 3 s
(300 frames x 64 mels, random valid lengths 200..300 with a padding mask). Each light
backbone runs without HRF and with HRF (r = 4, k = 1, site ffn).

    python tools/bench_train.py [--json PATH] [--steps 20] [--warmup 3] [--block 5] [--clock wall]
                                [--threads 2] [--backbones ...]
    python tools/bench_train.py --profile {pyreparam,torch} [--steps 10] [--top 20]

pyreparam uses pyreparam.models + pyreparam.ops.optim (adamw_step, clip_grad_norm),
the twin torch.optim.AdamW and torch.nn.utils.clip_grad_norm_, both from the same
initial weights. The two implementations run in alternating blocks of --block steps
(each block after one untimed step, the order swapped every round) so that machine
noise hits both alike; stepping them one by one instead makes each pay the other's
thread-pool wake-ups (OpenBLAS and OpenMP threads spin or sleep between calls). The
table reports the median step time of each and ratio = pyreparam / torch.

Threads: OMP/OpenBLAS/MKL thread counts are set in the environment before NumPy is
imported (from --threads), and torch.set_num_threads(--threads). On a machine shared
with other jobs, wall times with 2 threads on 2 cores swing by 10x (each library's
threads wait for a descheduled partner); --threads 1 --clock cpu measures the
process's CPU time instead, which other jobs barely disturb.

Memory: by default the process keeps freed memory as `pyreparam train` does
(pyreparam.train.memory.keep_freed_memory: glibc's mmap and trim thresholds raised, so
a step's temporaries are not page-faulted in again every step); it applies to the whole
process, the twin included. --malloc glibc keeps glibc's defaults instead.
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
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from pyreparam.models import BACKBONES, HRFConfig, build_model, make_config  # noqa: E402
from pyreparam.ops.loss import cross_entropy_backward, cross_entropy_forward  # noqa: E402
from pyreparam.ops.optim import adamw_init, adamw_step, clip_grad_norm  # noqa: E402
from pyreparam.train.memory import keep_freed_memory  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_twin import build_twin, load_from_numpy  # noqa: E402

BATCH, FRAMES, MIN_FRAMES = 32, 300, 200
LR, WEIGHT_DECAY, MAX_NORM = 1e-3, 0.01, 5.0


def bench_configs(backbones=BACKBONES) -> list[tuple[str, object]]:
    """(label, config) for each light backbone, without and with HRF (r=4, site ffn)."""
    out = []
    for backbone in backbones:
        for hrf in (None, HRFConfig(r=4, k=1, sites=("ffn",))):
            label = f"{backbone}-light" + ("" if hrf is None else "+hrf(r=4,ffn)")
            out.append((label, make_config(backbone, "light", hrf=hrf, dropout=0.1)))
    return out


def make_batch(rng: np.random.Generator, n_mels: int, n_classes: int):
    """x (B, T, M) float32 with zeroed padding, mask (B, T), labels (B,)."""
    x = rng.standard_normal((BATCH, FRAMES, n_mels)).astype(np.float32)
    lengths = rng.integers(MIN_FRAMES, FRAMES + 1, size=BATCH)
    mask = np.arange(FRAMES)[None, :] < lengths[:, None]
    x *= mask[..., None]
    return x, mask, rng.integers(0, n_classes, size=BATCH)


def pyreparam_stepper(config, x, mask, labels, seed: int) -> tuple[Callable[[], float], object]:
    """A closure doing one pyreparam training step (returns the loss), and the model."""
    model = build_model(config, seed)
    state = {"adam": adamw_init(model.params)}
    rng = np.random.default_rng(seed + 1)

    def step() -> float:
        logits, cache = model.forward(x, mask, train=True, rng=rng)
        loss, ce = cross_entropy_forward(logits, labels)
        grads = model.backward(cross_entropy_backward(1.0, ce), cache)
        clip_grad_norm(grads, MAX_NORM)
        state["adam"] = adamw_step(model.params, grads, state["adam"], LR,
                                   weight_decay=WEIGHT_DECAY)
        return loss

    return step, model


def torch_stepper(config, model, x, mask, labels) -> Callable[[], float]:
    """A closure doing one training step of the twin, from ``model``'s initial weights."""
    twin = build_twin(config)
    load_from_numpy(twin, model.params, model.buffers)
    twin.train()
    opt = torch.optim.AdamW(twin.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    xt, mt, yt = torch.from_numpy(x), torch.from_numpy(mask), torch.from_numpy(labels)

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(twin(xt, mt), yt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(twin.parameters(), MAX_NORM)
        opt.step()
        return loss.item()

    return step


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def alternating_blocks(a: Callable[[], float], b: Callable[[], float], steps: int,
                       warmup: int, block: int, clock: Callable[[], float] = time.perf_counter
                       ) -> tuple[list[float], list[float]]:
    """Step times of a and b, run in alternating blocks of ``block`` timed steps.

    Each block starts with one untimed step (the switch from the other library costs
    its thread pools a wake-up), and the order within a round alternates, so that
    machine noise and switching costs hit both implementations alike.
    """
    for _ in range(warmup):
        a()
        b()
    times_a, times_b = [], []
    round_ = 0
    while len(times_a) < steps:
        order = ((a, times_a), (b, times_b)) if round_ % 2 == 0 else ((b, times_b), (a, times_a))
        for work, times in order:
            work()                                       # untimed: settle after the switch
            for _ in range(min(block, steps - len(times))):
                start = clock()
                work()
                times.append(clock() - start)
        round_ += 1
    return times_a, times_b


def run(steps: int, warmup: int, block: int, threads: int, backbones,
        clock: str = "wall", malloc: str = "train") -> list[dict]:
    torch.set_num_threads(threads)
    records = []
    for label, config in bench_configs(backbones):
        rng = np.random.default_rng(0)
        x, mask, labels = make_batch(rng, config.n_mels, config.n_classes)
        ours, model = pyreparam_stepper(config, x, mask, labels, seed=0)
        theirs = torch_stepper(config, model, x, mask, labels)   # before any step
        t_ours, t_theirs = alternating_blocks(ours, theirs, steps, warmup, block,
                                               CLOCKS[clock])
        m_ours, m_theirs = statistics.median(t_ours), statistics.median(t_theirs)
        records.append(dict(config=label, pyreparam_s=m_ours, torch_s=m_theirs,
                            ratio=m_ours / m_theirs, steps=steps, threads=threads, clock=clock,
                            malloc=malloc, n_params=model.n_params()))
        print(f"{label:36s} {m_ours * 1e3:9.1f} {m_theirs * 1e3:9.1f} {m_ours / m_theirs:7.2f}"
              f"   (iqr {_iqr(t_ours) * 1e3:.1f} / {_iqr(t_theirs) * 1e3:.1f} ms)", flush=True)
    return records


def profile_pyreparam(steps: int, warmup: int, threads: int, backbones, top: int,
                      clock: str = "wall") -> None:
    """cProfile of ``steps`` pyreparam training steps per config: the ``top`` functions
    by own time (wall or CPU, as ``clock``), with their share of the profiled time."""
    import cProfile
    import pstats

    torch.set_num_threads(threads)
    for label, config in bench_configs(backbones):
        x, mask, labels = make_batch(np.random.default_rng(0), config.n_mels, config.n_classes)
        step, _ = pyreparam_stepper(config, x, mask, labels, seed=0)
        for _ in range(warmup):
            step()
        profiler = cProfile.Profile(CLOCKS[clock])
        start = CLOCKS[clock]()
        profiler.enable()
        for _ in range(steps):
            step()
        profiler.disable()
        per_step = (CLOCKS[clock]() - start) / steps
        stats = pstats.Stats(profiler)
        print(f"\n{label}: {per_step * 1e3:.1f} ms ({clock}) per step under the profiler "
              f"(load average {os.getloadavg()[0]:.2f})")
        print(f"{'own ms/step':>11s} {'share':>6s} {'calls/step':>10s}  function")
        rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]
        for (path, line, func), (_, calls, own, _, _) in rows:
            where = f"{os.path.basename(path)}:{line}({func})" if line else func
            print(f"{own / steps * 1e3:11.2f} {own / stats.total_tt:6.1%} "
                  f"{calls / steps:10.1f}  {where}")


def profile_torch(steps: int, warmup: int, threads: int, backbones, top: int) -> None:
    """torch.profiler of ``steps`` twin training steps per config: the ``top`` ops
    by self CPU time."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    torch.set_num_threads(threads)
    for label, config in bench_configs(backbones):
        x, mask, labels = make_batch(np.random.default_rng(0), config.n_mels, config.n_classes)
        model = build_model(config, 0)
        step = torch_stepper(config, model, x, mask, labels)
        for _ in range(warmup):
            step()
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                step()
        print(f"\n{label} (torch twin), {steps} steps")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top))


def _iqr(times: list[float]) -> float:
    q = statistics.quantiles(times, n=4)
    return q[2] - q[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="write the records to this JSON file")
    parser.add_argument("--steps", type=int, default=20, help="timed steps of each (>= 20)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--block", type=int, default=5,
                        help="timed steps per block; the implementations alternate blocks")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time (default) or this process's CPU time; with "
                             "--threads 1 the CPU time is robust to other jobs' load")
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=BACKBONES)
    parser.add_argument("--malloc", choices=("train", "glibc"), default="train",
                        help="train (default): keep freed memory as `pyreparam train` does "
                             "(the whole process, twin included); glibc: glibc's defaults")
    parser.add_argument("--profile", choices=("pyreparam", "torch"),
                        help="instead of comparing, profile one implementation's steps")
    parser.add_argument("--top", type=int, default=20, help="rows of the profile")
    args = parser.parse_args(argv)
    if args.json:   # its folder now, not after the whole run
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    if args.malloc == "train" and not keep_freed_memory():
        print("note: could not keep freed memory (not glibc, or MALLOC_*_THRESHOLD_ set)")
    if args.profile:
        if args.profile == "pyreparam":
            profile_pyreparam(args.steps, args.warmup, args.threads, args.backbones, args.top,
                              args.clock)
        else:
            profile_torch(args.steps, args.warmup, args.threads, args.backbones, args.top)
        return
    print(f"batch {BATCH} x {FRAMES} frames x 64 mels (lengths {MIN_FRAMES}..{FRAMES}), "
          f"float32, train mode, dropout 0.1, {args.threads} threads, {args.clock} time, "
          f"malloc {args.malloc}, medians of {args.steps} steps; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'config':36s} {'pyreparam':>9s} {'torch':>9s} {'ratio':>7s}   (ms per step)")
    records = run(args.steps, args.warmup, args.block, args.threads, args.backbones,
                  args.clock, args.malloc)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        from pyreparam.atomic import write_text
        write_text(args.json, json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
