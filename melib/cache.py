"""A per-clip on-disk cache keyed by a hash of every setting that produced it.

Layout: ``<cache_root>/<name>/<key>/<dataset>/<subject>/<clip>@<onset>.npz`` plus ``<key>/settings.json``
naming the settings behind the key, so a person can tell what a folder holds. Each entry is written
through an atomic rename: a run killed at any moment leaves complete entries and no half-written one,
and the next run computes only what is missing (idempotent, resumable). An entry that cannot be read
(truncated, garbled) is never used: it is named in a warning, removed and computed again, when a build
checks it for reuse or when it is loaded (see :meth:`ClipCache.load`).
"""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from .progress import tqdm

from .config import cache_root, config_hash
from .io import READ_ERRORS, damaged, describe, load_json, load_npz, save_json, save_npz, zip_problem

#: Bump when the meaning of cached arrays changes without any setting changing.
CACHE_VERSION = 1


def dataset_fingerprint(manifest: pd.DataFrame) -> str:
    """Identity of the data behind a manifest: its sources' bytes (annotation sheets) and clip list.

    Part of every cache key, so regenerating the synthetic dataset with another seed at the same path,
    or pointing at another copy of a dataset, never reuses stale entries. A synthetic dataset's
    ``synthetic.json`` (its version and knobs, such as ``appearance``) beside a sheet counts too:
    those change the frames without changing the sheet.
    """
    digest = hashlib.sha256()
    sources = sorted({str(s) for s in manifest.get("source", pd.Series(dtype=str)).dropna()})
    for source in sources:
        path = Path(source)
        digest.update(source.encode())
        if path.is_file():
            digest.update(path.read_bytes())
            meta = path.parent / "synthetic.json"
            if meta.is_file():
                digest.update(meta.read_bytes())
    for row in manifest[["subject", "clip", "onset", "apex", "offset"]].astype(str).itertuples(index=False):
        digest.update("|".join(row).encode())
    return digest.hexdigest()[:12]


@dataclass
class BuildReport:
    """What :meth:`ClipCache.build` did."""

    computed: int = 0
    reused: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    damaged: int = 0  # unreadable entries found, removed and computed again (counted in ``computed``)

    def __str__(self) -> str:
        text = f"{self.computed} computed, {self.reused} reused from cache, {len(self.failed)} failed"
        if self.damaged:
            text += f" ({self.damaged} damaged entries recomputed)"
        for clip, reason in list(self.failed.items())[:5]:
            text += f"\n  {clip}: {reason}"
        return text


class ClipCache:
    """Cache of per-clip array dictionaries under a key hashing ``settings``."""

    def __init__(self, name: str, settings: Mapping[str, Any], root: str | os.PathLike | None = None):
        self.name = name
        self.settings = {"cache_version": CACHE_VERSION, **dict(settings)}
        self.key = config_hash(self.settings)
        self.dir = Path(root) if root is not None else cache_root()
        self.dir = self.dir / name / self.key
        self._compute: Callable | None = None  # the last build's, so load() can recompute a damaged entry

    def __repr__(self) -> str:
        return f"ClipCache({self.name!r}, key={self.key}, dir={self.dir})"

    def path(self, row: Mapping[str, Any]) -> Path:
        """Entry of a clip; the onset frame is part of the name because in CAS(ME)^3 one recording
        (``clip``) holds several clips, told apart by their onsets."""
        onset = row.get("onset")
        name = f"{row['clip']}" if onset is None else f"{row['clip']}@{int(onset)}"
        return self.dir / str(row["dataset"]) / str(row["subject"]) / f"{name}.npz"

    def has(self, row: Mapping[str, Any]) -> bool:
        return self.path(row).is_file()

    def load(self, row: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """A clip's arrays. An unreadable entry is removed with a warning and computed again with the
        last :meth:`build`'s ``compute``; without one (a fresh cache object) the error says to build."""
        path = self.path(row)
        if not path.is_file():
            raise FileNotFoundError(f"{self.name} cache has no entry for {row['subject']}/{row['clip']} "
                                    f"({path}); build it first (data_scripts/preprocess.py)")
        try:
            return load_npz(path)
        except READ_ERRORS as error:
            reason = describe(error)
        again = "computing it again" if self._compute is not None else "build the cache again to recompute it"
        damaged(path, reason, f"removed, {again}")
        path.unlink(missing_ok=True)
        if self._compute is None:
            raise FileNotFoundError(f"{self.name} cache entry {path} was damaged ({reason}) and has been removed; "
                                    f"build the cache again (data_scripts/preprocess.py) to recompute it")
        self.save(row, self._compute(dict(row)))
        return load_npz(path)

    def save(self, row: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Path:
        self._write_settings()
        path = self.path(row)
        save_npz(path, **arrays)
        return path

    def _write_settings(self) -> None:
        settings_file = self.dir / "settings.json"
        if not settings_file.is_file():
            save_json(settings_file, self.settings)

    def stored_settings(self) -> dict[str, Any]:
        return load_json(self.dir / "settings.json")

    def missing(self, manifest: pd.DataFrame) -> pd.DataFrame:
        """Rows of ``manifest`` without a usable cache entry (a damaged one is removed, with a warning)."""
        return self._missing(manifest)[0]

    def _missing(self, manifest: pd.DataFrame) -> tuple[pd.DataFrame, int]:
        usable, n_damaged = [], 0
        for _, row in manifest.iterrows():
            path = self.path(row)
            problem = zip_problem(path) if path.is_file() else "absent"
            if problem not in (None, "absent"):
                damaged(path, problem, "removed, computing it again")
                path.unlink(missing_ok=True)
                n_damaged += 1
            usable.append(problem is None)
        return manifest[[not ok for ok in usable]], n_damaged

    def build(self, manifest: pd.DataFrame, compute: Callable[[dict[str, Any]], Mapping[str, np.ndarray]],
              workers: int | None = None, progress: bool = True, strict: bool = False) -> BuildReport:
        """Compute and store every missing entry; ``compute(row_dict) -> arrays`` must be picklable.

        ``workers`` processes run in parallel (default: all cores; 1 runs in this process). A clip
        whose computation fails is reported with its reason and skipped; ``strict=True`` raises
        after the others have finished, so completed work is never lost. Do not run two builds of
        the same cache at once: each starts by sweeping temporary files left by killed runs.
        """
        self._sweep_temporaries()
        self._compute = compute
        todo, n_damaged = self._missing(manifest)
        report = BuildReport(reused=len(manifest) - len(todo), damaged=n_damaged)
        rows = [row.to_dict() for _, row in todo.iterrows()]
        workers = min(workers or os.cpu_count() or 1, max(len(rows), 1))
        bar = tqdm(total=len(rows), desc=f"{self.name} [{self.key}]", disable=not progress or not rows)
        if workers <= 1:
            for row in rows:
                self._record(report, row, *_compute_and_save(self, compute, row))
                bar.update()
        else:
            # spawned, not forked: a forked child of a process whose torch/OpenCV thread pools are running
            # can hang at random (it did in CI, in tests/test_iicl_run.py); spawn costs an import per worker
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_single_threaded_worker) as pool:
                futures = {pool.submit(_compute_and_save, self, compute, row): row for row in rows}
                for future in as_completed(futures):
                    self._record(report, futures[future], *future.result())
                    bar.update()
        bar.close()
        if strict and report.failed:
            raise RuntimeError(f"{self.name} cache: {len(report.failed)} clips failed:\n{report}")
        return report

    def _sweep_temporaries(self) -> None:
        """Remove temporary files a killed run left behind (never complete entries)."""
        if self.dir.is_dir():
            for tmp in self.dir.rglob(".*.tmp-*"):
                tmp.unlink(missing_ok=True)

    @staticmethod
    def _record(report: BuildReport, row: dict[str, Any], ok: bool, reason: str) -> None:
        if ok:
            report.computed += 1
        else:
            report.failed[f"{row['subject']}/{row['clip']}"] = reason


def _single_threaded_worker() -> None:
    """Workers compute one clip each on one thread, so ``workers`` processes use ``workers`` cores."""
    import sys

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"  # read by torch / numpy when the computation first imports them
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass


def _compute_and_save(cache: ClipCache, compute: Callable, row: dict[str, Any]) -> tuple[bool, str]:
    try:
        cache.save(row, compute(row))
    except Exception as error:  # reported per clip; the build goes on with the others
        last = traceback.extract_tb(error.__traceback__)[-1]
        return False, f"{type(error).__name__}: {error} (at {Path(last.filename).name}:{last.lineno})"
    return True, ""
