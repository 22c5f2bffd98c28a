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


def _imported_names(nb) -> set[str]:
    names: set[str] = set()
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        try:
            tree = ast.parse(c.source)
        except SyntaxError:  # IPython magics
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_kernel_parameters_and_closing_sections(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "melib", f"{path.name}: one kernel for every notebook"
    source = next(c.source for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", []))
    params = {node.targets[0].id for node in ast.parse(source).body}
    shadowed = params & _imported_names(nb)
    assert not shadowed, f"{path.name}: parameters {sorted(shadowed)} shadow an imported module or name"
    for line in source.splitlines():
        if line.startswith("fold ="):
            assert "#" in line, f"{path.name}: say what `fold` means in the parameters cell"
    heads = [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "markdown" and c.source.strip()]
    assert "## Summary" in heads and "## Exercises" in heads, f"{path.name}: ends with ## Summary and ## Exercises"
    assert heads.index("## Summary") < heads.index("## Exercises")
    cells = list(nb.cells)
    summary = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.startswith("## Summary"))
    assert any(c.cell_type == "code" for c in cells[summary + 1:]), f"{path.name}: the Summary prints this run's numbers"


def _slug(heading: str) -> str:
    """GitHub's (and mkdocs' toc with the github slugifier) anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = path.read_text()
    heads = {_slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+?)\s*$", text, re.M)}
    return heads | set(re.findall(r'id="([^"]+)"', text))


def _markdown_sources() -> list[tuple[Path, str]]:
    out = [(p, p.read_text()) for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))] if p.is_file()]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        out.append((path, "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")))
    return out


@pytest.mark.parametrize("path, text", _markdown_sources(), ids=lambda v: v.name if isinstance(v, Path) else "")
def test_relative_links_resolve_to_files_and_headings(path, text):
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        if not resolved.exists():
            broken.append(f"{target} (no file {resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else resolved})")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target} (no heading '#{anchor}' in {resolved.name})")
    assert not broken, f"{path.name}: broken links: {broken}"


@pytest.mark.parametrize("path", NOTEBOOKS + sorted((ROOT / "apps").glob("*.ipynb")), ids=lambda p: p.name)
def test_every_code_cell_parses(path):
    """A syntax error in a notebook cell is caught here in a second, not after minutes of nbval."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            try:
                ast.parse(source)
            except SyntaxError as err:
                pytest.fail(f"{path.name} cell {i}: {err}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_papermill_reads_every_parameter_with_its_comment(path):
    """papermill parses each ``name = value  # help`` line (for ``--help-notebook`` and to know the names it
    injects); a line it cannot parse makes it warn "Passed unknown parameter" on every run."""
    from papermill.translators import PythonTranslator

    nb = nbformat.read(path, as_version=4)
    source = next(c.source for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", []))
    names = {node.targets[0].id for node in ast.parse(source).body}
    assert {p.name for p in PythonTranslator.inspect({"source": source})} == names
