"""The integer functionals (pyreparam/quant/qfunctionals.py): exact by their definition,
close to the float functionals of the same frames."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyreparam.audio.functionals import functional_names, n_functionals, utterance_functionals
from pyreparam.quant.qfunctionals import (_change, _mean_std, _percentiles, _slope,
                                          utterance_functionals_q)


def rdiv(num: Fraction) -> int:
    """Round half away from zero, exactly."""
    return int(math.copysign(math.floor(abs(num) + Fraction(1, 2)), num))


def column_oracle(v: list[int]) -> dict[str, int]:
    """The module doc's formulas in exact rational arithmetic."""
    n = len(v)
    mean = rdiv(Fraction(256 * sum(v), n))
    var = max(0, rdiv(Fraction(sum(a * a for a in v), n)) - rdiv(Fraction(mean * mean, 2**16)))
    out = {"mean": mean, "std": math.isqrt(var << 16)}
    s = sorted(v)
    for q in (10, 50, 90):
        i, f = divmod(q * (n - 1), 100)
        hi = s[min(i + 1, n - 1)]
        out[f"p{q}"] = rdiv(Fraction(256 * (100 * s[i] + f * (hi - s[i])), 100))
    u = [2 * t - (n - 1) for t in range(n)]
    out["slope"] = 0 if n < 2 else rdiv(Fraction(512 * sum(a * b for a, b in zip(u, v)),
                                                 sum(a * a for a in u)))
    d = [b - a for a, b in zip(v, v[1:])]
    out["change_abs"] = 0 if n < 2 else rdiv(Fraction(256 * sum(map(abs, d)), len(d)))
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-32768, 32767), min_size=1, max_size=40))
def test_column_statistics_are_exactly_the_documented_integers(values):
    v = np.array(values, dtype=np.int64)[:, None]
    want = column_oracle(values)
    mean, std = _mean_std(v)
    got = {"mean": mean[0], "std": std[0], "slope": _slope(v)[0],
           "change_abs": _change(v)[1][0],
           **{f"p{q}": p[0] for q, p in zip((10, 50, 90), _percentiles(v, (10, 50, 90)))}}
    assert {k: int(a) for k, a in got.items()} == want


def test_close_to_the_float_functionals_of_the_same_frames(rng):
    """Q8 frames with speech 40 dB above the silence (no frame near the speech
    threshold): within 2^-14 of the float functionals except through the rounded
    cepstra (within 0.02)."""
    T, M = 120, 16
    X = np.round(rng.normal(0.0, 2.0, (T, M)) * 256)
    X[:30] -= 10 * 256                                         # leading silence
    X = X.astype(np.int16)
    got = utterance_functionals_q(X) / 2.0**16
    want = utterance_functionals(X / 256.0)
    assert got.shape == want.shape == (n_functionals(M, M),)
    names = functional_names(M, M)
    cepstral = np.array(["cep" in n for n in names])
    np.testing.assert_allclose(got[~cepstral], want[~cepstral], rtol=0, atol=2.0**-14)
    np.testing.assert_allclose(got[cepstral], want[cepstral], rtol=0, atol=0.02)


def test_bad_input():
    with pytest.raises(ValueError, match="int16 frames"):
        utterance_functionals_q(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="int16 frames"):
        utterance_functionals_q(np.zeros((0, 4), dtype=np.int16))
    with pytest.raises(ValueError, match="n_mels"):
        utterance_functionals_q(np.zeros((3, 4), dtype=np.int16), n_mels=5)
    one = utterance_functionals_q(np.full((1, 4), 300, dtype=np.int16))
    assert one.shape == (n_functionals(4, 4),) and np.isfinite(one).all()


# --------------------------------------------------------------------------- C twin

needs_c = pytest.mark.skipif(not __import__("pyreparam.native").native.available(),
                             reason="C extension not built")


@needs_c
@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.integers(1, 12), st.data())
def test_c_kernel_is_bit_exact_for_any_frames_and_table(T, C, data):
    """pr_functionals_s16 == the NumPy reference, bit for bit, on full-range int16
    frames and any int16 basis (adversarial tables included)."""
    from pyreparam.quant.ckernels import functionals_s16
    M = data.draw(st.integers(1, C))
    L = data.draw(st.integers(1, M))
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    X = rng.integers(-32768, 32768, (T, C)).astype(np.int16)
    if data.draw(st.booleans()):                              # quiet frames: a speech part
        X[: T // 2] = np.clip(X[: T // 2] // 4 - 8000, -32768, 32767)
    B = rng.integers(-32768, 32768, (L, M)).astype(np.int16)
    np.testing.assert_array_equal(functionals_s16(X, M, B), utterance_functionals_q(X, M, B))


@needs_c
def test_c_kernel_on_speech_like_frames_and_its_limits(rng):
    from pyreparam.native import NativeError
    from pyreparam.quant.ckernels import functionals_s16
    from pyreparam.quant.qfunctionals import dct_basis_q14
    X = np.round(rng.normal(-2.0, 3.0, (300, 66)) * 256).astype(np.int16)
    X[:80, :64] -= 12 * 256
    B = dct_basis_q14(64)
    np.testing.assert_array_equal(functionals_s16(X, 64, B), utterance_functionals_q(X, 64, B))
    with pytest.raises(NativeError, match="pr_functionals_scratch_len"):
        functionals_s16(np.zeros((2**14 + 1, 4), np.int16), 4, dct_basis_q14(4))
    with pytest.raises(NativeError, match="pr_functionals_s16"):
        functionals_s16(np.zeros((3, 200), np.int16), 65, np.zeros((2, 65), np.int16))


@needs_c
@pytest.mark.parametrize("T", [2, 3, 4096])
def test_c_kernel_at_the_extremes_of_its_range(T):
    """64 bands of -32768 / 32767 and a basis of -32768: the cepstra and their changes
    at their bounds (2^22, 2^23), still bit-exact (tools/sanitize_driver.c runs the
    same extremes under UBSan)."""
    from pyreparam.quant.ckernels import functionals_s16
    X = np.full((T, 64), -32768, dtype=np.int16)
    X[1::2] = 32767
    for B in (np.full((64, 64), -32768, np.int16), np.full((1, 64), 32767, np.int16)):
        np.testing.assert_array_equal(functionals_s16(X, 64, B),
                                      utterance_functionals_q(X, 64, B))


@needs_c
def test_c_kernel_error_statuses():
    """Each NULL pointer, shape out of range and short scratch gets its status."""
    from pyreparam import native
    ffi, lib = native.ffi(), native.lib()
    T, C, M, L = 5, 6, 4, 3
    x, dct = ffi.new("int16_t[]", T * C), ffi.new("int16_t[]", L * M)
    n, k = lib.pr_functionals_count(C, L), lib.pr_functionals_scratch_len(T)
    out, scratch = ffi.new("int32_t[]", n), ffi.new("int32_t[]", k)
    args = [x, T, C, M, dct, L, out, scratch, k]
    assert lib.pr_functionals_s16(*args) == 0 and n == 2 * (6 * C + 12 * L) and k == 3 * T
    for i in (0, 4, 6, 7):
        bad = list(args)
        bad[i] = ffi.NULL
        assert lib.pr_functionals_s16(*bad) == -1, i                       # PR_ERR_NULL
    for i, value in ((1, 0), (1, 2**14 + 1), (2, 0), (2, 1025), (3, 0), (3, C + 1),
                     (5, 0), (5, M + 1)):
        bad = list(args)
        bad[i] = value
        assert lib.pr_functionals_s16(*bad) == -2, (i, value)              # PR_ERR_SHAPE
    assert lib.pr_functionals_s16(*args[:8], k - 1) == -3                  # PR_ERR_SCRATCH
    assert lib.pr_functionals_count(0, 1) == -2 and lib.pr_functionals_count(1, 65) == -2
    assert lib.pr_functionals_scratch_len(0) == -2


# --------------------------------------------------------------------------- prosody block

def _pitched_frames(rng, T, M, C):
    """Q8 frames: speech after a quiet start, log2 F0 at M, voicing around 0.5 at M + 1."""
    X = np.round(rng.normal(0.0, 2.0, (T, C)) * 256)
    X[: T // 4, :M] -= 10 * 256
    X[:, M] = np.round(rng.normal(0.5, 0.3, T) * 256)
    X[:, M + 1] = rng.integers(100, 160, T)                   # both sides of 128
    return X.astype(np.int16)


def test_prosody_block_by_its_definition(rng):
    """The 7 values from the speech frames, voiced ones kept in time order, written out
    with the column oracle; the fallback to all speech frames below 3 voiced."""
    from pyreparam.quant.qfunctionals import prosody_functionals_q, speech_frames_q
    T, M = 50, 6
    X = _pitched_frames(rng, T, M, M + 2)
    S = speech_frames_q(X, M)
    keep = S[:, M + 1] >= 128
    v = [int(a) for a in S[keep, M]]
    want = column_oracle(v)
    d = np.diff(np.array(v, dtype=np.int64))[:, None]
    got = prosody_functionals_q(X, M)
    assert [int(a) for a in got[:5]] == [want[k] for k in ("mean", "std", "p10", "p50",
                                                           "p90")]
    assert int(got[5]) == int(_mean_std(d)[1][0])
    assert int(got[6]) == rdiv(Fraction(int(keep.sum()) << 16, len(S)))
    full = utterance_functionals_q(X, M, pitch=True)
    np.testing.assert_array_equal(full[:-7], utterance_functionals_q(X, M))
    np.testing.assert_array_equal(full[-7:], got)
    X[:, M + 1] = 0
    X[-1, M + 1] = 200                                         # one voiced frame
    low = prosody_functionals_q(X, M)
    assert int(low[0]) == column_oracle([int(a) for a in speech_frames_q(X, M)[:, M]])["mean"]
    assert int(low[6]) == rdiv(Fraction(1 << 16, len(speech_frames_q(X, M))))


def test_prosody_block_close_to_the_float_one(rng):
    """Voicing away from the threshold: the float block of X / 2^8 within 2^-14."""
    T, M = 80, 8
    X = _pitched_frames(rng, T, M, M + 2)
    X[:, M + 1] = np.where(rng.random(T) < 0.6, 200, 40)
    got = utterance_functionals_q(X, M, pitch=True)[-7:] / 2.0**16
    want = utterance_functionals(X / 256.0, M, pitch=True)[-7:]
    np.testing.assert_allclose(got, want, rtol=0, atol=2.0**-14)
    with pytest.raises(ValueError, match="pitch channels"):
        utterance_functionals_q(X[:, :M + 1], M, pitch=True)


@needs_c
@settings(max_examples=60, deadline=None)
@given(st.integers(1, 60), st.integers(1, 10), st.integers(0, 3), st.data())
def test_c_prosody_is_bit_exact_for_any_frames(T, M, extra, data):
    """pr_prosody_s16 == the NumPy reference on full-range int16 frames, voicing at
    random, near the threshold, or nowhere voiced."""
    from pyreparam.quant.ckernels import prosody_s16
    from pyreparam.quant.qfunctionals import prosody_functionals_q
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    X = rng.integers(-32768, 32768, (T, M + 2 + extra)).astype(np.int16)
    mode = data.draw(st.sampled_from(["any", "threshold", "none"]))
    if mode == "threshold":
        X[:, M + 1] = rng.integers(126, 131, T)
    elif mode == "none":
        X[:, M + 1] = 127
    if data.draw(st.booleans()):
        X[: T // 2, :M] = np.clip(X[: T // 2, :M] // 4 - 8000, -32768, 32767)
    want = np.clip(prosody_functionals_q(X, M), -2**31, 2**31 - 1)
    np.testing.assert_array_equal(prosody_s16(X, M), want)


@needs_c
def test_c_prosody_error_statuses():
    from pyreparam import native
    ffi, lib = native.ffi(), native.lib()
    T, M = 5, 4
    C = M + 2
    x = ffi.new("int16_t[]", T * C)
    k = lib.pr_functionals_scratch_len(T)
    out, scratch = ffi.new("int32_t[]", 7), ffi.new("int32_t[]", k)
    args = [x, T, C, M, out, scratch, k]
    assert lib.pr_prosody_s16(*args) == 0
    for i in (0, 4, 5):
        bad = list(args)
        bad[i] = ffi.NULL
        assert lib.pr_prosody_s16(*bad) == -1, i                           # PR_ERR_NULL
    for i, value in ((1, 0), (1, 2**14 + 1), (2, M + 1), (2, 1025), (3, 0), (3, 65)):
        bad = list(args)
        bad[i] = value
        assert lib.pr_prosody_s16(*bad) == -2, (i, value)                  # PR_ERR_SHAPE
    assert lib.pr_prosody_s16(*args[:6], k - 1) == -3                      # PR_ERR_SCRATCH
