"""int8 quantization: fixed-point primitives and the NumPy integer reference.

Modules
-------
fixedpoint    multipliers/shifts and their rounding (SRDHM, RDBP, MBQM)
qlinear       linear, batched matmul, conv1d, depthwise conv1d
qnorm         softmax and LayerNorm, with their offline table/parameter builders
qelementwise  lookup tables, residual add, requantize, multiply, pooling
cops          checked cffi wrappers of the C kernels (same signatures)

The NumPy functions are the oracle; the C kernels in csrc/pr_*_s8.c must agree bit
for bit (tests/test_quant_ops.py). reference/int8.md writes out the arithmetic.
"""
