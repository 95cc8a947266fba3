"""Export a merged float pyreparam model to ONNX: batch 1, a fixed number of frames.

    python tools/export_onnx.py MODEL.npz -o model.onnx [--frames 300]
    python tools/export_onnx.py --config convtransformer:light [--seed 0] -o model.onnx

Method: the weights go into the independent PyTorch twin (tools/torch_twin.py,
tested against pyreparam in tests/test_torch_twin.py), and a *deployment* forward of
each backbone is traced with torch's TorchScript-based exporter (``dynamo=False``;
torch 2.13 still ships it and it needs no onnxscript). The deployment forward is
the twin's eval-mode computation specialised to what a batch-1 inference graph
needs, written so that ONNX Runtime gets a clean graph:

* no mask (batch 1 has no padding): no zeroing of padded frames, no key-padding
  mask, no masked BatchNorm (plain eval-mode BatchNorm, which ORT fuses into the
  depthwise Conv), plain means for pooling;
* the sinusoidal position table, SpeechFormer's local-window score bias (0 inside the
  window, -inf outside, as in pyreparam) and its merge group counts are constants of
  the fixed frame count.

Input ``features`` (1, T, M) float32 normalized log-mel frames; output ``logits``
(1, N) float32. A model with HRF factors is merged first (deHRF); the ONNX graph is
always the merged, deployable model. Verified against ``Model.predict_logits`` by
tests/test_onnx_export.py. This is a tools/ module; pyreparam never imports it.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_twin import (  # noqa: E402
    Conformer, ConvTransformer, SpeechFormer, SelfAttention, build_twin, load_from_numpy,
    sinusoidal_positions)

from pyreparam.models import Model, build_model, load_checkpoint, make_config  # noqa: E402
from pyreparam.reparam import merge  # noqa: E402

DEFAULT_FRAMES = 300        # 3 s at 100 frames per second
DEFAULT_OPSET = 17          # LayerNormalization is a single op from opset 17 on
INPUT_NAME, OUTPUT_NAME = "features", "logits"


# --------------------------------------------------------------------------- pieces

def attention(attn: SelfAttention, x: torch.Tensor,
              bias: torch.Tensor | None = None) -> torch.Tensor:
    """Multi-head self-attention of one utterance, (1, T, C) -> (1, T, C).

    ``bias`` (T, T) is added to the scores (0 = allowed, -inf = excluded key).
    """
    B, T, C = x.shape
    H = attn.heads
    D = attn.out.out_features // H          # a Python int: no shape arithmetic traced
    q, k, v = attn.qkv(x).view(B, T, 3, H, D).permute(2, 0, 3, 1, 4)    # (B, H, T, D)
    scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(D))  # (B, H, T, T)
    if bias is not None:
        scores = scores + bias
    ctx = torch.matmul(torch.softmax(scores, dim=-1), v)                 # (B, H, T, D)
    return attn.out(ctx.transpose(1, 2).reshape(B, T, C))


def subsample(twin: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Two Conv1d(k3, s2) + ReLU over time: (1, T, M) -> (1, T2, C)."""
    h = x.transpose(1, 2)                                                # (B, M, T)
    h = F.relu(twin.subsample.conv1(h))
    h = F.relu(twin.subsample.conv2(h))                                  # (B, C, T2)
    return h.transpose(1, 2)                                             # (B, T2, C)


def window_bias(T: int, window: int) -> torch.Tensor:
    """(T, T) score bias of a local window: 0 where |t - j| <= window // 2, else -inf."""
    t = torch.arange(T)
    band = (t[:, None] - t[None, :]).abs() <= window // 2
    return torch.zeros(T, T).masked_fill(~band, float("-inf"))


def group_counts(T: int, group: int) -> torch.Tensor:
    """Frames in each of the ceil(T / g) merge groups (the last may be shorter), (T', 1)."""
    starts = torch.arange(0, T, group)
    return (torch.clamp(T - starts, max=group).to(torch.float32))[:, None]


# --------------------------------------------------------------------------- backbones

class ConvTransformerDeploy(nn.Module):
    """Batch-1 eval forward of the twin's ConvTransformer (no masks)."""

    def __init__(self, twin: ConvTransformer, frames: int):
        super().__init__()
        self.twin = twin
        T2 = (((frames - 1) // 2 + 1) - 1) // 2 + 1
        C = twin.final_norm.normalized_shape[0]
        self.register_buffer("pe", sinusoidal_positions(T2, C, torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = subsample(self.twin, x) + self.pe                            # (1, T2, C)
        for layer in self.twin.layers:
            h = h + attention(layer.attn, layer.attn_norm(h))
            h = h + layer.ffn(layer.ffn_norm(h))
        return self.twin.classifier(self.twin.final_norm(h).mean(1))     # (1, N)


class ConformerDeploy(nn.Module):
    """Batch-1 eval forward of the twin's Conformer (BatchNorm on running statistics)."""

    def __init__(self, twin: Conformer, frames: int):
        super().__init__()
        self.twin = twin
        T2 = (((frames - 1) // 2 + 1) - 1) // 2 + 1
        C = twin.classifier.in_features
        self.register_buffer("pe", sinusoidal_positions(T2, C, torch.float32))

    @staticmethod
    def conv_module(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
        h = F.glu(conv.pw1(x), dim=-1).transpose(1, 2)                   # (1, C, T2)
        bn = conv.bn
        h = F.batch_norm(conv.dw(h), bn.running_mean, bn.running_var, bn.weight, bn.bias,
                         False, 0.0, bn.eps)
        return conv.pw2(F.silu(h).transpose(1, 2))                       # (1, T2, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = subsample(self.twin, x) + self.pe                            # (1, T2, C)
        for b in self.twin.blocks:
            h = h + 0.5 * b.ffn1(b.ffn1_norm(h))
            h = h + attention(b.attn, b.attn_norm(h))
            h = h + self.conv_module(b.conv, b.conv_norm(h))
            h = h + 0.5 * b.ffn2(b.ffn2_norm(h))
            h = b.final_norm(h)
        return self.twin.classifier(h.mean(1))                           # (1, N)


class SpeechFormerDeploy(nn.Module):
    """Batch-1 eval forward of the twin's SpeechFormer (window biases, group counts)."""

    def __init__(self, twin: SpeechFormer, frames: int):
        super().__init__()
        self.twin = twin
        C = twin.stages[0].norm.normalized_shape[0]
        self.register_buffer("pe", sinusoidal_positions(frames, C, torch.float32))
        self.lengths = [frames]                 # tokens per stage, Python ints
        for s, stage in enumerate(twin.stages):
            T = self.lengths[s]
            if stage.window:
                self.register_buffer(f"window_bias{s}", window_bias(T, stage.window))
            if s < len(twin.merges):
                g = twin.merges[s].group
                self.register_buffer(f"counts{s}", group_counts(T, g))
                self.lengths.append(-(-T // g))

    def merge(self, s: int, x: torch.Tensor) -> torch.Tensor:
        """Average groups of g frames (the last group over its own frames), Linear, LN."""
        m = self.twin.merges[s]
        pad = -self.lengths[s] % m.group
        if pad:
            x = F.pad(x, (0, 0, 0, pad))                                 # (1, T' g, C)
        x = x.reshape(1, self.lengths[s + 1], m.group, x.shape[-1]).sum(2)  # (1, T', C)
        return m.norm(m.proj(x / getattr(self, f"counts{s}")))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tw = self.twin
        h = tw.input_proj(x) if tw.input_proj is not None else x         # (1, T, C)
        h = tw.stages[0].norm(h + self.pe)
        for s, stage in enumerate(tw.stages):
            bias = getattr(self, f"window_bias{s}") if stage.window else None
            for layer in stage.layers:
                h = layer.attn_norm(h + attention(layer.attn, h, bias))
                h = layer.ffn_norm(h + layer.ffn(h))
            if s < len(tw.merges):
                h = self.merge(s, h)                                     # (1, T/g, eC)
        return tw.head(h.mean(1))                                        # (1, N)


DEPLOY = {"convtransformer": ConvTransformerDeploy, "conformer": ConformerDeploy,
          "speechformer": SpeechFormerDeploy}


# --------------------------------------------------------------------------- API

def merged_model(model: Model) -> Model:
    """The model itself when it has no HRF factors, else its deHRF merge."""
    return model if model.config.hrf is None else merge(model)


def deploy_module(model: Model, frames: int = DEFAULT_FRAMES) -> nn.Module:
    """The float32 batch-1 deployment module of a (merged) pyreparam model."""
    model = merged_model(model)
    twin = build_twin(model.config, torch.float32)
    load_from_numpy(twin, model.params, model.buffers)
    return DEPLOY[model.config.backbone](twin.eval(), frames).eval()


def export_onnx(model: Model, path, frames: int = DEFAULT_FRAMES,
                opset: int = DEFAULT_OPSET) -> Path:
    """Write the ONNX graph of ``model`` for input (1, frames, n_mels) float32 to ``path``."""
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    module = deploy_module(model, frames)
    x = torch.zeros(1, frames, model.config.n_mels)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        # the legacy exporter announces its own deprecation; shapes are fixed here
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), str(path), dynamo=False, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          do_constant_folding=True)
    return path


def model_from_args(checkpoint: str | None, config: str | None, seed: int = 0,
                    n_classes: int = 7) -> Model:
    """A checkpoint, or the preset ``BACKBONE:SIZE`` with random weights from ``seed``."""
    if checkpoint is not None:
        return load_checkpoint(checkpoint)
    backbone, _, size = config.partition(":")
    return build_model(make_config(backbone, size or "light", n_classes=n_classes), seed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("checkpoint", nargs="?", help="a pyreparam checkpoint (.npz)")
    source.add_argument("--config", help="BACKBONE:SIZE with random weights, e.g. "
                                         "conformer:large")
    parser.add_argument("--seed", type=int, default=0, help="weights of --config")
    parser.add_argument("--n-classes", type=int, default=7, help="classes of --config")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES)
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    parser.add_argument("-o", "--output", required=True, help="ONNX file to write")
    args = parser.parse_args(argv)
    model = model_from_args(args.checkpoint, args.config, args.seed, args.n_classes)
    path = export_onnx(model, args.output, args.frames, args.opset)
    print(f"wrote {path}: {model.config.backbone} {model.config.size}, input "
          f"{INPUT_NAME} (1, {args.frames}, {model.config.n_mels}) float32, output "
          f"{OUTPUT_NAME} (1, {model.config.n_classes}), {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
