"""The disk preflight the Makefile runs before installing the venv and before the tests."""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "check_disk", Path(__file__).resolve().parents[1] / "data_scripts" / "check_disk.py")
check_disk = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(check_disk)


def test_free_space_of_a_path_not_yet_made_is_its_parents(tmp_path: Path) -> None:
    expected = shutil.disk_usage(tmp_path).free / 1024 ** 3
    assert check_disk.free_gib(tmp_path / "not" / "yet") == pytest.approx(expected, abs=0.5)


def test_enough_room_reports_the_numbers(tmp_path: Path) -> None:
    line = check_disk.check(tmp_path, 0.001, "a small step")
    assert line.startswith("disk: ") and "a small step" in line and str(tmp_path.resolve()) in line


def test_too_little_room_stops_with_the_path_and_the_amounts(tmp_path: Path) -> None:
    need = check_disk.free_gib(tmp_path) + 1000
    with pytest.raises(SystemExit, match=r"Not enough disk for installing \.venv: .* GiB free .*about \d+(\.\d+)? GiB"
                                         r" needed.*MIN_FREE_GB=0") as err:
        check_disk.check(tmp_path, need, "installing .venv")
    assert str(tmp_path.resolve()) in str(err.value)


def test_zero_skips_the_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    check_disk.main([str(tmp_path), "--need-gb", "0"])
    assert capsys.readouterr().out == ""
    check_disk.main([str(tmp_path), "--need-gb", "0.001", "--for", "x"])
    assert capsys.readouterr().out.startswith("disk: ")
