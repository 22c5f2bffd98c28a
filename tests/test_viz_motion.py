"""Figures of the motion front end (melib.viz.motion) and the alpha slider, on small made-up tables."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from melib.viz import motion as vmotion
from melib.viz import widgets

RNG = np.random.default_rng(0)
IMAGE = RNG.integers(0, 255, (32, 32, 3), dtype=np.uint8)


def image_axes(fig) -> list:
    """Axes that show an image (colour bars and insets excluded)."""
    return [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>" and ax.get_position().width > 0.1]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def magnification_table() -> pd.DataFrame:
    rows = []
    for clip in ("a", "b", "c"):
        for magnifier, gain in (("evm_pair", 0.5), ("evm_clip", 0.55), ("learned", 0.8)):
            for alpha in (1.0, 3.0, 7.0):
                target = 1 + alpha
                rows.append({"subject": "s", "clip": clip, "magnifier": magnifier, "alpha": alpha, "target": target,
                             "factor": 1 + gain * alpha, "psnr": 40 - alpha if magnifier != "evm_clip" else np.nan,
                             "ssim": 1 - alpha / 20 if magnifier != "evm_clip" else np.nan, "seconds": 0.1,
                             "amplitude": 1.0, "target_amplitude": target, "measured_amplitude": 1 + gain * alpha,
                             "ideal_factor": target, "folds": alpha == 7.0 and clip == "c"})
    return pd.DataFrame(rows)


def test_level_alpha_plot_draws_one_line_per_alpha():
    fig = vmotion.level_alpha_plot([1, 3, 7], levels=6)
    ax = fig.axes[0]
    curves = [line for line in ax.lines if len(line.get_xdata()) == 6]
    assert len(fig.axes) == 1 and len(curves) == 3
    assert curves[2].get_ydata()[-1] == 7 and curves[0].get_ydata()[0] == 0  # full alpha at long wavelengths only


def test_pyramid_temporal_and_grid_figures():
    from melib.motion.magnify import laplacian_pyramid

    fig = vmotion.pyramid_plot(laplacian_pyramid(IMAGE[..., 0].astype(np.float32), 4), alpha=3, max_levels=3)
    assert len(fig.axes) == 3
    t = np.arange(10.0)
    fig = vmotion.temporal_plot(t, {"a": t, "b": -t}, marks={"apex": 4.0})
    assert len([line for line in fig.axes[0].lines if len(line.get_xdata()) == 10]) == 2
    fig = vmotion.magnified_grid(IMAGE, {"x": IMAGE, "y": IMAGE, "z": IMAGE}, box=(slice(0, 16), slice(0, 16)))
    assert len(fig.axes) == 6 and fig.axes[0].images[0].get_array().shape[:2] == (16, 16)
    fig = vmotion.error_maps({"x": IMAGE, "y": IMAGE}, IMAGE)
    assert len(image_axes(fig)) == 3
    assert float(np.max(fig.axes[1].images[0].get_array())) == 0.0  # identical to the ideal: zero error


def test_factor_calibration_and_quality_plots_follow_the_table():
    table = magnification_table()
    fig = vmotion.factor_plot(table)
    left, right = fig.axes
    labels = [line.get_label() for line in left.lines]
    assert len(fig.axes) == 2 and {"EVM, onset+apex", "learned (Oh et al.)", "ideal frame"} <= set(labels)
    learned = next(line for line in left.lines if line.get_label() == "learned (Oh et al.)")
    np.testing.assert_allclose(learned.get_ydata(), [1.8, 3.4, 6.6])  # medians over clips, folded points dropped
    assert sum(len(c.get_offsets()) for c in right.collections) == (table["folds"] == False).sum()  # noqa: E712
    calibration = pd.DataFrame({"instrument": ["pattern fit", "dis"] * 2, "target": [1.0, 1.0, 4.0, 4.0],
                                "reading": [1.0, 0.7, 4.0, 3.6], "subject": "s", "clip": "a", "frame": "apex"})
    fig = vmotion.calibration_plot(calibration)
    dis = next(line for line in fig.axes[0].lines if line.get_label() == "DIS")
    np.testing.assert_allclose(dis.get_ydata(), [0.7, 0.9])
    fig = vmotion.quality_plot(table)
    assert len(fig.axes) == 2 and len([line for line in fig.axes[0].lines if line.get_label()[0] != "_"]) == 2


def test_flow_figures():
    truth = np.zeros((32, 32, 2), np.float32)
    truth[8:16, 8:16] = (0.5, 0.0)
    flows = {"tvl1": truth * 0.8, "dis": truth}
    fig = vmotion.flow_panel(IMAGE, flows, truth)
    assert len(image_axes(fig)) == 8  # 4 columns x 2 rows (frame, truth, 2 methods; key, length, 2 EPE)
    assert "EPE, mean 0.000 px" in [ax.get_title() for ax in fig.axes]
    assert len(image_axes(vmotion.flow_panel(IMAGE, flows))) == 3  # without truth: one row
    wheel = vmotion.hsv_wheel(65)
    assert wheel[32, 32].max() == 0 and wheel[32, 64].tolist() == [255, 0, 0]  # centre black, right red


def test_epe_timing_and_strain_plots():
    epe = pd.DataFrame([{"method": m, "condition": c, "lo": lo, "hi": hi, "epe": 0.1 * lo + k}
                        for c in ("none", "evm") for k, m in enumerate(["tvl1", "dis", "zero flow"])
                        for lo, hi in ((0.05, 0.25), (0.25, 0.5), (0.5, 1.0))])
    fig = vmotion.epe_plot(epe)
    assert len(fig.axes) == 2 and all(len(ax.lines) == 3 for ax in fig.axes)
    times = pd.DataFrame({"method": ["tvl1", "tvl1", "dis", "dis"], "seconds": [1.0, 3.0, 0.01, 0.03]})
    fig = vmotion.timing_plot(times)
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    np.testing.assert_allclose(heights, [2000.0, 20.0])
    strain = pd.DataFrame([{"clip": f"{g}{i}", "group": g, "region": r, "strain": 0.01 * (i + 1), "strain_true": 0.0}
                           for g in ("AU4", "AU12") for i in range(2) for r in ("brows", "mouth", "eyes")])
    fig = vmotion.strain_bars(strain)
    assert len(fig.axes) == 2 and len(fig.axes[0].patches) == 6
    assert fig.axes[0].patches[0].get_height() == pytest.approx(0.015)
    assert len(vmotion.strain_bars(strain.assign(strain_true=np.nan)).axes) == 1
    masks = {"a": np.zeros((32, 32), bool) | (np.arange(32) < 10)}
    fig = vmotion.strain_maps({"x": (IMAGE, np.zeros((32, 32, 2), np.float32) + 0.1, RNG.random((32, 32)), masks)})
    assert len(image_axes(fig)) == 3


def test_magnification_viewer_redraws_on_a_new_alpha():
    calls = []

    def magnify(alpha):
        calls.append(alpha)
        return {"x": np.clip(IMAGE.astype(float) * (1 + 0.01 * alpha), 0, 255).astype(np.uint8)}

    box = widgets.magnification_viewer(IMAGE, magnify, alphas=[1, 2, 4])
    slider, image = box.children
    first = image.value
    assert calls == [2] and first[:8] == b"\x89PNG\r\n\x1a\n"
    slider.value = 4
    assert calls == [2, 4] and image.value != first
    slider.value = 2
    assert calls == [2, 4]  # kept, not recomputed
