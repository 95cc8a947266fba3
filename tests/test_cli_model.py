"""The init / merge / models commands."""
import json

import numpy as np
from click.testing import CliRunner

from pyreparam.cli import main
from pyreparam.models import load_checkpoint


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_version_and_help():
    assert run("--version").output.startswith("pyreparam, version")
    out = run("--help").output
    for command in ("init", "merge", "models"):
        assert command in out


def test_init_merge_round_trip(tmp_path):
    src, dst = tmp_path / "hrf.npz", tmp_path / "merged.npz"
    r = run("init", "--backbone", "conformer", "--hrf", "2", "--hrf-factors", "2",
            "--hrf-sites", "ffn,conv_pw", "--classes", "7", "--seed", "3", "-o", src)
    assert r.exit_code == 0, r.output
    model = load_checkpoint(src)
    assert model.config.hrf.r == 2 and model.config.hrf.k == 2 and model.config.n_classes == 7
    r = run("merge", src, dst)
    assert r.exit_code == 0, r.output
    assert "max rel" in r.output and "wrote" in r.output
    merged = load_checkpoint(dst)
    assert merged.config.hrf is None and merged.n_params() < model.n_params()
    # merging again is refused, nothing is written
    again = tmp_path / "again.npz"
    r = run("merge", dst, again)
    assert r.exit_code != 0 and "already merged" in r.output and not again.exists()


def test_init_with_pitch_records_its_front_end(tmp_path):
    """`init --pitch`: the model reads the mel bands and the 2 pitch channels, and the
    checkpoint carries the front end that computes them (kept by merge)."""
    from pyreparam.audio.features import FeatureConfig
    from pyreparam.models.checkpoint import load_checkpoint_with_meta
    src, dst = tmp_path / "pitch.npz", tmp_path / "merged.npz"
    r = run("init", "--backbone", "speechformer", "--hrf", "4", "--mels", "40", "--pitch",
            "--classes", "5", "-o", src)
    assert r.exit_code == 0 and "pitch channels" in r.output, r.output
    assert run("merge", src, dst).exit_code == 0
    for path in (src, dst):
        model, meta, _ = load_checkpoint_with_meta(path)
        fc = FeatureConfig.from_dict(meta["feature_config"])
        assert fc.pitch and fc.n_mels == 40 and model.config.n_mels == fc.channels == 42
        assert meta["classes"] == [f"class{i}" for i in range(5)]
    plain = tmp_path / "plain.npz"               # without --pitch: the mel bands only
    assert run("init", "--backbone", "speechformer", "--mels", "40", "-o", plain).exit_code == 0
    assert load_checkpoint(plain).config.n_mels == 40


def test_merge_fails_when_tolerance_is_exceeded(tmp_path):
    src = tmp_path / "hrf.npz"
    run("init", "--backbone", "convtransformer", "--hrf", "4", "-o", src)
    r = run("merge", src, tmp_path / "out.npz", "--tol", "0")
    assert r.exit_code != 0 and "does not match" in r.output
    assert not (tmp_path / "out.npz").exists()


def test_bad_inputs_give_clear_errors(tmp_path):
    r = run("merge", tmp_path / "none.npz", tmp_path / "out.npz")
    assert r.exit_code != 0 and "no such checkpoint" in r.output
    r = run("init", "--backbone", "convtransformer", "--hrf", "4", "--hrf-sites", "conv",
            "-o", tmp_path / "x.npz")
    assert r.exit_code != 0 and "unknown HRF site" in r.output


def test_models_table_and_json():
    r = run("models")
    assert r.exit_code == 0 and "speechformer" in r.output
    rows = json.loads(run("models", "--json").output)
    assert len(rows) == 6
    for row in rows:
        assert row["params_merged"] < row["params_hrf"]
        assert row["macs_per_s_merged"] < row["macs_per_s_hrf"]
    light = {row["backbone"]: row for row in rows if row["size"] == "light"}
    assert 8e4 < light["convtransformer"]["params_merged"] < 1e5   # the light budget: < 100 k


def test_conv_pw_site_only_for_conformer(tmp_path):
    r = run("init", "--backbone", "speechformer", "--hrf", "2", "--hrf-sites", "ffn,conv_pw",
            "-o", tmp_path / "x.npz")
    assert r.exit_code != 0 and "only in the Conformer" in r.output


def test_merge_keeps_the_front_end_and_nan_models_fail(tmp_path):
    """A trained checkpoint's classes, feature settings and normalizer survive the merge
    (so infer / eval / quantize work on the merged file); a model with NaN weights
    never passes the merge check."""
    import numpy as np
    from pyreparam.models import HRFConfig, build_model, make_config, save_checkpoint
    from pyreparam.models.checkpoint import load_checkpoint_with_meta
    model = build_model(make_config("convtransformer", "light", n_classes=3,
                                    hrf=HRFConfig(r=2)), 0)
    meta = {"classes": ["a", "b", "c"], "feature_config": {"n_mels": 64}}
    from pyreparam.data.normalize import Normalizer
    normalizer = Normalizer("causal")
    normalizer.prior_mean, normalizer.prior_var = np.ones(64), np.ones(64)
    extra = {f"normalizer.{k}": v for k, v in normalizer.to_dict().items()}
    src, dst = tmp_path / "hrf.npz", tmp_path / "merged.npz"
    save_checkpoint(src, model, meta=meta, extra=extra)
    assert run("merge", src, dst).exit_code == 0
    _, meta2, extra2 = load_checkpoint_with_meta(dst)
    assert meta2["classes"] == ["a", "b", "c"] and meta2["feature_config"] == {"n_mels": 64}
    assert str(extra2["normalizer.mode"]) == "causal"
    np.testing.assert_array_equal(extra2["normalizer.prior_mean"], np.ones(64))
    model.params["layers.0.ffn.fc1.w"][:] = np.nan
    save_checkpoint(src, model, meta=meta)
    r = run("merge", src, tmp_path / "nan.npz")
    # refused when loaded (before the merge check, which would also fail: max rel inf)
    assert r.exit_code == 1 and "NaN or infinite" in r.output and "fc1.w" in r.output
    assert not (tmp_path / "nan.npz").exists()


def test_every_command_option_has_help_and_outputs_are_named_alike():
    """`--help` explains every option; an option that names what a command writes is
    -o/--out wherever there is one."""
    import click
    from pyreparam.cli import main

    def walk(cmd, name=""):
        if isinstance(cmd, click.Group):
            for sub_name, sub in cmd.commands.items():
                yield from walk(sub, f"{name} {sub_name}".strip())
        else:
            yield name, cmd
    for name, cmd in walk(main):
        for p in cmd.params:
            if isinstance(p, click.Option) and not p.hidden:
                assert p.help, f"{name} {p.opts[0]} has no help text"
            if isinstance(p, click.Option) and ("--output" in p.opts or "--out" in p.opts):
                assert "-o" in p.opts and "--out" in p.opts, f"{name} {p.opts}"
