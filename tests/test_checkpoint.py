"""Checkpoints: exact round trips, atomic writes, clear errors for bad files."""
import json
import zipfile

import numpy as np
import pytest

from pyreparam.models import (
    BACKBONES, CheckpointError, HRFConfig, build_model, load_checkpoint,
    load_checkpoint_with_meta, make_config, save_checkpoint)
from pyreparam.models import checkpoint as ckpt
from pyreparam.reparam import merge


@pytest.mark.parametrize("backbone", BACKBONES)
def test_round_trip_is_exact(tmp_path, backbone):
    config = make_config(backbone, "light", hrf=HRFConfig(r=2, k=2, sites=("ffn", "attn_in")),
                         n_classes=7)
    model = build_model(config, 3)
    path = save_checkpoint(tmp_path / "m.npz", model, meta={"note": "x"},
                           extra={"norm.mean": np.arange(3.0)})
    loaded, meta, extra = load_checkpoint_with_meta(path)
    assert loaded.config == config and meta == {"note": "x"}
    np.testing.assert_array_equal(extra["norm.mean"], np.arange(3.0))
    assert loaded.params.keys() == model.params.keys()
    for k in model.params:
        np.testing.assert_array_equal(loaded.params[k], model.params[k])
        assert loaded.params[k].dtype == model.params[k].dtype
    for k in model.buffers:
        np.testing.assert_array_equal(loaded.buffers[k], model.buffers[k])
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]      # no temporary left over


def test_merged_provenance_survives(tmp_path):
    model = build_model(make_config("conformer", "light", hrf=HRFConfig()), 0)
    save_checkpoint(tmp_path / "m.npz", merge(model))
    loaded = load_checkpoint(tmp_path / "m.npz")
    assert loaded.config.hrf is None and loaded.merged_from["r"] == 4


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    model = build_model(make_config("convtransformer", "light"), 0)
    save_checkpoint(tmp_path / "m.npz", model)
    before = (tmp_path / "m.npz").read_bytes()

    def boom(f, **arrays):
        f.write(b"partial")
        raise KeyboardInterrupt
    monkeypatch.setattr(ckpt.np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "m.npz", model)
    assert (tmp_path / "m.npz").read_bytes() == before               # old file intact
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def _rewrite(src, dst, edit):
    """Copy an .npz, letting ``edit(name, bytes) -> bytes or None`` change/drop members."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = edit(item.filename, zin.read(item.filename))
            if data is not None:
                zout.writestr(item, data)


def _header_edit(change):
    def edit(name, data):
        if name != "header.json.npy":
            return data
        import io
        header = json.loads(str(np.load(io.BytesIO(data))))
        change(header)
        buf = io.BytesIO()
        np.save(buf, np.array(json.dumps(header)))
        return buf.getvalue()
    return edit


@pytest.fixture
def good(tmp_path):
    return save_checkpoint(tmp_path / "good.npz",
                           build_model(make_config("conformer", "light"), 0))


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="nope.npz: no such"):
        load_checkpoint(tmp_path / "nope.npz")


def test_truncated_file(tmp_path, good):
    bad = tmp_path / "trunc.npz"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="trunc.npz"):
        load_checkpoint(bad)


def test_corrupt_bytes(tmp_path, good):
    data = bytearray(good.read_bytes())
    for i in range(2000, len(data) - 2000, 997):       # flip bytes inside member data
        data[i] ^= 0x5A
    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt.npz"):
        load_checkpoint(bad)


def test_not_a_checkpoint(tmp_path):
    bad = tmp_path / "other.npz"
    np.savez(bad, a=np.zeros(3))
    with pytest.raises(CheckpointError, match="other.npz: not a pyreparam checkpoint"):
        load_checkpoint(bad)


@pytest.mark.parametrize("change, message", [
    (lambda h: h.update(version=99), "format version 99 is not supported"),
    (lambda h: h.update(format="something"), "not a pyreparam checkpoint"),
    (lambda h: h["config"].update(backbone="lstm"), "invalid model config"),
    (lambda h: h["config"].update(width=32), "do not match the config|has shape"),
])
def test_bad_header(tmp_path, good, change, message):
    bad = tmp_path / "bad.npz"
    _rewrite(good, bad, _header_edit(change))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(bad)


def test_missing_parameter(tmp_path, good):
    bad = tmp_path / "missing.npz"
    _rewrite(good, bad, lambda name, data: None if name == "param/classifier.w.npy" else data)
    with pytest.raises(CheckpointError, match="missing.npz: parameters do not match.*classifier.w"):
        load_checkpoint(bad)
