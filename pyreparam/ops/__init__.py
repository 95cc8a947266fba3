"""Pure NumPy operations, each a forward/backward pair with an explicit cache.

``<op>_forward(...) -> (y, cache)`` and ``<op>_backward(dy, cache) -> gradients`` in
the order of the forward's differentiable inputs. The equations of every op are
written out in ``reference/``; every backward is checked by finite differences and
against PyTorch golden vectors in ``tests/``.
"""
from pyreparam.ops.activations import (
    gelu_backward, gelu_forward, glu_backward, glu_forward, relu_backward, relu_forward,
    sigmoid_backward, sigmoid_forward, softmax_backward, softmax_forward, swish_backward,
    swish_forward)
from pyreparam.ops.attention import (
    attention_backward, attention_forward, merge_heads, mha_backward, mha_forward, split_heads)
from pyreparam.ops.conv import (
    conv1d_backward, conv1d_forward, conv1d_output_length, conv1d_output_mask,
    depthwise_conv1d_backward, depthwise_conv1d_forward)
from pyreparam.ops.dropout import dropout_backward, dropout_forward
from pyreparam.ops.linear import linear_backward, linear_forward
from pyreparam.ops.loss import cross_entropy_backward, cross_entropy_forward
from pyreparam.ops.norm import (
    batchnorm_backward, batchnorm_forward, batchnorm_update_running, layernorm_backward,
    layernorm_forward)
from pyreparam.ops.optim import (
    AdamWState, adamw_init, adamw_step, clip_grad_norm, warmup_cosine_lr)
from pyreparam.ops.pooling import (
    avgpool_merge_backward, avgpool_merge_forward, masked_mean_backward, masked_mean_forward)
from pyreparam.ops.position import (
    positional_encoding_backward, positional_encoding_forward, sinusoidal_table)

__all__ = [  # the re-exports above, spelled out for readers and linters
    "AdamWState", "adamw_init", "adamw_step", "attention_backward", "attention_forward",
    "avgpool_merge_backward", "avgpool_merge_forward", "batchnorm_backward",
    "batchnorm_forward", "batchnorm_update_running", "clip_grad_norm", "conv1d_backward",
    "conv1d_forward", "conv1d_output_length", "conv1d_output_mask",
    "cross_entropy_backward", "cross_entropy_forward", "depthwise_conv1d_backward",
    "depthwise_conv1d_forward", "dropout_backward", "dropout_forward", "gelu_backward",
    "gelu_forward", "glu_backward", "glu_forward", "layernorm_backward",
    "layernorm_forward", "linear_backward", "linear_forward", "masked_mean_backward",
    "masked_mean_forward", "merge_heads", "mha_backward", "mha_forward",
    "positional_encoding_backward", "positional_encoding_forward", "relu_backward",
    "relu_forward", "sigmoid_backward", "sigmoid_forward", "sinusoidal_table",
    "softmax_backward", "softmax_forward", "split_heads", "swish_backward",
    "swish_forward", "warmup_cosine_lr"]
