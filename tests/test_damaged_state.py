"""Damaged stored state is named and mended: unreadable cache entries are recomputed, unreadable folds
retrained, an unreadable annotation sheet is an error naming the file; never a bare traceback."""
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from fixtures.me_datasets import build_casme2
from fixtures.toy_cache import manifest, square
from fixtures.toy_method import SCHEDULE, ToyMethod, toy_manifest
from melib import train
from melib.cache import ClipCache
from melib.data import AnnotationError, parse_aus, read_annotations
from melib.io import DamagedFileWarning


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


# ----------------------------------------------------------------------------- cache entries
def test_a_truncated_cache_entry_is_recomputed_not_reused(tmp_path):
    cache = ClipCache("sq", {"v": 1}, root=tmp_path)
    cache.build(manifest(), square, workers=1, progress=False)
    row = manifest().iloc[3]
    original = cache.load(row)["value"]
    truncate(cache.path(row))
    with pytest.warns(DamagedFileWarning, match=re.escape(str(cache.path(row)))) as caught:
        report = cache.build(manifest(), square, workers=1, progress=False)
    assert "removed, computing it again" in str(caught[0].message)
    assert (report.computed, report.reused, report.damaged) == (1, 5, 1)
    assert "1 damaged entries recomputed" in str(report)
    np.testing.assert_array_equal(cache.load(row)["value"], original)


def test_a_garbled_entry_found_when_loaded_is_recomputed_or_named(tmp_path):
    cache = ClipCache("sq", {"v": 1}, root=tmp_path)
    cache.build(manifest(), square, workers=1, progress=False)
    row = manifest().iloc[2]
    original = cache.load(row)["value"]
    path = cache.path(row)
    data = bytearray(path.read_bytes())
    data[40:60] = b"\xff" * 20  # inside the data: the zip directory is intact, the reuse check passes
    path.write_bytes(bytes(data))
    with pytest.warns(DamagedFileWarning, match=re.escape(str(path))):
        np.testing.assert_array_equal(cache.load(row)["value"], original)  # recomputed with the build's compute
    path.write_bytes(b"garbage")
    fresh = ClipCache("sq", {"v": 1}, root=tmp_path)  # never built in this process: cannot recompute
    with pytest.warns(DamagedFileWarning), pytest.raises(FileNotFoundError, match="damaged .*build the cache again"):
        fresh.load(row)
    assert not path.exists()


# ----------------------------------------------------------------------------- folds
@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An undamaged two-fold toy run."""
    run = train.run_folds(ToyMethod(), toy_manifest(), SCHEDULE, k=2, out_dir=tmp_path_factory.mktemp("ref"),
                          progress=False)
    return run.predictions(), run.results()


def fresh_run(tmp_path):
    return train.run_folds(ToyMethod(), toy_manifest(), SCHEDULE, k=2, out_dir=tmp_path, progress=False)


def assert_same_as(run, reference):
    predictions, results = reference
    np.testing.assert_allclose(run.predictions()["scores"], predictions["scores"], atol=1e-6)
    np.testing.assert_array_equal(run.predictions()["index"], predictions["index"])
    assert run.results()["metrics"]["f1"] == pytest.approx(results["metrics"]["f1"])


def test_a_garbled_fold_result_is_named_and_the_fold_retrained(tmp_path, reference):
    run = fresh_run(tmp_path)
    result = run.fold_dir(1) / "result.json"
    result.write_text("{not json")
    with pytest.warns(DamagedFileWarning, match=re.escape(str(result)) + r".*JSONDecodeError.*fold 1 not used"):
        assert run.done_folds() == [0] and run.fold_results()[0]["fold"] == 0  # a look uses only sound folds
    method = ToyMethod()
    with pytest.warns(DamagedFileWarning, match=re.escape(str(result)) + r".*moved to .*damaged.fold1; retraining"):
        run = train.run_folds(method, toy_manifest(), SCHEDULE, k=2, out_dir=tmp_path, progress=False)
    assert method.steps > 0 and (tmp_path / "damaged" / "fold1" / "result.json").read_text() == "{not json"
    assert [r["fold"] for r in run.fold_results()] == [0, 1]
    assert_same_as(run, reference)


def test_truncated_predictions_without_result_are_retrained(tmp_path, reference):
    run = fresh_run(tmp_path)
    truncate(run.fold_dir(0) / "predictions.npz")
    (run.fold_dir(0) / "result.json").unlink()
    with pytest.warns(DamagedFileWarning, match=re.escape(str(run.fold_dir(0) / "predictions.npz"))):
        run = train.run_folds(ToyMethod(), toy_manifest(), SCHEDULE, k=2, out_dir=tmp_path, progress=False)
    assert_same_as(run, reference)


def test_a_truncated_model_or_checkpoint_is_retrained(tmp_path, reference):
    run = fresh_run(tmp_path)
    model = run.fold_dir(1) / "model.pt"
    truncate(model)
    with pytest.warns(DamagedFileWarning, match=re.escape(str(model)) + ".*(truncated|BadZipFile)"):
        run = train.run_folds(ToyMethod(), toy_manifest(), SCHEDULE, k=2, out_dir=tmp_path, progress=False)
    assert_same_as(run, reference)
    assert set(torch.load(model, weights_only=True)) >= {"model", "run_key"}
    # a model read only for analysis (fold_state): named, set aside, the error says to retrain
    model.write_bytes(b"garbage")
    with pytest.warns(DamagedFileWarning), pytest.raises(FileNotFoundError, match=re.escape(str(model)) + ".*retrain"):
        run.fold_state(1)
    assert not run.fold_dir(1).exists()
    # an unreadable resume checkpoint: set aside, the fold starts from its first epoch
    run.fold_dir(1).mkdir()
    (run.fold_dir(1) / "last.pt").write_bytes(b"garbage")
    with pytest.warns(DamagedFileWarning, match=re.escape(str(run.fold_dir(1) / "last.pt")) + ".*first epoch"):
        run = train.run_folds(ToyMethod(), toy_manifest(), SCHEDULE, k=2, out_dir=tmp_path, progress=False)
    assert_same_as(run, reference)


def test_a_damaged_results_json_is_not_used_and_rebuilt(tmp_path, reference):
    run = fresh_run(tmp_path)
    truncate(run.dir / "results.json")
    with pytest.warns(DamagedFileWarning, match=re.escape(str(run.dir / "results.json")) + ".*rebuilds it"):
        assert run.results() is None
    method = ToyMethod()
    run = train.run_folds(method, toy_manifest(), SCHEDULE, k=2, out_dir=tmp_path, progress=False)
    assert method.steps == 0  # the folds were sound: nothing retrained
    assert_same_as(run, reference)


# ----------------------------------------------------------------------------- annotation sheets
@pytest.mark.parametrize("damage", ["text", "truncated"])
def test_an_unreadable_annotation_sheet_names_the_file(tmp_path, damage):
    root = build_casme2(tmp_path)
    sheet = next(root.glob("CASME2-coding-*.xlsx"))
    if damage == "text":
        sheet.write_text("Subject,Filename\n1,EP02_01f\n")  # a CSV saved under the .xlsx name
    else:
        truncate(sheet)
    with pytest.raises(AnnotationError, match=re.escape(str(sheet)) + r": cannot be read .*expected an \.xlsx"):
        read_annotations("casme2", root)


# ----------------------------------------------------------------------------- AU cells
def test_a_position_before_a_slash_is_dropped():
    assert parse_aus("A/L12") == (12,)
    assert parse_aus("A/L12+R14A") == (12, 14)
    assert parse_aus("B/R4") == (4,)
    assert parse_aus("12A/14") == (12, 14) and parse_aus("12A/B") == (12,)  # intensity still read as before
