"""README's headline findings and figure, computed from the generated tables of ``docs/results.md``.

:mod:`melib.report` writes each results table between ``<!-- report:NAME -->`` and
``<!-- /report:NAME -->`` in ``docs/results.md`` (``NAME@TAG`` for another dataset, e.g. the motion-only
twin). This module reads those blocks back (:func:`read_tables`), turns them into five or six
one-sentence findings with their numbers (:func:`headlines`) and a comparison figure
(:func:`comparison_figure`), and writes README's ``<!-- report:headlines -->`` block and
``docs/images/comparison.png``. Reading the tables rather than the runs means the headlines always say
what the published tables say, and can be rebuilt without the runs
(``python -m melib.report --headlines``); ``make report`` rebuilds them after it rewrites the tables.
Every sentence is chosen by comparing the numbers, so it changes when they do.
"""
from __future__ import annotations

import io as _io
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .io import write_bytes

BLOCK = re.compile(r"<!-- report:(?P<name>[^\s>]+) -->\n(?P<body>.*?)\n<!-- /report:(?P=name) -->", re.S)
#: Where each finding is measured: section anchors of ``docs/results.md``.
ANCHORS = {"comparison": "all-methods-side-by-side", "twin": "the-motion-only-twin"}
TWIN = "motion"  # the tag of the motion-only twin's report
HEADLINES = "headlines"  # README's block


# --------------------------------------------------------------------------------- reading the blocks
def read_blocks(text: str) -> dict[str, str]:
    """The body of every ``<!-- report:NAME -->`` block of ``text``, by NAME."""
    return {m["name"]: m["body"] for m in BLOCK.finditer(text)}


def table_from_markdown(body: str) -> pd.DataFrame:
    """The first Markdown table of a block, as :func:`melib.report.markdown` wrote it: the first column
    is the index, every cell a string (``0.664 ± 0.006``, ``0.744``, ``not run`` or empty)."""
    lines = [ln for ln in body.splitlines() if ln.startswith("|")]
    start = next((i for i, ln in enumerate(lines) if i + 1 < len(lines) and set(lines[i + 1]) <= set("|-: ")), None)
    if start is None:
        return pd.DataFrame()
    split = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines[start:]]
    header, rows = split[0], [r for r in split[2:] if len(r) == len(split[0])]
    return pd.DataFrame([r[1:] for r in rows], index=[r[0] for r in rows], columns=header[1:])


def read_tables(text: str) -> dict[str, pd.DataFrame]:
    """Every generated table of a results page, by block name."""
    return {name: table_from_markdown(body) for name, body in read_blocks(text).items()}


def value(cell: str) -> tuple[float, float] | None:
    """``"0.664 ± 0.006"`` -> (0.664, 0.006); ``"0.744"`` -> (0.744, 0.0); anything else -> None."""
    m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)(?:\s*±\s*(\d+(?:\.\d+)?))?\s*", str(cell))
    return (float(m[1]), float(m[2] or 0.0)) if m else None


# ------------------------------------------------------------------------------------------ findings
def _cell(tables: Mapping[str, pd.DataFrame], block: str, row: str, col: str) -> str | None:
    table = tables.get(block)
    if table is None or row not in table.index or col not in table.columns:
        return None
    return table.loc[row, col] if value(table.loc[row, col]) else None


def _seeds(tables: Mapping[str, pd.DataFrame], block: str, row: str) -> int:
    """A row's seed count (its ``seeds`` cell; 1 where there is none)."""
    table = tables.get(block)
    try:
        return int(table.loc[row, "seeds"])
    except (AttributeError, KeyError, TypeError, ValueError):
        return 1


def _beyond(a: str, b: str, n_a: int = 3, n_b: int = 3) -> float:
    """``a - b`` when the project's agreement rule finds a difference (beyond two standard errors of the
    difference of the seed means, :func:`melib.papers.direction_stats`), else 0."""
    from .papers import direction_stats

    (ma, sa), (mb, sb) = value(a), value(b)
    rule = direction_stats(ma, sa, n_a, mb, sb, n_b)
    return ma - mb if rule["beyond"] else 0.0


def _pretty(row: str) -> str:
    """``"Micro-AU CLIP, loso"`` -> ``"Micro-AU CLIP (LOSO)"``: a table row's name in a sentence."""
    name, _, protocol = row.rpartition(", ")
    return f"{name} ({ {'kfold': 'k-fold', 'loso': 'LOSO'}[protocol]})" if protocol in ("kfold", "loso") else row


def _link(text: str, anchor: str, results: str) -> str:
    return f"{text} ([measured]({results}#{ANCHORS[anchor]}))"


def _best(table: pd.DataFrame, col: str) -> tuple[str, str] | None:
    rows = [(name, table.loc[name, col]) for name in table.index
            if table.loc[name, "seeds"] != "probe" and value(table.loc[name, col])]
    return max(rows, key=lambda r: value(r[1])[0]) if rows else None


def _probe_finding(tables: Mapping[str, pd.DataFrame], results: str) -> str | None:
    au, emo = tables.get("comparison-au"), tables.get("comparison-emotion")
    if au is None or emo is None or au.empty or emo.empty:
        return None
    beaten = []
    for name in au.index:
        if au.loc[name, "seeds"] == "probe" or not value(au.loc[name, "auc_avg"]):
            continue
        probe = _cell(tables, "comparison-au", f"flow probe, {name.rsplit(', ', 1)[-1]}", "auc_avg")
        if probe and value(au.loc[name, "auc_avg"])[0] > value(probe)[0]:
            beaten.append(name)
    probe_e = _cell(tables, "comparison-emotion", "flow probe, emotion", "uf1")
    beaten += [n for n in emo.index if emo.loc[n, "seeds"] != "probe" and value(emo.loc[n, "uf1"]) and probe_e
               and value(emo.loc[n, "uf1"])[0] > value(probe_e)[0]]
    best_au, best_e = _best(au, "auc_avg"), _best(emo, "uf1")
    if best_au is None or best_e is None or probe_e is None:
        return None
    probe_au = _cell(tables, "comparison-au", f"flow probe, {best_au[0].rsplit(', ', 1)[-1]}", "auc_avg")
    if beaten:
        text = (f"{' and '.join(map(_pretty, beaten))} {'beats' if len(beaten) == 1 else 'beat'} the linear probe on optical flow "
                f"(the flow probe scores pooled ROC-AUC {probe_au} and UF1 {probe_e})")
    else:
        text = (f"No deep method reaches the linear probe on optical flow at the fast profile: the best AU detector, "
                f"{_pretty(best_au[0])}, has pooled ROC-AUC {best_au[1]} against the flow probe's {probe_au}, and the best "
                f"emotion recogniser, {best_e[0]}, UF1 {best_e[1]} against {probe_e}")
    return _link(text, "comparison", results)


def _iicl_baseline_finding(tables: Mapping[str, pd.DataFrame], results: str) -> str | None:
    iicl = _cell(tables, "comparison-au", "IICL, kfold", "f1_avg")
    base = _cell(tables, "comparison-au", "IICL baseline (SENet), kfold", "f1_avg")
    if iicl is None or base is None:
        return None
    n = (_seeds(tables, "comparison-au", "IICL, kfold"), _seeds(tables, "comparison-au", "IICL baseline (SENet), kfold"))
    gap = _beyond(iicl, base, *n)
    verb = ("is not told apart from its SENet baseline" if gap == 0 else
            "beats its SENet baseline" if gap > 0 else "falls below its SENet baseline")
    return _link(f"IICL {verb} at the fast profile (two standard errors of the difference, {n[0]} vs {n[1]} seeds): "
                 f"average F1 {iicl} against {base} under k-fold", "comparison", results)


def _twin_au_finding(tables: Mapping[str, pd.DataFrame], results: str, row: str, reads: str) -> str | None:
    col = "auc_avg"
    default, twin = _cell(tables, "comparison-au", row, col), _cell(tables, f"comparison-au@{TWIN}", row, col)
    if default is None or twin is None:
        return None
    gap = _beyond(twin, default, _seeds(tables, f"comparison-au@{TWIN}", row), _seeds(tables, "comparison-au", row))
    if value(twin)[0] < 0.55:
        what = f"falls to chance on the motion-only twin: pooled ROC-AUC {twin} without appearance changes"
    elif gap < 0:
        what = f"drops on the motion-only twin: pooled ROC-AUC {twin} without appearance changes"
    elif gap > 0:
        what = f"gains on the motion-only twin: pooled ROC-AUC {twin} without appearance changes"
    else:
        what = f"is not told apart on the motion-only twin: pooled ROC-AUC {twin} without appearance changes"
    return _link(f"{_pretty(row)}, which {reads}, {what} against {default} with them", "twin", results)


def _twin_emotion_finding(tables: Mapping[str, pd.DataFrame], results: str, row: str) -> str | None:
    block = "comparison-emotion"
    default, twin = _cell(tables, block, row, "uf1"), _cell(tables, f"{block}@{TWIN}", row, "uf1")
    null = _cell(tables, block, "onset null, emotion", "uf1")
    probe_d, probe_t = (_cell(tables, block, "flow probe, emotion", "uf1"),
                        _cell(tables, f"{block}@{TWIN}", "flow probe, emotion", "uf1"))
    if None in (default, twin, null, probe_d, probe_t):
        return None
    lost = value(default)[0] - value(twin)[0]
    if _beyond(twin, default, _seeds(tables, f"{block}@{TWIN}", row), _seeds(tables, block, row)) >= 0:
        what = "is not told apart without appearance changes"
    elif lost > (value(default)[0] - value(null)[0]) / 2:
        what = "loses most of its emotion score without appearance changes"
    else:
        what = "loses part of its emotion score without appearance changes"
    return _link(f"{row} {what}: UF1 {default} with them and {twin} on the motion-only twin (onset-alone null "
                 f"{null}), while the flow probe scores {probe_d} with them and {probe_t} without", "twin", results)


def _label_free_finding(tables: Mapping[str, pd.DataFrame], results: str) -> str | None:
    block = "comparison-emotion"
    lf = _cell(tables, block, "Micro-AU CLIP label-free (Eq. 13)", "uf1")
    null, probe = _cell(tables, block, "onset null, emotion", "uf1"), _cell(tables, block, "flow probe, emotion", "uf1")
    if None in (lf, null, probe):
        return None
    n = _seeds(tables, block, "Micro-AU CLIP label-free (Eq. 13)")
    above = _beyond(lf, null, n, n) > 0  # the null is one fixed probe (sd 0): the SE is the seeds' alone
    verb = "recognises emotions" if above else "does not recognise emotions above the null"
    facs = _cell(tables, block, "Micro-AU CLIP label-free, FACS prototypes' texts", "uf1")
    independent = (f"; with label texts from the FACS Investigator's Guide's emotion prototypes instead, an "
                   f"independent table, it scores UF1 {facs}" if facs else "")
    return _link(f"Micro-AU CLIP {verb} without ever training on an emotion label: UF1 {lf} on 3 classes, against "
                 f"{null} for the onset-alone null and {probe} for the flow probe trained on the labels; on "
                 "synthetic data this is partly circular, since its label texts follow the AU rules that "
                 f"generated the emotions{independent}",
                 "comparison", results)


def headlines(tables: Mapping[str, pd.DataFrame], results: str = "docs/results.md") -> list[str]:
    """Up to six one-sentence findings, each with its numbers (cells of ``tables`` as printed, mean ± sd
    over seeds) and a link to the section of ``results`` that measures it. A finding whose tables are
    missing is left out; each sentence's verb is chosen from the numbers (e.g. "is not told apart"
    only when the gap is within two standard errors of the difference of the seed means)."""
    found = [_probe_finding(tables, results),
             _iicl_baseline_finding(tables, results),
             _twin_au_finding(tables, results, "IICL, kfold", "classifies the magnified apex frame"),
             _twin_emotion_finding(tables, results, "SelfME (learned motion + SCViT)"),
             _twin_au_finding(tables, results, "Micro-AU CLIP, loso", "reads optical flow"),
             _label_free_finding(tables, results)]
    return [f + "." for f in found if f]


def headline_block(results_text: str, results: str = "docs/results.md") -> str:
    """README's ``headlines`` block: a Markdown list of :func:`headlines` of the tables in ``results_text``."""
    found = headlines(read_tables(results_text), results)
    lines = [f"Generated by `make report` from the tables of [{Path(results).name}]({results}) "
             "(fast profile, synthetic data; mean ± sd over training seeds):", ""]
    return "\n".join(lines + [f"- {f}" for f in found] if found else
                     lines + ["- (no generated tables yet: run `make report`)"])


# -------------------------------------------------------------------------------------------- figure
def comparison_figure(tables: Mapping[str, pd.DataFrame]):
    """Two panels, AU detection (pooled ROC-AUC, both protocols) and 3-class emotion (UF1): each method's
    mean ± sd over seeds on the default synthetic data (solid) and on its motion-only twin (hatched),
    read against the flow probe and the onset-alone null of the same protocol and chance. Built from the
    generated tables, so it shows exactly their numbers."""
    import matplotlib.pyplot as plt

    panels = [("comparison-au", "auc_avg", "AU detection: pooled ROC-AUC"),
              ("comparison-emotion", "uf1", "Emotion, 3 classes: UF1 (pooled, LOSO)")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [6, 5]})
    for ax, (block, col, title) in zip(axes, panels):
        table = tables.get(block, pd.DataFrame())
        twin = tables.get(f"{block}@{TWIN}", pd.DataFrame())
        rows = [n for n in table.index if table.loc[n, "seeds"] != "probe"] if not table.empty else []
        for i, name in enumerate(rows):
            for offset, source, hatch, label in ((-0.2, table, None, "with appearance changes"),
                                                 (0.2, twin, "///", "motion-only twin")):
                got = value(source.loc[name, col]) if name in source.index else None
                if got:
                    ax.bar(i + offset, got[0], width=0.4, yerr=got[1], capsize=3, color="tab:blue",
                           alpha=0.35 if hatch else 0.7, hatch=hatch, edgecolor="tab:blue",
                           label=label if i == 0 else None)
        groups: dict[str, list[int]] = {}
        for i, name in enumerate(rows):
            groups.setdefault("emotion" if block.endswith("emotion") else name.rsplit(", ", 1)[-1], []).append(i)
        for n, (protocol, idx) in enumerate(groups.items()):
            for stick, color, style in (("flow probe", "tab:green", "-"), ("onset null", "tab:red", "--")):
                got = value(table.loc[f"{stick}, {protocol}", col]) if f"{stick}, {protocol}" in table.index else None
                if got:
                    ax.hlines(got[0], min(idx) - 0.45, max(idx) + 0.45, colors=color, linestyles=style,
                              label=f"{stick} (with appearance)" if n == 0 else None)
        if col == "auc_avg":
            ax.axhline(0.5, color="grey", lw=0.8, ls=":", label="chance (AUC 0.5)")
        ax.set_xticks(range(len(rows)), rows, rotation=30, ha="right", fontsize=7)
        ax.set_ylim(0, 1)
        ax.set_ylabel(title.split(": ")[1], fontsize=8)
        ax.set_title(title, fontsize=9)
    handles = {label: h for ax in axes for h, label in zip(*ax.get_legend_handles_labels())}
    fig.legend(handles.values(), handles.keys(), loc="upper center", bbox_to_anchor=(0.5, 0.93), ncol=5, fontsize=8,
               frameon=False)
    fig.suptitle("Every method beside the flow probe and the onset-alone null (mean ± sd over seeds)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    return fig


def _png_bytes(fig) -> bytes:
    buffer = _io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def update_front_page(results_md: Path, readme: Path | None, image: Path | None) -> dict[str, bool]:
    """Rewrite README's ``headlines`` block and the comparison figure from ``results_md``'s tables; each
    file is left byte for byte as it was when nothing changed. Returns which files changed."""
    import matplotlib.pyplot as plt

    from .report import rewrite_blocks

    text = Path(results_md).read_text(encoding="utf-8")
    changed = {"readme": False, "image": False}
    if readme is not None:
        link = _relative(results_md, readme)
        changed["readme"] = rewrite_blocks(Path(readme), {HEADLINES: headline_block(text, link)})
    tables = read_tables(text)
    if image is not None and "comparison-au" in tables:
        fig = comparison_figure(tables)
        data = _png_bytes(fig)
        plt.close(fig)
        if not Path(image).is_file() or Path(image).read_bytes() != data:
            write_bytes(image, data)
            changed["image"] = True
    return changed


def _relative(target: Path, readme: Path) -> str:
    import os

    return Path(os.path.relpath(Path(target).resolve(), Path(readme).resolve().parent)).as_posix()


__all__ = ["ANCHORS", "BLOCK", "comparison_figure", "headline_block", "headlines", "read_blocks", "read_tables",
           "table_from_markdown", "update_front_page", "value"]
