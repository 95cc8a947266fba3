"""The three backbones (ConvTransformer, Conformer, SpeechFormer), light and large,
with optional HRF factors; configs, the model object, checkpoints and cost counts."""
from pyreparam.models.checkpoint import (
    CheckpointError, load_checkpoint, load_checkpoint_with_meta, save_checkpoint)
from pyreparam.models.config import (
    BACKBONES, HRF_SITES, SIZES, HRFConfig, ModelConfig, config_from_dict, config_from_json,
    make_config)
from pyreparam.models.cost import count_macs, macs_per_second
from pyreparam.models.model import Model, build_model

__all__ = [
    "BACKBONES", "HRF_SITES", "SIZES", "CheckpointError", "HRFConfig", "Model", "ModelConfig",
    "build_model", "config_from_dict", "config_from_json", "count_macs", "load_checkpoint",
    "load_checkpoint_with_meta", "macs_per_second", "make_config", "save_checkpoint",
]
