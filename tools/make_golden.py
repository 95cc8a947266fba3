r"""Write PyTorch golden vectors for every pyreparam op under reference/golden/.

    python tools/make_golden.py            # (re)write every file
    python tools/make_golden.py --check    # regenerate in memory, compare, write nothing

Each case draws fixed random inputs from ``numpy.random.default_rng(seed)``, computes
the op with an *independent* PyTorch formulation (torch.nn.functional, nn modules,
torch.optim, in float64) and, for differentiable ops, the gradients of every
differentiable input under the fake loss L = sum(y * g) with a random cotangent g
(drawn after the inputs, stored too). This script never imports pyreparam: the
goldens owe nothing to the code they check.

One ``<case>.npz`` per case, written with ``numpy.savez_compressed``; every array
loads with ``allow_pickle=False``. Keys:

    in_<name>     inputs (float64 arrays, bool masks, int64 labels)
    g             the cotangent g of the fake loss (absent for non-differentiable ops)
    out_<name>    forward outputs computed by torch
    grad_<name>   dL/d<name> computed by torch autograd
    meta_*        generator, torch / numpy / python versions, date, seed, op, case,
                  and meta_params: the op's call parameters as a JSON string

Masked ops (batchnorm, attention, mha, pooling) get padded tails, including one
sequence of length 1 whose tail is padding only; padded frames hold random values
scaled by PAD_SCALE so that any leak of padding into valid outputs shows up.

Dropout has no deterministic torch counterpart (torch draws its own mask), so its
golden is the mask semantics: the keep-mask is drawn with numpy exactly as
pyreparam's dropout documents it (one uint16 u per element: default_rng(mask_seed)'s
raw 64-bit outputs read as 16-bit words, keep = u >= round(65536 p)), stored as in_keep, and torch computes
y = x * keep / (1 - p) and its gradient through that same mask. The test runs
pyreparam's dropout with default_rng(mask_seed) and checks the zero pattern, the
scale and the gradient against the file.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import sys
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

F = torch.nn.functional
GENERATOR = "tools/make_golden.py"
GOLDEN_DIR = Path(__file__).resolve().parents[1] / "reference" / "golden"
PAD_SCALE = 100.0           # padded frames hold 100x larger values than valid ones


# ----------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------

def case_seed(case: str) -> int:
    """The seed of a case: CRC-32 of its name (stable, independent of case order)."""
    return zlib.crc32(case.encode("ascii"))


def lengths_mask(lengths: list[int], T: int) -> np.ndarray:
    """(B, T) bool mask, True at the first lengths[b] frames of sequence b."""
    return np.arange(T)[None, :] < np.asarray(lengths)[:, None]


def padded_input(rng: np.random.Generator, shape: tuple, mask: np.ndarray) -> np.ndarray:
    """Standard normal (B, T, ...) input whose padded frames are PAD_SCALE times larger."""
    x = rng.standard_normal(shape)
    scale = np.where(mask, 1.0, PAD_SCALE).reshape(mask.shape + (1,) * (len(shape) - 2))
    return x * scale


def leaves(arrays: dict[str, np.ndarray], diff: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Torch tensors of the inputs; those named in ``diff`` require a gradient."""
    return {name: torch.tensor(a, requires_grad=name in diff) for name, a in arrays.items()}


def backprop(y: torch.Tensor, rng: np.random.Generator, g: np.ndarray | None = None
             ) -> np.ndarray:
    """Backpropagate L = sum(y * g), g drawn from rng (y's shape) unless given; return g."""
    if g is None:
        g = rng.standard_normal(tuple(y.shape))
    (y * torch.tensor(g)).sum().backward()
    return g


def differentiable_case(fn: Callable[..., torch.Tensor], inputs: dict[str, np.ndarray],
                        diff: tuple[str, ...], params: dict,
                        rng: np.random.Generator, g: np.ndarray | None = None) -> dict:
    """Run y = fn(**inputs) in torch, backprop sum(y * g) and collect the case."""
    t = leaves(inputs, diff)
    y = fn(**t)
    g = backprop(y, rng, g)
    return {"params": params, "inputs": inputs, "g": g,
            "outputs": {"y": y.detach().numpy()},
            "grads": {name: t[name].grad.numpy() for name in diff}}


# ----------------------------------------------------------------------------------
# dense ops: linear, norms, dropout, activations, softmax
# ----------------------------------------------------------------------------------

def case_linear(rng):
    inputs = {"x": rng.standard_normal((2, 3, 4)), "w": rng.standard_normal((5, 4)),
              "b": rng.standard_normal(5)}
    return differentiable_case(lambda x, w, b: F.linear(x, w, b), inputs, ("x", "w", "b"),
                               {}, rng)


def case_linear_nobias(rng):
    inputs = {"x": rng.standard_normal((4, 3)), "w": rng.standard_normal((2, 3))}
    return differentiable_case(lambda x, w: F.linear(x, w, None), inputs, ("x", "w"),
                               {"bias": None}, rng)


def case_layernorm(rng):
    C, eps = 6, 1e-5
    inputs = {"x": 3.0 * rng.standard_normal((2, 4, C)) + 1.0,
              "gamma": 1.0 + 0.5 * rng.standard_normal(C), "beta": rng.standard_normal(C)}

    def fn(x, gamma, beta):
        return F.layer_norm(x, (C,), gamma, beta, eps)
    return differentiable_case(fn, inputs, ("x", "gamma", "beta"), {"eps": eps}, rng)


def _batchnorm_case(rng, train: bool) -> dict:
    """Masked BatchNorm: torch's F.batch_norm on the gathered valid frames (n, C)."""
    B, T, C, lengths, momentum, eps = 3, 6, 4, [6, 3, 1], 0.1, 1e-5
    mask = lengths_mask(lengths, T)
    inputs = {"x": 2.0 * padded_input(rng, (B, T, C), mask) + 0.5,
              "gamma": 1.0 + 0.5 * rng.standard_normal(C), "beta": rng.standard_normal(C),
              "running_mean": rng.standard_normal(C),
              "running_var": 0.5 + rng.random(C), "mask": mask}
    t = leaves(inputs, ("x", "gamma", "beta"))
    running_mean, running_var = t["running_mean"].clone(), t["running_var"].clone()
    xv = t["x"][t["mask"]]                                          # (n, C)
    yv = F.batch_norm(xv, running_mean, running_var, t["gamma"], t["beta"],
                      training=train, momentum=momentum, eps=eps)   # (n, C)
    y = torch.zeros((B, T, C), dtype=torch.float64)
    y[t["mask"]] = yv                                               # 0 at padding
    g = backprop(y, rng)
    outputs = {"y": y.detach().numpy()}
    if train:     # F.batch_norm updated the running statistics in place
        outputs.update(running_mean=running_mean.numpy(), running_var=running_var.numpy())
    return {"params": {"train": train, "momentum": momentum, "eps": eps, "lengths": lengths},
            "inputs": inputs, "g": g, "outputs": outputs,
            "grads": {name: t[name].grad.numpy() for name in ("x", "gamma", "beta")}}


def case_batchnorm_train(rng):
    return _batchnorm_case(rng, train=True)


def case_batchnorm_eval(rng):
    return _batchnorm_case(rng, train=False)


def case_dropout(rng):
    p = 0.3
    mask_seed = case_seed("dropout") + 1
    draws = np.random.default_rng(mask_seed).bit_generator.random_raw(6).view(np.uint16)
    keep = draws.reshape(4, 6) >= round(p * 65536)
    inputs = {"x": rng.standard_normal((4, 6)), "keep": keep}

    def fn(x, keep):
        return x * keep / (1 - p)
    return differentiable_case(fn, inputs, ("x",),
                               {"p": p, "mask_seed": mask_seed, "train": True}, rng)


def _elementwise_case(rng, fn, x, params=None):
    """y = fn(x) for an element-wise op (or one along a single axis)."""
    return differentiable_case(fn, {"x": x}, ("x",), params or {}, rng)


def case_relu(rng):
    x = rng.standard_normal((3, 7))
    x[0, :3] = 0.0                          # torch and pyreparam both take dx = 0 at x = 0
    return _elementwise_case(rng, lambda x: F.relu(x), x)


def case_gelu(rng):
    return _elementwise_case(rng, lambda x: F.gelu(x, approximate="none"),
                             2.0 * rng.standard_normal((3, 7)), {"approximate": "none"})


def _with_tails(rng, shape) -> np.ndarray:
    """3 N(0, 1) with a few far tails (+-30, +-40) for the sigmoid family."""
    x = 3.0 * rng.standard_normal(shape)
    x.flat[:4] = (-40.0, -30.0, 30.0, 40.0)
    return x


def case_sigmoid(rng):
    return _elementwise_case(rng, lambda x: torch.sigmoid(x), _with_tails(rng, (3, 7)))


def case_swish(rng):
    return _elementwise_case(rng, lambda x: F.silu(x), _with_tails(rng, (3, 7)))


def case_glu(rng):
    return _elementwise_case(rng, lambda x: F.glu(x, dim=-1), _with_tails(rng, (2, 3, 8)),
                             {"axis": -1})


def case_glu_axis1(rng):
    return _elementwise_case(rng, lambda x: F.glu(x, dim=1), 3.0 * rng.standard_normal((2, 6, 3)),
                             {"axis": 1})


def case_softmax(rng):
    return _elementwise_case(rng, lambda x: F.softmax(x, dim=-1),
                             3.0 * rng.standard_normal((2, 3, 5)), {"axis": -1})


def case_softmax_axis1(rng):
    return _elementwise_case(rng, lambda x: F.softmax(x, dim=1),
                             3.0 * rng.standard_normal((2, 4, 3)), {"axis": 1})


# ----------------------------------------------------------------------------------
# attention and multi-head attention
# ----------------------------------------------------------------------------------

def allowed_keys(mask: np.ndarray | None, B: int, T: int, window: int | None) -> np.ndarray:
    """(B, T, T) bool: query t may attend to key j (valid key, and |t - j| <= w//2)."""
    allowed = np.ones((B, T, T), dtype=bool) if mask is None else \
        np.repeat(mask[:, None, :], T, axis=1)                      # (B, T, T)
    if window is not None:
        offset = np.arange(T)[None, :] - np.arange(T)[:, None]      # (T, T), j - t
        allowed &= np.abs(offset) <= window // 2
    return allowed


def manual_attention(q, k, v, allowed: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(D)) v over the allowed keys, written out in torch.

    ``allowed`` is (B, T, T) bool. A query with no allowed key gets a zero context
    (pyreparam's convention; a plain masked softmax would give nan): its scores are
    replaced by zeros before the softmax and its probabilities multiplied by 0.
    """
    D = q.shape[-1]
    has_key = allowed.any(dim=-1)[:, None, :, None]                 # (B, 1, T, 1)
    S = q @ k.transpose(-1, -2) / math.sqrt(D)                      # (B, H, T, T)
    S = S.masked_fill(~allowed[:, None], float("-inf"))
    S = torch.where(has_key, S, torch.zeros((), dtype=S.dtype))
    P = torch.softmax(S, dim=-1) * has_key                          # (B, H, T, T)
    return P @ v                                                    # (B, H, T, D)


def sdpa_attention(q, k, v, allowed: torch.Tensor) -> torch.Tensor:
    """F.scaled_dot_product_attention with a (B, 1, T, T) boolean mask."""
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed[:, None])


def _attention_case(rng, B, H, T, D, lengths, window, primary, cross_check) -> dict:
    """q, k, v (B, H, T, D) with a key padding mask (or none); golden from ``primary``,
    asserted equal (forward and gradients) to ``cross_check`` before it is written."""
    mask = None if lengths is None else lengths_mask(lengths, T)
    inputs = {name: rng.standard_normal((B, H, T, D)) for name in ("q", "k", "v")}
    if mask is not None:        # padded frames PAD_SCALE times larger, as padded_input
        scale = np.where(mask, 1.0, PAD_SCALE)[:, None, :, None]   # (B, 1, T, 1)
        inputs = {name: x * scale for name, x in inputs.items()}
    allowed = allowed_keys(mask, B, T, window)
    g = rng.standard_normal((B, H, T, D))
    golden, other = (
        differentiable_case(lambda q, k, v: fn(q, k, v, torch.tensor(allowed)),
                            inputs, ("q", "k", "v"), {}, rng, g)
        for fn in (primary, cross_check))
    for part in ("outputs", "grads"):
        for key, value in golden[part].items():
            np.testing.assert_allclose(value, other[part][key], rtol=1e-12, atol=1e-13,
                                       err_msg=f"{primary.__name__} vs {cross_check.__name__}")
    if mask is not None:
        golden["inputs"] = dict(inputs, mask=mask)
    golden["params"] = {"window": window, "lengths": lengths, "formulation": primary.__name__,
                        "cross_checked_with": cross_check.__name__}
    return golden


def case_attention_global(rng):
    return _attention_case(rng, 3, 2, 7, 4, [7, 3, 1], None, sdpa_attention, manual_attention)


def case_attention_global_nomask(rng):
    return _attention_case(rng, 2, 2, 5, 3, None, None, sdpa_attention, manual_attention)


def case_attention_local(rng):
    return _attention_case(rng, 3, 2, 9, 4, [9, 4, 1], 3, manual_attention, sdpa_attention)


def _mha_inputs(rng, B, T, C, lengths) -> dict:
    mask = lengths_mask(lengths, T)
    s = 1.0 / math.sqrt(C)
    return {"x": padded_input(rng, (B, T, C), mask),
            "w_qkv": s * rng.standard_normal((3 * C, C)),
            "b_qkv": 0.1 * rng.standard_normal(3 * C),
            "w_o": s * rng.standard_normal((C, C)), "b_o": 0.1 * rng.standard_normal(C),
            "mask": mask}


MHA_PARAMS = ("x", "w_qkv", "b_qkv", "w_o", "b_o")


def case_mha_global(rng):
    """torch.nn.MultiheadAttention (batch_first) with key_padding_mask = ~mask."""
    B, T, H, C, lengths = 3, 7, 2, 8, [7, 3, 1]
    inputs = _mha_inputs(rng, B, T, C, lengths)
    mha = torch.nn.MultiheadAttention(C, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.tensor(inputs["w_qkv"]))
        mha.in_proj_bias.copy_(torch.tensor(inputs["b_qkv"]))
        mha.out_proj.weight.copy_(torch.tensor(inputs["w_o"]))
        mha.out_proj.bias.copy_(torch.tensor(inputs["b_o"]))
    x = torch.tensor(inputs["x"], requires_grad=True)
    y, _ = mha(x, x, x, key_padding_mask=torch.tensor(~inputs["mask"]), need_weights=False)
    g = backprop(y, rng)
    grads = dict(zip(MHA_PARAMS, (x.grad, mha.in_proj_weight.grad, mha.in_proj_bias.grad,
                                  mha.out_proj.weight.grad, mha.out_proj.bias.grad)))
    return {"params": {"n_heads": H, "window": None, "lengths": lengths,
                       "formulation": "torch.nn.MultiheadAttention"},
            "inputs": inputs, "g": g, "outputs": {"y": y.detach().numpy()},
            "grads": {name: t.numpy() for name, t in grads.items()}}


def case_mha_local(rng):
    """F.linear projections around the band-masked manual attention."""
    B, T, H, C, lengths, window = 3, 9, 2, 8, [9, 4, 1], 5
    D = C // H
    inputs = _mha_inputs(rng, B, T, C, lengths)
    allowed = torch.tensor(allowed_keys(inputs["mask"], B, T, window))

    def fn(x, w_qkv, b_qkv, w_o, b_o, mask):
        q, k, v = (part.reshape(B, T, H, D).transpose(1, 2)        # (B, H, T, D)
                   for part in F.linear(x, w_qkv, b_qkv).split(C, dim=-1))
        ctx = manual_attention(q, k, v, allowed)                    # (B, H, T, D)
        return F.linear(ctx.transpose(1, 2).reshape(B, T, C), w_o, b_o)
    return differentiable_case(fn, inputs, MHA_PARAMS,
                               {"n_heads": H, "window": window, "lengths": lengths,
                                "formulation": "F.linear + manual_attention"}, rng)


# ----------------------------------------------------------------------------------
# convolutions, positions, pooling
# ----------------------------------------------------------------------------------

def _conv_case(rng, B, T, Cin, Cout, K, stride, padding, bias, groups=1) -> dict:
    """F.conv1d on the (B, C, T) transpose of channels-last data."""
    inputs = {"x": rng.standard_normal((B, T, Cin)),
              "w": rng.standard_normal((Cout, Cin // groups, K)) / math.sqrt(Cin * K / groups)}
    if bias:
        inputs["b"] = rng.standard_normal(Cout)

    def fn(x, w, b=None):
        y = F.conv1d(x.transpose(1, 2), w, b, stride=stride, padding=padding, groups=groups)
        return y.transpose(1, 2)                                    # (B, T', Cout)
    case = differentiable_case(fn, inputs, tuple(inputs), {
        "stride": stride, "padding": padding, "bias": bias, "groups": groups}, rng)
    if groups > 1:       # store the depthwise weight as pyreparam takes it, (C, K)
        case["inputs"]["w"] = inputs["w"][:, 0]
        case["grads"]["w"] = case["grads"]["w"][:, 0]
    return case


def case_conv1d_s2_p1(rng):
    return _conv_case(rng, 2, 9, 3, 4, 3, stride=2, padding=1, bias=True)


def case_conv1d_s3_p2_nobias(rng):
    return _conv_case(rng, 2, 10, 2, 3, 4, stride=3, padding=2, bias=False)


def case_depthwise_conv1d(rng):
    return _conv_case(rng, 2, 8, 4, 4, 5, stride=1, padding=2, bias=True, groups=4)


def case_depthwise_conv1d_k15(rng):
    return _conv_case(rng, 2, 6, 3, 3, 15, stride=1, padding=7, bias=False, groups=3)


def torch_sinusoidal_table(T: int, C: int) -> torch.Tensor:
    """The PyTorch tutorial's table: exp(-2i log(10000) / C) frequencies, sin/cos."""
    position = torch.arange(T, dtype=torch.float64)[:, None]        # (T, 1)
    div_term = torch.exp(torch.arange(0, C, 2, dtype=torch.float64)
                         * (-math.log(10000.0) / C))                # (ceil(C / 2),)
    pe = torch.zeros(T, C, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term[:C // 2])
    return pe


def _position_case(rng, B, T, C):
    x = rng.standard_normal((B, T, C))
    return differentiable_case(lambda x: x + torch_sinusoidal_table(T, C), {"x": x}, ("x",),
                               {}, rng)


def case_positional_encoding(rng):
    return _position_case(rng, 2, 11, 6)


def case_positional_encoding_odd(rng):
    return _position_case(rng, 1, 5, 7)


def case_avgpool_merge(rng):
    """Mean of the valid frames of each group of g, slice by slice (0 if none)."""
    B, T, C, g_size, lengths = 3, 11, 4, 4, [11, 6, 1]
    mask = lengths_mask(lengths, T)
    inputs = {"x": padded_input(rng, (B, T, C), mask), "mask": mask}
    T_out = -(-T // g_size)

    def fn(x, mask):
        rows = []
        for b, L in enumerate(lengths):
            groups = [x[b, j * g_size:min(j * g_size + g_size, L)] for j in range(T_out)]
            rows.append(torch.stack([grp.mean(dim=0) if len(grp) else
                                     torch.zeros(C, dtype=x.dtype) for grp in groups]))
        return torch.stack(rows)                                    # (B, T', C)
    case = differentiable_case(fn, inputs, ("x",), {"g": g_size, "lengths": lengths}, rng)
    starts = np.arange(T_out) * g_size
    case["outputs"]["y_mask"] = starts[None, :] < np.asarray(lengths)[:, None]  # (B, T')
    return case


def case_masked_mean(rng):
    """x[b, :L].mean(0) per sequence; a sequence with L = 0 gets 0 (pyreparam's
    convention; torch's mean of no frames would be nan)."""
    B, T, C, lengths = 4, 6, 3, [6, 4, 1, 0]
    mask = lengths_mask(lengths, T)
    inputs = {"x": padded_input(rng, (B, T, C), mask), "mask": mask}

    def fn(x, mask):
        return torch.stack([x[b, :L].mean(dim=0) if L else torch.zeros(C, dtype=x.dtype)
                            for b, L in enumerate(lengths)])        # (B, C)
    return differentiable_case(fn, inputs, ("x",), {"lengths": lengths}, rng)


# ----------------------------------------------------------------------------------
# loss, optimizer, clipping, schedule
# ----------------------------------------------------------------------------------

def _cross_entropy_case(rng, B, N, weighted, label_smoothing):
    inputs = {"logits": 2.0 * rng.standard_normal((B, N)),
              "labels": rng.integers(0, N, size=B).astype(np.int64)}
    if weighted:
        inputs["class_weights"] = 0.5 + rng.random(N)

    def fn(logits, labels, class_weights=None):
        return F.cross_entropy(logits, labels, weight=class_weights,
                               label_smoothing=label_smoothing)     # 0-d
    case = differentiable_case(fn, inputs, ("logits",), {"label_smoothing": label_smoothing,
                                                         "reduction": "mean"}, rng)
    case["outputs"] = {"loss": case["outputs"]["y"]}
    return case


def case_cross_entropy(rng):
    return _cross_entropy_case(rng, 6, 5, weighted=True, label_smoothing=0.1)


def case_cross_entropy_plain(rng):
    return _cross_entropy_case(rng, 4, 3, weighted=False, label_smoothing=0.0)


def case_adamw(rng):
    """torch.optim.AdamW, two parameter groups, a new lr and gradient every step."""
    steps, betas, eps, weight_decay = 4, (0.85, 0.99), 1e-7, 0.05
    group_h = (0.5, 0.0)                    # lr multiplier and weight decay of "h"
    shapes = {"w": (3, 4), "b": (3,), "h": (5,)}
    inputs = {f"param_{n}": rng.standard_normal(s) for n, s in shapes.items()}
    inputs.update({f"grads_{n}": rng.standard_normal((steps,) + s) for n, s in shapes.items()})
    inputs["lrs"] = 1e-2 * (1.0 + rng.random(steps))
    params = {n: torch.nn.Parameter(torch.tensor(inputs[f"param_{n}"])) for n in shapes}
    opt = torch.optim.AdamW(
        [{"params": [params["w"], params["b"]]},
         {"params": [params["h"]], "weight_decay": group_h[1]}],
        lr=float(inputs["lrs"][0]), betas=betas, eps=eps, weight_decay=weight_decay)
    history = {n: [] for n in shapes}
    for s in range(steps):
        opt.param_groups[0]["lr"] = float(inputs["lrs"][s])
        opt.param_groups[1]["lr"] = float(inputs["lrs"][s]) * group_h[0]
        for n, p in params.items():
            p.grad = torch.tensor(inputs[f"grads_{n}"][s])
        opt.step()
        for n, p in params.items():
            history[n].append(p.detach().numpy().copy())
    outputs = {f"param_{n}": np.stack(h) for n, h in history.items()}   # (steps, ...)
    for n, p in params.items():
        outputs[f"exp_avg_{n}"] = opt.state[p]["exp_avg"].numpy()
        outputs[f"exp_avg_sq_{n}"] = opt.state[p]["exp_avg_sq"].numpy()
    return {"params": {"steps": steps, "betas": list(betas), "eps": eps,
                       "weight_decay": weight_decay, "groups": {"h": list(group_h)}},
            "inputs": inputs, "outputs": outputs, "grads": {}}


def _clip_case(rng, max_norm):
    shapes = {"a": (3, 4), "b": (5,), "c": (2, 2, 2)}
    inputs = {f"grad_{n}": rng.standard_normal(s) for n, s in shapes.items()}
    params = []
    for n in shapes:
        p = torch.nn.Parameter(torch.zeros(shapes[n], dtype=torch.float64))
        p.grad = torch.tensor(inputs[f"grad_{n}"])
        params.append(p)
    total = torch.nn.utils.clip_grad_norm_(params, max_norm)
    outputs = {f"grad_{n}": p.grad.numpy() for n, p in zip(shapes, params)}
    outputs["total_norm"] = total.detach().numpy()
    return {"params": {"max_norm": max_norm}, "inputs": inputs, "outputs": outputs, "grads": {}}


def case_clip_grad_norm(rng):
    return _clip_case(rng, max_norm=1.0)          # the norm is about 5: clipped


def case_clip_grad_norm_unclipped(rng):
    return _clip_case(rng, max_norm=100.0)        # far below: untouched


def _schedule_case(total_steps, warmup_steps, peak_lr, final_lr, extra=3):
    """SequentialLR(LambdaLR warmup, CosineAnnealingLR, ConstantLR at final_lr):
    the lr each update uses, for updates 0 .. total_steps + extra - 1."""
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=peak_lr)
    sched = torch.optim.lr_scheduler
    cosine = sched.CosineAnnealingLR(opt, T_max=total_steps - warmup_steps, eta_min=final_lr)
    hold = sched.ConstantLR(opt, factor=final_lr / peak_lr, total_iters=10 ** 9)
    if warmup_steps > 0:
        warmup = sched.LambdaLR(opt, lambda s: s / warmup_steps)
        schedule = sched.SequentialLR(opt, [warmup, cosine, hold],
                                      milestones=[warmup_steps, total_steps])
    else:
        schedule = sched.SequentialLR(opt, [cosine, hold], milestones=[total_steps])
    lrs = []
    for _ in range(total_steps + extra):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    return {"params": {"total_steps": total_steps, "warmup_steps": warmup_steps,
                       "peak_lr": peak_lr, "final_lr": final_lr},
            "inputs": {"step": np.arange(total_steps + extra)},
            "outputs": {"lr": np.array(lrs)}, "grads": {}}


def case_warmup_cosine_lr(rng):
    return _schedule_case(12, 3, 1e-3, 1e-5)


def case_warmup_cosine_lr_nowarmup(rng):
    return _schedule_case(7, 0, 3e-4, 2e-5)


# ----------------------------------------------------------------------------------
# registry, files
# ----------------------------------------------------------------------------------

# case name -> (the pyreparam op it checks, builder); the file is <case>.npz
CASES: dict[str, tuple[str, Callable[[np.random.Generator], dict]]] = {
    "linear": ("linear", case_linear),
    "linear_nobias": ("linear", case_linear_nobias),
    "layernorm": ("layernorm", case_layernorm),
    "batchnorm_train": ("batchnorm", case_batchnorm_train),
    "batchnorm_eval": ("batchnorm", case_batchnorm_eval),
    "dropout": ("dropout", case_dropout),
    "relu": ("relu", case_relu),
    "gelu": ("gelu", case_gelu),
    "swish": ("swish", case_swish),
    "sigmoid": ("sigmoid", case_sigmoid),
    "glu": ("glu", case_glu),
    "glu_axis1": ("glu", case_glu_axis1),
    "softmax": ("softmax", case_softmax),
    "softmax_axis1": ("softmax", case_softmax_axis1),
    "attention_global": ("attention", case_attention_global),
    "attention_global_nomask": ("attention", case_attention_global_nomask),
    "attention_local": ("attention", case_attention_local),
    "mha_global": ("mha", case_mha_global),
    "mha_local": ("mha", case_mha_local),
    "conv1d_s2_p1": ("conv1d", case_conv1d_s2_p1),
    "conv1d_s3_p2_nobias": ("conv1d", case_conv1d_s3_p2_nobias),
    "depthwise_conv1d": ("depthwise_conv1d", case_depthwise_conv1d),
    "depthwise_conv1d_k15": ("depthwise_conv1d", case_depthwise_conv1d_k15),
    "positional_encoding": ("positional_encoding", case_positional_encoding),
    "positional_encoding_odd": ("positional_encoding", case_positional_encoding_odd),
    "avgpool_merge": ("avgpool_merge", case_avgpool_merge),
    "masked_mean": ("masked_mean", case_masked_mean),
    "cross_entropy": ("cross_entropy", case_cross_entropy),
    "cross_entropy_plain": ("cross_entropy", case_cross_entropy_plain),
    "adamw": ("adamw", case_adamw),
    "clip_grad_norm": ("clip_grad_norm", case_clip_grad_norm),
    "clip_grad_norm_unclipped": ("clip_grad_norm", case_clip_grad_norm_unclipped),
    "warmup_cosine_lr": ("warmup_cosine_lr", case_warmup_cosine_lr),
    "warmup_cosine_lr_nowarmup": ("warmup_cosine_lr", case_warmup_cosine_lr_nowarmup),
}


def build_case(case: str) -> dict[str, np.ndarray]:
    """All arrays of one golden file, metadata included."""
    op, builder = CASES[case]
    seed = case_seed(case)
    parts = builder(np.random.default_rng(seed))
    arrays = {f"in_{k}": np.asarray(v) for k, v in parts["inputs"].items()}
    if "g" in parts:
        arrays["g"] = np.asarray(parts["g"])
    arrays.update({f"out_{k}": np.asarray(v) for k, v in parts["outputs"].items()})
    arrays.update({f"grad_{k}": np.asarray(v) for k, v in parts["grads"].items()})
    meta = {"generator": GENERATOR, "torch_version": torch.__version__,
            "numpy_version": np.__version__, "python_version": platform.python_version(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "op": op, "case": case, "params": json.dumps(parts["params"], sort_keys=True)}
    arrays.update({f"meta_{k}": np.array(v) for k, v in meta.items()})
    arrays["meta_seed"] = np.array(seed, dtype=np.int64)
    return arrays


def build_all() -> dict[str, dict[str, np.ndarray]]:
    """Every case, in memory: case name -> arrays."""
    with warnings.catch_warnings():
        # SequentialLR calls its schedulers' deprecated step(epoch) internally
        warnings.filterwarnings("ignore", category=UserWarning,
                                message=".*epoch parameter in `scheduler.step")
        return {case: build_case(case) for case in CASES}


def write_all(cases: dict[str, dict[str, np.ndarray]], directory: Path) -> int:
    """Write one compressed .npz per case; return the total size in bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    total = 0
    for case, arrays in cases.items():
        path = directory / f"{case}.npz"
        from pyreparam.atomic import atomic_write
        atomic_write(path, lambda f, arrays=arrays: np.savez_compressed(f, **arrays))
        total += path.stat().st_size
    return total


def compare_with_files(cases, directory: Path, rtol=1e-12, atol=1e-14) -> list[str]:
    """Differences between regenerated cases and the stored files (meta_ versions and
    date excepted); an empty list when they agree."""
    problems = []
    for case, arrays in cases.items():
        path = directory / f"{case}.npz"
        if not path.exists():
            problems.append(f"{case}: no file {path}")
            continue
        with np.load(path, allow_pickle=False) as stored:
            if set(stored.files) != set(arrays):
                problems.append(f"{case}: keys differ: {sorted(set(stored.files) ^ set(arrays))}")
                continue
            for key, new in arrays.items():
                if key.endswith(("_version", "_date")):
                    continue
                old = stored[key]
                if new.dtype.kind == "f":
                    ok = old.shape == new.shape and np.allclose(old, new, rtol=rtol, atol=atol)
                else:
                    ok = old.shape == new.shape and np.array_equal(old, new)
                if not ok:
                    problems.append(f"{case}: {key} differs")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=GOLDEN_DIR, help="output directory")
    parser.add_argument("--check", action="store_true",
                        help="regenerate in memory and compare with the files; write nothing")
    args = parser.parse_args(argv)
    cases = build_all()
    if args.check:
        problems = compare_with_files(cases, args.out)
        print("\n".join(problems) or f"{len(cases)} golden files reproduced")
        return 1 if problems else 0
    total = write_all(cases, args.out)
    print(f"wrote {len(cases)} files to {args.out} ({total / 1024:.1f} KiB), torch "
          f"{torch.__version__}, numpy {np.__version__}, python {platform.python_version()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
