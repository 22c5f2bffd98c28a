"""data_scripts/cli.py: what the run_<method>.py command lines share (flags, --reference, the mean ± sd table)."""
from __future__ import annotations

import pandas as pd
import pytest

from melib.methods import iicl


@pytest.fixture(scope="module")
def cli(data_script):
    return data_script("cli")


def iicl_args(cli, *argv: str):
    parser = cli.experiment_parser("test", list(iicl.VARIANTS), ["senet", "iicl"], iicl.REFERENCE_CPU, "fold")
    return parser.parse_args(list(argv))


def iicl_flags(args) -> dict:
    return {k: getattr(args, k) for k in ("epochs", "batch_size", "lr", "image_size", "weights")}


def test_reference_fills_only_the_flags_not_given(cli, tiny_synthetic):
    args = iicl_args(cli, "--root", str(tiny_synthetic), "--reference", "--seeds", "0", "1")
    exps = cli.experiments("iicl", args, **iicl_flags(args))
    assert list(exps) == [("senet", 0), ("senet", 1), ("iicl", 0), ("iicl", 1)]
    exp = exps["iicl", 1]
    ref = iicl.REFERENCE_CPU
    assert exp.profile == "reference" and exp.schedule.seed == 1 and exp.config.variant == "iicl"
    # a flag left out (None) must not hide the reference's value behind the fast profile's
    assert (exp.schedule.epochs, exp.schedule.lr) == (ref["epochs"], ref["lr"])
    assert (exp.config.image_size, exp.config.crop_size, exp.config.bce) == (56, 48, "balanced")
    assert cli.resolve_profile(args) == "fast" and "profile=fast" in cli.describe(args)

    args = iicl_args(cli, "--root", str(tiny_synthetic), "--reference", "--epochs", "2", "--subjects", "2",
                     "--variants", "senet")
    exp, = cli.experiments("iicl", args, **iicl_flags(args)).values()
    assert (exp.schedule.epochs, exp.schedule.lr) == (2, ref["lr"]) and exp.manifest["subject"].nunique() == 2


def test_without_reference_the_profile_keeps_its_values(cli, tiny_synthetic):
    args = iicl_args(cli, "--root", str(tiny_synthetic), "--profile", "fast", "--variants", "iicl")
    exp, = cli.experiments("iicl", args, **iicl_flags(args)).values()
    fast, schedule, _ = iicl.preset("fast", variant="iicl", seed=0)
    assert exp.profile == "fast" and exp.config == fast and exp.schedule == schedule


def test_parse_sets_reads_literals_and_refuses_a_bare_key(cli):
    assert cli.parse_sets(["epochs=2", "lr=0.1", "bce=balanced", "flag=True"]) == {
        "epochs": 2, "lr": 0.1, "bce": "balanced", "flag": True}
    with pytest.raises(SystemExit, match="key=value"):
        cli.parse_sets(["epochs"])


def test_mean_sd_table_over_seeds(cli):
    per_seed = pd.DataFrame({"variant": ["a", "a", "b"], "f1": [0.5, 0.7, 0.3]})
    shown = cli.mean_sd_table(per_seed, "variant", ["f1"], 2)
    assert shown.loc["a", "f1"] == "0.60 ± 0.14" and shown.loc["b", "f1"] == "0.30"
    assert shown["seeds"].tolist() == [2, 1]


@pytest.mark.parametrize("name", ["run_iicl", "run_mimic", "run_micro_au_clip", "run_selfme", "train_selfme_learner"])
def test_the_scripts_find_cli_beside_them(name, data_script, capsys):
    with pytest.raises(SystemExit) as done:
        data_script(name).main(["--help"])
    assert done.value.code == 0 and "usage:" in capsys.readouterr().out
