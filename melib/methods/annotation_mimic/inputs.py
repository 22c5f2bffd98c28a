"""Annotation mimic's inputs: the cached magnified-flow input of each clip, its class under a scheme and the AUs it trains on."""
from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from ... import preprocess
from ...cache import ClipCache
from ...data import au_set, has_au_labels, map_emotions
from ...data.composite import PARTS as COMPOSITE_PARTS
from ...preprocess import face_frames, magnify_apex
from ...progress import print_once
from .config import MimicConfig
from .model import VARIANTS, get_variant


# --------------------------------------------------------------------------------------- input cache
def input_cache(manifest: pd.DataFrame, cfg: MimicConfig, root: str | Path | None = None) -> ClipCache:
    """The front end's cache of ``cfg``'s inputs for ``manifest``'s dataset (:func:`melib.preprocess.input_cache`)."""
    return preprocess.input_cache("mimic", {"mimic_input": cfg.input_settings()}, manifest, root)


def compute_input(row: Mapping[str, Any], cfg: MimicConfig) -> dict[str, np.ndarray]:
    """One clip's entry: ``image`` (S, S, 3) float16 in [0, 1] (grey magnified apex, On-A and Off-A
    flow magnitudes; :func:`melib.motion.flow.mimic_input`) and ``frame_numbers`` (onset, apex, offset).

    Magnification and flows run at the frames' resolution (the aligned face crop when ``cfg.align`` is
    set); the result is then resized to S.
    """
    from ...motion.flow import mimic_input

    numbers = [int(row["onset"]), int(row["apex"]), int(row["offset"])]
    frames, _ = face_frames(row, numbers, cfg.align)
    onset, apex, offset = (frames[n] for n in numbers)
    magnified = magnify_apex(onset, apex, cfg.magnify, cfg.factor, cfg.learned_checkpoint, cfg.learned_profile)
    image = mimic_input(onset, apex, offset, magnified_apex=magnified, target=cfg.flow_target,
                        threshold=cfg.flow_threshold, method=cfg.flow)
    size = cfg.image_size
    if image.shape[:2] != (size, size):
        shrink = image.shape[0] > size and image.shape[1] > size
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return {"image": np.clip(image, 0.0, 1.0).astype(np.float16), "frame_numbers": np.asarray(numbers)}


def prepare(manifest: pd.DataFrame, cfg: MimicConfig, rows: pd.DataFrame | None = None, workers: int | None = None,
            progress: bool = True, strict: bool = False, root: str | Path | None = None) -> ClipCache:
    """Compute every missing input of ``rows`` (default: all of ``manifest``) in parallel, resumably.

    The key comes from ``manifest`` (the whole dataset), so the 5- and 3-class schemes, which keep
    different clips of it, share one cache. The learned magnifier is loaded once, before forking.
    """
    cache = input_cache(manifest, cfg, root)
    learned = (cfg.learned_checkpoint, cfg.learned_profile) if cfg.magnify == "learned" else None
    preprocess.build_inputs(cache, manifest if rows is None else rows, functools.partial(compute_input, cfg=cfg),
                            "annotation-mimic inputs", workers, progress, strict, learned)
    return cache


# ------------------------------------------------------------------------------------ classes and AUs
def dataset_name(rows: pd.DataFrame) -> str:
    """The one dataset a manifest holds (its ``dataset`` column), or ``"megc"`` for clips of the MEGC
    composite's parts (:mod:`melib.data.composite`), whose classes are the three classes."""
    names = sorted(set(rows["dataset"].astype(str))) if "dataset" in rows else []
    if len(names) > 1 and set(names) <= set(COMPOSITE_PARTS):
        return "megc"
    if len(names) != 1:
        raise ValueError(f"annotation mimic needs clips of one dataset or of the MEGC composite; got {names}")
    return names[0]


def class_labels(rows: pd.DataFrame, scheme: str) -> list[str | None]:
    """Each clip's class under ``scheme`` (``None``: the scheme drops the clip), each clip in its own
    dataset's words (:func:`melib.data.map_emotions`; a composite pools them in the 3-class scheme only)."""
    if "dataset" not in rows:
        raise ValueError("annotation mimic needs the manifest's 'dataset' column to read its emotions")
    return map_emotions(rows["dataset"], rows["emotion"], scheme)


def resolve_aus(rows: pd.DataFrame, cfg: MimicConfig) -> tuple[int, ...]:
    """The AUs of the multi-hot WSCL labels: every ``AU<n>`` column (``"all"``), the dataset's
    standard set (``"standard"``) or ``cfg.aus`` as given.

    Clips without AU labels (SMIC-HS, hence the MEGC composite) get none, ``()``, when the variant does not
    align features with AUs (``sb``, ``db``, ``db+awm``: AU labels then only follow Region Replacing and
    are never read); the AU variants raise there, as their WSCL term has nothing to align with.
    """
    if not has_au_labels(rows):
        if not get_variant(cfg.variant).au:
            return ()
        raise ValueError(f"annotation mimic {cfg.variant}: WSCL (Eq. 4-5) needs AU labels on every clip and some clips "
                         f"have none (SMIC-HS, hence the MEGC composite); choose a variant without AUs: "
                         f"{[v for v, var in VARIANTS.items() if not var.au]}")
    if cfg.aus == "all":
        found = sorted(int(m.group(1)) for c in rows.columns if (m := re.fullmatch(r"AU(\d+)", str(c))))
        if not found:
            raise ValueError("the manifest has no AU<n> columns; annotation mimic's WSCL needs AU labels")
        return tuple(found)
    if cfg.aus == "standard":
        return tuple(au_set(dataset_name(rows)))
    return tuple(cfg.aus)


def trainable_variants(variants: Sequence[str], rows: pd.DataFrame) -> tuple[list[str], str]:
    """The variants of ``variants`` that can train on ``rows``, and one line on those left out (``""``: none).

    Every variant trains on clips with AU labels. On clips without them (SMIC-HS) only the variants whose
    loss does not align features with AUs (``sb``, ``db``, ``db+awm``) can; the others (``db+all`` and every
    ``+au``: WSCL, Eqs. 4-5) are left out, named with the reason. ``ValueError`` when none is left.
    """
    if has_au_labels(rows):
        return list(variants), ""
    au_free = [v for v in variants if not get_variant(v).au]
    skipped = [v for v in variants if get_variant(v).au]
    names = sorted(set(rows["dataset"].astype(str))) if "dataset" in rows else []
    where = ", ".join(names) or "these clips"
    choices = [v for v, var in VARIANTS.items() if not var.au]
    if not au_free:
        raise ValueError(f"annotation mimic: every variant asked for ({', '.join(variants)}) aligns features with AU "
                         f"labels (WSCL, Eqs. 4-5) and {where} has no AU labels; choose from {choices}")
    if not skipped:
        return au_free, ""
    return au_free, (f"{', '.join(skipped)} skipped: {where} has no AU labels and WSCL (Eqs. 4-5) aligns features "
                     f"with AUs; training {', '.join(au_free)}")


def cam_picks(rows: pd.DataFrame, subjects: Sequence[str], classes: str, n: int = 4) -> tuple[pd.DataFrame, str]:
    """Up to ``n`` clips of different subjects among ``subjects`` that share what the CAM figure compares,
    and that shared thing as text: the most frequent AU (``"AU4"``), or, on clips without AU labels
    (SMIC-HS), the most frequent class under ``classes`` (``"negative"``)."""
    trained = rows["subject"].isin(subjects)
    if has_au_labels(rows):
        shared_au = rows["aus"].explode().value_counts().index[0]
        picks = rows[rows["aus"].map(lambda a: shared_au in a) & trained].drop_duplicates("subject").head(n)
        return picks, f"AU{shared_au}"
    labels = pd.Series(class_labels(rows, classes), index=rows.index)
    shared = labels[trained].value_counts().index[0]
    return rows[(labels == shared) & trained].drop_duplicates("subject").head(n), str(shared)


def select_clips(manifest: pd.DataFrame, cfg: MimicConfig, verbose: bool = True) -> pd.DataFrame:
    """The clips whose emotion has a class under ``cfg.classes`` (index reset, attrs kept); prints
    how many were dropped and which emotions they had."""
    labels = class_labels(manifest, cfg.classes)
    keep = np.array([c is not None for c in labels], dtype=bool)
    kept = manifest[keep].reset_index(drop=True)
    kept.attrs = dict(manifest.attrs)
    if verbose and not keep.all():
        dropped = manifest.loc[~keep, "emotion"].astype(str).str.lower().value_counts()
        what = ", ".join(f"{e} x{n}" for e, n in dropped.items())
        print_once(f"annotation mimic ({cfg.classes}): dropped {int((~keep).sum())} of {len(manifest)} clips "
                   f"whose emotion has no class in this scheme ({what}); {len(kept)} remain")
    return kept
