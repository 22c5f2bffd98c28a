"""The hashed per-clip cache: keys track settings and data, builds are idempotent and survive a kill."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from fixtures.toy_cache import manifest, square
from melib.cache import ClipCache, dataset_fingerprint


def test_key_changes_with_every_setting_and_with_the_data(tmp_path):
    a = ClipCache("flow", {"method": "tvl1", "alpha": 10}, root=tmp_path)
    assert a.key == ClipCache("flow", {"alpha": 10, "method": "tvl1"}, root=tmp_path).key
    assert a.key != ClipCache("flow", {"method": "tvl1", "alpha": 6}, root=tmp_path).key
    assert a.key != ClipCache("flow", {"method": "dis", "alpha": 10}, root=tmp_path).key
    sheet = tmp_path / "sheet.xlsx"
    sheet.write_bytes(b"one")
    first = dataset_fingerprint(manifest(source=str(sheet)))
    sheet.write_bytes(b"two")
    assert dataset_fingerprint(manifest(source=str(sheet))) != first
    assert dataset_fingerprint(manifest(5)) != dataset_fingerprint(manifest(6))


def test_build_is_idempotent_and_reports_failures_per_clip(tmp_path):
    cache = ClipCache("sq", {"v": 1}, root=tmp_path)
    report = cache.build(manifest(), square, workers=1, progress=False)
    assert (report.computed, report.reused, report.failed) == (6, 0, {})
    assert cache.load(manifest().iloc[3])["value"][0, 0] == 9
    assert cache.stored_settings()["v"] == 1
    again = cache.build(manifest(), square, workers=2, progress=False)
    assert (again.computed, again.reused) == (0, 6)

    def broken(row):
        if row["clip"] == "c2":
            raise OSError("corrupt frame reg_img3.jpg")
        return square(row)

    other = ClipCache("sq", {"v": 2}, root=tmp_path)
    report = other.build(manifest(), broken, workers=1, progress=False)
    assert report.computed == 5 and "corrupt frame" in report.failed["sub01/c2"]
    with pytest.raises(RuntimeError, match="1 clips failed"):
        other.build(manifest(), broken, workers=1, progress=False, strict=True)
    with pytest.raises(FileNotFoundError, match="no entry for sub01/c2"):
        other.load(manifest().iloc[2])


def test_a_killed_build_leaves_no_partial_entry_and_resumes(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time, numpy as np, pandas as pd
        sys.path.insert(0, {str(os.getcwd())!r})
        from melib.cache import ClipCache
        rows = pd.DataFrame([{{"dataset": "toy", "subject": "s", "clip": f"c{{i}}"}} for i in range(40)])
        def slow(row):
            time.sleep(0.05)
            return {{"big": np.random.default_rng(int(row["clip"][1:])).random((300, 300))}}
        print("start", flush=True)
        ClipCache("slow", {{"v": 1}}, root={str(tmp_path)!r}).build(rows, slow, workers=1, progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"start"
    cache = ClipCache("slow", {"v": 1}, root=tmp_path)
    deadline = time.time() + 60
    while len(list(cache.dir.rglob("c*.npz"))) < 5 and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = [p for p in cache.dir.rglob("c*.npz")]
    assert 5 <= len(done) < 40
    for path in done:  # every entry that exists is complete
        assert np.load(path)["big"].shape == (300, 300)
    rows = pd.DataFrame([{"dataset": "toy", "subject": "s", "clip": f"c{i}"} for i in range(40)])
    report = cache.build(rows, lambda row: {"big": np.random.default_rng(int(row["clip"][1:])).random((300, 300))},
                         workers=1, progress=False)
    assert report.reused == len(done) and report.computed == 40 - len(done)
    assert not list(cache.dir.rglob(".*.tmp-*"))
    for i in (0, 39):
        np.testing.assert_array_equal(cache.load(rows.iloc[i])["big"], np.random.default_rng(i).random((300, 300)))
