"""Shared pytest fixtures."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Callable

import pytest

DATA_SCRIPTS = Path(__file__).resolve().parents[1] / "data_scripts"


@pytest.fixture(autouse=True)
def _notes_said_anew():
    """Each test sees melib's print-once notes (``melib.progress.print_once``) as a new process would."""
    from melib import progress

    progress._SAID.clear()
    yield


@pytest.fixture(scope="session")
def data_script() -> Callable[[str], ModuleType]:
    """Import ``data_scripts/<name>.py`` as a module (the scripts are not a package): ``data_script("run_folds")``."""
    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(name, DATA_SCRIPTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Root of a tiny synthetic dataset (4 subjects x 2 clips, seed 0; CASME II layout), made once.

    Generated in this process (one worker) in a few seconds. Treat it as read-only: every test
    of the session shares it.
    """
    from melib.data import synthetic

    root = tmp_path_factory.mktemp("synthetic") / "tiny"
    return synthetic.generate(root, seed=0, workers=1, progress=False, **synthetic.TINY_SETTINGS)


@pytest.fixture(scope="session")
def tiny_synthetic_motion(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny dataset of :func:`tiny_synthetic` with ``appearance=0``: motion-only clips."""
    from melib.data import synthetic

    root = tmp_path_factory.mktemp("synthetic") / "tiny_motion"
    return synthetic.generate(root, seed=0, workers=1, progress=False, appearance=0.0, **synthetic.TINY_SETTINGS)
