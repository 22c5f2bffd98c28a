"""The site build's pure logic (data_scripts/build_site.py): link rewriting, notebook cleaning, anchors.

No MkDocs and no browser: `make site` and data_scripts/check_site.py exercise those.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("build_site", ROOT / "data_scripts" / "build_site.py")
site = importlib.util.module_from_spec(_spec)
sys.modules["build_site"] = site  # dataclasses look their module up there
_spec.loader.exec_module(site)

PAGES = {"index.md", "report.md", "docs/glossary.md", "docs/results.md", "notebooks/04_iicl.ipynb",
         "notebooks/01_data_exploration.ipynb"}
FILES = {"melib/losses.py", "docs/images/site.png", "outputs/figures/ladder.png"}


def resolver(source: str, to_html: bool) -> site.LinkResolver:
    return site.LinkResolver(source, PAGES, lambda p: p in FILES, to_html=to_html)


@pytest.mark.parametrize("repo_path, staged", [
    ("README.md", "index.md"),
    ("outputs/report/index.html", "report.md"),
    ("outputs/notebooks/04_iicl.ipynb", "notebooks/04_iicl.ipynb"),
    ("docs/glossary.md", "docs/glossary.md"),
    ("outputs/figures/ladder.png", "outputs/figures/ladder.png"),
])
def test_stage_path(repo_path, staged):
    assert site.stage_path(repo_path) == staged


def test_stage_path_follows_a_relocated_outputs_folder():
    assert site.stage_path("runs/out/report/index.html", outputs="runs/out") == "report.md"
    assert site.stage_path("outputs/report/index.html", outputs="runs/out") == "outputs/report/index.html"


def test_notebook_links_point_at_built_pages_with_their_anchor():
    r = resolver("notebooks/04_iicl.ipynb", to_html=True)
    assert r.resolve("../docs/glossary.md#uf1").target == "../docs/glossary.html#uf1"
    assert r.resolve("01_data_exploration.ipynb").target == "01_data_exploration.html"
    assert r.resolve("../README.md").target == "../index.html"
    assert r.resolve("../outputs/report/index.html").target == "../report.html"


def test_markdown_links_stay_markdown_for_mkdocs_to_resolve():
    r = resolver("README.md", to_html=False)
    assert r.resolve("notebooks/04_iicl.ipynb").target == "notebooks/04_iicl.ipynb"
    assert r.resolve("outputs/notebooks/04_iicl.ipynb").target == "notebooks/04_iicl.ipynb"
    assert resolver("docs/results.md", False).resolve("../README.md#findings").target == "../index.md#findings"


def test_repository_files_are_copied_and_missing_ones_reported():
    r = resolver("docs/results.md", to_html=False)
    rw = r.resolve("../melib/losses.py")
    assert (rw.target, rw.copy, rw.problem) == ("../melib/losses.py", "melib/losses.py", None)
    missing = r.resolve("../melib/nope.py")
    assert missing.problem and missing.target == "../melib/nope.py" and missing.copy is None
    assert r.resolve("../../etc/passwd").problem


@pytest.mark.parametrize("target", ["https://example.org/a.md", "#uf1", "mailto:x@y.z", "/abs/path.md"])
def test_external_links_and_anchors_are_kept(target):
    assert resolver("README.md", False).resolve(target) == site.Rewrite(target)


def test_rewrite_handles_markdown_html_and_reference_links_but_not_code():
    r = resolver("notebooks/04_iicl.ipynb", to_html=True)
    text = ("See [UF1](../docs/glossary.md#uf1 \"metric\") and ![fig](../outputs/figures/ladder.png).\n"
            "<img src='../docs/images/site.png'> <a href=\"../README.md\">home</a>\n"
            "[res]: ../docs/results.md\n"
            "`[not](../docs/glossary.md)`\n```\n[no](../README.md)\n```\n")
    out = r.rewrite(text)
    assert '[UF1](../docs/glossary.html#uf1 "metric")' in out
    assert "![fig](../outputs/figures/ladder.png)" in out
    assert "<img src='../docs/images/site.png'>" in out and 'href="../index.html"' in out
    assert "[res]: ../docs/results.html" in out
    assert "`[not](../docs/glossary.md)`" in out and "[no](../README.md)" in out
    assert r.copies == {"outputs/figures/ladder.png", "docs/images/site.png"} and not r.problems


def test_image_inside_a_link_rewrites_both():
    r = resolver("README.md", to_html=False)
    out = r.rewrite("[![site](docs/images/site.png)](notebooks/04_iicl.ipynb)")
    assert out == "[![site](docs/images/site.png)](notebooks/04_iicl.ipynb)" and r.copies == {"docs/images/site.png"}
    r2 = resolver("notebooks/01_data_exploration.ipynb", to_html=True)
    assert r2.rewrite("[![s](../docs/images/site.png)](04_iicl.ipynb)") == "[![s](../docs/images/site.png)](04_iicl.html)"


def _code_cell(*outputs):
    return {"cell_type": "code", "source": "", "metadata": {}, "outputs": list(outputs)}


def test_clean_outputs_replaces_widgets_drops_progress_bars_and_collapses_streams():
    widget = {"output_type": "display_data", "metadata": {},
              "data": {site.WIDGET_MIME: {"model_id": "a"}, "text/plain": "VBox(children=(Dropdown(...),))"}}
    bar = {"output_type": "display_data", "metadata": {},
           "data": {site.WIDGET_MIME: {"model_id": "b"}, "text/plain": "  0%|          | 0/10 [00:00<?, ?it/s]"}}
    stream = {"output_type": "stream", "name": "stderr", "text": "epoch 1:  10%|#\repoch 1: 100%|##########|\ndone\n"}
    png = {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBOR", "text/plain": "<Figure>"}}
    nb = {"metadata": {"widgets": {"state": {}}}, "cells": [_code_cell(widget, bar, stream, png)]}
    cleaned, counts = site.clean_outputs(nb)
    outs = cleaned["cells"][0]["outputs"]
    assert counts == {"widgets": 1, "progress_bars": 1, "streams": 1, "machine_paths": 0}
    assert len(outs) == 3 and outs[0]["data"] == {"text/html": site.WIDGET_NOTE}
    assert outs[1]["text"] == "epoch 1: 100%|##########|\ndone\n" and outs[2] == png
    assert "widgets" not in cleaned["metadata"] and "widgets" in nb["metadata"]  # the input is left as it was


def test_heading_anchors_add_the_ids_other_renderers_use():
    out = site.heading_anchors("## The papers' ablations (`scope = \"all\"`)\ntext")
    assert out.startswith('## <a id="the-papers-ablations"></a><a id="the-papers-ablations-scope--all"></a>The papers')
    assert site.heading_anchors("## Summary") == "## Summary"  # one id everywhere: nothing added
    fenced = "```\n# a comment\n```"
    assert site.heading_anchors(fenced) == fenced


def test_notebook_title_and_report_body():
    nb = {"cells": [{"cell_type": "markdown", "source": "# 04 · IICL: intra- and inter-contrastive\ntext"}]}
    assert site.notebook_title(nb, "04_iicl") == "04 · IICL"
    assert site.notebook_title({"cells": []}, "04_iicl") == "04_iicl"
    page = "<html><head><style>body{}</style></head><body><h1>melib report</h1><style>x</style><p>a</p></body></html>"
    assert site.report_body(page) == "<h1>melib report</h1><p>a</p>"


def test_insert_note_goes_under_the_title():
    nb = {"cells": [{"cell_type": "markdown", "source": ["# 01 · Data\n", "Intro."]}]}
    site.insert_note(nb, "> executed")
    assert nb["cells"][0]["source"] == "# 01 · Data\n\n> executed\n\nIntro." and len(nb["cells"]) == 1
    bare = {"cells": [{"cell_type": "code", "source": "x = 1", "outputs": []}]}
    site.insert_note(bare, "> executed")
    assert bare["cells"][0] == {"cell_type": "markdown", "metadata": {}, "source": "> executed"}


def test_clean_outputs_cuts_the_checkout_path_from_text_outputs():
    stream = {"output_type": "stream", "name": "stdout", "text": ["saved /home/u/melib/outputs/figures/a.png\n"]}
    result = {"output_type": "execute_result", "metadata": {}, "execution_count": 1,
              "data": {"text/plain": "PosixPath('/home/u/melib/data/synthetic')"}}
    nb = {"metadata": {}, "cells": [_code_cell(stream, result)]}
    cleaned, counts = site.clean_outputs(nb, root="/home/u/melib")
    outs = cleaned["cells"][0]["outputs"]
    assert outs[0]["text"] == "saved outputs/figures/a.png\n"
    assert outs[1]["data"]["text/plain"] == "PosixPath('data/synthetic')" and counts["machine_paths"] == 2
    assert site.clean_outputs(nb)[0] == nb  # without a root nothing is cut


def test_a_progress_bar_sent_in_chunks_shows_its_last_state_once():
    chunks = [{"output_type": "stream", "name": "stderr", "text": f"\rclips: {p:3d}%|" + "#" * (p // 10)}
              for p in (0, 50, 100)]
    chunks.append({"output_type": "stream", "name": "stderr", "text": "\n"})
    out = {"output_type": "stream", "name": "stdout", "text": "6 clips\n"}
    cleaned, counts = site.clean_outputs({"metadata": {}, "cells": [_code_cell(*chunks, out)]})
    outs = cleaned["cells"][0]["outputs"]
    assert [o["text"] for o in outs] == ["clips: 100%|##########\n", "6 clips\n"]
    assert counts["streams"] == 1
