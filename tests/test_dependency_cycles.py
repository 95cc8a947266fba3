"""No import circles among the package's modules and no include circles among the C
files: each module (each header) can be read after the ones it depends on.

Only module-level imports count (an import inside a function runs later, when every
module is loaded, and is the usual way to break a circle on purpose)."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE, CSRC = ROOT / "pyreparam", ROOT / "csrc"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_level_imports(tree: ast.Module):
    """Import nodes of the module body, also inside module-level if/try blocks."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.If, ast.Try)):
            todo += node.body + node.orelse + getattr(node, "finalbody", []) + \
                [s for h in getattr(node, "handlers", []) for s in h.body]


def import_graph() -> dict[str, set[str]]:
    """{module: the package modules it imports at module level}."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in _module_level_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base
                           for a in node.names]
            edges |= {t for t in targets if t in files and t != name}
        graph[name] = edges
    return graph


def include_graph() -> dict[str, set[str]]:
    """{C file: the csrc/ files it includes with #include "..."}."""
    files = [p for p in CSRC.rglob("*") if p.suffix in (".c", ".h")]
    graph = {}
    for path in files:
        edges = set()
        for name in re.findall(r'^\s*#\s*include\s+"([^"]+)"', path.read_text(), re.M):
            for base in (path.parent, CSRC):
                if (base / name).is_file():
                    edges.add(str((base / name).resolve().relative_to(CSRC)))
                    break
        graph[str(path.relative_to(CSRC))] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}          # 1: on the current path, 2: done

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                here = path + [node]
                return here[here.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, path + [node])
                if found:
                    return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [])
            if found:
                return found
    return None


def test_find_cycle_finds_circles_and_only_them():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"b"}}) == ["b", "c", "b"]


def test_the_import_graph_sees_the_package():
    graph = import_graph()
    assert "pyreparam.quant.runtime" in graph["pyreparam.quant.cstream"]
    assert "pyreparam.native" in graph["pyreparam.quant.ckernels"]


def test_no_import_cycles_in_the_package():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_no_include_cycles_in_csrc():
    graph = include_graph()
    assert "pr_linear_internal.h" in graph["pr_linear_s8.c"]
    assert "x86/pr_x86_common.h" in graph["x86/pr_x86_q256.h"]
    cycle = find_cycle(graph)
    assert cycle is None, "include circle: " + " -> ".join(cycle)
