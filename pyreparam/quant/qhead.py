r"""NumPy integer reference of the statistics head (the device's head).

The integer twin of :class:`pyreparam.models.stats_head.StatsHead` and the oracle of
``csrc/pr_head_*.c`` (bit for bit). reference/stats_head.md, section 5, writes it out.

For one utterance X (T, C) int16 Q8 (:func:`pyreparam.quant.qcausal.quantize_features`):

1. features (``pr_head_features_s16``): f = the Q16 functionals of
   :mod:`pyreparam.quant.qfunctionals` (D int32); each brought into int16 Q8 by its own
   power of two, g_j = sat16(f_j / 2^(8 + e_j)) rounded half away (a left shift when
   8 + e_j < 0): the value f_j 2^-e_j, with e_j chosen offline so that the training
   functionals use the int16 range (|f 2^-e| <= 64). A z-score is invariant to the
   scale, so the prior is scaled the same way and nothing else changes.
2. causal z-score: the frames' integer rule (:mod:`pyreparam.quant.qcausal`) over D
   "bands" of one frame per utterance (each utterance weight 1, as the float head):
   ``pr_norm_apply_s16_s8`` gives z int8 at scale s_z, ``pr_norm_update_s16`` merges g
   into the state after the decision.
3. decision (``pr_head_decide_s8``): head logits l = linear_s8(z) (int8 at scale s_l),
   p_head = softmax_s8(l), p_net = softmax_s8(network logits) (both int8 at 1/256,
   zero point -128), then with w = round(2^15 mix):

       p_c = (2^15 - w) (p_net,c + 128) + w (p_head,c + 128)       (int32, Q23 of p)

   and the class is the first c with the largest p_c.

The float decision is log((1 - mix) p_net + mix p_head); this one rounds both
probabilities to 1/256 before mixing (a tie the float path would break can tie here).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from pyreparam.quant import qcausal, qfunctionals
from pyreparam.quant.fixedpoint import (INT32_MAX, SHIFT_MAX, SHIFT_MIN, quantize, quantize_multipliers, rdbp,
                                        round_half_away, saturate)
from pyreparam.quant.qfunctionals import dct_basis_q14, utterance_functionals_q
from pyreparam.quant.qlinear import linear_s8
from pyreparam.quant.qnorm import build_softmax_exp_table, softmax_s8

MIX_BITS = 15                  # the head's weight w in Q15
PROB_BITS = 8                  # softmax outputs (q + 128) / 2^8
MIN_EXPONENT, MAX_EXPONENT = -23, 23   # 8 + e in [-15, 31]
#: |f 2^-e| of the training functionals is brought to at most this (int16 Q8 holds 128)
TARGET_RANGE = 64.0
#: z-scores are quantized to int8 over +- this many standard deviations
Z_RANGE = 8.0


class HeadConstants(NamedTuple):
    """Integer constants of one head (the C struct pr_head's arrays and fields)."""
    channels: int              # C of the frames
    bands: int                 # M: the first M channels are mel bands
    dct: np.ndarray            # (L, M) int16 Q14
    exponent: np.ndarray       # (D,) int8: g = f 2^-e in Q8
    norm: qcausal.NormParams   # causal rule over the D functionals (z out at s_z)
    weight: np.ndarray         # (N, D) int8
    bias: np.ndarray           # (N,) int32 at s_z s_w
    multiplier: np.ndarray     # (N,) int32: s_z s_w / s_l
    shift: np.ndarray          # (N,) int32
    logit_zero_point: int      # of the head's int8 logits
    head_exp_table: np.ndarray  # (256,) int32, softmax of the head's logits (s_l)
    net_exp_table: np.ndarray   # (256,) int32, softmax of the network's logits
    mix: int                   # w, Q15, 0 .. 2^15
    z_scale: float             # s_z (the lab protocols quantize float z-scores with it)
    pitch: bool = False        # the functionals end with the prosody block

    @property
    def n_features(self) -> int:
        return int(self.exponent.shape[0])

    @property
    def n_classes(self) -> int:
        return int(self.weight.shape[0])

    @property
    def constant_bytes(self) -> int:
        """Flash of the constants: DCT (int16), exponents and weights (int8), bias,
        multipliers and shifts (int32 per class), two softmax tables, the prior."""
        D, N = self.n_features, self.n_classes
        return 2 * self.dct.size + D + N * D + 12 * N + 2 * 256 * 4 + 8 * D


# ---- the three steps ---------------------------------------------------------------

def scale_functionals(f, exponent) -> np.ndarray:
    """Q16 functionals f (D,) int32 -> int16 Q8 values of f 2^-e (saturated)."""
    f = np.asarray(f, dtype=np.int64)
    s = 8 + np.asarray(exponent, dtype=np.int64)
    down = rdbp(f, np.clip(s, 0, 62))                          # s >= 0
    up = saturate(f, -(1 << 31), 1 << 31) << np.clip(-s, 0, 15)  # s < 0, |f| <= 2^31
    return saturate(np.where(s >= 0, down, up), -32768, 32767).astype(np.int16)


def features(h: HeadConstants, X) -> np.ndarray:
    """g (D,) int16 of an utterance X (T, C) int16 Q8 (pr_head_features_s16)."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != h.channels:
        raise ValueError(f"expected int16 frames (T, {h.channels}), got {X.shape}")
    return scale_functionals(utterance_functionals_q(X, h.bands, h.dct, h.pitch),
                             h.exponent)


def zscores(h: HeadConstants, state: qcausal.NormState, g) -> np.ndarray:
    """z (D,) int8 of g after the state's utterances (pr_norm_apply_s16_s8, 1 frame)."""
    return qcausal.apply(state, h.norm, np.asarray(g)[None, :])[0]


def decide(h: HeadConstants, z, net_logits) -> np.ndarray:
    """Mixed probabilities (N,) int32, Q23 (pr_head_decide_s8).

    z : (D,) int8 z-scores; net_logits : (N,) int8, the network's output."""
    logits = linear_s8(np.asarray(z)[None, :], h.weight, h.bias, h.multiplier, h.shift,
                       h.logit_zero_point)                              # (1, N)
    p_head = softmax_s8(logits[None], h.head_exp_table)[0, 0].astype(np.int64) + 128
    p_net = softmax_s8(np.asarray(net_logits)[None, None], h.net_exp_table)[0, 0] \
        .astype(np.int64) + 128
    return ((((1 << MIX_BITS) - h.mix) * p_net) + h.mix * p_head).astype(np.int32)


def decision_logits(p) -> np.ndarray:
    """Float "logits" of mixed probabilities p (int32 Q23): log p (softmax gives p back,
    the argmax and its ties are the integers')."""
    p = np.asarray(p, dtype=np.float64)
    return np.log(np.maximum(p, 0.5)) - (MIX_BITS + PROB_BITS) * np.log(2.0)


# ---- from a float head -------------------------------------------------------------

def exponents(F: np.ndarray, prior_mean, prior_var) -> np.ndarray:
    """Per-functional e (D,) int8: the smallest e with max |f| 2^-e <= TARGET_RANGE over
    the calibration functionals F (n, D) and the prior's mean +- 4 std."""
    span = np.maximum(np.abs(F).max(axis=0),
                      np.abs(prior_mean) + 4 * np.sqrt(np.maximum(prior_var, 0)))
    e = np.ceil(np.log2(np.maximum(span, 2.0**-30) / TARGET_RANGE))
    return np.clip(e, MIN_EXPONENT, MAX_EXPONENT).astype(np.int8)


def quantize_head(head, F: np.ndarray, channels: int, net_output_scale: float
                  ) -> HeadConstants:
    """Integer constants of a float :class:`~pyreparam.models.stats_head.StatsHead`.

    Parameters
    ----------
    head : StatsHead
    F : ndarray (n, D) float, calibration functionals (training speakers' utterances)
    channels : int, C of the frames
    net_output_scale : float, the scale of the network's int8 logits

    Notes
    -----
    z int8 at s_z = Z_RANGE / 127 (zero point 0); W symmetric per row; the head's
    logits int8 at s_l = max |W z + b| / 127 over the calibration rows z-scored by the
    prior alone and by their own mean and std (both protocols' extremes).
    """
    nz = head.normalizer
    e = exponents(F, nz.prior_mean, nz.prior_var)
    scale = 2.0 ** -e.astype(np.float64)
    z_scale = Z_RANGE / 127
    norm = qcausal.norm_params(nz.prior_mean * scale, nz.prior_var * scale**2,
                               nz.prior_weight, z_scale, 0)
    s_w = np.maximum(np.abs(head.weight).max(axis=1), 1e-12) / 127          # (N,)
    W = quantize(head.weight / s_w[:, None], 1.0)                             # (N, D)
    Z = np.concatenate([(F - nz.prior_mean) / np.maximum(np.sqrt(nz.prior_var), nz.min_std),
                        (F - F.mean(axis=0)) / np.maximum(F.std(axis=0), nz.min_std)])
    Z = np.clip(Z, -128 * z_scale, 127 * z_scale)
    s_l = max(float(np.abs(head.logits(Z)).max()), 1e-6) / 127
    bias = saturate(round_half_away(head.bias / (z_scale * s_w)), -INT32_MAX, INT32_MAX)
    mult, shift = quantize_multipliers(z_scale * s_w / s_l)
    return HeadConstants(
        channels=int(channels), bands=int(head.n_mels), dct=dct_basis_q14(head.n_mels),
        exponent=e, norm=norm, weight=W, bias=bias.astype(np.int32), multiplier=mult,
        shift=shift, logit_zero_point=0,
        head_exp_table=build_softmax_exp_table(s_l),
        net_exp_table=build_softmax_exp_table(net_output_scale),
        mix=int(round_half_away(head.mix * 2**MIX_BITS)), z_scale=z_scale,
        pitch=bool(head.pitch))


# ---- the constants in a .prq's host metadata (JSON) ---------------------------------

def to_meta(h: HeadConstants) -> dict:
    n = h.norm
    return {"channels": h.channels, "bands": h.bands, "cepstra": int(h.dct.shape[0]),
            "dct": h.dct.ravel().tolist(), "exponent": h.exponent.tolist(),
            "prior_mean": n.prior_mean.tolist(), "prior_var": n.prior_var.tolist(),
            "prior_weight": n.prior_weight, "var_floor": n.var_floor,
            "z_multiplier": n.multiplier, "z_shift": n.shift, "z_scale": h.z_scale,
            "weight": h.weight.ravel().tolist(), "bias": h.bias.tolist(),
            "multiplier": h.multiplier.tolist(), "shift": h.shift.tolist(),
            "logit_zero_point": h.logit_zero_point,
            "head_exp_table": h.head_exp_table.tolist(),
            "net_exp_table": h.net_exp_table.tolist(), "mix": h.mix,
            **({"pitch": 1} if h.pitch else {})}


class HeadMetaError(ValueError):
    """A .prq's head metadata that does not make a head."""


def _ints(d: dict, key: str, n: int, lo: int, hi: int, dtype) -> np.ndarray:
    v = d[key]
    if not isinstance(v, list) or len(v) != n or not all(
            type(x) is int and lo <= x <= hi for x in v):
        raise HeadMetaError(f"head.{key}: expected {n} integers in [{lo}, {hi}]")
    return np.array(v, dtype=dtype)


def _int(d: dict, key: str, lo: int, hi: int) -> int:
    v = d[key]
    if type(v) is not int or not lo <= v <= hi:
        raise HeadMetaError(f"head.{key}: expected an integer in [{lo}, {hi}]")
    return v


def from_meta(d, n_classes: int) -> HeadConstants:
    """Validated constants from a .prq's ``meta["head"]`` (HeadMetaError otherwise):
    every value in the range the C kernels accept."""
    from pyreparam.quant.qfunctionals import MAX_BANDS, MAX_CHANNELS
    try:
        if not isinstance(d, dict):
            raise HeadMetaError("head: expected an object")
        C = _int(d, "channels", 1, MAX_CHANNELS)
        M = _int(d, "bands", 1, min(C, MAX_BANDS))
        L = _int(d, "cepstra", 1, M)
        pitch = bool(_int(d, "pitch", 0, 1)) if "pitch" in d else False
        if pitch and C < M + 2:
            raise HeadMetaError(f"head: the prosody block needs the two pitch channels "
                                f"after the {M} bands; the frames have {C} channels")
        D = qfunctionals.count(C, L, pitch)
        if D > qcausal.MAX_BANDS:
            raise HeadMetaError(f"head: {D} functionals exceed {qcausal.MAX_BANDS}")
        i32 = (-(1 << 31), (1 << 31) - 1)
        norm = qcausal.NormParams(
            _ints(d, "prior_mean", D, *i32, np.int32), _ints(d, "prior_var", D, 1,
                                                             i32[1], np.int32),
            _int(d, "prior_weight", 1, i32[1]), _int(d, "var_floor", 1, i32[1]),
            _int(d, "z_multiplier", 0, i32[1]), _int(d, "z_shift", SHIFT_MIN, SHIFT_MAX), 0)
        z_scale = d["z_scale"]
        if not isinstance(z_scale, float) or not 0 < z_scale < 1e6:
            raise HeadMetaError("head.z_scale: expected a positive number")
        h = HeadConstants(
            C, M, _ints(d, "dct", L * M, -32768, 32767, np.int16).reshape(L, M),
            _ints(d, "exponent", D, MIN_EXPONENT, MAX_EXPONENT, np.int8), norm,
            _ints(d, "weight", n_classes * D, -128, 127, np.int8).reshape(n_classes, D),
            _ints(d, "bias", n_classes, *i32, np.int32),
            _ints(d, "multiplier", n_classes, 0, i32[1], np.int32),
            _ints(d, "shift", n_classes, SHIFT_MIN, SHIFT_MAX, np.int32),
            _int(d, "logit_zero_point", -128, 127),
            _ints(d, "head_exp_table", 256, 0, 1 << 16, np.int32),
            _ints(d, "net_exp_table", 256, 0, 1 << 16, np.int32),
            _int(d, "mix", 0, 1 << MIX_BITS), float(z_scale), pitch)
    except KeyError as exc:
        raise HeadMetaError(f"head: missing {exc}") from None
    if h.head_exp_table[0] < 1 or h.net_exp_table[0] < 1:
        raise HeadMetaError("head: a softmax table needs exp_table[0] >= 1")
    return h


# ---- the constants in a firmware header (pyreparam export, tools/mcu/head.py) --------

def c_header_lines(h: HeadConstants, name: str, t_max: int) -> list[str]:
    """C lines defining one head for a firmware: its arrays (``name``_head_*), NAME_HEAD
    (a pr_head initializer), NAME_HEAD_NORM (the pr_norm_params of its causal state)
    and the sizes a firmware allocates (features, state bytes, int32 scratch at
    t_max frames)."""
    N, D, n = name.upper(), h.n_features, h.norm
    row = lambda a: "{" + ", ".join(str(int(v)) for v in np.ravel(a)) + "}"
    p = f"{name}_head"
    return [
        "/* The statistics head (reference/stats_head.md, section 5): per utterance",
        " * pr_head_features_s16, pr_norm_apply_s16_s8 (bands = "
        f"{N}_HEAD_FEATURES, frames = 1)",
        " * with the head's own state, pr_head_decide_s8 with the network's int8 logits,",
        " * then pr_norm_update_s16 of the head's state. */",
        f"#define {N}_HEAD_CHANNELS {h.channels}      /* values per frame it reads "
        "(the network: the first _INPUT_COLS) */",
        f"#define {N}_HEAD_FEATURES {D}",
        f"#define {N}_HEAD_CLASSES {h.n_classes}",
        f"#define {N}_HEAD_STATE_BYTES {qcausal.state_bytes(D)}",
        f"#define {N}_HEAD_SCRATCH_LEN {D + 3 * t_max}      /* int32, at T_max frames */",
        f"static const int16_t {p}_dct[{h.dct.size}] = {row(h.dct)};",
        f"static const int8_t {p}_exponent[{D}] = {row(h.exponent)};",
        f"static const int8_t {p}_weight[{h.weight.size}] = {row(h.weight)};",
        f"static const int32_t {p}_bias[{h.n_classes}] = {row(h.bias)};",
        f"static const int32_t {p}_multiplier[{h.n_classes}] = {row(h.multiplier)};",
        f"static const int32_t {p}_shift[{h.n_classes}] = {row(h.shift)};",
        f"static const int32_t {p}_exp_table[256] = {row(h.head_exp_table)};",
        f"static const int32_t {p}_net_exp_table[256] = {row(h.net_exp_table)};",
        f"static const int32_t {p}_prior_mean[{D}] = {row(n.prior_mean)};",
        f"static const int32_t {p}_prior_var[{D}] = {row(n.prior_var)};",
        f"#define {N}_HEAD {{{h.channels}, {h.bands}, {h.dct.shape[0]}, {h.n_classes}, "
        f"{h.logit_zero_point}, {h.mix}, {p}_dct, {p}_exponent, {p}_weight, {p}_bias, "
        f"{p}_multiplier, {p}_shift, {p}_exp_table, {p}_net_exp_table, {int(h.pitch)}}}",
        f"#define {N}_HEAD_NORM {{{D}, {n.prior_weight}, {n.var_floor}, {n.multiplier}, "
        f"{n.shift}, {n.zero_point}}}", ""]


__all__ = ["HeadConstants", "HeadMetaError", "decide", "decision_logits", "exponents",
           "features", "from_meta", "quantize_head", "scale_functionals", "to_meta",
           "zscores", "c_header_lines"]
