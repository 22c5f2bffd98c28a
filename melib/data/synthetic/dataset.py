"""Write the synthetic dataset in the CASME II layout, deterministically, and read its ground truth.

Layout (``<root>``)::

    CASME2-coding-synthetic.xlsx            the coding sheet, CASME II columns
    Cropped/subNN/<Filename>/reg_img<n>.jpg frames, 256 x 256 RGB, JPEG quality 95
    groundtruth/subNN/<Filename>.npz        true motion of each clip (see load_groundtruth)
    synthetic.json                          version, seed, settings, per-clip summary; written last

The same seed gives byte-identical files: zip containers (xlsx, npz) are written with fixed entry
dates, the xlsx core properties carry a fixed timestamp, and every random stream is derived from
``(seed, subject, clip index)``, so the result does not depend on the number of worker processes.
"""
from __future__ import annotations

import concurrent.futures
import io
import multiprocessing
import os
import re
import shutil
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from melib.config import data_root
from melib.io import load_json, replace_folder, save_json, write_bytes

from . import faces
from .plan import FPS, SHEET_COLUMNS, ClipSpec, plan_dataset, sheet_rows, subject_styles
from .render import appearance_strength, render_clip

GENERATOR_VERSION = "2.0"  # 2.0: FACS appearance, neutral morphed identities, age lines, knobs
SHEET_NAME = "CASME2-coding-synthetic.xlsx"
JPEG_QUALITY = 95
#: A few-second dataset for tests and CI notebooks: ``generate(out, **TINY_SETTINGS)``.
TINY_SETTINGS = {"subjects": 4, "clips_per_subject": 2}
#: Calibrated realistic strength of the FACS appearance changes (see README, learnability ladder):
#: at 1.5 the core of a depth-1 crease of a full-intensity AU is about 27 % darker (log-shading
#: -0.30 x 1.5 x 0.7); on the default dataset the apex alone then scores about null + 0.2 F1.
DEFAULT_APPEARANCE = 1.5
#: An easier dataset for teaching: stronger appearance, twice the motion, more clips per subject.
EASY_SETTINGS = {"appearance": 2.0, "amplitude_scale": 2.0, "clips_per_subject": 15}
_ZIP_DATE = (2014, 5, 8, 0, 0, 0)  # fixed entry date: the CASME II sheet's release date
_CORE_DATE = "2014-05-08T00:00:00Z"


def default_root() -> Path:
    """``melib.config.data_root() / "synthetic"``."""
    return data_root() / "synthetic"


def settings(subjects: int = 26, seed: int = 0, size: int = 256, clips_per_subject: int | None = None,
             appearance: float = DEFAULT_APPEARANCE, amplitude_scale: float = 1.0, subject_style: float = 0.0) -> dict:
    """The settings recorded in ``synthetic.json`` (anything that changes the files).

    ``appearance`` scales the FACS appearance changes (0: motion-only clips), ``amplitude_scale``
    multiplies the 0.3-2 px motion range, ``clips_per_subject`` = None draws CASME II-like counts,
    ``subject_style`` > 0 gives each subject its own emotion/AU mix and movement scale (see
    :mod:`.plan`). ``subject_style`` is recorded only when > 0, so the default dataset's
    ``synthetic.json``, hence its fingerprint and every cache key, is the one it was before the knob.
    """
    if appearance < 0:
        raise ValueError(f"appearance must be >= 0; got {appearance}")
    if not amplitude_scale > 0:
        raise ValueError(f"amplitude_scale must be > 0; got {amplitude_scale}")
    if not subject_style >= 0:
        raise ValueError(f"subject_style must be >= 0; got {subject_style}")
    out = {"subjects": int(subjects), "seed": int(seed), "size": int(size),
           "clips_per_subject": None if clips_per_subject is None else int(clips_per_subject), "fps": FPS,
           "appearance": float(appearance), "amplitude_scale": float(amplitude_scale)}
    if subject_style > 0:
        out["subject_style"] = float(subject_style)
    return out


def subject_dir(subject: int | str) -> str:
    """``1``, ``"1"``, ``"sub01"`` -> ``"sub01"``."""
    text = str(subject).strip()
    match = re.fullmatch(r"(?:sub)?0*(\d+)", text)
    if not match:
        raise ValueError(f"subject must be an int or 'subNN'; got {subject!r}")
    return f"sub{int(match.group(1)):02d}"


def _zip_bytes(entries: list[tuple[str, bytes]]) -> bytes:
    """A zip archive with fixed entry dates and permissions (byte-identical for the same entries)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def write_npz(path: str | os.PathLike, arrays: dict[str, Any]) -> None:
    """Deterministic, compressed ``.npz`` (``np.savez_compressed`` stamps the current time)."""
    entries = []
    for name, value in arrays.items():
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.asarray(value), allow_pickle=False)
        entries.append((f"{name}.npy", buf.getvalue()))
    write_bytes(path, _zip_bytes(entries))


def write_sheet(path: str | os.PathLike, specs: list[ClipSpec]) -> None:
    """The coding sheet as ``.xlsx`` (one sheet, CASME II header, two empty-header columns)."""
    write_workbook(path, [list(SHEET_COLUMNS)] + [list(row) for row in sheet_rows(specs)])


def write_workbook(path: str | os.PathLike, rows: list[list], title: str = "Sheet1") -> None:
    """Deterministic ``.xlsx`` of one sheet holding ``rows`` from Excel row 1 on (``[]`` = an empty row):
    fixed zip entry dates and core-property timestamps, so the same rows give the same bytes."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = title
    for row in rows:
        ws.append(list(row))
    wb.properties.creator = "melib.data.synthetic"
    buf = io.BytesIO()
    wb.save(buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        entries = [(info.filename, zf.read(info.filename)) for info in zf.infolist()]
    fixed = []
    for name, data in entries:
        if name == "docProps/core.xml":  # openpyxl stamps the save time into created/modified
            text = re.sub(r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)",
                          lambda m: m.group(1) + _CORE_DATE + m.group(3), data.decode("utf-8"))
            data = text.encode("utf-8")
        fixed.append((name, data))
    write_bytes(path, _zip_bytes(fixed))


def _worker_init(bases: tuple) -> None:
    cv2.setNumThreads(1)
    faces.install_base_faces(bases)


def _render_clip_files(spec: ClipSpec, seed: int, size: int, root: str, appearance: float) -> dict:
    """Render one clip and write its frames and ground truth under ``root``; return its summary."""
    subject = faces.make_subject(spec.subject, seed, size)
    clip = render_clip(subject, spec, seed, appearance=appearance)
    sub = subject_dir(spec.subject)
    folder = Path(root) / "Cropped" / sub / spec.filename
    folder.mkdir(parents=True, exist_ok=True)
    for n, frame in zip(spec.frame_numbers, clip.frames):
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for {folder / f'reg_img{n}.jpg'}")
        (folder / f"reg_img{n}.jpg").write_bytes(buf.tobytes())
    write_npz(Path(root) / "groundtruth" / sub / f"{spec.filename}.npz", {
        "flow_onset_apex": clip.flow_onset_apex,
        "au_flow_onset_apex": clip.au_flow_onset_apex,
        "landmarks": clip.landmarks.astype(np.float32),
        "landmarks_neutral": subject.landmarks.astype(np.float32),
        "frame_numbers": spec.frame_numbers.astype(np.int32),
        "onset": np.int32(spec.onset), "apex": np.int32(spec.apex), "offset": np.int32(spec.offset),
        "amplitude": np.float32(spec.amplitude),
        "intensity": np.float32(spec.intensity),
        "appearance_strength": np.float32(appearance_strength(spec, appearance)),
        "appearance_apex": clip.appearance_apex.astype(np.float16),
        "aus": np.array(spec.aus, dtype=np.int32),
        "au_string": np.array(spec.au_string),
        "emotion": np.array(spec.emotion),
        "head_shift": clip.head_shift.astype(np.float32),
        "expression": clip.expression.astype(np.float32),
        "blink_closure": clip.closure.astype(np.float32),
        "illumination_gain": clip.gain.astype(np.float32),
        "noise_sigma": np.float32(spec.noise_sigma),
        "fps": np.int32(FPS),
    })
    return {"subject": spec.subject, "filename": spec.filename, "aus": spec.au_string, "emotion": spec.emotion,
            "onset": spec.onset, "apex": spec.apex, "offset": spec.offset, "amplitude": spec.amplitude,
            "intensity": spec.intensity, "blink": list(spec.blink) if spec.blink else None,
            "base_face": subject.base, "morph": subject.morph, "age": subject.age, "mirrored": subject.mirrored}


def _render_subject_files(specs: list[ClipSpec], seed: int, size: int, root: str, appearance: float) -> list[dict]:
    """All clips of one subject (the subject's face is built once per task)."""
    return [_render_clip_files(spec, seed, size, root, appearance) for spec in specs]


def _run_clips(specs: list[ClipSpec], seed: int, size: int, root: Path, workers: int, progress: bool,
               appearance: float) -> list[dict]:
    from ...progress import tqdm

    bar = tqdm(total=len(specs), desc="synthetic clips", unit="clip", disable=not progress)
    bases = faces.base_faces()  # dlib runs once, here; workers receive the landmarks
    try:
        if workers <= 1:
            summaries = []
            for spec in specs:
                summaries.append(_render_clip_files(spec, seed, size, str(root), appearance))
                bar.update()
            return summaries
        by_subject: dict[int, list[ClipSpec]] = {}
        for spec in specs:
            by_subject.setdefault(spec.subject, []).append(spec)
        ctx = multiprocessing.get_context("spawn")  # safe next to torch / OpenCV thread pools
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                                                    initargs=(bases,)) as pool:
            # Largest subjects first, so the last task to finish is a short one.
            order = sorted(by_subject, key=lambda s: -len(by_subject[s]))
            futures = {pool.submit(_render_subject_files, by_subject[s], seed, size, str(root), appearance): s for s in order}
            for fut in concurrent.futures.as_completed(futures):
                bar.update(len(fut.result()))
            done = {futures[f]: f.result() for f in futures}
        return [summary for s in sorted(done) for summary in done[s]]
    finally:
        bar.close()


def _remove_stale_partials(out: Path) -> None:
    """Delete half-written siblings left by generations that were killed (their process is gone)."""
    for path in out.parent.glob(f".{out.name}.partial-*"):
        pid = path.name.rsplit("-", 1)[-1]
        alive = pid.isdigit() and _pid_alive(int(pid))
        if not alive:
            shutil.rmtree(path, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def generate(out: str | os.PathLike, subjects: int = 26, seed: int = 0, size: int = 256,
             clips_per_subject: int | None = None, workers: int | None = None, progress: bool = True,
             appearance: float = DEFAULT_APPEARANCE, amplitude_scale: float = 1.0, subject_style: float = 0.0) -> Path:
    """Generate the dataset into ``out`` and return its path.

    Knobs (recorded in ``synthetic.json``, hence in every cache fingerprint): ``appearance`` scales
    the FACS appearance changes (0 = motion only), ``amplitude_scale`` multiplies the motion,
    ``clips_per_subject`` fixes the clip count (None: CASME II-like, about 251 clips for 26 subjects),
    ``subject_style`` > 0 makes labels and movement depend on the subject (``synthetic.json`` then also
    lists each subject's drawn habits under ``subject_styles``; 0, the default, writes neither).

    The dataset is written into a hidden sibling folder and renamed onto ``out`` when complete
    (``synthetic.json`` last), so an interrupted run never leaves a dataset that looks whole.
    An existing ``out`` is replaced only if it is empty or a synthetic dataset.
    ``workers``: processes (default: CPU count, at most 8; 1 = in this process).
    """
    out = Path(out).expanduser().resolve()
    if out.exists() and any(out.iterdir()) and not (out / "synthetic.json").is_file():
        raise FileExistsError(f"{out} exists and is not a synthetic dataset (no synthetic.json); "
                              "choose an empty or new folder")
    if size < 64:
        raise ValueError(f"size must be >= 64 pixels; got {size}")
    workers = min(os.cpu_count() or 1, 8) if workers is None else max(int(workers), 1)
    recorded = settings(subjects, seed, size, clips_per_subject, appearance, amplitude_scale, subject_style)
    specs = plan_dataset(subjects, seed, size, clips_per_subject, amplitude_scale, subject_style)
    styles = [{"subject": st.subject, "emotion_propensity": st.emotion_propensity,
               "amplitude_factor": st.amplitude_factor} for st in subject_styles(subjects, seed, subject_style)]
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(out)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        summaries = _run_clips(specs, seed, size, tmp, min(workers, subjects), progress, float(appearance))
        write_sheet(tmp / SHEET_NAME, specs)
        save_json(tmp / "synthetic.json", {
            "generator": "melib.data.synthetic", "version": GENERATOR_VERSION, "seed": int(seed),
            "settings": recorded, "n_clips": len(specs),
            "n_frames": int(sum(s.offset - s.onset + 1 for s in specs)),
            "au_counts": {str(k): v for k, v in sorted(Counter(a for s in specs for a in s.aus).items())},
            "emotion_counts": dict(sorted(Counter(s.emotion for s in specs).items())),
            "clips": summaries,
            **({"subject_styles": styles} if styles else {}),
        })
        replace_folder(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def dataset_info(root: str | os.PathLike) -> dict[str, Any]:
    """The contents of ``<root>/synthetic.json`` (settings, counts, per-clip summary)."""
    meta = Path(root) / "synthetic.json"
    if not meta.is_file():
        raise FileNotFoundError(f"{meta} is missing: {root} is not a complete synthetic dataset")
    return load_json(meta)


#: Generator seed of the evaluation identities: the default dataset and its motion-only twin.
EVALUATION_SEED = 0


def check_development(root: str | os.PathLike) -> None:
    """Raise ``ValueError`` when ``root`` holds the evaluation identities (generator seed
    :data:`EVALUATION_SEED`: the default dataset or its motion-only twin, wherever it lies), which
    diagnoses and pretraining must never see; a development set uses another seed (``--seed 1``)."""
    seed = int(dataset_info(root)["settings"]["seed"])
    if seed == EVALUATION_SEED:
        raise ValueError(f"{root} holds the evaluation identities (generator seed {seed}: the default synthetic "
                         "dataset or its motion-only twin); use a development set of other identities "
                         "(make_synthetic.py --seed 1)")


def clip_table(root: str | os.PathLike) -> pd.DataFrame:
    """Per-clip ground-truth summary indexed like a manifest: ``subject`` ("sub01"), ``clip``,
    ``amplitude`` (px at apex), ``intensity`` (0-1), ``base_face``, ``morph`` (0-1), ``age`` (0-1),
    ``mirrored``, ``blink`` (True when the clip blinks)."""
    rows = [{"subject": subject_dir(c["subject"]), "clip": c["filename"], "amplitude": float(c["amplitude"]),
             "intensity": float(c["intensity"]), "base_face": c["base_face"], "morph": float(c["morph"]),
             "age": float(c["age"]), "mirrored": bool(c["mirrored"]), "blink": c["blink"] is not None}
            for c in dataset_info(root)["clips"]]
    return pd.DataFrame(rows)


def is_complete(root: str | os.PathLike, **wanted: Any) -> bool:
    """True when ``root`` holds a finished dataset of this generator version with ``settings(**wanted)``."""
    meta = Path(root) / "synthetic.json"
    if not meta.is_file():
        return False
    info = load_json(meta)
    return (info.get("version") == GENERATOR_VERSION and info.get("settings") == settings(**wanted)
            and "layout" not in info)  # a SAMM/SMIC/CAS(ME)^3 layout (melib.data.synthetic.layouts) is not this one


def ensure(root: str | os.PathLike | None = None, subjects: int = 26, seed: int = 0, size: int = 256,
           clips_per_subject: int | None = None, workers: int | None = None, progress: bool = True,
           appearance: float = DEFAULT_APPEARANCE, amplitude_scale: float = 1.0, subject_style: float = 0.0) -> Path:
    """Return ``root`` (default :func:`default_root`), generating it first if missing or different."""
    root = default_root() if root is None else Path(root)
    wanted = dict(subjects=subjects, seed=seed, size=size, clips_per_subject=clips_per_subject,
                  appearance=appearance, amplitude_scale=amplitude_scale, subject_style=subject_style)
    if is_complete(root, **wanted):
        return root.expanduser().resolve()
    return generate(root, workers=workers, progress=progress, **wanted)


def motion_twin(root: str | os.PathLike | None = None, workers: int | None = None, progress: bool = True) -> Path:
    """The motion-only twin of a synthetic dataset: same seed, subjects, clips and motion, ``appearance=0``.

    Generated once beside it as ``<root>_motion`` (about 1.5 minutes for the default dataset). Motion
    instruments (the magnification factor fit, flow end-point error) assume brightness constancy, which
    the FACS appearance changes break, as real wrinkles do; notebooks 02 and 03 measure on the twin.
    """
    root = Path(default_root() if root is None else root).expanduser().resolve()
    knobs = {k: v for k, v in dataset_info(root)["settings"].items() if k != "fps"}
    if knobs.get("appearance", 0.0) == 0.0:
        return root
    return ensure(root.parent / f"{root.name}_motion", workers=workers, progress=progress, **{**knobs, "appearance": 0.0})


def load_groundtruth(root: str | os.PathLike, subject: int | str, clip: str) -> dict[str, Any]:
    """Ground truth of one clip as a dict.

    Keys: ``flow_onset_apex`` and ``au_flow_onset_apex`` (H, W, 2: forward x, y displacement of each
    onset pixel at apex; the second without head motion), ``landmarks`` (T, 68, 2, dlib order),
    ``landmarks_neutral`` (68, 2), ``frame_numbers`` (T,), ``head_shift`` (T, 2), ``expression``,
    ``blink_closure``, ``illumination_gain`` (T,), ``aus`` (int array), ``appearance_apex`` (H, W:
    relative brightness change the AUs' appearance makes at apex, apex-frame pixels, float16);
    scalars ``onset``, ``apex``, ``offset``, ``fps`` (int), ``amplitude`` (px at apex, per AU primary
    anchor), ``intensity`` (0-1), ``appearance_strength``, ``noise_sigma`` (float) and strings
    ``au_string``, ``emotion``.
    """
    path = Path(root) / "groundtruth" / subject_dir(subject) / f"{clip}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"no ground truth for subject {subject!r}, clip {clip!r}: {path} is missing")
    with np.load(path, allow_pickle=False) as data:
        out = {k: data[k] for k in data.files}
    for key, value in out.items():
        if value.ndim == 0:
            out[key] = value.item()
    return out
