"""Model configurations: one frozen dataclass per backbone, serializable to JSON.

The size presets are the project's light and large configurations (README, "The
backbones"). Every
field can be overridden, which the tests use to build tiny models.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, ClassVar

BACKBONES = ("convtransformer", "conformer", "speechformer")
SIZES = ("light", "large")

#: Places an HRF chain can be inserted (reference/hrf.md): the paper's site before
#: the first FFN linear, and the extra exact sites beyond the paper.
HRF_SITES = ("ffn", "attn_in", "attn_out", "conv_pw")
HRF_INITS = ("xavier", "identity")
#: Utterance pooling before the classifier: the masked mean (width C), or statistics
#: pooling, the mean and standard deviation of every channel (width 2 C).
POOLINGS = ("mean", "stats")


@dataclass(frozen=True)
class HRFConfig:
    """Training-time HRF factors.

    Parameters
    ----------
    r : int
        Expansion: every factor is r times as wide as the layer's input (r_i = r C_in).
    k : int
        Number of factors in each chain (H_k ... H_1), 1 to 3. The folds themselves take
        any k (the C kernel up to 8): 3 bounds the training cost, which grows with each
        factor of width r C, and the paper's and ExpandNets' chains are short.
    bias : bool
        Whether each factor has a bias c_i.
    init : {"xavier", "identity"}
        Xavier-uniform factors, or identity-preserving ones: random semi-orthogonal
        factors H_i (H_i^T H_i = I, zero biases) and the layer set to W' = W (H_k ...
        H_1)^T for a Xavier-drawn W, so that W' H_k ... H_1 = W and training starts
        from exactly the function of the model without HRF
        (:func:`pyreparam.models.layers.init_linear`).
    sites : tuple of str
        Which linear maps get a chain: "ffn" (default, the paper), "attn_in" (before
        Q/K/V), "attn_out" (before the output projection), "conv_pw" (the Conformer's
        pointwise convolutions).
    """

    r: int = 4
    k: int = 1
    bias: bool = True
    init: str = "xavier"
    sites: tuple[str, ...] = ("ffn",)

    def __post_init__(self):
        if self.r not in (1, 2, 4, 8):
            raise ValueError(f"HRF expansion r must be 1, 2, 4 or 8, got {self.r}")
        if self.k not in (1, 2, 3):
            raise ValueError(f"HRF factor count k must be 1, 2 or 3, got {self.k}")
        if self.init not in HRF_INITS:
            raise ValueError(f"HRF init must be one of {HRF_INITS}, got {self.init!r}")
        sites = tuple(self.sites)
        if not sites:
            raise ValueError("HRF needs at least one site")
        unknown = sorted(set(sites) - set(HRF_SITES))
        if unknown:
            raise ValueError(f"unknown HRF site(s) {unknown}; choose from {HRF_SITES}")
        object.__setattr__(self, "sites", tuple(s for s in HRF_SITES if s in sites))


@dataclass(frozen=True)
class _BaseConfig:
    """Fields shared by every backbone."""

    backbone: ClassVar[str] = ""
    size: str = "light"
    n_mels: int = 64
    n_classes: int = 4
    dropout: float = 0.1
    hrf: HRFConfig | None = None
    pooling: str = "mean"          # over valid frames: mean, or stats (mean and std)

    def __post_init__(self):
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {self.n_classes}")
        if self.n_mels < 1:
            raise ValueError(f"n_mels must be positive, got {self.n_mels}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.hrf is not None and "conv_pw" in self.hrf.sites and self.backbone != "conformer":
            raise ValueError("HRF site conv_pw exists only in the Conformer "
                             "(its pointwise convolutions)")
        width, heads = getattr(self, "width"), getattr(self, "heads")
        if width < 1 or heads < 1 or width % heads:
            raise ValueError(f"width {width} must be a positive multiple of heads {heads}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["backbone"] = self.backbone
        if self.hrf is not None:
            d["hrf"]["sites"] = list(self.hrf.sites)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def without_hrf(self) -> "_BaseConfig":
        return dataclasses.replace(self, hrf=None)

    @property
    def pooled_width(self) -> int:
        """Width of the pooled utterance vector (the classifier's input)."""
        width = self.stage_widths()[-1] if hasattr(self, "stage_widths") else self.width
        return width * (2 if self.pooling == "stats" else 1)


@dataclass(frozen=True)
class ConvTransformerConfig(_BaseConfig):
    """x4 Conv1d subsampling, sinusoidal positions, L pre-LN encoder layers (GELU FFN)."""

    backbone: ClassVar[str] = "convtransformer"
    width: int = 64
    layers: int = 2
    heads: int = 4
    ffn: int = 128


@dataclass(frozen=True)
class ConformerConfig(_BaseConfig):
    """x4 Conv1d subsampling, sinusoidal positions, L Conformer blocks (Swish FFN)."""

    backbone: ClassVar[str] = "conformer"
    width: int = 64
    layers: int = 2
    heads: int = 4
    ffn: int = 256
    conv_kernel: int = 15


@dataclass(frozen=True)
class SpeechFormerConfig(_BaseConfig):
    """Hierarchical frame -> phoneme -> word -> utterance stages with local attention."""

    backbone: ClassVar[str] = "speechformer"
    width: int = 64
    layers: tuple[int, ...] = (1, 1, 1, 1)
    heads: int = 4
    ffn: int = 32
    windows: tuple[int, ...] = (5, 9, 9, 0)     # 0: global attention
    merges: tuple[int, ...] = (5, 5, 4)         # average-pool group sizes
    expand: tuple[int, ...] = (1, 1, 1)         # merge block widths: C -> e C

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "windows", tuple(self.windows))
        object.__setattr__(self, "merges", tuple(self.merges))
        object.__setattr__(self, "expand", tuple(self.expand))
        super().__post_init__()
        n = len(self.layers)
        if self.stage_widths()[-1] < 4:
            raise ValueError("SpeechFormer's head needs a final width of at least 4 (C/4 >= 1)")
        if any(w < 0 or (w and w % 2 == 0) for w in self.windows):
            raise ValueError(f"attention windows must be odd (or 0 = global), got {self.windows}")
        if len(self.windows) != n or len(self.merges) != n - 1 or len(self.expand) != n - 1:
            raise ValueError("SpeechFormer needs one window per stage and one merge "
                             "(and one expansion) between consecutive stages")

    def stage_widths(self) -> list[int]:
        widths = [self.width]
        for e in self.expand:
            widths.append(widths[-1] * e)
        return widths


CONFIG_CLASSES: dict[str, type[_BaseConfig]] = {
    "convtransformer": ConvTransformerConfig,
    "conformer": ConformerConfig,
    "speechformer": SpeechFormerConfig,
}

# SpeechFormer's FFN is a bottleneck of width C / 2.
PRESETS: dict[tuple[str, str], dict[str, Any]] = {
    ("convtransformer", "light"): dict(width=64, layers=2, heads=4, ffn=128),
    ("convtransformer", "large"): dict(width=256, layers=6, heads=8, ffn=1024),
    ("conformer", "light"): dict(width=64, layers=2, heads=4, ffn=256),
    ("conformer", "large"): dict(width=144, layers=8, heads=4, ffn=576),
    ("speechformer", "light"): dict(width=64, layers=(1, 1, 1, 1), heads=4, ffn=32),
    ("speechformer", "large"): dict(width=128, layers=(2, 2, 4, 4), heads=8, ffn=64,
                                    n_mels=128),
}

ModelConfig = ConvTransformerConfig | ConformerConfig | SpeechFormerConfig


def make_config(backbone: str, size: str = "light", **overrides: Any) -> ModelConfig:
    """The preset configuration of a backbone and size, with optional overrides."""
    if backbone not in CONFIG_CLASSES:
        raise ValueError(f"unknown backbone {backbone!r}; choose from {BACKBONES}")
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose from {SIZES}")
    fields = dict(PRESETS[(backbone, size)], size=size)
    fields.update(overrides)
    return CONFIG_CLASSES[backbone](**fields)


def config_from_dict(d: dict[str, Any]) -> ModelConfig:
    """Inverse of ``config.to_dict()``; rejects unknown backbones and fields."""
    d = dict(d)
    backbone = d.pop("backbone", None)
    if backbone not in CONFIG_CLASSES:
        raise ValueError(f"unknown backbone {backbone!r} in model config")
    cls = CONFIG_CLASSES[backbone]
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"unknown field(s) {unknown} in {backbone} config")
    if d.get("hrf") is not None:
        hrf = dict(d["hrf"])
        hrf["sites"] = tuple(hrf.get("sites", ("ffn",)))
        d["hrf"] = HRFConfig(**hrf)
    return cls(**d)


def config_from_json(text: str) -> ModelConfig:
    return config_from_dict(json.loads(text))
