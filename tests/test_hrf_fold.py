"""The C HRF fold kernel (pr_hrf_fold_f32/_f64) against the NumPy reference fold."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from pyreparam import native
from pyreparam.reparam import fold_hrf_chain

pytestmark = pytest.mark.skipif(not native.available(), reason="C extension not built")

# Block sizes in csrc/pr_hrf_fold_impl.h are 32 rows, 64 inner, 256 columns: draw
# sizes on both sides of them, and size 1.
sizes = st.one_of(st.integers(1, 9), st.sampled_from([31, 32, 33, 63, 64, 65, 70]))
wide = st.one_of(sizes, st.sampled_from([255, 256, 257]))


@st.composite
def chains(draw, dtype, integer=False):
    k = draw(st.integers(1, 3))
    F = draw(sizes)
    dims = [draw(wide)] + [draw(sizes) for _ in range(k)]   # C, r_1 .. r_k
    seed = draw(st.integers(0, 2**32 - 1))
    with_bias = draw(st.lists(st.booleans(), min_size=k + 1, max_size=k + 1))
    rng = np.random.default_rng(seed)

    def arr(*shape):
        if integer:
            return rng.integers(-3, 4, size=shape).astype(dtype)
        return rng.standard_normal(shape).astype(dtype)

    W1p = arr(F, dims[k])
    b1 = arr(F) if with_bias[0] else None
    factors = [(arr(dims[i], dims[i - 1]), arr(dims[i]) if with_bias[i] else None)
               for i in range(1, k + 1)]
    return W1p, b1, factors


def compose(W1p, b1, factors, x):
    """Apply the chain and the linear layer to x (C, n) without folding."""
    h = x
    for H, c in factors:
        h = H @ h + (0 if c is None else c[:, None])
    return W1p @ h + (0 if b1 is None else b1[:, None])


@given(chains(np.float64, integer=True))
def test_float64_integer_valued_is_exact(chain):
    W1p, b1, factors = chain
    W, b = native.hrf_fold(W1p, b1, factors)
    W_ref, b_ref = fold_hrf_chain(W1p, b1, factors)
    np.testing.assert_array_equal(W, W_ref)
    np.testing.assert_array_equal(b, b_ref)
    x = np.eye(W.shape[1])                   # the fold equals the unfolded map exactly
    np.testing.assert_array_equal(W @ x + b[:, None], compose(W1p, b1, factors, x))


@given(chains(np.float64))
def test_float64_matches_reference(chain):
    W1p, b1, factors = chain
    W, b = native.hrf_fold(W1p, b1, factors)
    W_ref, b_ref = fold_hrf_chain(W1p, b1, factors)
    assert W.dtype == b.dtype == np.float64
    assert np.max(np.abs(W - W_ref)) <= 1e-12 * max(1.0, np.max(np.abs(W_ref)))
    assert np.max(np.abs(b - b_ref)) <= 1e-12 * max(1.0, np.max(np.abs(b_ref)))


@given(chains(np.float32))
def test_float32_within_forward_error_bound(chain):
    """float32 tolerance: the standard bound for a product chain,
    |err| <= gamma * (|W1'| |H_k| ... |H_1|) with gamma = 2 (sum of inner widths) u,
    u = 2^-24, checked against the float64 fold of the same float32 numbers."""
    W1p, b1, factors = chain
    W, b = native.hrf_fold(W1p, b1, factors)
    assert W.dtype == b.dtype == np.float32
    up = lambda a: None if a is None else a.astype(np.float64)
    W64, b64 = fold_hrf_chain(up(W1p), up(b1), [(up(H), up(c)) for H, c in factors])
    absW, absb = fold_hrf_chain(np.abs(up(W1p)), None if b1 is None else np.abs(up(b1)),
                                [(np.abs(up(H)), None if c is None else np.abs(up(c)))
                                 for H, c in factors])
    gamma = 2 * (sum(H.shape[0] for H, _ in factors) + 2) * 2.0 ** -24
    assert np.all(np.abs(W - W64) <= gamma * absW + 1e-30)
    assert np.all(np.abs(b - b64) <= gamma * absb + 1e-30)


def test_single_factor_without_biases(rng):
    W1p = rng.standard_normal((4, 6))
    H = rng.standard_normal((6, 3))
    W, b = native.hrf_fold(W1p, None, [(H, None)])
    np.testing.assert_allclose(W, W1p @ H, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(b, np.zeros(4))


@pytest.mark.parametrize("make, error", [
    (lambda r: (r((4, 6)), None, [(r((5, 3)), None)]), ValueError),          # r_1 != in(W1')
    (lambda r: (r((4, 6)), None, [(r((6, 3)), None), (r((6, 5)), None)]), ValueError),
    (lambda r: (r((4, 6)), r((5,)), [(r((6, 3)), None)]), ValueError),       # bias length
    (lambda r: (r((4, 6)), None, [(r((6, 3)), r((3,)))]), ValueError),       # c_1 length
    (lambda r: (r((4, 6)), None, []), ValueError),                           # no factor
    (lambda r: (r((4, 6)), None, [(r((6, 3)).astype(np.float32), None)]), TypeError),
    (lambda r: (r((4, 6)).astype(np.int64), None, [(r((6, 3)), None)]), TypeError),
    (lambda r: (r((4, 12))[:, ::2], None, [(r((6, 3)), None)]), ValueError),  # strided
    (lambda r: (r((4, 6)), None, [(r((6,)), None)]), ValueError),            # 1-D factor
    (lambda r: (r((4, 6)), None, [(r((6, 3)), None)] * 9), ValueError),      # k > max
    (lambda r: (r((0, 6)), None, [(r((6, 3)), None)]), native.NativeError),  # F == 0
    (lambda r: (r((4, 6)), None, [(r((6, 0)), None)]), native.NativeError),  # C == 0
])
def test_bad_arguments_raise_clear_errors(rng, make, error):
    W1p, b1, factors = make(lambda shape: rng.standard_normal(shape))
    with pytest.raises(error):
        native.hrf_fold(W1p, b1, factors)


def test_c_status_codes():
    """The raw kernel rejects what the wrapper would never pass: it must not crash."""
    ffi, lib = native.handle()
    dims = ffi.new("int32_t[]", [3, 4, 5])
    w1p = ffi.new("double[]", 2 * 5)
    H1, H2 = ffi.new("double[]", 12), ffi.new("double[]", 20)
    Hs = ffi.new("const double *[]", [H1, H2])
    out, b = ffi.new("double[]", 6), ffi.new("double[]", 2)
    need = lib.pr_hrf_fold_scratch_len(2, 2, dims)
    assert need == 2 * 2 * 4
    scratch = ffi.new("double[]", need)
    call = lambda **kw: lib.pr_hrf_fold_f64(
        kw.get("F", 2), kw.get("k", 2), kw.get("dims", dims), kw.get("w1p", w1p), ffi.NULL,
        kw.get("H", Hs), ffi.NULL, kw.get("out", out), b, kw.get("scratch", scratch),
        kw.get("len", need))
    assert call() == lib.PR_OK
    assert call(len=need - 1) == lib.PR_ERR_SCRATCH
    assert call(scratch=ffi.NULL) == lib.PR_ERR_SCRATCH
    assert call(w1p=ffi.NULL) == lib.PR_ERR_NULL
    assert call(H=ffi.NULL) == lib.PR_ERR_NULL
    assert call(out=ffi.NULL) == lib.PR_ERR_NULL
    assert call(dims=ffi.NULL) == lib.PR_ERR_NULL
    assert call(k=0) == lib.PR_ERR_SHAPE
    assert call(k=lib.PR_HRF_MAX_FACTORS + 1) == lib.PR_ERR_SHAPE
    assert call(F=-1) == lib.PR_ERR_SHAPE
    huge = ffi.new("int32_t[]", [2**31 - 1, 2**31 - 1, 5])
    assert call(dims=huge) == lib.PR_ERR_OVERFLOW
    assert lib.pr_hrf_fold_scratch_len(2, 0, dims) == lib.PR_ERR_SHAPE
