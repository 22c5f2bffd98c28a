"""Project hygiene that CI must enforce: clean notebooks, a parameters cell in each, consistent pins."""
import ast
import re
import tomllib
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_notebooks_exist_and_are_numbered():
    assert NOTEBOOKS, "no notebooks found"
    for path in NOTEBOOKS:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs or execution counts; strip them"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_one_literal_parameters_cell_with_profile_auto(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: expected one cell tagged 'parameters', found {len(tagged)}"
    values = {}
    for node in ast.parse(tagged[0].source).body:
        assert isinstance(node, ast.Assign), f"{path.name}: parameters cell must hold plain assignments"
        values[node.targets[0].id] = ast.literal_eval(node.value)
    assert values.get("profile") == "auto"


def test_environment_yml_pins_match_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = set(project["dependencies"]) | set(project["optional-dependencies"]["dev"])
    env_pins = {line.strip()[2:] for line in (ROOT / "environment.yml").read_text().splitlines()
                if line.strip().startswith("- ") and "==" in line}
    assert env_pins == pins
