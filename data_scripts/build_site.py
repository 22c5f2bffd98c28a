"""Build the static site (``make site``): executed notebooks, docs pages and the report, under ``outputs/site/``.

Stages the pages into ``<outputs>/site_src/pages/`` laid out like the repository (``index.md`` from
README.md, ``docs/*.md``, ``notebooks/*.ipynb``, ``report.md``), rewrites their relative links so they
work in the site, writes ``<outputs>/site_src/mkdocs.yml`` (which inherits the repository's
``mkdocs.yml``: theme, plugins) with the navigation, and runs ``mkdocs build``.

- Notebooks come from ``<outputs>/notebooks/`` (executed by ``make demo``); a notebook not executed
  there falls back to the clean committed one, and its page says so.
- Widget outputs (which need a live kernel) become one line saying so; widget progress bars are
  dropped; carriage-return progress lines in streams keep their last state.
- A link to another page (``../docs/glossary.md#uf1`` in a notebook, ``notebooks/04_iicl.ipynb`` in
  README) points at that page in the site; a link to another repository file (an image, a source
  file) copies the file into the site; a link to nothing is listed at the end (``--strict`` fails).

Usage::

    .venv/bin/python data_scripts/build_site.py [--outputs outputs] [--strict]

``data_scripts/check_site.py`` then opens the built site in Chromium and checks every page.
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
DOC_PAGES = ("results", "setup", "methods", "datasets", "glossary")  # docs/<name>.md, in this order in the navigation
MAX_COPY_BYTES = 5 * 2**20  # a linked repository file larger than this is not copied into the site
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ("<p class='melib-widget-note'><em>Interactive widget: it runs only in a live kernel. Open this "
               "notebook in JupyterLab (kernel <code>melib</code>) to use it.</em></p>")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# `](target "title")` of inline links and images, `src=`/`href=` of raw HTML, `[ref]: target` definitions
_MD_LINK = re.compile(r"(\]\(\s*<?)([^)\s>]+)(>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\))")
_HTML_LINK = re.compile(r"""(\b(?:src|href)\s*=\s*)(["'])([^"']*)(\2)""")
_REF_DEF = re.compile(r"^( {0,3}\[[^\]]+\]:\s*<?)(\S+?)(>?(?:\s.*)?)$", re.M)
_CODE = re.compile(r"(^ {0,3}(`{3,}|~{3,})[^\n]*\n.*?^ {0,3}\2[^\n]*$|`+[^`\n]*?`+)", re.S | re.M)
SITE_CSS = """/* written by data_scripts/build_site.py */
.md-grid { max-width: 1400px; }
.melib-widget-note { color: var(--md-default-fg-color--light); }
.melib-report img { max-width: 100%; }
.melib-report table.t { font-size: 0.7rem; border-collapse: collapse; display: block; overflow-x: auto; }
.melib-report table.t td, .melib-report table.t th { border: 1px solid var(--md-default-fg-color--lightest); padding: 2px 6px; }
"""
_PROGRESS = re.compile(r"\d+%\||FloatProgress|IntProgress|HBox\(children=\(HTML\(value=''\)")


# ---------------------------------------------------------------------------------------------------
# Pure logic (tests/test_site.py)

def stage_path(repo_path: str, outputs: str = "outputs") -> str:
    """Where a repository file lives in the staged site (both POSIX paths relative to their roots).

    Parameters
    ----------
    repo_path : str
        Normalised path relative to the repository root, e.g. ``"README.md"``.
    outputs : str
        The outputs folder relative to the repository root (``make``'s ``OUTPUTS``).

    Returns
    -------
    str
        ``index.md`` for README.md, ``report.md`` for the report page, ``notebooks/NN.ipynb`` for an
        executed notebook, else the same path.
    """
    outputs = posixpath.normpath(outputs)
    if repo_path == "README.md":
        return "index.md"
    if repo_path in (f"{outputs}/report/index.html", f"{outputs}/report"):
        return "report.md"
    if repo_path.startswith(f"{outputs}/notebooks/") and repo_path.endswith(".ipynb"):
        return "notebooks/" + posixpath.basename(repo_path)
    return repo_path


def page_url(staged: str) -> str:
    """The built page of a staged page file (``use_directory_urls: false``): ``x.md``/``x.ipynb`` -> ``x.html``."""
    stem, ext = posixpath.splitext(staged)
    return stem + ".html" if ext in (".md", ".ipynb") else staged


@dataclass
class Rewrite:
    """What became of one link: its new text, the repository file to copy (if any), or a problem."""

    target: str
    copy: str | None = None
    problem: str | None = None


@dataclass
class LinkResolver:
    """Rewrites the relative links of one staged page.

    Parameters
    ----------
    source : str
        The page's repository path (``notebooks/04_iicl.ipynb``, ``docs/results.md``, ``README.md``).
    pages : set of str
        Staged paths of every page in the site.
    exists : callable
        ``exists(repo_path) -> bool``: whether a repository path is a file.
    to_html : bool
        True for a notebook (nbconvert's HTML is not seen by MkDocs, so links go straight to ``.html``);
        False for a Markdown page (MkDocs turns ``.md``/``.ipynb`` links into pages and checks them).
    outputs : str
        The outputs folder relative to the repository root.
    """

    source: str
    pages: set[str]
    exists: object
    to_html: bool = False
    outputs: str = "outputs"
    copies: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def resolve(self, target: str) -> Rewrite:
        """The rewritten form of one link target (external links and pure anchors are kept)."""
        if not target or target.startswith(("#", "/")) or _SCHEME.match(target):
            return Rewrite(target)
        path, sep, fragment = target.partition("#")
        path = path.split("?", 1)[0]
        repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(self.source), unquote(path)))
        if repo_path == ".." or repo_path.startswith("../"):
            return Rewrite(target, problem=f"{target}: outside the repository")
        staged = stage_path(repo_path, self.outputs)
        here = posixpath.dirname(stage_path(self.source, self.outputs)) or "."
        if staged in self.pages:
            dest, copy_from = (page_url(staged) if self.to_html else staged), None
        elif self.exists(repo_path):
            dest, copy_from = staged, repo_path
        else:
            return Rewrite(target, problem=f"{target}: no such page or file ({repo_path})")
        rel = posixpath.relpath(dest, here)
        return Rewrite(rel + (sep + fragment if sep else ""), copy=copy_from)

    def _apply(self, target: str) -> str:
        r = self.resolve(target)
        if r.problem:
            self.problems.append(f"{self.source}: {r.problem}")
        if r.copy:
            self.copies.add(r.copy)
        return r.target

    def rewrite(self, text: str) -> str:
        """Rewrite every Markdown and HTML link in ``text``, leaving code spans and fenced code alone."""
        out, last = [], 0
        for m in _CODE.finditer(text):
            out += [self._rewrite_prose(text[last:m.start()]), m.group(0)]
            last = m.end()
        out.append(self._rewrite_prose(text[last:]))
        return "".join(out)

    def _rewrite_prose(self, text: str) -> str:
        text = _MD_LINK.sub(lambda m: m.group(1) + self._apply(m.group(2)) + m.group(3), text)
        text = _HTML_LINK.sub(lambda m: m.group(1) + m.group(2) + self._apply(m.group(3)) + m.group(4), text)
        return _REF_DEF.sub(lambda m: m.group(1) + self._apply(m.group(2)) + m.group(3), text)


def slugify(text: str) -> str:
    """The id nbconvert (via mkdocs-jupyter) and Python-Markdown's toc give a heading's text."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def github_slug(text: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, each space a hyphen."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _heading_text(md: str, keep_code: bool) -> str:
    text = re.sub(r"(`+)(.*?)\1", (lambda m: m.group(2)) if keep_code else "", md)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"(\*{1,3})(\S.*?)\1", r"\2", text)


def heading_anchors(source: str) -> str:
    """Give each Markdown heading of a notebook cell the ids other renderers link it by.

    The page's heading id keeps inline code (``the-papers-ablations-scope-all``); MkDocs' table of
    contents drops it (``the-papers-ablations``) and GitHub keeps every hyphen
    (``the-papers-ablations-scope--all``). Each id that differs is added as an empty ``<a id>`` inside
    the heading, so the sidebar and a notebook's own ``#...`` links land on it.
    """
    out, fence = [], None
    for line in source.split("\n"):
        m = re.match(r"^ {0,3}(`{3,}|~{3,})", line)
        if m and (fence is None or m.group(1)[0] == fence[0]):
            fence = None if fence else m.group(1)
        h = None if fence or m else re.match(r"^( {0,3}#{1,6}[ \t]+)(.*?)([ \t]+#+)?[ \t]*$", line)
        if h and h.group(2):
            page_id = slugify(_heading_text(h.group(2), True))
            extra = [i for i in dict.fromkeys((slugify(_heading_text(h.group(2), False)),
                                               github_slug(_heading_text(h.group(2), True))))
                     if i and i != page_id]
            line = h.group(1) + "".join(f'<a id="{i}"></a>' for i in extra) + h.group(2) + (h.group(3) or "")
        out.append(line)
    return "\n".join(out)


def collapse_carriage_returns(text: str) -> str:
    r"""Keep what a terminal would show: of each line, the part after its last ``\r`` (progress bars)."""
    lines = []
    for line in text.split("\n"):
        parts = [p for p in line.split("\r") if p.strip()]
        lines.append(parts[-1] if parts else line.replace("\r", ""))
    return "\n".join(lines)


def merge_streams(outputs: list[dict]) -> list[dict]:
    """Join consecutive stream outputs of one name (a progress bar's updates arrive as separate chunks)."""
    merged: list[dict] = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (out.get("output_type") == "stream" and prev is not None and prev.get("output_type") == "stream"
                and prev.get("name") == out.get("name")):
            merged[-1] = {**prev, "text": "".join(prev["text"]) + "".join(out.get("text", ""))}
        else:
            merged.append(out)
    return merged


def clean_outputs(nb: dict, root: str | None = None) -> tuple[dict, dict[str, int]]:
    """A copy of a notebook fit for a static page, and counts of what changed.

    Widget views (``VBox(...)`` text without a kernel) become one line saying the widget needs a live
    kernel, widget progress bars are dropped, consecutive chunks of one stream are joined and their
    carriage-return progress keeps its last state,
    saved widget state is removed from the metadata, and ``root/`` (the checkout's absolute path) is
    cut from text outputs so paths read relative to the repository.
    """
    nb = copy.deepcopy(nb)
    counts = {"widgets": 0, "progress_bars": 0, "streams": 0, "machine_paths": 0}
    prefix = root.rstrip("/") + "/" if root else None

    def strip_root(text):
        if not prefix:
            return text
        joined = "".join(text)
        if prefix not in joined:
            return text
        counts["machine_paths"] += joined.count(prefix)
        return joined.replace(prefix, "")

    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for out in merge_streams(cell.get("outputs", [])):
            data = out.get("data", {})
            if WIDGET_MIME in data:
                plain = "".join(data.get("text/plain", ""))
                rest = {k: v for k, v in data.items() if k not in (WIDGET_MIME, "text/plain")}
                if _PROGRESS.search(plain) and not rest:
                    counts["progress_bars"] += 1
                    continue
                counts["widgets"] += 1
                out = {**out, "data": rest or {"text/html": WIDGET_NOTE}}
            elif out.get("output_type") == "stream":
                text = "".join(out.get("text", ""))
                if "\r" in text:
                    counts["streams"] += 1
                    text = collapse_carriage_returns(text)
                text = strip_root(text)
                if text != "".join(out.get("text", "")):
                    out = {**out, "text": text}
            if "text/plain" in out.get("data", {}):
                out = {**out, "data": {**out["data"], "text/plain": strip_root(out["data"]["text/plain"])}}
            kept.append(out)
        cell["outputs"] = kept
    return nb, counts


def insert_note(nb: dict, note: str) -> None:
    """Put ``note`` (Markdown) right under the notebook's title, or first when it has none."""
    first = nb["cells"][0] if nb.get("cells") else None
    if first and first["cell_type"] == "markdown":
        lines = "".join(first["source"]).split("\n")
        if lines and lines[0].startswith("# "):
            first["source"] = "\n".join([lines[0], "", note, ""] + lines[1:])
            return
    nb.setdefault("cells", []).insert(0, _note_cell(note))


def notebook_title(nb: dict, fallback: str) -> str:
    """The navigation title: the first ``# `` heading up to a colon (``01 · Data exploration``)."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("# "):
                    return re.sub(r"<[^>]+>", "", line[2:]).split(":")[0].strip()
    return fallback


def report_body(html_text: str) -> str:
    """The body of the report page (``melib.report.write_page``), without its own ``<style>``."""
    m = re.search(r"<body[^>]*>(.*)</body>", html_text, re.S | re.I)
    body = m.group(1) if m else html_text
    return re.sub(r"<style.*?</style>", "", body, flags=re.S | re.I).strip()


# ---------------------------------------------------------------------------------------------------
# Build

def _note_cell(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def _run_note(nb: dict, executed: Path) -> str:
    pm = nb.get("metadata", {}).get("papermill", {})
    when, took = pm.get("end_time"), pm.get("duration")
    params = pm.get("parameters") or {}
    bits = [f"Rendered from `{executed.relative_to(ROOT) if executed.is_relative_to(ROOT) else executed}`"]
    if when:
        bits.append(f"executed by papermill on {when[:10]}")
    if took is not None:
        bits.append(f"in {took / 60:.1f} min")
    line = ", ".join(bits)
    if params:
        line += "; parameters: " + ", ".join(f"`{k}={v!r}`" for k, v in params.items())
    return f"> {line}. The code cells ran as shown; re-run it yourself in JupyterLab (kernel `melib`)."


def stage(outputs: Path, stage_dir: Path) -> tuple[list, list[str], list[str], dict[str, Path]]:
    """Stage every page under ``stage_dir/pages``.

    Returns the navigation, notes, link problems and each notebook's source (executed or clean).
    """
    out_rel = posixpath.normpath(os.path.relpath(outputs, ROOT)).replace(os.sep, "/")
    pages_dir = stage_dir / "pages"
    if pages_dir.exists():
        shutil.rmtree(pages_dir)
    pages_dir.mkdir(parents=True)
    notes: list[str] = []
    (pages_dir / "assets").mkdir()
    (pages_dir / "assets" / "site.css").write_text(SITE_CSS, encoding="utf-8")

    clean_nbs = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    docs = [d for d in DOC_PAGES if (ROOT / "docs" / f"{d}.md").is_file()]
    docs += sorted(p.stem for p in (ROOT / "docs").glob("*.md") if p.stem not in DOC_PAGES)
    pages = {"index.md", "report.md"} | {f"docs/{d}.md" for d in docs} | {f"notebooks/{p.name}" for p in clean_nbs}

    def exists(repo_path: str) -> bool:
        return (ROOT / repo_path).is_file()

    copies: set[str] = set()
    problems: list[str] = []

    def write_md(source: str, text: str) -> None:
        resolver = LinkResolver(source, pages, exists, to_html=False, outputs=out_rel)
        dest = pages_dir / stage_path(source, out_rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(resolver.rewrite(text), encoding="utf-8")
        copies.update(resolver.copies)
        problems.extend(resolver.problems)

    write_md("README.md", (ROOT / "README.md").read_text(encoding="utf-8"))
    for d in docs:
        write_md(f"docs/{d}.md", (ROOT / "docs" / f"{d}.md").read_text(encoding="utf-8"))

    report = outputs / "report" / "index.html"
    if report.is_file():
        body = report_body(report.read_text(encoding="utf-8"))
        (pages_dir / "report").mkdir()
        shutil.copy(report, pages_dir / "report" / "index.html")  # the standalone page too
        text = (f"<div class=\"melib-report\" markdown=\"0\">\n{body}\n</div>\n\n"
                "The same report as one standalone page: [report/index.html](report/index.html).\n")
        (pages_dir / "report.md").write_text(text, encoding="utf-8")
    else:
        (pages_dir / "report.md").write_text(
            "# Report\n\nNo report yet: `make report` writes it (every comparison and ablation table and figure "
            "from the runs' results files), then `make site` puts it here. The tables also land in "
            "[Results](docs/results.md).\n" if "docs/results.md" in pages else
            "# Report\n\nNo report yet: `make report` writes it, then `make site` puts it here.\n", encoding="utf-8")
        notes.append(f"no report page ({report.relative_to(ROOT) if report.is_relative_to(ROOT) else report}): "
                     "a placeholder says how to make it")

    nb_nav, sources = [], {}
    (pages_dir / "notebooks").mkdir(exist_ok=True)
    for clean in clean_nbs:
        executed = outputs / "notebooks" / clean.name
        sources[clean.name] = executed if executed.is_file() else clean
        if executed.is_file():
            nb = json.loads(executed.read_text(encoding="utf-8"))
            nb, counts = clean_outputs(nb, root=str(ROOT))
            note = _run_note(nb, executed)
            if clean.stat().st_mtime > executed.stat().st_mtime:
                notes.append(f"{clean.name}: the committed notebook changed after this executed copy was made")
            changed = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items() if v)
            if changed:
                notes.append(f"{clean.name}: cleaned {changed}")
        else:
            nb = json.loads(clean.read_text(encoding="utf-8"))
            note = ("> **Not executed here:** this page shows the committed notebook without outputs "
                    f"(no `{executed.relative_to(ROOT) if executed.is_relative_to(ROOT) else executed}`). "
                    "`make demo` executes every notebook; `make site` then shows their outputs.")
            notes.append(f"{clean.name}: no executed copy, showing the clean committed notebook")
        resolver = LinkResolver(f"notebooks/{clean.name}", pages, exists, to_html=True, outputs=out_rel)
        for cell in nb["cells"]:
            if cell["cell_type"] == "markdown":
                cell["source"] = heading_anchors(resolver.rewrite("".join(cell["source"])))
        insert_note(nb, note)
        copies.update(resolver.copies)
        problems.extend(resolver.problems)
        (pages_dir / "notebooks" / clean.name).write_text(json.dumps(nb), encoding="utf-8")
        nb_nav.append({notebook_title(nb, clean.stem): f"notebooks/{clean.name}"})

    for repo_path in sorted(copies):
        src = ROOT / repo_path
        dest = pages_dir / stage_path(repo_path, out_rel)
        if src.stat().st_size > MAX_COPY_BYTES:
            problems.append(f"{repo_path}: linked but larger than {MAX_COPY_BYTES >> 20} MiB, not copied")
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dest)

    nav = [{"Home": "index.md"}, {"Notebooks": nb_nav}]
    titles = {"results": "Results", "setup": "Setup", "datasets": "Datasets", "glossary": "Glossary"}
    if docs:
        nav.append({"Docs": [{titles.get(d, d.replace("_", " ").capitalize()): f"docs/{d}.md"} for d in docs]})
    nav.append({"Report": "report.md"})
    return nav, notes, problems, sources


def write_config(stage_dir: Path, site_dir: Path, nav: list) -> Path:
    """``stage_dir/mkdocs.yml``: the repository's ``mkdocs.yml`` plus folders and navigation (JSON is YAML)."""
    cfg = stage_dir / "mkdocs.yml"
    settings = {"docs_dir": str(stage_dir / "pages"), "site_dir": str(site_dir), "nav": nav}
    lines = [f"INHERIT: {json.dumps(str(ROOT / 'mkdocs.yml'))}"]
    lines += [f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in settings.items()]
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return cfg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outputs", default=os.environ.get("MELIB_OUTPUTS") or "outputs",
                        help="the outputs folder (make's OUTPUTS): notebooks/ and report/ are read there")
    parser.add_argument("--strict", action="store_true", help="fail on a link to nothing (and on MkDocs warnings)")
    args = parser.parse_args(argv)
    outputs = (ROOT / args.outputs).resolve()
    stage_dir, site_dir = outputs / "site_src", outputs / "site"
    t0 = time.time()
    nav, notes, problems, sources = stage(outputs, stage_dir)
    cfg = write_config(stage_dir, site_dir, nav)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "NO_MKDOCS_2_WARNING": "1"}
    cmd = [sys.executable, "-m", "mkdocs", "build", "--clean", "-f", str(cfg)] + (["--strict"] if args.strict else [])
    proc = subprocess.Popen(cmd, cwd=stage_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:  # MkDocs' warnings and errors; not its line per notebook converted or copied
        if not re.match(r"INFO\s+-\s+(Converting notebook|Copied jupyter file|Cleaning site|Building documentation)", line):
            print(line, end="")
    rc = proc.wait()
    for n in notes:
        print(f"[site] note: {n}")
    for p in problems:
        print(f"[site] broken link: {p}")
    if rc:
        print(f"[site] mkdocs build failed (exit {rc})", file=sys.stderr)
        return rc
    for name, src in sources.items():  # the download button gives the notebook itself, not the staged copy
        shutil.copy(src, site_dir / "notebooks" / name)
    n_pages = len(list(site_dir.rglob("*.html")))
    print(f"[site] {n_pages} HTML pages in {site_dir.relative_to(ROOT) if site_dir.is_relative_to(ROOT) else site_dir} "
          f"({time.time() - t0:.0f} s); open {site_dir / 'index.html'} or check it: "
          f".venv/bin/python data_scripts/check_site.py")
    return 1 if (args.strict and problems) else 0


if __name__ == "__main__":
    sys.exit(main())
