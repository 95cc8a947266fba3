"""The model object: a config, a flat parameter dict and buffers, around pure functions.

    model = build_model(make_config("conformer", "light", hrf=HRFConfig()), seed=0)
    logits, cache = model.forward(x, mask, train=True, rng=rng)
    grads = model.backward(dlogits, cache)        # {name: dL/dparam}

The object is thin on purpose: the math is in the backbone modules
(:mod:`pyreparam.models.convtransformer`, ``conformer``, ``speechformer``) as
forward/backward pairs, and every parameter is addressable by name, which is what
the merge, the optimizer and the checkpoints work on.
"""
from __future__ import annotations

import dataclasses
from types import ModuleType

import numpy as np

from pyreparam.models import conformer, convtransformer, speechformer
from pyreparam.models.config import ModelConfig
from pyreparam.models.layers import Context, Params

BACKBONE_MODULES: dict[str, ModuleType] = {
    "convtransformer": convtransformer,
    "conformer": conformer,
    "speechformer": speechformer,
}


@dataclasses.dataclass
class Model:
    """A backbone's configuration, trainable parameters and non-trainable buffers.

    Attributes
    ----------
    config : ModelConfig
    params : dict of str -> ndarray
        Trainable parameters by dotted name.
    buffers : dict of str -> ndarray
        Non-trainable state (BatchNorm running statistics).
    merged_from : dict or None
        For a model produced by :func:`pyreparam.reparam.merge`, the HRF settings it
        was merged from; None otherwise.
    """

    config: ModelConfig
    params: Params
    buffers: Params = dataclasses.field(default_factory=dict)
    merged_from: dict | None = None

    @property
    def module(self) -> ModuleType:
        return BACKBONE_MODULES[self.config.backbone]

    @property
    def dtype(self) -> np.dtype:
        return next(iter(self.params.values())).dtype

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None, *, train: bool = False,
                rng: np.random.Generator | None = None):
        """Logits (B, N) and the cache for :meth:`backward`.

        In train mode dropout is active (it needs ``rng``) and BatchNorm uses batch
        statistics; the running statistics are then updated in ``self.buffers``.
        """
        if train and self.config.dropout > 0 and rng is None:
            raise ValueError("training mode with dropout needs a numpy Generator (rng)")
        x = np.asarray(x)
        if x.ndim != 3 or x.shape[-1] != self.config.n_mels:
            raise ValueError(f"input must be (B, T, {self.config.n_mels}) log-mel frames, "
                             f"got shape {x.shape}")
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != x.shape[:2]:
                raise ValueError(f"mask shape {mask.shape} does not match input {x.shape[:2]}")
            if not mask[:, 0].all():
                raise ValueError("every utterance needs at least one valid frame "
                                 "(padding is a tail: mask[:, 0] must be True)")
            x = np.where(mask[..., None], x, 0)   # padding contents never enter the model
        ctx = Context(train, rng, self.config.dropout if train else 0.0)
        logits, cache = self.module.forward(self.params, self.buffers, self.config,
                                            x.astype(self.dtype, copy=False), mask, ctx)
        self.buffers.update(cache.buffer_updates)
        return logits, cache

    def backward(self, dlogits: np.ndarray, cache) -> Params:
        """Gradients of all parameters (by name) given dL/dlogits (B, N)."""
        return self.module.backward(dlogits, cache)

    def predict_logits(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Eval-mode logits (B, N)."""
        return self.forward(x, mask, train=False)[0]

    def n_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def astype(self, dtype) -> "Model":
        """A copy with parameters and buffers in ``dtype``."""
        cast = lambda d: {k: v.astype(dtype) for k, v in d.items()}
        return dataclasses.replace(self, params=cast(self.params), buffers=cast(self.buffers))

    def copy(self) -> "Model":
        return self.astype(self.dtype)


def build_model(config: ModelConfig, seed: int | np.random.Generator = 0,
                dtype=np.float32) -> Model:
    """A freshly initialized model for ``config`` (parameters drawn from ``seed``)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    module = BACKBONE_MODULES[config.backbone]
    params, buffers = module.init_params(config, rng, dtype)
    return Model(config, params, buffers)
