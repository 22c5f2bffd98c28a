"""Protocol pitfalls, measured (notebook 10): what four careless evaluation habits add to a score.

Each pitfall compares a careless number with the honest one computed from the *same* trained models
(or, for the split, the same method and settings trained on a different split), per seed:

(a) ``epoch_by_test``: for each LOSO subject, the epoch whose predictions score best on that held-out
    subject (the annotation-mimic authors' ``train.py`` keeps the best accuracy per subject), pooled,
    against the final epoch (what melib reports). Uses the analysis-only per-epoch test predictions of
    ``run_folds(..., record_test_epochs=True)``; nothing in the harness selects on them.
(b) ``per_fold_mean``: the mean over folds of each fold's score against the score of the predictions
    pooled over all folds (the papers' protocol). Per fold, the mean runs over the classes (or AUs)
    present in that fold, as ``sklearn``'s macro average does by default.
(c) ``random_split``: a random clip split (each subject's clips on both sides,
    :func:`melib.splits.random_clip_kfold`) against the subject-independent k-fold, same settings;
    both splits are drawn with the run's seed, so the spread over seeds covers the split too.
    The default synthetic labels are drawn independently of the subject, so there is no identity
    shortcut to take; :func:`random_split_datasets` measures (c) again on a dataset whose subjects
    have habits (``subject_style``, :data:`STYLED`), next to an identity-only predictor
    (:func:`identity_prior`) that bounds what knowing the person is worth.
(d) ``test_threshold``: per AU, the decision threshold that maximises F1 on the pooled test scores
    against the fixed 0.5.

The inflation is careless minus honest; its mean and spread over seeds are what notebook 10 plots.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from . import metrics, splits
from .methods import SPECS
from .viz.tables import markdown_table, mean_sd

PITFALLS: dict[str, str] = {
    "epoch_by_test": "(a) epoch chosen per subject by its test score, vs final epoch",
    "per_fold_mean": "(b) mean of per-fold scores, vs pooled predictions",
    "random_split": "(c) random clip split, vs subject-independent folds",
    "test_threshold": "(d) threshold tuned on the test folds, vs 0.5",
}



def studied(task: str) -> Any:
    """The method the pitfalls are measured on for ``task`` (``"au"`` or ``"emotion"``): the one whose spec
    carries pitfall settings (:class:`melib.methods.spec.MethodSpec`)."""
    found = [s for s in SPECS.values() if s.task == task and s.pitfalls]
    if len(found) != 1:
        raise ValueError(f"one {task} method must carry pitfall settings; found {[s.name for s in found]}")
    return found[0]


#: The AU detection method (its paper's k-fold against a random clip split) and the emotion method (LOSO with
#: per-epoch test predictions) the pitfalls are measured on.
AU, EMOTION = studied("au"), studied("emotion")

#: What the notebook trains, per profile: overrides of each method's ``fast`` preset (its spec's ``pitfalls``).
#: ``fast`` is the CI/CPU-laptop stand-in (small and short, stated in the notebook); ``reference`` is README's setting.
SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    profile: {s.name: dict(s.pitfalls[profile]) for s in (AU, EMOTION)} for profile in AU.pitfalls}

#: The subject-styled synthetic dataset pitfall (c) is measured on as well, per profile (generator knobs).
STYLED: dict[str, dict[str, Any]] = {
    "fast": dict(subjects=6, clips_per_subject=8, subject_style=1.0),
    "reference": dict(subjects=26, subject_style=1.0),
}


# ------------------------------------------------------------------------------------ the four measures
def epoch_by_test(per_epoch: Sequence[Mapping[str, np.ndarray]], n_classes: int) -> dict[str, float]:
    """Pitfall (a) on per-epoch pooled emotion predictions (``scores`` (N, C), ``targets``, ``fold``).

    For each fold, the first epoch with the highest accuracy on that fold's test clips (the authors'
    ``if acc > best_acc`` keeps the first); its predictions are pooled over folds. Returns UF1/UAR of
    that selection and of the final epoch, and the chosen epoch per fold.
    """
    if not per_epoch:
        raise ValueError("no per-epoch predictions (train with record_test_epochs=True)")
    labels = list(range(n_classes))
    folds = np.unique(per_epoch[-1]["fold"])
    chosen_true, chosen_pred, epochs = [], [], []
    for f in folds:
        accs = []
        for p in per_epoch:
            m = p["fold"] == f
            accs.append(float(np.mean(p["scores"][m].argmax(1) == p["targets"][m])))
        best = int(np.argmax(accs))  # first maximum
        p = per_epoch[best]
        m = p["fold"] == f
        chosen_true.append(p["targets"][m].astype(int))
        chosen_pred.append(p["scores"][m].argmax(1))
        epochs.append(best)
    final = per_epoch[-1]
    y_t, y_p = np.concatenate(chosen_true), np.concatenate(chosen_pred)
    f_t, f_p = final["targets"].astype(int), final["scores"].argmax(1)
    return {"uf1_careless": metrics.uf1(y_t, y_p, labels), "uar_careless": metrics.uar(y_t, y_p, labels),
            "uf1_honest": metrics.uf1(f_t, f_p, labels), "uar_honest": metrics.uar(f_t, f_p, labels),
            "chosen_epochs": epochs}


def per_fold_mean_emotion(pred: Mapping[str, np.ndarray], n_classes: int) -> dict[str, float]:
    """Pitfall (b) for emotion recognition: mean over folds of each fold's UF1/UAR (over the classes
    in that fold's truth or predictions) against UF1/UAR of the pooled predictions (all C classes)."""
    y_t, y_p = pred["targets"].astype(int), pred["scores"].argmax(1)
    per_fold = {"uf1": [], "uar": []}
    for f in np.unique(pred["fold"]):
        m = pred["fold"] == f
        present = sorted(set(y_t[m].tolist()) | set(y_p[m].tolist()))
        per_fold["uf1"].append(metrics.uf1(y_t[m], y_p[m], present))
        # recall of a class absent from the fold's truth is undefined: average over the true classes
        per_fold["uar"].append(float(np.mean([np.mean(y_p[m][y_t[m] == c] == c) for c in np.unique(y_t[m])])))
    labels = list(range(n_classes))
    return {"uf1_careless": float(np.mean(per_fold["uf1"])), "uar_careless": float(np.mean(per_fold["uar"])),
            "uf1_honest": metrics.uf1(y_t, y_p, labels), "uar_honest": metrics.uar(y_t, y_p, labels)}


def per_fold_mean_au(pred: Mapping[str, np.ndarray], threshold: float = 0.5) -> dict[str, float]:
    """Pitfall (b) for AU detection: mean over folds of each fold's average F1 (over the AUs with a
    positive or a prediction in that fold) against the average F1 of the pooled predictions."""
    t = pred["targets"].astype(int)
    y = (pred["scores"] > threshold).astype(int)
    per_fold = []
    for f in np.unique(pred["fold"]):
        m = pred["fold"] == f
        present = (t[m].sum(0) + y[m].sum(0)) > 0
        if present.any():
            per_fold.append(float(metrics.au_f1(t[m][:, present], y[m][:, present]).mean()))
    return {"f1_careless": float(np.mean(per_fold)), "f1_honest": float(metrics.au_f1(t, y).mean())}


def best_thresholds(targets: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per AU, the threshold (a midpoint between sorted scores, or below all of them) whose F1 on these
    ``targets`` is highest: what "tuning on the test folds" picks."""
    t, s = np.asarray(targets).astype(int), np.asarray(scores, dtype=np.float64)
    out = np.empty(t.shape[1])
    for j in range(t.shape[1]):
        u = np.unique(s[:, j])
        cands = np.concatenate([[u[0] - 1e-6], (u[:-1] + u[1:]) / 2]) if len(u) > 1 else np.array([u[0] - 1e-6])
        f1 = [metrics.au_f1(t[:, j:j + 1], (s[:, j:j + 1] > c).astype(int))[0] for c in cands]
        out[j] = cands[int(np.argmax(f1))]
    return out


def test_threshold(pred: Mapping[str, np.ndarray], threshold: float = 0.5) -> dict[str, Any]:
    """Pitfall (d): average F1 with each AU's threshold tuned on the pooled test scores vs ``threshold``."""
    t, s = pred["targets"].astype(int), pred["scores"]
    tuned = best_thresholds(t, s)
    return {"f1_careless": float(metrics.au_f1(t, (s > tuned).astype(int)).mean()),
            "f1_honest": float(metrics.au_f1(t, (s > threshold).astype(int)).mean()),
            "thresholds": tuned.tolist()}


def random_split(random_pred: Mapping[str, np.ndarray], subject_pred: Mapping[str, np.ndarray],
                 threshold: float = 0.5) -> dict[str, float]:
    """Pitfall (c): pooled average F1 and AUC under a random clip split against the subject-independent
    split, same method and settings."""
    out = {}
    for name, p in (("careless", random_pred), ("honest", subject_pred)):
        t, s = p["targets"].astype(int), p["scores"]
        out[f"f1_{name}"] = float(metrics.au_f1(t, (s > threshold).astype(int)).mean())
        out[f"auc_{name}"] = float(np.nanmean(metrics.au_auc(t, s)))
    return out


def identity_prior(manifest: pd.DataFrame, aus: Sequence[int], protocol: str, seed: int = 0,
                   k: int = 4) -> dict[str, np.ndarray]:
    """Pooled predictions of a model that knows only who the subject is: per test clip, the AU frequencies
    of that subject's training clips (the whole training set's when the subject is unseen, as under a
    subject-independent split). Same folds as the harness (``splits.make_splits`` with ``seed``)."""
    from .data import au_matrix

    labels = au_matrix(manifest, aus)
    subject = manifest["subject"].to_numpy()
    scores, fold = np.zeros_like(labels), np.full(len(manifest), -1)
    for f, split in enumerate(splits.make_splits(manifest, protocol, k=k, seed=seed)):
        train, test = split.masks(manifest)
        for i in np.flatnonzero(test):
            own = train & (subject == subject[i])
            scores[i] = labels[own if own.any() else train].mean(0)
        fold[test] = f
    return {"scores": scores, "targets": labels, "fold": fold}


# ------------------------------------------------------------------------------------ runs and tables
@dataclass
class SeedRuns:
    """One seed's runs: the AU method (:data:`AU`) under subject k-fold and under the random clip split;
    the emotion method (:data:`EMOTION`) under LOSO with per-epoch test predictions recorded (analysis only)."""

    seed: int
    au_subject: Any
    au_random: Any
    emotion: Any
    n_classes: int


def train_seed(seed: int, profile: str = "fast", progress: bool = False) -> SeedRuns:
    """Load or train one seed's three runs of ``profile`` (:data:`SETTINGS`) on the synthetic dataset;
    ``seed`` seeds training and draws IICL's folds (both splits)."""
    from .experiments import runs

    if profile not in SETTINGS:
        raise ValueError(f"profile must be one of {list(SETTINGS)}; got {profile!r}")
    s = SETTINGS[profile]
    subject, rnd = au_split_runs(seed, profile, progress=progress)
    me = runs.experiment(EMOTION.name, EMOTION.default_variant, seed=seed, profile="fast", **s[EMOTION.name])
    emotion = me.method.methods.run(me.manifest, me.config, me.schedule, progress=progress, record_test_epochs=True,
                                    keep_weights=False)
    return SeedRuns(seed, subject, rnd, emotion, len(emotion.results()["metrics"]["classes"]))


def _au_experiment(seed: int, profile: str, root: str | Path = "") -> Any:
    from .experiments import runs

    if profile not in SETTINGS:
        raise ValueError(f"profile must be one of {list(SETTINGS)}; got {profile!r}")
    return runs.experiment(AU.name, AU.default_variant, seed=seed, profile="fast", protocol="kfold", root=str(root),
                           **SETTINGS[profile][AU.name])


def au_split_runs(seed: int, profile: str = "fast", root: str | Path = "", progress: bool = False) -> tuple[Any, Any]:
    """Load or train the AU method (:data:`AU`) of ``profile`` under the subject k-fold and the random clip split on the synthetic
    dataset at ``root`` ("" = the default one); both splits are drawn with ``seed``. Analysis only: the
    folds keep predictions and metrics, no weights (``keep_weights=False``)."""
    ie = _au_experiment(seed, profile, root)
    module = ie.method.methods
    # the folds are drawn with the seed too, so the spread covers the split as well as training
    subject = module.run(ie.manifest, ie.config, ie.schedule, protocol="kfold", progress=progress, split_seed=seed,
                         keep_weights=False)
    rnd = module.run(ie.manifest, ie.config, ie.schedule, protocol="random_clips", progress=progress, split_seed=seed,
                     keep_weights=False)
    return subject, rnd


def styled_dataset(profile: str = "fast", progress: bool = False) -> Path:
    """The subject-styled synthetic dataset of ``profile`` (:data:`STYLED`), generated once under
    ``<MELIB_DATA>/synthetic_style`` (reference) or ``synthetic_style_<profile>``."""
    from .config import data_root
    from .data import synthetic

    if profile not in STYLED:
        raise ValueError(f"profile must be one of {list(STYLED)}; got {profile!r}")
    name = "synthetic_style" if profile == "reference" else f"synthetic_style_{profile}"
    return synthetic.ensure(data_root() / name, progress=progress, **STYLED[profile])


def subject_mix(root: str | Path = "", profile: str = "fast") -> pd.DataFrame:
    """Share of each emotion among each subject's clips (rows: the subjects ``profile``'s IICL trains on)."""
    m = _au_experiment(0, profile, root).manifest
    return pd.crosstab(m["subject"], m["emotion"], normalize="index")


def random_split_datasets(seeds: Sequence[int] = (0, 1, 2), profile: str = "fast",
                          progress: bool = True) -> pd.DataFrame:
    """Pitfall (c) on the default synthetic dataset and on the subject-styled one (:func:`styled_dataset`),
    per seed, for IICL (load or train) and for the identity-only predictor (:func:`identity_prior`, no
    training). Rows as :func:`measure`'s plus ``dataset``; written to
    ``<outputs>/pitfalls/<profile>/random_split_datasets.csv``."""
    from .config import outputs_root
    from .io import write_text
    from .progress import tqdm

    rows = []
    roots = {"default": "", "subject-styled": styled_dataset(profile, progress)}
    jobs = [(name, root, int(seed)) for name, root in roots.items() for seed in seeds]
    for name, root, seed in tqdm(jobs, desc=f"pitfall (c) on two datasets ({profile})", disable=not progress):
        ie = _au_experiment(seed, profile, root)
        subject, rnd = au_split_runs(seed, profile, root)
        prior = {p: identity_prior(ie.manifest, ie.config.aus, p, seed) for p in ("random_clips", "kfold")}
        for method, result in ((AU.name, random_split(rnd.predictions(), subject.predictions())),
                               ("identity only", random_split(prior["random_clips"], prior["kfold"]))):
            for m in ("f1", "auc"):
                h, c = result[f"{m}_honest"], result[f"{m}_careless"]
                rows.append({"dataset": name, "pitfall": "random_split", "method": method, "metric": m,
                             "seed": seed, "honest": h, "careless": c, "inflation": c - h})
    table = pd.DataFrame(rows)
    write_text(outputs_root() / "pitfalls" / profile / "random_split_datasets.csv", table.to_csv(index=False))
    return table


def measure(r: SeedRuns) -> pd.DataFrame:
    """The four pitfalls of one seed: one row per (pitfall, method, metric) with ``honest``,
    ``careless`` and ``inflation`` (careless - honest)."""
    rows = []

    def add(pitfall: str, method: str, result: Mapping[str, Any], names: Sequence[str]) -> None:
        for m in names:
            h, c = result[f"{m}_honest"], result[f"{m}_careless"]
            rows.append({"pitfall": pitfall, "method": method, "metric": m, "seed": r.seed,
                         "honest": h, "careless": c, "inflation": c - h})

    au_pred, emotion_pred = r.au_subject.predictions(), r.emotion.predictions()
    add("epoch_by_test", EMOTION.name, epoch_by_test(r.emotion.test_epoch_predictions(), r.n_classes), ("uf1", "uar"))
    add("per_fold_mean", AU.name, per_fold_mean_au(au_pred), ("f1",))
    add("per_fold_mean", EMOTION.name, per_fold_mean_emotion(emotion_pred, r.n_classes), ("uf1", "uar"))
    add("random_split", AU.name, random_split(r.au_random.predictions(), au_pred), ("f1", "auc"))
    add("test_threshold", AU.name, test_threshold(au_pred), ("f1",))
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds of honest, careless and inflation, per (pitfall, method, metric), and per
    ``dataset`` first where the table has that column (:func:`random_split_datasets`)."""
    keys = ["dataset"] * ("dataset" in table) + ["pitfall", "method", "metric"]
    g = table.groupby(keys, sort=False)
    out = g[["honest", "careless", "inflation"]].mean().add_suffix("_mean")
    out["inflation_sd"] = g["inflation"].std(ddof=1) if table["seed"].nunique() > 1 else np.nan
    out["seeds"] = g["seed"].nunique()
    return out.reset_index()


def run(seeds: Sequence[int] = (0, 1, 2), profile: str = "fast", progress: bool = True) -> pd.DataFrame:
    """Load or train every seed's runs (:func:`train_seed`) and measure the pitfalls; the per-seed table
    and its :func:`summary` are written to ``<outputs>/pitfalls/<profile>/`` (``seeds.csv``,
    ``summary.csv``, ``summary.md``). Returns the per-seed table."""
    from .progress import tqdm

    from .config import outputs_root
    from .io import write_text

    parts = []
    for seed in tqdm(list(seeds), desc=f"pitfalls ({profile})", disable=not progress):
        parts.append(measure(train_seed(int(seed), profile)))
    table = pd.concat(parts, ignore_index=True)
    out = outputs_root() / "pitfalls" / profile
    summ = summary(table)
    write_text(out / "seeds.csv", table.to_csv(index=False))
    write_text(out / "summary.csv", summ.to_csv(index=False))
    write_text(out / "summary.md", markdown(summ) + "\n")
    return table


def verdict(mean: float, sd: float, n: int) -> str:
    """"inflates" / "deflates" when the mean inflation over ``n`` seeds (each seed's careless minus honest
    score, a paired difference) is beyond two standard errors of that mean, the project's one rule
    (:func:`melib.papers.direction_stats` against 0), else "inconclusive"."""
    from .papers import direction_stats

    rule = direction_stats(mean, sd, n, 0.0, 0.0, n)
    if not rule["beyond"]:
        return "inconclusive: inside two standard errors"
    return "inflates" if mean > 0 else "deflates"


def plot_inflation(summ: pd.DataFrame, table: pd.DataFrame | None = None) -> Figure:
    """One horizontal bar per (pitfall, method, metric): mean inflation with a bar of +-1 sd over seeds,
    and each seed's value as a dot."""
    labels = [f"{PITFALLS[p].split(')')[0]}) {p.replace('_', ' ')}: {m} {k.upper()}"
              for p, m, k in zip(summ["pitfall"], summ["method"], summ["metric"])]
    y = np.arange(len(summ))[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(summ) + 1.2))
    colors = [plt.cm.tab10(list(PITFALLS).index(p)) for p in summ["pitfall"]]
    ax.barh(y, summ["inflation_mean"], xerr=summ["inflation_sd"].fillna(0), color=colors, alpha=0.8,
            capsize=3)
    if table is not None:
        for yi, (_, row) in zip(y, summ.iterrows()):
            v = table[(table.pitfall == row.pitfall) & (table.method == row.method) & (table.metric == row.metric)]
            ax.plot(v["inflation"], np.full(len(v), yi), "k.", ms=4)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, labels)
    ax.set_xlabel("careless - honest (score points, 0-1 scale)")
    ax.set_title(f"What each protocol pitfall adds (mean +- sd over {int(summ['seeds'].max())} seeds)")
    fig.tight_layout()
    return fig


def markdown(summ: pd.DataFrame) -> str:
    """The summary as a Markdown table (docs/results.md, notebook 10), written by
    :func:`melib.viz.tables.markdown_table`: the first column (``dataset`` where the summary has it, else
    ``pitfall``) as its index, every cell preformatted, no column alignment."""
    columns = ["dataset"] * ("dataset" in summ) + ["pitfall", "method", "metric", "honest", "careless",
                                                   "inflation (mean ± sd)"]
    rows = [{"dataset": r.get("dataset"), "pitfall": PITFALLS[r.pitfall], "method": r.method,
             "metric": r.metric.upper(), "honest": f"{r.honest_mean:.3f}", "careless": f"{r.careless_mean:.3f}",
             "inflation (mean ± sd)": mean_sd(r.inflation_mean, r.inflation_sd, 3, signed=True)}
            for _, r in summ.iterrows()]
    text = pd.DataFrame(rows, columns=columns).set_index(columns[0])
    return markdown_table(text, digits=None, align="none", index_header=columns[0])


__all__ = ["AU", "EMOTION", "PITFALLS", "SETTINGS", "STYLED", "SeedRuns", "best_thresholds", "epoch_by_test", "identity_prior",
           "au_split_runs", "markdown", "measure", "per_fold_mean_au", "per_fold_mean_emotion", "plot_inflation",
           "random_split", "random_split_datasets", "run", "styled_dataset", "subject_mix", "summary",
           "studied", "test_threshold", "train_seed", "verdict"]
