"""The fuzzers' seeds replayed in the ordinary test run (no atheris, no clang needed):
every seed of tools/fuzz/corpus/python, including the inputs that once failed, and a
thousand deterministic mutations of them end in a result or in the loader's own
error (tools/fuzz/fuzz_loaders.py's contract); the C seeds pass pr_model_check."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from pyreparam import native

ROOT = Path(__file__).resolve().parents[1]
FUZZ = ROOT / "tools" / "fuzz"


@pytest.fixture(scope="module")
def harness():
    """fuzz_loaders without atheris (even where it is installed: instrumenting the
    imports takes minutes)."""
    saved = sys.modules.get("atheris", False)
    sys.modules["atheris"] = None                     # `import atheris` fails
    try:
        spec = importlib.util.spec_from_file_location("fuzz_loaders",
                                                      FUZZ / "fuzz_loaders.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is False:
            del sys.modules["atheris"]
        else:
            sys.modules["atheris"] = saved
    assert module.atheris is None
    return module


def seeds(folder: str) -> list[Path]:
    return sorted((FUZZ / "corpus" / folder).iterdir())


def test_python_seeds_replay(harness):
    names = [p.name for p in seeds("python")]
    assert any(n.startswith("5_regression") for n in names) and len(names) >= 9
    for path in seeds("python"):
        harness.TestOneInput(path.read_bytes())


def test_python_seed_mutations(harness):
    """Byte flips, truncations and insertions of every seed (1000 in all)."""
    rng = np.random.default_rng(0)
    data = [p.read_bytes() for p in seeds("python")]
    for i in range(1000):
        blob = bytearray(data[i % len(data)])
        kind = rng.integers(3)
        if kind == 0 and len(blob) > 1:
            for _ in range(int(rng.integers(1, 4))):
                blob[int(rng.integers(1, len(blob)))] = int(rng.integers(256))
        elif kind == 1:
            blob = blob[:int(rng.integers(1, len(blob) + 1))]
        else:
            at = int(rng.integers(1, len(blob) + 1))
            blob[at:at] = bytes(rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8))
        harness.TestOneInput(bytes(blob))


@pytest.mark.skipif(not native.available(), reason="C extension not built")
def test_c_seeds_are_valid_models():
    from pyreparam.quant.runtime import check_blob
    for path in seeds("prq"):
        data = path.read_bytes()
        assert data[0] & 3 == 3, "the seeds repair CRC and size"
        check_blob(data[1:])
