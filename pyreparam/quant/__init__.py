"""int8 quantization: fixed-point primitives, the whole-model quantizer, the NumPy
integer reference and the C model runner's Python side.

Modules
-------
fixedpoint    multipliers/shifts and their rounding (SRDHM, RDBP, MBQM)
qlinear       linear, batched matmul, conv1d, depthwise conv1d
qnorm         softmax and LayerNorm, with their offline table/parameter builders
qelementwise  lookup tables, residual add, requantize, multiply, pooling
qfrontend     the integer log-mel front end (int16 PCM -> int16 Q8 log-mel) and its tables
ckernels      checked cffi wrappers of the single C kernels (same signatures)
graph         the float graph of a merged model (equal to Model.predict_logits)
backbones     that graph for each of the three backbones
calibrate     activation ranges from calibration utterances (MSE or percentile)
lower         float graph + ranges -> integer program with a planned arena
program       the integer program's data structures
qmodel        the NumPy integer reference of a whole program (the oracle)
prq           the .prq model file: writer and reader
runtime       pr_model_check / pr_model_run through cffi
workflow      quantize / evaluate / inspect / export, as the CLI uses them

The NumPy functions are the oracle; the C kernels in csrc/pr_*_s8.c must agree bit
for bit (tests/test_quant_ops.py). reference/int8.md writes out the arithmetic.
"""
