"""The deployed int8 path on the host: causal normalization in integers + the C runner.

A device hears one utterance at a time. :class:`Int8Scorer` does exactly what its
firmware does: log-mel features in int16 Q8, the causal normalization state
(:mod:`pyreparam.quant.qcausal`; ``pr_norm_*`` in C) blended with the training prior
into the model's int8 input, the model (``pr_model_run``), then the state update.
Without the compiled extension it runs the NumPy integer reference (bit-identical).
It also scores the lab protocols (``speaker``, ``utterance``) by normalizing in float
and quantizing the input, as ``pyreparam quantize --eval`` does.

A device's state is the serialized state bytes (the same bytes the C state holds).

A .prq whose host metadata carries a statistics head (``meta["head"]``,
:mod:`pyreparam.quant.qhead`; ``pyreparam quantize`` of a model trained with
``--stats-head``) decides as the device would with it: the integer functionals of the
utterance's int16 frames (the first T_max, as the network's), z-scored with the head's
own causal state, the int8 head and the mix of the two softmaxes (``pr_head_*``). Its
state is the frames' state bytes followed by the head's (both self-describing). When
the head reads more channels than the network (``--pitch-head-only``: the pitch
channels feed the head alone), the network and its state see the mel bands.
"""
from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from pyreparam.audio.features import network_input
from pyreparam.data.normalize import Normalizer
from pyreparam.quant import qcausal, qhead
from pyreparam.models.stats_head import zscore_speaker
from pyreparam.quant.fixedpoint import quantize
from pyreparam.quant.qmodel import quantize_input, run_program


class DeployError(ValueError):
    """A model or state file that the deployed path cannot use."""


def norm_params_from_meta(meta: dict) -> qcausal.NormParams:
    """Integer constants of the causal rule from a .prq's host metadata."""
    state = {k: np.asarray(v) for k, v in meta["normalizer"].items()}
    normalizer = Normalizer.from_dict(state)
    if not normalizer.has_prior:
        raise DeployError("the model has no normalization prior (quantized from a model "
                          "trained before causal normalization existed): retrain it")
    return qcausal.norm_params(normalizer.prior_mean, normalizer.prior_var,
                               normalizer.prior_weight, meta["input"]["scale"],
                               meta["input"]["zero_point"], min_std=normalizer.min_std)


class Int8Scorer:
    """A .prq through the C runner (or the NumPy reference), with the device's rule.

    Parameters
    ----------
    program, meta, blob : the parsed .prq (``pyreparam.quant.prq.load_prq``)
    use_c : bool or None
        None: the C runtime when the extension is built.
    """

    def __init__(self, program, meta: dict, blob: bytes, use_c: bool | None = None):
        from pyreparam import native
        self.program, self.meta = program, meta
        self.use_c = native.available() if use_c is None else use_c
        self.t_max = program.t_max
        prior = meta["normalizer"].get("prior_mean")
        self.params = norm_params_from_meta(meta) if prior is not None and len(prior) else None
        self.min_std = float(meta["normalizer"].get("min_std", 1e-3))
        self.head = None
        if "head" in meta:
            try:
                self.head = qhead.from_meta(meta["head"], len(meta["classes"]))
            except qhead.HeadMetaError as exc:
                raise DeployError(str(exc)) from None
        if self.use_c:
            from pyreparam.quant import ckernels
            from pyreparam.quant.runtime import PRQModel
            self._model = PRQModel(blob)
            self._apply, self._update = ckernels.norm_apply_s16_s8, ckernels.norm_update_s16
            self._init = ckernels.norm_state_init
            self._features = ckernels.head_features_s16
            self._decide = ckernels.head_decide_s8
        else:
            self._apply = lambda p, s, x: qcausal.apply(qcausal.state_from_bytes(s), p, x)
            self._update = lambda s, x: qcausal.state_to_bytes(
                qcausal.update(qcausal.state_from_bytes(s), x))
            self._init = lambda M: qcausal.state_to_bytes(qcausal.new_state(M))
            self._features, self._decide = qhead.features, qhead.decide
        q = meta["input"]
        self.input_scale, self.input_zero_point = q["scale"], q["zero_point"]
        o = meta["output"]
        self.output_scale, self.output_zero_point = o["scale"], o["zero_point"]

    @property
    def n_bands(self) -> int:
        return int(self.meta["model_config"]["n_mels"])

    def _bands(self, x: np.ndarray) -> np.ndarray:
        """The network's channels of frames x (contiguous, for the C kernels)."""
        return np.ascontiguousarray(network_input(x, self.n_bands))

    def run_q(self, x: np.ndarray) -> np.ndarray:
        """int8 logits (N,) of int8 model input (T, M), cut to T_max frames."""
        x = np.ascontiguousarray(x[:self.t_max])
        return self._model.run(x) if self.use_c else run_program(self.program, x)

    def run_int8(self, x: np.ndarray) -> np.ndarray:
        """Float logits (N,) of int8 model input (T, M), cut to T_max frames."""
        return self.output_scale * (self.run_q(x).astype(np.float64)
                                    - self.output_zero_point)

    # ------------------------------------------------------------------ the head

    def head_features(self, xq: np.ndarray) -> np.ndarray:
        """g (D,) int16: the head's input from the first T_max int16 Q8 frames."""
        return self._features(self.head, np.ascontiguousarray(xq[:self.t_max]))

    def _decision(self, q: np.ndarray, z: np.ndarray | None) -> np.ndarray:
        """Float logits of int8 network logits q, decided with the head's int8 z."""
        if self.head is None:
            return self.output_scale * (q.astype(np.float64) - self.output_zero_point)
        return qhead.decision_logits(self._decide(self.head, z, q))

    # ------------------------------------------------------------------ causal

    def new_state(self) -> bytes:
        state = self._init(self.n_bands)
        return state if self.head is None else state + self._init(self.head.n_features)

    def _split(self, state: bytes) -> tuple[bytes, bytes]:
        n = qcausal.state_bytes(self.n_bands)
        return state[:n], state[n:]

    def _hear(self, state: bytes, xq: np.ndarray, g: np.ndarray | None = None) -> bytes:
        """The state after hearing int16 Q8 frames xq (its head features g when already
        computed)."""
        frames, functionals = self._split(state)
        frames = self._update(frames, self._bands(xq))
        if self.head is None:
            return frames
        g = self.head_features(xq) if g is None else g
        return frames + self._update(functionals, g[None, :])

    def step(self, state: bytes, raw: np.ndarray) -> tuple[np.ndarray, bytes]:
        """One heard utterance: (logits, the state after it)."""
        if self.params is None:
            raise DeployError("the model has no normalization prior: causal "
                              "normalization needs a model trained with this version")
        frames, functionals = self._split(state)
        xq = qcausal.quantize_features(raw)
        q = self.run_q(self._apply(self.params, frames, self._bands(xq)))
        g = z = None
        if self.head is not None:
            g = self.head_features(xq)
            z = self._apply(self.head.norm, functionals, g[None, :])[0]
        return self._decision(q, z), self._hear(state, xq, g)

    @staticmethod
    def state_to_bytes(state: bytes) -> bytes:
        return state

    def state_from_bytes(self, data: bytes) -> bytes:
        """Validate a stored state; ValueError when it is not one of this model's."""
        frames, functionals = self._split(data)
        try:
            qcausal.state_from_bytes(frames, self.n_bands)
            if self.head is not None:
                qcausal.state_from_bytes(functionals, self.head.n_features)
                if struct.unpack_from("<I", frames, 12) != struct.unpack_from(
                        "<I", functionals, 12):
                    raise qcausal.StateError("the head's state has heard another number "
                                             "of utterances than the frames' state")
            elif functionals:
                raise qcausal.StateError("normalization state has a bad size")
        except qcausal.StateError as exc:
            raise ValueError(str(exc)) from None
        return data

    def after(self, heard, raw) -> np.ndarray:
        """Logits of raw[i] once the utterances heard[i] were heard (a fresh state)."""
        out = []
        for before, x in zip(heard, raw):
            state = self.new_state()
            for h in before:
                state = self._hear(state, qcausal.quantize_features(h))
            out.append(self.step(state, x)[0])
        return np.array(out)

    def causal(self, raw: Sequence[np.ndarray]) -> np.ndarray:
        state, out = self.new_state(), []
        for x in raw:
            logits, state = self.step(state, x)
            out.append(logits)
        return np.array(out)

    # ------------------------------------------------------------------ lab protocols

    def normalized(self, features: Sequence[np.ndarray]) -> np.ndarray:
        """Logits (n, N) of utterances already normalized in float (the network alone)."""
        if self.head is not None:
            raise TypeError("a model with a statistics head needs raw features (its head "
                            "z-scores their functionals): use speaker, utterance or causal")
        return np.array([self.run_int8(quantize_input(self._bands(f),
                                                      self.input_scale,
                                                      self.input_zero_point))
                         for f in features])

    def _lab(self, features, Z) -> np.ndarray:
        """Logits of float-normalized frames and (head) float z-scores Z (n, D)."""
        q = [self.run_q(quantize_input(self._bands(f), self.input_scale,
                                       self.input_zero_point)) for f in features]
        if self.head is None:
            return np.array([self._decision(x, None) for x in q])
        Zq = quantize(Z, self.head.z_scale, 0)
        return np.array([self._decision(x, z) for x, z in zip(q, Zq)])

    def _head_values(self, raw) -> np.ndarray | None:
        """The head's features of each utterance as float values g / 2^8 (n, D)."""
        if self.head is None:
            return None
        return np.stack([self.head_features(qcausal.quantize_features(x))
                         for x in raw]).astype(np.float64) / 256

    def speaker(self, raw):
        G = self._head_values(raw)
        Z = None if G is None else zscore_speaker(G, 2.0**-8)
        return self._lab(Normalizer("speaker", self.min_std).apply(
            [self._bands(x) for x in raw], ["speaker"] * len(raw)), Z)

    def utterance(self, raw):
        G = self._head_values(raw)
        Z = None
        if G is not None:                  # the prior alone, as the integer rule at n = 0
            n = self.head.norm
            std = np.sqrt(np.maximum(n.prior_var, n.var_floor) / 2.0**16)
            Z = (G - n.prior_mean / 2.0**16) / std
        return self._lab(Normalizer("utterance", self.min_std).apply(
            [self._bands(x) for x in raw]), Z)
