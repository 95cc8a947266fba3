"""Causal speaker normalization: the float rule, its integer twin (NumPy reference and
C, bit for bit), the serialized state, the training sampler, and the causal protocol
(no future utterance may influence a decision)."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from pyreparam import native
from pyreparam.data.normalize import (CausalSampler, CausalStats, Normalizer, frame_stats,
                                      subset_moments)
from pyreparam.models import build_model, make_config
from pyreparam.quant import qcausal as q
from pyreparam.train.protocols import (PRIOR_BUCKETS, FloatScorer, evaluate_protocols,
                                       heard_sets, pool_protocols)

seeds = st.integers(0, 2**32 - 1)


def utterances(rng, n, M, lo=20, hi=120):
    """Log-mel-like utterances: a per-utterance level and spread per band."""
    return [(rng.normal(rng.uniform(-6, 8), rng.uniform(0.5, 3), (int(rng.integers(lo, hi)), M))
             + rng.normal(0, 1, M)).astype(np.float32) for _ in range(n)]


def fitted(rng, M=6, mode="causal", prior_weight=2.0):
    train = utterances(rng, 12, M)
    return Normalizer(mode, prior_weight=prior_weight).fit(train, list("aaaabbbbcccc"))


# ==== the float rule =================================================================

@given(seeds)
def test_running_stats_equal_the_pooled_statistics(seed):
    """Chan's pairwise update is the exact frame-weighted mean and variance."""
    rng = np.random.default_rng(seed)
    feats = utterances(rng, int(rng.integers(1, 8)), 5)
    stats = CausalStats()
    for x in feats:
        stats.update(x)
    mean, std = frame_stats(feats)
    np.testing.assert_allclose(stats.mean, mean, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(stats.var, std ** 2, rtol=1e-8, atol=1e-8)
    assert stats.n_utterances == len(feats) and stats.frames == sum(len(x) for x in feats)


def test_blend_starts_at_the_prior_and_converges_to_the_speaker(rng):
    norm = fitted(rng, prior_weight=3.0)
    speaker = utterances(rng, 40, 6)
    stats = CausalStats()
    mean0, std0 = norm.blended(0, None, None)
    np.testing.assert_allclose(mean0, norm.prior_mean)
    np.testing.assert_allclose(std0, np.sqrt(norm.prior_var))
    for x in speaker:
        stats.update(x)
    mean, std = norm.blended(stats.n_utterances, stats.mean, stats.var)
    w = 40 / 43
    np.testing.assert_allclose(mean, w * stats.mean + (1 - w) * norm.prior_mean)
    np.testing.assert_allclose(std ** 2, w * stats.var + (1 - w) * norm.prior_var)


def test_prior_is_the_mean_of_the_training_speakers_statistics(rng):
    train = utterances(rng, 6, 4)
    norm = Normalizer("causal").fit(train, list("aabbbc"))
    per = [frame_stats(train[i:j]) for i, j in ((0, 2), (2, 5), (5, 6))]
    np.testing.assert_allclose(norm.prior_mean, np.mean([m for m, _ in per], axis=0))
    np.testing.assert_allclose(norm.prior_var, np.mean([s ** 2 for _, s in per], axis=0))


def test_causal_apply_uses_only_earlier_utterances_of_the_same_speaker(rng):
    norm = fitted(rng)
    feats = utterances(rng, 6, 6)
    speakers = ["x", "y", "x", "x", "y", "x"]
    out = norm.apply(feats, speakers)
    # the first utterance of each speaker is normalized by the prior alone
    mean, std = norm.blended(0, None, None)
    np.testing.assert_allclose(out[0], (feats[0] - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[1], (feats[1] - mean) / std, rtol=1e-5, atol=1e-5)
    # the fourth of x (index 5) by x's three before it
    stats = CausalStats()
    for i in (0, 2, 3):
        stats.update(feats[i])
    np.testing.assert_allclose(out[5], norm.causal_apply(feats[5], stats), rtol=1e-6)


def test_normalizer_with_prior_round_trips(rng):
    norm = fitted(rng, prior_weight=5.0)
    again = Normalizer.from_dict(norm.to_dict())
    assert again.prior_weight == 5.0 and again.mode == "causal"
    feats = utterances(rng, 3, 6)
    for a, b in zip(norm.apply(feats, ["s"] * 3), again.apply(feats, ["s"] * 3)):
        np.testing.assert_array_equal(a, b)


def test_sampler_draws_k_other_utterances_blended_with_the_prior(rng):
    norm = fitted(rng)
    feats = utterances(rng, 7, 6)
    speakers = list("ppppqqq")
    sampler = CausalSampler(norm, feats, speakers)
    seen_k = set()
    for trial in range(60):
        draw_rng = np.random.default_rng(trial)
        y = sampler.draw(2, draw_rng)
        replay = np.random.default_rng(trial)           # the same draws, by hand
        others = np.array([0, 1, 3])
        k = int(replay.integers(0, 4))
        seen_k.add(k)
        if k:
            chosen = replay.choice(others, size=k, replace=False)
            stats = subset_moments(sampler.counts, sampler.sums, sampler.squares, chosen)
            mean, std = norm.blended(k, *stats)
        else:
            mean, std = norm.blended(0, None, None)
        np.testing.assert_allclose(y, (feats[2] - mean) / std, rtol=1e-5, atol=1e-5)
    assert seen_k == {0, 1, 2, 3}                          # 0 .. N others
    assert 2 not in sampler.others[2] and set(sampler.others[5]) == {4, 6}


def test_harmonic_draw_hears_fewer_utterances(rng):
    feats = utterances(rng, 4, 3)
    norm = fitted(rng, M=3)
    counts = {}
    for kind in ("uniform", "harmonic"):
        sampler = CausalSampler(norm, feats, list("pppp"), draw=kind)
        draws = np.random.default_rng(0)
        ks = [sampler.heard(40, draws) for _ in range(4000)]
        assert min(ks) == 0 and max(ks) <= 40
        counts[kind] = np.bincount(ks, minlength=41) / len(ks)
    assert counts["uniform"][0] == pytest.approx(1 / 41, abs=0.01)
    assert counts["harmonic"][0] == pytest.approx(1 / sum(1 / k for k in range(1, 42)),
                                                  abs=0.02)
    with pytest.raises(ValueError, match="causal draw"):
        CausalSampler(norm, feats, list("pppp"), draw="zipf")


def test_held_out_prior_is_the_prior_fitted_without_the_speaker(rng):
    train = utterances(rng, 12, 5)
    speakers = list("aaaabbbbcccc")
    norm = Normalizer("causal").fit(train, speakers)
    without_b = Normalizer("causal").fit(train[:4] + train[8:], list("aaaacccc"))
    for got, want in zip(norm.held_out_prior("b"), (without_b.prior_mean, without_b.prior_var)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    assert not np.allclose(norm.held_out_prior("b")[0], norm.prior_mean)
    # a speaker the prior never saw (a test speaker) meets the whole prior
    assert norm.held_out_prior("z")[0] is norm.prior_mean
    alone = Normalizer("causal").fit(train[:4], list("aaaa"))
    assert alone.held_out_prior("a")[0] is alone.prior_mean    # nobody else to hold out


def test_held_out_sampler_blends_each_draw_with_the_prior_without_its_speaker(rng):
    train = utterances(rng, 12, 5)
    speakers = list("aaaabbbbcccc")
    norm = Normalizer("causal").fit(train, speakers)
    sampler = CausalSampler(norm, train, speakers, prior="held-out")
    copies = CausalSampler(norm, train, [f"{s}@0.9" for s in speakers], prior="held-out",
                           prior_speakers=speakers)        # speed-perturbed copies
    for trial in range(30):
        replay = np.random.default_rng(trial)
        k = int(replay.integers(0, 4))
        others = np.array([4, 6, 7])
        stats = (subset_moments(sampler.counts, sampler.sums, sampler.squares,
                                replay.choice(others, size=k, replace=False))
                 if k else (None, None))
        mean, std = norm.blended(k, *stats, norm.held_out_prior("b"))
        want = (train[5] - mean) / std
        for s in (sampler, copies):
            np.testing.assert_allclose(s.draw(5, np.random.default_rng(trial)), want,
                                       rtol=1e-5, atol=1e-5)
    pooled = CausalSampler(norm, train, speakers)
    assert not np.allclose(pooled.draw(5, np.random.default_rng(0)),
                           sampler.draw(5, np.random.default_rng(0)))
    with pytest.raises(ValueError, match="causal prior"):
        CausalSampler(norm, train, speakers, prior="mine")


# ==== the integer rule: NumPy reference vs float, C vs NumPy ==========================

@given(seeds)
def test_integer_rule_follows_the_float_rule(seed):
    """int8 output of the integer rule is within 1 LSB of the float rule quantized."""
    rng = np.random.default_rng(seed)
    M = int(rng.integers(1, 10))
    norm = fitted(rng, M=M, prior_weight=float(rng.uniform(0.5, 8)))
    s_in, zp = float(rng.uniform(0.02, 0.1)), int(rng.integers(-20, 20))
    p = q.norm_params(norm.prior_mean, norm.prior_var, norm.prior_weight, s_in, zp)
    state, stats = q.new_state(M), CausalStats()
    for x in utterances(rng, 5, M):
        xq = q.quantize_features(x)
        y_int = q.apply(state, p, xq).astype(np.int64)
        x_exact = xq.astype(np.float64) / 256          # the float rule on the same input
        y = norm.causal_apply(x_exact, stats)
        y_ref = np.clip(np.round(y / s_in) + zp, -128, 127)
        assert np.abs(y_int - y_ref).max() <= 1
        state, _ = q.update(state, xq), stats.update(x_exact)
        np.testing.assert_allclose(state.mean / 2**16, stats.mean, atol=2e-4)
        np.testing.assert_allclose(state.var / 2**16, stats.var, rtol=1e-3, atol=2e-3)


def _random_params(rng, M):
    return q.NormParams(
        rng.integers(-(2**23), 2**23, M).astype(np.int32),
        rng.integers(1, 2**30, M).astype(np.int32) if rng.random() < 0.3
        else rng.integers(1, 2**22, M).astype(np.int32),
        int(rng.integers(1, 2**24)), int(rng.integers(1, 2**12)),
        int(rng.integers(2**30, 2**31)), int(rng.integers(-31, 5)),
        int(rng.integers(-128, 128)))


def _random_features(rng, T, M):
    kind = rng.integers(0, 3)
    if kind == 0:                                       # the whole int16 range
        return rng.integers(-32768, 32768, (T, M)).astype(np.int16)
    if kind == 1:                                       # constant bands
        return np.repeat(rng.integers(-32768, 32768, (1, M)), T, axis=0).astype(np.int16)
    return q.quantize_features(rng.normal(rng.uniform(-14, 20), rng.uniform(0.01, 5), (T, M)))


needs_c = pytest.mark.skipif(not native.available(), reason="C extension not built")


@needs_c
@given(seeds, st.integers(1, 70), st.integers(1, 9))
def test_c_state_and_output_bitexact_with_numpy(seed, M, n_utt):
    from pyreparam.quant import ckernels
    rng = np.random.default_rng(seed)
    p = _random_params(rng, M)
    c_state, ref = ckernels.norm_state_init(M), q.new_state(M)
    assert c_state == q.state_to_bytes(ref)
    for _ in range(n_utt):
        x = _random_features(rng, int(rng.integers(1, 200)), M)
        y_c = ckernels.norm_apply_s16_s8(p, c_state, x)
        y_ref = q.apply(ref, p, x)
        bad = np.argwhere(y_c != y_ref)
        assert not bad.size, f"apply: first mismatch {bad[0]}: C {y_c[tuple(bad[0])]} " \
                             f"vs NumPy {y_ref[tuple(bad[0])]}"
        c_state, ref = ckernels.norm_update_s16(c_state, x), q.update(ref, x)
        assert c_state == q.state_to_bytes(ref)


@needs_c
@given(seeds, st.integers(1, 70), st.integers(1, 5))
def test_c_apply_in_place_equals_numpy(seed, M, n_utt):
    """pr_norm_apply_inplace_s16_s8 (the int8 output over the int16 input) gives
    pr_norm_apply_s16_s8's values, bit for bit, states of any history included."""
    from pyreparam.quant import ckernels
    rng = np.random.default_rng(seed)
    p = _random_params(rng, M)
    state = q.new_state(M)
    for _ in range(n_utt):
        x = _random_features(rng, int(rng.integers(1, 200)), M)
        got = ckernels.norm_apply_inplace_s16_s8(p, q.state_to_bytes(state), x)
        want = q.apply(state, p, x)
        bad = np.argwhere(got != want)
        assert not bad.size, f"first mismatch {bad[0]}"
        state = q.update(state, x)


@needs_c
def test_c_apply_in_place_errors():
    from pyreparam.native import NativeError
    from pyreparam.quant import ckernels
    rng = np.random.default_rng(0)
    p = _random_params(rng, 4)
    x = _random_features(rng, 10, 4)
    with pytest.raises(NativeError) as info:
        ckernels.norm_apply_inplace_s16_s8(p, ckernels.norm_state_init(4), x, scratch_len=11)
    assert info.value.status == -3                                  # PR_ERR_SCRATCH
    state = bytearray(ckernels.norm_state_init(4))
    state[30] ^= 1                                                  # CRC mismatch
    with pytest.raises(NativeError) as info:
        ckernels.norm_apply_inplace_s16_s8(p, bytes(state), x)
    assert info.value.status == -21                                 # PR_ERR_STATE
    bad = p._replace(prior_var=np.zeros(4, np.int32))
    with pytest.raises(NativeError) as info:
        ckernels.norm_apply_inplace_s16_s8(bad, ckernels.norm_state_init(4), x)
    assert info.value.status == -5                                  # PR_ERR_PARAM


@needs_c
def test_c_apply_bitexact_at_the_extremes(rng):
    """Priors and features at their extremes (means at the int32 limits, variances 1
    and 2^31 - 1, every output shift): the normalized value saturates int32 and int8
    both ways; C (pr_ns_normalize, which the stream also normalizes with) == NumPy."""
    from pyreparam.quant import ckernels
    means = np.array([-(2**31), 2**31 - 1, 0, 2**23, -(2**23), 1, -1], dtype=np.int64)
    var = np.array([1, 2**31 - 1, 2, 2**30, 3, 1, 2**31 - 1], dtype=np.int64)
    M = len(means)
    x = np.array([-32768, 32767, 0, 1, -1, 12345, -23456], dtype=np.int16)
    x = np.concatenate([np.stack([np.roll(x, k) for k in range(M)]),
                        rng.integers(-32768, 32768, (50, M)).astype(np.int16)])
    seen = set()
    for shift in (-31, -20, -1, 0, 1, 4):
        for multiplier in (2**30, 2**31 - 1, 0):
            p = q.NormParams(means.astype(np.int32), var.astype(np.int32), 1, 1, multiplier,
                             shift, int(rng.integers(-128, 128)))
            state = ckernels.norm_state_init(M)
            y_c, y_ref = ckernels.norm_apply_s16_s8(p, state, x), q.apply(q.new_state(M), p, x)
            assert np.array_equal(y_c, y_ref), (shift, multiplier)
            assert np.array_equal(ckernels.norm_apply_inplace_s16_s8(p, state, x), y_ref)
            seen |= set(np.unique(y_ref).tolist())
    assert {-128, 127} <= seen and len(seen) > 20


@needs_c
def test_c_update_at_the_frame_cap_and_utterance_cap():
    """Beyond 2^24 frames old audio is down-weighted; n saturates at 65535 (both sides)."""
    from pyreparam.quant import ckernels
    rng = np.random.default_rng(7)
    M = 3
    ref = q.NormState(q.MAX_UTTERANCES, q.MAX_FRAMES + 5,
                      rng.integers(-(2**23), 2**23, M), rng.integers(0, 2**30, M))
    x = _random_features(rng, 50, M)
    got = ckernels.norm_update_s16(q.state_to_bytes(ref), x)
    expected = q.update(ref, x)
    assert got == q.state_to_bytes(expected)
    assert expected.n == q.MAX_UTTERANCES and expected.frames == q.MAX_FRAMES + 50


def test_state_round_trip_continues_as_if_uninterrupted(rng):
    """Save after some utterances, reload, continue == never stopped."""
    M = 8
    feats = [q.quantize_features(x) for x in utterances(rng, 9, M)]
    straight = q.new_state(M)
    for x in feats:
        straight = q.update(straight, x)
    resumed = q.new_state(M)
    for x in feats[:4]:
        resumed = q.update(resumed, x)
    resumed = q.state_from_bytes(q.state_to_bytes(resumed), M)
    for x in feats[4:]:
        resumed = q.update(resumed, x)
    assert q.state_to_bytes(resumed) == q.state_to_bytes(straight)
    # float rule too
    a, b = CausalStats(), CausalStats()
    for x in feats:
        a.update(x)
    for x in feats[:4]:
        b.update(x)
    b = CausalStats.from_dict(b.to_dict())
    for x in feats[4:]:
        b.update(x)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.var, b.var)


def _some_state(rng, M=4):
    state = q.new_state(M)
    for x in utterances(rng, 3, M):
        state = q.update(state, q.quantize_features(x))
    return q.state_to_bytes(state)


def test_every_corrupted_byte_of_a_state_is_refused(rng):
    data = _some_state(rng)
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x40
        with pytest.raises(q.StateError):
            q.state_from_bytes(bytes(bad), 4)
    for cut in (0, 10, len(data) - 1):
        with pytest.raises(q.StateError):
            q.state_from_bytes(data[:cut], 4)
    with pytest.raises(q.StateError, match="bands"):
        q.state_from_bytes(data, 5)


@needs_c
def test_c_refuses_corrupted_states_like_numpy(rng):
    from pyreparam.native import NativeError
    from pyreparam.quant import ckernels
    data = _some_state(rng)
    ckernels.norm_state_check(data, 4)
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x01
        with pytest.raises(NativeError, match="status -21"):
            ckernels.norm_state_check(bytes(bad), 4)
    # a forged state (valid CRC, values out of range) is refused by both
    forged = q.NormState(2, 100, np.array([2**23 + 1, 0, 0, 0]), np.zeros(4, np.int64))
    with pytest.raises(NativeError, match="status -21"):
        ckernels.norm_state_check(q.state_to_bytes(forged), 4)
    with pytest.raises(q.StateError):
        q.state_from_bytes(q.state_to_bytes(forged), 4)
    with pytest.raises(NativeError, match="status -21"):
        ckernels.norm_update_s16(bytes(bad), np.zeros((3, 4), np.int16))


@needs_c
def test_c_error_statuses():
    """Every argument error of the pr_norm_* functions, in the order they are checked."""
    _ffi, _lib = native.handle()
    NULL, SHAPE, PARAM, STATE = -1, -2, -5, -21
    M = 4
    size = _lib.pr_norm_state_bytes(M)
    assert size == 24 + 8 * M and _lib.pr_norm_state_bytes(0) == SHAPE
    assert _lib.pr_norm_state_bytes(2049) == SHAPE
    state = _ffi.new("uint8_t[]", size)
    assert _lib.pr_norm_state_init(_ffi.NULL, size, M) == NULL
    assert _lib.pr_norm_state_init(state, size, 0) == SHAPE
    assert _lib.pr_norm_state_init(state, size - 1, M) == STATE
    assert _lib.pr_norm_state_init(state, size, M) == 0
    assert _lib.pr_norm_state_check(_ffi.NULL, size, M) == NULL
    assert _lib.pr_norm_state_check(state, size, 2049) == SHAPE
    assert _lib.pr_norm_state_check(state, size, M + 1) == STATE   # another size
    x = _ffi.new("int16_t[]", 3 * M)
    assert _lib.pr_norm_update_s16(state, size, M, _ffi.NULL, 3) == NULL
    assert _lib.pr_norm_update_s16(state, size, M, x, 0) == SHAPE
    assert _lib.pr_norm_update_s16(state, size, M, x, 2**20 + 1) == SHAPE
    mean, var = _ffi.new("int32_t[]", [0] * M), _ffi.new("int32_t[]", [1] * M)
    y = _ffi.new("int8_t[]", 3 * M)
    good = dict(bands=M, prior_weight=1, var_floor=1, out_multiplier=2**30, out_shift=-3,
                out_zero_point=0)

    def apply(params=None, **kw):
        p = _ffi.new("pr_norm_params *", {**good, **kw}) if params is None else params
        args = dict(mean=mean, var=var, state=state, x=x, frames=3, y=y)
        args.update({k: v for k, v in kw.items() if k in args})
        return _lib.pr_norm_apply_s16_s8(p, args["mean"], args["var"], args["state"], size,
                                         args["x"], args["frames"], args["y"])
    assert apply() == 0
    assert apply(_ffi.NULL) == NULL
    p = _ffi.new("pr_norm_params *", good)
    for name in ("mean", "var", "state", "x", "y"):
        args = dict(mean=mean, var=var, state=state, x=x, y=y)
        args[name] = _ffi.NULL
        assert _lib.pr_norm_apply_s16_s8(p, args["mean"], args["var"], args["state"], size,
                                         args["x"], 3, args["y"]) == NULL, name
    assert apply(bands=0) == SHAPE
    assert _lib.pr_norm_apply_s16_s8(p, mean, var, state, size, x, 0, y) == SHAPE
    assert apply(prior_weight=0) == PARAM and apply(var_floor=0) == PARAM
    assert apply(out_multiplier=-1) == PARAM and apply(out_shift=31) == PARAM
    assert apply(out_zero_point=128) == PARAM
    var[1] = 0
    assert apply() == PARAM
    var[1] = 1
    state[20] ^= 1                                       # the CRC
    assert apply() == STATE and _lib.pr_norm_update_s16(state, size, M, x, 3) == STATE


# ==== the causal protocol =============================================================

def _model(M=6, n_classes=3):
    config = make_config("convtransformer", "light", n_classes=n_classes, n_mels=M,
                         width=16, heads=2, ffn=32, layers=1)
    return build_model(config, 0, dtype=np.float64)


def test_causal_scorer_decisions_depend_on_no_future_utterance(rng):
    """Logits of a sequence's prefix == the first logits of the whole sequence, and
    changing later utterances changes no earlier decision (up to float64 rounding of
    the batch composition; a leak would move logits by O(1))."""
    scorer = FloatScorer(_model(), fitted(rng))
    seq = [x.astype(np.float64) for x in utterances(rng, 6, 6)]
    full = scorer.causal(seq)
    for j in range(1, 6):
        np.testing.assert_allclose(scorer.causal(seq[:j]), full[:j], rtol=1e-12, atol=1e-12)
    changed = seq[:3] + [x * 3 + 5 for x in seq[3:]]
    np.testing.assert_allclose(scorer.causal(changed)[:3], full[:3], rtol=1e-12, atol=1e-12)
    assert not np.allclose(scorer.causal(changed)[3:], full[3:])


def test_protocol_reports_pool_and_bucket(rng):
    model, norm = _model(), fitted(rng)
    feats = [x.astype(np.float64) for x in utterances(rng, 20, 6, 20, 40)]
    labels = rng.integers(0, 3, 20)
    speakers = ["s1"] * 12 + ["s2"] * 8
    reports = evaluate_protocols(FloatScorer(model, norm), feats, labels, speakers, 3,
                                 n_orders=2)
    causal = reports["causal"]
    assert causal["n"] == 40                              # 20 utterances x 2 orders
    # the curve: every utterance at every k its speaker has k others for
    assert set(causal["by_prior"]) == {"0", "1", "2", "4", "8"}
    assert causal["by_prior"]["0"]["n"] == 20 and causal["by_prior"]["4"]["n"] == 20
    assert causal["by_prior"]["8"]["n"] == 12              # s2 has only 7 others
    assert reports["speaker"]["n"] == reports["utterance"]["n"] == 20
    pooled = pool_protocols([reports, reports])
    assert pooled["causal"]["by_prior"]["0"]["n"] == 40
    assert pooled["speaker"]["ua"] == pytest.approx(reports["speaker"]["ua"])
    assert PRIOR_BUCKETS == (0, 1, 2, 4, 8, 16, 32)
    # k = 0 is the prior alone; the curve's decisions are those of `after`
    scorer = FloatScorer(model, norm)
    s1 = [feats[i] for i in range(12)]
    prior_only = scorer.after([[]] * 12, s1)
    mean, std = norm.blended(0, None, None)
    np.testing.assert_allclose(prior_only, scorer.normalized([(x - mean) / std for x in s1]),
                               rtol=1e-10, atol=1e-10)
    for i, heard in enumerate(heard_sets("s1", 12, 4, 0)):
        assert len(heard) == 4 and i not in heard and len(set(heard)) == 4


def test_after_equals_a_causal_sequence_ending_with_the_utterance(rng):
    """Hearing a set then classifying x == the last decision of that sequence."""
    scorer = FloatScorer(_model(), fitted(rng))
    seq = [x.astype(np.float64) for x in utterances(rng, 5, 6)]
    np.testing.assert_allclose(scorer.after([seq[:4]], [seq[4]])[0], scorer.causal(seq)[4],
                               rtol=1e-12, atol=1e-12)
