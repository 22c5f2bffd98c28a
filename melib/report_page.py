"""What the report writes: each section's figure, the self-contained HTML page, and the marked blocks of
``docs/results.md`` (:mod:`melib.report` computes what goes in them)."""
from __future__ import annotations

import base64
import html
import io as _io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__, config
from .io import write_text
from .tables import AU_METRICS, EMOTION_METRICS, Section


def figure(results: pd.DataFrame, section: Section, sticks: Mapping[str, Mapping[str, float]] | None = None):
    """Bar chart of the section's first metric per row: mean with one sd over seeds (dots: seeds), read
    against the yardsticks of the same protocol (``sticks`` from :func:`yardsticks`: the flow probe, the
    onset-alone null) and chance (AUC 0.5), each drawn over the bars it applies to."""
    import matplotlib.pyplot as plt

    metric = AU_METRICS[1] if section.task == "au" else EMOTION_METRICS[0]
    part = results[(results["section"] == section.name) & (results["status"] == "done")]
    part = part if metric in part else part.assign(**{metric: np.nan})  # nothing trained yet
    names = [r.name for r in section.rows]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.75 * len(names) + 2.5), 3.4))
    where: dict[str, list[int]] = {}
    for i, row in enumerate(section.rows):
        where.setdefault("emotion" if section.task == "emotion" else (row.protocol or "loso"), []).append(i)
        values = part[part["row"] == row.name][metric].dropna().astype(float)
        if values.empty:
            ax.text(i, 0.02, "not run", rotation=90, ha="center", va="bottom", fontsize=7, color="grey")
            continue
        ax.bar(i, values.mean(), yerr=values.std() if len(values) > 1 else 0, color="tab:blue", alpha=0.6,
               capsize=3, label="mean ± sd over seeds" if i == 0 else None)
        ax.plot(np.full(len(values), i), values, "k.", ms=3, label="one seed" if i == 0 else None)
    styles = (("flow probe", "tab:green", "-"), ("onset null", "tab:red", "--"))
    for protocol, idx in where.items():
        for label, color, style in styles:
            key = f"{label}, {protocol}"
            if sticks and key in sticks and metric in sticks[key]:
                ax.hlines(sticks[key][metric], min(idx) - 0.45, max(idx) + 0.45, colors=color, linestyles=style,
                          label=label if protocol == next(iter(where)) else None)
    if metric == "auc_avg":
        ax.axhline(0.5, color="grey", lw=0.8, ls=":", label="chance (AUC 0.5)")
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=7)
    ax.set_ylabel({"auc_avg": "average AU ROC-AUC (pooled)", "uf1": "UF1 (3 classes, pooled)"}[metric], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title(section.title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def _png(fig) -> str:
    buffer = _io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def report_dir(tag: str = "") -> Path:
    """``<outputs>/report``, or ``<outputs>/report/<tag>`` for a tagged report (another dataset, e.g.
    ``tag="motion"`` for the motion-only twin), so that two reports never overwrite each other."""
    if tag and not re.fullmatch(r"[A-Za-z0-9_.-]+", tag):
        raise ValueError(f"tag must be letters, digits, '_', '.' or '-'; got {tag!r}")
    return config.outputs_root() / "report" / tag if tag else config.outputs_root() / "report"


def block_name(section: Section, tag: str = "") -> str:
    """Marker name of a section's block in ``docs/results.md``: ``comparison-au``, or ``comparison-au@motion`` in a
    tagged report, so that each dataset has blocks of its own."""
    return f"{section.name}@{tag}" if tag else section.name


def rewrite_blocks(page: Path, blocks: Mapping[str, str]) -> bool:
    """Replace each ``<!-- report:NAME -->...<!-- /report:NAME -->`` block of the Markdown file ``page``
    (``docs/results.md``, README) whose NAME is in ``blocks``; returns whether the file changed (it is not
    written when nothing did). A NAME with no block in ``page`` is left out, not appended."""
    text = page.read_text(encoding="utf-8")
    new = text
    for name, body in blocks.items():
        pattern = re.compile(rf"(<!-- report:{re.escape(name)} -->\n).*?(\n<!-- /report:{re.escape(name)} -->)", re.S)
        new = pattern.sub(lambda m: m.group(1) + body + m.group(2), new)
    if new != text:
        write_text(page, new)
    return new != text


def write_page(results: pd.DataFrame, tables: Mapping[str, pd.DataFrame], figures: Mapping[str, str],
               out: Path, profile: str, seeds: Sequence[int], dataset: str = "synthetic",
               sections: Sequence[Section] = ()) -> Path:
    """``out/index.html``: one self-contained page (figures inlined as PNG), ``sections`` in their order."""
    from .train import machine_info

    parts = [f"<h1>melib report</h1><p>melib {html.escape(__version__)}, dataset <b>{html.escape(dataset)}</b>, "
             f"profile <b>{html.escape(profile)}</b>, seeds "
             f"{', '.join(map(str, seeds))}. Report made on: {html.escape(str(machine_info()))}.</p>",
             "<p>Synthetic data (melib's generator); the paper columns are the published numbers on real data.</p>"]
    for s in sections:
        if s.name not in tables:
            continue
        parts.append(f"<h2 id='{s.name}'>{html.escape(s.title)}</h2>")
        if s.name in figures:
            parts.append(f"<img alt='{s.name}' src='data:image/png;base64,{figures[s.name]}'>")
        parts.append(tables[s.name].to_html(classes="t", escape=True))
    runs_table = results[["section", "row", "seed", "protocol", "status", "run_key", "machine"]]
    parts += ["<h2>Runs (settings hash = run key)</h2>", runs_table.to_html(index=False, classes="t")]
    style = ("<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table.t{border-collapse:collapse;"
             "font-size:12px}table.t td,table.t th{border:1px solid #ccc;padding:2px 6px}</style>")
    page = out / "index.html"
    write_text(page, f"<!doctype html><html><head><meta charset='utf-8'><title>melib report</title>{style}</head>"
                     f"<body>{''.join(parts)}</body></html>\n")
    return page


__all__ = ["block_name", "figure", "report_dir", "rewrite_blocks", "write_page"]
