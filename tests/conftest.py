"""Shared pytest configuration: hypothesis profiles and common fixtures."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# "default" keeps the whole suite within CI's budget; "thorough" for local digging:
#   HYPOTHESIS_PROFILE=thorough pytest
settings.register_profile(
    "default", max_examples=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "thorough", max_examples=300, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
