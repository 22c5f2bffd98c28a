"""Fan the folds of a method's runs out as jobs (one per fold and seed) with submitit, then gather them.

    python data_scripts/run_folds.py --method iicl --variants senet iicl --seeds 0 1 2 --executor local
    python data_scripts/run_folds.py --method selfme --reference --seeds 0 1 2 --executor local --parallel 2
    python data_scripts/run_folds.py --method micro_au_clip --profile full --dataset casme2 --root /data/CASME2 \\
        --executor slurm --partition gpu --gpus 1 --time 240 --mem 32 --cpus 8 --seeds 0 1 2
    python data_scripts/run_folds.py --method iicl --set epochs=2 image_size=40    # any config/schedule field

Every job is one fold of a load-or-train run (``melib.experiments.runs``): it writes that fold's folder
of the run on disk and nothing else, so a killed or failed job is simply submitted again by rerunning
the same command, which skips the folds that are done. The shared inputs (caches, SelfME's motion
learners) are computed here once before any job starts. When every fold of a run is done, the same
command gathers the pooled results and prints the seed table. ``--no-wait`` submits and returns (a
cluster); run the command again later to gather. Jobs inherit this shell's environment
(``MELIB_OUTPUTS``, ``MELIB_CACHE``, ``MELIB_DATA``), so they must see the same file system.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without `pip install -e`
sys.path.insert(0, str(Path(__file__).resolve().parent))  # cli.py, also when imported by the tests
import cli  # noqa: E402
import pandas as pd  # noqa: E402

from melib import config  # noqa: E402
from melib.experiments import runs  # noqa: E402


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", required=True, choices=list(runs.METHODS))
    p.add_argument("--variants", nargs="+", default=None, help="default: the method's full model")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--protocol", default=None, help="kfold | loso (default: the paper's)")
    p.add_argument("--dataset", default="synthetic", choices=cli.DATASETS)
    p.add_argument("--root", default="")
    p.add_argument("--profile", default="auto", choices=("auto", "fast", "full"))
    p.add_argument("--reference", action="store_true", help="the method's CPU reference setting (docs/results.md)")
    p.add_argument("--subjects", type=int, default=None, help="N subjects with most clips; 0 = all")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config or schedule overrides")
    p.add_argument("--folds", type=int, nargs="+", default=None, help="only these folds (default: all)")
    p.add_argument("--executor", default="local", choices=("local", "slurm", "debug"),
                   help="local: subprocesses here; slurm: sbatch; debug: in this process, one after another")
    p.add_argument("--parallel", type=int, default=os.cpu_count() or 1,
                   help="local: jobs at once; slurm: array parallelism")
    p.add_argument("--threads", type=int, default=1, help="torch threads per job (local/debug)")
    p.add_argument("--log-dir", default=None, help="submitit folder (default: outputs/jobs/<method>)")
    p.add_argument("--no-wait", action="store_true", help="submit and return; rerun later to gather")
    slurm = p.add_argument_group("SLURM")
    slurm.add_argument("--partition", default=None)
    slurm.add_argument("--gpus", type=int, default=0, help="GPUs per job")
    slurm.add_argument("--time", type=int, default=120, help="minutes per job")
    slurm.add_argument("--mem", type=int, default=16, help="GB per job")
    slurm.add_argument("--cpus", type=int, default=4, help="CPUs per job")
    slurm.add_argument("--account", default=None)
    slurm.add_argument("--qos", default=None)
    return p


def experiment_kwargs(args: argparse.Namespace) -> dict[str, object]:
    """What a job needs to rebuild its experiment: plain values only, so the pickled job is tiny."""
    overrides = cli.parse_sets(args.set)
    if args.subjects is not None:
        overrides["subjects"] = args.subjects
    return dict(method=args.method, profile=args.profile, protocol=args.protocol, dataset=args.dataset,
                root=args.root, reference=args.reference, **overrides)


def fold_job(kwargs: dict[str, object], variant: str, seed: int, fold: int, threads: int) -> dict[str, object]:
    """One job: load-or-train one fold; returns what it did (runs in the job's own process)."""
    import torch

    torch.set_num_threads(threads)
    exp = runs.experiment(variant=variant, seed=seed, **kwargs)
    began = time.perf_counter()
    run = runs.run(exp, fold=fold)
    return {"label": exp.label(), "fold": fold, "run": str(run.dir), "seconds": time.perf_counter() - began}


def make_executor(args: argparse.Namespace, folder: Path):
    import submitit

    if args.executor == "debug":
        return submitit.DebugExecutor(folder)
    if args.executor == "local":
        return submitit.LocalExecutor(folder)
    ex = submitit.AutoExecutor(folder, cluster="slurm")
    extra = {k: v for k, v in (("slurm_account", args.account), ("slurm_qos", args.qos)) if v}
    ex.update_parameters(timeout_min=args.time, mem_gb=args.mem, cpus_per_task=args.cpus, gpus_per_node=args.gpus,
                         slurm_partition=args.partition, slurm_array_parallelism=args.parallel,
                         name=f"melib-{args.method}", **extra)
    return ex


def submit(executor, args: argparse.Namespace, tasks: list[tuple[str, int, int]], kwargs: dict) -> list:
    """Submit every task; the local executor keeps at most ``--parallel`` jobs running at once."""
    from tqdm.auto import tqdm

    if args.executor == "slurm":
        with executor.batch():
            jobs = [executor.submit(fold_job, kwargs, v, s, f, args.threads) for v, s, f in tasks]
        return list(zip(tasks, jobs))
    done, running, pending = [], [], list(tasks)
    bar = tqdm(total=len(tasks), desc=f"{args.method} folds ({args.executor})")
    while pending or running:
        while pending and len(running) < max(1, args.parallel):
            task = pending.pop(0)
            running.append((task, executor.submit(fold_job, kwargs, *task, args.threads)))
        finished = [(t, j) for t, j in running if j.done()]
        if not finished:
            time.sleep(1.0)
            continue
        for item in finished:
            running.remove(item)
            done.append(item)
            bar.update()
    bar.close()
    return done


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    kwargs = experiment_kwargs(args)
    spec = runs.spec(args.method)
    variants = args.variants or [spec.default_variant]
    experiments = {(v, s): runs.experiment(variant=v, seed=s, **kwargs) for v in variants for s in args.seeds}
    print(config.describe_run({"method": args.method, "executor": args.executor, "runs": len(experiments)}))
    tasks = []
    for (v, s), exp in experiments.items():
        folds = args.folds if args.folds is not None else list(range(exp.n_folds))
        bad = [f for f in folds if not 0 <= f < exp.n_folds]
        if bad:
            raise SystemExit(f"{exp.label()}: folds {bad} out of range (0..{exp.n_folds - 1})")
        runs.prepare(exp)  # shared inputs once, before any job
        done = set(runs.locate(exp).done_folds())
        todo = [f for f in folds if f not in done]
        tasks += [(v, s, f) for f in todo]
        print(f"{exp.label()}: {len(folds) - len(todo)} of {len(folds)} folds done, {len(todo)} to run")
    failed = []
    if tasks:
        folder = Path(args.log_dir) if args.log_dir else config.outputs_root() / "jobs" / args.method
        jobs = submit(make_executor(args, folder), args, tasks, kwargs)
        if args.no_wait:
            print(f"submitted {len(jobs)} jobs (logs in {folder}); rerun this command to gather")
            return 0
        for task, job in jobs:
            try:
                job.result()
            except Exception as error:  # one failed fold must not hide the others
                failed.append(task)
                print(f"FAILED {task} (job {job.job_id}, logs {job.paths.stderr}): {str(error).splitlines()[-1:]}")
    rows = []
    for (v, s), exp in experiments.items():
        if args.folds is not None or any(t[:2] == (v, s) for t in failed):
            continue
        run = runs.run(exp)  # every fold on disk: loads them and pools the predictions
        m = run.results()["metrics"]
        keys = ("f1_avg", "auc_avg") if spec.task == "au" else ("uf1", "uar", "acc")
        rows.append({"variant": v, "seed": s, **{k: m[k] for k in keys}, "run": run.dir.name})
    if rows:
        table = pd.DataFrame(rows)
        print(table.to_string(index=False))
        print(cli.mean_sd_table(table, "variant", [c for c in table.columns if c not in ("variant", "seed", "run")]))
    if failed:
        print(f"{len(failed)} jobs failed; rerun the same command to retry them")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
