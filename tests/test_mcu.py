"""Cortex-M under QEMU (tools/mcu): the light ConvTransformer on one input, on the
Cortex-M4 with the Arm DSP kernels (csrc/arm/) and on the FPU-less Cortex-M3 with the
portable reference kernels: logits identical to the host C runtime's and the NumPy
reference's; the whole pipeline (recordings through the stream API) on the M4 with
decisions identical to the host's; the DSP kernels identical to the reference kernels on random cases
on the device, the instruction counts of the QEMU plugin equal to the instruction
trace's, no floating point and no static RAM in the runtime. Skipped when the cross
compiler or QEMU is missing (tools/mcu/run.sh installs them). The whole suite of
models, inputs and cores: tools/mcu/run.sh (a few minutes).

The checker's own verdicts (a wrong logit, a missing run, a count that disagrees with
the SysTick cross-check) are tested without QEMU."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyreparam import native

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools" / "mcu"))

import firmware  # noqa: E402
import report  # noqa: E402

MISSING = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm", "cc") if shutil.which(t) is None]
needs_tools = pytest.mark.skipif(
    bool(MISSING) or not native.available(),
    reason=f"{', '.join(MISSING)} not installed (tools/mcu/run.sh installs them)" if MISSING
    else "C extension not built")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mcu")
    cmd = [sys.executable, ROOT / "tools" / "mcu" / "mcu.py", "--out", out, "--models",
           "convtransformer", "--targets", "m4-dsp,m3-ref", "--inputs", "1",
           "--max-seconds", "0.5", "--pipeline-targets", "m4-dsp", "--json", out / "mcu.json"]
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    doc = json.loads((out / "mcu.json").read_text()) if (out / "mcu.json").is_file() else None
    return done, doc


@needs_tools
def test_logits_equal_host_and_numpy(run):
    done, doc = run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert doc["ok"] and [r["target"] for r in doc["results"]] == ["m4-dsp", "m3-ref"]
    for result in doc["results"]:
        assert result["errors"] == [] and len(result["runs"]) == 1
        for r in result["runs"]:
            assert r["match"] and r["logits"] == r["expected"] and r["frames"] == 50


@needs_tools
def test_dsp_kernels_equal_reference_on_device(run):
    _, doc = run
    (kt,) = doc["kernel_tests"]
    assert kt["ok"] and len(kt["kernels"]) >= 9
    for name, k in kt["kernels"].items():
        assert k["mismatches"] == 0 and k["cases"] >= 400, name


@needs_tools
def test_counts_equal_trace_and_dsp_is_cheaper(run):
    _, doc = run
    v = doc["count_verification"]
    assert v["equal"] and v["plugin"] == v["trace"] and min(v["plugin"]) > 0
    dsp, ref = ({r["target"]: r for r in doc["results"]}[t]["runs"][0]
                for t in ("m4-dsp", "m3-ref"))
    assert dsp["macs"] == ref["macs"] > 0
    assert 0 < dsp["instructions"] < ref["instructions"]
    for r in (dsp, ref):
        assert abs(r["systick_instructions"] - r["instructions"]) <= report.SYSTICK_SLACK


@needs_tools
def test_no_floating_point_no_static_ram(run):
    _, doc = run
    for result in doc["results"]:
        ram = result["ram_bytes"]
        assert ram["runtime_data"] == 0 and ram["runtime_bss"] == 0 and ram["arena"] > 0
        assert result["flash_bytes"]["runtime"] > 0 and result["flash_bytes"]["model"] > 0
    m3 = {r["target"]: r for r in doc["results"]}["m3-ref"]
    assert m3["fpu_register_moves"] == 0 and m3["kernels"] == "simd=none"


@needs_tools
def test_pipeline_decisions_equal_host_and_numpy(run):
    """Audio in, decisions out on the Cortex-M4 (DSP kernels and front end): every
    decision of the three recordings and the state's CRC after it equal the host C
    stream's and the NumPy reference's; the figures are there and add up."""
    _, doc = run
    (p,) = doc["pipeline"]
    assert p["ok"] and p["decisions_match"] and p["errors"] == []
    assert set(p["recordings"]) == {"speech", "pauses", "short"}
    for name, r in p["recordings"].items():
        assert r["decisions_match"] and r["decisions"] >= 1, name
        assert 0 < r["frontend_instructions"] < r["instructions"]
    assert p["recordings"]["pauses"]["gated"] >= 1 and p["recordings"]["pauses"]["seconds"] >= 20
    assert p["ram_bytes_total"] == sum(p["ram_bytes"].values())
    assert p["ram_bytes"]["stream"] == p["stream_layout"]["total"]
    assert p["flash_bytes_total"] == sum(p["flash_bytes"].values()) and \
        p["flash_bytes"]["tables"] > 7000
    assert 0 < p["frontend_share"] < 1 and p["steady_instructions_per_audio_second"] > 0


# ---- the checker itself, without QEMU ----

RECORD = {"inputs": [{"frames": 7, "macs": 1000}], "expected": [[1, -2, 3]],
          "expected_state_crc": [0x1234abcd]}
STDOUT = "build simd=none cpu cortex-m4\ncheck status 0 arena 96 flash 512 ops 3\n" \
         "run 0 T 7 status 0 ticks 100 stack 300 logits 1 -2 3\n" \
         "norm 0 status 0 state 1 crc 1234abcd\ndone failures 0\n"
MARKS = [0, 50, 60, 70, 80, 4080, 4090, 4100]   # check; apply, run, update


def judged(stdout: str, marks: list[int]):
    parsed = firmware.parse_stdout(stdout)
    run = firmware.Run(stdout, 0, marks, [{} for _ in marks])
    errors = report.run_errors(run, parsed, len(RECORD["inputs"]))
    return errors + (report.judge_runs(RECORD, run, parsed)[1] if not errors else [])


def test_checker_accepts_a_matching_run():
    assert judged(STDOUT, MARKS) == []


def test_checker_rejects_wrong_logits_missing_runs_and_bad_counts():
    assert any("logits" in e for e in judged(STDOUT.replace("-2 3", "-2 4"), MARKS))
    assert any("state CRC" in e for e in judged(STDOUT.replace("abcd", "abce"), MARKS))
    assert any("reported" in e for e in judged(STDOUT.split("run 0")[0], [0, 50]))
    assert any("marker" in e for e in judged(STDOUT, [0, 50]))
    assert any("SysTick" in e for e in judged(STDOUT, MARKS[:5] + [9080, 9090, 9100]))
    assert any("status" in e for e in judged(STDOUT.replace("status 0 ticks",
                                                            "status -16 ticks"), MARKS))
    assert any("normalization status" in e for e in judged(
        STDOUT.replace("norm 0 status 0", "norm 0 status -21"), MARKS))
