"""Every function of the package reads at once: none is longer than 80 lines."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pyreparam"
LIMIT = 80


def test_no_function_over_80_lines():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > LIMIT:
                    long.append(f"{path.relative_to(PACKAGE.parent)}::{node.name} {lines}")
    assert not long, f"functions over {LIMIT} lines: {long}"
