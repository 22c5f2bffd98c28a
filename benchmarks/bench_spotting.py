"""Frequency-domain apex spotting (melib.spotting) against the true apex of the synthetic dataset.

Prints the median |spotted - true apex| in frames, overall and by true motion amplitude (the bins of
``melib.report.by_amplitude``), for the spotter and for the middle frame ``(onset + offset) // 2`` that
SMIC used before. Frames are read at full size (256 px); about 2-4 s per clip on one CPU core.

    .venv/bin/python benchmarks/bench_spotting.py --subjects 5
    .venv/bin/python benchmarks/bench_spotting.py --subjects 5 --feature gray --window 61 --smooth 61
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from melib.data import read_annotations, subset_subjects, synthetic
from melib.spotting import SpotSettings, spot_apex

BINS = (0.0, 0.6, 1.2, np.inf)


def main() -> None:
    defaults = SpotSettings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=5, help="synthetic subjects with the most clips (0 = all)")
    parser.add_argument("--root", default="", help="synthetic dataset root (default: generated data/synthetic)")
    parser.add_argument("--window", type=int, default=defaults.window)
    parser.add_argument("--cutoff", type=float, default=defaults.cutoff)
    parser.add_argument("--feature", default=defaults.feature, choices=("lbp", "gray"))
    parser.add_argument("--smooth", type=int, default=defaults.smooth)
    parser.add_argument("--grid", type=int, nargs=2, default=defaults.grid)
    args = parser.parse_args()
    settings = SpotSettings(args.window, tuple(args.grid), args.cutoff, args.feature, args.smooth)

    root = args.root or synthetic.ensure()
    manifest = read_annotations("synthetic", root)
    if args.subjects:
        manifest = subset_subjects(manifest, args.subjects)
    amplitude = synthetic.clip_table(root).set_index(["subject", "clip"])["amplitude"]
    start = time.perf_counter()
    spotted = np.array([spot_apex(row, settings) for _, row in manifest.iterrows()])
    seconds = time.perf_counter() - start
    truth = manifest["apex"].to_numpy()    # the synthetic sheet's apex is the generator's true apex
    errors = pd.DataFrame({
        "amplitude": amplitude.loc[list(zip(manifest["subject"], manifest["clip"]))].to_numpy(),
        "spotted": np.abs(spotted - truth),
        "middle frame": np.abs((manifest["onset"] + manifest["offset"]).to_numpy() // 2 - truth),
    })
    labels = [f"[{lo:.1f}, {hi:.1f}) px" for lo, hi in zip(BINS[:-1], BINS[1:])]
    errors["bin"] = pd.cut(errors["amplitude"], BINS, right=False, labels=labels)
    table = errors.groupby("bin", observed=False)[["spotted", "middle frame"]].median()
    table["clips"] = errors.groupby("bin", observed=False).size()
    table.loc["all"] = [errors["spotted"].median(), errors["middle frame"].median(), len(errors)]
    table["clips"] = table["clips"].astype(int)
    print(f"settings: {settings}")
    print(f"{len(manifest)} clips of {manifest['subject'].nunique()} subjects, {seconds:.0f} s spotting "
          f"({seconds / max(len(manifest), 1):.1f} s/clip); clip length median "
          f"{int((manifest['offset'] - manifest['onset'] + 1).median())} frames")
    print("median |apex error| in frames, by true amplitude:")
    print(table.to_string(float_format=lambda v: f"{v:.1f}"))
    within = (errors[["spotted", "middle frame"]] <= 5).mean()
    print(f"within 5 frames: spotted {within['spotted']:.0%}, middle frame {within['middle frame']:.0%}")


if __name__ == "__main__":
    main()
