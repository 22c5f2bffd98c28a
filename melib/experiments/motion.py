"""Motion experiments on a dataset (notebooks 02 and 03): per-clip pipelines that run magnifiers and
flow methods, measure them with :mod:`melib.motion.measure` against the synthetic ground truth (or
estimated motion on real data), cache the arrays per clip and turn them into tables.

Per-clip pipelines return plain arrays so a :class:`melib.cache.ClipCache` can store them; ``*_table``
functions turn cached arrays into tables; ``*_results`` run a pipeline over clips, cached under a key
of all its settings.
"""
from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from ..config import outputs_root
from ..data.mappings import FRAME_RATES
from ..face.regions import face_mask, region_masks, region_means
from ..io import atomic_path
from ..motion.flow import endpoint_errors, flow_magnitude
from ..motion.measure import (EPE_EDGES, binned_epe, fit_motion_factor, ideal_magnified, image_quality, mask_box,
                              min_jacobian, motion_mask, projected_factor)


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """``fn(*args, **kwargs)`` and its wall-clock time in seconds."""
    began = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - began


def model_fingerprint(model: Any) -> str:
    """12-hex digest of a torch module's parameters (names a learned magnifier in cache keys)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:12]


# --------------------------------------------------------------------------- per-clip pipelines
#: Frame rates of the datasets (CASME II and SAMM 200 fps, SMIC-HS 100 fps, CAS(ME)^3 30 fps).
#: Magnifiers compared in notebook 02: EVM on (onset, apex), EVM on the whole clip, Oh et al.'s network.
MAGNIFIERS: tuple[str, ...] = ("evm_pair", "evm_clip", "learned")


def clip_truth(row: Mapping[str, Any], root: str | None) -> dict[str, Any] | None:
    """Ground truth of a synthetic clip (see ``melib.data.synthetic.load_groundtruth``); None otherwise."""
    if row.get("dataset") != "synthetic" or not root:
        return None
    from ..data.synthetic import load_groundtruth

    return load_groundtruth(root, row["subject"], row["clip"])


def clip_frames(row: Mapping[str, Any]) -> tuple[np.ndarray, int]:
    """Frames onset..offset on disk (RGB) and the apex's index among them."""
    from ..data import available_frames, load_clip

    numbers = [n for n in available_frames(row) if int(row["onset"]) <= n <= int(row["offset"])]
    if int(row["apex"]) not in numbers:
        raise ValueError(f"{row['subject']}/{row['clip']}: apex frame {row['apex']} is not on disk")
    return load_clip(row), numbers.index(int(row["apex"]))


def _pattern_and_mask(onset: np.ndarray, apex: np.ndarray, truth: dict[str, Any] | None, fraction: float
                      ) -> tuple[np.ndarray, np.ndarray, tuple[slice, slice]]:
    """Motion pattern, the pixels to measure on and the face box: from the truth, else estimated
    (Farneback flow inside a dlib face mask).

    With the truth, pixels whose brightness the AUs' appearance changes (synthetic ground truth
    ``appearance_apex``, grown by 3 px) are left out: a motion instrument assumes brightness constancy.
    """
    if truth is not None:
        face = face_mask(truth["landmarks"][0], onset.shape[:2])
        mask = motion_mask(truth["au_flow_onset_apex"], fraction)
        if "appearance_apex" in truth:
            shaded = (np.abs(np.asarray(truth["appearance_apex"], np.float32)) > 0.01).astype(np.uint8)
            unchanged = cv2.dilate(shaded, np.ones((5, 5), np.uint8)) == 0
            mask = mask & unchanged if (mask & unchanged).sum() >= 50 else mask
        return truth["flow_onset_apex"], mask, mask_box(face)
    from ..face import landmarks
    from ..motion.flow import optical_flow

    face = face_mask(landmarks(onset), onset.shape[:2])
    pattern = optical_flow(onset, apex, "farneback")
    return pattern, motion_mask(pattern, fraction, within=face), mask_box(face)


def magnification_measurements(row: Mapping[str, Any], alphas: Sequence[float], root: str | None = None,
                               model: Any = None, band: Sequence[float] = (0.5, 20.0), lambda_c: float = 16.0,
                               instruments: Sequence[str] = ("farneback", "dis"),
                               mask_fraction: float = 0.3) -> dict[str, np.ndarray]:
    """Effective magnification factor, artefacts and timing of each magnifier on one clip.

    For each EVM ``alpha`` the factor asked for is ``F = 1 + alpha``; the learned model (if given) is
    called with ``F`` (Oh et al.'s alpha multiplies the displacement). ``evm_clip`` runs EVM on the
    whole clip with the temporal ``band`` (Hz) and is measured from the magnified onset to the
    magnified apex. PSNR/SSIM compare with :func:`ideal_magnified` and need the truth (else NaN).
    ``instruments``: flow methods whose reading (:func:`projected_factor`) on the apex and on ideal
    frames shows their bias. Returns arrays for a :class:`melib.cache.ClipCache`.
    """
    from ..data import load_frame
    from ..motion import learned as learned_api
    from ..motion.flow import optical_flow
    from ..motion.magnify import magnify_clip_frames, magnify_pair

    onset, apex = load_frame(row, int(row["onset"])), load_frame(row, int(row["apex"]))
    truth = clip_truth(row, root)
    pattern, mask, box = _pattern_and_mask(onset, apex, truth, mask_fraction)
    frames, apex_i = clip_frames(row)
    fps = float(truth["fps"]) if truth is not None else FRAME_RATES[str(row["dataset"])]
    names = [m for m in MAGNIFIERS if m != "learned" or model is not None]
    shape = (len(names), len(alphas))
    out = {k: np.full(shape, np.nan) for k in ("factor", "correlation", "psnr", "ssim", "seconds")}
    out.update(ideal_factor=np.full(len(alphas), np.nan), min_jacobian=np.full(len(alphas), np.nan),
               instrument_ideal=np.full((len(instruments), len(alphas)), np.nan))
    for j, alpha in enumerate(alphas):
        factor = 1.0 + alpha
        ideal = ideal_magnified(apex, pattern, factor) if truth is not None else None
        runs = {"evm_pair": lambda: (onset, magnify_pair(onset, apex, alpha, lambda_c=lambda_c)),
                "evm_clip": lambda: tuple(magnify_clip_frames(frames, [0, apex_i], alpha, band[0], band[1], fps,
                                                              lambda_c=lambda_c)),
                "learned": lambda: (onset, learned_api.magnify_pair(model, onset, apex, factor))}
        for i, name in enumerate(names):
            (reference, magnified), out["seconds"][i, j] = timed(runs[name])
            out["factor"][i, j], out["correlation"][i, j] = fit_motion_factor(
                reference, magnified, pattern, mask, 2 * factor + 1)
            if ideal is not None and name != "evm_clip":  # the clip mode also moves the onset: no common ideal
                out["psnr"][i, j], out["ssim"][i, j] = image_quality(magnified, ideal, box)
        if ideal is not None:
            out["ideal_factor"][j] = fit_motion_factor(onset, ideal, pattern, mask, 2 * factor + 1)[0]
            out["min_jacobian"][j] = min_jacobian(pattern, factor)
            for k, method in enumerate(instruments):
                out["instrument_ideal"][k, j] = projected_factor(optical_flow(onset, ideal, method), pattern, mask)
    apex_fit = fit_motion_factor(onset, apex, pattern, mask, 3.0)[0]
    return {**out, "magnifiers": np.array(names), "alphas": np.asarray(alphas, np.float64),
            "instruments": np.array(list(instruments)),
            "instrument_apex": np.array([projected_factor(optical_flow(onset, apex, m), pattern, mask)
                                         for m in instruments]),
            "apex_factor": np.float64(apex_fit), "truth": np.bool_(truth is not None),
            "amplitude": np.float64(flow_magnitude(pattern)[mask].mean())}


def magnification_table(results: Mapping[tuple[str, str], Mapping[str, np.ndarray]]) -> pd.DataFrame:
    """One row per clip, magnifier and alpha from ``{(subject, clip): magnification_measurements(...)}``.

    Adds ``target`` (1 + alpha), ``amplitude`` (mean true motion on the measured pixels, px),
    ``target_amplitude`` and ``measured_amplitude`` (px), and ``folds`` (the ideal motion would fold
    the image: ``min_jacobian <= 0``).
    """
    rows = []
    for (subject, clip), r in results.items():
        for i, name in enumerate(r["magnifiers"]):
            for j, alpha in enumerate(r["alphas"]):
                factor = 1.0 + float(alpha)
                rows.append({"subject": subject, "clip": clip, "magnifier": str(name), "alpha": float(alpha),
                             "target": factor, "factor": r["factor"][i, j], "correlation": r["correlation"][i, j],
                             "psnr": r["psnr"][i, j], "ssim": r["ssim"][i, j], "seconds": r["seconds"][i, j],
                             "amplitude": float(r["amplitude"]), "target_amplitude": factor * float(r["amplitude"]),
                             "measured_amplitude": r["factor"][i, j] * float(r["amplitude"]),
                             "ideal_factor": r["ideal_factor"][j], "folds": bool(r["min_jacobian"][j] <= 0)})
    return pd.DataFrame(rows)


def calibration_table(results: Mapping[tuple[str, str], Mapping[str, np.ndarray]]) -> pd.DataFrame:
    """What each instrument reads where the answer is known: the unmagnified apex (target 1) and the
    ideal frames (target 1 + alpha). Instruments: ``"pattern fit"`` (:func:`fit_motion_factor`) and
    the flow methods (:func:`projected_factor`)."""
    rows = []
    for (subject, clip), r in results.items():
        base = {"subject": subject, "clip": clip}
        rows.append({**base, "instrument": "pattern fit", "frame": "apex", "target": 1.0,
                     "reading": float(r["apex_factor"])})
        for k, method in enumerate(r["instruments"]):
            rows.append({**base, "instrument": str(method), "frame": "apex", "target": 1.0,
                         "reading": float(r["instrument_apex"][k])})
        for j, alpha in enumerate(r["alphas"]):
            if r["min_jacobian"][j] <= 0 or not bool(r["truth"]):
                continue
            rows.append({**base, "instrument": "pattern fit", "frame": "ideal", "target": 1.0 + float(alpha),
                         "reading": float(r["ideal_factor"][j])})
            for k, method in enumerate(r["instruments"]):
                rows.append({**base, "instrument": str(method), "frame": "ideal", "target": 1.0 + float(alpha),
                             "reading": float(r["instrument_ideal"][k, j])})
    return pd.DataFrame(rows)


def flow_measurements(row: Mapping[str, Any], methods: Sequence[str], alpha: float, root: str | None = None,
                      edges: Sequence[float] = EPE_EDGES, strain_method: str = "tvl1",
                      lambda_c: float = 16.0) -> dict[str, np.ndarray]:
    """EPE by true displacement, time per pair and regional strain of each flow method on one clip.

    Conditions: ``"none"`` (onset -> apex), ``"evm"`` (onset -> EVM two-frame apex at ``alpha``) and,
    with truth, ``"ideal"`` (onset -> :func:`ideal_magnified` at ``1 + alpha``); a magnified flow is
    divided by ``1 + alpha`` before it is compared with the truth. EPE is pooled inside the face mask
    (dlib landmarks of the onset, as on real data). Strain: :func:`optical_strain` of the
    ``strain_method`` flow (unmagnified) averaged in :func:`region_masks`; ``strain_true`` from the truth.
    """
    from ..data import load_frame
    from ..face import landmarks
    from ..motion.flow import optical_flow, optical_strain
    from ..motion.magnify import magnify_pair

    onset, apex = load_frame(row, int(row["onset"])), load_frame(row, int(row["apex"]))
    truth = clip_truth(row, root)
    points = landmarks(onset)
    face, regions = face_mask(points, onset.shape[:2]), region_masks(points, onset.shape[:2])
    targets = {"none": (apex, 1.0), "evm": (magnify_pair(onset, apex, alpha, lambda_c=lambda_c), 1.0 + alpha)}
    if truth is not None:
        targets["ideal"] = (ideal_magnified(apex, truth["flow_onset_apex"], 1.0 + alpha), 1.0 + alpha)
    n_m, n_c, n_b = len(methods), len(targets), len(edges) - 1
    out = {"epe_sum": np.zeros((n_m, n_c, n_b)), "epe_count": np.zeros(n_b), "epe_face": np.full((n_m, n_c), np.nan),
           "seconds": np.zeros((n_m, n_c)), "strain": np.full(len(regions), np.nan),
           "strain_true": np.full(len(regions), np.nan)}
    for i, method in enumerate(methods):
        for j, (condition, (target, factor)) in enumerate(targets.items()):
            flow, out["seconds"][i, j] = timed(optical_flow, onset, target, method)
            flow = flow / np.float32(factor)
            if truth is not None:
                out["epe_sum"][i, j], out["epe_count"] = binned_epe(flow, truth["flow_onset_apex"], face, edges)
                out["epe_face"][i, j] = float(endpoint_errors(flow, truth["flow_onset_apex"])[face].mean())
            if method == strain_method and condition == "none":
                out["strain"] = np.array(list(region_means(optical_strain(flow), regions).values()))
    if truth is not None:
        out["strain_true"] = np.array(list(region_means(optical_strain(truth["flow_onset_apex"]), regions).values()))
        out["zero_sum"] = binned_epe(np.zeros_like(truth["flow_onset_apex"]), truth["flow_onset_apex"], face, edges)[0]
    return {**out, "methods": np.array(list(methods)), "conditions": np.array(list(targets)),
            "regions": np.array(list(regions)), "edges": np.asarray(edges, np.float64),
            "amplitude": np.float64(truth["amplitude"] if truth is not None else np.nan)}


def epe_table(results: Mapping[tuple[str, str], Mapping[str, np.ndarray]]) -> pd.DataFrame:
    """Mean EPE per method, condition and true-displacement bin, pooled over the pixels of all clips
    (clips with ground truth only); ``"zero flow"`` rows are the error of predicting no motion."""
    results = {k: r for k, r in results.items() if "zero_sum" in r}
    if not results:
        raise ValueError("no clip has ground truth: EPE needs the synthetic dataset")
    first = next(iter(results.values()))
    sums = sum(r["epe_sum"] for r in results.values())
    counts = sum(r["epe_count"] for r in results.values())
    edges = first["edges"]
    zero = sum(r["zero_sum"] for r in results.values())  # EPE of a zero flow = the true length
    rows = []
    for j, condition in enumerate(first["conditions"]):
        per_method = [(str(m), sums[i, j]) for i, m in enumerate(first["methods"])] + [("zero flow", zero)]
        for method, method_sums in per_method:
            for b in range(len(edges) - 1):
                rows.append({"method": method, "condition": str(condition), "lo": edges[b], "hi": edges[b + 1],
                             "bin": f"{edges[b]:g}-{edges[b + 1]:g}", "pixels": int(counts[b]),
                             "epe": method_sums[b] / counts[b] if counts[b] else np.nan})
    return pd.DataFrame(rows)


def flow_clip_table(results: Mapping[tuple[str, str], Mapping[str, np.ndarray]]) -> pd.DataFrame:
    """One row per clip, method and condition: face EPE, seconds per pair and the clip's amplitude."""
    rows = []
    for (subject, clip), r in results.items():
        for i, method in enumerate(r["methods"]):
            for j, condition in enumerate(r["conditions"]):
                rows.append({"subject": subject, "clip": clip, "method": str(method), "condition": str(condition),
                             "epe": r["epe_face"][i, j], "seconds": r["seconds"][i, j],
                             "amplitude": float(r["amplitude"])})
    return pd.DataFrame(rows)


def strain_table(results: Mapping[tuple[str, str], Mapping[str, np.ndarray]], manifest: pd.DataFrame,
                 groups: Sequence[int] = (4, 12)) -> pd.DataFrame:
    """Mean strain per region for clips that show exactly one AU of ``groups`` (e.g. AU4 and not AU12).

    Columns: subject, clip, group (``"AU4"``), region, strain (from flow), strain_true (NaN on real data).
    """
    aus = {(r["subject"], r["clip"]): set(r["aus"]) for _, r in manifest.iterrows()}
    rows = []
    for key, r in results.items():
        present = [au for au in groups if au in aus.get(key, set())]
        if len(present) != 1:
            continue
        for k, region in enumerate(r["regions"]):
            rows.append({"subject": key[0], "clip": key[1], "group": f"AU{present[0]}", "region": str(region),
                         "strain": r["strain"][k], "strain_true": r["strain_true"][k]})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- clip selection and caching
def select_clips(manifest: pd.DataFrame, n: int, aus: Sequence[int] = (), by: str | None = None) -> pd.DataFrame:
    """``n`` clips spread evenly over the manifest (all if ``n <= 0``), ordered by column ``by`` if given
    (e.g. ``"amplitude"``: from the smallest to the largest motion). With ``aus``, an equal share of
    clips showing each listed AU and none of the others (e.g. AU4-only and AU12-only clips)."""
    ordered = manifest.sort_values(by, kind="stable") if by else manifest

    def spread(pool: pd.DataFrame, k: int) -> pd.DataFrame:
        return pool if k >= len(pool) else pool.iloc[np.linspace(0, len(pool) - 1, k).round().astype(int)]

    if not aus:
        selected = ordered if n <= 0 else spread(ordered, n)
    else:
        parts = []
        for k, au in enumerate(aus):
            others = [a for a in aus if a != au]
            pool = ordered[ordered["aus"].apply(lambda s: au in s and not any(a in s for a in others))]
            share = len(pool) if n <= 0 else n // len(aus) + (1 if k < n % len(aus) else 0)
            parts.append(spread(pool, share))
        selected = pd.concat(parts)
        if selected.empty:
            raise ValueError(f"no clip shows exactly one of the AUs {list(aus)}")
    selected = selected.copy()
    selected.attrs = dict(manifest.attrs)
    return selected


def save_table(table: pd.DataFrame, name: str, folder: str) -> Path:
    """Write ``table`` to ``<outputs>/tables/<folder>/<name>.csv`` (atomic) and return the path."""
    path = outputs_root() / "tables" / folder / f"{name}.csv"
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return path


def cached_measurements(name: str, clips: pd.DataFrame, compute: Callable[[dict[str, Any]], dict[str, np.ndarray]],
                        settings: Mapping[str, Any], progress: bool = True
                        ) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """Run ``compute(row)`` on every clip not yet in the :class:`melib.cache.ClipCache` ``name`` (keyed by
    ``settings`` and the clips' data fingerprint) and return ``{(subject, clip): arrays}``.

    In this process (``compute`` may hold a model); a clip that fails is reported and left out.
    """
    from ..cache import ClipCache, dataset_fingerprint

    cache = ClipCache(name, {**dict(settings), "data": dataset_fingerprint(clips)})
    report = cache.build(clips, compute, workers=1, progress=progress)
    print(f"{name}: {report}")
    results = {(r["subject"], r["clip"]): cache.load(r) for _, r in clips.iterrows() if cache.has(r)}
    if not results:
        raise RuntimeError(f"{name}: every clip failed:\n{report}")
    return results


#: Bump when a pipeline's numbers change meaning without a setting changing (part of the cache key).
EVALUATE_VERSION = 1


def magnification_results(clips: pd.DataFrame, alphas: Sequence[float], root: str | None = None, model: Any = None,
                          band: Sequence[float] = (0.5, 20.0), lambda_c: float = 16.0, progress: bool = True
                          ) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """:func:`magnification_measurements` of every clip, cached under a key of all its settings."""
    settings = {"pipeline": "magnification", "version": EVALUATE_VERSION, "alphas": [float(a) for a in alphas],
                "truth": bool(root), "model": model_fingerprint(model) if model is not None else None,
                "band": [float(b) for b in band], "lambda_c": float(lambda_c)}
    compute = functools.partial(magnification_measurements, alphas=list(alphas), root=root, model=model,
                                band=tuple(band), lambda_c=lambda_c)
    return cached_measurements("magnification_eval", clips, compute, settings, progress)


def flow_results(clips: pd.DataFrame, methods: Sequence[str], alpha: float, root: str | None = None,
                 strain_method: str = "tvl1", lambda_c: float = 16.0, progress: bool = True
                 ) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """:func:`flow_measurements` of every clip, cached under a key of all its settings."""
    settings = {"pipeline": "flow", "version": EVALUATE_VERSION, "methods": list(methods), "alpha": float(alpha),
                "truth": bool(root), "strain_method": strain_method, "lambda_c": float(lambda_c)}
    compute = functools.partial(flow_measurements, methods=list(methods), alpha=alpha, root=root,
                                strain_method=strain_method, lambda_c=lambda_c)
    return cached_measurements("flow_eval", clips, compute, settings, progress)
