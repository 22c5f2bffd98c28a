"""Frequency-domain apex spotting (melib.spotting), SMIC's spotted apex in the reader, IICL's clip subset."""
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest
from scipy import fft as sfft

from fixtures.me_datasets import build_smic
from melib.data import read_annotations
from melib.data.subsets import with_studied_aus
from melib.spotting import SpotSettings, cached_apex, energy_curve, frequency_apex, lbp_image, spot_apex


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))


def moving_bar(apex: int, frames: int = 41, size: int = 48, width: float = 3.0, seed: int = 0) -> np.ndarray:
    """A textured still face with a bar that slides out and back, furthest at ``apex`` (a Gaussian bump)."""
    rng = np.random.default_rng(seed)
    background = rng.uniform(60, 120, (size, size))
    shift = 6.0 * np.exp(-0.5 * ((np.arange(frames) - apex) / width) ** 2)
    x = np.arange(size)
    clip = []
    for s in shift:
        bar = 120.0 * (np.abs(x - (16 + s)) < 2.5)
        clip.append(np.clip(background + bar[None, :], 0, 255))
    return np.stack(clip).astype(np.uint8)


@pytest.mark.parametrize("apex", [12, 20, 29])
@pytest.mark.parametrize("feature", ["gray", "lbp"])
def test_moving_bar_apex_found(apex, feature):
    frames = moving_bar(apex)
    spotted = frequency_apex(frames, window=15, grid=(4, 4), cutoff=0.1, feature=feature, smooth=15)
    assert abs(spotted - apex) <= 2
    rgb = np.repeat(frames[..., None], 3, axis=-1)             # RGB input gives the same answer
    assert frequency_apex(rgb, window=15, grid=(4, 4), cutoff=0.1, feature=feature, smooth=15) == spotted


def test_unsmoothed_energy_peaks_on_the_flanks():
    """Without smoothing E(c) is largest where a window holds the fastest change, either side of the apex."""
    energy = energy_curve(moving_bar(20), window=15, grid=(4, 4), cutoff=0.1, feature="gray")
    assert energy[20] < energy.max() and abs(int(np.argmax(energy)) - 20) >= 2
    assert np.allclose(energy[10:31], energy[10:31][::-1], rtol=1e-3)  # symmetric about the apex


def test_flat_clip_gives_middle_frame():
    flat = np.full((10, 24, 24), 90, np.uint8)
    assert np.ptp(energy_curve(flat, window=5, grid=(2, 2))) == 0
    assert frequency_apex(flat, window=5, grid=(2, 2)) == 4     # (T - 1) // 2
    assert frequency_apex(flat[:1], window=5, grid=(2, 2)) == 0  # one frame: itself


def test_energy_matches_brute_force_3d_fft():
    rng = np.random.default_rng(1)
    x = rng.random((9, 12, 10)).astype(np.float32)
    energy = energy_curve(x, window=5, grid=(2, 1), cutoff=0.2, feature="gray")
    padded = np.concatenate([x[:1], x[:1], x, x[-1:], x[-1:]])  # edge padding, half = 2
    fw, fy, fx = np.meshgrid(sfft.fftfreq(5), sfft.fftfreq(6), sfft.fftfreq(10), indexing="ij")
    keep = np.sqrt(fw ** 2 + fy ** 2 + fx ** 2) > 0.2
    expected = [sum(np.abs(np.fft.fftn(padded[c:c + 5, r * 6:(r + 1) * 6]))[keep].sum() for r in range(2))
                for c in range(9)]
    np.testing.assert_allclose(energy, expected, rtol=1e-4)


def test_lbp_codes():
    image = np.array([[5, 5, 5], [5, 5, 9], [1, 1, 1]], np.uint8)
    # centre 5: neighbours clockwise from top-left 5,5,5,9,1,1,1,5 -> bits 0,1,2,3,7 set
    assert lbp_image(image)[1, 1] == 0b10001111


def test_bad_settings_and_inputs():
    with pytest.raises(ValueError, match="feature"):
        SpotSettings(feature="hog")
    with pytest.raises(ValueError, match="cutoff"):
        SpotSettings(cutoff=0.9)
    with pytest.raises(ValueError, match="smaller than"):
        energy_curve(np.zeros((5, 4, 4)), grid=(6, 6))
    with pytest.raises(ValueError, match="frames must be"):
        energy_curve(np.zeros((4, 4)))


# ----------------------------------------------------------------------------- manifest rows and the reader
def write_clip(folder, frames):
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for n, image in enumerate(frames, start=1):
        cv2.imwrite(str(folder / f"reg_image{n:06d}.bmp"), image)


def test_spot_apex_row_and_cache(tmp_path):
    folder = tmp_path / "clip"
    write_clip(folder, moving_bar(apex=25))
    row = {"frames_dir": str(folder), "frame_format": "reg_image{n:06d}.bmp", "onset": 1, "offset": 41}
    settings = SpotSettings(window=15, grid=(4, 4), cutoff=0.1, feature="gray", smooth=15)
    assert abs(spot_apex(row, settings) - 26) <= 2           # frame numbers start at 1
    first = cached_apex(row, settings)
    entries = list((tmp_path / "cache" / "spotting").rglob("*.json"))
    assert first == spot_apex(row, settings) and len(entries) == 1
    entries[0].write_text("{not json")                       # an unreadable entry is recomputed
    assert cached_apex(row, settings) == first
    assert cached_apex({**row, "onset": 1, "offset": 20}, settings) <= 20  # searched within onset..offset only


def test_smic_reader_spots_apex(tmp_path):
    root = build_smic(tmp_path)
    clip = root / "HS" / "s1" / "micro" / "negative" / "s1_ne_01"
    for path in clip.iterdir():
        path.unlink()
    write_clip(clip, moving_bar(apex=8, frames=31, width=2.0))  # frames 1..31, the bar furthest at frame 9
    with pytest.warns(UserWarning, match="unusable"):            # s2_sur_02 has no frames
        spotted = read_annotations("smic", root)
    with pytest.warns(UserWarning, match="unusable"):
        middle = read_annotations("smic", root, smic_apex="middle")
    row = spotted.set_index("clip").loc["s1_ne_01"]
    assert row["apex_source"] == "spotted" and row["apex_estimated"]
    frames = moving_bar(apex=8, frames=31, width=2.0)            # the reader uses SpotSettings()'s defaults
    assert row["apex"] == 1 + frequency_apex(frames, **asdict(SpotSettings()))
    assert (row["onset"], row["offset"]) == (1, 31)
    assert middle.set_index("clip").loc["s1_ne_01", "apex"] == 16
    assert (middle["apex_source"] == "middle").all() and (spotted["apex_source"] == "spotted").all()
    # the fixture's other clips are uniform frames: a flat energy curve gives the middle frame
    others = spotted["clip"] != "s1_ne_01"
    assert spotted.loc[others, "apex"].tolist() == middle.loc[others, "apex"].tolist()
    with pytest.raises(ValueError, match="smic_apex"):
        read_annotations("smic", root, smic_apex="peak")


def test_casme2_apex_source(tmp_path):
    from fixtures.me_datasets import build_casme2

    with pytest.warns(UserWarning):
        df = read_annotations("casme2", build_casme2(tmp_path))
    assert df["apex_source"].tolist() == ["middle" if e else "label" for e in df["apex_estimated"]]
    assert "middle" in df["apex_source"].tolist()


# ----------------------------------------------------------------------------- IICL subset
def test_studied_au_subset_keeps_iicls_rule():
    manifest = pd.DataFrame({
        "clip": ["a", "b", "c", "d", "e"],
        "emotion": ["disgust", "repression", "others", "happiness", "fear"],
        "AU4": [1, 0, 0, 0, 0], "AU10": [0, 1, 0, 0, 1], "AU12": [0, 0, 0, 1, 0], "AU17": [0, 1, 0, 0, 0],
    })
    manifest.attrs["dataset"] = "casme2"
    assert with_studied_aus(manifest)["clip"].tolist() == ["a", "b", "d"]      # AU10 alone is not studied
    assert with_studied_aus(manifest, emotions=["disgust", "happiness"])["clip"].tolist() == ["a", "d"]
    assert with_studied_aus(manifest, dataset="samm")["clip"].tolist() == ["a", "d"]  # AU2/4/7/12
    assert with_studied_aus(manifest, aus=[10])["clip"].tolist() == ["b", "e"]
    assert with_studied_aus(manifest).attrs["dataset"] == "casme2"


def test_load_manifest_keeps_the_clips_with_studied_aus_on_request(tiny_synthetic):
    from melib import data
    from melib.data.mappings import au_set

    every = data.load_manifest("synthetic", tiny_synthetic)
    kept = data.load_manifest("synthetic", tiny_synthetic, clips="studied_aus")
    studied = [f"AU{a}" for a in au_set("casme2") if f"AU{a}" in every]  # the tiny set lacks some AUs
    assert len(kept) == int((every[studied].sum(axis=1) > 0).sum()) and len(kept) <= len(every)
    with pytest.raises(ValueError, match="clips"):
        data.load_manifest("synthetic", tiny_synthetic, clips="some")
