"""read_annotations on tiny datasets in the official formats, and frame I/O on their frames."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fixtures.me_datasets import CASME2_HEADER, build_casme2, build_casme3a, build_samm, build_smic, write_sheet
from melib.data import (
    AnnotationError,
    AnnotationWarning,
    FrameReadError,
    available_frames,
    frame_path,
    load_clip,
    load_frame,
    read_annotations,
)

BASE_COLUMNS = ["dataset", "subject", "clip", "onset", "apex", "offset", "aus", "emotion", "frames_dir",
                "frame_format", "apex_estimated", "apex_source", "source", "source_row"]
KEY = ["subject", "clip", "onset", "apex", "offset", "aus", "emotion", "frame_format", "apex_estimated",
       "source_row"]


def records(df: pd.DataFrame, columns=KEY) -> list[tuple]:
    return [tuple(r) for r in df[columns].itertuples(index=False)]


def problems(df: pd.DataFrame) -> list[tuple]:
    return [(p["row"], p["clip"], p["level"]) for p in df.attrs["problems"]]


def read(*args, **kwargs) -> pd.DataFrame:
    """read_annotations, asserting that it warns exactly when it reports problems."""
    with pytest.warns(AnnotationWarning, match="unusable row") as caught:
        df = read_annotations(*args, **kwargs)
    assert len(caught) == 1
    return df


@pytest.fixture(scope="module")
def casme2(tmp_path_factory) -> Path:
    return build_casme2(tmp_path_factory.mktemp("casme2"), raw=True)


@pytest.fixture(scope="module")
def samm(tmp_path_factory) -> Path:
    return build_samm(tmp_path_factory.mktemp("samm"))


# ----------------------------------------------------------------------------- CASME II
def test_casme2_manifest(casme2):
    df = read("casme2", casme2)
    sheet = str(casme2 / "CASME2-coding-20140508.xlsx")
    assert list(df.columns) == BASE_COLUMNS + ["AU4", "AU7", "AU10", "AU12", "AU14"]
    assert isinstance(df.index, pd.RangeIndex) and list(df.index) == [0, 1, 2, 3, 4]
    assert records(df) == [
        ("sub01", "EP02_01f", 46, 59, 86, (12,), "happiness", "reg_img{n}.jpg", False, 2),
        ("sub01", "EP03_02", 3, 6, 9, (4, 7, 10), "disgust", "reg_img{n}.jpg", True, 3),
        ("sub02", "EP01_11f", 5, 7, 9, (12,), "happiness", "reg_img{n}.jpg", False, 4),
        ("sub03", "EP09_01", 20, 22, 25, (14,), "others", "reg_img{n}.jpg", False, 8),
        ("sub26", "EP07_04", 1, 4, 8, (4, 12), "fear", "reg_img{n}.jpg", False, 10),
    ]
    assert df[["AU4", "AU7", "AU10", "AU12", "AU14"]].values.tolist() == [
        [0, 0, 0, 1, 0], [1, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [1, 0, 0, 1, 0]]
    assert (df["dataset"] == "casme2").all() and (df["source"] == sheet).all()
    assert df["frames_dir"].iloc[0] == str(casme2 / "Cropped" / "sub01" / "EP02_01f")
    assert df["onset"].dtype == np.int64 and df["AU4"].dtype == np.int64 and df["apex_estimated"].dtype == bool
    assert df.attrs["dataset"] == "casme2" and df.attrs["root"] == str(casme2)
    assert df.attrs["annotation"] == sheet
    assert problems(df) == [(3, "EP03_02", "warning"), (5, "EP19_06f", "error"),
                            (6, "EP15_04", "error"), (7, "EP01_5", "error")]
    reasons = [p["reason"] for p in df.attrs["problems"]]
    assert reasons[0] == "apex is '/'; estimated as the middle frame 6"
    assert reasons[1] == f"frame folder not found: {casme2 / 'Cropped' / 'sub02' / 'EP19_06f'}"
    assert reasons[2] == f"apex frame 12 not found: {casme2 / 'Cropped' / 'sub11' / 'EP15_04' / 'reg_img12.jpg'}"
    assert "'12x'" in reasons[3]
    assert all(p["file"] == sheet for p in df.attrs["problems"])


def test_casme2_strict_raises_on_first_error(casme2):
    with pytest.raises(AnnotationError) as info:
        read_annotations("casme2", casme2, strict=True)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert "CASME2-coding-20140508.xlsx, Excel row 5: frame folder not found" in message


def test_casme2_without_frame_checks_keeps_missing_apex_frame(casme2):
    df = read("casme2", casme2, check_frames=False)
    assert ("sub11", "EP15_04") in set(zip(df["subject"], df["clip"]))
    assert [row for row, _, _ in problems(df)] == [3, 5, 7]


def test_casme2_raw_frames(casme2):
    df = read("casme2", casme2, frames="raw")
    assert set(df["frame_format"]) == {"img{n}.jpg"}
    assert df["frames_dir"].iloc[0] == str(casme2 / "CASME2_RAW_selected" / "sub01" / "EP02_01f")
    assert len(df) == 5


def test_casme2_sheet_choice(tmp_path):
    root = build_casme2(tmp_path)
    older = [1, "EP02_01f", 0, 46, 59, 86, 0, 12, "happiness"]
    write_sheet(root / "CASME2-coding-20190701.xlsx", [CASME2_HEADER, older])
    write_sheet(root / "CASME2-coding-updated.xlsx", [CASME2_HEADER, [1, "EP03_02", 0, 3, 5, 9, 0, "4", "disgust"]])
    df = read_annotations("casme2", root)
    assert df.attrs["annotation"] == str(root / "CASME2-coding-updated.xlsx")
    assert records(df, ["clip", "apex", "aus"]) == [("EP03_02", 5, (4,))]
    df = read_annotations("casme2", root, annotation="CASME2-coding-20190701.xlsx")
    assert records(df, ["clip", "aus"]) == [("EP02_01f", (12,))]
    (root / "CASME2-coding-updated.xlsx").unlink()
    assert read_annotations("casme2", root).attrs["annotation"].endswith("20190701.xlsx")


def test_cell_quirks(tmp_path):
    root = build_casme2(tmp_path)
    write_sheet(root / "CASME2-coding-updated.xlsx", [
        CASME2_HEADER,
        ["sub01", "EP02_01f", None, 46.0, None, "86", None, "12.0", "Happiness"],   # blank apex
        ["1", "EP03_02", None, 3, -1, 9, None, "4+7", "disgust"],                   # apex -1
        [2, "EP01_11f", None, 5, 7.5, 9, None, "12", "happiness"],                 # apex not whole
        [2, "EP01_11f", None, "five", 7, 9, None, "12", "happiness"],              # onset not a number
        [None, "EP09_01", None, 20, 22, 25, None, "14", "others"],                 # no subject
        [3, "EP09_01", None, 20, 22, 25, None, "14", None],                        # no emotion
    ])
    df = read("casme2", root)
    assert records(df, ["subject", "clip", "onset", "apex", "offset", "aus", "apex_estimated"]) == [
        ("sub01", "EP02_01f", 46, 66, 86, (12,), True), ("sub01", "EP03_02", 3, 6, 9, (4, 7), True)]
    assert [(p["row"], p["level"], p["reason"]) for p in df.attrs["problems"]] == [
        (2, "warning", "apex is blank; estimated as the middle frame 66"),
        (3, "warning", "apex is '-1'; estimated as the middle frame 6"),
        (4, "error", "apex 7.5 is not a frame number"),
        (5, "error", "onset 'five' is not a frame number"),
        (6, "error", "Subject None is not a subject number"),
        (7, "error", "emotion is empty"),
    ]


def test_synthetic_alias_reads_casme2_layout(casme2):
    df = read("synthetic", casme2)
    assert (df["dataset"] == "synthetic").all() and df.attrs["dataset"] == "synthetic"
    assert len(df) == 5


def test_missing_root_sheet_and_header(tmp_path):
    with pytest.raises(FileNotFoundError, match="casme2 root folder not found"):
        read_annotations("casme2", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"no samm annotation sheet 'SAMM_Micro_FACS_Codes\*.xlsx' in"):
        read_annotations("samm", tmp_path)
    with pytest.raises(FileNotFoundError, match="annotation sheet not found"):
        read_annotations("casme2", tmp_path, annotation="mine.xlsx")
    write_sheet(tmp_path / "CASME2-coding-20140508.xlsx", [["Subject", "Filename"], [1, "EP02_01f"]])
    (tmp_path / "Cropped").mkdir()
    with pytest.raises(AnnotationError, match="no header row"):
        read_annotations("casme2", tmp_path)
    (tmp_path / "Cropped").rmdir()
    with pytest.raises(FileNotFoundError, match="Cropped/"):
        read_annotations("casme2", tmp_path)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset"):
        read_annotations("casme", tmp_path)
    with pytest.raises(ValueError, match="frames="):
        read_annotations("samm", tmp_path, frames="raw")
    with pytest.raises(ValueError, match="frames="):
        read_annotations("casme2", tmp_path, frames="aligned")
    with pytest.raises(ValueError, match="no annotation sheet"):
        read_annotations("smic", tmp_path, annotation="x.xlsx")


# ----------------------------------------------------------------------------- SAMM
SAMM_EXPECTED = [
    ("006", "006_1_2", 5562, 5588, 5632, (4, 7), "anger", "006_{n:05d}.jpg", False, 15),
    ("006", "006_1_3", 1020, 1030, 1045, (12, 15), "happiness", "006_{n:05d}.jpg", False, 16),
    ("007", "007_3_1", 112, 118, 130, (12, 14, 15), "contempt", "007_{n:04d}.jpg", False, 17),
    ("011", "011_2_1", 40, 44, 50, (14,), "other", "011_{n:05d}.jpg", False, 18),
    ("026", "026_1_1", 5, 7, 9, (2, 4), "surprise", "026_{n:05d}.jpg", False, 21),
]


def test_samm_manifest(samm):
    df = read("samm", samm)
    assert list(df.columns) == BASE_COLUMNS + ["AU2", "AU4", "AU7", "AU12", "AU14", "AU15"]
    assert records(df) == SAMM_EXPECTED
    assert df["frames_dir"].iloc[2] == str(samm / "SAMM" / "007" / "007_3_1")
    assert problems(df) == [(19, "020_4_1", "error"), (20, "020_4_2", "error")]
    reasons = [p["reason"] for p in df.attrs["problems"]]
    assert reasons[0] == "frames out of order: need 0 <= onset <= apex <= offset, got 30, 45, 40"
    assert "'AU?'" in reasons[1]
    with pytest.raises(AnnotationError, match="Excel row 19: frames out of order"):
        read_annotations("samm", samm, strict=True)


def test_samm_subject_folders_directly_in_root(tmp_path):
    root = build_samm(tmp_path, nested=False)
    df = read("samm", root)
    assert records(df) == SAMM_EXPECTED
    assert df["frames_dir"].iloc[0] == str(root / "006" / "006_1_2")


# ----------------------------------------------------------------------------- SMIC-HS
def test_smic_manifest(tmp_path, monkeypatch):
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))  # spotted apexes are cached: not in the repo
    root = build_smic(tmp_path)
    expected = [
        ("s1", "s1_ne_01", 1, 3, 6, (), "negative", "reg_image{n:06d}.bmp", True, None),
        ("s1", "s1_po_01", 100, 102, 104, (), "positive", "reg_image{n:06d}.bmp", True, None),
        ("s2", "s2_sur_01", 20, 21, 22, (), "surprise", "reg_image{n:06d}.bmp", True, None),
        ("s10", "s10_ne_02", 5, 7, 9, (), "negative", "reg_image{n:06d}.bmp", True, None),
    ]
    for where in (root, root / "HS"):   # the folder holding HS, or HS itself
        df = read("smic", where)
        assert list(df.columns) == BASE_COLUMNS
        assert records(df) == expected
        assert df["source"].iloc[1] == str(root / "HS" / "s1" / "micro" / "positive" / "s1_po_01")
        assert df.attrs["problems"] == [{
            "file": str(root / "HS" / "s2" / "micro" / "surprise" / "s2_sur_02"), "row": None,
            "clip": "s2_sur_02", "level": "error",
            "reason": "no frame files reg_image######.bmp in the clip folder"}]


# ----------------------------------------------------------------------------- CAS(ME)^3
def test_casme3a_manifest(tmp_path):
    root = build_casme3a(tmp_path)
    df = read("casme3a", root)
    assert list(df.columns) == BASE_COLUMNS + ["AU1", "AU2", "AU4", "AU7", "AU12"]
    assert records(df) == [
        ("spNO.1", "a", 10, 12, 15, (1, 2), "surprise", "{n}.jpg", False, 2),
        ("spNO.1", "a", 30, 33, 36, (4, 7), "disgust", "{n}.jpg", False, 3),
        ("spNO.2", "b", 5, 6, 8, (12,), "happy", "{n}.jpg", False, 4),
    ]
    assert df["frames_dir"].iloc[0] == str(root / "part_A" / "spNO.1" / "a" / "color")
    assert problems(df) == [(5, "c", "error"), (6, "b", "error")]
    assert df.attrs["problems"][1]["reason"] == "duplicate of the clip in row 4"


# ----------------------------------------------------------------------------- frames
def test_frame_paths_and_numbers(casme2, samm):
    row = read("casme2", casme2).iloc[0]
    assert frame_path(row, 46) == casme2 / "Cropped" / "sub01" / "EP02_01f" / "reg_img46.jpg"
    assert available_frames(row) == list(range(46, 87))
    samm_row = read("samm", samm).iloc[2]   # the 4-digit session
    assert frame_path(samm_row, 112).name == "007_0112.jpg"
    assert available_frames(samm_row) == list(range(112, 131))
    with pytest.raises(FrameReadError, match="frame folder not found"):
        available_frames({"frames_dir": str(casme2 / "nowhere"), "frame_format": "{n}.jpg"})


def test_load_frame_and_clip(casme2, samm):
    row = read("casme2", casme2).iloc[0].to_dict()   # a dict works as well as a Series
    frame = load_frame(row, 50)
    assert frame.dtype == np.uint8 and frame.shape == (8, 8, 3)
    assert np.abs(frame.astype(int) - 50).max() <= 2
    assert load_frame(row, 50, color="gray").shape == (8, 8)
    clip = load_clip(row)
    assert clip.shape == (41, 8, 8, 3) and clip.dtype == np.uint8
    assert np.allclose(clip.mean(axis=(1, 2, 3)), np.arange(46, 87), atol=2)
    part = load_clip(row, 50, 52, color="gray")
    assert part.shape == (3, 8, 8)
    assert np.allclose(part.mean(axis=(1, 2)), [50, 51, 52], atol=2)
    gray = load_frame(read("samm", samm).iloc[0], 5562)   # grayscale file, asked as RGB
    assert gray.shape == (8, 8, 3) and (gray[..., 0] == gray[..., 2]).all()
    with pytest.raises(FrameReadError, match="no frames numbered 200..210"):
        load_clip(row, 200, 210)
    with pytest.raises(ValueError, match="color"):
        load_frame(row, 50, color="bgr")


def test_missing_and_corrupt_frames_raise_naming_the_file(tmp_path):
    root = build_casme2(tmp_path)
    row = read("casme2", root).iloc[0]
    broken = frame_path(row, 47)
    broken.write_bytes(b"this is not a jpeg")
    with pytest.raises(FrameReadError, match="cannot decode frame 47") as info:
        load_frame(row, 47)
    assert str(broken) in str(info.value)
    assert isinstance(info.value, IOError)
    with pytest.raises(FrameReadError, match="reg_img47.jpg"):
        load_clip(row)
    frame_path(row, 48).write_bytes(b"")
    with pytest.raises(FrameReadError, match="cannot decode frame 48"):
        load_frame(row, 48)
    with pytest.raises(FrameReadError, match=f"frame 999 not found: {frame_path(row, 999)}"):
        load_frame(row, 999)


def test_package_does_not_import_synthetic_eagerly():
    code = "import sys, melib.data; print('melib.data.synthetic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "False"
