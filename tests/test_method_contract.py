"""The method contract (docs/methods.md): every registered package keeps it, and nothing outside
melib/methods/ branches on a method's name."""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from melib import methods, report
from melib.methods.spec import MethodSpec

MELIB = Path(methods.__file__).resolve().parents[1]


@pytest.mark.parametrize("name", methods.NAMES)
def test_each_registered_package_keeps_the_contract(name):
    spec = methods.spec(name)
    module = spec.methods
    assert isinstance(spec, MethodSpec) and spec.name == name and module.__name__ == f"melib.methods.{name}"
    assert Path(module.__file__).name == "__init__.py"  # one package a paper
    for attr in ("preset", "run", "VARIANTS", "PAPER_NUMBERS"):
        assert hasattr(module, attr), f"melib.methods.{name} lacks {attr}"
    assert "protocol" in inspect.signature(module.run).parameters
    assert spec.default_variant in spec.variants and set(spec.views) <= set(spec.variants)
    assert spec.composite_variant is None or spec.composite_variant in spec.variants
    assert all(n.method == name for n in module.PAPER_NUMBERS)
    for section in spec.sections:
        assert all(r.method == name and r.variant in spec.variants for r in section.rows), section.name
    for task, protocol in (("au", "kfold"), ("au", "loso"), ("emotion", None)):
        rows = spec.comparison(task, protocol) if spec.comparison else ()
        assert all(r.method == name and r.variant in spec.variants for r in rows)
    assert spec.owns_run(module.SPEC.run_prefix + "x") and [s.name for s in methods.SPECS.values()
                                                           if s.owns_run(spec.run_prefix)] == [name]


def test_the_report_is_assembled_from_the_packages():
    names = [s.name for s in report.SECTIONS]
    assert names[:2] == ["comparison-au", "comparison-emotion"]
    assert names[2:] == [sec.name for s in methods.SPECS.values() for sec in s.sections]
    used = {r.method for s in report.SECTIONS for r in s.rows}
    assert used == set(methods.NAMES)


def test_an_unknown_method_is_refused_with_the_registry():
    with pytest.raises(ValueError, match="choose from"):
        methods.spec("fifth")
    with pytest.raises(ValueError, match="no single method"):
        methods.spec_of_run("unknown-run")


def _branches(tree: ast.AST, names: set[str], prefixes: set[str]) -> list[int]:
    """Lines that compare with a registered name or test a run prefix."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            parts = [node.left, *node.comparators]
            consts = [c for p in parts for c in ([p] if not isinstance(p, (ast.Tuple, ast.List, ast.Set)) else p.elts)]
            if any(isinstance(c, ast.Constant) and c.value in names for c in consts):
                lines.append(node.lineno)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "startswith"
                and any(isinstance(a, ast.Constant) and a.value in prefixes for a in node.args)):
            lines.append(node.lineno)
    return lines


def test_nothing_outside_the_method_packages_branches_on_a_method_name():
    names = set(methods.NAMES)
    prefixes = {methods.spec(n).run_prefix for n in names} | {p.rstrip("-") for p in
                                                              (methods.spec(n).run_prefix for n in names)}
    found = {}
    for path in sorted(MELIB.rglob("*.py")):
        rel = path.relative_to(MELIB).as_posix()
        if rel.startswith("methods/"):
            continue
        lines = _branches(ast.parse(path.read_text()), names, prefixes)
        if lines:
            found[rel] = lines
    assert not found, f"branches on a method's name outside melib/methods/: {found}"


def test_the_branch_finder_finds_a_branch():
    tree = ast.parse('if m == "selfme":\n    pass\nif x in ("a", "iicl"):\n    pass\nr.startswith("mimic")\n')
    assert _branches(tree, {"selfme", "iicl"}, {"mimic"}) == [1, 3, 5]
