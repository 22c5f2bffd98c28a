"""Measuring magnification and flow (melib.motion.measure, melib.experiments.motion) on cases with a known answer.

Analytic textures (sums of plane waves) sampled at x + d give pairs whose true motion is exactly d;
the last tests run the per-clip pipelines on one clip of the tiny synthetic dataset.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from melib import data
from melib.experiments import motion as experiments
from melib.face import regions
from melib.motion import measure
from melib.motion.flow import global_translation
from melib.motion.magnify import magnify_pair

SIZE = 96


def texture(dx=0.0, dy=0.0, size: int = SIZE, seed: int = 0) -> np.ndarray:
    """Smooth texture in [0, 1] at (x + dx, y + dy) (wavelengths 10-40 px); dx, dy scalars or maps."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    out = np.zeros_like(xx)
    for lam in np.exp(rng.uniform(np.log(10), np.log(40), 24)):
        theta, phase = rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
        out += np.cos(2 * np.pi * ((xx + dx) * np.cos(theta) + (yy + dy) * np.sin(theta)) / lam + phase)
    return (0.5 + 0.4 * out / np.abs(out).max()).astype(np.float32)


def uniform_flow(dx: float, dy: float, size: int = SIZE) -> np.ndarray:
    return np.broadcast_to(np.float32([dx, dy]), (size, size, 2)).copy()


INNER = np.zeros((SIZE, SIZE), bool)
INNER[16:-16, 16:-16] = True


def test_fit_motion_factor_reads_a_known_magnified_translation():
    d = (0.3, -0.2)
    onset = texture()
    magnified = texture(-3.7 * d[0], -3.7 * d[1])  # content moved by 3.7 d: b(x + 3.7 d) = a(x)
    k, corr = measure.fit_motion_factor(onset, magnified, uniform_flow(*d), INNER, max_factor=8)
    assert k == pytest.approx(3.7, abs=0.01) and corr > 0.999
    darker = np.clip(0.7 * magnified + 0.1, 0, 1)  # brightness and contrast change: same factor
    assert measure.fit_motion_factor(onset, darker, uniform_flow(*d), INNER, 8)[0] == pytest.approx(3.7, abs=0.01)
    with pytest.raises(ValueError, match="no pixel"):
        measure.fit_motion_factor(onset, magnified, uniform_flow(*d), np.zeros_like(INNER), 8)


def test_evm_two_frame_factor_is_one_plus_alpha_without_attenuation():
    d = (0.15, 0.1)
    onset, apex = texture(), texture(-d[0], -d[1])
    out = magnify_pair(onset, apex, alpha=3.0, attenuate=False)
    k, _ = measure.fit_motion_factor(onset, np.clip(out, 0, 1), uniform_flow(*d), INNER, 8)
    assert k == pytest.approx(4.0, rel=0.05)
    k_attenuated, _ = measure.fit_motion_factor(onset, np.clip(magnify_pair(onset, apex, 3.0), 0, 1),
                                                 uniform_flow(*d), INNER, 8)
    assert k_attenuated < k - 0.1  # lambda_c lowers the gain of fine levels


def test_ideal_magnified_moves_onset_content_by_factor_times_flow():
    d = np.array([0.4, -0.25])
    onset, apex = texture(), texture(-d[0], -d[1])
    ideal = measure.ideal_magnified(apex, uniform_flow(*d), 5.0)
    np.testing.assert_allclose(global_translation(onset, ideal, margin=16), 5 * d, atol=0.02)
    assert measure.ideal_magnified(apex, uniform_flow(*d), 1.0) == pytest.approx(apex, abs=1e-4)
    as_uint8 = measure.ideal_magnified(np.rint(apex * 255).astype(np.uint8), uniform_flow(*d), 2.0)
    assert as_uint8.dtype == np.uint8 and as_uint8.shape == apex.shape


def test_projected_factor_and_min_jacobian():
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    pattern = np.stack([np.sin(xx / 9), np.cos(yy / 7)], axis=-1).astype(np.float32)
    assert measure.projected_factor(2.5 * pattern, pattern, INNER) == pytest.approx(2.5)
    assert measure.min_jacobian(uniform_flow(1.0, 2.0), 10.0) == pytest.approx(1.0)
    squeeze = np.stack([-0.2 * xx, np.zeros_like(xx)], axis=-1)  # du/dx = -0.2: folds past a factor of 5
    assert measure.min_jacobian(squeeze, 4.0) == pytest.approx(0.2, abs=1e-5)
    assert measure.min_jacobian(squeeze, 6.0) < 0


def test_image_quality_is_perfect_on_identical_images_and_drops_with_noise():
    a = np.rint(texture() * 255).astype(np.uint8)
    psnr, ssim = measure.image_quality(a, a)
    assert np.isinf(psnr) and ssim == pytest.approx(1.0)
    noisy = np.clip(a + np.random.default_rng(0).normal(0, 5, a.shape), 0, 255).astype(np.uint8)
    psnr, ssim = measure.image_quality(noisy, a, box=(slice(10, 80), slice(10, 80)))
    assert 30 < psnr < 40 and ssim < 0.99


def test_binned_epe_sums_errors_per_bin_of_true_length():
    truth = np.zeros((4, 4, 2), np.float32)
    truth[0, :, 0] = 0.1   # bin 0.05-0.25
    truth[1, :, 0] = 0.75  # bin 0.5-1
    truth[2, :, 0] = 3.0   # bin 2-4
    flow = truth.copy()
    flow[1, :, 1] = 0.2    # error 0.2 on the four 0.75 px pixels
    sums, counts = measure.binned_epe(flow, truth, np.ones((4, 4), bool))
    np.testing.assert_array_equal(counts, [4, 0, 4, 0, 4])  # row 3 (no motion) is below every bin
    np.testing.assert_allclose(sums, [0, 0, 0.8, 0, 0], atol=1e-6)
    zero_sums, _ = measure.binned_epe(np.zeros_like(truth), truth, np.ones((4, 4), bool))
    np.testing.assert_allclose(zero_sums, [0.4, 0, 3.0, 0, 12.0], atol=1e-5)


def test_masks_boxes_and_regions():
    flow = np.zeros((20, 30, 2), np.float32)
    flow[5:8, 10:14] = (1.0, 0.0)
    flow[12, 3] = (0.2, 0.0)
    mask = measure.motion_mask(flow, fraction=0.5)
    assert mask.sum() == 12 and not mask[12, 3]
    assert measure.mask_box(mask, margin=2) == (slice(3, 10), slice(8, 16))
    with pytest.raises(ValueError, match="zero everywhere"):
        measure.motion_mask(np.zeros_like(flow))
    from melib.face import TEMPLATE_68

    points = np.asarray(TEMPLATE_68, np.float64)
    points = 40 + 120 * (points - points.min(0)) / (points.max(0) - points.min(0)).max()
    masks = regions.region_masks(points, (200, 200))
    assert set(masks) == set(regions.REGION_POINTS)
    mouth_centre = np.rint(points[48:60].mean(0)).astype(int)
    assert masks["mouth"][mouth_centre[1], mouth_centre[0]] and not masks["brows"][mouth_centre[1], mouth_centre[0]]
    face = regions.face_mask(points, (200, 200))
    assert all((face & m).sum() > 0.9 * m.sum() for m in masks.values())
    means = regions.region_means(np.where(masks["mouth"], 1.0, 0.0), masks)
    assert means["mouth"] == 1.0 and means["brows"] < 0.2


def test_apex_likeness_is_the_fraction_of_the_apex_change():
    onset, apex = texture(), texture(0.8, 0.3)
    frames = np.stack([onset + s * (apex - onset) for s in (0.0, 0.25, 1.0, 0.5)])
    np.testing.assert_allclose(measure.apex_likeness(np.clip(frames, 0, 1), 2), [0, 0.25, 1, 0.5], atol=1e-6)


def test_select_clips_spreads_and_balances_aus():
    manifest = pd.DataFrame({"subject": [f"s{i}" for i in range(10)], "clip": [f"c{i}" for i in range(10)],
                             "aus": [(4,), (12,), (4, 12), (4, 7), (6, 12), (1,), (4,), (12,), (4,), (2,)],
                             "amplitude": np.arange(10.0)[::-1]})
    manifest.attrs["root"] = "/somewhere"
    spread = experiments.select_clips(manifest, 3, by="amplitude")
    assert spread["amplitude"].tolist() == [0.0, 4.0, 9.0]  # smallest, middle (index 4.5 rounds to 4), largest
    balanced = experiments.select_clips(manifest, 4, aus=(4, 12))
    assert balanced["aus"].tolist() == [(4,), (4,), (12,), (12,)]  # first and last of each pool; never (4, 12)
    assert balanced.attrs["root"] == "/somewhere"
    assert len(experiments.select_clips(manifest, 0)) == 10


def test_timed_and_model_fingerprint():
    import torch

    result, seconds = experiments.timed(sum, [1, 2, 3])
    assert result == 6 and seconds >= 0
    layer = torch.nn.Linear(3, 2)
    before = experiments.model_fingerprint(layer)
    with torch.no_grad():
        layer.weight[0, 0] += 1
    assert experiments.model_fingerprint(layer) != before and len(before) == 12


@pytest.fixture(scope="module")
def tiny_clip(tiny_synthetic_motion):
    """A smile (AU12) of the motion-only tiny dataset: the motion instruments assume brightness constancy,
    which the FACS appearance changes of the default dataset break (as real wrinkles do)."""
    manifest = data.read_annotations("synthetic", tiny_synthetic_motion)
    return manifest, manifest[manifest["AU12"] == 1].iloc[[0]]


def test_magnification_pipeline_on_a_synthetic_clip(tiny_synthetic_motion, tiny_clip):
    manifest, one = tiny_clip
    out = experiments.magnification_measurements(one.iloc[0].to_dict(), [1.0, 3.0], root=str(tiny_synthetic_motion))
    assert list(out["magnifiers"]) == ["evm_pair", "evm_clip"]  # no model given
    assert out["apex_factor"] == pytest.approx(1.0, abs=0.05)           # instrument calibrated on the apex
    np.testing.assert_allclose(out["ideal_factor"], [2.0, 4.0], rtol=0.03)  # ... and on ideal frames
    assert np.all(out["factor"] > 1.0) and np.all(out["factor"] < [2.05, 4.1])
    table = experiments.magnification_table({("sub", "clip"): out})
    assert len(table) == 4 and table["psnr"].isna().tolist() == [False, False, True, True]
    calibration = experiments.calibration_table({("sub", "clip"): out})
    assert set(calibration["instrument"]) == {"pattern fit", "farneback", "dis"} and len(calibration) == 9


def test_flow_pipeline_and_cache_on_a_synthetic_clip(tiny_synthetic_motion, tiny_clip, tmp_path, monkeypatch):
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path))
    manifest, one = tiny_clip
    results = experiments.flow_results(one, ["dis"], alpha=3.0, root=str(tiny_synthetic_motion), strain_method="dis",
                                    progress=False)
    r = next(iter(results.values()))
    assert list(r["conditions"]) == ["none", "evm", "ideal"] and r["epe_sum"].shape == (1, 3, 5)
    epe = experiments.epe_table(results)
    sub_pixel = epe[(epe["hi"] <= 0.5)].groupby(["condition", "method"])["epe"].mean()
    assert sub_pixel[("none", "dis")] < sub_pixel[("none", "zero flow")]
    assert np.isfinite(r["strain"]).all() and np.isfinite(r["strain_true"]).all()
    again = experiments.flow_results(one, ["dis"], alpha=3.0, root=str(tiny_synthetic_motion), strain_method="dis",
                                  progress=False)
    np.testing.assert_array_equal(next(iter(again.values()))["seconds"], r["seconds"])  # read back, not recomputed
