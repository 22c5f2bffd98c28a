"""Notebook 04 end to end on SAMM's official layout (synthetic): what a researcher with the SAMM licence
runs first, ``papermill 04_iicl.ipynb out.ipynb -p dataset samm -p root /data/SAMM``. The layout's
full grayscale frames must reach IICL as dlib-aligned faces, with SAMM's AU set and paper rows."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from melib.data import synthetic
from melib.data.synthetic import layouts

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _text(nb: nbformat.NotebookNode) -> str:
    """Every printed stream and plain-text result of an executed notebook, in order."""
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", "") or o.get("data", {}).get("text/plain", ""))
    return "\n".join(out)


@pytest.mark.slow  # about 60 s on 2 cores: 6 subjects x 2 clips, dlib on every clip, two variants x 4 folds x 1 epoch
def test_notebook_04_runs_on_the_samm_layout(tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill")
    source = synthetic.generate(tmp_path / "casme2", subjects=6, clips_per_subject=2, size=128, seed=0, workers=1,
                                progress=False)
    root = layouts.convert(source, tmp_path / "samm", "samm", frame_size=(480, 270))
    monkeypatch.setenv("MELIB_OUTPUTS", str(tmp_path / "outputs"))
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "04_samm.ipynb"
    papermill.execute_notebook(str(NOTEBOOKS / "04_iicl.ipynb"), str(out), cwd=str(NOTEBOOKS), kernel_name="melib",
                               parameters={"dataset": "samm", "root": str(root), "epochs": 1}, progress_bar=False)
    text = _text(nbformat.read(out, as_version=4))
    assert "AUs (2, 4, 7, 12)" in text  # SAMM's AU set, not CASME II's
    assert "paper (samm, real)" in text  # read against the paper's SAMM rows
    assert "folds done [0, 1, 2, 3]" in text and "computed, 0 reused" in text
    entries = list((tmp_path / "cache" / "frontend").glob("*/*/*.npz")) or list((tmp_path / "cache").rglob("*.npz"))
    assert entries, "no front-end cache entry was written"
