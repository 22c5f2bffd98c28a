"""Read CASME II, SAMM, SMIC-HS and CAS(ME)^3 part A into one manifest: a DataFrame, one row per clip.

Each dataset has a small function that finds its sheet (or folder tree) and lists the clips with
their raw cell values; one shared path (:func:`_validate`) checks every clip the same way. Rows that
cannot be used are reported (file, Excel row, reason) in ``df.attrs["problems"]``, never dropped
silently. Root layouts accepted (fixed folder names such as ``Cropped``, ``SAMM``, ``HS``, ``micro``,
``part_A`` are matched case-insensitively):

==========  ========================================================================================
casme2      ``CASME2-coding-*.xlsx`` (several: ``-updated`` wins, then the later date) and
            ``Cropped/subNN/<clip>/reg_img<n>.jpg`` (``frames="cropped"``; ``CASME2_Cropped/`` too)
            or ``CASME2_RAW_selected/subNN/<clip>/img<n>.jpg`` (``frames="raw"``; ``CASME2_RAW/`` too)
synthetic   the CASME II layout (written by :mod:`melib.data.synthetic`); ``dataset`` says synthetic
samm        ``SAMM_Micro_FACS_Codes*.xlsx`` (header found wherever it is: row 14 in v2) and
            ``SAMM/<subject>/<clip>/<subject>_<nnnnn>.jpg`` or the subject folders directly in root;
            the zero padding (5 digits, 4 in some sessions) is read from the files present
smic        ``HS/sN/micro/<emotion>/<clip>/reg_image######.bmp``; root may be HS's parent or HS itself
casme3a     ``cas(me)3_part_A_ME_label*.xlsx`` in root, ``annotation/``, ``part_A/`` or
            ``part_A/annotation/``; frames ``{Subject}/{Filename}/color/{n}.jpg`` in root or ``part_A/``
==========  ========================================================================================

SMIC has no apex label: onset = first frame, offset = last frame, and the apex is spotted in the
frequency domain (:mod:`melib.spotting`, the method IICL uses; ``smic_apex="spotted"``, cached on disk)
or taken as the middle frame ``(onset + offset) // 2`` (``smic_apex="middle"``, the old behaviour); either
way ``apex_estimated=True`` and ``apex_source`` says which (``"label"`` for an apex read from a sheet).
The middle frame replaces a missing apex (``/``, ``-1`` or blank) in a sheet, which is also recorded
as a warning-level problem.
In CAS(ME)^3 a ``Filename`` names a recording that can hold several clips, so ``(subject, clip)``
can repeat there; ``(subject, clip, onset)`` identifies a row in every dataset.
"""
from __future__ import annotations

import fnmatch
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd

from ..config import DATASETS
from .aus import parse_aus
from .frames import detect_frame_format, frame_numbers

FRAME_TREES = ("cropped", "raw")
COLUMNS = ["dataset", "subject", "clip", "onset", "apex", "offset", "aus", "emotion", "frames_dir",
           "frame_format", "apex_estimated", "apex_source", "source", "source_row"]
SMIC_APEX = ("spotted", "middle")
# Sheet headers, lower-cased without spaces/punctuation -> our field (the first column that matches wins).
HEADERS = {
    "subject": ("subject", "sub"),
    "clip": ("filename",),
    "onset": ("onsetframe", "onset"),
    "apex": ("apexframe", "apex"),
    "offset": ("offsetframe", "offset"),
    "aus": ("actionunits", "au", "aus"),
    "emotion": ("estimatedemotion", "emotion"),
}
_MISSING_APEX = {"/", "", "-1"}  # no apex label: "/" (CASME II), blank, or -1
_HEADER_SEARCH_ROWS = 30


class AnnotationError(ValueError):
    """An annotation sheet (or one of its rows) cannot be used; the message names file, row and reason."""


class AnnotationWarning(UserWarning):
    """Summary of the rows :func:`read_annotations` skipped or repaired (details in ``df.attrs``)."""


@dataclass
class _Clip:
    """One clip as listed by a sheet row or a folder, with its cell values not yet checked."""

    subject: Any
    clip: Any
    onset: Any
    apex: Any
    offset: Any
    aus: Any
    emotion: Any
    source: Path
    source_row: int | None
    frames_dir: Path | None = None   # known up front only for folder-listed datasets (SMIC)
    frame_format: str | None = None
    warn_missing_apex: bool = True    # False where no dataset row has an apex (SMIC)
    error: str | None = None          # a problem the lister already found


@dataclass
class _Layout:
    """What a dataset lister returns: its clips and how to find their frames."""

    clips: list[_Clip]
    subject: Callable[[Any], str]     # sheet value -> subject folder name; ValueError when unusable
    bases: list[Path]                 # frame trees, tried in order for each clip
    clip_folder: str                  # below a base, e.g. "{subject}/{clip}/color"
    frame_name: str                   # e.g. "{subject}_{n:05d}.jpg"; padding re-detected per folder
    has_aus: bool = True
    annotation: Path | None = None


def read_annotations(name: str, root: str | Path, strict: bool = False, frames: str = "cropped",
                     check_frames: bool = True, annotation: str | Path | None = None,
                     smic_apex: str = "spotted") -> pd.DataFrame:
    """Read a dataset's annotations into a manifest DataFrame (one row per clip).

    Parameters
    ----------
    name
        ``"casme2" | "samm" | "smic" | "casme3a" | "synthetic"`` (synthetic = CASME II layout).
    root
        The dataset folder (layouts in the module docstring).
    strict
        Raise :class:`AnnotationError` at the first unusable row instead of collecting problems.
    frames
        CASME II frame tree: ``"cropped"`` or ``"raw"``; the other datasets have one tree only.
    check_frames
        Also check that the onset, apex and offset frame files exist (the clip folder always is).
    annotation
        A sheet to read instead of the newest one found (absolute, or relative to ``root``).
    smic_apex
        SMIC's apex (it has no label): ``"spotted"`` by :func:`melib.spotting.cached_apex` (default
        settings; reads every clip's frames the first time, then answers from ``<MELIB_CACHE>/spotting``)
        or ``"middle"``, the middle frame. A clip whose spotting fails gets the middle frame and a
        warning-level problem. Ignored for the other datasets.

    Returns
    -------
    DataFrame with columns ``dataset, subject, clip, onset, apex, offset, aus, emotion, frames_dir,
    frame_format, apex_estimated, apex_source, source, source_row`` (``apex_source``: ``"label"``,
    ``"middle"`` or ``"spotted"``) and one 0/1 column ``AU<n>`` per AU present,
    sorted by (subject, clip, onset) in natural order with a RangeIndex. ``df.attrs`` holds
    ``dataset``, ``root``, ``annotation`` and ``problems`` (dicts: file, row, clip, level, reason).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    if frames not in FRAME_TREES or (frames != "cropped" and name not in ("casme2", "synthetic")):
        raise ValueError(f"frames={frames!r}: only casme2/synthetic choose a tree ('cropped' or 'raw')")
    if smic_apex not in SMIC_APEX:
        raise ValueError(f"smic_apex must be one of {SMIC_APEX}; got {smic_apex!r}")
    if annotation is not None and name == "smic":
        raise ValueError("SMIC-HS has no annotation sheet; its labels come from the folder tree")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{name} root folder not found: {root}")
    layout = _LISTERS[name](root, frames, annotation)

    rows: list[dict] = []
    problems: list[dict] = []
    seen: dict[tuple, Any] = {}
    bad_rows = 0
    for clip in layout.clips:
        row, found = _validate(clip, layout, check_frames)
        if row is not None and name == "smic" and smic_apex == "spotted":
            found += _spot(row)
        if row is not None:
            key = (row["subject"], row["clip"], row["onset"], row["offset"])
            if key in seen:
                found.append(("error", f"duplicate of the clip in row {seen[key]}"))
                row = None
            else:
                seen[key] = clip.source_row if clip.source_row is not None else clip.source
        for level, reason in found:
            problem = {"file": str(clip.source), "row": clip.source_row, "clip": _text(clip.clip),
                       "level": level, "reason": reason}
            if strict and level == "error":
                raise AnnotationError(_describe(problem))
            problems.append(problem)
        bad_rows += row is None
        if row is not None:
            rows.append({"dataset": name, **row})

    df = _manifest(rows)
    df.attrs.update(dataset=name, root=str(root), problems=problems,
                    annotation=None if layout.annotation is None else str(layout.annotation))
    if problems:
        listed = "; ".join(_describe(p) for p in problems[:3])
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        warnings.warn(f"{name}: {bad_rows} unusable row(s) skipped, {len(problems)} problem(s): "
                      f"{listed}{more}; all in df.attrs['problems']", AnnotationWarning, stacklevel=2)
    return df


def _describe(problem: dict) -> str:
    where = problem["file"] if problem["row"] is None else f"{problem['file']}, Excel row {problem['row']}"
    return f"{where}: {problem['reason']}"


# ----------------------------------------------------------------------------- shared validation
def _validate(clip: _Clip, layout: _Layout, check_frames: bool) -> tuple[dict | None, list[tuple[str, str]]]:
    """Check one clip; return its manifest row (None if unusable) and its (level, reason) problems."""
    if clip.error:
        return None, [("error", clip.error)]
    errors: list[str] = []
    try:
        subject = layout.subject(clip.subject)
    except ValueError as exc:
        errors.append(str(exc))
    name = _text(clip.clip)
    if not name:
        errors.append("Filename is empty")
    onset, offset = _as_int(clip.onset), _as_int(clip.offset)
    for label, raw, value in (("onset", clip.onset, onset), ("offset", clip.offset, offset)):
        if value is None:
            errors.append(f"{label} {raw!r} is not a frame number")
    apex_missing = _text(clip.apex) in _MISSING_APEX
    apex = None if apex_missing else _as_int(clip.apex)
    if not apex_missing and apex is None:
        errors.append(f"apex {clip.apex!r} is not a frame number")
    if errors:
        return None, [("error", e) for e in errors]

    problems: list[tuple[str, str]] = []
    if apex_missing:
        apex = (onset + offset) // 2
        if clip.warn_missing_apex:
            shown = repr(_text(clip.apex)) if _text(clip.apex) else "blank"
            problems.append(("warning", f"apex is {shown}; estimated as the middle frame {apex}"))
    if not 0 <= onset <= apex <= offset:
        errors.append(f"frames out of order: need 0 <= onset <= apex <= offset, got {onset}, {apex}, {offset}")
    try:
        aus = parse_aus(clip.aus) if layout.has_aus else ()
    except ValueError as exc:
        errors.append(f"AU string: {exc}")
    emotion = _text(clip.emotion).lower()
    if not emotion:
        errors.append("emotion is empty")

    frames_dir = clip.frames_dir or _clip_dir(layout, subject, name)
    frame_format = clip.frame_format or layout.frame_name.replace("{subject}", subject)
    if not frames_dir.is_dir():
        errors.append(f"frame folder not found: {frames_dir}")
    else:
        frame_format = detect_frame_format(frames_dir, frame_format)
        if check_frames and not errors:  # frame files are looked up only for otherwise valid rows
            for label, n in (("onset", onset), ("apex", apex), ("offset", offset)):
                path = frames_dir / frame_format.format(n=n)
                if not path.is_file():
                    errors.append(f"{label} frame {n} not found: {path}")
    if errors:
        return None, problems + [("error", e) for e in errors]
    return {"subject": subject, "clip": name, "onset": onset, "apex": apex, "offset": offset,
            "aus": aus, "emotion": emotion, "frames_dir": str(frames_dir), "frame_format": frame_format,
            "apex_estimated": apex_missing, "apex_source": "middle" if apex_missing else "label", "source": str(clip.source), "source_row": clip.source_row}, problems


def _spot(row: dict) -> list[tuple[str, str]]:
    """Replace a row's apex by the frequency-domain spotted one (in place); a failure keeps the middle frame."""
    from ..spotting import cached_apex  # here, not at the top: melib.spotting imports melib.data

    try:
        row["apex"], row["apex_source"] = cached_apex(row), "spotted"
    except (OSError, ValueError) as exc:  # FrameReadError is an OSError
        return [("warning", f"apex spotting failed ({exc}); the middle frame {row['apex']} is used")]
    return []


def _clip_dir(layout: _Layout, subject: str, clip: str) -> Path:
    relative = layout.clip_folder.format(subject=subject, clip=clip)
    candidates = [base / relative for base in layout.bases]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def _manifest(rows: list[dict]) -> pd.DataFrame:
    rows = sorted(rows, key=lambda r: (_natural(r["subject"]), _natural(r["clip"]), r["onset"]))
    table: dict[str, list] = {c: [r[c] for r in rows] for c in COLUMNS}
    for au in sorted({a for r in rows for a in r["aus"]}):
        table[f"AU{au}"] = [int(au in r["aus"]) for r in rows]
    df = pd.DataFrame({c: pd.Series(values, dtype=None if rows else object) for c, values in table.items()})
    for column in ("onset", "apex", "offset") + tuple(c for c in table if c.startswith("AU")):
        df[column] = df[column].astype("int64")
    df["apex_estimated"] = df["apex_estimated"].astype(bool)
    return df


def _natural(text: str) -> tuple:
    """Sort key comparing digit runs as numbers: s2 < s10, sub2 < sub10."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text))


def _text(value: Any) -> str:
    """A cell as stripped text; None/NaN -> ""; whole floats (Excel's 12.0) -> "12"."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).replace("\xa0", " ").strip()


def _as_int(value: Any) -> int | None:
    """A whole number from an int, a whole float or a string like ``"46"``/``"46.0"``; else None."""
    if isinstance(value, bool):
        return None
    match = re.fullmatch(r"-?\d+(?:\.0*)?", _text(value))
    return int(float(match.group(0))) if match else None


# ----------------------------------------------------------------------------- sheets
def _find_sheet(dataset: str, folders: list[Path], pattern: str, annotation: str | Path | None) -> Path:
    """The sheet to read: ``annotation`` if given, else the newest file matching ``pattern``."""
    if annotation is not None:
        path = Path(annotation).expanduser()
        path = path if path.is_absolute() else folders[0] / path
        if not path.is_file():
            raise FileNotFoundError(f"{dataset} annotation sheet not found: {path}")
        return path
    found = [p for folder in folders if folder.is_dir() for p in folder.iterdir()
             if p.is_file() and fnmatch.fnmatch(p.name.lower(), pattern.lower()) and not p.name.startswith("~$")]
    if not found:
        raise FileNotFoundError(f"no {dataset} annotation sheet {pattern!r} in {', '.join(map(str, folders))}")
    return max(found, key=_recency)


def _recency(path: Path) -> tuple:
    """Sort key of sheet versions: ``-updated`` beats any date, then larger numbers (dates, versions) win."""
    stem = path.stem.lower()
    return "updated" in stem, [int(d) for d in re.findall(r"\d+", stem)], path.name


def _read_sheet(path: Path) -> list[_Clip]:
    """Rows below the header row (found in the first rows of the first sheet that has one)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # openpyxl notes unsupported Excel extensions
        try:
            workbook = openpyxl.load_workbook(path, data_only=True)
        except Exception as error:  # not a zip, a truncated one, not a workbook, an old .xls...
            raise AnnotationError(f"{path}: cannot be read as an annotation sheet ({type(error).__name__}: {error}); "
                                  f"expected an .xlsx workbook as shipped in the dataset's release") from error
    try:
        for sheet in workbook.worksheets:
            rows = list(sheet.iter_rows(min_row=1, max_row=sheet.max_row, values_only=True))
            for header_index, header in enumerate(rows[:_HEADER_SEARCH_ROWS]):
                columns = _match_header(header)
                if columns is None:
                    continue
                clips = []
                for excel_row, values in enumerate(rows[header_index + 1:], start=header_index + 2):
                    if any(_text(v) for v in values):  # blank rows are skipped
                        cells = {field: _cell(values, i) for field, i in columns.items()}
                        clips.append(_Clip(**cells, source=path, source_row=excel_row))
                return clips
    finally:
        workbook.close()
    wanted = ", ".join(names[0] for names in HEADERS.values())
    raise AnnotationError(f"{path}: no header row with columns like {wanted} in the first "
                          f"{_HEADER_SEARCH_ROWS} rows of any sheet")


def _match_header(header: tuple) -> dict[str, int] | None:
    keys = [re.sub(r"[^a-z0-9]", "", _text(cell).lower()) for cell in header]
    columns = {}
    for field, names in HEADERS.items():
        index = next((i for name in names for i, key in enumerate(keys) if key == name), None)
        if index is None:
            return None
        columns[field] = index
    return columns


def _cell(values: tuple, index: int) -> Any:
    return values[index] if index < len(values) else None


def _child(folder: Path, *names: str) -> Path | None:
    """The sub-folder of ``folder`` named like one of ``names`` (case-insensitive), in that order."""
    if not folder.is_dir():
        return None
    children = {p.name.lower(): p for p in folder.iterdir() if p.is_dir()}
    return next((children[n.lower()] for n in names if n.lower() in children), None)


# ----------------------------------------------------------------------------- one lister per dataset
def _casme2_subject(value: Any) -> str:
    match = re.fullmatch(r"(?:sub)?(\d+)", _text(value), re.IGNORECASE)
    if match is None:
        raise ValueError(f"Subject {value!r} is not a subject number")
    return f"sub{int(match.group(1)):02d}"


def _samm_subject(value: Any) -> str:
    text = _text(value)
    if not text.isdigit():
        raise ValueError(f"Subject {value!r} is not a subject number")
    return text.zfill(3)


def _casme3_subject(value: Any) -> str:
    text = _text(value)
    if text.isdigit():
        return f"spNO.{int(text)}"
    if not re.fullmatch(r"spNO\.\d+", text, re.IGNORECASE):
        raise ValueError(f"Subject {value!r} is not like 'spNO.1'")
    return text


def _list_casme2(root: Path, frames: str, annotation: str | Path | None) -> _Layout:
    sheet = _find_sheet("casme2", [root], "CASME2-coding-*.xlsx", annotation)
    names, frame_name = {"cropped": (("Cropped", "CASME2_Cropped"), "reg_img{n}.jpg"),
                         "raw": (("CASME2_RAW_selected", "CASME2_RAW"), "img{n}.jpg")}[frames]
    tree = _child(root, *names)
    if tree is None:
        raise FileNotFoundError(f"no {' or '.join(n + '/' for n in names)} frame folder in {root}")
    return _Layout(_read_sheet(sheet), _casme2_subject, [tree], "{subject}/{clip}", frame_name, annotation=sheet)


def _list_samm(root: Path, frames: str, annotation: str | Path | None) -> _Layout:
    sheet = _find_sheet("samm", [root], "SAMM_Micro_FACS_Codes*.xlsx", annotation)
    bases = [b for b in (_child(root, "SAMM"), root) if b is not None]
    return _Layout(_read_sheet(sheet), _samm_subject, bases, "{subject}/{clip}", "{subject}_{n:05d}.jpg",
                   annotation=sheet)


def _list_casme3a(root: Path, frames: str, annotation: str | Path | None) -> _Layout:
    part_a = _child(root, "part_A")
    folders = [root, root / "annotation"] + ([part_a, part_a / "annotation"] if part_a else [])
    sheet = _find_sheet("casme3a", folders, "cas(me)3_part_A_ME_label*.xlsx", annotation)
    bases = [root] + ([part_a] if part_a else [])
    return _Layout(_read_sheet(sheet), _casme3_subject, bases, "{subject}/{clip}/color", "{n}.jpg",
                   annotation=sheet)


def _list_smic(root: Path, frames: str, annotation: str | Path | None) -> _Layout:
    hs = _child(root, "HS") or root
    subjects = [p for p in sorted(hs.iterdir(), key=lambda p: _natural(p.name)) if _child(p, "micro")]
    if not subjects:
        raise FileNotFoundError(f"no SMIC-HS subject folders (sN/micro/) in {hs}")
    clips = []
    for subject in subjects:
        for emotion in sorted(p for p in _child(subject, "micro").iterdir() if p.is_dir()):
            for folder in sorted(p for p in emotion.iterdir() if p.is_dir()):
                frame_format = detect_frame_format(folder, "reg_image{n:06d}.bmp")
                numbers = frame_numbers(folder, frame_format)
                first, last = (numbers[0], numbers[-1]) if numbers else (None, None)
                error = None if numbers else "no frame files reg_image######.bmp in the clip folder"
                clips.append(_Clip(subject.name, folder.name, first, None, last, None, emotion.name,
                                   source=folder, source_row=None, frames_dir=folder,
                                   frame_format=frame_format, warn_missing_apex=False, error=error))
    return _Layout(clips, str, [hs], "{subject}/{clip}", "reg_image{n:06d}.bmp", has_aus=False)


_LISTERS: dict[str, Callable[[Path, str, Any], _Layout]] = {
    "casme2": _list_casme2, "synthetic": _list_casme2, "samm": _list_samm,
    "smic": _list_smic, "casme3a": _list_casme3a,
}
