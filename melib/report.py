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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from .fold_store import run_machine
from .io import load_json, save_json
from .methods import SPECS
from .report_page import (
    _png,
    block_name,
    figure,
    report_dir,
    rewrite_blocks,
    write_page,
)
from .report_tables import (  # noqa: F401  (the tables' names are report's too, as before)
    agreement,
    auc_notes,
    by_amplitude,
    markdown,
    row_direction,
    row_paper,
    row_protocol,
    row_reference,
    section_subjects,
    summary,
    table_from_stats,
    verdicts,
)
from .tables import AU_METRICS, EMOTION_METRICS, Row, Section  # noqa: F401  (report.AU_METRICS, as before)
from .yardsticks import compute as yardsticks


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
    from .experiments import runs
    from .progress import tqdm

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
