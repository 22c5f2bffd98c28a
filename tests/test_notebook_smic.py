"""Notebooks 05 and 07 end to end on SMIC-HS's official layout (synthetic): what a researcher with the SMIC
licence runs, ``papermill 05_annotation_mimic.ipynb out.ipynb -p dataset smic -p root /data/SMIC`` (and 07).
SMIC-HS keeps its own three classes and has no AU labels: annotation mimic trains its variants without
WSCL, says why db+all is skipped and shows no paper row (Ruan et al. report no SMIC-HS numbers); SelfME is
read against the paper's SMIC-HS row, never a CASME II one."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from melib.data import synthetic
from melib.data.synthetic import layouts
from test_notebook_samm import NOTEBOOKS, _text


@pytest.fixture(scope="module")
def smic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic SMIC-HS layout (5 subjects x 3 clips before the layout drops the clips without a
    SMIC class), made once for both notebooks."""
    folder = tmp_path_factory.mktemp("smic_layout")
    source = synthetic.generate(folder / "casme2", subjects=5, clips_per_subject=3, size=128, seed=0, workers=1,
                                progress=False)
    return layouts.convert(source, folder / "smic", "smic")


def _run(notebook: str, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    papermill = pytest.importorskip("papermill")
    monkeypatch.setenv("MELIB_OUTPUTS", str(tmp_path / "outputs"))
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    out = tmp_path / f"{notebook[:2]}_smic.ipynb"
    papermill.execute_notebook(str(NOTEBOOKS / notebook), str(out), cwd=str(NOTEBOOKS), kernel_name="melib",
                               parameters={"dataset": "smic", "root": str(root), "profile": "fast"},
                               progress_bar=False)
    return _text(nbformat.read(out, as_version=4))


@pytest.mark.slow  # about 40 s on one busy core: the fast profile (8 epochs) of sb over 5 LOSO folds
def test_notebook_05_runs_on_the_smic_layout(smic_root, tmp_path, monkeypatch):
    text = _run("05_annotation_mimic.ipynb", smic_root, tmp_path, monkeypatch)
    assert "classes ['negative', 'positive', 'surprise']" in text  # SMIC-HS's own three classes
    assert "db+all skipped: smic has no AU labels and WSCL (Eqs. 4-5) aligns features with AUs; training sb" in text
    assert "complete runs: ['sb']" in text
    assert "no WSCL weights: smic has no AU labels" in text and "no AU counts per region" in text
    assert "no paper row: Ruan et al. (2022) report no smic numbers" in text
    assert "paper (" not in text  # no CASME II (or any) paper row beside a SMIC-HS run


@pytest.mark.slow  # about 30 s on one busy core: the shipped motion learner, SCViT over 5 LOSO folds + no_sc's fold 0
def test_notebook_07_runs_on_the_smic_layout(smic_root, tmp_path, monkeypatch):
    text = _run("07_selfme.ipynb", smic_root, tmp_path, monkeypatch)
    counts = next(line for line in text.splitlines() if line.startswith("clips per class:"))
    assert all(c in counts for c in ("negative", "positive", "surprise")), counts
    assert "LOSO, 3 classes" in text and "complete runs: ['selfme']" in text
    assert "paper Table 2 (smic, real)" in text  # SelfME's SMIC-HS row (UF1 0.6972, UAR 0.7012)
    assert "0.697" in text and "(casme2, real)" not in text  # never a CASME II row beside a SMIC-HS run
    assert "ours (smic)" in text
