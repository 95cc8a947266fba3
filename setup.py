# Only what pyproject.toml cannot say yet: the cffi extension (csrc/ -> pyreparam._native).
from setuptools import setup

setup(cffi_modules=["csrc/build_ffi.py:ffibuilder"])
