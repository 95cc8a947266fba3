"""Probe (evaluation only): the network of a run without pitch channels fused with the
prosody head of a --pitch run of the same seed and folds (its frames carry the pitch
channels; the network sees the mel bands alone), against each run's own figures.

    python results/probes/pitch_head_only.py MANIFEST NETWORK_RUN PITCH_RUN \
        [NETWORK_RUN PITCH_RUN ...]

Each pair is one seed; with several, a table of mean +- std over the pairs follows.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from pyreparam.audio.decode import load_audio
from pyreparam.audio.features import frame_features
from pyreparam.data.manifest import read_manifest
from pyreparam.infer import load_for_inference
from pyreparam.train.protocols import FloatScorer, HeadScorer, evaluate_protocols, pool_protocols


class Bands:
    """A scorer that hands its network the first M channels of the frames."""

    def __init__(self, inner, M):
        self.inner, self.M = inner, M

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def _cut(self, raw):
        return [x[:, :self.M] for x in raw]

    def speaker(self, raw):
        return self.inner.speaker(self._cut(raw))

    def utterance(self, raw):
        return self.inner.utterance(self._cut(raw))

    def causal(self, raw):
        return self.inner.causal(self._cut(raw))

    def after(self, heard, raw):
        return self.inner.after([self._cut(h) for h in heard], self._cut(raw))


def main(manifest, net_run, pitch_run) -> dict:
    utts = read_manifest(manifest)
    by_path = {u.path: u for u in utts}
    reports, heads, cache = [], [], {}
    for fold_dir in sorted(Path(pitch_run).glob("fold_*")):
        result = json.loads((fold_dir / "result.json").read_text())
        net_model, net_front = load_for_inference(
            Path(net_run) / fold_dir.name / "model_merged.npz")
        _, pitch_front = load_for_inference(fold_dir / "model_merged.npz")
        fc = pitch_front.feature_config
        test = [u for u in utts if u.speaker in result["fold"]["test"]]
        raw = []
        for u in test:
            if u.path not in cache:
                cache[u.path] = frame_features(load_audio(u.path, sample_rate=fc.sample_rate), fc)
            raw.append(cache[u.path])
        classes = json.loads((Path(pitch_run) / "results.json").read_text())["classes"]
        labels = np.array([classes.index(u.label) for u in test])
        scorer = HeadScorer(Bands(FloatScorer(net_model, net_front.normalizer), fc.n_mels),
                            pitch_front.head)
        speakers = [u.speaker for u in test]
        reports.append(evaluate_protocols(scorer, raw, labels, speakers, len(classes)))
        heads.append(evaluate_protocols(HeadScorer(scorer.network, pitch_front.head, "head"),
                                        raw, labels, speakers, len(classes)))
        print(fold_dir.name, {p: round(100 * r["ua"], 1) for p, r in reports[-1].items()},
              flush=True)
    own = pool_protocols(heads)
    print("head alone (the run reports it too)", {p: round(100 * r["ua"], 1)
                                                  for p, r in own.items()})
    pooled = pool_protocols(reports)
    print("pooled", {p: round(100 * r["ua"], 1) for p, r in pooled.items()},
          "k:", {k: round(100 * v, 1) for k, v in pooled["causal"]["ua_by_prior"].items()})
    return pooled


def table(pooled: list[dict]) -> str:
    sd = lambda v: np.std(v, ddof=1) if len(v) > 1 else 0.0
    cell = lambda v: f"{100 * np.mean(v):.1f} ± {100 * sd(v):.1f}"
    keys = list(pooled[0]["causal"]["ua_by_prior"])
    return "\n".join([
        "| seeds | speaker UA % | causal UA % | utterance UA % |", "|---|---|---|---|",
        f"| {len(pooled)} | " + " | ".join(cell([p[k]["ua"] for p in pooled])
                                         for k in ("speaker", "causal", "utterance")) + " |",
        "", "| " + " | ".join(f"k = {k}" for k in keys) + " |",
        "|" + "---|" * len(keys),
        "| " + " | ".join(cell([p["causal"]["ua_by_prior"][k] for p in pooled])
                         for k in keys) + " |"])


if __name__ == "__main__":
    args = sys.argv[2:]
    runs = [main(sys.argv[1], a, b) for a, b in zip(args[::2], args[1::2])]
    print(table(runs))
