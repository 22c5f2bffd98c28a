"""Re-read generated blocks of ``docs/results.md`` against the papers without their runs.

    python data_scripts/reread_results.py [--results docs/results.md] [--blocks NAME ...]

A block written by ``python -m melib.report`` holds each row's ``mean ± sd`` over seeds and the seed count.
When the paper bookkeeping or the agreement rule changes and the runs behind a block are not on this
machine (they take 10-29 GiB), this script parses each block's table, keeps every measured cell as it
was, and recomputes only the paper columns (:func:`melib.report.row_paper`) and each row's direction
(:func:`melib.report.row_direction`, the one agreement rule on mean, sd and seed count). Rows whose
variant changed meaning since the block was generated (``CHANGED``) are shown as not run. The block
says that it was re-read, by which command, and from which generated table. ``make report`` replaces it
with a block made from runs.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from melib import headlines, report  # noqa: E402

#: Rows of a block whose variant's settings changed after the block was generated: their old numbers
#: are of another model. Micro-AU CLIP's Table III and VI rows now run on the Add+MLP model.
CHANGED = {"ablation-micro_au_clip": {"text_fixed", "meanpool", "maxpool"}}
NOTE = "Paper columns and directions re-read"


def parse_block(body: str) -> tuple[list[str], list[str], pd.DataFrame, list[str]]:
    """``(lines before the table, lines after it, the table as strings indexed by row, header)``."""
    lines = body.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    frame = headlines.table_from_markdown("\n".join(lines[start:end]))
    return lines[:start], lines[end:], frame, ["", *frame.columns]


def stats_of(frame: pd.DataFrame, section: report.Section, cols: list[str]) -> dict[str, dict]:
    """Each section row's ``{column: (mean, sd, n)}`` and ``seeds`` from the parsed table."""
    out: dict[str, dict] = {}
    for row in section.rows:
        if row.name not in frame.index or row.variant in CHANGED.get(section.name, set()):
            out[row.name] = {"seeds": 0}
            continue
        n = int(frame.loc[row.name, "seeds"])
        entry: dict = {"seeds": n}
        for c in cols:
            cell = headlines.value(frame.loc[row.name, c])  # (mean, sd); one seed prints no sd and needs none
            entry[c] = (*cell, n) if cell else (np.nan, np.nan, 0)
        out[row.name] = entry
    return out


def reread(body: str, section: report.Section) -> str:
    """The block's text with its paper columns and directions recomputed."""
    before, after, frame, _ = parse_block(body)
    metrics = list(report.AU_METRICS if section.task == "au" else report.EMOTION_METRICS)
    cols = [c for c in frame.columns if c in metrics or re.fullmatch(r"AU\d+", c)]
    table = report.table_from_stats(stats_of(frame, section, cols), section, cols)
    probes = frame[frame["seeds"] == "probe"]
    for name, r in probes.iterrows():
        table.loc[name] = {c: r[c] for c in cols} | {"seeds": "probe"}
    table = table.fillna("")
    first = [line for line in before if line.strip()][0].split(f" {NOTE}")[0]
    changed = sorted(CHANGED.get(section.name, set()) & set(frame.index))
    first += (f" {NOTE} by `python data_scripts/reread_results.py` from the mean ± sd (rounded to three "
              "digits) and seed counts of that generated table (its runs are not on this machine)" + (
                  f"; {', '.join(changed)} changed meaning since and are shown as not run" if changed else "") + ".")
    kept = [line for line in after if line.strip() and not line.startswith("Direction against")
            and not line.startswith("Each row is read against")]
    text = [first, "", report.markdown(table)]
    agree = report.agreement(table, section)
    if len(agree):
        text += ["", "Each row is read against its `reference` row, ours and the paper's within one table "
                 "(`paper row`); a direction agrees or disagrees only beyond two standard errors of the "
                 "difference of the seed means (`melib.papers.direction`), else it is inconclusive: "
                 + "; ".join(f"{k}: {v}" for k, v in agree.items()) + "."]
    drop = set(CHANGED.get(section.name, set())) | {r for r in frame.index if r not in {x.name for x in section.rows}}
    for line in kept:  # notes on rows that changed meaning or left the section go with them
        text += ["", "; ".join(c for c in line.split("; ") if not any(c.startswith(f"{d}:") or
                                                                       f". {d}:" in c for d in drop))]
    return "\n".join(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--results", default="docs/results.md")
    p.add_argument("--blocks", nargs="+", required=True, help="block names, e.g. ablation-selfme comparison-au@motion")
    args = p.parse_args(argv)
    page = Path(args.results)
    text = page.read_text(encoding="utf-8")
    bodies = {}
    for name in args.blocks:
        section = next(s for s in report.SECTIONS if s.name == name.split("@")[0])
        found = re.search(rf"<!-- report:{re.escape(name)} -->\n(.*?)\n<!-- /report:{re.escape(name)} -->", text, re.S)
        if found is None:
            raise SystemExit(f"{page}: no block {name!r}")
        bodies[name] = reread(found.group(1), section)
    changed = report.rewrite_blocks(page, bodies)
    print(f"{page}: {'rewrote' if changed else 'no change to'} {', '.join(args.blocks)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
