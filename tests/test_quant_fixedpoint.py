"""Fixed-point primitives: hand-computed corner cases, a big-integer Python reference
on random inputs, and the C core (pr_requantize_s32) bit-exact against NumPy."""
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, strategies as st

from pyreparam import native
from pyreparam.quant import fixedpoint as fp

I32_MIN, I32_MAX = -(2**31), 2**31 - 1
int32s = st.one_of(st.integers(I32_MIN, I32_MAX),
                   st.sampled_from([I32_MIN, I32_MIN + 1, -2**30, -1, 0, 1, 2**30, I32_MAX]))
multipliers = st.one_of(st.integers(2**30, I32_MAX), st.sampled_from([0, 2**30, I32_MAX]))
shifts = st.one_of(st.integers(fp.SHIFT_MIN, fp.SHIFT_MAX), st.sampled_from([-31, 0, 30]))


# ---- the big-integer reference: Python ints, written from the definitions ------------

def srdhm_big(a: int, b: int) -> int:
    """Nearest integer to a b / 2^31, ties toward +inf (= CMSIS-NN's form); MIN*MIN sat."""
    if a == b == I32_MIN:
        return I32_MAX
    return (a * b + 2**30) // 2**31


def round_away_big(q: Fraction) -> int:
    """Nearest integer to q, ties away from zero."""
    mag = (abs(q.numerator) * 2 + q.denominator) // (2 * q.denominator)
    return mag if q >= 0 else -mag


def mbqm_big(x: int, m: int, e: int) -> int:
    left, right = max(e, 0), max(-e, 0)
    xs = min(max(x * 2**left, I32_MIN), I32_MAX)
    return round_away_big(Fraction(srdhm_big(xs, m), 2**right))


# ---- quantize_multiplier -----------------------------------------------------------

@pytest.mark.parametrize("M, expected", [
    (0.0, (0, 0)),
    (0.5, (2**30, 0)),
    (1.0, (2**30, 1)),
    (0.75, (3 * 2**29, 0)),
    (1.0 - 2.0**-33, (2**30, 1)),       # rounds up to 2^31: renormalized
    (0.25 + 2.0**-33, (2**30 + 1, -1)), # q 2^31 = 2^30 + 1/2: tie, away from zero
    (0.25 + 2.0**-34, (2**30, -1)),     # q 2^31 = 2^30 + 1/4: down
    (2.0**-32, (2**30, -31)),           # smallest that survives
    (2.0**-33, (0, 0)),                 # below: every result would be 0
    (2.0**30 * 1.5, (I32_MAX, 30)),     # too large: saturated
])
def test_quantize_multiplier_hand_values(M, expected):
    assert fp.quantize_multiplier(M) == expected


@pytest.mark.parametrize("M", [-1e-3, float("nan"), float("inf")])
def test_quantize_multiplier_rejects(M):
    with pytest.raises(ValueError):
        fp.quantize_multiplier(M)


@given(st.floats(2.0**-31, 2.0**29, allow_nan=False))
def test_quantize_multiplier_is_within_half_an_ulp(M):
    m, e = fp.quantize_multiplier(M)
    assert 2**30 <= m < 2**31 and fp.SHIFT_MIN <= e <= fp.SHIFT_MAX
    # m 2^(e - 31) is M rounded to 31 significant bits: error <= half a unit
    assert abs(Fraction(m) * Fraction(2)**(e - 31) - Fraction(M)) <= Fraction(2)**(e - 32)


# ---- SRDHM ------------------------------------------------------------------------

@pytest.mark.parametrize("a, b, expected", [
    (1, 2**30, 1),                # +0.5 -> 1   (ties toward +inf)
    (-1, 2**30, 0),               # -0.5 -> 0
    (3, 2**30, 2),                # +1.5 -> 2
    (-3, 2**30, -1),              # -1.5 -> -1
    (-5, 2**30, -2),              # -2.5 -> -2
    (5, 2**29, 1),                # +0.625 -> 1
    (-5, 2**29, -1),              # -0.625 -> -1
    (I32_MIN, I32_MIN, I32_MAX),  # the one overflow saturates
    (I32_MIN, I32_MAX, I32_MIN + 1),
    (I32_MAX, I32_MAX, I32_MAX - 1),
    (I32_MIN, 2**30, -2**30),
    (0, I32_MIN, 0),
])
def test_srdhm_hand_values(a, b, expected):
    assert int(fp.srdhm(np.int32(a), np.int32(b))) == expected
    assert srdhm_big(a, b) == expected


@given(st.lists(st.tuples(int32s, int32s), min_size=1, max_size=40))
def test_srdhm_matches_big_integers(pairs):
    a = np.array([p[0] for p in pairs], dtype=np.int32)
    b = np.array([p[1] for p in pairs], dtype=np.int32)
    got = fp.srdhm(a, b)
    assert got.dtype == np.int32
    assert got.tolist() == [srdhm_big(int(x), int(y)) for x, y in pairs]


# ---- RDBP -------------------------------------------------------------------------

@pytest.mark.parametrize("x, n, expected", [
    (1, 1, 1), (-1, 1, -1),               # +-0.5 -> +-1 (ties away from zero)
    (2, 2, 1), (-2, 2, -1),
    (3, 1, 2), (-3, 1, -2),               # +-1.5 -> +-2
    (5, 2, 1), (-5, 2, -1),               # +-1.25 -> +-1
    (7, 2, 2), (-7, 2, -2),               # +-1.75 -> +-2
    (5, 0, 5), (I32_MIN, 0, I32_MIN), (I32_MAX, 0, I32_MAX),
    (I32_MIN, 31, -1), (I32_MAX, 31, 1),
    (2**30, 31, 1), (-2**30, 31, -1), (2**30 - 1, 31, 0), (-2**30 + 1, 31, 0),
])
def test_rdbp_hand_values(x, n, expected):
    assert int(fp.rdbp(np.int32(x), n)) == expected
    assert round_away_big(Fraction(x, 2**n)) == expected


@given(st.lists(st.tuples(int32s, st.integers(0, 31)), min_size=1, max_size=40))
def test_rdbp_matches_big_integers(pairs):
    x = np.array([p[0] for p in pairs], dtype=np.int32)
    n = np.array([p[1] for p in pairs])
    assert fp.rdbp(x, n).tolist() == [round_away_big(Fraction(int(v), 2**int(k)))
                                      for v, k in pairs]


@given(st.lists(st.tuples(st.integers(-2**62, 2**62), st.integers(0, 62)),
                min_size=1, max_size=40))
def test_rdbp_int64_matches_big_integers(pairs):
    x = np.array([p[0] for p in pairs], dtype=np.int64)
    n = np.array([p[1] for p in pairs])
    assert fp.rdbp(x, n).tolist() == [round_away_big(Fraction(v, 2**k)) for v, k in pairs]


# ---- MBQM: NumPy vs big integers vs C --------------------------------------------

@pytest.mark.parametrize("x, m, e, expected", [
    (1, 2**30, -31, 0),                 # 0.5 after SRDHM is 1, then 1 / 2^31 -> 0
    (-3, 2**30, 0, -1),                 # -1.5 -> -1 (SRDHM tie toward +inf)
    (-3, 2**30, -1, -1),                # SRDHM -1, then -0.5 -> -1 (RDBP tie away)
    (-1, 2**30, 1, -1),                 # left shift first: -2 * 0.5 = -1
    (I32_MIN, 2**30, -31, -1),          # -2^30 / 2^31 = -0.5 -> -1
    (I32_MAX, I32_MAX, 30, I32_MAX - 1),  # left shift saturates, then ~ x
    (2**20, 2**30, 30, 2**30),          # saturated 2^31 - 1 times 0.5 = 2^30 - 0.5 -> 2^30
    (-(2**20), 2**30, 30, -(2**30)),    # saturated -2^31 times 0.5, exact
    (12345, 0, 7, 0),                   # M == 0
])
def test_mbqm_hand_values(x, m, e, expected):
    assert int(fp.multiply_by_quantized_multiplier(np.int32(x), m, e)) == expected
    assert mbqm_big(x, m, e) == expected


@given(st.lists(st.tuples(int32s, multipliers, shifts), min_size=1, max_size=60))
def test_mbqm_numpy_matches_big_integers(triples):
    x, m, e = (np.array(col, dtype=np.int32) for col in zip(*triples))
    got = fp.multiply_by_quantized_multiplier(x, m, e)
    assert got.tolist() == [mbqm_big(*t) for t in triples]


@pytest.mark.skipif(not native.available(), reason="C extension not built")
@given(st.lists(st.tuples(int32s, multipliers, shifts), min_size=1, max_size=60))
def test_mbqm_c_matches_numpy(triples):
    from pyreparam.quant import ckernels
    x, m, e = (np.array(col, dtype=np.int32) for col in zip(*triples))
    c = ckernels.requantize_s32(x, m, e)
    ref = fp.multiply_by_quantized_multiplier(x, m, e)
    bad = np.flatnonzero(c != ref)
    assert bad.size == 0, (f"first mismatch at {bad[0]}: x={x[bad[0]]} m={m[bad[0]]} "
                           f"e={e[bad[0]]}: C {c[bad[0]]} vs NumPy {ref[bad[0]]}")


@pytest.mark.skipif(not native.available(), reason="C extension not built")
@pytest.mark.parametrize("m, e", [(-1, 0), (2**30, 31), (2**30, -32)])
def test_c_rejects_bad_multiplier(m, e):
    from pyreparam.quant import ckernels
    with pytest.raises(native.NativeError) as info:
        ckernels.requantize_s32(np.zeros(3, np.int32), np.full(3, m, np.int32),
                            np.full(3, e, np.int32))
    assert info.value.status == -5


@given(st.floats(2.0**-20, 4.0), st.integers(-2**20, 2**20))
def test_mbqm_approximates_the_real_product(M, x):
    """|MBQM(x, M) - x M| <= 1/2 + 1/2 2^-r + |x M| 2^-30 (two roundings, r = -e > 0)."""
    m, e = fp.quantize_multiplier(M)
    got = int(fp.multiply_by_quantized_multiplier(np.int32(x), m, e))
    r = max(-e, 0)
    bound = 0.5 + 0.5 * 2.0**-r + abs(x * M) * 2.0**-30
    assert abs(got - x * M) <= bound


# ---- helpers ------------------------------------------------------------------------

@pytest.mark.parametrize("num, den, expected", [
    (5, 2, 3), (-5, 2, -3), (7, 2, 4), (-7, 2, -4), (4, 3, 1), (5, 3, 2), (-5, 3, -2),
    (-4, 3, -1), (0, 7, 0), (6, 4, 2), (-6, 4, -2),
])
def test_divide_round_half_away(num, den, expected):
    assert int(fp.divide_round_half_away(num, den)) == expected


def test_requantize_clamps_and_adds_zero_point():
    acc = np.array([-2**31, -1000, 0, 1000, 2**31 - 1], dtype=np.int64)
    y = fp.requantize(acc, 2**30, 0, zero_point=-5, act_min=-100, act_max=100)
    assert y.dtype == np.int8
    assert y.tolist() == [-100, -100, -5, 100, 100]          # acc / 2 - 5 clamped


def test_quantize_rounds_half_away_and_saturates():
    q = fp.quantize(np.array([-1000.0, -0.25, -0.75, 0.25, 0.75, 1000.0]), 0.5, 3)
    assert q.tolist() == [-128, 2, 1, 4, 5, 127]
