"""melib.report on the tiny synthetic dataset: the page, the results page's marked blocks, nothing rewritten twice."""
from __future__ import annotations

import pandas as pd
import pytest

from melib import fold_store, report

README = """# project

Text before.

<!-- report:comparison-au -->
old numbers typed by hand
<!-- /report:comparison-au -->

Text after, untouched.
"""


SMALL = (report.Section("comparison-au", "AU detection (two rows)", "au", (
    report.Row("iicl", "senet", "kfold", label="IICL baseline (SENet), kfold"),
    report.Row("iicl", "iicl", "loso", label="IICL, loso"))),
         report.Section("comparison-emotion", "Emotion (one row)", "emotion", (
             report.Row("selfme", "farneback", label="SelfME on Farneback"),)))


@pytest.mark.slow
def test_report_writes_the_page_and_results_blocks_then_changes_no_byte(tiny_synthetic, tmp_path, monkeypatch):
    monkeypatch.setattr(report, "SECTIONS", SMALL)
    monkeypatch.setenv("MELIB_OUTPUTS", str(tmp_path / "out"))
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    readme = tmp_path / "results.md"
    readme.write_text(README)
    kwargs = dict(scope="main", seeds=[0], profile="fast", root=str(tiny_synthetic), results_md=readme, progress=False,
                  only=["comparison-au"], subjects=0, epochs=1)
    built = report.build(train_missing=True, **kwargs)
    results = built["results"]
    assert (results["status"] == "done").all() and list(results["protocol"]) == ["kfold", "loso"]
    text = readme.read_text()
    assert "old numbers" not in text and "Text before." in text and "Text after, untouched." in text
    assert "| IICL, loso |" in text and "flow probe, loso" in text and "--subjects 0 --epochs 1" in text
    page = built["page"].read_text()
    for key in results["run_key"]:
        assert key in page  # every run's settings hash is on the page
    assert "data:image/png;base64," in page and "AU detection" in page
    before = readme.read_bytes()
    again = report.build(train_missing=False, **kwargs)
    assert not again["results_changed"] and readme.read_bytes() == before
    pd.testing.assert_frame_equal(again["results"], results)


def test_missing_runs_are_reported_not_invented(tiny_synthetic, tmp_path, monkeypatch):
    monkeypatch.setattr(report, "SECTIONS", SMALL)
    monkeypatch.setenv("MELIB_OUTPUTS", str(tmp_path / "out"))
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    results = report.collect("main", seeds=[7], profile="fast", root=str(tiny_synthetic), train_missing=False,
                             progress=False, only=["comparison-emotion"], subjects=0, epochs=1)
    assert list(results["status"]) == ["missing"] and "uf1" not in results
    section = SMALL[1]
    table = report.summary(results, section)
    assert set(table["uf1"]) == {"not run"} and set(table["seeds"]) == {0}
    assert "not trained yet" in report.section_markdown(section, table, results, "fast", [7], 0, 1)


def test_summary_spread_direction_and_agreement():
    section = next(s for s in report.SECTIONS if s.name == "ablation-selfme")
    rows = []
    for seed, (full, no_sc, no_ma) in enumerate([(0.80, 0.70, 0.79), (0.82, 0.72, 0.83), (0.81, 0.71, 0.80)]):
        for variant, uf1 in (("selfme", full), ("no_sc", no_sc), ("no_ma", no_ma)):
            rows.append({"section": section.name, "row": variant, "seed": seed, "status": "done", "protocol": "loso",
                         "uf1": uf1, "uar": uf1, "acc": uf1})
    table = report.summary(pd.DataFrame(rows), section)
    assert table.loc["selfme", "uf1"] == "0.810 ± 0.010" and table.loc["selfme", "seeds"] == 3
    # no_sc: -0.100 against 2 SE = 2 sqrt(0.01^2/3 + 0.01^2/3) = 0.016
    assert table.loc["no_sc", "ours Δ (± 2 SE)"] == "-0.100 ± 0.016" and table.loc["no_sc", "reference"] == "selfme"
    assert table.loc["no_sc", "paper Δ"] == "-0.029" and table.loc["no_sc", "paper row"] == "Table 1 B-spline + SC - MA +"
    agree = report.agreement(table, section)
    assert agree["no_sc"] == "agrees (3 vs 3 seeds)" and agree["no_ma"] == "inconclusive (3 vs 3 seeds)"
    assert "selfme" not in agree  # the reference row has no direction of its own
    # gamma 3 exists on SMIC-HS only: its paper change is Table 4's gamma 3 - gamma 2, named as SMIC-HS
    assert table.loc["gamma3", "uf1"] == "not run" and table.loc["gamma3", "paper Δ"] == "-0.045"
    assert table.loc["gamma3", "paper row"] == "Table 4 gamma 3, SMIC-HS"
    with pytest.raises(ValueError, match="scope"):
        report.sections("everything")


def test_a_tagged_report_has_its_own_folder_and_readme_blocks(tmp_path, monkeypatch):
    monkeypatch.setenv("MELIB_OUTPUTS", str(tmp_path / "out"))
    section = next(s for s in report.SECTIONS if s.name == "comparison-au")
    ablation = next(s for s in report.SECTIONS if s.name == "ablation-selfme")
    assert report.report_dir() == tmp_path / "out" / "report"
    assert report.report_dir("motion") == tmp_path / "out" / "report" / "motion"
    with pytest.raises(ValueError, match="tag"):
        report.report_dir("../elsewhere")
    readme = tmp_path / "README.md"
    readme.write_text(README + "\n<!-- report:comparison-au@motion -->\nold motion numbers\n<!-- /report:comparison-au@motion -->\n")
    assert report.rewrite_blocks(readme, {report.block_name(section, "motion"): "new motion numbers"})
    text = readme.read_text()
    assert "old numbers typed by hand" in text and "new motion numbers" in text and "old motion numbers" not in text
    results = pd.DataFrame([{"section": section.name, "status": "missing", "machine": ""}])
    md = report.section_markdown(section, pd.DataFrame(), results, "fast", [0], 10, None, "synthetic",
                                 "data/synthetic_motion", "motion")
    assert "--root data/synthetic_motion --tag motion --profile fast" in md and "dataset at `data/synthetic_motion`" in md
    assert "--scope" not in md and "default synthetic" not in md
    missing = pd.DataFrame([{"section": ablation.name, "row": "selfme", "seed": 0, "status": "missing", "machine": "",
                             "uf1": None, "uar": None, "acc": None}])
    md = report.section_markdown(ablation, report.summary(missing, ablation), missing, "fast", [0], 10)
    assert md.startswith("Generated by `python -m melib.report --scope all --profile fast") and "default synthetic" in md


def test_auc_notes_say_whether_a_low_pooled_auc_is_no_learning_or_fold_scales():
    section = next(s for s in report.SECTIONS if s.name == "ablation-micro_au_clip")
    rows = [{"section": section.name, "row": name, "seed": seed, "status": "done", "auc_avg": pooled, "auc_within": within}
            for seed in (0, 1) for name, pooled, within in (("full", 0.84, 0.86), ("gsd_only", 0.41, 0.50),
                                                            ("maxpool", 0.45, 0.80), ("meanpool", 0.70, 0.85))]
    notes = report.auc_notes(pd.DataFrame(rows), section)
    assert len(notes) == 3 and not any(n.startswith("full") for n in notes)
    assert "nothing learned; a pooled AUC this far below" in next(n for n in notes if n.startswith("gsd_only"))
    assert "ranks clips inside a fold" in next(n for n in notes if n.startswith("maxpool"))
    assert "(0.15)" in next(n for n in notes if n.startswith("meanpool"))
    emotion = next(s for s in report.SECTIONS if s.name == "ablation-selfme")
    assert report.auc_notes(pd.DataFrame(rows), emotion) == []


def test_the_cli_refuses_to_write_another_datasets_numbers_into_the_default_blocks(tmp_path, capsys):
    with pytest.raises(SystemExit):
        report.main(["--root", str(tmp_path / "synthetic_motion"), "--results", str(tmp_path / "results.md")])
    assert "--tag" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        report.main(["--dataset", "casme2", "--results", str(tmp_path / "results.md")])
    with pytest.raises(SystemExit):
        report.main(["--threads", "0", "--results", ""])
    assert "--threads must be >= 1" in capsys.readouterr().err


def test_the_machine_line_names_the_cpu_thread_count_only_where_it_was_recorded():
    cpu = {"cpu": "x86_64", "cpu_count": 2, "torch": "2.14", "torch_threads": 1}
    assert fold_store._machine_line(cpu) == "x86_64 CPU, 2 cores, torch 2.14, 1 torch thread"
    assert fold_store._machine_line({**cpu, "torch_threads": 2}).endswith(", 2 torch threads")
    assert fold_store._machine_line({k: v for k, v in cpu.items() if k != "torch_threads"}) == "x86_64 CPU, 2 cores, torch 2.14"
    assert fold_store._machine_line({**cpu, "gpu": "NVIDIA H200"}) == "NVIDIA H200, torch 2.14"
    assert fold_store._machine_line({}) == ""


def _rows(section, values):
    return pd.DataFrame([{"section": section.name, "row": name, "seed": seed, "status": "done", "protocol": "loso",
                          "f1_avg": v, "auc_avg": v, "auc_within": v}
                         for name, seeds in values.items() for seed, v in enumerate(seeds)])


def test_rows_with_their_own_reference_and_table_read_the_papers_change_within_that_table():
    section = next(s for s in report.SECTIONS if s.name == "ablation-micro_au_clip-miaucl")
    table = report.summary(_rows(section, {"full (softmax reading)": [0.30, 0.31, 0.32], "miaucl_bce": [0.40, 0.41, 0.42],
                                           "local_origcl_bce": [0.30, 0.31, 0.32]}), section)
    bce = table.loc["local_origcl_bce"]
    assert bce["reference"] == "miaucl_bce" and bce["paper row"] == "Table VIII local OrigCL"
    assert bce["paper Δ"] == "-0.026" and bce["direction"] == "agrees (3 vs 3 seeds)"  # -0.100 beyond 2 SE
    # the BCE reading's full model against the softmax one: same paper row (MiAUCL), so no paper change
    assert table.loc["miaucl_bce", "reference"] == "full" and table.loc["miaucl_bce", "paper Δ"] == ""
    assert table.loc["miaucl_bce", "direction"] == "effect (no paper Δ) (3 vs 3 seeds)"
    assert table.loc["full (softmax reading)", "paper row"] == "Table VIII MiAUCL"


def test_tables_three_and_six_rows_are_read_against_add_mlp_not_the_full_model():
    section = next(s for s in report.SECTIONS if s.name == "ablation-micro_au_clip")
    table = report.summary(_rows(section, {"full": [0.5, 0.5, 0.5], "add_mlp": [0.4, 0.41, 0.42],
                                           "meanpool": [0.4, 0.41, 0.42]}), section)
    assert table.loc["meanpool", "reference"] == "add_mlp" and table.loc["meanpool", "paper Δ"] == "-0.022"
    assert table.loc["meanpool", "direction"] == "inconclusive (3 vs 3 seeds)"
    assert table.loc["add_mlp", "reference"] == "full" and table.loc["add_mlp", "paper Δ"] == "-0.006"
    assert table.loc["maxpool", "direction"] == "not run"


def test_reread_recomputes_paper_columns_from_a_generated_block(data_script):
    reread = data_script("reread_results")
    section = next(s for s in report.SECTIONS if s.name == "ablation-selfme")
    body = "\n".join([
        "Generated by `python -m melib.report --scope all`.", "",
        "|  | uf1 | uar | acc | seeds | paper (real) | ours vs selfme | paper vs selfme |", "|---|---|---|---|---|---|---|---|",
        "| selfme | 0.758 ± 0.030 | 0.737 ± 0.026 | 0.837 ± 0.013 | 3 | 0.908 |  |  |",
        "| no_sc | 0.628 ± 0.016 | 0.716 ± 0.017 | 0.815 ± 0.006 | 3 | 0.878 | -0.130 | -0.029 |",
        "| gamma3 | 0.798 ± 0.024 | 0.774 ± 0.030 | 0.856 ± 0.019 | 3 | 0.652 | +0.041 | -0.256 |", "",
        "Direction against `selfme`, ours vs the paper: no_sc: agrees; gamma3: disagrees."])
    text = reread.reread(body, section)
    assert "re-read by `python data_scripts/reread_results.py`" in text and "Direction against" not in text
    table = reread.parse_block(text)[2]
    assert table.loc["no_sc", "direction"] == "agrees (3 vs 3 seeds)" and table.loc["no_sc", "uf1"] == "0.628 ± 0.016"
    # gamma 3: +0.040 against 2 SE = 2 sqrt(0.024^2/3 + 0.030^2/3) = 0.044, and Table 4's own change, -0.045
    assert table.loc["gamma3", "paper Δ"] == "-0.045" and table.loc["gamma3", "direction"] == "inconclusive (3 vs 3 seeds)"
    assert table.loc["no_bspline", "uf1"] == "not run"  # a row the old block did not have
    assert list(table.index) == [r.name for r in section.rows]
    assert reread.reread(text, section) == text  # re-reading a re-read block changes nothing


def test_rows_that_cannot_run_on_a_dataset_are_not_applicable_with_the_reason(tiny_synthetic, tmp_path, monkeypatch):
    from melib.data.synthetic import layouts

    smic = layouts.convert(tiny_synthetic, tmp_path / "smic", "smic")
    monkeypatch.setattr(report, "SECTIONS", SMALL)
    monkeypatch.setenv("MELIB_OUTPUTS", str(tmp_path / "out"))
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    results = report.collect("main", seeds=[7], profile="fast", dataset="smic", root=str(smic), progress=False,
                             only=["comparison-au"], subjects=0, epochs=1)
    assert list(results["status"]) == ["n/a", "n/a"] and results["reason"].str.contains("no AU").all()
    section = SMALL[0]
    text = report.section_markdown(section, report.summary(results, section), results, "fast", [7], 0, 1, "smic")
    assert "Not applicable on this dataset: IICL baseline (SENet), kfold (no standard AU set" in text and "not trained yet" not in text
    from melib.experiments import runs

    def refuse(*args, **kwargs):
        raise ValueError("a broken config")

    monkeypatch.setattr(runs, "experiment", refuse)  # on the synthetic data a row that cannot be built is an error
    with pytest.raises(ValueError, match="a broken config"):
        report.collect("main", seeds=[7], profile="fast", root=str(tiny_synthetic), progress=False,
                       only=["comparison-au"], subjects=0, epochs=1)
