"""Face detection, 68 landmarks and clip alignment measured on full frames, against known landmarks.

The synthetic dataset written in SAMM's layout (:mod:`melib.data.synthetic.layouts`) places each
256 px face crop off-centre in a grayscale full frame and records where (``face_x, face_y``); its
``groundtruth/`` holds the true 68 landmarks of every source frame in crop pixels. So the whole front
end can be scored before real SAMM frames arrive:

- **face found**: the backend returned 68 points (``on_face``: their centroid also lies inside the
  true landmarks' bounding box, i.e. the face found is the right one);
- **landmark error**: mean point-to-point distance to the true points in full-frame pixels, and the
  NME of the 300-W benchmark (Sagonas et al., "300 Faces In-The-Wild Challenge: database and
  results", Image and Vision Computing 47, 2016): that distance over the inter-ocular distance between
  the outer eye corners (dlib points 36 and 45). ``nme_eye_centres`` divides by melib's IOD instead
  (between the eye centres, :func:`melib.face.template.inter_ocular_distance`: shorter, so larger values);
- **crop offset**: :func:`melib.face.align.align_clip` fits one similarity per clip to the onset
  frame's detected landmarks. Its transform ``M`` is applied to the *true* landmarks of each sampled
  frame and compared with :data:`~melib.face.template.TEMPLATE_68` in the ``size`` px crop (mean px over
  :data:`~melib.face.template.STABLE_POINTS`, the points the fit uses). ``crop_offset_ideal_px`` is the
  same with the transform fitted to the true onset landmarks (what a perfect detector gives: the
  subject's face shape differs from the template's), and per clip ``crop_shift_px`` (mean over the 68
  true points of ``|M p - M_true p|``), ``scale_error`` (``s_M / s_true - 1``) and
  ``rotation_error_deg`` (``angle_M - angle_true``) are the part the detector adds.

The true landmarks come from dlib on the two base photos, carried through exact warps
(:mod:`melib.data.synthetic.faces`), so they follow dlib's annotation convention; mediapipe's points
reach it only through :data:`~melib.face.facemesh.FACEMESH_TO_DLIB68`.
"""
from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data.frames import load_frame
from ..data.readers import read_annotations
from ..data.synthetic import layouts
from ..data.synthetic.dataset import dataset_info, load_groundtruth
from ..viz.tables import markdown_table
from .align import align_clip, similarity_to_template, template_points, warp_landmarks
from .detect import BACKENDS, FaceNotFoundError, group_distances, landmarks_and_box
from .template import STABLE_POINTS

#: dlib (0-based) indices of the outer eye corners: 300-W's inter-ocular normalisation.
OUTER_EYE_CORNERS = (36, 45)


@dataclass
class AlignmentReport:
    """What :func:`alignment_report` measured.

    Attributes
    ----------
    frames : one row per sampled frame (``subject, clip, frame, source_frame, k, face_found, on_face,
        error_px, nme, nme_eye_centres, crop_offset_px, crop_offset_ideal_px, seconds``).
    clips : one row per clip (``subject, clip, n_frames, aligned, crop_shift_px, scale_error,
        rotation_error_deg``).
    settings : root, backend, locate, size, margin, frames_per_clip, options and the layout's frame_size
        ``[width, height]``.
    """

    frames: pd.DataFrame
    clips: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)


def nme_300w(points: np.ndarray, truth: np.ndarray) -> float:
    """Mean point-to-point error over the outer-eye-corner distance of ``truth`` (300-W's NME)."""
    pts, ref = np.asarray(points, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    a, b = OUTER_EYE_CORNERS
    return float(np.linalg.norm(pts - ref, axis=1).mean() / np.linalg.norm(ref[a] - ref[b]))


def similarity_parameters(matrix: np.ndarray) -> tuple[float, float]:
    """Scale and rotation (degrees, counter-clockwise in image axes) of a ``(2, 3)`` similarity."""
    mat = np.asarray(matrix, dtype=np.float64)
    return float(np.hypot(mat[0, 0], mat[1, 0])), float(np.degrees(np.arctan2(mat[1, 0], mat[0, 0])))


def sample_indices(n_frames: int, frames_per_clip: int | None) -> list[int]:
    """Frame indices ``k`` to measure: all for ``None``, else ``frames_per_clip`` evenly spaced from the onset
    (``k = 0``, always included: the alignment needs it) to the last frame."""
    if frames_per_clip is None or frames_per_clip >= n_frames:
        return list(range(n_frames))
    if frames_per_clip < 1:
        raise ValueError(f"frames_per_clip must be >= 1 or None; got {frames_per_clip}")
    return sorted({int(round(v)) for v in np.linspace(0, n_frames - 1, frames_per_clip)} | {0})


def true_landmarks(root: str | os.PathLike, clip: Mapping[str, Any]) -> np.ndarray:
    """True landmarks ``(T, 68, 2)`` of a written SAMM clip's frames in full-frame pixels: the source crop's
    points shifted by ``(face_x, face_y)`` (``clip``: a row of :func:`melib.data.synthetic.layouts.truth_table`)."""
    gt = load_groundtruth(root, clip["source_subject"], clip["source_clip"])
    index = {int(n): i for i, n in enumerate(gt["frame_numbers"])}
    missing = [n for n in clip["source_frames"] if int(n) not in index]
    if missing:
        raise ValueError(f"clip {clip['clip']!r}: no true landmarks for source frames {missing[:5]}")
    rows = [index[int(n)] for n in clip["source_frames"]]
    return gt["landmarks"][rows].astype(np.float64) + np.array([clip["face_x"], clip["face_y"]], dtype=np.float64)


def _detect(image: np.ndarray, backend: str, locate: str | None,
            options: Mapping[str, Any]) -> np.ndarray | None:
    """68 points, or None when no face is found (``locate``: a backend whose face box seeds ``backend``)."""
    try:
        box = landmarks_and_box(image, locate)[1] if locate else None
        return landmarks_and_box(image, backend, box=box, **options)[0]
    except FaceNotFoundError:
        return None


def _offset(points: np.ndarray, matrix: np.ndarray, target: np.ndarray) -> float:
    """Mean px distance, over the fitted points, between ``points`` warped by ``matrix`` and ``target``."""
    idx = list(STABLE_POINTS)
    return float(np.linalg.norm(warp_landmarks(points[idx], matrix) - target[idx], axis=1).mean())


def _onset_alignment(image: np.ndarray, points: np.ndarray, true: np.ndarray, ideal: np.ndarray, size: int,
                     margin: float) -> tuple[np.ndarray, dict[str, float]]:
    """``align_clip``'s transform from the detected onset ``points`` and how far it is from ``ideal``."""
    matrix = align_clip([image], landmarks_onset=points, size=size, margin=margin).matrix
    (s_m, a_m), (s_t, a_t) = similarity_parameters(matrix), similarity_parameters(ideal)
    shift = np.linalg.norm(warp_landmarks(true, matrix) - warp_landmarks(true, ideal), axis=1).mean()
    return matrix, {"aligned": True, "crop_shift_px": float(shift), "scale_error": s_m / s_t - 1,
                    "rotation_error_deg": (a_m - a_t + 180) % 360 - 180}


def _score_clip(root: str | os.PathLike, clip: Mapping[str, Any], row: Mapping[str, Any], backend: str,
                locate: str | None, options: Mapping[str, Any], frames_per_clip: int | None, size: int,
                margin: float) -> tuple[list[dict], dict]:
    """Per-frame rows and the clip row of :func:`alignment_report` for one clip (truth ``clip``, manifest ``row``)."""
    true = true_landmarks(root, clip)
    target = template_points(size, margin)
    ideal = similarity_to_template(true[0], size, margin)
    matrix = None
    result = {"subject": clip["subject"], "clip": clip["clip"], "n_frames": len(true), "aligned": False,
              "crop_shift_px": np.nan, "scale_error": np.nan, "rotation_error_deg": np.nan}
    rows = []
    for k in sample_indices(len(true), frames_per_clip):  # k = 0 (the onset) comes first
        image = load_frame(row, int(clip["onset"]) + k, "gray")
        start = time.perf_counter()
        points = _detect(image, backend, locate, options)
        seconds = time.perf_counter() - start
        found = points is not None
        if k == 0 and found:
            matrix, alignment = _onset_alignment(image, points, true[0], ideal, size, margin)
            result.update(alignment)
        centre = points.mean(axis=0) if found else None
        rows.append({
            "subject": clip["subject"], "clip": clip["clip"], "frame": int(clip["onset"]) + k,
            "source_frame": int(clip["source_frames"][k]), "k": k, "face_found": found,
            "on_face": bool(found and np.all((centre >= true[k].min(axis=0)) & (centre <= true[k].max(axis=0)))),
            "error_px": float(np.linalg.norm(points - true[k], axis=1).mean()) if found else np.nan,
            "nme": nme_300w(points, true[k]) if found else np.nan,
            "nme_eye_centres": group_distances(points, true[k])["all"] if found else np.nan,
            "crop_offset_px": _offset(true[k], matrix, target) if matrix is not None else np.nan,
            "crop_offset_ideal_px": _offset(true[k], ideal, target), "seconds": seconds})
    return rows, result


def alignment_report(root: str | os.PathLike, backend: str = "dlib", frames_per_clip: int | None = 12,
                     size: int = 256, margin: float = 0.15, locate: str | None = None,
                     truth: pd.DataFrame | None = None, options: Mapping[str, Any] | None = None) -> AlignmentReport:
    """Detect, landmark and align every clip of a synthetic SAMM-layout ``root``; score against the truth.

    Parameters
    ----------
    root
        A dataset written by ``make_synthetic.py --layout samm`` (read with the unchanged SAMM reader).
    backend
        ``"dlib"`` or ``"mediapipe"`` (:func:`melib.face.landmarks`), on each frame independently.
    frames_per_clip
        Frames measured per clip (:func:`sample_indices`); ``None`` = every written frame.
    size, margin
        The aligned crop, as in :func:`melib.face.align.align_clip`.
    locate
        Optional backend whose face box seeds ``backend`` (``"dlib"`` with ``backend="mediapipe"``:
        FaceMesh searches a crop around dlib's HOG box).
    truth
        The clips' ground truth (default :func:`melib.data.synthetic.layouts.truth_table` of ``root``);
        pass an edited copy to check that a wrong truth is caught.
    options
        Passed to ``backend`` (e.g. ``{"upsample": 0}`` for dlib).
    """
    for name in (backend, locate):
        if name is not None and name not in BACKENDS:
            raise ValueError(f"unknown landmark backend {name!r}; choose one of {BACKENDS}")
    options = dict(options or {})
    truth = layouts.truth_table(root) if truth is None else truth
    if truth.attrs.get("layout", "samm") != "samm" or not {"face_x", "face_y"} <= set(truth.columns):
        raise ValueError(f"{root} is not a synthetic SAMM layout (no face_x, face_y in its ground truth)")
    manifest = read_annotations("samm", root).set_index(["subject", "clip"])
    _detect(np.zeros((64, 64), np.uint8), backend, locate, options)  # load the models outside the timing
    frame_rows, clip_rows = [], []
    for _, clip in truth.iterrows():
        row = {**manifest.loc[(clip["subject"], clip["clip"])].to_dict(), "subject": clip["subject"],
               "clip": clip["clip"]}
        rows, result = _score_clip(root, clip, row, backend, locate, options, frames_per_clip, size, margin)
        frame_rows += rows
        clip_rows.append(result)
    settings = {"root": str(Path(root)), "backend": backend, "locate": locate, "size": size, "margin": margin,
                "frames_per_clip": frames_per_clip, "options": options,
                "frame_size": dataset_info(root)["layout"]["frame_size"]}
    return AlignmentReport(pd.DataFrame(frame_rows), pd.DataFrame(clip_rows), settings)


def alignment_summary(report: AlignmentReport) -> pd.DataFrame:
    """One row per clip and ``"all"``: frames measured, share with a face found (and on the true face),
    NME median / 90th percentile, median error px, median crop offset (detected and ideal transform),
    the onset's crop shift, |scale error| % and |rotation error| degrees (``scale error %``, ``rotation deg``),
    and the mean seconds per frame.
    The ``"all"`` row pools the frames and takes the median over clips of the clip columns."""
    frames, clips = report.frames, report.clips.set_index("clip")

    def row(f: pd.DataFrame, c: pd.DataFrame) -> dict[str, float]:
        return {"frames": len(f), "found": f["face_found"].mean(), "on face": f["on_face"].mean(),
                "NME median": f["nme"].median(), "NME p90": f["nme"].quantile(0.9),
                "error px": f["error_px"].median(), "crop offset px": f["crop_offset_px"].median(),
                "ideal offset px": f["crop_offset_ideal_px"].median(), "crop shift px": c["crop_shift_px"].median(),
                "scale error %": 100 * c["scale_error"].abs().median(),
                "rotation deg": c["rotation_error_deg"].abs().median(), "s/frame": f["seconds"].mean()}

    rows = {name: row(f, clips.loc[[name]]) for name, f in frames.groupby("clip", sort=False)}
    rows["all"] = row(frames, clips)
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "clip"
    return out


#: Digits per summary column in :func:`summary_markdown`.
_DIGITS = {"frames": 0, "found": 2, "on face": 2, "NME median": 3, "NME p90": 3, "error px": 2, "crop offset px": 2,
           "ideal offset px": 2, "crop shift px": 2, "scale error %": 2, "rotation deg": 2, "s/frame": 3}


def summary_markdown(summary: pd.DataFrame) -> str:
    """:func:`alignment_summary` as a Markdown table (:func:`melib.viz.tables.markdown_table`), each column
    rounded to its own digits ("-" where nothing was measured)."""
    def fmt(value: float, digits: int) -> str:
        return "-" if pd.isna(value) else f"{value:.{digits}f}"

    text = summary.copy().astype(object)
    for column in text.columns:
        text[column] = [fmt(v, _DIGITS.get(column, 3)) for v in summary[column]]
    return markdown_table(text)
