"""Measure the four protocol pitfalls of notebook 10 over seeds and print the table docs/results.md quotes.

    python data_scripts/run_pitfalls.py --profile reference --seeds 0 1 2

Load-or-train: runs already on disk are reused, an interrupted run resumes. Writes
``outputs/pitfalls/<profile>/{seeds,summary}.csv``, ``summary.md`` and the figure. Then pitfall (c) again on
the subject-styled synthetic dataset (``pitfalls.STYLED``, generated once under ``data/``) next to the
default one: ``random_split_datasets.csv`` (``--no-styled`` skips it).
"""
import argparse
import time

from melib import pitfalls
from melib.viz import save_figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=list(pitfalls.SETTINGS), default="reference")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--no-styled", action="store_true", help="skip pitfall (c) on the subject-styled dataset")
    args = parser.parse_args()
    tic = time.perf_counter()
    table = pitfalls.run(args.seeds, args.profile)
    summ = pitfalls.summary(table)
    print(pitfalls.markdown(summ))
    print(f"settings {args.profile}: {pitfalls.SETTINGS[args.profile]}; seeds {args.seeds}; "
          f"{time.perf_counter() - tic:.0f} s")
    save_figure(pitfalls.plot_inflation(summ, table), f"pitfalls_{args.profile}")
    if not args.no_styled:
        tic = time.perf_counter()
        split = pitfalls.random_split_datasets(args.seeds, args.profile)
        print(f"\n(c) on two datasets, styled knobs {pitfalls.STYLED[args.profile]}:")
        print(pitfalls.markdown(pitfalls.summary(split)))
        print(f"{time.perf_counter() - tic:.0f} s")


if __name__ == "__main__":
    main()
