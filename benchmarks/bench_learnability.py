"""The learnability ladder on a synthetic dataset: per-AU and average F1 (and AUC) of a linear probe
on each representation, under the IICL 4-fold subject-independent protocol (melib.ladder).

    python benchmarks/bench_learnability.py                          # default dataset (data/synthetic)
    python benchmarks/bench_learnability.py --appearance 0           # motion only (generated if missing)
    python benchmarks/bench_learnability.py --root /tmp/syn --fast   # no TV-L1, no magnification

Prints a Markdown table (docs/results.md's ladder tables come from here) and writes it, with the per-clip
probe scores, to ``<outputs>/ladder/<dataset-name>.{md,json}``. Flows and frames come through the
cached front end, so a second run takes seconds.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from melib import config, data, ladder  # noqa: E402
from melib.viz.tables import markdown_table  # noqa: E402
from melib.data import synthetic  # noqa: E402
from melib.io import save_json  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=None,
                        help="synthetic dataset root (default: <data>/synthetic, or <data>/synthetic_appearance<A>)")
    parser.add_argument("--appearance", type=float, default=None,
                        help="generate/use a dataset with this appearance strength (other knobs default)")
    parser.add_argument("--amplitude-scale", type=float, default=1.0, help="with --appearance: motion scale")
    parser.add_argument("--fast", action="store_true", help=f"only {ladder.FAST_REPRESENTATIONS}")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)

    knobs = {}
    if args.appearance is not None:
        knobs = {"appearance": args.appearance, "amplitude_scale": args.amplitude_scale}
    root = args.root
    if root is None:
        suffix = "" if not knobs else f"_appearance{args.appearance:g}_amp{args.amplitude_scale:g}"
        root = config.data_root() / f"synthetic{suffix}"
    root = synthetic.ensure(root, **knobs) if (knobs or not (Path(root) / "synthetic.json").is_file()) else Path(root)
    info = synthetic.dataset_info(root)
    manifest = data.read_annotations("synthetic", root)
    reps = ladder.FAST_REPRESENTATIONS if args.fast else tuple(ladder.REPRESENTATIONS)
    start = time.perf_counter()
    results = ladder.run_ladder(manifest, data.CASME2_AUS, reps, workers=args.workers)
    table = ladder.ladder_table(results)
    elapsed = time.perf_counter() - start
    s = info["settings"]
    head = (f"Synthetic dataset {root.name}: {len(manifest)} clips, {manifest['subject'].nunique()} subjects, "
            f"appearance {s.get('appearance')}, amplitude scale {s.get('amplitude_scale')}, seed {s['seed']}. "
            f"Linear probe (balanced logistic regression, C = {ladder.PROBE_C}), subject-independent 4-fold, "
            f"pooled predictions. {platform.machine()} CPU, {elapsed:.0f} s.")
    md = head + "\n\n" + markdown_table(table)
    print(md)
    out = config.outputs_root() / "ladder"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{root.name}.md").write_text(md + "\n")
    save_json(out / f"{root.name}.json", {
        "dataset": str(root), "settings": s, "table": table.reset_index().to_dict("records"),
        "clips": manifest[["subject", "clip"]].to_dict("records"),
        "scores": {r.representation: r.scores.round(5).tolist() for r in results}})
    print(f"written: {out / (root.name + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
