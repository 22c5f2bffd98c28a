"""benchmarks/make_test_timing.py: the timing and disk tables of docs/setup.md come from a run's files."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("make_test_timing", Path(__file__).parents[1] / "benchmarks" / "make_test_timing.py")
timing = importlib.util.module_from_spec(spec)
spec.loader.exec_module(timing)

JUNIT = ('<?xml version="1.0"?><testsuites><testsuite>'
         '<testcase classname="notebooks.01_data_exploration.ipynb" name="Cell 0" time="30.5"/>'
         '<testcase classname="notebooks.01_data_exploration.ipynb" name="Cell 1" time="29.5"/>'
         '<testcase classname="notebooks.04_iicl.ipynb" name="Cell 3" time="125"/></testsuite></testsuites>')
LOG = ("pip install ...\n============ 808 passed, 5 warnings in 253.10s (0:04:13) ============\n"
       "============ 161 passed in 1022.43s (0:17:02) ============\nrc=0 elapsed=1395\n")


def _run(tmp_path: Path, name: str) -> Path:
    prefix = tmp_path / name
    Path(f"{prefix}_junit.xml").write_text(JUNIT)
    Path(f"{prefix}_test.log").write_text(LOG)
    Path(f"{prefix}_disk.log").write_text("0 15\n10 7000 900 \n20 8000 100 500\n40 9000 50 1200\n")
    return prefix


def test_tables_read_the_stages_the_notebooks_and_the_disk(tmp_path):
    text = timing.tables([_run(tmp_path, "a"), _run(tmp_path, "b")])
    assert "| `make test` in all (exit code) | 23:15 (0) | 23:15 (0) |" in text
    assert "| unit tests | 4:13 (808) | 4:13 (808) |" in text
    assert "| install of `.venv` (pip's download cache warm) | 1:59 | 1:59 |" in text  # 1395 - 253.1 - 1022.4
    assert "| 01 | 1:00 | 1:00 |" in text and "| 04 | 2:05 | 2:05 |" in text
    assert "| `outputs/runs` | 1.2 | 1.2 |" in text and "| clone + temporary folder | 8.8 | 8.8 |" in text
    assert "| pytest's temporary folder | 0.9 | 0.9 |" in text  # sampled before outputs/runs existed


def test_an_unfinished_run_is_named(tmp_path):
    prefix = _run(tmp_path, "a")
    Path(f"{prefix}_test.log").write_text("still running\n")
    with pytest.raises(SystemExit, match="did not finish"):
        timing.tables([prefix])


def test_write_fills_the_block_and_the_readme_times(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "setup.md").write_text("## Time\n\n<!-- timing -->\nold\n<!-- /timing -->\n\n## Disk\n")
    (root / "README.md").write_text("| [01 Data](x) | what | - | 9:99 |\n| [04 IICL](y) | w | 01 | 0:01 |\n")
    monkeypatch.setattr(timing, "ROOT", root)
    runs = [_run(tmp_path, "a")]
    timing.write(runs, timing.tables(runs))
    setup = (root / "docs" / "setup.md").read_text()
    assert "\nold\n" not in setup and "| 04 | 2:05 |" in setup and setup.endswith("<!-- /timing -->\n\n## Disk\n")
    assert (root / "README.md").read_text() == "| [01 Data](x) | what | - | 1:00 |\n| [04 IICL](y) | w | 01 | 2:05 |\n"
