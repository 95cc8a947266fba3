"""An independent PyTorch twin of pyreparam's three backbones (parity oracle, benchmark).

Written with torch.nn / torch.nn.functional the way a PyTorch user would write these
models, *not* by transliterating pyreparam's NumPy code; only the semantics are shared
(pyreparam/models):

* padded input frames are zeroed, and padded frames are zeroed again before every
  convolution; a convolution's output mask follows from the valid lengths;
* attention gets a boolean mask (True = may attend): key padding for global
  attention, key padding AND |t - j| <= w // 2 for SpeechFormer's local windows; a
  query with no allowed key outputs zeros;
* the Conformer's BatchNorm uses the statistics of the valid frames only (F.batch_norm
  on the packed valid frames, which also updates the running statistics) and outputs
  exactly 0 at padded frames;
* SpeechFormer's merges average each group of g frames over its valid frames;
* pooling is the mean over valid frames; GELU is the erf form, Swish is SiLU.

HRF chains: :class:`HRFLinear` is an ``nn.Linear`` with a ``ModuleList`` of factors
applied in front of it, so the training form and the merged form share one module.

API
---
    twin = build_twin(config)                  # torch.nn.Module, float32
    load_from_numpy(twin, model.params, model.buffers)
    logits = twin(x, mask)                     # x (B, T, M), mask (B, T) bool
    grads = grads_by_name(twin)                # {pyreparam name: ndarray}

Name map. The twin's modules are named like pyreparam's dotted prefixes, so a
pyreparam name maps to the twin's ``state_dict`` key by its last component only
(:data:`LEAF_NAMES`): ``layers.0.ffn.fc1.hrf.0.w`` -> ``layers.0.ffn.fc1.hrf.0.weight``,
``blocks.0.conv.bn.gamma`` -> ``blocks.0.conv.bn.weight``. The one shape difference is
the depthwise convolution's weight, (C, K) in pyreparam and (C, 1, K) in torch.

This is a tools/ module: it imports torch and pyreparam's configs; pyreparam never
imports it.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pyreparam.models.config import (
    ConformerConfig, ConvTransformerConfig, HRFConfig, ModelConfig, SpeechFormerConfig)

__all__ = ["build_twin", "load_from_numpy", "grads_by_name", "running_stats", "name_map",
           "torch_name", "pyreparam_names", "HRFLinear", "SelfAttention"]

# x4 subsampling front end: two Conv1d(kernel 3, stride 2, padding 1) + ReLU.
SUBSAMPLE_KERNEL, SUBSAMPLE_STRIDE, SUBSAMPLE_PADDING = 3, 2, 1
BN_MOMENTUM, NORM_EPS = 0.1, 1e-5

#: pyreparam's last name component -> the twin's (torch's) parameter or buffer name.
LEAF_NAMES = {"w": "weight", "b": "bias", "gamma": "weight", "beta": "bias",
              "running_mean": "running_mean", "running_var": "running_var"}


def hrf_at(config: ModelConfig, site: str) -> HRFConfig | None:
    return config.hrf if config.hrf is not None and site in config.hrf.sites else None


# --------------------------------------------------------------------------- pieces

class HRFLinear(nn.Linear):
    """``nn.Linear`` with an optional chain of HRF factors in front of it.

    y = W (H_k (... (H_1 x + c_1) ...) + c_k) + b; factors are ``self.hrf[i]``, each
    r * n_in wide, and the layer itself then takes r * n_in inputs.
    """

    def __init__(self, n_in: int, n_out: int, hrf: HRFConfig | None = None,
                 bias: bool = True):
        width = n_in if hrf is None else hrf.r * n_in
        super().__init__(width, n_out, bias=bias)
        dims = [n_in] + ([width] * hrf.k if hrf is not None else [])
        self.hrf = nn.ModuleList(nn.Linear(a, b, bias=hrf.bias)
                                 for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for factor in self.hrf:
            x = factor(x)
        return super().forward(x)


def zero_padding(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x (B, T, C) with the padded frames (mask False) set to 0 (NaN-safe: a select)."""
    return torch.where(mask[..., None], x, torch.zeros((), dtype=x.dtype))


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the valid frames: (B, T, C) -> (B, C)."""
    count = mask.sum(1, keepdim=True).clamp(min=1).to(x.dtype)
    return zero_padding(x, mask).sum(1) / count


def sinusoidal_positions(T: int, C: int, dtype: torch.dtype) -> torch.Tensor:
    """pe[t, 2i] = sin(t / 10000^(2i/C)), pe[t, 2i+1] = cos(...); (T, C), in float64 first."""
    t = torch.arange(T, dtype=torch.float64)[:, None]
    c = torch.arange(C)
    angle = t * 10000.0 ** (-(2 * (c // 2)).to(torch.float64) / C)
    return torch.where(c % 2 == 0, torch.sin(angle), torch.cos(angle)).to(dtype)


class SelfAttention(nn.Module):
    """Multi-head self-attention with optional HRF chains before Q/K/V and the output.

    ``allowed`` (B, 1, 1 or T, T) bool says which keys each query may attend to.
    """

    def __init__(self, width: int, heads: int, hrf_in: HRFConfig | None = None,
                 hrf_out: HRFConfig | None = None):
        super().__init__()
        self.heads = heads
        self.qkv = HRFLinear(width, 3 * width, hrf_in)
        self.out = HRFLinear(width, width, hrf_out)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        # a query with no allowed key would softmax over nothing: let it see every key,
        # then zero its output (so neither NaN nor a uniform average leaks out)
        has_key = allowed.any(-1, keepdim=True)                            # (B, 1, T|1, 1)
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed | ~has_key)
        ctx = ctx * has_key                                                # (B, H, T, D)
        return self.out(ctx.transpose(1, 2).reshape(B, T, C))


def key_padding(mask: torch.Tensor) -> torch.Tensor:
    """Global attention: every query may attend to every valid key. (B, 1, 1, T)."""
    return mask[:, None, None, :]


def local_window(mask: torch.Tensor, window: int) -> torch.Tensor:
    """Query t may attend to valid keys j with |t - j| <= window // 2. (B, 1, T, T)."""
    t = torch.arange(mask.shape[1])
    band = (t[:, None] - t[None, :]).abs() <= window // 2                 # (T, T)
    return band[None, None] & mask[:, None, None, :]


class FeedForward(nn.Module):
    """fc2(drop(act(fc1(x)))), with the HRF chain (if any) in fc1."""

    def __init__(self, width: int, hidden: int, activation: nn.Module, dropout: float,
                 hrf: HRFConfig | None):
        super().__init__()
        self.fc1 = HRFLinear(width, hidden, hrf)
        self.act = activation
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(self.act(self.fc1(x))))


def conv_output_mask(mask: torch.Tensor, conv: nn.Conv1d, T_out: int) -> torch.Tensor:
    """Valid output frames of ``conv``: j < (L + 2p - K) // s + 1 for valid length L."""
    (K,), (s,), (p,) = conv.kernel_size, conv.stride, conv.padding
    lengths = (mask.sum(1) + 2 * p - K) // s + 1                          # (B,)
    return torch.arange(T_out)[None, :] < lengths[:, None]                # (B, T')


class ConvSubsample(nn.Module):
    """Two Conv1d(k3, s2) + ReLU over time, mel bins as channels: x4 fewer frames."""

    def __init__(self, n_mels: int, width: int):
        super().__init__()
        args = (SUBSAMPLE_KERNEL, SUBSAMPLE_STRIDE, SUBSAMPLE_PADDING)
        self.conv1 = nn.Conv1d(n_mels, width, *args)
        self.conv2 = nn.Conv1d(width, width, *args)

    def forward(self, x: torch.Tensor, mask: torch.Tensor):
        for conv in (self.conv1, self.conv2):
            x = F.relu(conv(zero_padding(x, mask).transpose(1, 2))).transpose(1, 2)
            mask = conv_output_mask(mask, conv, x.shape[1])
        return zero_padding(x, mask), mask                                # (B, T/4, C)


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm over the valid frames of (B, T, C); padded outputs are exactly 0."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        valid = F.batch_norm(x[mask], self.running_mean, self.running_var, self.weight,
                             self.bias, self.training, self.momentum, self.eps)   # (n, C)
        y = x.new_zeros(x.shape)
        y[mask] = valid
        return y


# --------------------------------------------------------------------------- ConvTransformer

class PreLNLayer(nn.Module):
    """x + drop(MHA(LN x)), then x + drop(FFN(LN x)); GELU FFN."""

    def __init__(self, cfg: ConvTransformerConfig):
        super().__init__()
        C = cfg.width
        self.attn_norm = nn.LayerNorm(C, eps=NORM_EPS)
        self.attn = SelfAttention(C, cfg.heads, hrf_at(cfg, "attn_in"), hrf_at(cfg, "attn_out"))
        self.ffn_norm = nn.LayerNorm(C, eps=NORM_EPS)
        self.ffn = FeedForward(C, cfg.ffn, nn.GELU(), cfg.dropout, hrf_at(cfg, "ffn"))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.attn_norm(x), allowed))
        return x + self.drop(self.ffn(self.ffn_norm(x)))


class ConvTransformer(nn.Module):
    def __init__(self, cfg: ConvTransformerConfig):
        super().__init__()
        self.subsample = ConvSubsample(cfg.n_mels, cfg.width)
        self.drop = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(PreLNLayer(cfg) for _ in range(cfg.layers))
        self.final_norm = nn.LayerNorm(cfg.width, eps=NORM_EPS)
        self.classifier = nn.Linear(cfg.width, cfg.n_classes)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = _full_mask(x) if mask is None else mask
        h, mask = self.subsample(x, mask)                                 # (B, T/4, C)
        h = self.drop(h + sinusoidal_positions(h.shape[1], h.shape[2], h.dtype))
        allowed = key_padding(mask)
        for layer in self.layers:
            h = layer(h, allowed)
        return self.classifier(masked_mean(self.final_norm(h), mask))


# --------------------------------------------------------------------------- Conformer

class ConvModule(nn.Module):
    """pw2(SiLU(BN(depthwise(GLU(pw1 x))))), padded frames zeroed before the depthwise conv."""

    def __init__(self, cfg: ConformerConfig):
        super().__init__()
        C, K = cfg.width, cfg.conv_kernel
        self.pw1 = HRFLinear(C, 2 * C, hrf_at(cfg, "conv_pw"))
        self.dw = nn.Conv1d(C, C, K, padding=(K - 1) // 2, groups=C)
        self.bn = MaskedBatchNorm1d(C, eps=NORM_EPS, momentum=BN_MOMENTUM)
        self.pw2 = HRFLinear(C, C, hrf_at(cfg, "conv_pw"))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = zero_padding(F.glu(self.pw1(x), dim=-1), mask)               # (B, T, C)
        h = self.dw(h.transpose(1, 2)).transpose(1, 2)                    # (B, T, C)
        return self.pw2(F.silu(self.bn(h, mask)))


class ConformerBlock(nn.Module):
    """Macaron block: x + FFN/2, + MHA, + Conv, + FFN/2, then LayerNorm."""

    def __init__(self, cfg: ConformerConfig):
        super().__init__()
        C, hrf = cfg.width, hrf_at(cfg, "ffn")
        self.ffn1_norm = nn.LayerNorm(C, eps=NORM_EPS)
        self.ffn1 = FeedForward(C, cfg.ffn, nn.SiLU(), cfg.dropout, hrf)
        self.attn_norm = nn.LayerNorm(C, eps=NORM_EPS)
        self.attn = SelfAttention(C, cfg.heads, hrf_at(cfg, "attn_in"), hrf_at(cfg, "attn_out"))
        self.conv_norm = nn.LayerNorm(C, eps=NORM_EPS)
        self.conv = ConvModule(cfg)
        self.ffn2_norm = nn.LayerNorm(C, eps=NORM_EPS)
        self.ffn2 = FeedForward(C, cfg.ffn, nn.SiLU(), cfg.dropout, hrf)
        self.final_norm = nn.LayerNorm(C, eps=NORM_EPS)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, allowed: torch.Tensor):
        x = x + 0.5 * self.drop(self.ffn1(self.ffn1_norm(x)))
        x = x + self.drop(self.attn(self.attn_norm(x), allowed))
        x = x + self.drop(self.conv(self.conv_norm(x), mask))
        x = x + 0.5 * self.drop(self.ffn2(self.ffn2_norm(x)))
        return self.final_norm(x)


class Conformer(nn.Module):
    def __init__(self, cfg: ConformerConfig):
        super().__init__()
        self.subsample = ConvSubsample(cfg.n_mels, cfg.width)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(ConformerBlock(cfg) for _ in range(cfg.layers))
        self.classifier = nn.Linear(cfg.width, cfg.n_classes)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = _full_mask(x) if mask is None else mask
        h, mask = self.subsample(x, mask)                                 # (B, T/4, C)
        h = self.drop(h + sinusoidal_positions(h.shape[1], h.shape[2], h.dtype))
        allowed = key_padding(mask)
        for block in self.blocks:
            h = block(h, mask, allowed)
        return self.classifier(masked_mean(h, mask))


# --------------------------------------------------------------------------- SpeechFormer

class PostLNLayer(nn.Module):
    """x = LN(x + drop(MHA(x))); LN(x + drop(FFN(x))); ReLU bottleneck FFN."""

    def __init__(self, cfg: SpeechFormerConfig, width: int, hidden: int):
        super().__init__()
        self.attn = SelfAttention(width, cfg.heads, hrf_at(cfg, "attn_in"),
                                  hrf_at(cfg, "attn_out"))
        self.attn_norm = nn.LayerNorm(width, eps=NORM_EPS)
        self.ffn = FeedForward(width, hidden, nn.ReLU(), cfg.dropout, hrf_at(cfg, "ffn"))
        self.ffn_norm = nn.LayerNorm(width, eps=NORM_EPS)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        x = self.attn_norm(x + self.drop(self.attn(x, allowed)))
        return self.ffn_norm(x + self.drop(self.ffn(x)))


class Stage(nn.Module):
    def __init__(self, cfg: SpeechFormerConfig, s: int):
        super().__init__()
        width = cfg.stage_widths()[s]
        if s == 0:
            self.norm = nn.LayerNorm(width, eps=NORM_EPS)                # opens stage 0
        hidden = cfg.ffn * width // cfg.width
        self.layers = nn.ModuleList(PostLNLayer(cfg, width, hidden)
                                    for _ in range(cfg.layers[s]))
        self.window = cfg.windows[s]

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        allowed = local_window(mask, self.window) if self.window else key_padding(mask)
        for layer in self.layers:
            x = layer(x, allowed)
        return x


class Merge(nn.Module):
    """Average non-overlapping groups of g valid frames, then Linear(C, eC) and LN."""

    def __init__(self, width: int, out: int, group: int):
        super().__init__()
        self.group = group
        self.proj = nn.Linear(width, out)
        self.norm = nn.LayerNorm(out, eps=NORM_EPS)

    def forward(self, x: torch.Tensor, mask: torch.Tensor):
        B, T, C = x.shape
        g = self.group
        pad = -T % g
        x = F.pad(zero_padding(x, mask), (0, 0, 0, pad))                 # (B, T' g, C)
        counts = F.pad(mask, (0, pad)).view(B, -1, g).sum(-1)            # (B, T')
        pooled = x.view(B, -1, g, C).sum(2) / counts.clamp(min=1)[..., None].to(x.dtype)
        return self.norm(self.proj(pooled)), counts > 0


class Head(nn.Module):
    """Linear ReLU drop, Linear ReLU drop, Linear: C -> C/2 -> C/4 -> N."""

    def __init__(self, width: int, n_classes: int, dropout: float):
        super().__init__()
        self.fc1 = nn.Linear(width, width // 2)
        self.fc2 = nn.Linear(width // 2, width // 4)
        self.fc3 = nn.Linear(width // 4, n_classes)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(F.relu(self.fc1(x)))
        x = self.drop(F.relu(self.fc2(x)))
        return self.fc3(x)


class SpeechFormer(nn.Module):
    def __init__(self, cfg: SpeechFormerConfig):
        super().__init__()
        widths = cfg.stage_widths()
        self.input_proj = nn.Linear(cfg.n_mels, cfg.width) if cfg.n_mels != cfg.width else None
        self.stages = nn.ModuleList(Stage(cfg, s) for s in range(len(cfg.layers)))
        self.merges = nn.ModuleList(Merge(widths[s], widths[s + 1], g)
                                    for s, g in enumerate(cfg.merges))
        self.head = Head(widths[-1], cfg.n_classes, cfg.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = _full_mask(x) if mask is None else mask
        h = zero_padding(x, mask)
        if self.input_proj is not None:
            h = self.input_proj(h)                                        # (B, T, C)
        h = h + sinusoidal_positions(h.shape[1], h.shape[2], h.dtype)
        h = self.stages[0].norm(h)
        for s, stage in enumerate(self.stages):
            h = stage(h, mask)
            if s < len(self.merges):
                h, mask = self.merges[s](h, mask)                         # (B, T/g, eC)
        return self.head(masked_mean(h, mask))


# --------------------------------------------------------------------------- API

def _full_mask(x: torch.Tensor) -> torch.Tensor:
    return torch.ones(x.shape[:2], dtype=torch.bool)


def build_twin(config: ModelConfig, dtype: torch.dtype = torch.float32) -> nn.Module:
    """The PyTorch twin of a pyreparam model configuration.

    Parameters
    ----------
    config : ModelConfig
        Any pyreparam config (any backbone and size, with or without HRF).
    dtype : torch.dtype
        float32 (default) or float64.

    Returns
    -------
    nn.Module
        ``twin(x, mask=None) -> logits``: x (B, T, M) log-mel frames, mask (B, T) bool
        (True = valid, padding a tail; None = all valid), logits (B, N). Weights are
        torch's default init until :func:`load_from_numpy` fills them in.
    """
    classes = {"convtransformer": ConvTransformer, "conformer": Conformer,
               "speechformer": SpeechFormer}
    return classes[config.backbone](config).to(dtype)


def torch_name(name: str) -> str:
    """pyreparam's dotted name -> the twin's state_dict key (only the leaf changes)."""
    stem, leaf = name.rsplit(".", 1)
    return f"{stem}.{LEAF_NAMES[leaf]}"


def _twin_entries(twin: nn.Module) -> dict[str, torch.Tensor]:
    """The twin's parameters and running statistics (not num_batches_tracked)."""
    entries = dict(twin.named_parameters())
    entries.update((k, v) for k, v in twin.named_buffers()
                   if not k.endswith("num_batches_tracked"))
    return entries


def name_map(twin: nn.Module, names) -> dict[str, str]:
    """{pyreparam name: twin key} for ``names``; raises unless it is a bijection onto
    the twin's parameters and running statistics."""
    entries = _twin_entries(twin)
    mapping = {name: torch_name(name) for name in names}
    missing = sorted(n for n, t in mapping.items() if t not in entries)
    uncovered = sorted(set(entries) - set(mapping.values()))
    if missing or uncovered:
        raise KeyError(f"name map mismatch: no twin entry for {missing}; "
                       f"twin entries not covered: {uncovered}")
    return mapping


def _our_shape(name: str, twin_shape: torch.Size) -> tuple[int, ...]:
    """The pyreparam shape of a twin entry: the same, except depthwise weights
    (C, 1, K) in torch, (C, K) in pyreparam."""
    if name.endswith(".dw.w") and len(twin_shape) == 3 and twin_shape[1] == 1:
        return (twin_shape[0], twin_shape[2])
    return tuple(twin_shape)


@torch.no_grad()
def load_from_numpy(twin: nn.Module, params: Mapping[str, np.ndarray],
                    buffers: Mapping[str, np.ndarray] | None = None) -> None:
    """Copy pyreparam parameters and buffers, by name, into the twin (in its dtype).

    Parameters
    ----------
    twin : nn.Module
        From :func:`build_twin` with the same config as the arrays.
    params : dict of str -> ndarray
        ``Model.params``: every parameter, pyreparam names and shapes.
    buffers : dict of str -> ndarray, optional
        ``Model.buffers`` (BatchNorm running statistics).

    Raises
    ------
    KeyError
        When the names do not map one to one onto the twin's parameters and running
        statistics (see :func:`name_map`).
    ValueError
        When an array's shape does not fit its twin entry.
    """
    arrays = dict(params)
    arrays.update(buffers or {})
    entries = _twin_entries(twin)
    for name, twin_key in name_map(twin, arrays).items():
        target = entries[twin_key]
        if tuple(arrays[name].shape) != _our_shape(name, target.shape):
            raise ValueError(f"{name}: shape {arrays[name].shape} does not fit the twin's "
                             f"{twin_key} of shape {tuple(target.shape)}")
        value = torch.from_numpy(np.ascontiguousarray(arrays[name]))
        target.copy_(value.reshape(target.shape).to(target.dtype))


def grads_by_name(twin: nn.Module, names=None) -> dict[str, np.ndarray]:
    """The twin's parameter gradients in pyreparam's names and shapes.

    Parameters
    ----------
    twin : nn.Module
        After a ``backward()``.
    names : iterable of str, optional
        pyreparam names to return (default: every parameter of the twin).

    Returns
    -------
    dict of str -> ndarray
        Copies of ``p.grad`` (zeros for a parameter that received no gradient), in
        the parameter's dtype; depthwise weights as (C, K).
    """
    params = dict(twin.named_parameters())
    out = {}
    for name in (names if names is not None else pyreparam_names(twin)):
        p = params[torch_name(name)]
        g = torch.zeros_like(p) if p.grad is None else p.grad
        out[name] = g.detach().reshape(_our_shape(name, p.shape)).cpu().numpy().copy()
    return out


def pyreparam_names(twin: nn.Module) -> list[str]:
    """pyreparam names of the twin's parameters, the inverse of :func:`torch_name`
    (a norm's weight and bias are pyreparam's gamma and beta)."""
    names = []
    modules = dict(twin.named_modules())
    for key in dict(twin.named_parameters()):
        stem, leaf = key.rsplit(".", 1)
        is_norm = isinstance(modules[stem], (nn.LayerNorm, nn.BatchNorm1d))
        ours = {"weight": "gamma" if is_norm else "w", "bias": "beta" if is_norm else "b"}[leaf]
        names.append(f"{stem}.{ours}")
    return names


def running_stats(twin: nn.Module) -> dict[str, np.ndarray]:
    """BatchNorm running statistics (same names in pyreparam and torch)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in twin.named_buffers()
            if k.endswith(("running_mean", "running_var"))}


def n_params(twin: nn.Module) -> int:
    """Number of trainable scalars (the same as ``Model.n_params()``)."""
    return sum(p.numel() for p in twin.parameters())

