"""tools/results_table.py: how runs are named and grouped into variants."""
import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "results_table.py"
spec = importlib.util.spec_from_file_location("results_table", SCRIPT)
results_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(results_table)


def _results(seed: int, pitch: bool | None, hrf: dict | None = None) -> dict:
    features = {"n_mels": 64} if pitch is None else {"n_mels": 64, "pitch": pitch}
    return {"seed": seed, "cv": "loso", "manifest": "emodb.csv",
            "model_config": {"backbone": "convtransformer", "size": "light", "hrf": hrf,
                             "n_mels": 66 if pitch else 64, "n_classes": 7},
            "train_config": {"epochs": 80, "seed": seed}, "feature_config": features}


def test_pitch_runs_are_their_own_variant_named_after_the_pitch_channels():
    hrf = {"r": 4, "k": 1, "sites": ["ffn"]}
    runs = [_results(s, p, hrf) for s in (0, 1) for p in (None, True)]
    groups = results_table.group_runs(runs)
    assert sorted(groups) == ["convtransformer light + HRF r=4",
                              "convtransformer light + HRF r=4 + pitch"]
    assert all(len(rs) == 2 for rs in groups.values())
    assert results_table.variant_name(_results(0, False)) == "convtransformer light"
    head_only = _results(0, True)                     # --pitch-head-only
    head_only["model_config"]["n_mels"] = 64
    assert results_table.variant_name(head_only) == "convtransformer light + pitch (head only)"


def test_a_global_normalization_run_goes_in_the_row_of_the_same_features():
    """tools/protocols_report.py: a model with pitch channels is another row's model."""
    spec = importlib.util.spec_from_file_location(
        "protocols_report", SCRIPT.parent / "protocols_report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    hrf = {"r": 4, "k": 1, "sites": ["ffn"]}
    plain, pitch = _results(0, None, hrf), _results(0, True, hrf)
    assert report.model_key(plain) == report.model_key(_results(1, False, hrf))
    assert report.model_key(plain) != report.model_key(pitch)


def test_a_stats_head_run_is_named_and_reports_its_parts(tmp_path):
    """tools/protocols_report.py --parts: rows for the network and the head alone."""
    import json
    spec = importlib.util.spec_from_file_location(
        "protocols_report", SCRIPT.parent / "protocols_report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    hrf = {"r": 4, "k": 1, "sites": ["ffn"]}

    def protocols(ua):
        return {p: {"ua": ua} for p in ("speaker", "utterance")} | {
            "causal": {"ua": ua, "ua_by_prior": {"0": ua - 0.1, "8": ua}}}
    runs = []
    for seed, (fused, network, head) in enumerate(((0.8, 0.7, 0.75), (0.82, 0.72, 0.77))):
        results = _results(seed, None, hrf)
        results["train_config"]["stats_head"] = 0.5
        results["protocols"] = protocols(fused)
        results["protocols_parts"] = {"network": protocols(network), "head": protocols(head)}
        run = tmp_path / f"seed{seed}"
        (run / "fold_00").mkdir(parents=True)
        (run / "fold_00" / "log.csv").write_text("epoch,val_ua\n1,0.5\n")
        (run / "results.json").write_text(json.dumps(results))
        runs.append(run)
    rows = report.summarize(runs, recompute=False, parts=True)
    name = "convtransformer light + HRF r=4 + stats head 0.5"
    assert [r["variant"] for r in rows] == [name, f"{name} [network alone]",
                                            f"{name} [head alone]"]
    assert rows[1]["speaker"] == [0.7, 0.72] and rows[2]["curve"]["0"] == [0.65, 0.67]
    assert len(report.summarize(runs, recompute=False)) == 1
