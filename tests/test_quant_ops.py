"""int8 primitives: C kernels bit-exact against the NumPy integer reference, error
paths of every kernel, and real-valued sanity against the float ops (stated bounds)."""
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from pyreparam import native
from pyreparam.quant import fixedpoint as fp
from pyreparam.quant import qelementwise as qe
from pyreparam.quant import qlinear as ql
from pyreparam.quant import qnorm as qn

from quant_helpers import clamp_range, ints, per_channel

pytestmark = pytest.mark.skipif(not native.available(), reason="C extension not built")
if native.available():
    _ffi, _lib = native.handle()
    from pyreparam.quant import ckernels

PR_OK, PR_ERR_NULL, PR_ERR_SHAPE, PR_ERR_SCRATCH, PR_ERR_OVERFLOW, PR_ERR_PARAM = \
    0, -1, -2, -3, -4, -5

# sizes 1, small, and around the multiples of 4/8/16 a vectorizer cares about
sizes = st.one_of(st.integers(1, 9), st.sampled_from([15, 16, 17, 31, 33]))
seeds = st.integers(0, 2**32 - 1)


def assert_bitexact(c, ref, what):
    assert c.dtype == ref.dtype, f"{what}: dtype {c.dtype} vs {ref.dtype}"
    assert c.shape == ref.shape, f"{what}: shape {c.shape} vs {ref.shape}"
    bad = np.argwhere(c != ref)
    if bad.size:
        i = tuple(bad[0])
        raise AssertionError(f"{what}: {len(bad)} mismatches, first at {i}: "
                             f"C {c[i]} vs NumPy {ref[i]}; first indices {bad[:5].tolist()}")


def both(name, **kw):
    """Run the C wrapper and the NumPy reference on the same arguments."""
    ref_fn = {"linear_s8": ql.linear_s8, "linear_s8_s16": ql.linear_s8_s16,
              "bmm_nt_s8": ql.bmm_nt_s8, "bmm_nn_s8": ql.bmm_nn_s8,
              "conv1d_s8": ql.conv1d_s8, "depthwise_conv1d_s8": ql.depthwise_conv1d_s8,
              "softmax_s8": qn.softmax_s8, "layernorm_s16_s8": qn.layernorm_s16_s8,
              "lut_s8": qe.lut_s8, "add_s16": qe.add_s16, "mul_s8": qe.mul_s8,
              "requantize_s16_s8": qe.requantize_s16_s8, "avgpool": qe.avgpool}[name]
    c = getattr(ckernels, name)(**kw)
    ref = ref_fn(**kw)
    assert_bitexact(c, ref, name)
    return c


# ==== bit-exact: C == NumPy ==========================================================

@given(sizes, sizes, sizes, seeds)
def test_linear_bitexact(T, Cin, Cout, seed):
    rng = np.random.default_rng(seed)
    x = ints(rng, (T, Cin), -128, 127, np.int8)
    w = ints(rng, (Cout, Cin), -127, 127, np.int8)
    bias = ints(rng, (Cout,), -2**31, 2**31 - 1, np.int32, p_extreme=0.3)
    bias[rng.random(Cout) < 0.5] //= 2**16
    m, e = per_channel(rng, Cout, -16, -4)
    zp = int(rng.integers(-128, 128))
    lo, hi = clamp_range(rng, zp)
    both("linear_s8", x=x, w=w, bias=None if seed % 5 == 0 else bias, multiplier=m,
         shift=e, out_zero_point=zp, act_min=lo, act_max=hi)
    lo16, hi16 = clamp_range(rng, 0, -32768, 32767)
    both("linear_s8_s16", x=x, w=w, bias=bias, multiplier=m, shift=e, act_min=lo16,
         act_max=hi16)


@given(st.integers(1, 4), sizes, sizes, sizes, seeds)
def test_bmm_bitexact(H, M, N, K, seed):
    rng = np.random.default_rng(seed)
    a = ints(rng, (H, M, K), -128, 127, np.int8)
    b_nt = ints(rng, (H, N, K), -128, 127, np.int8)
    b_nn = ints(rng, (H, K, N), -128, 127, np.int8)
    za, zb, zo = (int(z) for z in rng.integers(-128, 128, size=3))
    m, e = per_channel(rng, 1, -16, -4, p_extreme=0.2)
    lo, hi = clamp_range(rng, zo)
    kw = dict(a_zero_point=za, b_zero_point=zb, multiplier=int(m[0]), shift=int(e[0]),
              out_zero_point=zo, act_min=lo, act_max=hi)
    both("bmm_nt_s8", a=a, b=b_nt, **kw)
    both("bmm_nn_s8", a=a, b=b_nn, **kw)


@given(st.integers(1, 4), sizes, st.integers(1, 6), seeds)
def test_bmm_on_interleaved_heads(H, T, D, seed):
    """Q K^T and A V on heads interleaved in (T, C) tensors, through strided views."""
    rng = np.random.default_rng(seed)
    C = H * D
    q, k, v = (ints(rng, (T, C), -128, 127, np.int8) for _ in range(3))

    def heads(t):
        return t.reshape(T, H, D).transpose(1, 0, 2)                # (H, T, D) view

    kw = dict(a_zero_point=3, b_zero_point=-7, multiplier=1518500250, shift=-7,
              out_zero_point=-2)
    scores = ckernels.bmm_nt_s8(heads(q), heads(k), **kw)               # (H, T, T)
    ref = ql.bmm_nt_s8(np.ascontiguousarray(heads(q)), np.ascontiguousarray(heads(k)), **kw)
    assert_bitexact(scores, ref, "bmm_nt_s8 strided")
    out = np.zeros((T, C), dtype=np.int8)
    kw["a_zero_point"] = -128                                       # softmax output
    ckernels.bmm_nn_s8(scores, heads(v), out=heads(out), **kw)
    ref = ql.bmm_nn_s8(scores, np.ascontiguousarray(heads(v)), **kw)  # (H, T, D)
    assert_bitexact(out, ref.transpose(1, 0, 2).reshape(T, C), "bmm_nn_s8 strided")


@given(sizes, sizes, sizes, st.integers(1, 5), st.integers(1, 3), seeds)
def test_conv1d_bitexact(T, Cin, Cout, K, stride, seed):
    rng = np.random.default_rng(seed)
    padding = int(rng.integers(0, K))
    if T + 2 * padding < K:
        padding = K - 1                                             # T + K - 2 >= K - 1
    x = ints(rng, (T, Cin), -128, 127, np.int8)
    w = ints(rng, (Cout, K, Cin), -127, 127, np.int8)
    zp_in = int(rng.integers(-128, 128))
    bias = ql.fold_zero_point_into_bias(rng.integers(-5000, 5000, Cout), w, zp_in)
    m, e = per_channel(rng, Cout, -16, -4)
    zo = int(rng.integers(-128, 128))
    lo, hi = clamp_range(rng, zo)
    both("conv1d_s8", x=x, w=w, bias=bias, multiplier=m, shift=e, stride=stride,
         padding=padding, in_zero_point=zp_in, out_zero_point=zo, act_min=lo, act_max=hi)


@given(sizes, sizes, st.sampled_from([1, 3, 5, 15]), seeds)
def test_depthwise_conv1d_bitexact(T, C, K, seed):
    rng = np.random.default_rng(seed)
    x = ints(rng, (T, C), -128, 127, np.int8)
    w = ints(rng, (K, C), -127, 127, np.int8)
    zp_in = int(rng.integers(-128, 128))
    bias = ql.fold_zero_point_into_bias(rng.integers(-5000, 5000, C), w.T, zp_in)
    m, e = per_channel(rng, C, -12, -2)
    zo = int(rng.integers(-128, 128))
    lo, hi = clamp_range(rng, zo)
    both("depthwise_conv1d_s8", x=x, w=w, bias=bias, multiplier=m, shift=e,
         in_zero_point=zp_in, out_zero_point=zo, act_min=lo, act_max=hi)


@given(st.integers(1, 3), sizes, sizes, st.sampled_from([0, 0, 1, 3, 5, 9]),
       st.floats(1e-3, 0.5), seeds)
def test_softmax_bitexact(H, T, L, window, s_in, seed):
    rng = np.random.default_rng(seed)
    x = ints(rng, (H, T, L), -128, 127, np.int8, p_extreme=0.3)
    mask = rng.random(L) < 0.8 if seed % 3 else None
    table = qn.build_softmax_exp_table(s_in)
    y = both("softmax_s8", x=x, exp_table=table, key_mask=mask, window=window)
    allowed = np.broadcast_to(qn.softmax_allowed(T, L, mask, window), y.shape)
    assert np.all(y[~allowed] == -128)                              # excluded: p = 0


@given(sizes, st.one_of(sizes, st.sampled_from([64, 144, 256])), seeds)
def test_layernorm_bitexact(T, C, seed):
    rng = np.random.default_rng(seed)
    kind = seed % 4
    if kind == 0:                                                   # full int16 range
        x = ints(rng, (T, C), -32768, 32767, np.int16, p_extreme=0.3)
    elif kind == 1:                                                 # constant rows
        x = np.repeat(ints(rng, (T, 1), -32768, 32767, np.int16), C, axis=1)
    else:                                                           # realistic stream
        x = np.clip(np.round(rng.standard_normal((T, C)) * 10.0**rng.uniform(0, 4)),
                    -32768, 32767).astype(np.int16)
    gamma = rng.standard_normal(C) * rng.uniform(0.1, 3)
    beta = rng.standard_normal(C) * rng.uniform(0, 2)
    s_x = 10.0**rng.uniform(-5, -1)
    s_out = 10.0**rng.uniform(-2.5, -0.5)
    eps = float(rng.choice([0.0, 1e-5, 1e-12]))
    p = qn.layernorm_qparams(gamma, beta, eps, s_x, s_out)
    zo = int(rng.integers(-128, 128))
    lo, hi = clamp_range(rng, zo)
    both("layernorm_s16_s8", x=x, eps=p.eps, multiplier=p.multiplier, shift=p.shift,
         offset=p.offset, out_zero_point=zo, act_min=lo, act_max=hi)


@given(st.integers(1, 9), st.integers(1, 9), st.booleans(), seeds)
def test_layernorm_extreme_parameters_bitexact(T, C, wild_eps, seed):
    """Raw parameters at their limits: multipliers +-(2^31 - 1), shifts -31/30, eps 2^60."""
    rng = np.random.default_rng(seed)
    x = ints(rng, (T, C), -32768, 32767, np.int16, p_extreme=0.5)
    m, e = per_channel(rng, C, -31, 30, p_extreme=0.5)
    m = np.where(rng.random(C) < 0.5, -m, m).astype(np.int32)
    offset = ints(rng, (C,), -2**31, 2**31 - 1, np.int32, p_extreme=0.5)
    eps = int(rng.choice([0, 1, 2**60])) if wild_eps else 0
    both("layernorm_s16_s8", x=x, eps=eps, multiplier=m, shift=e, offset=offset,
         out_zero_point=int(rng.integers(-128, 128)))


@given(st.lists(sizes, min_size=1, max_size=3), seeds)
def test_lut_bitexact(shape, seed):
    rng = np.random.default_rng(seed)
    x = ints(rng, tuple(shape), -128, 127, np.int8)
    table = rng.integers(-128, 128, size=256).astype(np.int8)
    both("lut_s8", x=x, table=table)


@given(sizes, sizes, st.booleans(), seeds)
def test_add_bitexact(T, C, int8_branch, seed):
    rng = np.random.default_rng(seed)
    a = ints(rng, (T, C), -32768, 32767, np.int16)
    if int8_branch:
        b = ints(rng, (T, C), -128, 127, np.int8)
        zb = int(rng.integers(-128, 128))
    else:
        b = ints(rng, (T, C), -32768, 32767, np.int16)
        zb = 0
    if seed % 4 == 0:                                               # raw, extreme params
        m, e = per_channel(rng, 3, -31, 30, p_extreme=0.5)
        p = qe.AddQParams(int(m[0]), int(e[0]), int(m[1]), int(e[1]), int(m[2]), int(e[2]))
    else:
        s_a, s_b, s_out = 10.0**rng.uniform(-4, -1, size=3)
        p = qe.add_qparams(s_a, s_b, s_out)
    lo, hi = clamp_range(rng, 0, -32768, 32767)
    both("add_s16", a=a, b=b, b_zero_point=zb, **p._asdict(), act_min=lo, act_max=hi)


@given(sizes, sizes, seeds)
def test_requantize_s16_s8_bitexact(T, C, seed):
    rng = np.random.default_rng(seed)
    x = ints(rng, (T, C), -32768, 32767, np.int16)
    m, e = per_channel(rng, 1, -20, 2, p_extreme=0.3)
    zo = int(rng.integers(-128, 128))
    lo, hi = clamp_range(rng, zo)
    both("requantize_s16_s8", x=x, in_zero_point=int(rng.integers(-32768, 32768)),
         multiplier=int(m[0]), shift=int(e[0]), out_zero_point=zo, act_min=lo, act_max=hi)


@given(sizes, sizes, seeds)
def test_mul_bitexact(T, C, seed):
    rng = np.random.default_rng(seed)
    a, b = (ints(rng, (T, C), -128, 127, np.int8) for _ in range(2))
    za, zb, zo = (int(z) for z in rng.integers(-128, 128, size=3))
    m, e = per_channel(rng, 1, -16, 0, p_extreme=0.3)
    lo, hi = clamp_range(rng, zo)
    both("mul_s8", a=a, b=b, a_zero_point=za, b_zero_point=zb, multiplier=int(m[0]),
         shift=int(e[0]), out_zero_point=zo, act_min=lo, act_max=hi)


@given(sizes, sizes, st.one_of(st.integers(1, 6), st.sampled_from([40, 10**4])),
       st.booleans(), seeds)
def test_avgpool_bitexact(T, C, group, int16, seed):
    rng = np.random.default_rng(seed)
    lo, hi, dtype = (-32768, 32767, np.int16) if int16 else (-128, 127, np.int8)
    x = ints(rng, (T, C), lo, hi, dtype, p_extreme=0.4)
    both("avgpool", x=x, group=group, zero_point=int(rng.integers(lo, hi + 1)))


# ==== hand-checked corner cases ======================================================

def test_softmax_corner_cases():
    table = qn.build_softmax_exp_table(0.1)
    x = np.array([[[5, 5, 5, 5],          # uniform: 64 each -> q = -64
                   [127, -128, -128, -128],  # one winner: p = 1 saturates to 255/256
                   [0, 0, 0, 0]]], dtype=np.int8)
    mask = np.array([True, True, True, True])
    y = ckernels.softmax_s8(x, table, mask)
    assert y[0, 0].tolist() == [-64] * 4
    assert y[0, 1].tolist() == [127, -128, -128, -128]
    none = ckernels.softmax_s8(x, table, np.zeros(4, dtype=bool))      # no valid key
    assert np.all(none == -128)
    win = ckernels.softmax_s8(np.zeros((1, 4, 4), np.int8), table, None, window=3)
    assert win[0, 0].tolist() == [0, 0, -128, -128]                # keys 0, 1: 1/2 each
    assert win[0, 1].tolist() == [-43, -43, -43, -128]             # round(256/3) = 85


def test_layernorm_constant_rows_give_beta():
    C = 8
    gamma, beta = np.full(C, 2.0), np.linspace(-1, 1, C)
    p = qn.layernorm_qparams(gamma, beta, 1e-5, s_x=1e-3, s_out=1 / 64)
    for value in (-32768, 0, 1234, 32767):
        x = np.full((2, C), value, dtype=np.int16)
        y = both("layernorm_s16_s8", x=x, eps=p.eps, multiplier=p.multiplier,
                 shift=p.shift, offset=p.offset, out_zero_point=3)
        assert y.tolist() == [(fp.round_half_away(beta * 64) + 3).astype(int).tolist()] * 2


def test_avgpool_rounds_half_away_from_zero():
    x = np.array([[1], [2], [-1], [-2], [3], [-3], [5]], dtype=np.int8)
    y = ckernels.avgpool(x, group=2)            # means 1.5, -1.5, 0, 5
    assert y[:, 0].tolist() == [2, -2, 0, 5]
    y = ckernels.avgpool(x, group=2, zero_point=-1)   # (x + 1) means 2.5, -0.5, 1, 6
    assert y[:, 0].tolist() == [2, -2, 0, 5]
    assert qe.masked_mean_pool(x, np.arange(7) < 2).tolist() == [2]


# ==== real-valued sanity: dequantized output vs the float op ===========================

def _rmax(M):
    """Largest right shift of the multipliers' encodings (for the double-rounding bound)."""
    return min(max(-e, 0) for _, e in (fp.quantize_multiplier(v) for v in np.ravel(M)))


def test_linear_and_conv_close_to_float(rng):
    """|deq(y) - y_float| <= (0.5 + 0.5 2^-r) s_out + 1e-6 where y_float is unclamped."""
    T, Cin, Cout, K = 12, 24, 10, 3
    s_in, zp_in, s_out, zp_out = 0.05, -7, 0.15, 5
    x = rng.integers(-128, 128, (T, Cin)).astype(np.int8)
    for w_shape in [(Cout, Cin), (Cout, K, Cin)]:
        w_f = rng.standard_normal(w_shape) * 0.2
        s_w = np.abs(w_f).reshape(Cout, -1).max(axis=1) / 127
        w = fp.quantize(w_f, s_w.reshape((-1,) + (1,) * (len(w_shape) - 1)), 0)
        b_f = rng.standard_normal(Cout)
        b = fp.quantize(b_f, s_in * s_w, 0, np.int32)
        m, e = fp.quantize_multipliers(s_in * s_w / s_out)
        bias = ql.fold_zero_point_into_bias(b, w, zp_in)
        w_deq = fp.dequantize(w, s_w.reshape((-1,) + (1,) * (len(w_shape) - 1)))
        x_deq = fp.dequantize(x, s_in, zp_in)
        if len(w_shape) == 2:
            y = ckernels.linear_s8(x, w, bias, m, e, zp_out)
            y_f = x_deq @ w_deq.T + fp.dequantize(b, s_in * s_w)
        else:
            y = ckernels.conv1d_s8(x, w, bias, m, e, 2, 1, zp_in, zp_out)
            xp = np.pad(x_deq, ((1, 1), (0, 0)))                    # real zeros
            win = np.stack([xp[2 * t:2 * t + K] for t in range(y.shape[0])])
            y_f = np.einsum("tki,cki->tc", win, w_deq) + fp.dequantize(b, s_in * s_w)
        inside = np.abs(y_f / s_out + zp_out) < 127
        err = np.abs(fp.dequantize(y, s_out, zp_out) - y_f)[inside]
        bound = (0.5 + 0.5 * 2.0**-_rmax(s_in * s_w / s_out)) * s_out + 1e-6
        assert inside.mean() > 0.9 and err.max() <= bound, (err.max(), bound)


def test_depthwise_and_int16_outputs_close_to_float(rng):
    """Depthwise conv (padding = real zeros), linear -> int16 and int16 -> int8:
    |err| <= (0.5 + 0.5 2^-r) s_out + 1e-6, as for the linear layer."""
    T, C, K = 30, 12, 15
    s_in, zp_in, s_out, zp_out = 0.04, 9, 0.05, -3
    x = rng.integers(-128, 128, (T, C)).astype(np.int8)
    x_deq = fp.dequantize(x, s_in, zp_in)
    w_f = rng.standard_normal((K, C)) * 0.1
    s_w = np.abs(w_f).max(axis=0) / 127
    w = fp.quantize(w_f, s_w, 0)
    b = fp.quantize(rng.standard_normal(C) * 0.3, s_in * s_w, 0, np.int32)
    M = s_in * s_w / s_out
    m, e = fp.quantize_multipliers(M)
    y = ckernels.depthwise_conv1d_s8(x, w, ql.fold_zero_point_into_bias(b, w.T, zp_in), m, e,
                                 zp_in, zp_out)
    xp = np.pad(x_deq, ((K // 2, K // 2), (0, 0)))                  # real zeros
    y_f = sum(xp[k:k + T] * fp.dequantize(w[k], s_w) for k in range(K))
    y_f = y_f + fp.dequantize(b, s_in * s_w)
    inside = np.abs(y_f / s_out + zp_out) < 127
    bound = (0.5 + 0.5 * 2.0**-_rmax(M)) * s_out + 1e-6
    err = np.abs(fp.dequantize(y, s_out, zp_out) - y_f)[inside]
    assert inside.mean() > 0.9 and err.max() <= bound

    w2 = fp.quantize(rng.standard_normal((7, C)) * 0.2, 0.2 / 127, 0)   # per tensor
    s16 = 2e-4
    M2 = np.full(7, s_in * (0.2 / 127) / s16)
    m2, e2 = fp.quantize_multipliers(M2)
    y16 = ckernels.linear_s8_s16(x, w2, ql.fold_zero_point_into_bias(None, w2, zp_in), m2, e2)
    y_f = x_deq @ fp.dequantize(w2, 0.2 / 127).T
    bound = (0.5 + 0.5 * 2.0**-_rmax(M2)) * s16 + 1e-9
    assert np.all(np.abs(fp.dequantize(y16, s16) - y_f) <= bound)

    s8 = 0.01
    m3, e3 = fp.quantize_multiplier(s16 / s8)
    y8 = ckernels.requantize_s16_s8(y16, 0, m3, e3, 4)
    inside = np.abs(y_f / s8 + 4) < 127
    err = np.abs(fp.dequantize(y8, s8, 4) - fp.dequantize(y16, s16))[inside]
    assert err.max() <= (0.5 + 0.5 * 2.0**-_rmax(s16 / s8)) * s8 + 1e-9


def test_attention_close_to_float(rng):
    """Q K^T -> softmax -> A V on interleaved heads against float attention on the
    dequantized Q, K, V. Scores: |err| <= (0.5 + 2^-(r+1)) s_score. Output: |err| <=
    sum_j |p_int_j - p_j| |v_j| + (0.5 + 2^-(r+1)) s_out (the A V product of the int8
    probabilities is exact before its one requantization)."""
    T, H, D = 25, 2, 8
    C = H * D
    s_q, zp_q, s_v, zp_v = 0.05, -6, 0.03, 11
    q, k, v = (rng.integers(-128, 128, (T, C)).astype(np.int8) for _ in range(3))

    def heads(t):
        return t.reshape(T, H, D).transpose(1, 0, 2)                # (H, T, D) view

    s_score = 0.3
    M = s_q * s_q / np.sqrt(D) / s_score
    m, e = fp.quantize_multiplier(M)
    scores = ckernels.bmm_nt_s8(heads(q), heads(k), zp_q, zp_q, m, e, 0)    # (H, T, T)
    Qf, Kf = fp.dequantize(heads(q), s_q, zp_q), fp.dequantize(heads(k), s_q, zp_q)
    sf = Qf @ Kf.transpose(0, 2, 1) / np.sqrt(D)                    # (H, T, T)
    inside = np.abs(sf / s_score) < 127
    err = np.abs(fp.dequantize(scores, s_score) - sf)[inside]
    assert inside.mean() > 0.9 and err.max() <= (0.5 + 0.5 * 2.0**-max(-e, 0)) * s_score
    probs = ckernels.softmax_s8(scores, qn.build_softmax_exp_table(s_score))
    s_out = 0.03
    m, e = fp.quantize_multiplier((1 / 256) * s_v / s_out)
    out = np.zeros((T, C), np.int8)
    ckernels.bmm_nn_s8(probs, heads(v), -128, zp_v, m, e, 0, out=heads(out))
    A = fp.dequantize(scores, s_score)
    A = np.exp(A - A.max(axis=-1, keepdims=True))
    A /= A.sum(axis=-1, keepdims=True)                              # (H, T, T)
    Vf = fp.dequantize(heads(v), s_v, zp_v)                         # (H, T, D)
    o_f = (A @ Vf).transpose(1, 0, 2).reshape(T, C)
    dA = np.abs((probs.astype(np.float64) + 128) / 256 - A)
    bound = (dA @ np.abs(Vf)).transpose(1, 0, 2).reshape(T, C)
    bound += (0.5 + 0.5 * 2.0**-max(-e, 0)) * s_out + 1e-9
    inside = np.abs(o_f / s_out) < 127
    err = np.abs(fp.dequantize(out, s_out) - o_f)
    assert inside.mean() > 0.9 and np.all(err[inside] <= bound[inside])


def test_softmax_close_to_float(rng):
    """|p_int - p| <= 1/512 + (L + 1) 2^-17, or 1/256 + (L + 1) 2^-17 when p > 255.5/256."""
    H, T, L = 2, 20, 37
    s_in = 0.06
    x = rng.integers(-128, 128, (H, T, L)).astype(np.int8)
    x[0, 0] = -128
    x[0, 0, 3] = 127                                                # a saturated row
    mask = np.arange(L) < 30
    y = ckernels.softmax_s8(x, qn.build_softmax_exp_table(s_in), mask, window=9)
    allowed = qn.softmax_allowed(T, L, mask, 9)
    z = np.where(allowed, s_in * x.astype(np.float64), -np.inf)
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    p_int = (y.astype(np.float64) + 128) / 256
    bound = np.where(p > 255.5 / 256, 1 / 256, 1 / 512) + (L + 1) * 2.0**-17
    assert np.all(np.abs(p_int - p) <= bound)


def test_layernorm_close_to_float(rng):
    """Realistic residual stream (heavy-tailed, one outlier channel, a constant row):
    |deq(y) - LN(deq(x))| <= 0.52 s_out wherever LN(x) is inside the int8 range."""
    T, C = 40, 64
    s_x, s_out, eps = 2e-3, 1 / 32, 1e-5
    xr = rng.standard_t(4, size=(T, C)) * rng.uniform(0.05, 4, size=(T, 1))
    xr[:, 5] *= 8                                                   # outlier channel
    x = fp.quantize(xr, s_x, 0, np.int16)
    x[3] = 77                                                       # constant row
    gamma = 1 + 0.3 * rng.standard_normal(C)
    gamma[0] = -0.7                                                 # negative gamma
    beta = 0.2 * rng.standard_normal(C)
    p = qn.layernorm_qparams(gamma, beta, eps, s_x, s_out)
    y = ckernels.layernorm_s16_s8(x, p.eps, p.multiplier, p.shift, p.offset, -3)
    xd = fp.dequantize(x, s_x)
    mu = xd.mean(axis=1, keepdims=True)
    var = xd.var(axis=1, keepdims=True)
    y_f = (xd - mu) / np.sqrt(var + eps) * gamma + beta
    inside = np.abs(y_f / s_out - 3) < 127
    err = np.abs(fp.dequantize(y, s_out, -3) - y_f)[inside]
    assert inside.mean() > 0.95 and err.max() <= 0.52 * s_out, err.max() / s_out


def test_lut_add_mul_pool_close_to_float(rng):
    """Table ops <= 0.5 s_out; add <= 0.51 s_out; mul <= 0.75 s_out; pooling <= 0.5 s."""
    x = np.arange(-128, 128, dtype=np.int8)
    s_in, zp_in, s_out, zp_out = 0.05, 10, 0.03, -20
    for fn in (lambda v: v / (1 + np.exp(-v)), lambda v: 1 / (1 + np.exp(-v))):
        table = qe.build_lut(fn, s_in, zp_in, s_out, zp_out)
        y = ckernels.lut_s8(x, table)
        y_f = fn(fp.dequantize(x, s_in, zp_in))
        inside = np.abs(y_f / s_out + zp_out) < 127
        err = np.abs(fp.dequantize(y, s_out, zp_out) - y_f)[inside]
        assert np.all(err <= 0.5 * s_out + 1e-9)

    a = rng.integers(-20000, 20000, 500).astype(np.int16)
    b = rng.integers(-128, 128, 500).astype(np.int8)
    s_a, s_b, zb, s_o = 1e-3, 0.07, 4, 1.2e-3
    y = ckernels.add_s16(a, b, zb, **qe.add_qparams(s_a, s_b, s_o)._asdict())
    y_f = fp.dequantize(a, s_a) + fp.dequantize(b, s_b, zb)
    inside = np.abs(y_f / s_o) < 32767
    assert np.all(np.abs(fp.dequantize(y, s_o) - y_f)[inside] <= 0.51 * s_o)

    a8 = rng.integers(-128, 128, 500).astype(np.int8)
    s_m = 0.05 * (1 / 256) / 0.01
    m, e = fp.quantize_multiplier(0.05 * (1 / 256) / s_m)
    y = ckernels.mul_s8(a8, b, 10, -128, m, e, 0)
    y_f = fp.dequantize(a8, 0.05, 10) * fp.dequantize(b, 1 / 256, -128)
    inside = np.abs(y_f / s_m) < 127
    assert np.all(np.abs(fp.dequantize(y, s_m) - y_f)[inside] <= 0.75 * s_m)

    xp = rng.integers(-128, 128, (23, 6)).astype(np.int8)
    y = ckernels.avgpool(xp, 5, zero_point=-9)
    groups = [fp.dequantize(xp[u:u + 5], 0.1, -9).mean(axis=0) for u in range(0, 23, 5)]
    assert np.all(np.abs(fp.dequantize(y, 0.1, -9) - np.stack(groups)) <= 0.05 + 1e-12)


# ==== error paths: every kernel returns the right status and never crashes =============

def _buf(ctype, n, fill=0):
    return _ffi.new(f"{ctype}[]", [fill] * n)


def _mult(n):
    return _buf("int32_t", n, 2**30), _buf("int32_t", n, -8)


def _set(field, value):
    """A case that sets params->field (args[0] is the params struct)."""
    def mutate(args):
        setattr(args[0], field, value)
    return mutate


def _elem(i, value, k=0):
    """A case that sets element k of argument i."""
    def mutate(args):
        args[i][k] = value
    return mutate


def _null(i):
    def mutate(args):
        args[i] = _ffi.NULL
    return mutate


def _linear_spec(name, lo, hi):
    p = _ffi.new("pr_linear_params *", dict(rows=3, in_features=5, out_features=4,
                                            out_zero_point=0, act_min=lo, act_max=hi))
    out_t = "int8_t" if lo == -128 else "int16_t"
    args = [p, _buf("int8_t", 15), _buf("int8_t", 20), _buf("int32_t", 4), *_mult(4),
            _buf(out_t, 12)]
    cases = [(_set("rows", 0), PR_ERR_SHAPE), (_set("in_features", 0), PR_ERR_SHAPE),
             (_set("in_features", 32769), PR_ERR_SHAPE),
             (_set("out_features", -3), PR_ERR_SHAPE),
             (_set("rows", 2**30), PR_ERR_OVERFLOW),
             (_set("out_zero_point", 1 if lo < -128 else 128), PR_ERR_PARAM),
             (_set("act_min", -129), PR_ERR_PARAM) if lo == -128 else
             (_set("act_max", 40000), PR_ERR_PARAM),
             (_elem(4, -1, 3), PR_ERR_PARAM), (_elem(5, 31, 2), PR_ERR_PARAM),
             (_elem(5, -32), PR_ERR_PARAM), (_null(3), PR_OK)]        # bias is optional
    return name, args, [0, 1, 2, 4, 5, 6], cases


def _bmm_spec(name):
    p = _ffi.new("pr_bmm_params *", dict(
        batches=2, rows=3, cols=4, depth=5, a_batch_stride=15, a_row_stride=5,
        b_batch_stride=20, b_row_stride=5 if name == "pr_bmm_nt_s8" else 4,
        out_batch_stride=12, out_row_stride=4, a_zero_point=-128, b_zero_point=3,
        multiplier=2**30, shift=-8, out_zero_point=0, act_min=-128, act_max=127))
    args = [p, _buf("int8_t", 30), _buf("int8_t", 40), _buf("int8_t", 24)]
    cases = [(_set("batches", 0), PR_ERR_SHAPE), (_set("depth", 40000), PR_ERR_SHAPE),
             (_set("a_row_stride", -1), PR_ERR_SHAPE),
             (_set("out_batch_stride", 2**31 - 1), PR_ERR_OVERFLOW),
             (_set("a_zero_point", -129), PR_ERR_PARAM),
             (_set("b_zero_point", 128), PR_ERR_PARAM), (_set("shift", 31), PR_ERR_PARAM),
             (_set("multiplier", -5), PR_ERR_PARAM), (_set("act_max", -129), PR_ERR_PARAM)]
    if name == "pr_bmm_nn_s8":
        args += [_buf("int32_t", 4), 4]
        cases += [(_null(4), PR_ERR_SCRATCH), (lambda a: a.__setitem__(5, 3), PR_ERR_SCRATCH)]
    return name, args, [0, 1, 2, 3], cases


def _softmax_spec():
    p = _ffi.new("pr_softmax_params *", dict(batches=2, rows=3, cols=4, window=3))
    table = _ffi.new("int32_t[]", qn.build_softmax_exp_table(0.1).tolist())
    args = [p, _buf("int8_t", 24), table, _buf("uint8_t", 4, 1), _buf("int8_t", 24)]
    cases = [(_set("cols", 8193), PR_ERR_SHAPE), (_set("window", 2), PR_ERR_SHAPE),
             (_set("window", -1), PR_ERR_SHAPE), (_set("rows", 0), PR_ERR_SHAPE),
             (_set("batches", 2**29), PR_ERR_OVERFLOW),
             (_elem(2, 0), PR_ERR_PARAM), (_elem(2, 65537, 9), PR_ERR_PARAM),
             (_elem(2, -1, 255), PR_ERR_PARAM), (_null(3), PR_OK)]   # mask optional
    return "pr_softmax_s8", args, [0, 1, 2, 4], cases


def _layernorm_spec():
    p = _ffi.new("pr_layernorm_params *", dict(rows=3, channels=4, eps=10,
                                               out_zero_point=0, act_min=-128, act_max=127))
    args = [p, _buf("int16_t", 12), *_mult(4), _buf("int32_t", 4), _buf("int8_t", 12)]
    cases = [(_set("channels", 4097), PR_ERR_SHAPE), (_set("rows", -1), PR_ERR_SHAPE),
             (_set("rows", 2**30), PR_ERR_OVERFLOW), (_set("eps", -1), PR_ERR_PARAM),
             (_set("eps", 2**60 + 1), PR_ERR_PARAM), (_elem(2, -2**31), PR_ERR_PARAM),
             (_elem(3, 31, 1), PR_ERR_PARAM), (_elem(2, -2**31 + 1), PR_OK)]
    return "pr_layernorm_s16_s8", args, [0, 1, 2, 3, 4, 5], cases


def _elementwise_specs():
    specs = [("pr_lut_s8", [6, _buf("int8_t", 6), _buf("int8_t", 256), _buf("int8_t", 6)],
              [1, 2, 3], [(lambda a: a.__setitem__(0, 0), PR_ERR_SHAPE)])]
    for name, b_t in (("pr_add_s16", "int16_t"), ("pr_add_s16_s8", "int8_t")):
        p = _ffi.new("pr_add_params *", dict(
            size=6, a_multiplier=2**30, a_shift=0, b_multiplier=2**30, b_shift=0,
            b_zero_point=0, out_multiplier=2**30, out_shift=-13, act_min=-32768,
            act_max=32767))
        specs.append((name, [p, _buf("int16_t", 6), _buf(b_t, 6), _buf("int16_t", 6)],
                      [0, 1, 2, 3],
                      [(_set("size", 0), PR_ERR_SHAPE), (_set("b_shift", -32), PR_ERR_PARAM),
                       (_set("out_multiplier", -1), PR_ERR_PARAM),
                       (_set("act_min", 32767), PR_OK),
                       (_set("act_max", -32769), PR_ERR_PARAM),
                       (_set("b_zero_point", 1 if b_t == "int16_t" else 128), PR_ERR_PARAM)]))
    p = _ffi.new("pr_requant_params *", dict(size=6, in_zero_point=0, multiplier=2**30,
                                             shift=-8, out_zero_point=0, act_min=-128,
                                             act_max=127))
    specs.append(("pr_requantize_s16_s8", [p, _buf("int16_t", 6), _buf("int8_t", 6)],
                  [0, 1, 2], [(_set("size", -1), PR_ERR_SHAPE),
                              (_set("in_zero_point", 40000), PR_ERR_PARAM),
                              (_set("out_zero_point", -200), PR_ERR_PARAM)]))
    p = _ffi.new("pr_mul_params *", dict(size=6, a_zero_point=0, b_zero_point=0,
                                         multiplier=2**30, shift=-8, out_zero_point=0,
                                         act_min=-128, act_max=127))
    specs.append(("pr_mul_s8", [p, _buf("int8_t", 6), _buf("int8_t", 6), _buf("int8_t", 6)],
                  [0, 1, 2, 3], [(_set("size", 0), PR_ERR_SHAPE),
                                 (_set("a_zero_point", 300), PR_ERR_PARAM),
                                 (lambda a: (setattr(a[0], "act_min", 10),
                                             setattr(a[0], "act_max", 9)), PR_ERR_PARAM),
                                 (_set("shift", 99), PR_ERR_PARAM)]))
    return specs


def _conv_specs():
    p = _ffi.new("pr_conv1d_params *", dict(
        in_len=7, in_channels=3, out_channels=2, kernel=3, stride=2, padding=1,
        in_zero_point=-4, out_zero_point=0, act_min=-128, act_max=127))
    conv = ("pr_conv1d_s8", [p, _buf("int8_t", 21), _buf("int8_t", 18), _buf("int32_t", 2),
                             *_mult(2), _buf("int8_t", 8)], [0, 1, 2, 4, 5, 6],
            [(_set("stride", 0), PR_ERR_SHAPE), (_set("padding", 3), PR_ERR_SHAPE),
             (_set("in_len", 0), PR_ERR_SHAPE), (_set("kernel", 20000), PR_ERR_SHAPE),
             (_set("in_len", 2**30), PR_ERR_OVERFLOW),
             (_set("in_zero_point", 128), PR_ERR_PARAM), (_elem(4, -7, 1), PR_ERR_PARAM),
             (_null(3), PR_OK)])
    p = _ffi.new("pr_dwconv1d_params *", dict(in_len=5, channels=3, kernel=3,
                                              in_zero_point=0, out_zero_point=0,
                                              act_min=-128, act_max=127))
    dw = ("pr_depthwise_conv1d_s8",
          [p, _buf("int8_t", 15), _buf("int8_t", 9), _buf("int32_t", 3), *_mult(3),
           _buf("int8_t", 15), _buf("int32_t", 3), 3], [0, 1, 2, 4, 5, 6],
          [(_set("kernel", 4), PR_ERR_SHAPE), (_set("channels", 0), PR_ERR_SHAPE),
           (_set("in_len", 2**30), PR_ERR_OVERFLOW), (_elem(5, 30, 2), PR_OK),
           (_elem(5, 31, 2), PR_ERR_PARAM), (_set("act_min", 128), PR_ERR_PARAM),
           (_null(7), PR_ERR_SCRATCH), (lambda a: a.__setitem__(8, 2), PR_ERR_SCRATCH),
           (_null(3), PR_OK)])
    return [conv, dw]


def _pool_specs():
    specs = []
    for name, t, zp_bad in (("pr_avgpool_s8", "int8_t", 128), ("pr_avgpool_s16", "int16_t",
                                                                 32768)):
        p = _ffi.new("pr_avgpool_params *", dict(in_len=7, channels=3, group=2, zero_point=0))
        specs.append((name, [p, _buf(t, 21), _buf(t, 12), _buf("int32_t", 3), 3], [0, 1, 2],
                      [(_set("group", 0), PR_ERR_SHAPE), (_set("group", 32769), PR_ERR_SHAPE),
                       (_set("in_len", 2**30), PR_ERR_OVERFLOW),
                       (_set("zero_point", zp_bad), PR_ERR_PARAM),
                       (_null(3), PR_ERR_SCRATCH),
                       (lambda a: a.__setitem__(4, 2), PR_ERR_SCRATCH)]))
    return specs


def _all_specs():
    specs = [_linear_spec("pr_linear_s8", -128, 127),
             _linear_spec("pr_linear_s8_s16", -32768, 32767),
             _bmm_spec("pr_bmm_nt_s8"), _bmm_spec("pr_bmm_nn_s8"), _softmax_spec(),
             _layernorm_spec()]
    specs += _elementwise_specs() + _conv_specs() + _pool_specs()
    rq = ("pr_requantize_s32", [3, _buf("int32_t", 3), *_mult(3), _buf("int32_t", 3)],
          [1, 2, 3, 4], [(lambda a: a.__setitem__(0, 0), PR_ERR_SHAPE)])
    return specs + [rq]


SPEC_NAMES = ["pr_linear_s8", "pr_linear_s8_s16", "pr_bmm_nt_s8", "pr_bmm_nn_s8",
              "pr_softmax_s8", "pr_layernorm_s16_s8", "pr_lut_s8", "pr_add_s16",
              "pr_add_s16_s8", "pr_requantize_s16_s8", "pr_mul_s8", "pr_conv1d_s8",
              "pr_depthwise_conv1d_s8", "pr_avgpool_s8", "pr_avgpool_s16",
              "pr_requantize_s32"]


def _spec(name):
    return next(s for s in _all_specs() if s[0] == name)


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_error_statuses(name):
    """Valid arguments give PR_OK; each NULL pointer, bad shape, overflowing size, bad
    parameter and short scratch gives its own status, checked one at a time."""
    _, args, required, cases = _spec(name)
    fn = getattr(_lib, name)
    assert fn(*args) == PR_OK
    for i in required:
        _, args, _, _ = _spec(name)
        _null(i)(args)
        assert fn(*args) == PR_ERR_NULL, f"{name}: NULL argument {i}"
    for k, (mutate, expected) in enumerate(cases):
        _, args, _, _ = _spec(name)
        mutate(args)
        assert fn(*args) == expected, f"{name}: case {k} expected {expected}"


def test_every_public_int8_kernel_has_error_tests():
    header = (Path(__file__).resolve().parents[1] / "csrc" / "pyreparam.h").read_text()
    # the HRF fold (tests/test_hrf_fold.py), the model runner (tests/test_quant_prq.py),
    # the causal normalization (tests/test_causal_norm.py) and the log-mel front end
    # (tests/test_frontend_int.py), the stream (tests/test_stream.py), the pitch
    # track (tests/test_pitch_int.py), the head's functionals
    # (tests/test_qfunctionals.py) and the head (tests/test_qhead.py) have error tests
    # of their own (the in-place normalization: tests/test_causal_norm.py)
    others = {"pr_hrf_fold_f64", "pr_hrf_fold_f32", "pr_model_check", "pr_model_run",
              "pr_norm_state_init", "pr_norm_state_check", "pr_norm_update_s16",
              "pr_norm_apply_s16_s8", "pr_norm_apply_inplace_s16_s8", "pr_logmel_frame_s16",
              "pr_norm_update_sums",
              "pr_logmel_push_s16", "pr_stream_init", "pr_stream_push_s16",
              "pr_stream_finish", "pr_pitch_decimate_s16", "pr_pitch_frame_s32",
              "pr_pitch_fill_s16", "pr_functionals_s16", "pr_prosody_s16",
              "pr_head_features_s16",
              "pr_head_decide_s8"}
    declared = set(re.findall(r"pr_status (pr_\w+)\(", header)) - others
    assert declared == set(SPEC_NAMES)


def test_wrapper_raises_native_error_with_status():
    x = np.zeros((2, 3), np.int8)
    w = np.zeros((4, 3), np.int8)
    m, e = np.full(4, 2**30, np.int32), np.full(4, 31, np.int32)
    with pytest.raises(native.NativeError) as info:
        ckernels.linear_s8(x, w, None, m, e, 0)
    assert info.value.status == PR_ERR_PARAM
    with pytest.raises(TypeError):
        ckernels.linear_s8(x.astype(np.int16), w, None, m, e, 0)


# ---- LayerNorm's inverse square root (csrc/pr_layernorm_internal.h) --------------------

_INV_SQRT_DRIVER = r"""
#include <stdio.h>
#include "pr_layernorm_internal.h"
int main(void)
{
    long long v;
    while (scanf("%lld", &v) == 1) {
        int32_t k;
        const long long inv = (long long)pr_ln_inv_sqrt((int64_t)v, &k);
        printf("%lld %d\n", inv, (int)k);
    }
    return 0;
}
"""


def ln_inv_sqrt_reference(V: int) -> tuple[int, int]:
    """(inv, k) of reference/int8.md from the definitions: Python's math.isqrt and
    integer division (the kernel's old bit-by-bit root and 64-bit division)."""
    import math
    k = 0
    while V * 4**k < 2**60:
        k += 1
    r = math.isqrt(V * 4**k)
    return (2**61 + r // 2) // r, k


@pytest.fixture(scope="module")
def inv_sqrt_driver(tmp_path_factory):
    """pr_ln_inv_sqrt compiled into a small stdin -> stdout program (the host compiler
    of csrc/build_ffi.py, -Werror); skipped without a compiler."""
    import subprocess

    from native_cache import build_ffi

    root = Path(__file__).resolve().parents[1]
    tmp = tmp_path_factory.mktemp("inv_sqrt")
    src, exe = tmp / "driver.c", tmp / "driver"
    src.write_text(_INV_SQRT_DRIVER)
    try:
        subprocess.run([*build_ffi._compiler(), "-std=c99", "-O2", "-Wall", "-Wextra",
                        "-Werror", "-I", str(root / "csrc"), str(src), "-o", str(exe)],
                       check=True, capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as err:
        pytest.skip(f"no C compiler for the driver: {err}")

    def run(values):
        out = subprocess.run([str(exe)], input="\n".join(map(str, values)), text=True,
                             capture_output=True, check=True, timeout=60).stdout.split()
        return [(int(out[2 * i]), int(out[2 * i + 1])) for i in range(len(values))]
    return run


def _check_inv_sqrt(run, values):
    got = run(values)
    bad = [(V, g, ln_inv_sqrt_reference(V)) for V, g in zip(values, got)
           if g != ln_inv_sqrt_reference(V)]
    assert not bad, f"{len(bad)} of {len(values)} wrong, first (V, C, exact): {bad[:3]}"


def test_ln_inv_sqrt_at_its_boundaries(inv_sqrt_driver):
    """Every normalization shift k (V around each power of two), the square root's
    steps (V = r^2 - 1, r^2, r^2 + r around the largest and smallest roots and on
    random ones at every scale), the ends of the estimate's 48 table intervals
    (N = i 2^56 +- 1) and the extremes V = 1, 2^61 - 1."""
    rng = np.random.default_rng(0)
    values = {1, 2, 3, 2**61 - 1, 2**61 - 2}
    for b in range(61):
        values.update(v for v in (2**b - 1, 2**b, 2**b + 1) if 1 <= v < 2**61)
    roots = [1, 2, 3, 2**15, 2**30 - 1, 2**30, 2**30 + 1, 3037000499]   # isqrt(2^63)
    roots += [int(2.0 ** rng.uniform(0, 30.5)) for _ in range(400)]
    for r in roots:
        values.update(v for v in (r * r - 1, r * r, r * r + r, r * r + 2 * r)
                      if 1 <= v < 2**61)
    for i in range(16, 65):
        for d in (-1, 0, 1):
            values.update(v for v in (i * 2**56 + d, (i * 2**56 + d) // 4, i * 2**54 + d)
                          if 1 <= v < 2**61)
    _check_inv_sqrt(inv_sqrt_driver, sorted(values))


@given(st.lists(st.one_of(st.integers(1, 2**61 - 1), st.integers(1, 2**20),
                          st.integers(2**59, 2**61 - 1)), min_size=1, max_size=200))
def test_ln_inv_sqrt_random(inv_sqrt_driver, values):
    _check_inv_sqrt(inv_sqrt_driver, values)


def test_every_status_code_has_its_text_in_c():
    """pr_status_str knows every PR_ERR_* code of the header (the texts live in C only);
    native.status_text shows them."""
    header = (Path(__file__).resolve().parents[1] / "csrc" / "pyreparam.h").read_text()
    codes = {name: int(value) for name, value in
             re.findall(r"(PR_ERR_\w+) = (-\d+)", header)}
    assert len(codes) >= 17 and codes["PR_ERR_STATE"] == -21
    for name, value in codes.items():
        text = native.status_text(value)
        assert text != "unknown status" and len(text) > 10, name
    assert native.status_text(0) == "ok" and native.status_text(-99) == "unknown status"
    assert "CRC" in native.status_text(codes["PR_ERR_MODEL_CRC"])
