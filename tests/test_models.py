"""The three backbones: HRF merge exactness, whole-model gradients, masking, costs."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from gradcheck import check_gradients
from pyreparam.models import (
    BACKBONES, HRF_SITES, HRFConfig, build_model, count_macs, make_config)
from pyreparam.models import layers as L
from pyreparam.reparam import (
    MergeError, fold_hrf_chain, fold_model_params, hrf_chains, merge, verify_merge)

# Tiny architectures; the hypothesis strategy varies them further.
TINY = {
    "convtransformer": dict(width=8, layers=2, heads=2, ffn=12, n_mels=5),
    "conformer": dict(width=8, layers=1, heads=2, ffn=12, n_mels=5, conv_kernel=5),
    "speechformer": dict(width=8, layers=(1, 1, 1, 1), heads=2, ffn=4, n_mels=6,
                         windows=(3, 5, 3, 0), merges=(2, 3, 2)),
}


def valid_sites(backbone):
    return [s for s in HRF_SITES if s != "conv_pw" or backbone == "conformer"]


def randomize(model, rng, scale=0.3):
    """Non-trivial weights: every parameter perturbed (non-zero biases, non-identity
    factors, non-unit norms) and random positive BatchNorm running statistics."""
    for k, v in model.params.items():
        model.params[k] = (v + scale * rng.standard_normal(v.shape)).astype(v.dtype)
    for k, v in model.buffers.items():
        noise = rng.standard_normal(v.shape)
        model.buffers[k] = (np.abs(v + scale * noise) + 0.1).astype(v.dtype)
    return model


def padded_batch(rng, B, T, M, dtype=np.float64):
    x = rng.standard_normal((B, T, M)).astype(dtype)
    lengths = rng.integers(1, T + 1, size=B)
    lengths[0] = T
    mask = np.arange(T)[None, :] < lengths[:, None]
    return x, mask


@st.composite
def hrf_models(draw):
    backbone = draw(st.sampled_from(BACKBONES))
    heads = draw(st.integers(1, 2))
    width = heads * draw(st.integers(4 // heads, 4))           # >= 4: SpeechFormer's C/4 head
    arch = dict(TINY[backbone], width=width, heads=heads)
    if backbone != "speechformer":
        arch["layers"] = draw(st.integers(1, 2))
        arch["ffn"] = draw(st.integers(3, 12))
    else:
        arch["ffn"] = draw(st.integers(2, 6))
        arch["n_mels"] = draw(st.sampled_from([width, width + 3]))   # with input_proj too
    sites = draw(st.lists(st.sampled_from(valid_sites(backbone)), min_size=1, unique=True))
    hrf = HRFConfig(r=draw(st.sampled_from([1, 2, 4, 8])), k=draw(st.integers(1, 3)),
                    bias=draw(st.booleans()), init=draw(st.sampled_from(["xavier", "identity"])),
                    sites=tuple(sites))
    seed = draw(st.integers(0, 2**31 - 1))
    config = make_config(backbone, "light", hrf=hrf, **arch)
    rng = np.random.default_rng(seed)
    model = randomize(build_model(config, rng, dtype=np.float64), rng)
    return model, rng


@given(hrf_models())
def test_merged_model_equals_training_form(case):
    model, rng = case
    merged = merge(model)
    T = int(rng.integers(1, 60))
    x, mask = padded_batch(rng, 3, T, model.config.n_mels)
    a, b = model.predict_logits(x, mask), merged.predict_logits(x, mask)
    assert np.max(np.abs(a - b)) <= 1e-10 * max(1.0, np.max(np.abs(a)))


@given(hrf_models())
def test_c_and_numpy_folds_agree(case):
    model, _ = case
    c, ref = fold_model_params(model.params, use_c=True), fold_model_params(model.params,
                                                                           use_c=False)
    assert c.keys() == ref.keys()
    for k in c:
        scale = max(1.0, float(np.max(np.abs(ref[k]))))
        assert np.max(np.abs(c[k] - ref[k])) <= 1e-12 * scale, k


@given(hrf_models())
def test_merged_structure_is_the_plain_model(case):
    model, _ = case
    before = {k: v.copy() for k, v in model.params.items()}
    merged = merge(model)
    plain = build_model(model.config.without_hrf(), 0, dtype=np.float64)
    assert merged.config == plain.config and merged.config.hrf is None
    assert {k: v.shape for k, v in merged.params.items()} == \
        {k: v.shape for k, v in plain.params.items()}
    assert merged.n_params() == plain.n_params()
    for k, v in model.params.items():                     # the trained model is untouched
        np.testing.assert_array_equal(v, before[k])
    with pytest.raises(MergeError, match="already merged"):
        merge(merged)


@given(st.integers(1, 3), st.integers(1, 5), st.integers(1, 5), st.integers(1, 4),
       st.booleans(), st.integers(0, 2**31 - 1))
def test_chain_plus_linear_equals_merged_linear_exactly(k, C, F, r, bias, seed):
    """Small integer-valued float64 weights and inputs: every product and sum is exact,
    so the fold must give bit-identical outputs."""
    rng = np.random.default_rng(seed)
    ints = lambda *shape: rng.integers(-3, 4, size=shape).astype(np.float64)
    p = {"lin.w": ints(F, r * C), "lin.b": ints(F)}
    dims = [C] + [r * C] * k
    for i in range(k):
        p[f"lin.hrf.{i}.w"] = ints(dims[i + 1], dims[i])
        if bias:
            p[f"lin.hrf.{i}.b"] = ints(dims[i + 1])
    x = ints(2, 3, C)
    y, _ = L.hrf_linear_forward(p, "lin", x)
    for use_c in (True, False):
        merged = fold_model_params(p, use_c=use_c)
        assert set(merged) == {"lin.w", "lin.b"}
        y_merged, _ = L.hrf_linear_forward(merged, "lin", x)
        np.testing.assert_array_equal(y_merged, y)


def test_merge_refuses_a_model_without_hrf():
    model = build_model(make_config("convtransformer", "light", **TINY["convtransformer"]))
    with pytest.raises(MergeError, match="built without HRF"):
        merge(model)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_float32_merge_is_close(backbone, rng):
    config = make_config(backbone, "light", hrf=HRFConfig(sites=tuple(valid_sites(backbone))))
    model = randomize(build_model(config, 0), rng, scale=0.02)
    merged = merge(model)
    assert merged.dtype == np.float32
    _, max_rel = verify_merge(model, merged, lengths=(50, 300), batch=2)
    assert max_rel < 1e-5


# --------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("train, pooling, collapse", [
    (True, "mean", False), (False, "mean", False), (True, "stats", False),
    (True, "mean", True)])
def test_whole_model_gradients(backbone, train, pooling, collapse, monkeypatch):
    """Finite differences through the whole model (HRF at every site, k = 2), train mode
    with dropout and batch-statistics BatchNorm, or eval mode; mean or statistics
    pooling; every HRF chain run factor by factor, or collapsed into one matrix (as
    training does for long inputs)."""
    monkeypatch.setattr(L, "_collapse_pays", lambda rows, dims: collapse)
    rng = np.random.default_rng(7)
    hrf = HRFConfig(r=2, k=2, sites=tuple(valid_sites(backbone)))
    config = make_config(backbone, "light", hrf=hrf, dropout=0.2 if train else 0.0,
                         pooling=pooling, **TINY[backbone])
    model = randomize(build_model(config, 0, dtype=np.float64), rng, scale=0.1)
    x, mask = padded_batch(rng, 3, 23, config.n_mels)
    names = sorted(model.params)

    def forward(*values):
        model.params.update(zip(names, values))
        return model.forward(x, mask, train=train, rng=np.random.default_rng(3))

    def backward(dy, cache):
        grads = model.backward(dy, cache)
        assert set(grads) == set(names)
        return tuple(grads[n] for n in names)

    check_gradients(forward, backward, [model.params[n] for n in names],
                    list(range(len(names))), rng=rng, n_samples=3)


@pytest.mark.parametrize("k, factor_bias, bias", [(1, True, True), (2, False, True),
                                                  (3, True, False), (2, False, False)])
def test_collapsed_hrf_chain_is_the_chain(k, factor_bias, bias, rng):
    """An HRF chain run as one matrix gives the factor-by-factor output, input gradient
    and every parameter gradient (float64); training-sized inputs take the collapse."""
    dims, p = [6, 12, 9, 10][:k + 1], {}
    for i in range(k):
        p[f"l.hrf.{i}.w"] = rng.standard_normal((dims[i + 1], dims[i]))
        if factor_bias:
            p[f"l.hrf.{i}.b"] = rng.standard_normal(dims[i + 1])
    p["l.w"] = rng.standard_normal((4, dims[-1]))
    if bias:
        p["l.b"] = rng.standard_normal(4)
    x, dy = rng.standard_normal((3, 17, 6)), rng.standard_normal((3, 17, 4))
    runs = []
    for collapse in (False, True):
        y, cache = L.hrf_linear_forward(p, "l", x, collapse=collapse)
        assert (cache.collapsed is not None) == collapse
        grads = {}
        runs.append((y, L.hrf_linear_backward(dy, cache, grads), grads))
    (y0, dx0, g0), (y1, dx1, g1) = runs
    np.testing.assert_allclose(y1, y0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx1, dx0, rtol=1e-12, atol=1e-12)
    assert set(g1) == set(g0) == set(p)
    for name in p:
        np.testing.assert_allclose(g1[name], g0[name], rtol=1e-11, atol=1e-11, err_msg=name)
    # a light model's FFN chain on a training batch collapses; the pooled classifier not
    assert L._collapse_pays(32 * 75, [64, 256, 128]) and not L._collapse_pays(32, [64, 256, 7])


# --------------------------------------------------------------------------- masking

@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("pooling", ["mean", "stats"])
def test_prediction_independent_of_batch_and_padding(backbone, pooling, rng):
    config = make_config(backbone, "light", pooling=pooling, **TINY[backbone])
    model = randomize(build_model(config, 1, dtype=np.float64), rng)
    x, mask = padded_batch(rng, 4, 47, config.n_mels)
    batched = model.predict_logits(x, mask)
    for b in range(4):
        n = int(mask[b].sum())
        alone = model.predict_logits(x[b:b + 1, :n], None)
        np.testing.assert_allclose(batched[b], alone[0], rtol=1e-10, atol=1e-12)
    # what padded frames contain changes nothing, bit for bit
    noisy = np.where(mask[..., None], x, 1e6 * rng.standard_normal(x.shape))
    np.testing.assert_array_equal(model.predict_logits(noisy, mask), batched)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_training_step_ignores_padding_contents(backbone, rng):
    """Train mode (batch-statistics BatchNorm, dropout): logits, parameter gradients and
    BatchNorm running statistics are bit-identical whatever the padded frames hold."""
    config = make_config(backbone, "light", hrf=HRFConfig(r=2), dropout=0.1,
                         **TINY[backbone])
    model = randomize(build_model(config, 2, dtype=np.float64), rng)
    x, mask = padded_batch(rng, 3, 40, config.n_mels)
    mask[1, 10:] = False
    g = rng.standard_normal((3, config.n_classes))
    results = []
    for fill in (x, np.where(mask[..., None], x, rng.standard_normal(x.shape) * 1e3)):
        m = model.copy()
        logits, cache = m.forward(fill, mask, train=True, rng=np.random.default_rng(5))
        results.append((logits, m.backward(g, cache), m.buffers))
    (l1, g1, b1), (l2, g2, b2) = results
    np.testing.assert_array_equal(l1, l2)
    for k in g1:
        np.testing.assert_array_equal(g1[k], g2[k], err_msg=k)
    for k in b1:
        np.testing.assert_array_equal(b1[k], b2[k], err_msg=k)


# --------------------------------------------------------------------------- init, costs

def test_identity_init_chains_are_isometries(rng):
    config = make_config("conformer", "light", hrf=HRFConfig(r=2, k=3, init="identity",
                                                             sites=("ffn", "conv_pw")))
    model = build_model(config, rng, dtype=np.float64)
    for layer, factors in hrf_chains(model.params).items():
        P = np.eye(model.params[f"{factors[0]}.w"].shape[1])
        for f in factors:
            P = model.params[f"{f}.w"] @ P
            assert not np.any(model.params[f"{f}.b"])
        np.testing.assert_allclose(P.T @ P, np.eye(P.shape[1]), atol=1e-12)
        W, _ = fold_hrf_chain(model.params[f"{layer}.w"], None, [
            (model.params[f"{f}.w"], None) for f in factors])
        # the folded weight has the fan of the plain layer: Xavier bound sqrt(6/(in+out))
        bound = np.sqrt(6.0 / sum(W.shape))
        assert np.max(np.abs(W)) <= bound + 1e-12


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("hrf", [None, HRFConfig(r=2, k=2)])
def test_mac_count_matches_an_instrumented_forward(backbone, hrf, monkeypatch, rng):
    """count_macs (analytic) equals the MACs of the ops an actual forward calls."""
    config = make_config(backbone, "light", hrf=hrf)
    model = build_model(config, 0)
    counted = []

    def counting(fn, macs):
        def wrapper(*args, **kwargs):
            counted.append(macs(*args))
            return fn(*args, **kwargs)
        return wrapper

    from pyreparam.models import conformer
    monkeypatch.setattr(L, "linear_forward", counting(
        L.linear_forward, lambda x, w, b: x.size // x.shape[-1] * w.size))
    monkeypatch.setattr(L, "conv1d_forward", counting(
        L.conv1d_forward, lambda x, w, b, s, p: ((x.shape[1] + 2 * p - w.shape[2]) // s + 1)
        * w.size))
    from pyreparam.ops import attention
    monkeypatch.setattr(attention, "attention_forward", counting(
        attention.attention_forward, lambda q, k, v, mask, window:
        2 * q.shape[1] * q.shape[2] * min(window or q.shape[2], q.shape[2]) * q.shape[3]))
    monkeypatch.setattr(conformer, "depthwise_conv1d_forward", counting(
        conformer.depthwise_conv1d_forward, lambda x, w, b, p: x.shape[1] * w.size))
    # count_macs counts an HRF chain factor by factor (the training form as written);
    # training may run a chain collapsed into one matrix (fewer MACs), not here
    monkeypatch.setattr(L, "_collapse_pays", lambda rows, dims: False)
    T = 300
    model.predict_logits(rng.standard_normal((1, T, config.n_mels)).astype(np.float32))
    assert sum(counted) == count_macs(config, model.params, T)


# --------------------------------------------------------------------------- other folds

@given(st.integers(1, 3), st.integers(1, 30), st.integers(1, 6), st.integers(1, 7),
       st.booleans(), st.integers(0, 2**31 - 1))
def test_batchnorm_folds_into_the_depthwise_conv(B, T, C, K, with_bias, seed):
    """BN_eval(depthwise(x)) == depthwise'(x) with the folded weights (float64)."""
    from pyreparam.ops.conv import depthwise_conv1d_forward
    from pyreparam.ops.norm import batchnorm_forward
    from pyreparam.reparam import fold_batchnorm_into_conv
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, C))
    w, b = rng.standard_normal((C, K)), (rng.standard_normal(C) if with_bias else None)
    gamma, beta = rng.standard_normal(C), rng.standard_normal(C)
    mean, var = rng.standard_normal(C), rng.uniform(0.1, 3.0, C)
    pad = K // 2
    y, _ = depthwise_conv1d_forward(x, w, b, pad)
    ref, _ = batchnorm_forward(y, gamma, beta, mean, var, train=False, eps=1e-5)
    w2, b2 = fold_batchnorm_into_conv(w, b, gamma, beta, mean, var, 1e-5)
    got, _ = depthwise_conv1d_forward(x, w2, b2, pad)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)


@given(st.integers(1, 5), st.integers(1, 6), st.sampled_from([0.5, -2.0, 0.125]),
       st.integers(0, 2**31 - 1))
def test_scale_folds_into_the_linear(n_in, n_out, scale, seed):
    """scale (W x + b) == (scale W) x + scale b, exactly for integer-valued inputs and a
    power-of-two scale."""
    from pyreparam.reparam import fold_scale_into_linear
    rng = np.random.default_rng(seed)
    x = rng.integers(-5, 6, (3, n_in)).astype(np.float64)
    w = rng.integers(-5, 6, (n_out, n_in)).astype(np.float64)
    b = rng.integers(-5, 6, n_out).astype(np.float64)
    w2, b2 = fold_scale_into_linear(w, b, scale)
    np.testing.assert_array_equal(x @ w2.T + b2, scale * (x @ w.T + b))
    assert fold_scale_into_linear(w, None, scale)[1] is None


def test_hrf_chains_follows_the_naming_contract():
    chains = hrf_chains({"a.hrf.0.w": 0, "a.hrf.1.w": 0, "a.hrf.1.b": 0, "a.w": 0,
                         "b.w": 0, "c.hrf.0.w": 0})
    assert chains == {"a": ["a.hrf.0", "a.hrf.1"], "c": ["c.hrf.0"]}
    assert L.hrf_chain_names({"a.hrf.0.w": 0, "a.hrf.1.w": 0}, "a") == ["a.hrf.0", "a.hrf.1"]
