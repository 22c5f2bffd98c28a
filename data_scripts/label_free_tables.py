"""Micro-AU CLIP's emotion-label-free MER (Eq. 13) with each AU-emotion table, for finished LOSO runs.

    python data_scripts/label_free_tables.py outputs/runs/micro-au-clip/44cee509dc47
    python data_scripts/label_free_tables.py outputs/runs/micro-au-clip/* --dataset synthetic --no-yardsticks

``objective`` writes the label texts from the objective classes, which the synthetic generator's emotions
follow (circular on synthetic data); ``emfacs`` from the FACS Investigator's Guide prototypes, a source the
generator was not written from (``melib.methods.micro_au_clip.model.label_table_rules`` says where the two coincide).
Each run folder needs every LOSO fold; its manifest is the dataset's clips of the run's subjects. Inference
only: nothing is trained or written.
The yardsticks are the supervised onset-alone null and flow probe on the same clips and folds, and chance.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without `pip install -e`
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from melib import data, io, train  # noqa: E402
from melib.data.mappings import THREE_CLASSES  # noqa: E402
from melib.methods import micro_au_clip as mac  # noqa: E402
from melib.viz.tables import markdown_table  # noqa: E402


def run_and_manifest(folder: Path, dataset: str, root: str) -> tuple[train.Run, pd.DataFrame]:
    """The run in ``folder`` and its manifest: the dataset's clips of the run's LOSO subjects."""
    saved = io.load_json(folder / "run.json")
    subjects = [s for f in saved["folds"] for s in f["test_subjects"]]
    full = data.load_manifest(dataset, root)
    manifest = full[full["subject"].astype(str).isin(subjects)].reset_index(drop=True)
    manifest.attrs = dict(full.attrs)
    return train.Run(folder, len(saved["folds"])), manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="Micro-AU CLIP run folders (with run.json)")
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--root", default="")
    parser.add_argument("--no-yardsticks", action="store_true", help="skip the onset-alone null and flow probe")
    args = parser.parse_args(argv)
    rows, yardsticks = [], {}
    for folder in args.runs:
        run, manifest = run_and_manifest(folder, args.dataset, args.root)
        if not run.complete:
            print(f"{folder}: {len(run.done_folds())}/{run.n_folds} folds done, skipped")
            continue
        miaucl = mac.run_config(run).miaucl
        for table in mac.LABEL_TABLES:
            free = mac.label_free_results(run, manifest, label_table=table, save=False)
            rows.append({"run": folder.name, "miaucl": miaucl, "table": table, "uf1": free["uf1"], "uar": free["uar"],
                         "acc": free["acc"], "clips": free["n_clips"],
                         "texts (neg/pos/sur)": "/".join(str(free["label_texts"][e]) for e in THREE_CLASSES),
                         "confusion (rows: true neg/pos/sur)": "; ".join(" ".join(map(str, r)) for r in free["confusion"])})
        if not args.no_yardsticks and folder.name not in yardsticks:
            from melib import ladder

            kept = manifest.loc[free["clips"].index]
            y = np.array([THREE_CLASSES.index(t) for t in free["clips"]["true"]])
            rungs = ladder.emotion_rungs(kept, y, ("farneback", "onset"))
            yardsticks[folder.name] = {name: rungs.loc[ladder.REPRESENTATIONS[k], "uf1"]
                                       for k, name in (("onset", "onset-alone null"), ("farneback", "flow probe"))}
    if not rows:
        return 1
    print("Emotion-label-free 3-class MER (Eq. 13), pooled over the LOSO folds, per AU-emotion table:\n")
    print(markdown_table(pd.DataFrame(rows).set_index("run"), digits=3))
    for name, ys in yardsticks.items():
        print(f"\n{name}: supervised UF1 yardsticks on the same clips: "
              + ", ".join(f"{k} {v:.3f}" for k, v in ys.items()) + ", chance about 0.33")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
