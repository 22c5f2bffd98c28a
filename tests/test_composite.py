"""The MEGC 2019 composite: one 3-class manifest from the CASME II, SAMM and SMIC-HS layouts, faces aligned clip
by clip (SAMM's only), the keys of single-dataset runs unchanged, and the emotion methods' LOSO on it."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from melib import data, preprocess
from melib.cache import dataset_fingerprint
from melib.data import composite
from melib.experiments import composite as megc
from melib.methods import annotation_mimic as am
from melib.methods import selfme as sm

FRAME = (320, 200)  # small SAMM full frames around the 64 px face (the real ones are 2040 x 1088)
TINY = {"annotation_mimic": dict(epochs=1, batch_size=8, image_size=32), "selfme": dict(epochs=1, batch_size=8)}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Caches and runs of this module in a temporary folder (SMIC-HS's apex spotting caches too)."""
    tmp = tmp_path_factory.mktemp("composite_env")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MELIB_OUTPUTS", str(tmp / "outputs"))
        patch.setenv("MELIB_CACHE", str(tmp / "cache"))
        yield tmp


@pytest.fixture(scope="module")
def roots(env, tmp_path_factory):
    """3 subjects x 2 clips per part, 64 px faces, each part from its own seed."""
    return composite.write_synthetic_parts(tmp_path_factory.mktemp("composite") / "parts", subjects=3,
                                           clips_per_subject=2, size=64, frame_size=FRAME)


@pytest.fixture(scope="module")
def megc_manifest(roots):
    return data.load_manifest("megc", composite.format_roots(roots))


def _row(manifest: pd.DataFrame, part: str) -> pd.Series:
    return manifest[manifest["dataset"] == part].iloc[0]


def test_roots_as_mapping_or_string(roots):
    text = composite.format_roots(roots)
    assert text == ",".join(f"{p}={roots[p]}" for p in ("casme2", "samm", "smic"))
    assert composite.parse_roots(text) == composite.parse_roots({k: str(v) for k, v in roots.items()})
    assert composite.parse_roots(f" smic={roots['smic']} ,casme2={roots['casme2']},samm={roots['samm']}") == roots
    with pytest.raises(ValueError, match="parts are casme2, samm, smic"):
        composite.parse_roots(f"casme3a={roots['casme2']}")
    with pytest.raises(ValueError, match="twice"):
        composite.parse_roots(f"samm={roots['samm']},samm={roots['samm']}")
    with pytest.raises(ValueError, match="casme2=PATH"):
        composite.parse_roots(str(roots["samm"]))
    with pytest.raises(ValueError, match="clips='studied_aus'"):
        data.load_manifest("megc", text, clips="studied_aus")


def test_manifest_stacks_the_three_parts_under_three_classes(roots, megc_manifest, capsys):
    m = megc_manifest
    assert m.attrs["dataset"] == "megc" and m.attrs["root"] == composite.format_roots(roots)
    assert list(dict.fromkeys(m["dataset"])) == ["casme2", "samm", "smic"]
    assert (m["subject"] == m["dataset"] + "/" + m["source_subject"]).all()
    assert composite.part_of(m).tolist() == m["dataset"].tolist()
    assert m.groupby("subject")["dataset"].nunique().max() == 1  # no subject id shared by two parts
    assert not m.duplicated(["subject", "clip", "onset"]).any()
    assert set(m["class3"]) <= {"negative", "positive", "surprise"}
    assert m["class3"].tolist() == data.map_emotions(m["dataset"], m["emotion"], "3class")
    dropped = 0
    for part, root in roots.items():  # each part: its own reader's clips minus those without a 3-class label
        own = data.load_manifest(part, root)
        labels = data.map_emotions(own["dataset"], own["emotion"], "3class")
        kept = own[[c is not None for c in labels]]
        mine = m[m["dataset"] == part]
        assert mine["clip"].tolist() == kept["clip"].tolist()
        assert mine["frames_dir"].tolist() == kept["frames_dir"].tolist()
        dropped += len(own) - len(kept)
    assert dropped > 0 and len(m.attrs["dropped"]) == dropped  # synthetic 'others' clips of CASME II
    assert {d["emotion"] for d in m.attrs["dropped"]} <= {"others", "fear", "sadness", "other"}
    capsys.readouterr()
    data.load_manifest("megc", composite.format_roots(roots))
    assert f"dropped {dropped} clips whose emotion has no 3-class label" in capsys.readouterr().out


def test_au_labels_are_kept_where_coded_and_never_made_up_for_smic(megc_manifest):
    m = megc_manifest
    au = [c for c in m.columns if c.startswith("AU") and c[2:].isdigit()]
    assert au and au == sorted(au, key=lambda c: int(c[2:]))
    coded = m[m["dataset"] != "smic"]
    assert coded[au].notna().all().all() and set(np.unique(coded[au])) <= {0.0, 1.0}
    assert m.loc[m["dataset"] == "smic", au].isna().all().all()
    assert not data.has_au_labels(m) and data.has_au_labels(coded)
    with pytest.raises(ValueError, match="carry no AU labels.*smic"):
        data.au_matrix(m, (4,))
    assert data.au_matrix(coded, (4,)).shape == (len(coded), 1)


def test_subjects_count_per_part(roots):
    m = data.load_manifest("megc", composite.format_roots(roots), subjects=1)
    assert m.groupby("dataset")["subject"].nunique().to_dict() == {"casme2": 1, "samm": 1, "smic": 1}


def test_frames_load_for_a_row_of_each_part(megc_manifest):
    shapes = {part: data.load_frame(_row(megc_manifest, part), _row(megc_manifest, part)["onset"]).shape
              for part in composite.PARTS}
    assert shapes["casme2"] == (64, 64, 3) and shapes["smic"] == (64, 64, 3)
    assert shapes["samm"] == (FRAME[1], FRAME[0], 3)  # grayscale full frame, three equal channels


def test_fingerprint_sees_every_root(roots, megc_manifest, tmp_path):
    moved = dict(roots, samm=shutil.copytree(roots["samm"], tmp_path / "samm"))
    other = data.load_manifest("megc", composite.format_roots(moved))
    assert other.attrs["root"] != megc_manifest.attrs["root"] and str(tmp_path / "samm") in other.attrs["root"]
    assert dataset_fingerprint(other) != dataset_fingerprint(megc_manifest)


def test_auto_alignment_aligns_samm_rows_only(megc_manifest, monkeypatch):
    from melib import face

    aligned = []
    real = face.align_clip

    def spy(frames, *args, **kwargs):
        aligned.append(frames.shape)
        return real(frames, *args, **kwargs)

    monkeypatch.setattr(face, "align_clip", spy)
    assert preprocess.default_align("megc") == "auto"
    samm, casme2 = _row(megc_manifest, "samm"), _row(megc_manifest, "casme2")
    assert preprocess.row_align(samm, "auto") == "dlib" and preprocess.row_align(casme2, "auto") == "none"
    assert preprocess.row_align(samm, "none") == "none"  # an explicit aligner is kept
    numbers = [samm["onset"], samm["apex"]]
    frames, matrix = preprocess.face_frames(samm, numbers, "auto")
    assert frames[samm["onset"]].shape == (preprocess.ALIGN_SIZE, preprocess.ALIGN_SIZE, 3)
    assert not np.allclose(matrix, np.eye(2, 3)) and len(aligned) == 1
    frames, matrix = preprocess.face_frames(casme2, [casme2["onset"]], "auto")
    assert frames[casme2["onset"]].shape == (64, 64, 3) and np.allclose(matrix, np.eye(2, 3))
    assert len(aligned) == 1  # the CASME II row was not aligned
    with pytest.raises(KeyError, match="dataset"):
        preprocess.face_frames({"frames_dir": "x", "frame_format": "{n}.jpg"}, [0], "auto")


@pytest.mark.parametrize("name", ["annotation_mimic", "selfme"])
def test_inputs_have_one_shape_across_parts(name, megc_manifest):
    rows = [_row(megc_manifest, part) for part in composite.PARTS]
    if name == "annotation_mimic":
        cfg = am.preset("fast", "megc", magnify="eulerian", image_size=32)[0]
        assert cfg.align == "auto" and cfg.input_settings()["align"] == "auto"
        shapes = {am.compute_input(r, cfg)["image"].shape for r in rows}
        assert shapes == {(32, 32, 3)}
    else:
        cfg = sm.preset("fast", "megc", motion="farneback")[0]
        assert cfg.align == "auto" and cfg.learner_settings()["align"] == "auto"
        shapes = {sm.compute_motion(r, cfg, None)["motion"].shape for r in rows}
        assert shapes == {(2, cfg.vit_image_size, cfg.vit_image_size)}


def test_single_dataset_keys_and_labels_unchanged(tiny_synthetic, env):
    """``align`` is hashed only when not ``"none"`` and per-row mapping equals the old per-dataset one, so
    the default dataset's caches and runs keep their keys (checked byte for byte on every method's
    fast and full presets when ``"auto"`` came: the issue's report)."""
    manifest = data.load_manifest("synthetic", tiny_synthetic)
    cfg = am.preset("fast", "synthetic")[0]
    assert cfg.align == "none" and "align" not in cfg.input_settings()
    kept = am.select_clips(manifest, cfg, verbose=False)
    method = am.MimicMethod(cfg, am.input_cache(manifest, cfg), data.emotion_classes("synthetic", "3class"),
                            am.resolve_aus(kept, cfg))
    assert "align" not in method.config() and method.aus == am.resolve_aus(kept, cfg) and method.aus
    assert am.class_labels(manifest, "3class") == [data.map_emotion("synthetic", e, "3class")
                                                   for e in manifest["emotion"]]
    scfg = sm.preset("fast", "synthetic")[0]
    assert "align" not in scfg.learner_settings()
    assert "align" not in sm.SelfMEMethod(scfg, method.cache).config()  # any cache: config() reads only its key
    assert sm.class_index(sm.select_clips(manifest)).tolist() == [
        data.mappings.THREE_CLASSES.index(data.map_emotion("synthetic", e, "3class"))
        for e in manifest["emotion"] if data.map_emotion("synthetic", e, "3class") is not None]


def test_annotation_mimic_on_the_composite_needs_a_variant_without_aus(megc_manifest):
    with pytest.raises(ValueError, match="variant without AUs"):
        am.resolve_aus(megc_manifest, am.preset("fast", "megc")[0])  # db+all: WSCL needs AU labels
    assert am.resolve_aus(megc_manifest, am.preset("fast", "megc", variant="db+awm")[0]) == ()
    assert am.dataset_name(megc_manifest) == "megc"
    with pytest.raises(ValueError, match="3-class scheme"):
        am.class_labels(megc_manifest, "5class")
    with pytest.raises(ValueError, match="emotion protocol"):
        megc.experiment("iicl", {})


def test_part_scores_split_pooled_predictions():
    predictions = {"subject": np.array(["casme2/sub01", "casme2/sub02", "samm/006", "smic/s1"]),
                   "targets": np.array([0, 1, 2, 0]),
                   "scores": np.eye(3)[[0, 2, 2, 1]]}
    table = megc.part_scores(predictions)
    assert table.index.tolist() == ["composite", "casme2", "samm", "smic"]
    assert table.loc["composite", "clips"] == 4 and table.loc["casme2", "subjects"] == 2
    assert table.loc["samm", "acc"] == 1.0 and table.loc["smic", "acc"] == 0.0
    assert table.loc["composite", "uar"] == pytest.approx((1 / 2 + 0 + 1) / 3)
    assert table.loc["casme2", "uf1"] == pytest.approx((1 + 0 + 0) / 3)


@pytest.mark.parametrize("name", ["annotation_mimic", "selfme"])
def test_a_method_runs_loso_on_the_composite(name, roots, env):
    exp = megc.experiment(name, roots, **TINY[name])
    assert exp.config.align == "auto" and exp.manifest.attrs["dataset"] == "megc"
    assert exp.n_folds == exp.clips["subject"].nunique() == 9
    run, table = megc.run(exp, workers=1)
    assert run.complete and np.isfinite(run.predictions()["scores"]).all()
    assert table.index.tolist() == ["composite", *composite.PARTS]
    assert table.loc["composite", "clips"] == len(exp.clips) == table.loc[list(composite.PARTS), "clips"].sum()
    results = run.results()["metrics"]
    assert table.loc["composite", "uf1"] == pytest.approx(results["uf1"])
    assert table.loc["composite", "uar"] == pytest.approx(results["uar"])


def test_run_megc_script_prints_and_writes_the_tables(roots, env, data_script, capsys):
    status = data_script("run_megc").main(["--synthetic", str(roots["casme2"].parent), "--subjects", "3",
                                           "--clips-per-subject", "2", "--size", "64", "--frame-size", "320x200",
                                           "--methods", "selfme", "--tiny"])
    printed = capsys.readouterr().out
    written = (env / "outputs" / "megc" / "megc.md").read_text()
    assert status == 0
    for text in (printed, written):
        assert "selfme/selfme/seed0/loso/fast" in text and "| part | clips | subjects | uf1 | uar | acc |" in text
        assert all(f"| {part} |" in text for part in ("composite", *composite.PARTS))


def test_random_clip_split_reads_composite_subject_ids(megc_manifest):
    from melib import splits

    held = {s for split in splits.random_clip_kfold(megc_manifest, k=2) for s in split.test_subjects}
    assert held == set(megc_manifest["subject"])
