"""Subject-independent evaluation protocols: leave-one-subject-out (LOSO) and subject k-fold.

No subject ever appears on both sides of a split. Folds are deterministic: the same manifest, ``k``
and ``seed`` always give the same folds, on any machine.

One protocol breaks that rule on purpose: ``"random_clips"`` (:func:`random_clip_kfold`) deals clips
to folds at random, so a subject's clips sit on both sides. It exists for notebook 10 (protocol
pitfalls), to measure what such a split inflates; no reported result uses it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

PROTOCOLS = ("kfold", "loso")
#: Protocols that are not subject-independent: analysis only (notebook 10), never a reported result.
ANALYSIS_PROTOCOLS = ("random_clips",)


@dataclass(frozen=True)
class Split:
    """One fold: which subjects train and which are held out; or, for the analysis-only random clip
    split, which clips (``"subject/clip"`` ids in ``test_clips``) are held out."""

    fold: int
    train_subjects: tuple[str, ...]
    test_subjects: tuple[str, ...]
    test_clips: tuple[str, ...] = ()

    def masks(self, manifest: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Boolean row masks ``(train, test)`` of ``manifest`` (by its ``subject`` column, or by clip id
        for a clip split)."""
        if self.test_clips:
            test = clip_ids(manifest).isin(self.test_clips).to_numpy()
            return ~test, test
        subjects = manifest["subject"].astype(str)
        return subjects.isin(self.train_subjects).to_numpy(), subjects.isin(self.test_subjects).to_numpy()

    def frames(self, manifest: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The manifest's ``(train, test)`` rows."""
        train, test = self.masks(manifest)
        return manifest[train], manifest[test]


def loso(manifest: pd.DataFrame) -> list[Split]:
    """Leave-one-subject-out: one fold per subject, in sorted subject order."""
    subjects = _subjects(manifest)
    return [Split(i, tuple(s for s in subjects if s != held), (held,)) for i, held in enumerate(subjects)]


def subject_kfold(manifest: pd.DataFrame, k: int = 4, seed: int = 0) -> list[Split]:
    """Subject-independent k-fold with folds balanced by clip count.

    Subjects are shuffled with ``seed`` (to break ties between equal counts differently per seed), then
    sorted by clip count, largest first (stable), and each goes to the fold holding fewest clips so far
    (lowest fold index on a tie). This keeps test folds of similar size, which matters for AU F1 on
    small datasets. IICL uses ``k = 4``.
    """
    subjects = _subjects(manifest)
    if not 2 <= k <= len(subjects):
        raise ValueError(f"k must be between 2 and the number of subjects ({len(subjects)}); got {k}")
    counts = manifest["subject"].astype(str).value_counts()
    order = list(np.random.default_rng(seed).permutation(subjects))
    order.sort(key=lambda s: -int(counts[s]))
    loads = [0] * k
    members: list[list[str]] = [[] for _ in range(k)]
    for subject in order:
        target = min(range(k), key=lambda f: (loads[f], f))
        members[target].append(subject)
        loads[target] += int(counts[subject])
    splits = []
    for fold, held in enumerate(members):
        held_sorted = tuple(sorted(held))
        splits.append(Split(fold, tuple(s for s in subjects if s not in held), held_sorted))
    return splits


def clip_ids(manifest: pd.DataFrame) -> pd.Series:
    """``"subject/clip"`` of each row."""
    return manifest["subject"].astype(str) + "/" + manifest["clip"].astype(str)


def random_clip_kfold(manifest: pd.DataFrame, k: int = 4, seed: int = 0) -> list[Split]:
    """**Not subject-independent** (analysis only): clips shuffled with ``seed`` and dealt round-robin
    to ``k`` folds, so each subject's clips fall on both sides of every split. Notebook 10 trains on it
    to measure how much a random clip split inflates a score; see :data:`ANALYSIS_PROTOCOLS`."""
    ids = clip_ids(manifest).tolist()
    if len(set(ids)) != len(ids):
        raise ValueError("random_clip_kfold needs unique 'subject/clip' ids")
    if not 2 <= k <= len(ids):
        raise ValueError(f"k must be between 2 and the number of clips ({len(ids)}); got {k}")
    order = np.random.default_rng(seed).permutation(len(ids))
    subjects = _subjects(manifest)
    out = []
    for fold in range(k):
        held = tuple(sorted(ids[i] for i in order[fold::k]))
        held_subjects = tuple(sorted({c.rsplit("/", 1)[0] for c in held}))  # MEGC subjects hold a "/" too
        out.append(Split(fold, tuple(subjects), held_subjects, held))
    return out


def make_splits(manifest: pd.DataFrame, protocol: str = "kfold", k: int = 4, seed: int = 0) -> list[Split]:
    """Folds for ``protocol`` in ``("kfold", "loso")``, or the analysis-only ``"random_clips"``."""
    if protocol == "kfold":
        return subject_kfold(manifest, k=k, seed=seed)
    if protocol == "loso":
        return loso(manifest)
    if protocol == "random_clips":
        return random_clip_kfold(manifest, k=k, seed=seed)
    raise ValueError(f"protocol must be one of {PROTOCOLS} (or, for analysis only, {ANALYSIS_PROTOCOLS}); "
                     f"got {protocol!r}")


def select_folds(splits: list[Split], fold: int) -> list[Split]:
    """``fold = -1`` selects every fold; ``0 <= fold < len(splits)`` selects one; else a clear error."""
    if isinstance(fold, bool) or not isinstance(fold, (int, np.integer)):
        raise TypeError(f"fold must be an int; got {type(fold).__name__} {fold!r}")
    if fold == -1:
        return list(splits)
    if not 0 <= fold < len(splits):
        raise ValueError(f"fold {fold} is out of range: this protocol has {len(splits)} folds "
                         f"(0..{len(splits) - 1}); use -1 for all folds")
    return [splits[fold]]


def loso_subjects(manifest: pd.DataFrame) -> list[str]:
    """The held-out subject of each LOSO fold, in fold order (sorted subject order)."""
    return _subjects(manifest)


def check_loso_fold(manifest: pd.DataFrame, fold: int, who: str) -> None:
    """Raise before any work if ``fold`` is not -1 or a LOSO fold of ``manifest``; the message names
    ``who`` (the method), the fold and the subjects in fold order."""
    try:
        select_folds(loso(manifest), fold)
    except ValueError as err:
        raise ValueError(f"{who} LOSO: {err} (subjects in order: {loso_subjects(manifest)})") from None


def _subjects(manifest: pd.DataFrame) -> list[str]:
    if "subject" not in manifest.columns:
        raise KeyError("manifest has no 'subject' column")
    subjects = sorted(manifest["subject"].astype(str).unique())
    if len(subjects) < 2:
        raise ValueError(f"a subject-independent protocol needs at least 2 subjects; got {subjects}")
    return subjects
