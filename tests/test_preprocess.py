"""The cached motion front end on the tiny synthetic dataset: contents, keys, interruption and resume."""
import numpy as np
import pytest

from melib import data, preprocess
from melib.motion.magnify import magnify_pair


@pytest.fixture(scope="module")
def manifest(tiny_synthetic):
    return data.read_annotations("synthetic", tiny_synthetic)


def test_iicl_entry_holds_onset_and_magnified_close_to_apex_frames(manifest, tmp_path):
    front = preprocess.FrontEnd(size=128, alpha=10)
    row = manifest.iloc[0]
    entry = preprocess.compute_clip(row.to_dict(), front)
    apex = int(row["apex"])
    assert entry["frame_numbers"].tolist() == [int(row["onset"])] + list(range(apex - 3, apex + 4))
    assert entry["frames"].shape == (8, 128, 128, 3) and entry["frames"].dtype == np.uint8
    onset, raw_apex = data.load_frame(row, int(row["onset"])), data.load_frame(row, apex)
    expected = preprocess._resize(magnify_pair(onset, raw_apex, 10.0), 128)
    np.testing.assert_array_equal(entry["frames"][4], expected)
    plain = preprocess.compute_clip(row.to_dict(), preprocess.FrontEnd(size=128, magnify="none"))
    np.testing.assert_array_equal(plain["frames"][0], entry["frames"][0])  # the onset is never magnified
    # magnification makes the apex differ more from the onset than it did
    diff = lambda e: np.abs(e["frames"][4].astype(float) - e["frames"][0]).mean()  # noqa: E731
    assert diff(entry) > 2 * diff(plain)


def test_flow_entry_and_frame_sets(manifest):
    row = manifest.iloc[1].to_dict()
    entry = preprocess.compute_clip(row, preprocess.FrontEnd(frames="triplet", magnify="none", flow="farneback", size=64))
    assert entry["frame_numbers"].tolist() == [row["onset"], row["apex"], row["offset"]]
    assert entry["flow"].shape == (64, 64, 2) and np.isfinite(entry["flow"]).all()
    with pytest.raises(ValueError, match="FrontEnd.flow"):
        preprocess.FrontEnd(flow="raft")


def test_cache_key_tracks_every_setting(manifest, tmp_path):
    key = preprocess.cache_for(manifest, preprocess.FrontEnd(), root=tmp_path).key
    for change in ({"alpha": 6.0}, {"magnify": "none"}, {"size": 224}, {"close": 2}, {"flow": "dis"}):
        assert preprocess.cache_for(manifest, preprocess.FrontEnd(**change), root=tmp_path).key != key
    assert preprocess.cache_for(manifest.iloc[:-1], preprocess.FrontEnd(), root=tmp_path).key != key


def test_a_renamed_frame_set_keeps_its_stored_key(manifest, tmp_path):
    """The apex window was called "iicl" when caches (and the IICL runs whose keys name them) were made."""
    import dataclasses

    from melib.cache import ClipCache, dataset_fingerprint

    front = preprocess.FrontEnd(frames="apex_window")
    former = {"front_end": {**dataclasses.asdict(front), "frames": "iicl"}, "data": dataset_fingerprint(manifest),
              "dataset_root": str(manifest.attrs.get("root", ""))}
    assert preprocess.cache_for(manifest, front, root=tmp_path).key == ClipCache("frontend", former, tmp_path).key
    assert preprocess.cache_for(manifest, preprocess.FrontEnd(frames="pair"), root=tmp_path).key != \
        ClipCache("frontend", former, tmp_path).key


def test_interrupted_preprocessing_resumes_with_only_the_missing_clips(manifest, tmp_path, monkeypatch):
    front = preprocess.FrontEnd(size=64)
    real, calls = preprocess.compute_clip, []

    def interrupted(row, front):
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C in the middle of a run
        calls.append(row["clip"])
        return real(row, front)

    monkeypatch.setattr(preprocess, "compute_clip", interrupted)
    with pytest.raises(KeyboardInterrupt):
        preprocess.preprocess(manifest, front, workers=1, progress=False, root=tmp_path)
    cache = preprocess.cache_for(manifest, front, root=tmp_path)
    assert len(cache.missing(manifest)) == len(manifest) - 3
    monkeypatch.setattr(preprocess, "compute_clip", real)
    cache = preprocess.preprocess(manifest, front, workers=2, progress=False, root=tmp_path)
    assert cache.missing(manifest).empty
    row = manifest.iloc[-1]
    np.testing.assert_array_equal(cache.load(row)["frames"], real(row.to_dict(), front)["frames"])


def test_magnify_apex_is_the_one_magnifier_of_every_method_input():
    rng = np.random.default_rng(0)
    onset = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    apex = np.roll(onset, 1, axis=1)
    np.testing.assert_array_equal(preprocess.magnify_apex(onset, apex, "none", 6.0), apex)
    np.testing.assert_array_equal(preprocess.magnify_apex(onset, apex, "eulerian", 6.0),
                                  magnify_pair(onset, apex, 5.0, lambda_c=preprocess.EULERIAN_LAMBDA_C))
    assert preprocess.FrontEnd().lambda_c == preprocess.EULERIAN_LAMBDA_C
    with pytest.raises(ValueError, match="magnifier must be one of"):
        preprocess.magnify_apex(onset, apex, "optical", 6.0)
