"""Paths, profiles, notebook parameter validation, config hashing, atomic writes, figure saving."""
import dataclasses
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from melib import config, io, viz

SPEC = {"dataset": config.DATASETS, "root": str, "profile": ("auto", "fast", "full"), "fold": int, "alpha": float}


def namespace(**overrides):
    ns = {"dataset": "synthetic", "root": "", "profile": "fast", "fold": -1, "alpha": 10.0, "In": [], "np": plt}
    ns.update(overrides)
    return ns


def test_roots_follow_environment_variables(monkeypatch, tmp_path):
    monkeypatch.delenv("MELIB_DATA", raising=False)
    assert config.data_root() == config.repo_root() / "data"
    monkeypatch.setenv("MELIB_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("MELIB_OUTPUTS", str(tmp_path / "o"))
    assert config.data_root() == tmp_path / "d"
    assert config.figures_root() == tmp_path / "o" / "figures"


def test_outputs_at_redirects_and_puts_back_even_on_failure(monkeypatch, tmp_path):
    monkeypatch.setenv("MELIB_OUTPUTS", str(tmp_path / "mine"))
    with pytest.raises(RuntimeError):
        with config.outputs_at(tmp_path / "scratch") as root:
            assert root == config.outputs_root() == (tmp_path / "scratch").resolve()
            raise RuntimeError("a failed row")
    assert config.outputs_root() == (tmp_path / "mine").resolve()
    monkeypatch.delenv("MELIB_OUTPUTS")
    with config.outputs_at(tmp_path / "scratch"):
        pass
    assert "MELIB_OUTPUTS" not in os.environ  # absent before, absent after


def test_profile_resolution(monkeypatch):
    monkeypatch.setenv("MELIB_PROFILE", "full")
    assert config.resolve_profile("auto") == "full"
    assert config.resolve_profile("fast") == "fast"  # explicit beats the environment
    monkeypatch.delenv("MELIB_PROFILE")
    assert config.resolve_profile("auto") == "fast"  # full is opt-in, with or without CUDA
    monkeypatch.setattr(config, "cuda_available", lambda: True)
    assert config.resolve_profile("auto") == "fast"
    monkeypatch.setenv("MELIB_PROFILE", "quick")
    with pytest.raises(ValueError, match="MELIB_PROFILE"):
        config.resolve_profile("auto")
    with pytest.raises(ValueError, match="profile must be"):
        config.resolve_profile("fastest")


def test_notebook_params_validate_and_freeze(capsys):
    params = config.notebook_params(namespace(fold=3, alpha=6), SPEC)
    assert params.fold == 3 and params.alpha == 6 and params.profile == "fast"
    assert "profile=fast" in capsys.readouterr().out
    with pytest.raises(AttributeError, match="frozen"):
        params.fold = 2


def test_notebook_params_survive_a_rerun_after_exploring():
    ns = namespace(In=["", "fold = 3", "params = ..."], fold=3)
    config.notebook_params(ns, SPEC, verbose=False)
    ns.update(n_clips=12, complete=["iicl"])  # globals of later cells
    ns["In"] += ["n_clips = 12", "fold = 3\nalpha = 6.0", "params = ..."]
    assert config.notebook_params(ns, SPEC, verbose=False).fold == 3
    ns["flod"] = 2  # a typo added to the parameters cell, then the cells re-run in order
    ns["In"] += ["fold = 3\nflod = 2", "params = ..."]
    with pytest.raises(ValueError, match="unknown parameter 'flod'"):
        config.notebook_params(ns, SPEC, verbose=False)


def test_notebook_params_first_call_refuses_any_extra_literal():
    ns = namespace(n_clips=12)  # papermill injected a name the notebook does not know
    with pytest.raises(ValueError, match="unknown parameter 'n_clips'"):
        config.notebook_params(ns, SPEC, verbose=False)


@pytest.mark.parametrize("overrides, message", [
    ({"flod": 3}, "unknown parameter 'flod' .did you mean 'fold'"),
    ({"fold": "3"}, "'fold' must be int"),
    ({"fold": True}, "'fold' must be int"),
    ({"dataset": "casme"}, "'dataset' must be one of"),
    ({"profile": "gpu"}, "'profile' must be one of"),
])
def test_notebook_params_fail_loudly(overrides, message):
    with pytest.raises(ValueError, match=message):
        config.notebook_params(namespace(**overrides), SPEC, verbose=False)


def test_config_hash_is_stable_and_sensitive():
    @dataclasses.dataclass
    class C:
        a: int = 1
        b: tuple = (1, 2)

    assert config.config_hash(C()) == config.config_hash({"b": [1, 2], "a": 1})
    assert config.config_hash(C()) != config.config_hash(C(a=2))
    assert len(config.config_hash(C())) == 12


def test_atomic_path_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "x.json"
    io.save_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert io.load_json(target) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_save_figure_writes_png_and_pdf(monkeypatch, tmp_path):
    monkeypatch.setenv("MELIB_OUTPUTS", str(tmp_path))
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    paths = viz.save_figure(fig, "line", folder="t")
    assert [p.name for p in paths] == ["line.png", "line.pdf"] and all(p.stat().st_size > 500 for p in paths)
    with pytest.raises(ValueError):
        viz.save_figure(fig, "bad name")
    plt.close(fig)


def test_display_path_hides_the_machines_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("MELIB_OUTPUTS", str(tmp_path / "out"))
    assert config.display_path(tmp_path / "out" / "figures" / "a.png") == "outputs/figures/a.png"
    assert config.display_path(config.repo_root() / "melib" / "config.py") == "melib/config.py"
    assert config.display_path("/elsewhere/x.png") == "/elsewhere/x.png"
    banner = config.describe_run()
    assert "outputs=$MELIB_OUTPUTS" in banner and str(tmp_path) not in banner
    monkeypatch.delenv("MELIB_OUTPUTS")
    assert "outputs=outputs" in config.describe_run()
