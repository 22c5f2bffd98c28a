"""IICL's runs read back: F1 tables with seed spread, diagnostics, the verdict against the yardsticks, maps and features."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ... import metrics, splits, train
from ...data import au_matrix
from ...io import load_json
from ...losses import au_positive_weights
from ...viz.tables import mean_sd
from ...yardsticks import au_verdict
from ..spec import MethodSpec
from . import sections
from .config import LABELS, paper_f1
from .method import IICLDataset, harness


def f1_table(runs: Mapping[str, train.Run], dataset: str = "casme2") -> pd.DataFrame:
    """Per-AU F1 in the layout of Tables 1-2: one row per (method, source), ``ours`` beside ``paper``.

    Only complete runs give an ``ours`` row; ``paper`` rows are the published numbers on real data.
    """
    rows, index = [], []
    for variant, run in runs.items():
        results = run.results()
        if results is not None:
            m = results["metrics"]
            rows.append({**dict(zip(m["aus"], m["f1"])), "AVG": m["f1_avg"]})
            index.append((LABELS[variant], "ours"))
        paper = paper_f1(variant, dataset)
        if paper:
            rows.append(dict(paper))
            index.append((LABELS[variant], f"paper ({dataset}, real)"))
    table = pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["method", "source"]))
    au_cols = sorted((c for c in table.columns if c != "AVG"), key=lambda c: int(c[2:]))
    return table[au_cols + ["AVG"]]


def seed_table(runs: Mapping[str, Sequence[train.Run]], dataset: str = "casme2") -> pd.DataFrame:
    """Table 1's layout over seeds: per variant, the mean and sample standard deviation across seeds of
    each AU's pooled F1, the average F1 (``AVG``) and the average pooled ROC-AUC (``AUC``).

    ``runs`` maps a variant to its runs, one per seed (complete runs only are counted; ``seeds`` says
    how many). Rows are ``(method, "mean")`` and ``(method, "sd")``; the paper's real-data row follows
    as ``(method, "paper")`` where it exists (no AUC there).
    """
    rows, index = [], []
    for variant, seed_runs in runs.items():
        done = [r.results() for r in seed_runs if r.results() is not None]
        if done:
            per_seed = pd.DataFrame([{**dict(zip(d["metrics"]["aus"], d["metrics"]["f1"])),
                                      "AVG": d["metrics"]["f1_avg"], "AUC": d["metrics"]["auc_avg"]} for d in done])
            spread = per_seed.std(ddof=1) if len(done) > 1 else per_seed.mean() * np.nan
            for stat, values in (("mean", per_seed.mean()), ("sd", spread)):
                rows.append({**values.to_dict(), "seeds": len(done)})
                index.append((LABELS[variant], stat))
        paper = paper_f1(variant, dataset)
        if paper:
            rows.append(dict(paper))
            index.append((LABELS[variant], f"paper ({dataset}, real)"))
    table = pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["method", "stat"]))
    au_cols = sorted((c for c in table.columns if c.startswith("AU") and c != "AUC"), key=lambda c: int(c[2:]))
    return table[au_cols + [c for c in ("AVG", "AUC", "seeds") if c in table.columns]]


def format_seed_table(table: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """:func:`seed_table` with ``mean`` and ``sd`` rows merged into ``"0.73 ± 0.02"`` cells."""
    out = {}
    for method in dict.fromkeys(table.index.get_level_values(0)):
        part = table.loc[method]
        if "mean" in part.index:
            mean, sd = part.loc["mean"], part.loc["sd"]
            n = int(mean["seeds"])
            out[(method, f"ours, {n} seed{'s' if n > 1 else ''}")] = {
                c: mean_sd(mean[c], sd[c], digits) for c in table.columns if c != "seeds"}
        for stat in part.index:
            if stat.startswith("paper"):
                out[(method, stat)] = {c: ("" if pd.isna(v) else f"{v:.{digits}f}")
                                       for c, v in part.loc[stat].items() if c != "seeds"}
    return pd.DataFrame.from_dict(out, orient="index").rename_axis(["method", "source"])


def f1_by_amplitude(run: train.Run, clips: pd.DataFrame, aus: Sequence[str],
                    bins: Sequence[float] = (0.0, 0.6, 1.2, np.inf), threshold: float = 0.5) -> pd.DataFrame:
    """F1 of a complete run within bins of the true motion amplitude (synthetic data only).

    ``clips`` has columns ``subject, clip, amplitude`` (px at apex), e.g. ``synthetic.clip_table(root)``.
    """
    pred = run.predictions()
    lookup = clips.set_index(["subject", "clip"])["amplitude"]
    amp = lookup.loc[list(zip(pred["subject"], pred["clip"]))].to_numpy()
    which = np.digitize(amp, bins[1:-1])
    rows = []
    for b in range(len(bins) - 1):
        mask = which == b
        f1 = metrics.au_f1(pred["targets"][mask].astype(int), (pred["scores"][mask] > threshold).astype(int))
        rows.append({"amplitude (px)": f"[{bins[b]:.1f}, {bins[b + 1]:.1f})", "clips": int(mask.sum()),
                     **dict(zip(aus, f1)), "AVG": float(f1.mean()) if mask.any() else np.nan})
    return pd.DataFrame(rows).set_index("amplitude (px)")


def diagnostics(run: train.Run, manifest: pd.DataFrame, aus: Sequence[int]) -> pd.DataFrame:
    """What a complete run learned beyond the label frequencies, per fold-pooled AU.

    ``AUC`` is the threshold-free ROC area of the pooled scores (0.5 = no ranking of clips at all);
    ``train BCE / prior`` divides each fold's last-epoch apex BCE by the BCE of the best constant
    prediction, the training folds' AU frequencies (1.0 = the network learned only how often each AU
    occurs); for ``bce="balanced"`` both sides use the same positive weights.
    """
    pred = run.predictions()
    auc = metrics.au_auc(pred["targets"].astype(int), pred["scores"])
    balanced = load_json(run.dir / "run.json")["config"].get("bce") == "balanced"
    ratios = []
    for fold in run.fold_results():
        train_rows = manifest[~manifest["subject"].isin(fold["test_subjects"])]
        labels = au_matrix(train_rows, aus)
        p = np.clip(labels.mean(0), 1e-6, 1 - 1e-6)
        # with bce="balanced" the loss weights positives by w = neg/pos (as in training), so the prior
        # is the best constant under that same weighting: q = w p / (w p + 1 - p)
        w = au_positive_weights(labels).numpy().astype(np.float64) if balanced else np.ones_like(p)
        q = w * p / (w * p + 1 - p)
        prior = float(np.mean(-(w * p * np.log(q) + (1 - p) * np.log(1 - q))))
        ratios.append(fold["history"][-1]["bce_apex" if "bce_apex" in fold["history"][-1] else "loss"] / prior)
    table = pd.DataFrame([auc], index=["AUC"], columns=[f"AU{a}" for a in aus])
    table["AVG"] = np.nanmean(auc)
    table["train BCE / prior"] = float(np.mean(ratios))
    return table


#: The verdict against the yardsticks (:func:`melib.yardsticks.au_verdict`, one margin for every method).
verdict = au_verdict


# ---------------------------------------------------------------------------- the spec's read-back hooks
def view_maps(t: Any, rows: pd.DataFrame, size: int, fold: int) -> dict[str, np.ndarray]:
    """Grad-CAM of the sum of each clip's true AUs' logits (all AUs when it has none) at the backbone's
    last stage, placed where the centre crop sits in the whole frame (0 outside it)."""
    from ...interpret import grad_cam, to_frame, true_au_index

    cfg = t.exp.config
    model = t.method.build_model()
    model.load_state_dict(t.run.fold_state(fold))
    model.eval()
    data = IICLDataset(rows, t.method.cache, cfg, training=False)
    m = (cfg.image_size - cfg.crop_size) // 2
    crop = (m / cfg.image_size, (m + cfg.crop_size) / cfg.image_size)
    out = []
    for i, (_, row) in enumerate(rows.iterrows()):
        picked = true_au_index(row, cfg.aus) or list(range(len(cfg.aus)))
        cam = grad_cam(model, data[i]["apex"][None], [model.backbone.layer4], lambda o, p=picked: o[1][:, p].sum(1))
        out.append(to_frame(cam[0].numpy(), size, crop))
    return {"IICL Grad-CAM": np.stack(out)}


@torch.no_grad()
def view_features(t: Any, fold: int) -> pd.DataFrame:
    """Pooled backbone features of every clip of the run under fold ``fold``'s model."""
    model = t.method.build_model()
    model.load_state_dict(t.run.fold_state(fold))
    model.eval()
    data = IICLDataset(t.clips, t.method.cache, t.exp.config, training=False)
    feats = model(torch.stack([data[i]["apex"] for i in range(len(t.clips))]))[0].numpy()
    return pd.DataFrame(feats, index=splits.clip_ids(t.clips).tolist())


SPEC = MethodSpec(name="iicl", task="au", protocols=("kfold", "loso"), default_variant="iicl", run_prefix="iicl-",
                  clips=lambda manifest, cfg: manifest,
                  harness=lambda exp, progress, workers: harness(exp.manifest, exp.config, workers, progress),
                  views=("iicl",), maps=view_maps, features=view_features,
                  comparison=sections.comparison, sections=sections.SECTIONS,
                  pitfalls={"fast": dict(subjects=6, epochs=3), "reference": dict(subjects=10)})
