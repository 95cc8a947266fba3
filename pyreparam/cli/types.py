"""Option types of the command line that click lacks."""
from __future__ import annotations

import math

import click


class FiniteFloat(click.FloatRange):
    """A float within an optional range that is finite: click's FloatRange lets NaN
    through (every comparison with NaN is false) and accepts inf when unbounded."""

    name = "float"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number

    def __repr__(self) -> str:
        return f"FiniteFloat({self._describe_range()})"
