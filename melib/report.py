"""Every method side by side from results files: the comparison tables, each paper's ablations with
seed-to-seed spread, one self-contained HTML page, and the marked results sections of ``docs/results.md``.

``python -m melib.report`` (``make report``) walks :data:`SECTIONS`: for each row (a method, variant,
protocol and overrides) and each seed it finds the load-or-train run of
:func:`melib.experiments.runs.experiment` on disk, trains it only if it is missing and ``train_missing``
is set, and reads its ``results.json``. The learnability ladder's yardsticks (linear probes on
Farneback flow and on the onset frame) are computed once per dataset and kept in
``<outputs>/report/yardsticks-<key>.json``. Everything lands in ``<outputs>/report/``: ``index.html``
(tables, figures embedded, machine, melib version, each run's settings hash), ``results.json`` (every
number of the page) and the figures. The sections of ``docs/results.md`` between ``<!-- report:NAME -->``
and ``<!-- /report:NAME -->`` are rewritten from the same numbers; then README's short
``<!-- report:headlines -->`` block and ``docs/images/comparison.png`` are rebuilt from those tables
(:mod:`melib.headlines`). Each file is left byte for byte as it was when nothing changed.
"""
from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from .io import load_json, save_json
from .methods import SPECS
from .papers import direction_stats, paper_comparison, seed_stats
from .fold_store import run_machine  # noqa: F401  (report.run_machine, as before)
from .report_page import _png, block_name, figure, report_dir, rewrite_blocks, write_page  # noqa: F401
from .tables import AU_METRICS, EMOTION_METRICS, Row, Section
from .viz.tables import mean_sd
from .yardsticks import learned
from .yardsticks import compute as yardsticks  # noqa: F401  (report.yardsticks, as before)



def comparison_rows(task: str, protocol: str | None = None) -> tuple[Row, ...]:
    """The rows every method adds to the comparison table of ``task`` (under ``protocol``), in registry order;
    label-free rows after those trained with the labels."""
    rows = [r for s in SPECS.values() if s.comparison is not None for r in s.comparison(task, protocol)]
    return tuple(sorted(rows, key=lambda r: r.label_free))


SECTIONS: tuple[Section, ...] = (
    Section("comparison-au", "AU detection: every method under both protocols", "au",
            comparison_rows("au", "kfold") + comparison_rows("au", "loso")),
    Section("comparison-emotion", "Emotion recognition, 3 classes, LOSO", "emotion", comparison_rows("emotion"),
            classes=3),
    *(section for s in SPECS.values() for section in s.sections),
)


#: Notebook 08's settings when its parameters are ``None``: ``fast`` reads the runs that notebooks 04-07
#: trained in the same demo (each method's fast profile and seed), the others the report's own.
NOTEBOOK_SETTINGS: dict[str, dict[str, Any]] = {
    "fast": {"seeds": [None], "subjects": "preset", "epochs": None},  # the runs notebooks 04-07 train (demo)
    "full": {"seeds": [0, 1, 2], "subjects": 0, "epochs": None},
    "reference": {"seeds": [0, 1, 2], "subjects": 0, "epochs": None},
}


def sections(scope: str = "main") -> list[Section]:
    if scope not in ("main", "all"):
        raise ValueError(f"scope must be 'main' or 'all', got {scope!r}")
    return [s for s in SECTIONS if scope == "all" or s.scope == "main"]


# ------------------------------------------------------------------------------------------ collect
def row_protocol(row: Row) -> str:
    """The protocol a row runs under: its own, or its method's first (the paper's)."""
    from .experiments.runs import METHODS

    return row.protocol or METHODS[row.method].protocols[0]


def row_paper(row: Row, section: Section, dataset: str = "casme2") -> dict[str, Any] | None:
    """The paper's row that a report row reproduces (:func:`melib.papers.paper_comparison`: same
    protocol and class count, the task's headline metric), or ``None``."""
    return paper_comparison(row.method, row.variant, dataset, classes=section.classes, protocol=row_protocol(row),
                            table_name=row.paper_table)


def row_reference(row: Row, section: Section) -> Row | None:
    """The row of ``section`` that ``row`` is read against: ``row.reference``, else a section row of the
    paper row's reference variants, else the section's reference (``None`` for the reference itself)."""
    paper = row_paper(row, section)
    wanted = [row.reference] if row.reference else [*(paper or {}).get("reference_variants", ()), section.reference]
    for variant in wanted:
        found = next((r for r in section.rows if r.variant == variant and r.method == row.method
                      and r.protocol == row.protocol and r is not row), None)
        if found is not None and found.variant != row.variant:
            return found
    return None


def _row_metrics(row: Row, run: Any, exp: Any) -> dict[str, Any] | None:
    results = run.results()
    if results is None:
        return None
    m = results["metrics"]
    if row.label_free:
        path = run.dir / ("label_free.json" if row.label_table == "objective" else f"label_free_{row.label_table}.json")
        if path.is_file():
            lf = load_json(path)
        else:
            lf = exp.method.methods.label_free_results(run, exp.manifest, label_table=row.label_table)
        return {k: lf[k] for k in EMOTION_METRICS}
    if "f1_avg" in m:
        from . import metrics

        pred = run.predictions()
        within = metrics.au_auc_within_folds(pred["targets"], pred["scores"], pred["fold"])
        return {"f1_avg": m["f1_avg"], "auc_avg": m["auc_avg"],
                "auc_within": float(np.nanmean(within)) if np.isfinite(within).any() else None,
                **dict(zip(m["aus"], m["f1"]))}
    return {k: m[k] for k in EMOTION_METRICS}


#: Subjects of every row (one clip set for all methods): the fast profile's 10, or all for the others.
DEFAULT_SUBJECTS = {"fast": 10, "reference": 0, "full": 0}


def collect(scope: str = "main", seeds: Sequence[int] = (0, 1, 2), profile: str = "fast", dataset: str = "synthetic",
            root: str = "", train_missing: bool = False, progress: bool = True,
            only: Sequence[str] | None = None, subjects: int | str | None = None,
            epochs: int | None = None) -> pd.DataFrame:
    """One row per (section, row, seed) with the run's metrics, its key and folder; ``status`` is
    ``done`` or ``missing`` (not trained, ``train_missing`` off). ``profile``: ``fast``, ``full`` or
    ``reference`` (each method's CPU reference setting). Every row runs on the same ``subjects``
    (default :data:`DEFAULT_SUBJECTS`; 0 = all), or ``subjects="preset"``: each method's own profile, as its
    notebook runs it; a seed of ``None`` is the profile's own seed (with ``"preset"``: the runs notebooks
    04-07 train). ``epochs`` overrides every method's. ``only``: section names. ``subjects`` in the result
    is the number of subjects each row ran on."""
    from .progress import tqdm

    from .experiments import runs

    todo = [(s, r, seed) for s in sections(scope) if only is None or s.name in only for r in s.rows for seed in seeds]
    out = []
    for section, row, seed in tqdm(todo, desc="report runs", disable=not progress):
        common = {"subjects": DEFAULT_SUBJECTS[profile] if subjects is None else None if subjects == "preset"
                  else subjects, "epochs": epochs}
        try:
            exp = runs.experiment(row.method, row.variant, seed, "fast" if profile == "reference" else profile,
                                  row.protocol, dataset, root, reference=profile == "reference",
                                  **{k: v for k, v in common.items() if v is not None}, **dict(row.overrides))
            run = runs.locate(exp)
        except ValueError as error:  # the method cannot run on this dataset (e.g. AU detection on SMIC-HS)
            if dataset == "synthetic":
                raise
            out.append({"section": section.name, "row": row.name, "method": row.method, "variant": row.variant,
                        "protocol": row.protocol, "seed": seed, "subjects": 0, "status": "n/a", "run_key": None,
                        "run_dir": None, "paper": None, "machine": None, "reason": str(error).split("\n")[0]})
            continue
        if not run.complete and train_missing:
            run = runs.run(exp, progress=False)
        metrics = _row_metrics(row, run, exp) if run.complete else None
        machine = run_machine(run)
        out.append({"section": section.name, "row": row.name, "method": row.method, "variant": row.variant,
                    "protocol": exp.protocol, "seed": exp.seed, "subjects": int(exp.manifest["subject"].nunique()),
                    "status": "done" if metrics else "missing",
                    "run_key": run.dir.name, "run_dir": str(run.dir),
                    "paper": (row_paper(row, section) or {}).get("value"),
                    "machine": machine, **(metrics or {})})
    return pd.DataFrame(out)


# ------------------------------------------------------------------------------------------- tables
def summary(results: pd.DataFrame, section: Section, sticks: Mapping[str, Mapping[str, float]] | None = None,
            digits: int = 3) -> pd.DataFrame:
    """A section's table: ``mean ± sd`` over the seeds that are done, the seed count, the paper's
    number (real data) and, for ablations, the direction of each row against the reference row in
    ours and in the paper; then the yardsticks."""
    part = results[(results["section"] == section.name) & (results["status"] == "done")]
    metrics = list(AU_METRICS if section.task == "au" else EMOTION_METRICS)
    aus = [c for c in results.columns if re.fullmatch(r"AU\d+", str(c))] if section.task == "au" else []
    cols = metrics + [a for a in aus if a in part and part[a].notna().any()]
    stats = {}
    for row in section.rows:
        got = part[part["row"] == row.name]
        stats[row.name] = {c: seed_stats(got[c].dropna().astype(float).tolist() if c in got else []) for c in cols}
        stats[row.name]["seeds"] = len(got)
    frame = table_from_stats(stats, section, cols, digits)
    if sticks and section.scope == "main":
        keys = ([f"{n}, {p}" for p in ("kfold", "loso") for n in ("flow probe", "onset null")] if section.task == "au"
                else ["flow probe, emotion", "onset null, emotion"])
        for key in keys:
            if key in sticks:
                frame.loc[key] = {c: f"{sticks[key][c]:.{digits}f}" for c in cols if c in sticks[key]} | {"seeds": "probe"}
    return frame.fillna("")


def section_subjects(results: pd.DataFrame, section: Section) -> tuple[int, list[str]]:
    """The subject count most of a section's finished rows ran on (the clip set its yardsticks must use)
    and one note per row that ran on another clip set (e.g. a method whose fast profile takes fewer subjects)."""
    part = results[(results["section"] == section.name) & (results["status"] == "done")]
    if part.empty or "subjects" not in part:
        return 0, []
    n = int(part["subjects"].mode().iloc[0])
    notes = [f"{row}: ran on {int(k)} subjects, the yardsticks on {n}: read it against them with care"
             for row, k in part.groupby("row", sort=False)["subjects"].first().items() if int(k) != n]
    return n, notes


def verdicts(results: pd.DataFrame, section: Section, sticks: Mapping[str, Mapping[str, float]]) -> list[str]:
    """One line per row of a ``main`` section: its mean ± sd against the flow probe and the onset null
    of the same protocol (AUC for AU detection, UF1 for emotion), saying plainly whether it beats them."""
    metric = "auc_avg" if section.task == "au" else "uf1"
    part = results[(results["section"] == section.name) & (results["status"] == "done")]
    lines = []
    for row in section.rows:
        got = part.loc[part["row"] == row.name, metric].dropna().astype(float)
        if got.empty:
            lines.append(f"{row.name}: not run")
            continue
        where = "emotion" if section.task == "emotion" else part.loc[got.index[0], "protocol"]
        probe, null = sticks[f"flow probe, {where}"][metric], sticks[f"onset null, {where}"][metric]
        lines.append(f"{row.name}: {metric} {mean_sd(got.mean(), got.std() if len(got) > 1 else None, 2)} against the flow probe's {probe:.2f} and the "
                     f"onset null's {null:.2f}: " + ("beats the flow probe" if got.mean() > probe
                                                     else "does NOT beat the flow probe")
                     + ("" if learned(got.mean(), null) else "; NOT above the null")
                     + ("; near or below chance (AUC 0.5)" if metric == "auc_avg" and got.mean() < 0.55 else ""))
    return lines


def auc_notes(results: pd.DataFrame, section: Section, gap: float = 0.05) -> list[str]:
    """For an AU section, one line per row whose pooled AUC (the protocol) is below chance or more than
    ``gap`` below its mean within-fold AUC (:func:`melib.metrics.au_auc_within_folds`), means over seeds,
    saying what that means: no ranking at all, or fold models whose scores sit on different scales."""
    if section.task != "au" or "auc_within" not in results:
        return []
    part = results[(results["section"] == section.name) & (results["status"] == "done")]
    lines = []
    for row in section.rows:
        got = part[part["row"] == row.name]
        pooled, within = got["auc_avg"].dropna().astype(float), got["auc_within"].dropna().astype(float)
        if pooled.empty or within.empty:
            continue
        p, w = pooled.mean(), within.mean()
        if p < 0.55 and w < 0.55:
            lines.append(f"{row.name}: AUC {p:.2f} pooled and {w:.2f} within folds: no ranking even inside a fold, "
                         "nothing learned" + ("; a pooled AUC this far below chance only ranks the fold models' "
                                              "offsets against each other" if p < 0.47 else ""))
        elif p < 0.5:
            lines.append(f"{row.name}: pooled AUC {p:.2f} is below chance but {w:.2f} within folds: it ranks clips "
                         "inside a fold, but its fold models' scores sit on different scales")
        elif w - p > gap:
            lines.append(f"{row.name}: pooled AUC {p:.2f} against {w:.2f} within folds: its fold models' scores "
                         f"sit on different scales, which the pooled protocol charges ({w - p:.2f})")
    return lines


def _format_stats(mean: float, sd: float, n: int, digits: int) -> str:
    return "not run" if n == 0 else mean_sd(mean, sd if n > 1 else None, digits)


def table_from_stats(stats: Mapping[str, Mapping[str, Any]], section: Section, cols: Sequence[str],
                     digits: int = 3) -> pd.DataFrame:
    """A section's table from each row's ``{column: (mean, sd, n)}`` and ``"seeds"``: ``mean ± sd``, the
    seed count, the paper's row (:func:`row_paper`) and, for ablations, each row against its reference
    by the one agreement rule (:func:`row_direction`)."""
    table = {}
    for row in section.rows:
        entry: dict[str, Any] = {c: _format_stats(*stats[row.name][c], digits) if c in stats[row.name] else "not run"
                                 for c in cols}
        entry["seeds"] = stats[row.name].get("seeds", 0)
        paper = row_paper(row, section)
        entry["paper (real)"] = "" if paper is None else f"{paper['value']:.3f}"
        entry["paper row"] = _paper_where(paper)
        table[row.name] = entry
    frame = pd.DataFrame(table).T
    if section.reference is not None and cols:
        rules = [row_direction(stats, section, row, cols[0]) for row in section.rows]
        frame["reference"] = [r["against"] for r in rules]
        frame["ours Δ (± 2 SE)"] = [r["ours"] for r in rules]
        frame["paper Δ"] = [r["paper"] for r in rules]
        frame["direction"] = [r["verdict"] for r in rules]
    return frame


def _paper_where(paper: Mapping[str, Any] | None) -> str:
    """``Table VIII MiAUCL`` (``, SMIC-HS`` when the row is another dataset's): where a paper number is from."""
    if paper is None:
        return ""
    return f"{paper['table']} {paper['row']}" + (", SMIC-HS" if paper["dataset"] == "smic" else
                                                   ", SAMM" if paper["dataset"] == "samm" else "")


def row_direction(stats: Mapping[str, Mapping[str, Any]], section: Section, row: Row, metric: str) -> dict[str, str]:
    """A row against its reference row (:func:`row_reference`), ours and the paper's, by the one
    agreement rule (:func:`melib.papers.direction_stats`) on ``stats[row][metric] = (mean, sd, n)``:
    ``against``, ``ours`` (``+0.031 ± 0.020``: the difference and two standard errors), ``paper`` (the
    paper's change against the same table's reference row) and ``verdict``."""
    ref = row_reference(row, section)
    if ref is None:
        return {"against": "", "ours": "", "paper": "", "verdict": ""}
    paper = row_paper(row, section)
    # the paper's change is read within one table: our reference must reproduce that table's reference row
    same_table = paper is not None and paper["delta"] is not None and ref.variant in paper["reference_variants"]
    paper_delta = paper["delta"] if same_table else None
    missing = (np.nan, np.nan, 0)
    rule = direction_stats(*stats.get(row.name, {}).get(metric, missing), *stats.get(ref.name, {}).get(metric, missing),
                           paper_delta=paper_delta)
    ours = "" if rule["delta"] is None else f"{rule['delta']:+.3f}" + (
        f" ± {2 * rule['se']:.3f}" if rule["se"] is not None else "")
    if rule["delta"] is None:
        return {"against": ref.variant, "ours": "", "paper": "" if paper_delta is None else f"{paper_delta:+.3f}",
                "verdict": "not run"}
    verdict = rule["verdict"] if paper_delta is not None else (
        "effect (no paper Δ)" if rule["verdict"] == "effect" else "inconclusive (no paper Δ)")
    return {"against": ref.variant, "ours": ours, "paper": "" if paper_delta is None else f"{paper_delta:+.3f}",
            "verdict": f"{verdict} ({rule['n'][0]} vs {rule['n'][1]} seeds)"}


def agreement(frame: pd.DataFrame, section: Section) -> pd.Series:
    """Per ablation row of a :func:`summary` table: the agreement rule's verdict (``agrees``,
    ``disagrees``, ``inconclusive``, with the seed counts)."""
    if "direction" not in frame:
        return pd.Series(dtype=str, name="direction")
    got = frame["direction"]
    return got[got.astype(str) != ""].rename("direction")


def markdown(frame: pd.DataFrame) -> str:
    cols = ["", *map(str, frame.columns)]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, r in frame.iterrows():
        lines.append("| " + " | ".join([str(name), *(str(v) for v in r.values)]) + " |")
    return "\n".join(lines)


def by_amplitude(results: pd.DataFrame, section: Section, clips: pd.DataFrame,
                 bins: Sequence[float] = (0.0, 0.6, 1.2, np.inf)) -> pd.DataFrame:
    """The section's metric within bins of the true motion amplitude (synthetic data; ``clips`` has
    ``subject, clip, amplitude``, e.g. ``synthetic.clip_table(root)``), from each run's pooled
    predictions, mean over seeds: average AU F1 at 0.5 for AU sections, UF1 for emotion sections."""
    from . import metrics
    from .train import Run

    amplitude = clips.set_index(["subject", "clip"])["amplitude"]
    labels = [f"[{lo:.1f}, {hi:.1f}) px" for lo, hi in zip(bins[:-1], bins[1:])]
    part = results[(results["section"] == section.name) & (results["status"] == "done")]
    table = {}
    for row in section.rows:
        if row.label_free:
            continue
        per_seed = []
        for run_dir in part.loc[part["row"] == row.name, "run_dir"]:
            run = Run(Path(run_dir), int(load_json(Path(run_dir) / "run.json")["k"]))
            pred = run.predictions()
            which = np.digitize(amplitude.loc[list(zip(pred["subject"], pred["clip"]))].to_numpy(), bins[1:-1])
            values = []
            for b in range(len(labels)):
                mask = which == b
                if not mask.any():
                    values.append(np.nan)
                elif section.task == "au":
                    values.append(float(metrics.au_f1(pred["targets"][mask].astype(int),
                                                      (pred["scores"][mask] > 0.5).astype(int)).mean()))
                else:
                    classes = list(range(pred["scores"].shape[1]))
                    values.append(metrics.uf1(pred["targets"][mask].astype(int), pred["scores"][mask].argmax(1), classes))
            per_seed.append(values)
        if per_seed:
            table[row.name] = np.nanmean(np.array(per_seed, dtype=float), axis=0)
    frame = pd.DataFrame(table, index=labels).T
    counts = np.bincount(np.digitize(clips["amplitude"].to_numpy(), bins[1:-1]), minlength=len(labels))
    frame.loc["clips in the dataset"] = counts
    return frame


# ------------------------------------------------------------------------------------ page and README
def section_markdown(section: Section, frame: pd.DataFrame, results: pd.DataFrame, profile: str,
                     seeds: Sequence[int], subjects: int = 0, epochs: int | None = None,
                     dataset: str = "synthetic", root: str = "", tag: str = "") -> str:
    part = results[results["section"] == section.name]
    machines = sorted({line for m in part.loc[part["status"] == "done", "machine"] if m for line in m.split("; ")})
    missing = int((part["status"] == "missing").sum())
    not_run = part.loc[part["status"] == "n/a"].drop_duplicates("row") if "reason" in part else part.iloc[:0]
    flags = ("--scope all " if section.scope == "all" else "") + (
        f"--dataset {dataset} " if dataset != "synthetic" else "") + (f"--root {root} " if str(root) else "") + (
        f"--tag {tag} " if tag else "") + (
        f"--profile {profile} --seeds {' '.join(map(str, seeds))} --subjects {subjects}") + (
        f" --epochs {epochs}" if epochs else "")
    what = (f"the dataset at `{root}`" if str(root) else
            "the default synthetic dataset" if dataset == "synthetic" else dataset)
    text = [f"Generated by `python -m melib.report {flags}` from the runs' `results.json` "
            f"({subjects or 'all'} subjects of {what}); machine: {'; '.join(machines) or 'n/a'}. "
            f"Mean ± sd over seeds; the paper's numbers are on real data.", "", markdown(frame)]
    if section.reference is not None:
        agree = agreement(frame, section)
        if len(agree):
            text += ["", "Each row is read against its `reference` row, ours and the paper's within one table "
                     "(`paper row`); a direction agrees or disagrees only beyond two standard errors of the "
                     "difference of the seed means (`melib.papers.direction`), else it is inconclusive: "
                     + "; ".join(f"{k}: {v}" for k, v in agree.items()) + "."]
    notes = auc_notes(results, section)
    if notes:
        text += ["", "`auc_within`: the mean of each fold's own AUC, a diagnostic beside the pooled `auc_avg` "
                 "of the protocol. " + "; ".join(notes) + "."]
    if missing:
        text += ["", f"{missing} (row, seed) runs are not trained yet (`make report` trains them)."]
    if len(not_run):
        text += ["", "Not applicable on this dataset: " + "; ".join(f"{r.row} ({r.reason})" for r in not_run.itertuples())
                 + "."]
    return "\n".join(text)


def build(scope: str = "main", seeds: Sequence[int] = (0, 1, 2), profile: str = "fast", dataset: str = "synthetic",
          root: str = "", train_missing: bool = False, results_md: Path | None = None, progress: bool = True,
          only: Sequence[str] | None = None, subjects: int | None = None, epochs: int | None = None,
          tag: str = "", readme: Path | None = None, image: Path | None = None) -> dict[str, Any]:
    """Collect, tabulate, draw, write :func:`report_dir` and (``results_md``) rewrite the results page's
    blocks (:func:`block_name`: a ``tag`` gives another dataset, e.g. the motion-only twin, blocks of its
    own); then (``readme``, ``image``) README's headline block and the comparison figure from that page's
    tables (:func:`melib.headlines.update_front_page`)."""
    import matplotlib.pyplot as plt

    from .viz import save_figure

    subjects = DEFAULT_SUBJECTS[profile] if subjects is None else subjects
    results = collect(scope, seeds, profile, dataset, root, train_missing, progress, only, subjects, epochs)
    sticks = (yardsticks(dataset, root, subjects or None, progress=progress)
              if any(s.scope == "main" for s in sections(scope)) else {})
    out = report_dir(tag)
    tables, figures, blocks = {}, {}, {}
    for s in sections(scope):
        if only is not None and s.name not in only:
            continue
        if (results.loc[results["section"] == s.name, "status"] == "n/a").all():
            continue  # no row of this section runs on this dataset (AU detection on SMIC-HS)
        tables[s.name] = summary(results, s, sticks)
        fig = figure(results, s, sticks if s.scope == "main" else None)
        figures[s.name] = _png(fig)
        save_figure(fig, s.name.replace("-", "_"), folder=f"report_{tag}" if tag else "report")
        plt.close(fig)
        blocks[block_name(s, tag)] = section_markdown(s, tables[s.name], results, profile, seeds, subjects, epochs,
                                                      dataset, root, tag)
    save_json(out / "results.json", {"profile": profile, "seeds": list(seeds), "melib": __version__,
                                     "runs": results.replace({np.nan: None}).to_dict("records"), "yardsticks": sticks})
    page = write_page(results, tables, figures, out, profile, seeds, dataset=f"{dataset} {root}".strip(),
                      sections=SECTIONS)
    changed = rewrite_blocks(results_md, blocks) if results_md is not None else False
    front = {"readme": False, "image": False}
    if results_md is not None and (readme is not None or image is not None):
        from .headlines import update_front_page

        front = update_front_page(results_md, readme, image)
    return {"page": page, "results": results, "tables": tables, "results_changed": changed,
            "readme_changed": front["readme"], "image_changed": front["image"]}


def _is_default_data(dataset: str, root: str) -> bool:
    if dataset != "synthetic":
        return False
    if not str(root):
        return True
    from .data import synthetic

    return Path(root).expanduser().resolve() == Path(synthetic.default_root()).expanduser().resolve()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Regenerate the report page, the results tables of docs/results.md "
                                            "and README's headlines.")
    p.add_argument("--scope", default="main", choices=("main", "all"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--profile", default="fast", choices=("fast", "full", "reference"))
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--root", default="")
    p.add_argument("--train", action="store_true", help="train the runs that are missing (else: reported as missing)")
    p.add_argument("--results", default="docs/results.md", help="results page whose blocks to rewrite ('' = none)")
    p.add_argument("--readme", default="README.md", help="README whose headline block to rewrite ('' = none)")
    p.add_argument("--image", default="docs/images/comparison.png", help="README's comparison figure ('' = none)")
    p.add_argument("--headlines", action="store_true", help="only rebuild README's headlines and the figure from "
                                                            "the tables --results holds (no runs needed)")
    p.add_argument("--only", nargs="+", default=None, help="section names")
    p.add_argument("--subjects", type=int, default=None, help="subjects of every row (default: 10 fast, 0 = all otherwise)")
    p.add_argument("--epochs", type=int, default=None, help="override every method's epochs")
    p.add_argument("--tag", default="", help="name of a report of another dataset: outputs/report/TAG/, "
                                             "blocks NAME@TAG (e.g. --root data/synthetic_motion --tag motion)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads while training missing runs (default 1, as the published runs: on CPU a "
                        "convolutional run repeats bit for bit only at the thread count it was trained with)")
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    readme, image = (Path(args.readme) if args.readme else None), (Path(args.image) if args.image else None)
    if args.headlines:
        if not args.results:
            p.error("--headlines reads the tables of --results; give its path")
        from .headlines import update_front_page

        front = update_front_page(Path(args.results), readme, image)
        print(f"headlines from {args.results}: README {'rewritten' if front['readme'] else 'unchanged'}, "
              f"figure {'rewritten' if front['image'] else 'unchanged'}")
        return 0
    if args.results and not args.tag and not _is_default_data(args.dataset, args.root):
        p.error(f"--dataset {args.dataset} --root {args.root or '(default)'} is not the default synthetic dataset, whose "
                "numbers the results page's blocks hold: give the report a --tag NAME (blocks NAME@TAG), "
                "or --results ''")
    from .train import torch_threads

    with torch_threads(args.threads):
        done = build(args.scope, args.seeds, args.profile, args.dataset, args.root, args.train,
                     Path(args.results) if args.results else None, only=args.only, subjects=args.subjects,
                     epochs=args.epochs, tag=args.tag, readme=readme, image=image)
    missing = int((done["results"]["status"] == "missing").sum())
    print(f"report: {done['page']} ({len(done['results'])} runs, {missing} missing); {args.results or 'no results page'} "
          f"{'rewritten' if done['results_changed'] else 'unchanged'}; README headlines "
          f"{'rewritten' if done['readme_changed'] else 'unchanged'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
