"""x86 SIMD variants of the int8 kernels (csrc/x86/) against the portable reference.

One build holds one kernel path, so this module compiles the runtime once per SIMD
level (csrc/build_ffi.py, cached in the git-ignored build/simd-cache/ by native_cache.py),
the reference with PYREPARAM_SIMD=none and every level this machine builds and runs,
and calls the same checked wrappers (pyreparam.quant.ckernels) through each build. Every
result must be bit-identical to the reference build and to the NumPy integer
reference, on hypothesis-drawn shapes (1 up, tails around 16/64 lanes and the 256-deep
chunks) and extreme zero points, multipliers, shifts, biases and clamp ranges; error
statuses must be identical too. Levels this machine cannot run are skipped with the
reason.
"""
import functools
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from pyreparam import native
from pyreparam.quant import qelementwise as qe
from pyreparam.quant import qlinear as ql
from pyreparam.quant import qnorm as qn

from native_cache import build_ffi, cached_build
from quant_helpers import clamp_range, ints, per_channel

ROOT = Path(__file__).resolve().parents[1]

SIMD = [lv for lv in build_ffi.SIMD_LEVELS if lv != "none"]
AVAILABLE = {lv: build_ffi.probe(lv) for lv in SIMD}

pytestmark = pytest.mark.skipif(not native.available(), reason="C extension not built")
if native.available():
    from pyreparam.quant import ckernels


@pytest.fixture(scope="module")
def builds():
    """{level: cffi module} for "none" and every level this machine runs, cached in
    build/simd-cache/ (git-ignored) under a digest of every build input."""
    if not any(AVAILABLE.values()):
        pytest.skip(f"no SIMD level both builds and runs here (probes: {AVAILABLE})")
    levels = ["none"] + [lv for lv in SIMD if AVAILABLE[lv]]
    return {lv: cached_build(lv) for lv in levels}


def level_param():
    return pytest.mark.parametrize("level", [
        pytest.param(lv, marks=pytest.mark.skipif(
            not AVAILABLE[lv], reason=f"{lv}: the compiler or this CPU cannot run it "
                                      f"(build probe failed)"))
        for lv in SIMD])


through = native.using    # the wrappers call the kernels of another build


def assert_bitexact(got, ref, what):
    assert got.dtype == ref.dtype and got.shape == ref.shape, \
        f"{what}: {got.dtype} {got.shape} vs {ref.dtype} {ref.shape}"
    bad = np.argwhere(got != ref)
    if bad.size:
        i = tuple(bad[0])
        raise AssertionError(f"{what}: {len(bad)} mismatches, first at {i}: {got[i]} vs "
                             f"{ref[i]}; first indices {bad[:5].tolist()}")


NUMPY = {"linear_s8": ql.linear_s8, "linear_s8_s16": ql.linear_s8_s16,
         "bmm_nt_s8": ql.bmm_nt_s8, "bmm_nn_s8": ql.bmm_nn_s8, "conv1d_s8": ql.conv1d_s8,
         "depthwise_conv1d_s8": ql.depthwise_conv1d_s8,
         "softmax_s8": qn.softmax_s8, "layernorm_s16_s8": qn.layernorm_s16_s8,
         "add_s16": qe.add_s16, "mul_s8": qe.mul_s8, "lut_s8": qe.lut_s8}


def compare(builds, level, name, numpy_args=None, **kw):
    """SIMD build == reference build == NumPy reference (numpy_args: contiguous copies
    when the kernels get strided views)."""
    with through(builds["none"]):
        ref = getattr(ckernels, name)(**kw)
    with through(builds[level]):
        got = getattr(ckernels, name)(**kw)
    assert_bitexact(got, ref, f"{name} {level} vs reference build")
    assert_bitexact(ref, NUMPY[name](**(numpy_args or kw)),
                    f"{name} reference build vs NumPy")
    return got


# ---- random arguments with their extremes -----------------------------------------------

seeds = st.integers(0, 2**32 - 1)
# 1.., around the 16-lane vectors, the 64-lane panels and 64-byte loads
widths = st.one_of(st.integers(1, 20), st.sampled_from([31, 33, 47, 63, 64, 65, 75, 129]))
# dot-product depths: also across the 256-deep chunks
depths = st.one_of(st.integers(1, 20), st.sampled_from([33, 63, 64, 65, 75, 128, 192, 255,
                                                       256, 257, 300, 520]))
rows_ = st.one_of(st.integers(1, 9), st.sampled_from([63, 64, 65, 70, 75, 133]))


# Q31 multipliers and shifts, a fifth of the channels at the extremes
multipliers = functools.partial(per_channel, p_extreme=0.2)


def shift_range(rng):
    """Mostly the realistic right shifts, sometimes the whole range (left shifts)."""
    return (-31, 30) if rng.random() < 0.3 else (-16, -4)


# ---- the build selection --------------------------------------------------------------

def test_each_build_reports_its_level(builds):
    for level, module in builds.items():
        assert module.ffi.string(module.lib.pr_build_info()).decode() == f"simd={level}"
    info = native.lib().pr_build_info() if hasattr(native.lib(), "pr_build_info") else None
    if info is not None:  # the installed extension: any level
        assert native.ffi().string(info).decode() in {f"simd={lv}"
                                                     for lv in build_ffi.SIMD_LEVELS}


def test_source_selection():
    reference = sorted((ROOT / "csrc").glob("*.c"))
    assert build_ffi.select_sources("none") == reference
    public = {p.stem for p in reference}
    for level in SIMD:
        arch = build_ffi.arch_of(level)
        prefix, levels, _ = build_ffi.ARCHES[arch]
        chosen = build_ffi.select_sources(level)
        variants = [p for p in chosen if p.parent.name != "csrc"]
        ops = [build_ffi._variant_of(p)[0] if p in variants else p.stem for p in chosen]
        # every reference file exactly once, as itself or as one variant
        assert sorted(op for op in ops if not op.startswith(prefix)) == sorted(public)
        # only this architecture's folder, levels up to this one
        assert variants and all(p.parent.name == arch for p in variants)
        assert all(build_ffi._variant_of(p)[1] in levels[:levels.index(level) + 1]
                   for p in variants)
        assert (ROOT / "csrc" / arch / f"pr_build_info_{level}.c") in chosen
    with pytest.raises(ValueError):
        build_ffi.select_sources("sse9")
    with pytest.raises(ValueError):
        build_ffi.resolve_simd("avx1024")
    assert build_ffi.resolve_simd("none") == "none"


def test_probe_fails_closed(monkeypatch):
    assert build_ffi.probe("none")
    monkeypatch.setenv("CC", "false")                  # a compiler that always fails
    assert not any(build_ffi.probe(lv) for lv in SIMD)
    assert build_ffi.resolve_simd("auto") == "none"


# ---- bit-exact: SIMD == reference == NumPy -------------------------------------------

@level_param()
@given(rows_, depths, widths, seeds)
def test_linear(builds, level, T, Cin, Cout, seed):
    rng = np.random.default_rng(seed)
    x = ints(rng, (T, Cin), -128, 127, np.int8)
    w = ints(rng, (Cout, Cin), -127, 127, np.int8)
    bias = ints(rng, (Cout,), -2**31, 2**31 - 1, np.int32, p_extreme=0.3)
    if seed % 3:
        bias //= 2**int(rng.integers(0, 20))             # also biases that never saturate
    m, e = multipliers(rng, Cout, *shift_range(rng))
    if seed % 2:                          # one shift for every channel, as the lowering
        e[:] = e[0]                       # writes them (the one-rounding path if < 0)
    zp = int(rng.integers(-128, 128))
    lo, hi = clamp_range(rng, zp)
    compare(builds, level, "linear_s8", x=x, w=w, bias=None if seed % 5 == 0 else bias,
            multiplier=m, shift=e, out_zero_point=zp, act_min=lo, act_max=hi)
    lo16, hi16 = clamp_range(rng, 0, -32768, 32767)
    compare(builds, level, "linear_s8_s16", x=x, w=w, bias=bias, multiplier=m, shift=e,
            act_min=lo16, act_max=hi16)


@level_param()
def test_product_requantization_ties(builds, level):
    """MBQM's roundings at their ties, for every common right shift r = 1 .. 31 (the
    one-rounding path) and a few others: accumulators acc = x w + bias over every x of
    one depth step, with weights and biases that spread them over all residues, and
    multipliers 2^30 (SRDHM halves: ties at odd acc) next to others; int16 outputs
    keep most results inside the clamp range. Also the attention products (one
    multiplier, zero points) on accumulators small enough not to clamp."""
    rng = np.random.default_rng(5)
    x = np.arange(-128, 128, dtype=np.int8)[:, None]                     # (256, 1)
    w = np.array([1, -1, 2, 3, 5, 64, 127, -127, 1, 7, 1, -3], np.int8)[:, None]
    bias = np.array([0, 1, -1, 2**14, -2**20, 777, 2**26, -2**26, 2**30, 3, -2**31,
                     2**31 - 1], np.int32)
    m = np.array([2**30, 2**30, 2**30 + 1, 3 * 2**29, 2**31 - 1, 2**30, 1234567890,
                  2**30, 2**30, 2**30 + 2**29, 2**30, 2**30], np.int32)
    for r in list(range(-31, 0)) + [0, 1, 5]:
        e = np.full(len(w), r, np.int32)
        compare(builds, level, "linear_s8_s16", x=x, w=w, bias=bias, multiplier=m, shift=e)
        compare(builds, level, "linear_s8", x=x, w=w, bias=bias // 2**14, multiplier=m,
                shift=e, out_zero_point=int(rng.integers(-128, 128)))
    a = ints(rng, (2, 40, 3), -128, 127, np.int8)
    b = ints(rng, (2, 50, 3), -128, 127, np.int8)
    for r in range(1, 18):
        for mult in (2**30, 2**31 - 1, 1518500250):
            kw = dict(a_zero_point=3, b_zero_point=-7, multiplier=mult, shift=-r,
                      out_zero_point=-2)
            compare(builds, level, "bmm_nt_s8", a=a, b=b, **kw)
            compare(builds, level, "bmm_nn_s8", a=a, b=b[:, :3, :].transpose(0, 2, 1).copy(),
                    **kw)


@level_param()
@pytest.mark.parametrize("over", [0, 1])
def test_product_no_saturation_bound(builds, level, over):
    """The AVX2 product adds the bias plainly and rounds in 32 bits when max |bias| +
    max |dot| + 2^(r-1) <= 2^31 - 1 (max |dot| = depth 2^14, or depth 255^2 with zero
    points; pr256_cols_init), else it takes the reference's saturating steps: biases
    at that bound (over = 0) and one past it (over = 1), with the dot products at their
    extremes of both signs, for every r; attention products with the extreme depth."""
    K = 7
    x = np.full((3, K), -128, np.int8)
    x[1, :] = 127
    x[2, ::2] = 0
    w = np.stack([np.full(K, -128), np.full(K, 127), np.full(K, -127), np.arange(K) - 3])
    w = w.astype(np.int8)                                 # (4, K)
    for r in range(1, 32):
        b = 2**31 - 1 - K * 2**14 - 2**(r - 1) + over
        bias = np.array([b, -b, b, -b], np.int64).clip(-2**31, 2**31 - 1).astype(np.int32)
        m = np.array([2**31 - 1, 2**30, 1518500250, 2**31 - 1], np.int32)
        e = np.full(4, -r, np.int32)
        compare(builds, level, "linear_s8_s16", x=x, w=w, bias=bias, multiplier=m, shift=e)
        compare(builds, level, "linear_s8", x=x, w=w, bias=bias, multiplier=m, shift=e,
                out_zero_point=-128)
    depth = 32768                                         # |dot| up to depth 255^2 < 2^31
    a = np.full((1, 2, depth), 127, np.int8)
    a[0, 1, ::3] = -128
    b = np.full((1, 3, depth), -128, np.int8)
    b[0, 2, 1::2] = 127
    for r in (1, 5, 13, 20, 24, 25, 31):
        for mult in (2**30, 2**31 - 1):
            kw = dict(a_zero_point=-128, b_zero_point=127, multiplier=mult, shift=-r,
                      out_zero_point=over)
            compare(builds, level, "bmm_nt_s8", a=a, b=b, **kw)
            compare(builds, level, "bmm_nn_s8", a=a, b=b.transpose(0, 2, 1).copy(), **kw)


@level_param()
@given(st.integers(1, 3), rows_, widths, depths, seeds)
def test_bmm(builds, level, H, M, N, K, seed):
    rng = np.random.default_rng(seed)
    a = ints(rng, (H, M, K), -128, 127, np.int8)
    b_nt = ints(rng, (H, N, K), -128, 127, np.int8)
    b_nn = ints(rng, (H, K, N), -128, 127, np.int8)
    za, zb, zo = (int(z) for z in ints(rng, (3,), -128, 127, np.int32, p_extreme=0.4))
    m, e = multipliers(rng, 1, *shift_range(rng))
    lo, hi = clamp_range(rng, zo)
    kw = dict(a_zero_point=za, b_zero_point=zb, multiplier=int(m[0]), shift=int(e[0]),
              out_zero_point=zo, act_min=lo, act_max=hi)
    compare(builds, level, "bmm_nt_s8", a=a, b=b_nt, **kw)
    compare(builds, level, "bmm_nn_s8", a=a, b=b_nn, **kw)


@level_param()
@given(st.integers(1, 4), st.integers(1, 80), st.sampled_from([1, 2, 3, 5, 8, 16, 17]), seeds)
def test_attention_on_interleaved_heads(builds, level, H, T, D, seed):
    """Q K^T and A V on heads interleaved in (T, C) tensors, through strided views."""
    rng = np.random.default_rng(seed)
    q, k, v = (ints(rng, (T, H * D), -128, 127, np.int8) for _ in range(3))

    def heads(t):
        return t.reshape(T, H, D).transpose(1, 0, 2)                # (H, T, D) view

    kw = dict(a_zero_point=int(rng.integers(-128, 128)), b_zero_point=-7,
              multiplier=1518500250, shift=-7, out_zero_point=-2)
    scores = compare(builds, level, "bmm_nt_s8", a=heads(q), b=heads(k), **kw,
                     numpy_args=dict(a=np.ascontiguousarray(heads(q)),
                                     b=np.ascontiguousarray(heads(k)), **kw))
    kw["a_zero_point"] = -128                                       # softmax output
    compare(builds, level, "bmm_nn_s8", a=scores, b=heads(v), **kw,
            numpy_args=dict(a=scores, b=np.ascontiguousarray(heads(v)), **kw))


@level_param()
@given(st.integers(1, 70), widths, widths, st.integers(1, 5), st.integers(1, 3), seeds)
def test_conv1d(builds, level, T, Cin, Cout, K, stride, seed):
    rng = np.random.default_rng(seed)
    padding = int(rng.integers(0, K))
    if T + 2 * padding < K:
        padding = K - 1
    x = ints(rng, (T, Cin), -128, 127, np.int8)
    w = ints(rng, (Cout, K, Cin), -127, 127, np.int8)
    zp_in = int(ints(rng, (1,), -128, 127, np.int32, p_extreme=0.4)[0])
    bias = ql.fold_zero_point_into_bias(rng.integers(-5000, 5000, Cout), w, zp_in)
    m, e = multipliers(rng, Cout, *shift_range(rng))
    if seed % 2:
        e[:] = e[0]
    zo = int(rng.integers(-128, 128))
    lo, hi = clamp_range(rng, zo)
    compare(builds, level, "conv1d_s8", x=x, w=w, bias=None if seed % 5 == 0 else bias,
            multiplier=m, shift=e, stride=stride, padding=padding, in_zero_point=zp_in,
            out_zero_point=zo, act_min=lo, act_max=hi)


@level_param()
@pytest.mark.parametrize("T, Cin, Cout, K, stride, padding", [
    (7, 64, 64, 3, 2, 1), (300, 64, 64, 3, 2, 1), (20, 200, 17, 5, 2, 4),
    (3, 5, 9, 5, 1, 4), (20, 300, 17, 5, 1, 4), (10, 1500, 20, 3, 1, 2)])
def test_conv1d_edge_frames(builds, level, T, Cin, Cout, K, stride, padding):
    """Frames with padded taps: batched into one product when their windows fit the
    AVX-512 variant's 4 KB buffer, else summed frame by frame (the last two cases)."""
    rng = np.random.default_rng(T * Cin + K)
    x = ints(rng, (T, Cin), -128, 127, np.int8)
    w = ints(rng, (Cout, K, Cin), -127, 127, np.int8)
    zp_in = -7
    bias = ql.fold_zero_point_into_bias(rng.integers(-5000, 5000, Cout), w, zp_in)
    m, _ = multipliers(rng, Cout, -12, -4, p_extreme=0.0)
    for e in (np.full(Cout, -14, np.int32), multipliers(rng, Cout, -16, -8)[1]):
        compare(builds, level, "conv1d_s8", x=x, w=w, bias=bias, multiplier=m, shift=e,
                stride=stride, padding=padding, in_zero_point=zp_in, out_zero_point=3)


@level_param()
@given(st.integers(1, 80), widths, st.sampled_from([1, 3, 5, 15, 31]), seeds)
def test_depthwise_conv1d(builds, level, T, C, K, seed):
    rng = np.random.default_rng(seed)
    x = ints(rng, (T, C), -128, 127, np.int8)
    w = ints(rng, (K, C), -127, 127, np.int8)
    zp_in = int(ints(rng, (1,), -128, 127, np.int32, p_extreme=0.4)[0])
    bias = ql.fold_zero_point_into_bias(rng.integers(-5000, 5000, C), w.T, zp_in)
    if seed % 4 == 0:                                   # saturating biases
        bias = ints(rng, (C,), -2**31, 2**31 - 1, np.int32, p_extreme=0.5)
    m, e = multipliers(rng, C, *shift_range(rng))
    zo = int(rng.integers(-128, 128))
    lo, hi = clamp_range(rng, zo)
    compare(builds, level, "depthwise_conv1d_s8", x=x, w=w,
            bias=None if seed % 5 == 0 else bias, multiplier=m, shift=e,
            in_zero_point=zp_in, out_zero_point=zo, act_min=lo, act_max=hi)


@level_param()
@pytest.mark.parametrize("T, C, K", [(300, 13, 3), (257, 70, 5), (256, 7, 31), (5, 11, 301),
                                     (3, 16, 257), (40, 3, 1)])
def test_depthwise_conv1d_long(builds, level, T, C, K):
    """Long sequences and kernels with channels past a multiple of 8: the AVX2 variant
    copies up to 256 frames and taps of the last channels, and sums longer ones as the
    reference does."""
    rng = np.random.default_rng(T * C + K)
    x = ints(rng, (T, C), -128, 127, np.int8)
    w = ints(rng, (K, C), -127, 127, np.int8)
    bias = ints(rng, (C,), -2**31, 2**31 - 1, np.int32, p_extreme=0.3)
    m, e = multipliers(rng, C, -20, 3)
    compare(builds, level, "depthwise_conv1d_s8", x=x, w=w, bias=bias, multiplier=m,
            shift=e, in_zero_point=-77, out_zero_point=9)


@level_param()
@given(st.integers(1, 3), st.integers(1, 40), st.one_of(widths, st.sampled_from([300, 1000])),
       st.sampled_from([0, 0, 1, 3, 5, 9, 31]), st.floats(1e-3, 0.8), seeds)
def test_softmax(builds, level, H, T, L, window, s_in, seed):
    rng = np.random.default_rng(seed)
    x = ints(rng, (H, T, L), -128, 127, np.int8, p_extreme=0.3)
    mask = None if seed % 3 == 0 else rng.random(L) < (0.8 if seed % 7 else 0.0)
    compare(builds, level, "softmax_s8", x=x, exp_table=qn.build_softmax_exp_table(s_in),
            key_mask=mask, window=window)


def any_exp_table(rng):
    """A table the softmax accepts (entries in [0, 2^16], entry 0 >= 1), of one of the
    kinds its AVX-512 variant treats apart: an exp table; random entries; non-zero
    entries only in the first 1, 2 or 3 quarters of 64; entry 0 below 2^16; 2^16 at
    some d >= 1 (the gather path)."""
    kind = int(rng.integers(6))
    if kind == 0:
        return qn.build_softmax_exp_table(float(rng.uniform(1e-3, 0.8)))
    table = ints(rng, (256,), 0, 2**16, np.int32, p_extreme=0.1)
    table[0] = int(rng.integers(1, 2**16 + 1)) if kind == 3 else 2**16
    if kind == 2:
        table[64 * int(rng.integers(1, 4)) - int(rng.integers(0, 2)):] = 0
    if kind == 4:
        table[rng.integers(1, 256, size=int(rng.integers(1, 4)))] = 2**16
    if kind == 5:                                      # 2^16 - 1 next to 2^16 at d = 0
        table[rng.integers(1, 256, size=3)] = 2**16 - 1
    return table


@level_param()
@given(st.integers(1, 3), st.integers(1, 24),
       st.one_of(widths, st.sampled_from([128, 129, 191, 300, 1000])),
       st.sampled_from([0, 0, 1, 3, 5, 9, 31, 101]), seeds)
def test_softmax_any_table(builds, level, H, T, L, window, seed):
    """Any valid table, short rows (in registers: up to 128 keys) and long ones (in
    groups of rows), windows that meet one or several 64-key chunks, key masks that
    empty some rows."""
    rng = np.random.default_rng(seed)
    x = ints(rng, (H, T, L), -128, 127, np.int8, p_extreme=0.3)
    if seed % 4 == 0:                                  # narrow score ranges
        x = ints(rng, (H, T, L), -3, 3, np.int8, p_extreme=0.1)
    mask = None if seed % 3 == 0 else rng.random(L) < (0.9 if seed % 5 else 0.1)
    compare(builds, level, "softmax_s8", x=x, exp_table=any_exp_table(rng), key_mask=mask,
            window=window)


@level_param()
@pytest.mark.parametrize("cols", [12, 75, 300])
def test_softmax_exact_ties(builds, level, cols):
    """Rows whose quotients (512 e + S) / (2 S) are exact integers (ties of the
    rounding of 256 e / S, where a reciprocal that is short by one fails): one key at
    the maximum with e = table[0] = c (512 - (2 q - 1) n), n keys one below with
    e = table[1] = (2 q - 1) c, so that S = 512 c and key e's quotient is q."""
    rows, tables = [], []
    for c, n, q in ((100, 10, 2), (7, 3, 1), (1, 1, 200), (40, 40, 3), (3, 127, 1),
                    (128, 1, 100), (9, 60, 2), (1, 2, 128)):
        t0, t1 = c * (512 - (2 * q - 1) * n), (2 * q - 1) * c
        if not (1 <= t0 <= 2**16 and t1 <= 2**16 and n < cols):
            continue
        table = np.zeros(256, np.int32)
        table[0], table[1] = t0, t1
        row = np.full(cols, -128, np.int8)
        row[:n + 1] = 50
        row[0] = 51
        rows.append(np.roll(row, n))
        tables.append(table)
    assert len(rows) >= 5
    for row, table in zip(rows, tables):
        mask = np.arange(cols) <= 2 * len(rows)             # keys of value -128 masked
        compare(builds, level, "softmax_s8", x=np.tile(row, (2, 3, 1)), exp_table=table,
                key_mask=mask | (row != -128))


@level_param()
@pytest.mark.parametrize("L", [31, 32, 33, 2015, 2016, 2017, 2700, 4080, 4200])
def test_softmax_row_groups(builds, level, L):
    """Rows of up to 31 keys (scalar in the AVX2 variant), 32 and more (chunks; rows in
    groups of 4, 3, 2 or 1 as their buffers fit), with windows that start and end
    inside a chunk and key masks."""
    rng = np.random.default_rng(L)
    x = ints(rng, (2, 9, L), -128, 127, np.int8, p_extreme=0.3)
    mask = rng.random(L) < 0.7
    for window in (0, 1, 7, 63, 2 * L + 1):
        compare(builds, level, "softmax_s8", x=x, exp_table=qn.build_softmax_exp_table(0.02),
                key_mask=mask if window % 2 else None, window=window)


@level_param()
@pytest.mark.parametrize("window", [0, 5, 8191])
def test_softmax_longest_rows(builds, level, window):
    """8192 keys: equal scores give the largest sum S = 2^29 (divisor 2^30), a single
    winner the largest probability; random rows beside them."""
    rng = np.random.default_rng(window)
    x = ints(rng, (1, 4, 8192), -128, 127, np.int8, p_extreme=0.3)
    x[0, 0] = 7
    x[0, 1] = -128
    x[0, 1, 4000] = 127
    for table in (qn.build_softmax_exp_table(1e-3), qn.build_softmax_exp_table(0.3)):
        compare(builds, level, "softmax_s8", x=x, exp_table=table, window=window)


@level_param()
@given(st.integers(1, 20), st.one_of(widths, st.sampled_from([144, 256, 1000, 4096])), seeds)
def test_layernorm(builds, level, T, C, seed):
    rng = np.random.default_rng(seed)
    kind = seed % 4
    if kind == 0:                                                   # full int16 range
        x = ints(rng, (T, C), -32768, 32767, np.int16, p_extreme=0.3)
    elif kind == 1:                                                 # constant rows
        x = np.repeat(ints(rng, (T, 1), -32768, 32767, np.int16), C, axis=1)
    else:                                                           # realistic stream
        x = np.clip(np.round(rng.standard_normal((T, C)) * 10.0**rng.uniform(0, 4)),
                    -32768, 32767).astype(np.int16)
    p = qn.layernorm_qparams(rng.standard_normal(C) * rng.uniform(0.1, 3),
                             rng.standard_normal(C) * rng.uniform(0, 2),
                             float(rng.choice([0.0, 1e-5, 1e-12])), 10.0**rng.uniform(-5, -1),
                             10.0**rng.uniform(-2.5, -0.5))
    mult, shift, offset, eps = p.multiplier, p.shift, p.offset, p.eps
    if seed % 5 == 0:             # any multiplier but INT32_MIN, any shift, any offset
        mult = ints(rng, (C,), -2**31 + 1, 2**31 - 1, np.int32, p_extreme=0.3)
        shift = ints(rng, (C,), -31, 30, np.int32, p_extreme=0.3)
        offset = ints(rng, (C,), -2**31, 2**31 - 1, np.int32, p_extreme=0.3)
        eps = int(rng.choice([0, 1, 2**60]))
    zo = int(rng.integers(-128, 128))
    lo, hi = clamp_range(rng, zo)
    compare(builds, level, "layernorm_s16_s8", x=x, eps=eps, multiplier=mult, shift=shift,
            offset=offset, out_zero_point=zo, act_min=lo, act_max=hi)


@level_param()
@pytest.mark.parametrize("k", [0, 3, 4, 5, 6])
def test_layernorm_rounding_ties(builds, level, k):
    """z = RDBP(xc inv, 37 - k) exactly at its ties: eps makes V = 2^(60 - 2 k), so
    r = 2^30, inv = 2^31 and z = xc 2^(k - 6); rows with C S2 - S1^2 = 2 and odd or
    twice-odd xc then tie for k = 5, 4. A large multiplier with a left shift makes z's
    last unit visible in the output."""
    rows = np.array([[1, 0, 0], [0, 1, 0], [5, 4, 4], [-7, -6, -6], [0, 0, 1],
                     [100, 101, 101]], np.int16)                   # C S2 - S1^2 = 2
    eps = 2**(60 - 2 * k) - 2
    for shift in (30, 22, 0):
        m = np.full(3, 2**31 - 1, np.int32)
        m[1] = -(2**31 - 1)
        compare(builds, level, "layernorm_s16_s8", x=np.tile(rows, (4, 1)), eps=eps,
                multiplier=m, shift=np.full(3, shift, np.int32),
                offset=np.array([0, 384, -384], np.int32), out_zero_point=-3)


@level_param()
@pytest.mark.parametrize("C", [4096, 4095, 1000])
def test_layernorm_largest_values(builds, level, C):
    """The largest |z| (about sqrt(C - 1) 2^24, near 2^30: a single spike in a row of
    zeros) times the largest multiplier, with offsets at and beyond the bound below
    which the AVX-512 variant adds without saturation (2^30 - 2), and int32's ends."""
    x = np.zeros((6, C), np.int16)
    x[0, 0], x[1, C - 1], x[2, 7], x[3, :] = 32767, -32768, -32768, 1
    x[3, 3] = 32767
    x[4, ::2], x[5, 1::3] = 32767, -32768
    m = np.full(C, 2**31 - 1, np.int32)
    m[1::2] = -(2**31 - 1)
    for off in (2**30 - 2, 2**30 - 1, 2**30 + 2**18, 2**31 - 1, -2**31):
        offset = np.full(C, off, np.int32)
        offset[::3] = -off if off > -2**31 else 2**31 - 1
        for shift in (0, -1):
            compare(builds, level, "layernorm_s16_s8", x=x, eps=0, multiplier=m,
                    shift=np.full(C, shift, np.int32), offset=offset, out_zero_point=5)


@level_param()
@given(st.integers(1, 300), st.booleans(), seeds)
def test_residual_add(builds, level, n, int8_branch, seed):
    """pr_add_s16 / pr_add_s16_s8 (int8 b with a zero point), in place as well."""
    rng = np.random.default_rng(seed)
    a = ints(rng, (n,), -32768, 32767, np.int16, p_extreme=0.3)
    if int8_branch:
        b, zb = ints(rng, (n,), -128, 127, np.int8, 0.3), int(rng.integers(-128, 128))
    else:
        b, zb = ints(rng, (n,), -32768, 32767, np.int16, 0.3), 0
    if seed % 3 == 0:                                   # realistic: TFLite's int16 ADD
        s_a, s_b, s_out = 10.0 ** rng.uniform(-4, -1, size=3)
        q = qe.add_qparams(s_a, s_b, s_out)
        ms = dict(a_multiplier=q.a_multiplier, a_shift=q.a_shift, b_multiplier=q.b_multiplier,
                  b_shift=q.b_shift, out_multiplier=q.out_multiplier, out_shift=q.out_shift)
    else:                                               # anything valid, left shifts too
        m, e = multipliers(rng, 3, *shift_range(rng))
        ms = dict(a_multiplier=int(m[0]), a_shift=int(e[0]), b_multiplier=int(m[1]),
                  b_shift=int(e[1]), out_multiplier=int(m[2]), out_shift=int(e[2]))
    lo, hi = clamp_range(rng, 0, -32768, 32767)
    y = compare(builds, level, "add_s16", a=a, b=b, b_zero_point=zb, act_min=lo, act_max=hi,
                **ms)
    ffi, lib = builds[level].ffi, builds[level].lib     # y may alias a
    p = ffi.new("pr_add_params *", dict(size=n, b_zero_point=zb, act_min=lo, act_max=hi,
                                        **ms))
    inplace = a.copy()
    a_ptr = ffi.cast("int16_t *", ffi.from_buffer(inplace))
    b_ptr = ffi.cast(("int8_t *" if int8_branch else "int16_t *"), ffi.from_buffer(b))
    fn = lib.pr_add_s16_s8 if int8_branch else lib.pr_add_s16
    assert fn(p, a_ptr, b_ptr, a_ptr) == 0
    assert_bitexact(inplace, y, "add_s16 in place")


@level_param()
@given(st.integers(1, 300), seeds)
def test_mul(builds, level, n, seed):
    """pr_mul_s8 (the GLU's a * sigmoid(b)): right shifts (one rounding) and the others,
    zero points and clamp ranges at their ends; in place as well."""
    rng = np.random.default_rng(seed)
    a = ints(rng, (n,), -128, 127, np.int8, p_extreme=0.3)
    b = ints(rng, (n,), -128, 127, np.int8, p_extreme=0.3)
    m, e = multipliers(rng, 1, *shift_range(rng))
    za, zb, zo = (int(z) for z in ints(rng, (3,), -128, 127, np.int32, p_extreme=0.4))
    lo, hi = clamp_range(rng, zo)
    kw = dict(a_zero_point=za, b_zero_point=zb, multiplier=int(m[0]), shift=int(e[0]),
              out_zero_point=zo, act_min=lo, act_max=hi)
    y = compare(builds, level, "mul_s8", a=a, b=b, **kw)
    ffi, lib = builds[level].ffi, builds[level].lib              # y may alias a
    p = ffi.new("pr_mul_params *", dict(size=n, **kw))
    inplace = a.copy()
    ptr = ffi.cast("int8_t *", ffi.from_buffer(inplace))
    assert lib.pr_mul_s8(p, ptr, ffi.cast("int8_t *", ffi.from_buffer(b)), ptr) == 0
    assert_bitexact(inplace, y, "mul_s8 in place")


@level_param()
@given(st.integers(1, 300), seeds)
def test_lut(builds, level, n, seed):
    """pr_lut_s8 on every index (n >= 256 covers all), in place as well."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([np.arange(-128, 128), rng.integers(-128, 128, n)]).astype(np.int8)
    x = x[rng.permutation(len(x))][:n] if seed % 2 else x[:n]
    table = rng.integers(-128, 128, 256).astype(np.int8)
    y = compare(builds, level, "lut_s8", x=x, table=table)
    ffi, lib = builds[level].ffi, builds[level].lib
    inplace = x.copy()
    ptr = ffi.cast("int8_t *", ffi.from_buffer(inplace))
    assert lib.pr_lut_s8(n, ptr, ffi.cast("int8_t *", ffi.from_buffer(table)), ptr) == 0
    assert_bitexact(inplace, y, "lut_s8 in place")


@level_param()
def test_light_model_shapes(builds, level):
    """The light models' shapes (3 s: 300 / 150 / 75 frames, C 64, 4 heads of 16)."""
    rng = np.random.default_rng(7)
    for T, Cin, Cout in ((75, 64, 64), (75, 64, 128), (75, 128, 64), (75, 64, 256),
                         (300, 64, 64)):
        x = ints(rng, (T, Cin), -128, 127, np.int8)
        w = ints(rng, (Cout, Cin), -127, 127, np.int8)
        bias = ints(rng, (Cout,), -30000, 30000, np.int32)
        m, e = multipliers(rng, Cout, -12, -4, p_extreme=0.0)
        for shift in (e, np.full(Cout, -9, np.int32)):      # per channel, per layer
            compare(builds, level, "linear_s8", x=x, w=w, bias=bias, multiplier=m,
                    shift=shift, out_zero_point=5)
            compare(builds, level, "linear_s8_s16", x=x, w=w, bias=bias, multiplier=m,
                    shift=shift)
    for T in (300, 150):                                    # subsampling convolutions
        w = ints(rng, (64, 3, 64), -127, 127, np.int8)
        m, e = multipliers(rng, 64, -12, -4, p_extreme=0.0)
        compare(builds, level, "conv1d_s8", x=ints(rng, (T, 64), -128, 127, np.int8), w=w,
                bias=ints(rng, (64,), -30000, 30000, np.int32), multiplier=m, shift=e,
                stride=2, padding=1, in_zero_point=-3, out_zero_point=-128)
    scores = ints(rng, (4, 75, 75), -128, 127, np.int8)
    compare(builds, level, "softmax_s8", x=scores, exp_table=qn.build_softmax_exp_table(0.06))
    x16 = ints(rng, (75, 64), -4000, 4000, np.int16)
    p = qn.layernorm_qparams(rng.normal(1, 0.3, 64), rng.normal(0, 0.3, 64), 1e-5, 1e-3, 0.03)
    compare(builds, level, "layernorm_s16_s8", x=x16, eps=p.eps, multiplier=p.multiplier,
            shift=p.shift, offset=p.offset, out_zero_point=0)


# ---- error statuses: the same checks in the same order ----------------------------------

def _status_cases():
    """(kernel, base parameters, one corruption per case: field -> value or a NULL)."""
    lin = dict(rows=3, in_features=5, out_features=4, out_zero_point=0, act_min=-128,
               act_max=127)
    bmm = dict(batches=2, rows=3, cols=4, depth=5, a_batch_stride=15, a_row_stride=5,
               b_batch_stride=20, b_row_stride=5, out_batch_stride=12, out_row_stride=4,
               a_zero_point=0, b_zero_point=0, multiplier=2**30, shift=-3,
               out_zero_point=0, act_min=-128, act_max=127)
    conv = dict(in_len=7, in_channels=3, out_channels=2, kernel=3, stride=2, padding=1,
                in_zero_point=-4, out_zero_point=0, act_min=-128, act_max=127)
    soft = dict(batches=2, rows=3, cols=4, window=3)
    dw = dict(in_len=5, channels=3, kernel=3, in_zero_point=0, out_zero_point=0,
              act_min=-128, act_max=127)
    ln = dict(rows=3, channels=4, eps=10, out_zero_point=0, act_min=-128, act_max=127)
    add = dict(size=6, a_multiplier=2**30, a_shift=0, b_multiplier=2**30, b_shift=0,
               b_zero_point=0, out_multiplier=2**30, out_shift=-13, act_min=-32768,
               act_max=32767)
    mul = dict(size=6, a_zero_point=3, b_zero_point=-128, multiplier=2**30, shift=-9,
               out_zero_point=0, act_min=-128, act_max=127)
    return {
        "pr_linear_s8": (lin, [("rows", 0), ("in_features", 40000), ("out_features", -1),
                               ("rows", 2**30), ("out_zero_point", 128), ("act_min", 100),
                               ("act_max", 128), ("mult", -1), ("shift", 31), ("null", 1),
                               ("null", 3)]),
        "pr_linear_s8_s16": (lin, [("out_zero_point", 1), ("act_max", 32768),
                                   ("act_min", -32769), ("shift", -32), ("null", 6)]),
        "pr_bmm_nt_s8": (bmm, [("batches", 0), ("depth", 40000), ("a_row_stride", -1),
                               ("out_batch_stride", 2**31 - 1), ("a_zero_point", -129),
                               ("b_zero_point", 128), ("shift", 31), ("multiplier", -5),
                               ("act_max", -129), ("null", 2)]),
        "pr_bmm_nn_s8": (bmm, [("cols", 0), ("b_row_stride", -2), ("act_min", 50),
                               ("out_zero_point", 200), ("null", 0), ("null", 4),
                               ("scratch_len", 3)]),
        "pr_conv1d_s8": (conv, [("stride", 0), ("padding", 3), ("in_len", 0),
                                ("kernel", 20000), ("in_len", 2**30), ("in_zero_point", 128),
                                ("mult", -7), ("null", 3), ("null", 2)]),
        "pr_depthwise_conv1d_s8": (dw, [("kernel", 4), ("channels", 0), ("in_len", 2**30),
                                        ("shift", 30), ("shift", 31), ("act_min", 128),
                                        ("null", 7), ("scratch_len", 2), ("null", 3),
                                        ("null", 1)]),
        "pr_softmax_s8": (soft, [("cols", 8193), ("window", 2), ("window", -1), ("rows", 0),
                                 ("batches", 2**29), ("table0", 0), ("table0", 65537),
                                 ("null", 3), ("null", 1)]),
        "pr_layernorm_s16_s8": (ln, [("channels", 4097), ("rows", -1), ("rows", 2**30),
                                     ("eps", -1), ("eps", 2**60 + 1), ("mult", -2**31),
                                     ("shift", 31), ("mult", -2**31 + 1), ("null", 5)]),
        "pr_add_s16": (add, [("size", 0), ("b_shift", -32), ("out_multiplier", -1),
                             ("act_min", 32767), ("act_max", -32769), ("b_zero_point", 1),
                             ("null", 3)]),
        "pr_add_s16_s8": (add, [("b_zero_point", 128), ("b_zero_point", -128),
                                ("a_shift", 31), ("null", 2)]),
        "pr_mul_s8": (mul, [("size", 0), ("a_zero_point", 128), ("b_zero_point", -129),
                            ("multiplier", -1), ("shift", -32), ("act_min", 100),
                            ("out_zero_point", 128), ("null", 0), ("null", 3)]),
        "pr_lut_s8": ({}, [("n", 0), ("n", -5), ("null", 1), ("null", 2), ("null", 3)]),
    }


def _status_call(module, name, base, corruption):
    """Call kernel `name` of a build on small buffers with one corruption applied."""
    ffi, lib = module.ffi, module.lib
    field, value = corruption
    kind = {"pr_linear_s8": "pr_linear_params", "pr_linear_s8_s16": "pr_linear_params",
            "pr_bmm_nt_s8": "pr_bmm_params", "pr_bmm_nn_s8": "pr_bmm_params",
            "pr_conv1d_s8": "pr_conv1d_params", "pr_softmax_s8": "pr_softmax_params",
            "pr_layernorm_s16_s8": "pr_layernorm_params", "pr_add_s16": "pr_add_params",
            "pr_add_s16_s8": "pr_add_params", "pr_mul_s8": "pr_mul_params",
            "pr_lut_s8": None, "pr_depthwise_conv1d_s8": "pr_dwconv1d_params"}[name]
    p = ffi.new(kind + " *", {k: v for k, v in base.items()}) if kind else None
    if field in base:
        setattr(p, field, value)
    mult = ffi.new("int32_t[]", [2**30] * 8)
    shift = ffi.new("int32_t[]", [-3] * 8)
    if field == "mult":
        mult[1] = value
    if field == "shift":
        shift[2] = value
    buf = [ffi.new("int8_t[]", 64) for _ in range(3)]
    if name.startswith("pr_linear"):
        y = ffi.new("int16_t[]", 64) if name.endswith("s16") else buf[2]
        args = [p, buf[0], buf[1], ffi.new("int32_t[]", 8), mult, shift, y]
    elif name.startswith("pr_bmm"):
        args = [p, buf[0], buf[1], buf[2]]
        if name == "pr_bmm_nn_s8":
            args += [ffi.new("int32_t[]", 8), value if field == "scratch_len" else 4]
    elif name == "pr_conv1d_s8":
        args = [p, buf[0], buf[1], ffi.new("int32_t[]", 8), mult, shift, buf[2]]
    elif name == "pr_depthwise_conv1d_s8":
        args = [p, buf[0], buf[1], ffi.new("int32_t[]", 8), mult, shift, buf[2],
                ffi.new("int32_t[]", 8), value if field == "scratch_len" else 3]
    elif name.startswith("pr_add"):
        b = buf[1] if name.endswith("s8") else ffi.new("int16_t[]", 64)
        args = [p, ffi.new("int16_t[]", 64), b, ffi.new("int16_t[]", 64)]
    elif name == "pr_mul_s8":
        args = [p, buf[0], buf[1], buf[2]]
    elif name == "pr_lut_s8":
        args = [value if field == "n" else 6, buf[0], buf[1], buf[2]]
    elif name == "pr_softmax_s8":
        table = ffi.new("int32_t[]", [65536] + [100] * 255)
        if field == "table0":
            table[0] = value
        args = [p, buf[0], table, ffi.new("uint8_t[]", [1] * 8), buf[2]]
    else:
        args = [p, ffi.new("int16_t[]", 64), mult, shift, ffi.new("int32_t[]", 8), buf[2]]
    if field == "null":
        args[value] = ffi.NULL
    return getattr(lib, name)(*args)


@level_param()
@pytest.mark.parametrize("name", sorted(_status_cases()))
def test_error_statuses_match_reference(builds, level, name):
    base, corruptions = _status_cases()[name]
    statuses = []
    for corruption in [("none", None)] + corruptions:
        ref = _status_call(builds["none"], name, base, corruption)
        got = _status_call(builds[level], name, base, corruption)
        assert got == ref, f"{name} {level}: {corruption} gives {got}, reference {ref}"
        statuses.append(ref)
    assert statuses[0] == 0 and len(set(statuses)) > 2     # the cases do reach the checks


# ---- a whole int8 model -------------------------------------------------------------------

@level_param()
@pytest.mark.parametrize("backbone", ["convtransformer", "conformer", "speechformer"])
def test_whole_light_model_runs_identically(builds, level, backbone):
    """pr_model_run of a light model gives the same logits in every build (with the
    default budget's attention schedules: blocks of query rows, small shapes)."""
    from pyreparam.models import make_config
    from quant_helpers import quantized, random_int8

    if not hasattr(builds["none"].lib, "pr_model_run"):
        pytest.skip("this runtime has no model runner")
    *_, blob = quantized(make_config(backbone, "light"), 3, 120, 120)
    data = np.frombuffer(bytes(blob), np.uint8).copy()
    logits = {}
    for lv in ("none", level):
        ffi, lib = builds[lv].ffi, builds[lv].lib
        info = ffi.new("pr_model_info *")
        assert lib.pr_model_check(ffi.from_buffer(data), len(data), info) == 0
        arena = np.zeros(info.arena_bytes, np.uint8)
        out = np.zeros(info.output_cols, np.int8)
        logits[lv] = []
        for seed, T in enumerate((1, 2, 37, 64, 120, 120)):
            x = random_int8(np.random.default_rng(seed), T, info.input_cols)
            assert lib.pr_model_run(ffi.from_buffer(data), len(data), ffi.from_buffer(x), T,
                                    ffi.from_buffer(out), ffi.from_buffer(arena),
                                    len(arena)) == 0
            logits[lv].append(out.copy())
    assert_bitexact(np.array(logits[level]), np.array(logits["none"]), f"{backbone} logits")


@pytest.mark.parametrize("backbone", ["convtransformer", "conformer", "speechformer"])
def test_default_row_block_keeps_light_arenas(builds, backbone):
    """The lowering's default row block (lower.DEFAULT_BLOCK, chosen for these kernels)
    keeps the light presets at T_max = 300 within 64 KB, and every build runs them
    bit-exact with the NumPy reference."""
    from pyreparam.models import make_config
    from pyreparam.quant.lower import DEFAULT_BLOCK
    from pyreparam.quant.qmodel import run_program
    from quant_helpers import quantized, random_int8

    if not hasattr(builds["none"].lib, "pr_model_run"):
        pytest.skip("this runtime has no model runner")
    config = make_config(backbone, "light", n_classes=7)
    *_, program, blob = quantized(config, 3, 300, DEFAULT_BLOCK)
    assert program.arena_bytes <= 64 * 1024
    data = np.frombuffer(bytes(blob), np.uint8).copy()
    x = random_int8(np.random.default_rng(1), 300, config.n_mels)
    ref = run_program(program, x)
    for level, module in builds.items():
        ffi, lib = module.ffi, module.lib
        info = ffi.new("pr_model_info *")
        assert lib.pr_model_check(ffi.from_buffer(data), len(data), info) == 0
        arena = np.zeros(info.arena_bytes, np.uint8)
        out = np.zeros(info.output_cols, np.int8)
        assert lib.pr_model_run(ffi.from_buffer(data), len(data), ffi.from_buffer(x), 300,
                                ffi.from_buffer(out), ffi.from_buffer(arena), len(arena)) == 0
        assert_bitexact(out, ref.reshape(out.shape).astype(np.int8), f"{backbone} {level}")


def test_installed_extension_level_is_reported():
    """The installed extension names its path (printed for the record)."""
    if not hasattr(native.lib(), "pr_build_info"):
        pytest.skip("installed extension predates pr_build_info; reinstall to rebuild")
    info = native.ffi().string(native.lib().pr_build_info()).decode()
    print(f"installed pyreparam._native: {info} (PYREPARAM_SIMD="
          f"{os.environ.get('PYREPARAM_SIMD', 'auto')} at build time)")
    assert info.startswith("simd=")
