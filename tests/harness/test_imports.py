"""Every harness module imports on its own, in a fresh interpreter: no import circle."""

import ast
import subprocess
import sys

import pytest

from harness import REPO_ROOT

MODULES = sorted(
    ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")
    for path in (REPO_ROOT / "harness").rglob("*.py")
)


@pytest.mark.parametrize("module", MODULES)
def test_the_module_imports_alone(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def _node(module: str) -> str:
    """A harness package (harness.stack, harness.record, ...) or a module of harness itself."""
    parts = module.split(".")
    return ".".join(parts[:2])


def _imports(path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name.startswith("harness.")}


def test_no_package_of_the_harness_imports_one_that_imports_it_back() -> None:
    graph: dict[str, set[str]] = {}
    for path in (REPO_ROOT / "harness").rglob("*.py"):
        module = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
        source = _node(module)
        targets = {_node(name) for name in _imports(path)} - {source}
        graph.setdefault(source, set()).update(targets)
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        if node in trail:
            cycles.append(" -> ".join(trail[trail.index(node) :] + [node]))
            return
        for target in sorted(graph.get(node, ())):
            visit(target, [*trail, node])

    for start in sorted(graph):
        visit(start, [])
    assert not cycles, sorted(set(cycles))[:5]
