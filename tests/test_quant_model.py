"""Whole-model int8: the float graph equals the model, the C runner equals the NumPy
integer reference bit for bit (all three backbones, random configs, parameters,
inputs and lengths), the .prq round trip, the arena plan, and sanity of the error."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pyreparam import native
from pyreparam.models import HRFConfig, build_model, make_config
from pyreparam.quant.backbones import QuantizeError, build_graph
from pyreparam.quant.graph import run_float
from pyreparam.quant.lower import ARENA_BUDGET, ARENA_GROWTH, lower
from pyreparam.quant.program import (KIND_ARENA, OP_MHA, check_arena, mha_scratch_bytes,
                                     plan_arena)
from pyreparam.quant.prq import read_prq, write_prq
from pyreparam.quant.qmodel import quantize_input, relative_rms, run_program

from quant_helpers import assert_bitexact, perturb, quantized, random_int8, small_config

needs_c = pytest.mark.skipif(not native.available(), reason="C extension not built")
if native.available():
    from pyreparam.quant.runtime import PRQModel

BACKBONES = ["convtransformer", "conformer", "speechformer"]
seeds = st.integers(0, 2**31 - 1)


@pytest.mark.parametrize("backbone", BACKBONES)
@settings(max_examples=8)
@given(data=st.data(), seed=seeds)
def test_float_graph_equals_model(backbone, data, seed):
    """The graph the quantizer works on computes the model's logits (float64)."""
    rng = np.random.default_rng(seed)
    config = small_config(backbone, data)
    model = perturb(build_model(config, seed, dtype=np.float64), rng)
    graph = build_graph(model)
    T = data.draw(st.integers(1, 40), label="T")
    x = rng.normal(size=(T, config.n_mels))
    want = model.predict_logits(x[None])[0]
    got = run_float(graph, x)["logits"][0]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@needs_c
@pytest.mark.parametrize("backbone", BACKBONES)
@given(data=st.data(), seed=seeds)
def test_c_runner_bitexact(backbone, data, seed):
    """C (pr_model_run) == NumPy (run_program) on random models, inputs and lengths."""
    config = small_config(backbone, data)
    t_max = data.draw(st.integers(1, 48), label="t_max")
    block = data.draw(st.integers(1, 9), label="block")
    method = data.draw(st.sampled_from(["percentile", "mse"]), label="method")
    _, _, _, program, blob = quantized(config, seed, t_max, block, method)
    model = PRQModel(blob)
    rng = np.random.default_rng(seed)
    for T in {1, t_max, data.draw(st.integers(1, t_max), label="T")}:
        x = random_int8(rng, T, config.n_mels)
        assert_bitexact(model.run(x), run_program(program, x), f"logits T={T}")


def _reschedule(program, choose) -> None:
    """Give every attention op the schedule ``choose(rows, heads)`` returns (its
    scratch resized to match) and re-plan the arena."""
    for op in program.ops:
        if op.type == OP_MHA:
            f = op.fields
            x = program.tensors[f["x"]]
            f.update(choose(x.rows, f["heads"]))
            program.tensors[f["scratch"]].cols = mha_scratch_bytes(
                x.rows, x.cols, f["heads"], f["window"], f["q_block"], f["head_batch"],
                f["qkv_all"])
    plan_arena(program)
    check_arena(program)


@needs_c
@pytest.mark.parametrize("backbone", ["convtransformer", "speechformer"])
@settings(max_examples=10)
@given(data=st.data(), seed=seeds)
def test_attention_schedules_bitexact(backbone, data, seed):
    """Every attention schedule (query blocks of any size, with tails; one head or all
    heads per call; Q/K/V per head or for all heads; local windows and global) gives
    the integers of the NumPy reference, which computes whole (H, T, T) scores."""
    config = small_config(backbone, data)
    t_max = data.draw(st.integers(1, 40), label="t_max")
    _, _, _, program, _ = quantized(config, seed, t_max, 4, arena_budget=0)

    def choose(rows, heads):
        qkv_all = data.draw(st.integers(0, 1), label="qkv_all")
        return {"q_block": data.draw(st.integers(1, rows), label="q_block"),
                "head_batch": data.draw(st.sampled_from([1, heads] if qkv_all else [1]),
                                        label="head_batch"),
                "qkv_all": qkv_all}
    _reschedule(program, choose)
    model = PRQModel(write_prq(program, {}))
    rng = np.random.default_rng(seed)
    for T in {1, t_max, data.draw(st.integers(1, t_max), label="T")}:
        x = random_int8(rng, T, config.n_mels)
        assert_bitexact(model.run(x), run_program(program, x), f"logits T={T}")


@needs_c
def test_attention_block_tails_and_windows():
    """Fixed cases: windows 1, 3, 5 and global, blocks that do not divide T (tails of
    one row and longer), blocks longer than a window's span, both head modes."""
    config = make_config("speechformer", "light", width=12, heads=3, ffn=6, n_mels=5,
                         layers=(1, 1, 1, 1), windows=(5, 3, 1, 0), merges=(2, 2, 2),
                         expand=(1, 1, 1), n_classes=3)
    _, _, _, program, _ = quantized(config, 4, 45, 4, arena_budget=0)
    rng = np.random.default_rng(4)
    xs = [random_int8(rng, T, 5) for T in (1, 2, 7, 44, 45)]
    want = [run_program(program, x) for x in xs]
    for q_block, all_heads in [(1, 0), (2, 0), (4, 1), (7, 0), (7, 1), (16, 1), (45, 1)]:
        _reschedule(program, lambda rows, heads: {
            "q_block": min(q_block, rows), "head_batch": heads if all_heads else 1,
            "qkv_all": all_heads})
        model = PRQModel(write_prq(program, {}))
        for x, w in zip(xs, want):
            assert_bitexact(model.run(x), w, f"q_block={q_block} all={all_heads}")


@pytest.mark.parametrize("backbone", BACKBONES)
def test_schedules_respect_the_arena_budget(backbone):
    """The lowering's attention schedules: the least-memory ones with budget 0; with
    the default budget the light presets get query blocks and stay within 64 KB; a
    budget below the least-memory arena leaves that arena unchanged."""
    config = make_config(backbone, "light", n_classes=4)
    _, graph, qparams, program, _ = quantized(config, 5, 300, 16)
    slow = lower(graph, qparams, 300, 16, arena_budget=0)
    mhas = [op.fields for op in program.ops if op.type == OP_MHA]
    assert all(f["q_block"] > 1 for f in mhas)
    assert all((f["q_block"], f["head_batch"], f["qkv_all"]) == (1, 1, 0)
               for f in (op.fields for op in slow.ops if op.type == OP_MHA))
    assert slow.arena_bytes <= program.arena_bytes <= ARENA_BUDGET
    tight = lower(graph, qparams, 300, 16, arena_budget=1024)
    assert tight.arena_bytes <= max(1024, int(ARENA_GROWTH * slow.arena_bytes))


@needs_c
@pytest.mark.parametrize("backbone", BACKBONES)
def test_light_presets_bitexact_and_within_targets(backbone):
    """Preset light models at T_max = 300: bit-exact at several lengths, arena <= 64 KB,
    flash (everything but the host metadata) <= 256 KB."""
    config = make_config(backbone, "light", n_classes=7)
    _, _, _, program, blob = quantized(config, 3, 300, 16)
    model = PRQModel(blob)
    rng = np.random.default_rng(0)
    for T in (1, 4, 77, 300):
        x = random_int8(rng, T, config.n_mels)
        assert_bitexact(model.run(x), run_program(program, x), f"logits T={T}")
    assert model.info["arena_bytes"] <= 64 * 1024
    assert model.info["flash_bytes"] <= 256 * 1024


@needs_c
def test_prq_round_trip_runs_identically():
    """read_prq(write_prq(p)) is the same program: same logits in NumPy and C."""
    config = make_config("conformer", "light", width=16, heads=2, ffn=8, layers=2)
    _, _, _, program, blob = quantized(config, 7, 40, 5)
    program2, meta = read_prq(blob)
    assert meta["input"]["scale"] > 0
    rng = np.random.default_rng(1)
    for T in (1, 13, 40):
        x = random_int8(rng, T, config.n_mels)
        ref = run_program(program, x)
        assert_bitexact(run_program(program2, x), ref, "round trip")
        assert_bitexact(PRQModel(blob).run(x), ref, "C after round trip")


@pytest.mark.parametrize("backbone", BACKBONES)
def test_arena_plan_is_consistent(backbone):
    """Every arena tensor fits, and tensors live at the same op never overlap."""
    config = make_config(backbone, "light", n_classes=4)
    _, _, _, program, _ = quantized(config, 5, 300, 16)
    check_arena(program)
    arena = [t for t in program.tensors if t.kind == KIND_ARENA]
    assert max(t.offset + t.nbytes for t in arena) <= program.arena_bytes
    # the plan reuses memory: the arena is smaller than the sum of its tensors
    assert program.arena_bytes < sum(t.nbytes for t in arena)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_int8_error_is_small_on_calibration_like_data(backbone):
    """Dequantized int8 values track the float graph (per-tensor relative RMS), and
    the logits' error is a few percent on inputs like the calibration data."""
    config = make_config(backbone, "light", n_classes=5)
    _, graph, qparams, program, _ = quantized(config, 11, 200, 16, n_calib=4,
                                               percentile=99.99)
    x = np.random.default_rng(2).normal(size=(150, config.n_mels))
    env = run_float(graph, x)
    _, values = run_program(program, quantize_input(x, *qparams["input"]), collect=True)
    errors = {k: relative_rms(env[k], v) for k, v in values.items() if k in env}
    assert len(errors) > 10
    assert max(errors.values()) < 0.1, sorted(errors.items(), key=lambda kv: -kv[1])[:3]
    assert errors["logits"] < 0.06


def test_refuses_hrf_model():
    model = build_model(make_config("convtransformer", "light", hrf=HRFConfig()), 0)
    with pytest.raises(QuantizeError, match="merge first: pyreparam merge IN OUT"):
        build_graph(model)


def test_program_rejects_bad_lengths():
    config = make_config("convtransformer", "light", width=8, heads=2, ffn=4, layers=1)
    _, _, _, program, _ = quantized(config, 1, 20, 4)
    for T in (0, 21):
        with pytest.raises(ValueError, match="outside"):
            program.lengths_for(T)


# --------------------------------------------------------------------------- pieces

def test_calibration_ranges():
    """Ranges contain 0; the percentile range is inside min/max; MSE beats min/max on a
    heavy-tailed sample; fixed and int16 roles get their fixed scales."""
    from pyreparam.quant.calibrate import (HIST_BINS, mse_range, percentile_range,
                                           s8_qparams, s16_scale)
    x = np.random.default_rng(0).standard_t(3, size=200_000)
    edges = np.linspace(x.min(), x.max(), HIST_BINS + 1)
    hist, _ = np.histogram(x, edges)
    lo, hi = percentile_range(hist, edges, 99.9)
    assert x.min() < lo < np.quantile(x, 0.002) and np.quantile(x, 0.998) < hi < x.max()
    for a, b in ((lo, hi), mse_range(hist, edges), (0.5, 3.0), (-4.0, -1.0)):
        scale, zp = s8_qparams(a, b)
        assert -128 <= zp <= 127 and scale > 0
        assert -128 <= round(0 / scale) + zp <= 127          # real 0 is representable

    def mse(r):
        scale, zp = s8_qparams(*r)
        q = np.clip(np.floor(x / scale + 0.5) + zp, -128, 127)
        return np.mean((x - scale * (q - zp)) ** 2)
    assert mse(mse_range(hist, edges)) < mse((x.min(), x.max()))
    assert s16_scale(10.0) * 32767 == pytest.approx(20.0)


def test_shared_shift_multipliers():
    """One shift per layer, multipliers in (0, 2^31), each within 2^-22 relative of M_c;
    a layer whose spread would cost precision keeps per-channel pairs."""
    from pyreparam.quant.lower import shared_shift_multipliers
    rng = np.random.default_rng(1)
    M = 10.0 ** rng.uniform(-4, -2, size=64)
    m, e = shared_shift_multipliers(M)
    assert np.isscalar(e) and m.dtype == np.int32 and (m > 0).all()
    approx = m.astype(np.float64) * 2.0 ** (e - 31)
    assert np.all(np.abs(approx - M) <= M * 2.0**-22)
    m2, e2 = shared_shift_multipliers(np.array([1e-2, 1e-9]))
    assert not np.isscalar(e2) and (m2 >= 2**30).all()


@pytest.mark.parametrize("backbone", BACKBONES)
def test_program_macs_match_the_model_cost(backbone):
    """inspect's MAC count, read off the integer program, equals models.cost."""
    from pyreparam.models import macs_per_second
    from pyreparam.quant.inspect import describe
    config = make_config(backbone, "light", n_classes=7)
    model, _, _, program, blob = quantized(config, 2, 300, 16)
    meta = read_prq(blob)[1]
    assert describe(program, meta, len(blob))["macs_per_second"] == \
        macs_per_second(config, model.params)
