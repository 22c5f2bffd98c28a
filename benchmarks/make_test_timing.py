"""Where a fresh-clone ``make test`` spends its time and disk: per run, per stage and per notebook, from the
files a timed run leaves (docs/setup.md, "Time" and "Disk"; README's notebook times).

A timed run, on a fresh clone with nothing else running (``RUN`` names its files)::

    git clone <repo> /tmp/RUN/main && ln -s <shared> /tmp/RUN/shared && cd /tmp/RUN/main
    (while true; do echo "$SECONDS $(du -sm . | cut -f1) $(du -sm /tmp/pytest-of-$USER | cut -f1) \\
       $(du -sm outputs/runs | cut -f1)"; sleep 20; done) > /tmp/RUN_disk.log &
    PYTEST_ADDOPTS=--junitxml=/tmp/RUN_junit.xml make test > /tmp/RUN_test.log 2>&1; echo "rc=$? elapsed=$SECONDS" >> /tmp/RUN_test.log

(the second pytest call, nbval over the notebooks, writes the JUnit file last). Then::

    python benchmarks/make_test_timing.py /tmp/RUN1 /tmp/RUN2 --write

prints the tables and, with ``--write``, puts them between the ``<!-- timing -->`` markers of docs/setup.md
and into the time column of README's notebook table (the mean of the runs).
"""
from __future__ import annotations

import argparse
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = ("<!-- timing -->", "<!-- /timing -->")


def mmss(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def notebook_seconds(junit: Path) -> dict[str, float]:
    """Per notebook (``"04"``), the sum of its nbval cells' times."""
    out: dict[str, float] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        m = re.match(r"notebooks\.(\d\d)_", case.get("classname", ""))
        if m:
            out[m.group(1)] = out.get(m.group(1), 0.0) + float(case.get("time", 0))
    if not out:
        raise SystemExit(f"{junit}: no nbval cells of notebooks/NN_*.ipynb (is it the notebooks' JUnit file?)")
    return out


def slowest_cells(junit: Path, n: int = 5) -> list[tuple[str, str, float]]:
    cases = [(c.get("classname", "").removeprefix("notebooks."), c.get("name", ""), float(c.get("time", 0)))
             for c in ET.parse(junit).getroot().iter("testcase")]
    return sorted(cases, key=lambda c: -c[2])[:n]


def log_facts(log: Path) -> dict[str, float | int | str]:
    """Total seconds and exit code, and each pytest call's count and seconds, from a ``make test`` log."""
    text = log.read_text(errors="replace")
    end = re.search(r"rc=(\d+) elapsed=(\d+)", text)
    if end is None:
        raise SystemExit(f"{log}: no 'rc=... elapsed=...' line (the run did not finish)")
    calls = re.findall(r"=+ (?:.*?(\d+) passed.*?) in ([\d.]+)s", text)
    if len(calls) != 2:
        raise SystemExit(f"{log}: expected the summaries of two pytest calls (unit tests, nbval), found {len(calls)}")
    (unit_n, unit_s), (nb_n, nb_s) = ((int(a), float(b)) for a, b in calls)
    return {"rc": int(end.group(1)), "total": int(end.group(2)), "unit_n": unit_n, "unit_s": unit_s,
            "nb_n": nb_n, "nb_s": nb_s, "install": int(end.group(2)) - unit_s - nb_s}


def disk_facts(log: Path) -> dict[str, float]:
    """Peak GiB of the clone, of pytest's temporary folder and of outputs/runs (``du`` samples)."""
    rows = [[float(x) for x in line.split()] + [0.0] * (4 - len(line.split()))  # a folder not made yet: 0
            for line in log.read_text().splitlines() if 2 <= len(line.split()) <= 4]
    if not rows:
        raise SystemExit(f"{log}: no 'seconds clone_MB pytest_MB runs_MB' samples")
    gib = lambda col: max(r[col] for r in rows) / 1024  # noqa: E731
    return {"clone": gib(1), "pytest_tmp": gib(2), "runs": gib(3),
            "clone_plus_tmp": max(r[1] + r[2] for r in rows) / 1024}


def tables(runs: list[Path]) -> str:
    names = [r.name for r in runs]
    facts = [log_facts(Path(f"{r}_test.log")) for r in runs]
    disks = [disk_facts(Path(f"{r}_disk.log")) for r in runs]
    per_nb = [notebook_seconds(Path(f"{r}_junit.xml")) for r in runs]
    out = ["| stage | " + " | ".join(names) + " |", "|---|" + "---:|" * len(runs)]
    out.append("| `make test` in all (exit code) | " + " | ".join(f"{mmss(f['total'])} ({f['rc']})" for f in facts) + " |")
    out.append("| install of `.venv` (pip's download cache warm) | " + " | ".join(mmss(f["install"]) for f in facts) + " |")
    out.append("| unit tests | " + " | ".join(f"{mmss(f['unit_s'])} ({f['unit_n']})" for f in facts) + " |")
    out.append("| nbval over the notebooks (cells) | " + " | ".join(f"{mmss(f['nb_s'])} ({f['nb_n']})" for f in facts) + " |")
    out += ["", "Per notebook, the sum of its nbval cells (minutes:seconds):", "",
            "| notebook | " + " | ".join(names) + " |", "|---|" + "---:|" * len(runs)]
    for nb in sorted(per_nb[0]):
        out.append(f"| {nb} | " + " | ".join(mmss(p.get(nb, 0.0)) for p in per_nb) + " |")
    out += ["", "Disk, the largest `du` sample of each (GiB):", "",
            "| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(runs)]
    for key, label in (("clone", "the clone (`.venv`, datasets, caches, outputs)"), ("runs", "`outputs/runs`"),
                       ("pytest_tmp", "pytest's temporary folder"), ("clone_plus_tmp", "clone + temporary folder")):
        out.append(f"| {label} | " + " | ".join(f"{d[key]:.1f}" for d in disks) + " |")
    out += ["", "The slowest cells of the first run (where the time goes):", "", "| notebook | cell | seconds |",
            "|---|---|---:|"]
    out += [f"| {nb} | {cell} | {t:.0f} |" for nb, cell, t in slowest_cells(Path(f"{runs[0]}_junit.xml"))]
    return "\n".join(out)


def write(runs: list[Path], text: str) -> None:
    setup = ROOT / "docs" / "setup.md"
    doc = setup.read_text()
    if MARK[0] not in doc or MARK[1] not in doc:
        raise SystemExit(f"{setup}: the markers {MARK} are missing")
    head, rest = doc.split(MARK[0], 1)
    _, tail = rest.split(MARK[1], 1)
    setup.write_text(f"{head}{MARK[0]}\n{text}\n{MARK[1]}{tail}")
    per_nb = [notebook_seconds(Path(f"{r}_junit.xml")) for r in runs]
    readme = ROOT / "README.md"
    lines = readme.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines):
        m = re.match(r"\| \[(\d\d) [^|]*\|.*\| ([0-9]+:[0-9]{2}) \|\n?$", line)
        if m and m.group(1) in per_nb[0]:
            mean = sum(p[m.group(1)] for p in per_nb) / len(per_nb)
            lines[i] = line[:m.start(2)] + mmss(mean) + line[m.end(2):]
    readme.write_text("".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run prefixes: <prefix>_test.log, _disk.log, _junit.xml")
    parser.add_argument("--write", action="store_true", help="update docs/setup.md's block and README's times")
    args = parser.parse_args(argv)
    text = tables(args.runs)
    print(text)
    if args.write:
        write(args.runs, text)
        print(f"wrote {ROOT / 'docs' / 'setup.md'} (timing block) and README.md (notebook times)", file=sys.stderr)


if __name__ == "__main__":
    main()
