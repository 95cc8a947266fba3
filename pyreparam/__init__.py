"""pyreparam: re-parameterized lightweight Transformers for on-device speech emotion
recognition.

Training-time HRF (an extra linear factor before each FFN) and its exact fold for
inference (deHRF), NumPy training with hand-written backward passes, and an int8 C
runtime. The compiled extension (``pyreparam._native``) is optional at import time:
only the calls that need it raise when it is missing.
"""

__version__ = "0.1.0"
