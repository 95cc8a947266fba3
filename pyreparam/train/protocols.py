"""Evaluation protocols: how a test speaker's features are normalized at test time.

A model's accuracy depends on what the normalization may know about the test
speaker. Three protocols, all label-free:

    speaker    statistics of all of the speaker's test utterances, computed at once
               (transductive: a lab figure, a device never has this)
    utterance  each file alone, normalized by its own statistics
    causal     what a device that hears one utterance at a time gets: each test
               speaker's utterances in ``n_orders`` random orders (default 5); each
               utterance is normalized with the statistics of the utterances before it
               in that order, blended with the training speakers' prior
               (:class:`pyreparam.data.normalize.CausalStats`); the first utterance
               of an order uses the prior alone

The causal report adds a curve over the number k of utterances heard before, at
k = 0, 1, 2, 4, 8, 16, 32 (:data:`PRIOR_BUCKETS`): for every test utterance and every k,
k of the same speaker's *other* utterances drawn at random are "heard" (merged into a
fresh state), then the utterance is normalized and classified. The state after hearing
a set of utterances does not depend on their order (up to integer rounding), so this is
the decision at position k + 1 of a random order, measured on every utterance instead
of on one position per order: k = 0 (the first utterance of an unseen speaker: the
prior alone) is scored on all test utterances, not on the 5 that open the orders. A
speaker with fewer than k other utterances has no point at k. Each point has UA, WA and
its confusion matrix, so curves pool over folds by adding confusion matrices.

The protocols are computed by a *scorer*, which owns normalization and model:
:class:`FloatScorer` for NumPy checkpoints; the int8 scorer of
:mod:`pyreparam.quant.workflow` normalizes in integers and runs the C runtime.
"""
from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from typing import Protocol as TypingProtocol

import numpy as np

from pyreparam.audio.features import network_input
from pyreparam.data.normalize import CausalStats, Normalizer, frame_stats
from pyreparam.models.stats_head import mix_logits, zscore_speaker
from pyreparam.train.batching import predict_logits
from pyreparam.train.metrics import classification_report, metrics_from_confusion

PROTOCOLS = ("speaker", "utterance", "causal")
FLOAT_STATE_FORMAT = "pyreparam-causal-state-float-1"
HEAD_STATE_FORMAT = "pyreparam-causal-state-float-head-1"
PRIOR_BUCKETS = (0, 1, 2, 4, 8, 16, 32)
DEFAULT_ORDERS = 5


class Scorer(TypingProtocol):
    """Normalization + model: logits (n, N) of raw (un-normalized) features."""

    def normalized(self, features: Sequence[np.ndarray]) -> np.ndarray: ...
    def speaker(self, raw: Sequence[np.ndarray]) -> np.ndarray: ...
    def utterance(self, raw: Sequence[np.ndarray]) -> np.ndarray: ...
    def causal(self, raw: Sequence[np.ndarray]) -> np.ndarray: ...
    def after(self, heard: Sequence[Sequence[np.ndarray]],
              raw: Sequence[np.ndarray]) -> np.ndarray: ...


class FloatScorer:
    """A float model (NumPy) with its :class:`Normalizer` (the prior of the causal rule).

    Raw frames may carry more channels than the model reads (the pitch channels of a
    ``--pitch-head-only`` model feed its statistics head): the network, its
    normalization and its state see the first ``model.config.n_mels``."""

    def __init__(self, model, normalizer: Normalizer, batch_size: int = 64) -> None:
        self.model, self.normalizer, self.batch_size = model, normalizer, batch_size

    def _in(self, raw):
        return [network_input(x, self.model.config.n_mels) for x in raw]

    def normalized(self, features: Sequence[np.ndarray]) -> np.ndarray:
        """Logits (n, N) of utterances already normalized."""
        return predict_logits(self.model, self._in(features), self.batch_size)

    def speaker(self, raw):
        raw = self._in(raw)
        mean, std = frame_stats(raw)
        std = np.maximum(std, self.normalizer.min_std)
        return self.normalized([((x - mean) / std).astype(x.dtype) for x in raw])

    def utterance(self, raw):
        return self.normalized(Normalizer("utterance", self.normalizer.min_std)
                               .apply(self._in(raw)))

    def causal(self, raw):
        stats, features = CausalStats(), []
        for x in self._in(raw):
            features.append(self.normalizer.causal_apply(x, stats))
            stats.update(x)
        return self.normalized(features)

    def after(self, heard, raw):
        """Logits of raw[i] once the utterances heard[i] were heard (a fresh state)."""
        features = []
        for before, x in zip(heard, self._in(raw)):
            stats = CausalStats()
            for h in self._in(before):
                stats.update(h)
            features.append(self.normalizer.causal_apply(x, stats))
        return self.normalized(features)

    # a device's running state, one utterance at a time (``pyreparam infer --state``)

    def new_state(self) -> CausalStats:
        return CausalStats()

    def step(self, state: CausalStats, raw: np.ndarray) -> tuple[np.ndarray, CausalStats]:
        """One heard utterance: (logits, the state after it); ``state`` is unchanged."""
        raw = network_input(raw, self.model.config.n_mels)
        logits = self.normalized([self.normalizer.causal_apply(raw, state)])[0]
        after = CausalStats(state.n_utterances, state.frames, state.mean, state.var)
        after.update(raw)
        return logits, after

    @staticmethod
    def state_to_bytes(state: CausalStats) -> bytes:
        return json.dumps({"format": FLOAT_STATE_FORMAT, **state.to_dict()}).encode()

    def state_from_bytes(self, data: bytes) -> CausalStats:
        """Parse a float state file; ValueError when it is not one (or not this model's)."""
        try:
            d = json.loads(data.decode())
            if d.pop("format") != FLOAT_STATE_FORMAT:
                raise ValueError
            state = CausalStats.from_dict(d)
        except (UnicodeDecodeError, json.JSONDecodeError, ValueError, KeyError, TypeError):
            raise ValueError("not a normalization state of a float model (int8 .prq "
                             "models keep binary states)") from None
        M = self.model.config.n_mels
        if state.mean is not None and (state.mean.shape != (M,) or state.var.shape != (M,)
                                       or not np.isfinite(state.mean).all()
                                       or not (np.isfinite(state.var) & (state.var >= 0)).all()):
            raise ValueError(f"the state does not hold {M} finite bands")
        if state.n_utterances < 0 or state.frames < 0 or \
                (state.n_utterances == 0) != (state.mean is None):
            raise ValueError("the state holds inconsistent counts")
        return state


class MemoScorer:
    """A scorer whose protocol results are remembered, keyed by the identity of the
    utterance arrays (which it keeps alive, so an identity is never reused): the fused
    decision of a model with a statistics head and the network's own report share one
    pass of the network. Everything else is the wrapped scorer's."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self._memo: dict[tuple, tuple] = {}

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def _remembered(self, name: str, arrays: list, *args, shape: tuple = ()):
        key = (name, shape, tuple(id(a) for a in arrays))
        hit = self._memo.get(key)
        if hit is None:
            hit = (arrays, getattr(self.inner, name)(*args))
            self._memo[key] = hit
        return hit[1]

    def speaker(self, raw):
        return self._remembered("speaker", list(raw), raw)

    def utterance(self, raw):
        return self._remembered("utterance", list(raw), raw)

    def causal(self, raw):
        return self._remembered("causal", list(raw), raw)

    def after(self, heard, raw):
        arrays = [h for before in heard for h in before] + list(raw)
        return self._remembered("after", arrays, heard, raw,
                                shape=tuple(len(before) for before in heard))


class HeadScorer:
    """A :class:`FloatScorer` and a statistics head (:mod:`pyreparam.models.stats_head`)
    deciding together: each protocol normalizes the frames for the network and the
    utterance functionals for the head the same way (speaker: all of the speaker's
    utterances; causal: the ones heard before, blended with each part's prior;
    utterance: the frames by their own statistics, the functionals -- one row, no
    statistics of their own -- by the prior alone), and the decision's logits are
    log((1 - mix) p_network + mix p_head). ``part`` "network" or "head" scores one
    part alone (a report of what each contributes)."""

    PARTS = ("fused", "network", "head")

    def __init__(self, network: FloatScorer, head, part: str = "fused") -> None:
        if part not in self.PARTS:
            raise ValueError(f"unknown part {part!r}; known: {self.PARTS}")
        self.network, self.head, self.part = network, head, part
        self.model, self.normalizer = network.model, network.normalizer
        self._functionals: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def functionals(self, x: np.ndarray) -> np.ndarray:
        """The functionals of raw frames x (remembered while x is alive here)."""
        hit = self._functionals.get(id(x))
        if hit is None or hit[0] is not x:
            hit = (x, self.head.functionals(x))
            self._functionals[id(x)] = hit
        return hit[1]

    def _decide(self, network_logits, z: np.ndarray) -> np.ndarray:
        head_logits = self.head.logits(z)
        if self.part == "head":
            return head_logits
        if self.part == "network":
            return network_logits
        return mix_logits(network_logits, head_logits, self.head.mix)

    def _network(self, method: str, *args):
        return getattr(self.network, method)(*args) if self.part != "head" else None

    def normalized(self, features):
        raise TypeError("a model with a statistics head needs raw features (its head "
                        "z-scores their functionals): use speaker, utterance or causal")

    def speaker(self, raw):
        F = np.stack([self.functionals(x) for x in raw])                    # (n, D)
        return self._decide(self._network("speaker", raw),
                            zscore_speaker(F, self.head.normalizer.min_std))

    def utterance(self, raw):
        F = np.stack([self.functionals(x) for x in raw])
        return self._decide(self._network("utterance", raw),
                            np.stack([self.head.zscore_after(F[:0], f) for f in F]))

    def causal(self, raw):
        F = np.stack([self.functionals(x) for x in raw])
        return self._decide(self._network("causal", raw),
                            np.stack([self.head.zscore_after(F[:i], F[i])
                                      for i in range(len(F))]))

    def after(self, heard, raw):
        D = self.head.weight.shape[1]
        z = [self.head.zscore_after(np.array([self.functionals(h) for h in before])
                                    .reshape(-1, D), self.functionals(x))
             for before, x in zip(heard, raw)]
        return self._decide(self._network("after", heard, raw), np.stack(z))

    # a device's running state: the frames' and the functionals' statistics

    def new_state(self) -> tuple[CausalStats, CausalStats]:
        return CausalStats(), CausalStats()

    def step(self, state, raw: np.ndarray):
        frames, functionals = state
        logits, frames_after = self.network.step(frames, raw)
        f = self.functionals(raw)
        heard = functionals
        mean, std = self.head.normalizer.blended(heard.n_utterances, heard.mean, heard.var)
        decided = mix_logits(logits[None], self.head.logits(((f - mean) / std)[None]),
                             self.head.mix)[0]
        after = CausalStats(heard.n_utterances, heard.frames, heard.mean, heard.var)
        after.update(f[None, :])
        return decided, (frames_after, after)

    @staticmethod
    def state_to_bytes(state) -> bytes:
        frames, functionals = state
        return json.dumps({"format": HEAD_STATE_FORMAT, "frames": frames.to_dict(),
                           "functionals": functionals.to_dict()}).encode()

    def state_from_bytes(self, data: bytes):
        """Parse a state file of a model with a head; ValueError when it is not one."""
        try:
            d = json.loads(data.decode())
            if d.pop("format") != HEAD_STATE_FORMAT:
                raise ValueError
            frames = self.network.state_from_bytes(json.dumps(
                {"format": FLOAT_STATE_FORMAT, **d["frames"]}).encode())
            functionals = CausalStats.from_dict(d["functionals"])
        except (UnicodeDecodeError, json.JSONDecodeError, ValueError, KeyError,
                TypeError, AttributeError):
            raise ValueError("not a normalization state of a float model with a "
                             "statistics head") from None
        D = self.head.weight.shape[1]
        m, v = functionals.mean, functionals.var
        if (functionals.n_utterances == 0) != (m is None) or (m is not None and (
                m.shape != (D,) or v.shape != (D,) or not np.isfinite(m).all()
                or not (np.isfinite(v) & (v >= 0)).all())) \
                or functionals.n_utterances != frames.n_utterances:
            raise ValueError(f"the state's functionals are not {D} finite values heard "
                             "with its frames")
        return frames, functionals


def speaker_order(speaker: str, n: int, n_orders: int, seed: int) -> list[np.ndarray]:
    """The random orders of one speaker's n utterances (depend only on the speaker's
    id, n and the seed, so a fold and a whole-corpus evaluation agree)."""
    rng = np.random.default_rng([seed, zlib.crc32(str(speaker).encode())])
    return [rng.permutation(n) for _ in range(n_orders)]


def evaluate_protocols(scorer: Scorer, raw: Sequence[np.ndarray], labels: np.ndarray,
                       speakers: Sequence[str], n_classes: int,
                       protocols: Sequence[str] = PROTOCOLS, *,
                       n_orders: int = DEFAULT_ORDERS, seed: int = 0,
                       curve: bool = True, decisions: bool = False) -> dict[str, dict]:
    """Reports (WA, UA, macro-F1, confusion; causal: the curve over utterances heard
    too, unless ``curve`` is False) per protocol. ``decisions``: each report also lists
    every decision as [utterance index, prediction] (causal: of all its orders)."""
    unknown = sorted(set(protocols) - set(PROTOCOLS))
    if unknown:
        raise ValueError(f"unknown protocol(s) {unknown}; known: {PROTOCOLS}")
    labels = np.asarray(labels, dtype=np.int64)
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(speakers):
        groups.setdefault(str(s), []).append(i)
    out = {}
    for protocol in protocols:
        if protocol == "causal":
            out[protocol] = _causal_report(scorer, raw, labels, groups, n_classes,
                                           n_orders, seed, curve, decisions)
            continue
        pred = np.zeros(len(raw), dtype=np.int64)
        for idx in groups.values():
            if protocol == "speaker":
                logits = scorer.speaker([raw[i] for i in idx])
            else:
                logits = scorer.utterance([raw[i] for i in idx])
            pred[idx] = np.argmax(logits, axis=1)
        out[protocol] = classification_report(labels, pred, n_classes)
        if decisions:
            out[protocol]["decisions"] = [[i, int(p)] for i, p in enumerate(pred)]
    return out


def _causal_report(scorer: Scorer, raw, labels: np.ndarray, groups: dict[str, list[int]],
                   n_classes: int, n_orders: int, seed: int, curve: bool = True,
                   decisions: bool = False) -> dict:
    index, pred = [], []
    for speaker in sorted(groups):
        idx = np.asarray(groups[speaker])
        for order in speaker_order(speaker, len(idx), n_orders, seed):
            seq = idx[order]
            logits = scorer.causal([raw[i] for i in seq])
            index.append(seq)
            pred.append(np.argmax(logits, axis=1))
    index, pred = np.concatenate(index), np.concatenate(pred)
    report = classification_report(labels[index], pred, n_classes)
    if curve:
        report["by_prior"] = _curve(scorer, raw, labels, groups, n_classes, seed)
        report["ua_by_prior"] = {k: v["ua"] for k, v in report["by_prior"].items()}
    report["n_orders"] = n_orders
    if decisions:
        report["decisions"] = [[int(i), int(p)] for i, p in zip(index, pred)]
    return report


def heard_sets(speaker: str, n: int, k: int, seed: int) -> list[np.ndarray]:
    """For each of a speaker's n utterances, k of the speaker's other utterances drawn at
    random (indices into the speaker's list; depends only on speaker, n, k, seed)."""
    rng = np.random.default_rng([seed, zlib.crc32(str(speaker).encode()), k])
    return [rng.choice(np.delete(np.arange(n), i), size=k, replace=False) for i in range(n)]


def _curve(scorer: Scorer, raw, labels: np.ndarray, groups: dict[str, list[int]],
           n_classes: int, seed: int) -> dict[str, dict]:
    """Reports at every k of PRIOR_BUCKETS: each utterance after k others were heard."""
    curve = {}
    for k in PRIOR_BUCKETS:
        true, pred = [], []
        for speaker in sorted(groups):
            idx = np.asarray(groups[speaker])
            if len(idx) <= k:
                continue
            sets = heard_sets(speaker, len(idx), k, seed)
            logits = scorer.after([[raw[i] for i in idx[s]] for s in sets],
                                  [raw[i] for i in idx])
            true.append(labels[idx])
            pred.append(np.argmax(logits, axis=1))
        if true:
            curve[str(k)] = classification_report(np.concatenate(true),
                                                  np.concatenate(pred), n_classes)
    return curve


def pool_protocols(reports: Sequence[dict[str, dict]]) -> dict[str, dict]:
    """Pool per-fold protocol reports by adding their confusion matrices."""
    pooled: dict[str, dict] = {}
    for protocol in PROTOCOLS:
        parts = [r[protocol] for r in reports if protocol in r]
        if len(parts) != len(reports) or not parts:
            continue
        cm = np.sum([np.array(p["confusion"]) for p in parts], axis=0)
        entry = {**metrics_from_confusion(cm), "confusion": cm.tolist()}
        if protocol == "causal":
            by_prior = {}
            for key in map(str, PRIOR_BUCKETS):
                cms = [np.array(p["by_prior"][key]["confusion"]) for p in parts
                       if key in p["by_prior"]]
                if cms:
                    by_prior[key] = {**metrics_from_confusion(np.sum(cms, axis=0)),
                                     "confusion": np.sum(cms, axis=0).tolist()}
            entry["by_prior"] = by_prior
            entry["ua_by_prior"] = {k: v["ua"] for k, v in by_prior.items()}
            entry["n_orders"] = parts[0].get("n_orders")
        pooled[protocol] = entry
    return pooled
