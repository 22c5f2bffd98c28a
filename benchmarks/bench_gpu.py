"""Training throughput of every method with its real input pipeline, against the network alone.

Per method, on cached inputs of a few synthetic subjects, samples per second of:

- **loader**: the method's training Dataset through a DataLoader (``--workers`` processes), nothing else;
- **step + loader**: full optimisation steps fed by that loader (what training does);
- **step alone**: the same steps on one batch already on the device (the network's ceiling);

each with AMP (bf16 autocast) off and on, and ``step + loader`` as a share of ``step alone``: the input
pipeline is not the bottleneck when that share is high (target: at least 70 %).

    python benchmarks/bench_gpu.py                       # on a GPU: the full profiles, 4 subjects
    python benchmarks/bench_gpu.py --size tiny           # on a CPU: the fast profiles on a tiny dataset
    python benchmarks/bench_gpu.py --methods iicl selfme --steps 20 --workers 8

The full size builds the full-profile caches first (timed and printed apart); the whole script is
meant to finish within about 8 minutes on one GPU. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/timing.py
import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402
from timing import items_per_second, machine_line  # noqa: E402

from melib import train  # noqa: E402
from melib.experiments import runs  # noqa: E402

SIZES = {"tiny": {"profile": "fast", "subjects": 0}, "full": {"profile": "full", "subjects": 4}}


def measure(exp: runs.Experiment, device: torch.device, steps: int, workers: int) -> dict[str, float]:
    method, clips = runs.harness(exp)
    train_set, _ = method.datasets(clips, clips.iloc[:1])
    batch_size = min(exp.schedule.batch_size, len(train_set))
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=workers,
                        persistent_workers=workers > 0, pin_memory=device.type == "cuda")

    def endless():
        while True:
            yield from loader

    batches = endless()
    out = {"batch": batch_size, "loader": items_per_second(lambda: next(batches), batch_size, device, steps)}
    model = method.build_model().to(device).train()
    opt, _ = train.make_optimizer(model, exp.schedule, method)
    fixed = train.to_device(next(batches), device, False)
    for amp in (False, True):
        def step(feed, amp=amp) -> None:
            train.fit_step(method, model, feed(), opt, device, exp.schedule, amp=amp)  # the harness's own step

        tag = "AMP on" if amp else "AMP off"
        out[f"step alone, {tag}"] = items_per_second(lambda: step(lambda: fixed), batch_size, device, steps)
        out[f"step + loader, {tag}"] = items_per_second(
            lambda: step(lambda: train.to_device(next(batches), device, False)), batch_size, device, steps)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=list(SIZES), default="full" if torch.cuda.is_available() else "tiny")
    p.add_argument("--methods", nargs="+", default=list(runs.METHODS), choices=list(runs.METHODS))
    p.add_argument("--root", default="", help="dataset root (tiny: a tiny synthetic dataset is generated)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--workers", type=int, default=4 if torch.cuda.is_available() else 0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    size = SIZES[args.size]
    root = args.root
    if args.size == "tiny" and not root:
        from melib.config import outputs_root
        from melib.data import synthetic

        root = str(outputs_root() / "bench" / "tiny_synthetic")
        if not (Path(root) / "synthetic.json").is_file():
            synthetic.generate(root, seed=0, workers=1, progress=False, **synthetic.TINY_SETTINGS)
    print(machine_line(device))
    print(f"size {args.size} ({size['profile']} profiles, {size['subjects'] or 'all'} subjects of {root or 'the default dataset'}), "
          f"{args.steps} steps, {args.workers} loader workers; samples per second")
    print("| method | batch | cache s | loader | step alone, AMP off | step + loader, AMP off | share | "
          "step alone, AMP on | step + loader, AMP on | share |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.methods:
        exp = runs.experiment(name, profile=size["profile"], root=root, subjects=size["subjects"])
        began = time.perf_counter()
        runs.prepare(exp)
        cache_s = time.perf_counter() - began
        r = measure(exp, device, args.steps, args.workers)
        cells = [f"{r['loader']:.0f}"]
        for tag in ("AMP off", "AMP on"):
            alone, fed = r[f"step alone, {tag}"], r[f"step + loader, {tag}"]
            cells += [f"{alone:.1f}", f"{fed:.1f}", f"{fed / alone:.0%}"]
        print(f"| {name} | {r['batch']} | {cache_s:.0f} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
