"""Micro-AU CLIP's runs read back: label-free emotion recognition (Sec. III-E), the results and ablation tables, maps and features."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from ... import metrics, papers, splits, train
from ...data import map_emotion
from ...data.mappings import THREE_CLASSES
from ...io import save_json
from ...tables import ours, stacked
from ..spec import MethodSpec
from . import sections
from .config import VARIANTS
from .inputs import MicroAUCLIPDataset
from .method import fold_model, harness, run_config
from .model import (
    LABEL_TABLES,
    label_free_emotion,
)
from .outputs import _held_out_batches, held_out_outputs


# ------------------------------------------------------------------------------ label-free MER (III-E)
@torch.no_grad()
def label_free_results(run: train.Run, manifest: pd.DataFrame, root: str | Path | None = None,
                       device: str | torch.device | None = None, batch_size: int = 32,
                       save: bool = True, label_table: str = "objective") -> dict[str, Any]:
    """Emotion-label-free 3-class MER (Sec. III-E, Eq. 13) pooled over a complete LOSO run.

    Each clip is scored by the model of the fold that held out its subject: its AU visual features
    (``F_G + F~_n``) against the text features of the label texts
    (:func:`melib.methods.micro_au_clip.model.label_free_emotion`); no emotion label is used except to score.
    ``manifest`` must be the run's. Clips whose emotion has no 3-class label (others) are left out and
    counted. Returns ``classes``, ``uf1``, ``uar``, ``acc``, ``confusion``, ``support``, ``n_clips``,
    ``dropped``, ``label_texts`` (label texts per emotion) and ``clips`` (a DataFrame of predictions);
    ``save`` writes all but ``clips`` to ``<run>/label_free.json``.

    ``label_table`` (inference only, not part of the run key): the AU-emotion table that writes the label
    texts (:func:`melib.methods.micro_au_clip.model.label_table_rules`). ``"objective"`` (the objective classes,
    which the synthetic generator's emotions follow, so circular on synthetic data) or ``"emfacs"`` (the
    FACS Investigator's Guide prototypes, an independent source); a non-default table saves to
    ``<run>/label_free_<table>.json`` and adds ``label_table`` to the result.
    """
    if label_table not in LABEL_TABLES:
        raise ValueError(f"unknown label table {label_table!r}; choose from {list(LABEL_TABLES)}")
    rows = manifest.reset_index(drop=True)
    cfg = run_config(run)
    device = torch.device(device) if device is not None else train.device_default()
    dataset = str(rows["dataset"].iloc[0])
    names = [map_emotion(dataset, e, "3class") for e in rows["emotion"]]
    keep = np.array([n is not None for n in names])
    kept = rows[keep]
    predicted: dict[int, int] = {}
    label_emotions: list[str] = []
    for model, batch, out in _held_out_batches(run, rows, kept, root, device, batch_size):
        text_pos, text_neg = model.text_features()
        result = label_free_emotion(out["au_features"].float(), text_pos.float(), text_neg.float(), cfg.aus,
                                    table=label_table)
        predicted.update(zip(batch["index"].tolist(), result["prediction"].cpu().tolist()))
        label_emotions = result["label_emotions"]
    index = list(kept.index)
    y_true = np.array([THREE_CLASSES.index(names[i]) for i in index], dtype=int)
    y_pred = np.array([predicted[i] for i in index], dtype=int)
    labels = list(range(len(THREE_CLASSES)))
    counts, _ = metrics.confusion(y_true, y_pred, labels)
    results = {"classes": list(THREE_CLASSES), "uf1": metrics.uf1(y_true, y_pred, labels),
               "uar": metrics.uar(y_true, y_pred, labels), "acc": metrics.accuracy(y_true, y_pred),
               "confusion": counts.tolist(), "support": counts.sum(1).tolist(), "n_clips": int(len(index)),
               "dropped": int((~keep).sum()),
               "label_texts": {e: label_emotions.count(e) for e in THREE_CLASSES}}
    if label_table != "objective":
        results["label_table"] = label_table
    if save:
        save_json(run.dir / ("label_free.json" if label_table == "objective" else f"label_free_{label_table}.json"),
                  results)
    clips = kept[["subject", "clip", "emotion"]].assign(
        true=[THREE_CLASSES[t] for t in y_true], predicted=[THREE_CLASSES[p] for p in y_pred])
    return {**results, "clips": clips}


def results_table(runs: Mapping[str, train.Run], dataset: str = "casme2") -> pd.DataFrame:
    """Average F1 / accuracy / AUC per run (complete runs only), beside the paper's full model on real data."""
    rows, index = [], []
    for label, run in runs.items():
        if (row := ours(run, {"f1": "f1_avg", "acc": "acc_avg", "auc": "auc_avg"})) is not None:
            rows.append(row)
            index.append((label, "ours"))
    paper = papers.paper_comparison("micro_au_clip", "full", dataset)
    if paper is not None and paper["dataset"] == dataset:
        printed = papers.row_values(paper)
        rows.append({"f1": printed["f1_avg"], "acc": printed.get("acc", np.nan)})
        index.append(("Micro-AU CLIP", f"paper ({dataset}, real, {paper['table']})"))
    return stacked(rows, index, ["f1", "acc", "auc"], ("run", "source"))


def ablation_table(runs: Mapping[str, train.Run], dataset: str = "casme2") -> pd.DataFrame:
    """One row per variant with a complete run: our average F1 / accuracy / AUC, the paper's row that
    the variant reproduces (:func:`melib.papers.paper_comparison`: its table, F1 on REAL data and its
    change against the same table's reference row), our change against our run of that reference
    variant, and the agreement rule (:func:`melib.papers.direction`; one seed each is inconclusive)."""
    done = {v: r.results()["metrics"] for v, r in runs.items() if r.results() is not None}
    rows = {}
    for variant, m in done.items():
        paper = papers.paper_comparison("micro_au_clip", variant, dataset)
        reading = VARIANTS.get(variant, {}).get("miaucl_reading", "softmax")  # read bce rows against bce runs
        ref = next((v for v in (paper or {}).get("reference_variants", ()) if v in done and v != variant
                    and VARIANTS.get(v, {}).get("miaucl_reading", "softmax") == reading), None)
        rule = (papers.direction([m["f1_avg"]], [done[ref]["f1_avg"]], paper["delta"]) if paper and ref else None)
        rows[variant] = {"table": paper["table"] if paper else "-", "f1": m["f1_avg"], "acc": m["acc_avg"],
                         "auc": m["auc_avg"], "paper F1": paper["value"] if paper else np.nan,
                         "paper Δ": paper["delta"] if paper and paper["delta"] is not None else np.nan,
                         "ours Δ": rule["delta"] if rule else np.nan,
                         "against": ref or "", "direction": rule["verdict"] if rule else ""}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["table", "f1", "acc", "auc", "paper F1", "paper Δ",
                                                                  "ours Δ", "against", "direction"])



# ---------------------------------------------------------------------------- the spec's read-back hooks
def view_maps(t: Any, rows: pd.DataFrame, size: int, fold: int) -> dict[str, np.ndarray]:
    """The PTA weights (Eqs. 2-3) of each clip's true AUs (all AUs when it has none) on the patch-token
    grid, summed and scaled to [0, 1]."""
    from ...interpret import true_au_index

    cfg = run_config(t.run)
    out = held_out_outputs(t.run, t.clips, keys=("token_weights", "token_index"), clips=rows)
    grid = fold_model(t.run, fold).grid_size
    result = []
    for i, (_, row) in enumerate(rows.iterrows()):
        tokens = np.zeros(grid[0] * grid[1], np.float32)
        for j in true_au_index(row, cfg.aus) or range(len(cfg.aus)):
            np.add.at(tokens, out["token_index"][i][j].astype(int), out["token_weights"][i][j])
        tokens = tokens.reshape(grid) / max(tokens.max(), 1e-12)
        result.append(cv2.resize(tokens, (size, size), interpolation=cv2.INTER_NEAREST))
    return {"Micro-AU CLIP PTA": np.stack(result)}


@torch.no_grad()
def view_features(t: Any, fold: int) -> pd.DataFrame:
    """Every clip's AU features (concatenated over AUs) under fold ``fold``'s model."""
    model, cfg = fold_model(t.run, fold), run_config(t.run)
    parts = [model(b["image"], b["landmarks"], with_text=False)["au_features"].flatten(1).numpy()
             for b in DataLoader(MicroAUCLIPDataset(t.clips, t.method.cache, cfg.aus), batch_size=32)]
    return pd.DataFrame(np.concatenate(parts), index=splits.clip_ids(t.clips).tolist())


SPEC = MethodSpec(name="micro_au_clip", task="au", protocols=("loso", "kfold"), default_variant="full",
                  run_prefix="micro-au-clip", clips=lambda manifest, cfg: manifest,
                  harness=lambda exp, progress, workers: harness(exp.manifest, exp.config, workers, progress),
                  views=("full",), maps=view_maps, features=view_features,
                  comparison=sections.comparison, sections=sections.SECTIONS)
