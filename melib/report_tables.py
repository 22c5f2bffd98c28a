"""A report section's tables from the collected runs (:func:`melib.report.collect`).

Each row of a section is tied to the paper's row it reproduces (:func:`row_paper`) and to the row it is
read against (:func:`row_reference`); :func:`summary` and :func:`table_from_stats` write a section's
table (``mean ± sd`` over seeds, the seed count, the paper's number and, for ablations, each row's
direction against its reference by the one agreement rule, :func:`row_direction`); :func:`verdicts` and
:func:`auc_notes` say in words what a main section's rows learned; :func:`by_amplitude` splits a section's
metric by the true motion amplitude; :func:`markdown` writes a table as ``docs/results.md`` holds it
(through :func:`melib.viz.tables.markdown_table`, the one table writer). :mod:`melib.report` re-exports
every name.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .io import load_json
from .papers import direction_stats, paper_comparison, seed_stats
from .tables import AU_METRICS, EMOTION_METRICS, Row, Section
from .viz.tables import markdown_table, mean_sd
from .yardsticks import learned


# --------------------------------------------------------------------------------------------- rows
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
    """A section's table as ``docs/results.md`` holds it (and :func:`melib.headlines.table_from_markdown`
    reads back): the row names under an empty header, every cell as ``str(value)``, no column alignment."""
    return markdown_table(frame, digits=None, align="none", index_header="")


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
