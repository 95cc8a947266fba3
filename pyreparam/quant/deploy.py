"""The deployed int8 path on the host: causal normalization in integers + the C runner.

A device hears one utterance at a time. :class:`Int8Scorer` does exactly what its
firmware does: log-mel features in int16 Q8, the causal normalization state
(:mod:`pyreparam.quant.qcausal`; ``pr_norm_*`` in C) blended with the training prior
into the model's int8 input, the model (``pr_model_run``), then the state update.
Without the compiled extension it runs the NumPy integer reference (bit-identical).
It also scores the lab protocols (``speaker``, ``utterance``) by normalizing in float
and quantizing the input, as ``pyreparam quantize --eval`` does.

A device's state is the serialized state bytes (the same bytes the C state holds).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pyreparam.data.normalize import Normalizer
from pyreparam.quant import qcausal
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
        if self.use_c:
            from pyreparam.quant import ckernels
            from pyreparam.quant.runtime import PRQModel
            self._model = PRQModel(blob)
            self._apply, self._update = ckernels.norm_apply_s16_s8, ckernels.norm_update_s16
            self._init = ckernels.norm_state_init
        else:
            self._apply = lambda p, s, x: qcausal.apply(qcausal.state_from_bytes(s), p, x)
            self._update = lambda s, x: qcausal.state_to_bytes(
                qcausal.update(qcausal.state_from_bytes(s), x))
            self._init = lambda M: qcausal.state_to_bytes(qcausal.new_state(M))
        q = meta["input"]
        self.input_scale, self.input_zero_point = q["scale"], q["zero_point"]
        o = meta["output"]
        self.output_scale, self.output_zero_point = o["scale"], o["zero_point"]

    @property
    def n_bands(self) -> int:
        return int(self.meta["model_config"]["n_mels"])

    def run_int8(self, x: np.ndarray) -> np.ndarray:
        """Float logits (N,) of int8 model input (T, M), cut to T_max frames."""
        x = np.ascontiguousarray(x[:self.t_max])
        q = self._model.run(x) if self.use_c else run_program(self.program, x)
        return self.output_scale * (q.astype(np.float64) - self.output_zero_point)

    # ------------------------------------------------------------------ causal

    def new_state(self) -> bytes:
        return self._init(self.n_bands)

    def step(self, state: bytes, raw: np.ndarray) -> tuple[np.ndarray, bytes]:
        """One heard utterance: (logits, the state after it)."""
        if self.params is None:
            raise DeployError("the model has no normalization prior: causal "
                              "normalization needs a model trained with this version")
        xq = qcausal.quantize_features(raw)
        logits = self.run_int8(self._apply(self.params, state, xq))
        return logits, self._update(state, xq)

    @staticmethod
    def state_to_bytes(state: bytes) -> bytes:
        return state

    def state_from_bytes(self, data: bytes) -> bytes:
        """Validate a stored state; ValueError when it is not one of this model's."""
        try:
            qcausal.state_from_bytes(data, self.n_bands)
        except qcausal.StateError as exc:
            raise ValueError(str(exc)) from None
        return data

    def after(self, heard, raw) -> np.ndarray:
        """Logits of raw[i] once the utterances heard[i] were heard (a fresh state)."""
        out = []
        for before, x in zip(heard, raw):
            state = self.new_state()
            for h in before:
                state = self._update(state, qcausal.quantize_features(h))
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
        """Logits (n, N) of utterances already normalized in float."""
        return np.array([self.run_int8(quantize_input(f, self.input_scale,
                                                      self.input_zero_point))
                         for f in features])

    def speaker(self, raw):
        return self.normalized(Normalizer("speaker", self.min_std).apply(
            list(raw), ["speaker"] * len(raw)))

    def utterance(self, raw):
        return self.normalized(Normalizer("utterance", self.min_std).apply(list(raw)))
