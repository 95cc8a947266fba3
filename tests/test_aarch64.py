"""aarch64 under qemu-aarch64 (tools/aarch64): the light ConvTransformer on one short
input with the NEON and the NEON + dot-product kernels (csrc/aarch64/): logits and the
causal normalization state identical to the host C runtime's and the NumPy reference's,
the NEON kernels identical to the reference kernels on random cases and constructed
rounding ties, the dot-product build refusing to run on a core without the dot product,
the plugin's instruction counts equal to QEMU's instruction trace. Skipped when the
cross compiler or qemu-user is missing (tools/aarch64/run.sh installs them). The whole
suite of models and inputs: tools/aarch64/run.sh (about a minute once the models are
made).

The checker's own verdict on a wrong logit is tested without QEMU."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyreparam import native

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools" / "aarch64"))
sys.path.insert(0, str(ROOT / "tools" / "mcu"))

import a64build  # noqa: E402
import aarch64  # noqa: E402

MISSING = [t for t in ("aarch64-linux-gnu-gcc", "qemu-aarch64", "cc")
           if shutil.which(t) is None]
needs_tools = pytest.mark.skipif(
    bool(MISSING) or not native.available(),
    reason=f"{', '.join(MISSING)} not installed (tools/aarch64/run.sh installs them)"
    if MISSING else "C extension not built")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("aarch64")
    cmd = [sys.executable, ROOT / "tools" / "aarch64" / "aarch64.py", "--out", out,
           "--models", "convtransformer", "--variants", "neon,neondot", "--inputs", "1",
           "--max-seconds", "0.5", "--json", out / "a64.json"]
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    doc = json.loads((out / "a64.json").read_text()) if (out / "a64.json").is_file() else None
    return done, doc


@needs_tools
def test_logits_equal_host_and_numpy(run):
    done, doc = run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert doc["ok"] and [r["variant"] for r in doc["results"]] == ["neon", "neondot"]
    for result in doc["results"]:
        assert result["errors"] == [] and len(result["runs"]) == 1
        assert result["kernels"] == f"simd={result['level']}"
        for r in result["runs"]:
            assert r["match"] and r["logits"] == r["expected"] and r["frames"] == 50
            assert r["instructions"] > r["macs"] / 20
    per_mac = doc["instructions_per_mac"]["convtransformer"]
    assert set(per_mac) == {"neon", "neondot"}


@needs_tools
def test_neon_kernels_equal_reference(run):
    _, doc = run
    assert [k["variant"] for k in doc["kernel_tests"]] == ["neon", "neondot"]
    for kt in doc["kernel_tests"]:
        assert kt["ok"] and len(kt["kernels"]) >= aarch64.MIN_KERNEL_TESTS
        assert all(k["mismatches"] == 0 and k["cases"] > 0 for k in kt["kernels"].values())
        assert {"linear_s8", "bmm_nn_s8", "layernorm_s16_s8", "softmax_s8", "rdbp",
                "mbqm"} <= set(kt["kernels"])


@needs_tools
def test_dot_build_refuses_a_core_without_dot(run):
    _, doc = run
    assert doc["dot_refusal"]["ok"] and doc["dot_refusal"]["exit_status"] == 3


@needs_tools
def test_counts_equal_trace(run):
    _, doc = run
    v = doc["count_verification"]
    assert v["equal"] and len(v["plugin"]) == 4 and min(v["plugin"]) > 0


def test_judge_reports_a_wrong_logit():
    record = {"inputs": [{"frames": 5, "macs": 100}], "expected": [[1, 2]],
              "expected_state_crc": [7]}
    out = ("build simd=neon cpu_ok 1\ncheck status 0 arena 1 flash 1 ops 1\n"
           "run 0 T 5 status 0 ticks 0 stack 0 logits 1 3\n"
           "norm 0 status 0 state 1 crc 00000007\ndone failures 0\n")
    good = out.replace("logits 1 3", "logits 1 2")
    run = a64build.Run(out, 0, [0, 10, 10, 11, 11, 50, 50, 52], [])
    variant = a64build.VARIANTS["neon"]
    bad = aarch64.judge(variant, record, run)
    assert not bad["ok"] and "logits [1, 3]" in bad["errors"][0]
    fine = aarch64.judge(variant, record, a64build.Run(good, 0, run.marks, []))
    assert fine["ok"] and fine["runs"][0]["instructions"] == 39
    short = aarch64.judge(variant, record, a64build.Run(good, 0, run.marks[:4], []))
    assert not short["ok"] and "plugin" in short["errors"][0]
