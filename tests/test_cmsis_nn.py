"""The CMSIS-NN comparison of tools/mcu (cmsis_nn.py, cmsis_layers.c): our layer shapes
mapped to CMSIS-NN calls, the --compare-counts records written from the harness's
counts, clear errors for a wrong path; and, when CMSIS_NN names a CMSIS-NN checkout
(source tree or bare git dir) and the Arm toolchain and QEMU are installed, a real
build and count on a few shapes (about 20 s)."""
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools" / "mcu"))

import cmsis_nn  # noqa: E402
import layers  # noqa: E402

SHAPES = [  # one of each kernel layers.c reports, as the light models have them
    {"kernel": "linear_s8", "shape": {"rows": 12, "in": 64, "out": 32}},
    {"kernel": "linear_s8_s16", "shape": {"rows": 3, "in": 32, "out": 64}},
    {"kernel": "conv1d_s8", "shape": {"len": 30, "cin": 64, "cout": 16, "kernel": 3,
                                      "stride": 2, "pad": 1}},
    {"kernel": "bmm_nt_s8", "shape": {"batches": 4, "rows": 8, "cols": 12, "depth": 16}},
    {"kernel": "bmm_nn_s8", "shape": {"batches": 4, "rows": 8, "cols": 16, "depth": 12}},
    {"kernel": "softmax_s8", "shape": {"batches": 4, "rows": 8, "cols": 12, "window": 9}},
    {"kernel": "depthwise_conv1d_s8", "shape": {"len": 20, "ch": 64, "kernel": 15}},
]


def test_every_kernel_of_layers_c_maps_to_a_harness_row():
    rows = [cmsis_nn.harness_row(s["kernel"], s["shape"]) for s in SHAPES]
    assert sorted({r[0] for r in rows}) == sorted(cmsis_nn.KINDS.values())
    assert rows[5] == [cmsis_nn.KINDS["softmax"], 32, 12, 0, 0, 0, 0]   # batches x rows
    assert all(len(r) == 7 for r in rows)
    with pytest.raises(ValueError, match="layernorm"):
        cmsis_nn.harness_row("layernorm_s16_s8", {"rows": 1})


def test_unique_shapes_once_across_models():
    groups = [{"kernel": s["kernel"], "shape": s["shape"]} for s in SHAPES]
    got = cmsis_nn.unique_shapes({"a": {"shapes": groups}, "b": {"shapes": groups[:3]}})
    assert got == SHAPES


def test_records_take_the_cheaper_product_and_keep_the_transpose_apart():
    calls = [
        {"shape": 0, "function": "arm_fully_connected_per_channel_s8", "instructions": 900},
        {"shape": 0, "function": "arm_convolve_1x1_s8_fast", "instructions": 700},
        {"shape": 1, "function": "arm_transpose_s8", "instructions": 50},
        {"shape": 1, "function": "arm_batch_matmul_s8", "instructions": 400},
    ]
    recs = cmsis_nn.records(SHAPES[:1] + SHAPES[4:5], calls)
    assert recs[0]["instructions"] == 700
    assert recs[0]["function"] == "arm_convolve_1x1_s8_fast"
    assert recs[1]["instructions"] == 400 and recs[1]["transpose_instructions"] == 50
    with pytest.raises(cmsis_nn.CmsisNNError, match="no count for shape 1"):
        cmsis_nn.records(SHAPES[:2], calls[:2])


def test_harness_output_is_read_against_the_marks():
    text = ("call 0 shape 0 arm_softmax_s8 status 0\n"
            "call 1 shape 1 arm_batch_matmul_s8 status 0\ndone 2\n")
    calls = cmsis_nn.parse_calls(text, [10, 110, 200, 230])
    assert [c["instructions"] for c in calls] == [100, 30]
    with pytest.raises(cmsis_nn.CmsisNNError, match="status -1"):
        cmsis_nn.parse_calls("call 0 shape 0 arm_softmax_s8 status -1\ndone 1\n", [0, 1])
    with pytest.raises(cmsis_nn.CmsisNNError, match="incomplete"):
        cmsis_nn.parse_calls(text.replace("done 2\n", ""), [10, 110, 200, 230])


def test_a_wrong_path_is_a_clear_error(tmp_path):
    with pytest.raises(cmsis_nn.CmsisNNError, match="does not exist"):
        cmsis_nn.source_tree(tmp_path / "missing", tmp_path / "work")
    with pytest.raises(cmsis_nn.CmsisNNError, match="not a CMSIS-NN source tree"):
        cmsis_nn.source_tree(tmp_path, tmp_path / "work")


MISSING = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm", "cc", "git")
           if shutil.which(t) is None]


@pytest.mark.skipif(not os.environ.get("CMSIS_NN") or bool(MISSING),
                    reason="set CMSIS_NN to a CMSIS-NN checkout; needs the Arm toolchain "
                           "and qemu-system-arm (tools/mcu/run.sh installs them)")
def test_cmsis_nn_counts_on_the_device(tmp_path):
    doc = cmsis_nn.measure(Path(os.environ["CMSIS_NN"]), SHAPES, tmp_path)
    assert [layers.shape_key(r["kernel"], r["shape"]) for r in doc["records"]] == \
        [layers.shape_key(s["kernel"], s["shape"]) for s in SHAPES]
    for r in doc["records"]:
        n_macs = layers.macs(r["kernel"], r["shape"])
        assert r["instructions"] > (n_macs or 1), r   # at least one per MAC: not empty
    assert "-mcpu=cortex-m4" in doc["flags"]
    assert len(doc["commit"]) == 40 or doc["commit"] == "unknown"
