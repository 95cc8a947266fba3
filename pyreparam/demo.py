"""The main job on the embedded default: ``pyreparam demo``.

Synthesizes the emotional-speech corpus (no download), trains the light
ConvTransformer with and without HRF on the same speaker-independent split and seed,
merges the HRF model (deHRF), verifies the merge, evaluates both, and prints one
table. The two variants train in parallel processes.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from pyreparam.atomic import write_text
from pyreparam.audio.features import FeatureConfig
from pyreparam.data.synth import write_synthetic_corpus
from pyreparam.models import HRFConfig, load_checkpoint, make_config
from pyreparam.reparam import verify_merge
from pyreparam.train.fold import TrainConfig
from pyreparam.train.run import RUN_FILE, RunSpec, _threads_per_worker, resume_run, start_run
from pyreparam.train.workers import process_pool

VARIANTS = {"light": None, "light+HRF": HRFConfig(r=4)}
DEMO_TRAIN = dict(epochs=12, batch_size=32, lr=2e-3)   # a short schedule wants a higher rate


class DemoError(RuntimeError):
    """The demo folder holds a demo made with other settings."""


def _run_variant(name: str, spec: dict, out_dir: str, quiet: bool) -> dict:
    """Train one variant (in a worker process); resume it if it was interrupted."""
    if (Path(out_dir) / RUN_FILE).exists():
        return resume_run(out_dir, quiet=quiet, label=name)
    return start_run(RunSpec(**spec), out_dir, quiet=quiet, label=name)


def _check_reuse(out: Path, corpus: dict, specs: dict) -> None:
    """Refuse a folder made with other settings: its runs (finished or not) and corpus
    would otherwise be reused and their old results printed as new."""
    stored = out / "corpus" / "settings.json"
    if stored.exists() and json.loads(stored.read_text()) != corpus:
        raise DemoError(f"{out} holds a demo corpus made with other settings "
                        f"({json.loads(stored.read_text())}, now {corpus}); use another "
                        "--out or delete the folder")
    for name, spec in specs.items():
        run = out / name / RUN_FILE
        if run.exists() and json.loads(run.read_text()) != json.loads(json.dumps(spec)):
            old = json.loads(run.read_text())["train_config"]
            changed = {k: (old.get(k), v) for k, v in spec["train_config"].items()
                       if old.get(k) != v}
            raise DemoError(f"{out / name} holds a demo run made with other settings "
                            f"({', '.join(f'{k} {a} -> {b}' for k, (a, b) in changed.items()) or 'model or data'}); "
                            "use another --out or delete the folder")


def run_demo(out_dir: str | os.PathLike = "pyreparam-demo", *, seed: int = 0,
             epochs: int = DEMO_TRAIN["epochs"], speakers: int = 8, per_class: int = 30,
             jobs: int = 2, quiet: bool = False, log=print) -> list[dict]:
    """Run the demo; returns one row per variant (also written to OUT/demo.json)."""
    out = Path(out_dir)
    manifest = out / "corpus" / "manifest.csv"
    corpus = {"speakers": speakers, "per_class": per_class, "seed": seed}
    specs = _specs(out, manifest, seed, epochs)
    _check_reuse(out, corpus, specs)
    if not manifest.exists() or not (out / "corpus" / "settings.json").exists():
        log(f"synthesizing the corpus ({speakers} speakers x 4 emotions x {per_class}) "
            f"in {manifest.parent}")
        write_synthetic_corpus(manifest.parent, speakers=speakers, per_class=per_class,
                               seed=seed)
        write_text(out / "corpus" / "settings.json", json.dumps(corpus))
    summaries = _run_all(specs, out, jobs, quiet)
    rows = [_row(name, summaries[name], out / name) for name in VARIANTS]
    write_text(out / "demo.json", json.dumps(rows, indent=1))
    return rows


def _specs(out: Path, manifest: Path, seed: int, epochs: int) -> dict[str, dict]:
    """The run spec of each variant."""
    specs = {}
    for name, hrf in VARIANTS.items():
        config = make_config("convtransformer", "light", hrf=hrf, n_classes=4)
        tc = TrainConfig(**{**DEMO_TRAIN, "epochs": epochs}, seed=seed)
        specs[name] = RunSpec(manifest=str(manifest.resolve()), model_config=config.to_dict(),
                              train_config=tc.to_dict(), cv="fixed",
                              feature_config=FeatureConfig(n_mels=config.n_mels).to_dict(),
                              cache_dir=str((out / "cache").resolve())).to_dict()
    return specs


def _run_all(specs: dict, out: Path, jobs: int, quiet: bool) -> dict:
    tasks = {name: (name, spec, str(out / name), quiet) for name, spec in specs.items()}
    if jobs <= 1:
        return {name: _run_variant(*task) for name, task in tasks.items()}
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with _threads_per_worker(threads), process_pool(jobs) as pool:
        futures = {name: pool.submit(_run_variant, *task) for name, task in tasks.items()}
        return {name: f.result() for name, f in futures.items()}


def _row(name: str, summary: dict, run_dir: Path) -> dict:
    pooled = summary["pooled"]
    row = {"variant": name, "ua": pooled["ua"], "wa": pooled["wa"],
           "macro_f1": pooled["macro_f1"], "params_train": summary["params"],
           "params_deployed": summary.get("params_merged", summary["params"]),
           "merge_max_abs": None, "merge_max_rel": None,
           "wall_seconds": summary["wall_seconds"], "run_dir": str(run_dir)}
    if "pooled_merged" in summary:
        fold = run_dir / "fold_00"
        model, merged = load_checkpoint(fold / "model.npz"), load_checkpoint(fold / "model_merged.npz")
        row["merge_max_abs"], row["merge_max_rel"] = verify_merge(model, merged)
        row["ua_merged"] = summary["pooled_merged"]["ua"]
        row["wa_merged"] = summary["pooled_merged"]["wa"]
    return row


def format_demo(rows: list[dict]) -> str:
    lines = [f"{'variant':<12}{'params (train)':>16}{'params (deployed)':>19}{'WA %':>7}"
             f"{'UA %':>7}{'F1 %':>7}{'merge error (max rel)':>23}"]
    for r in rows:
        err = "-" if r["merge_max_rel"] is None else f"{r['merge_max_rel']:.1e}"
        lines.append(f"{r['variant']:<12}{r['params_train']:>16,}{r['params_deployed']:>19,}"
                     f"{100 * r['wa']:>7.1f}{100 * r['ua']:>7.1f}{100 * r['macro_f1']:>7.1f}"
                     f"{err:>23}")
    for r in rows:
        if "ua_merged" in r:
            lines.append(f"{r['variant']} after deHRF (merged model): WA {100 * r['wa_merged']:.1f} %,"
                         f" UA {100 * r['ua_merged']:.1f} %")
    return "\n".join(lines)
