# Only what pyproject.toml cannot say yet: the cffi extension (csrc/ -> pyreparam._native)
# and its wheel tag. cffi's API mode builds the extension against the limited C API
# (_native.abi3.so), so the wheel is tagged cp310-abi3 and serves every CPython >= 3.10;
# free-threaded CPython has no limited API yet, and cffi builds a regular module there.
import sysconfig

from setuptools import setup

ABI3 = not sysconfig.get_config_var("Py_GIL_DISABLED")

setup(cffi_modules=["csrc/build_ffi.py:ffibuilder"],
      options={"bdist_wheel": {"py_limited_api": "cp310"}} if ABI3 else {})
