"""Rehearse every licensed dataset before its licence arrives: layout, reader, front end and one fold of each method.

    python data_scripts/rehearse.py                                      # 4 layouts + MEGC x 4 methods, about a minute
    python data_scripts/rehearse.py --datasets samm --methods iicl selfme --verbose
    python data_scripts/rehearse.py --out /tmp/layouts --keep            # keep (and next time reuse) the layouts

The synthetic dataset is written at a tiny size (``--subjects`` x ``--clips-per-subject`` clips, ``--size``
px faces) in the official layout of CASME II, SAMM (grayscale full frames of ``--frame-size``), SMIC-HS and
CAS(ME)^3 part A (:mod:`melib.data.synthetic.layouts`); the ``megc`` row is the MEGC 2019 composite of the
CASME II, SAMM and SMIC-HS layouts (:mod:`melib.data.composite`; the same synthetic people in all three
parts, which a path check does not mind). For each dataset the rehearsal then runs what a user with the
licence runs: the reader (``melib.data.load_manifest(name, root)``), and for every method that applies
there its fast profile with the tiniest settings (:data:`TINY`: one epoch, small images) through
:mod:`melib.experiments.runs`: the method's front end (its input cache; faces aligned on full-frame
datasets, :func:`melib.preprocess.default_align`, clip by clip on the composite), then one fold, whose
predictions must exist and be finite. On the composite, annotation mimic runs its variant without AUs
(:data:`melib.experiments.composite.VARIANTS`), as SMIC-HS has no AU labels. A cell is ``ok (N s)``,
``error (stage): <last line>`` or ``n/a: <reason>`` (AU methods without AU labels or an AU set). One
failing cell never stops the others.

The table is printed and written to ``<MELIB_OUTPUTS>/rehearsal/rehearsal.md``; the runs and caches go to a
scratch folder under ``--out`` and are removed at the end, as are the layouts unless ``--keep``. Exit
status 1 when any cell is an error.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without `pip install -e`
sys.path.insert(0, str(Path(__file__).resolve().parent))  # make_synthetic's --frame-size parser, when imported
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from melib import config  # noqa: E402
from melib.data import au_set, composite, has_au_labels, load_manifest, synthetic  # noqa: E402
from melib.data.synthetic import layouts  # noqa: E402
from melib.experiments import composite as megc  # noqa: E402
from melib.experiments import runs  # noqa: E402
from melib.io import write_text  # noqa: E402
from melib.methods import NAMES as REGISTRY  # noqa: E402
from melib.preprocess import default_align  # noqa: E402
from melib.viz.tables import markdown_table  # noqa: E402
from make_synthetic import frame_size as parse_frame_size  # noqa: E402

DATASETS = (*layouts.LAYOUTS, composite.NAME)
METHODS = REGISTRY  # every method of melib.methods
NAMES = {"casme2": "CASME II", "samm": "SAMM", "smic": "SMIC-HS", "casme3a": "CAS(ME)^3", "megc": "MEGC composite"}
#: Overrides of each method's fast profile: one epoch on small images, enough to run every step once.
TINY: dict[str, dict[str, int]] = {
    "iicl": dict(epochs=1, batch_size=8, image_size=40, crop_size=32),
    "annotation_mimic": dict(epochs=1, batch_size=8, image_size=32),
    "micro_au_clip": dict(epochs=1, batch_size=8),
    "selfme": dict(epochs=1, batch_size=8),
}
TABLE = Path("rehearsal") / "rehearsal.md"


class RehearsalError(RuntimeError):
    """Something ran but not as a user with the licence needs it (e.g. full frames reach a network whole)."""


class CellFailed(Exception):
    """A cell's ``error`` and the ``stage`` it happened in (``config``, ``front end`` or ``fold``)."""

    def __init__(self, stage: str, error: BaseException):
        super().__init__(f"{stage}: {error}")
        self.stage, self.error = stage, error


# ----------------------------------------------------------------------------- layouts
def layouts_of(datasets: Sequence[str]) -> list[str]:
    """The layouts ``datasets`` need: their own, the composite's three parts for ``megc``."""
    return list(dict.fromkeys(n for d in datasets for n in (composite.PARTS if d == composite.NAME else (d,))))


def write_layouts(out: Path, datasets: Sequence[str], subjects: int, clips: int, size: int,
                  frame_size: tuple[int, int]) -> dict[str, Path | str]:
    """The synthetic dataset in each layout under ``out/<layout>`` (the CASME II one is every other's
    source); complete layouts with the same settings are kept. ``megc``'s root is the composite's roots
    string (:func:`melib.data.composite.format_roots`) over the CASME II, SAMM and SMIC-HS layouts."""
    wanted = dict(subjects=subjects, clips_per_subject=clips, size=size, seed=0)
    source = out / "casme2"
    if not layouts.is_complete(source, "casme2", **wanted):
        shutil.rmtree(source, ignore_errors=True)
        synthetic.generate(source, workers=1, progress=False, **wanted)
    roots: dict[str, Path | str] = {"casme2": source}
    for name in layouts_of(datasets):
        if name == "casme2":
            continue
        roots[name] = out / name
        if not layouts.is_complete(roots[name], name, frame_size, **wanted):
            shutil.rmtree(roots[name], ignore_errors=True)
            layouts.convert(source, roots[name], name, frame_size)
    if composite.NAME in datasets:
        roots[composite.NAME] = composite.format_roots({part: roots[part] for part in composite.PARTS})
    return {name: roots[name] for name in datasets}


# ----------------------------------------------------------------------------- cells
def not_applicable(method: str, dataset: str, manifest: pd.DataFrame) -> str | None:
    """Why ``method`` does not apply to ``dataset`` (``None`` when it does)."""
    has_aus = has_au_labels(manifest)
    if runs.spec(method).task == "au":
        if dataset == composite.NAME:
            return "the MEGC composite's SMIC-HS clips have no AU labels (AU detection)"
        if not has_aus:
            return f"{NAMES[dataset]} has no AU labels (AU detection)"
        try:
            au_set(dataset)
        except ValueError:
            return f"no AU set for {NAMES[dataset]} (the papers detect AUs on CASME II and SAMM)"
    elif runs.spec(method).needs_aus(variant := variant_of(method, dataset)) and not has_aus:
        return f"{NAMES[dataset]} has no AU labels (the {variant} model trains on AUs)"
    return None


def variant_of(method: str, dataset: str) -> str:
    """The variant rehearsed: the method's default, on the composite the one that runs there."""
    if dataset == composite.NAME and method in megc.VARIANTS:
        return megc.VARIANTS[method]
    return runs.spec(method).default_variant


def check_faces(exp: runs.Experiment, dataset: str) -> None:
    """Raise when a full-frame dataset (or the composite, which holds one) would reach the network without its
    faces being found and aligned."""
    align = getattr(exp.config, "align", None)
    if default_align(dataset) != "none" and align in (None, "none"):
        raise RehearsalError(f"{type(exp.config).__name__}.align is {align!r} on {dataset}: its full frames would "
                             f"reach the network whole; the preset should take "
                             f"melib.preprocess.default_align({dataset!r})")


def run_cell(method: str, dataset: str, root: Path | str) -> int:
    """Fold 0 of ``method``'s fast profile (with :data:`TINY`) on ``root``, from a fresh run; returns the number
    of held-out predictions and raises :class:`CellFailed` naming the stage that failed."""
    stage = "config"
    try:
        exp = runs.experiment(method, variant_of(method, dataset), profile="fast", dataset=dataset, root=str(root),
                              subjects=0, **TINY[method])
        check_faces(exp, dataset)
        stage = "front end"
        runs.prepare(exp, workers=1)
        stage = "fold"
        run = runs.run(exp, fold=0, workers=1)
        predictions = run.predictions([0])
        scores = np.asarray(predictions["scores"], dtype=np.float64)
        if not len(scores) or not np.isfinite(scores).all():
            raise RehearsalError(f"fold 0 gave {len(scores)} predictions, not all finite")
    except Exception as exc:
        raise CellFailed(stage, exc) from exc
    return len(scores)


def last_line(exc: BaseException, limit: int = 200) -> str:
    """``Type: last line of the message`` on one line, short enough for a table cell."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {lines[-1]}" if lines else type(exc).__name__
    text = text.replace("|", "/")
    return text if len(text) <= limit else text[:limit - 3] + "..."


@contextlib.contextmanager
def quiet(verbose: bool) -> Iterator[None]:
    """Silence melib's prints and warnings unless ``verbose``."""
    if verbose:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def scratch_roots(work: Path) -> Iterator[None]:
    """Point ``MELIB_OUTPUTS`` and ``MELIB_CACHE`` at ``work`` (runs, caches, learners), then put them back."""
    saved = {k: os.environ.get(k) for k in ("MELIB_OUTPUTS", "MELIB_CACHE")}
    os.environ.update(MELIB_OUTPUTS=str(work / "outputs"), MELIB_CACHE=str(work / "cache"))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def reader_cell(dataset: str, root: Path | str, verbose: bool) -> tuple[str, pd.DataFrame | None, BaseException | None]:
    """``(cell, manifest or None, error or None)`` of the reader on ``root``."""
    try:
        with quiet(verbose):
            manifest = load_manifest(dataset, root)
    except Exception as exc:
        return f"error (reader): {last_line(exc)}", None, exc
    problems = len(manifest.attrs.get("problems", []))
    return (f"ok ({len(manifest)} clips, {manifest['subject'].nunique()} subjects"
            f"{f', {problems} problems' if problems else ''})"), manifest, None


def method_cell(method: str, dataset: str, root: Path | str, manifest: pd.DataFrame | None,
                verbose: bool) -> tuple[str, BaseException | None]:
    """``(cell, error or None)`` of one method on one dataset."""
    if manifest is None:
        return "error (reader): the reader failed", None
    if (reason := not_applicable(method, dataset, manifest)) is not None:
        return f"n/a: {reason}", None
    began = time.perf_counter()
    try:
        with quiet(verbose):
            run_cell(method, dataset, root)
    except CellFailed as failed:
        return f"error ({failed.stage}): {last_line(failed.error)}", failed.error
    return f"ok ({time.perf_counter() - began:.0f} s)", None


def rehearse(roots: dict[str, Path | str], methods: Sequence[str], work: Path, verbose: bool = False) -> pd.DataFrame:
    """The table of cells: one row per dataset, a ``reader`` column, then one column per method; runs and
    caches go to ``work``. Each cell is printed as it finishes (with its traceback if ``verbose``)."""
    table = pd.DataFrame(index=pd.Index(list(roots), name="dataset"), columns=["reader", *methods], dtype=object)
    with scratch_roots(work):
        for dataset, root in roots.items():
            began = time.perf_counter()
            cell, manifest, error = reader_cell(dataset, root, verbose)
            _show(table, dataset, "reader", cell, time.perf_counter() - began, error, verbose)
            for method in methods:
                began = time.perf_counter()
                cell, error = method_cell(method, dataset, root, manifest, verbose)
                _show(table, dataset, method, cell, time.perf_counter() - began, error, verbose)
    return table


def _show(table: pd.DataFrame, dataset: str, column: str, cell: str, seconds: float, error: BaseException | None,
          verbose: bool) -> None:
    table.loc[dataset, column] = cell
    print(f"  {dataset:8s} {column:17s} {cell}" + (f"  [{seconds:.0f} s]" if cell.startswith("error") else ""), flush=True)
    if error is not None and verbose:
        traceback.print_exception(error)


def report(table: pd.DataFrame, setting: str, seconds: float) -> str:
    """The Markdown written to ``rehearsal.md``."""
    return (f"# Rehearsal of the licensed datasets' layouts\n\n{setting}\n\n{markdown_table(table)}\n\n"
            f"Written by `python data_scripts/rehearse.py` in {seconds:.0f} s.\n")


# ----------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the generated layouts (default: a new temporary folder)")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--subjects", type=int, default=4, help="synthetic subjects (default 4; IICL's 4 folds need 4)")
    parser.add_argument("--clips-per-subject", type=int, default=2, help="clips per subject (default 2)")
    parser.add_argument("--size", type=int, default=128, help="face size in px (default 128)")
    parser.add_argument("--frame-size", type=parse_frame_size, default=(640, 360),
                        help="SAMM full-frame WIDTHxHEIGHT (default 640x360; the real one is 2040x1088)")
    parser.add_argument("--keep", action="store_true", help="keep the generated layouts (reused by the next run)")
    parser.add_argument("--verbose", action="store_true", help="melib's own output and each error's traceback")
    args = parser.parse_args(argv)
    if args.subjects < 4:
        parser.error("--subjects must be at least 4 (IICL's subject-independent 4 folds)")

    began = time.perf_counter()
    out = (args.out or Path(tempfile.mkdtemp(prefix="melib-rehearsal-"))).expanduser().resolve()
    existed = out.is_dir() and any(out.iterdir())
    table_path = config.outputs_root() / TABLE
    setting = (f"{args.subjects} synthetic subjects x {args.clips_per_subject} clips, {args.size} px faces, SAMM frames "
               f"{args.frame_size[0]}x{args.frame_size[1]}; each method's fast profile with "
               + "; ".join(f"{m} {', '.join(f'{k}={v}' for k, v in TINY[m].items())}" for m in args.methods)
               + "; fold 0 only")
    print(f"rehearsal: {setting}\nlayouts in {out}")
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    try:
        with quiet(args.verbose):
            roots = write_layouts(out, args.datasets, args.subjects, args.clips_per_subject, args.size, args.frame_size)
        print(f"layouts ready in {time.perf_counter() - began:.0f} s")
        table = rehearse(roots, args.methods, work, args.verbose)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep:
            for name in ("casme2", *layouts_of(args.datasets)):
                shutil.rmtree(out / name, ignore_errors=True)
            if not existed and out.is_dir() and not any(out.iterdir()):
                out.rmdir()
    seconds = time.perf_counter() - began
    print("\n" + markdown_table(table))
    write_text(table_path, report(table, setting, seconds))
    print(f"\n{seconds:.0f} s; table written to {config.display_path(table_path)}"
          + (f"; layouts kept in {out}" if args.keep else ""))
    return 1 if table.map(lambda c: str(c).startswith("error")).to_numpy().any() else 0


if __name__ == "__main__":
    raise SystemExit(main())
