"""The MEGC 2019 composite database: CASME II, SAMM and SMIC-HS as one 3-class manifest.

The composite protocol (MEGC 2019; ``../shared/notes/datasets.md``) pools the three datasets' clips under
three classes (negative, positive, surprise: :func:`melib.data.map_emotions`), runs leave-one-subject-out
over all their subjects and scores the pooled predictions, on the whole and on each dataset's part.

:func:`load_composite` reads each part with its own reader (:func:`melib.data.read_annotations`) and
stacks them: every row keeps its dataset in the ``dataset`` column (``casme2``, ``samm``, ``smic``), its
emotion in that dataset's words and its frame folder, so frames load and faces align as in the part
(:func:`melib.preprocess.default_align` per row: ``align="auto"``). Subjects are prefixed by their
dataset (``casme2/sub01``, ``samm/006``, ``smic/s1``), the 3-class label is the ``class3`` column, and
clips whose emotion has no 3-class mapping are dropped and listed in ``attrs["dropped"]``. AU columns
are those of CASME II and SAMM (an AU one of them does not annotate is 0 there); SMIC-HS has no AU
labels, so its rows hold NaN in every AU column and :func:`melib.data.au_matrix` refuses them.

The three roots are given as a mapping or as one string (command lines, notebook parameters)::

    load_manifest("megc", "casme2=/data/CASME2,samm=/data/SAMM,smic=/data/SMIC")
    load_composite({"casme2": "/data/CASME2", "samm": "/data/SAMM", "smic": "/data/SMIC"})

A part left out is looked for at its default location (``<MELIB_DATA>/CASME2``, ``SAMM``, ``SMIC``), so
``load_manifest("megc")`` reads the three licensed datasets where ``load_manifest(name)`` finds each.
There is no composite of the default synthetic dataset: :func:`write_synthetic_parts` writes the three
official layouts, each from its own synthetic seed so the parts' subjects are different people, as they
are in the real composite.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..progress import print_once
from .manifest import dataset_root
from .mappings import map_emotions
from .readers import read_annotations

NAME = "megc"
PARTS = ("casme2", "samm", "smic")
#: Between a part's name and its subject in the composite's subject ids (``casme2/sub01``).
SEPARATOR = "/"
#: The synthetic seed of each part written by :func:`write_synthetic_parts` (different people per part).
SYNTHETIC_SEEDS = {"casme2": 0, "samm": 1, "smic": 2}

Roots = str | Mapping[str, str | os.PathLike] | None


def parse_roots(roots: Roots = None) -> dict[str, Path]:
    """``{part: root}`` of the three parts, from a mapping or a ``"casme2=/a,samm=/b,smic=/c"`` string.

    Parts not given come from :func:`melib.data.dataset_root` (the licensed default location; raises
    ``FileNotFoundError`` when absent). Unknown or repeated parts raise ``ValueError``. Paths holding a comma
    need the mapping form.
    """
    if roots is None or isinstance(roots, str):
        given: dict[str, str] = {}
        for item in (roots or "").split(","):
            if not item.strip():
                continue
            part, sep, path = item.partition("=")
            part = part.strip().lower()
            if not sep or not path.strip():
                raise ValueError(f"composite roots must read 'casme2=PATH,samm=PATH,smic=PATH'; got {item!r}")
            if part in given:
                raise ValueError(f"composite roots name {part!r} twice")
            given[part] = path.strip()
    else:
        given = {str(k).lower(): os.fspath(v) for k, v in roots.items()}
    unknown = sorted(set(given) - set(PARTS))
    if unknown:
        raise ValueError(f"the MEGC composite's parts are {', '.join(PARTS)}; got {', '.join(unknown)}")
    return {part: dataset_root(part, given.get(part, "")) for part in PARTS}


def format_roots(roots: Roots = None) -> str:
    """The one-string form of the three roots (absolute paths, parts in :data:`PARTS` order): the
    composite's ``attrs["root"]``, hence part of every cache key built on it."""
    return ",".join(f"{part}={Path(path).resolve()}" for part, path in parse_roots(roots).items())


def split_subject(subject: str) -> tuple[str, str]:
    """``"samm/006" -> ("samm", "006")``: a composite subject id's part and the part's own subject."""
    part, sep, own = str(subject).partition(SEPARATOR)
    if not sep or part not in PARTS:
        raise ValueError(f"{subject!r} is not a composite subject id like 'casme2{SEPARATOR}sub01'")
    return part, own


def load_composite(roots: Roots = None, subjects: int | None = None, frames: str = "cropped",
                   **kwargs: Any) -> pd.DataFrame:
    """The composite manifest of the three parts (see the module docstring).

    Parameters
    ----------
    roots
        The parts' roots (:func:`parse_roots`).
    subjects
        Keep the ``subjects`` subjects with the most clips *in each part* (the fast profiles' stand-in),
        counted after the 3-class selection; ``None``: every subject.
    frames
        CASME II's frame tree (``"cropped"`` or ``"raw"``); the other parts have one tree.
    kwargs
        Passed to every part's :func:`melib.data.read_annotations` (``strict``, ``check_frames``,
        ``smic_apex``).

    Returns
    -------
    DataFrame
        The parts' manifests stacked (columns of :func:`read_annotations` plus ``source_subject``, the
        part's own subject, and ``class3``), sorted by part then subject; ``attrs``: ``dataset="megc"``,
        ``root`` (:func:`format_roots`), ``roots`` (per part), ``problems`` (the readers', each with its
        ``dataset``), ``dropped`` (clips without a 3-class label: dataset, subject, clip, emotion).
    """
    if "annotation" in kwargs:
        raise ValueError("the composite reads each part's newest sheet; read a part alone to choose its sheet")
    paths = parse_roots(roots)
    parts, problems, dropped = [], [], []
    for part, root in paths.items():
        manifest = read_annotations(part, root, frames=frames if part == "casme2" else "cropped", **kwargs)
        problems += [{"dataset": part, **p} for p in manifest.attrs.get("problems", [])]
        labels = map_emotions(manifest["dataset"], manifest["emotion"], "3class")
        keep = pd.Series([c is not None for c in labels], index=manifest.index)
        dropped += [{"dataset": part, "subject": r.subject, "clip": r.clip, "emotion": r.emotion}
                    for r in manifest[~keep].itertuples()]
        manifest = manifest[keep].assign(class3=[c for c in labels if c is not None])
        if subjects is not None:
            manifest = _most_clips(manifest, subjects)
        parts.append(manifest.assign(source_subject=manifest["subject"],
                                     subject=part + SEPARATOR + manifest["subject"].astype(str)))
    composite = pd.concat(parts, ignore_index=True)
    aus = sorted((c for c in composite.columns if re.fullmatch(r"AU\d+", str(c))), key=lambda c: int(c[2:]))
    composite = composite[[c for c in composite.columns if c not in aus] + aus]
    labelled = composite["dataset"] != "smic"  # CASME II and SAMM code every AU they see; SMIC-HS codes none
    for column in aus:
        composite[column] = composite[column].astype(float)
        composite.loc[labelled, column] = composite.loc[labelled, column].fillna(0.0)
    composite.attrs = {"dataset": NAME, "root": format_roots(paths), "roots": {p: str(r) for p, r in paths.items()},
                       "problems": problems, "dropped": dropped, "annotation": None}
    if dropped:
        counts = pd.DataFrame(dropped).groupby(["dataset", "emotion"]).size()
        what = "; ".join(f"{part}: " + ", ".join(f"{e} x{n}" for e, n in counts[part].items())
                         for part in PARTS if part in counts.index.get_level_values(0))
        print_once(f"MEGC composite (3 classes): dropped {len(dropped)} clips whose emotion has no 3-class label "
                   f"({what}); {len(composite)} remain (all in attrs['dropped'])")
    return composite


def _most_clips(manifest: pd.DataFrame, n: int) -> pd.DataFrame:
    """The clips of the ``n`` subjects with the most clips (ties by name), as :func:`subset_subjects`."""
    if n < 1:
        raise ValueError(f"subjects must be >= 1; got {n}")
    counts = manifest.groupby("subject").size()
    keep = sorted(counts.index, key=lambda s: (-counts[s], s))[:n]
    return manifest[manifest["subject"].isin(keep)]


def part_of(rows: pd.DataFrame) -> pd.Series:
    """Each row's part (its ``dataset`` column), checked against its subject id's prefix."""
    prefix = rows["subject"].astype(str).map(lambda s: split_subject(s)[0])
    if not (prefix == rows["dataset"].astype(str)).all():
        raise ValueError("composite rows whose subject prefix is not their dataset")
    return prefix


def write_synthetic_parts(out: str | os.PathLike, subjects: int = 3, clips_per_subject: int = 2, size: int = 128,
                          frame_size: tuple[int, int] = (640, 360), workers: int | None = 1,
                          progress: bool = False) -> dict[str, Path]:
    """Write the synthetic dataset in CASME II's, SAMM's and SMIC-HS's layouts under ``out/<part>`` and
    return their roots (complete parts with the same settings are kept).

    Each part is generated from its own seed (:data:`SYNTHETIC_SEEDS`), so no synthetic person is a subject
    of two parts (one source converted three times would put each person in all three, and LOSO would
    test on faces it trained on). ``frame_size`` (width, height) is SAMM's full frame; SMIC-HS leaves out
    the ``others`` clips, as its layout does.
    """
    from .synthetic import layouts

    out = Path(out).expanduser().resolve()
    roots = {}
    for part in PARTS:
        wanted = dict(subjects=subjects, clips_per_subject=clips_per_subject, size=size, seed=SYNTHETIC_SEEDS[part])
        roots[part] = out / part
        if not layouts.is_complete(roots[part], part, frame_size, **wanted):
            layouts.generate(roots[part], part, frame_size, workers=workers, progress=progress, **wanted)
    return roots


__all__ = ["NAME", "PARTS", "SEPARATOR", "SYNTHETIC_SEEDS", "format_roots", "load_composite", "parse_roots",
           "part_of", "split_subject", "write_synthetic_parts"]
