"""Paths, run profiles, notebook-parameter validation and config hashing, resolved in one place.

Roots come from environment variables, else defaults under the repository (git-ignored):

========================  =====================  ==========================================
variable                  default                holds
========================  =====================  ==========================================
``MELIB_DATA``            ``<repo>/data``        datasets (the synthetic one is generated here)
``MELIB_CACHE``           ``<repo>/cache``       preprocessing cache, landmarks, trained helpers
``MELIB_OUTPUTS``         ``<repo>/outputs``     executed notebooks, runs, checkpoints, figures
``MELIB_PROFILE``         (unset: ``fast``)      what ``profile="auto"`` resolves to
========================  =====================  ==========================================
"""
from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

PROFILES = ("fast", "full")
#: Every dataset melib reads (the one list; :mod:`melib.data` and the command lines take theirs from here).
DATASETS = ("synthetic", "casme2", "samm", "smic", "casme3a")
#: The datasets whose clips carry AU labels and subject-independent AU protocols: what the AU methods
#: (IICL, Micro-AU CLIP) train on. SMIC-HS has no AU labels; CAS(ME)^3 part A is read for its 3 classes.
AU_DATASETS = ("synthetic", "casme2", "samm")


def repo_root() -> Path:
    """The repository checkout that holds the ``melib`` package."""
    return Path(__file__).resolve().parents[1]


def _root(env: str, default: str) -> Path:
    value = os.environ.get(env, "").strip()
    return Path(value).expanduser().resolve() if value else repo_root() / default


def data_root() -> Path:
    """Root for datasets (``MELIB_DATA``)."""
    return _root("MELIB_DATA", "data")


def cache_root() -> Path:
    """Root for on-disk caches (``MELIB_CACHE``)."""
    return _root("MELIB_CACHE", "cache")


def outputs_root() -> Path:
    """Root for outputs: executed notebooks, runs, figures (``MELIB_OUTPUTS``)."""
    return _root("MELIB_OUTPUTS", "outputs")


@contextlib.contextmanager
def outputs_at(path: str | Path) -> Iterator[Path]:
    """Temporarily point :func:`outputs_root` (``MELIB_OUTPUTS``) at ``path``; the previous value, or its
    absence, is put back even when the body fails."""
    previous = os.environ.get("MELIB_OUTPUTS")
    os.environ["MELIB_OUTPUTS"] = str(path)
    try:
        yield outputs_root()
    finally:
        if previous is None:
            os.environ.pop("MELIB_OUTPUTS", None)
        else:
            os.environ["MELIB_OUTPUTS"] = previous


def figures_root() -> Path:
    """Where :func:`melib.viz.save_figure` writes PNG + PDF files."""
    return outputs_root() / "figures"


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return False
    return bool(torch.cuda.is_available())


def resolve_profile(profile: str = "auto") -> str:
    """Turn ``"auto" | "fast" | "full"`` into ``"fast"`` or ``"full"``.

    ``auto`` takes ``MELIB_PROFILE`` when set, else ``fast``, with or without CUDA: ``full`` (the
    papers' settings, meant for a GPU and not yet run on one) is always asked for by name.
    """
    if profile not in ("auto",) + PROFILES:
        raise ValueError(f"profile must be one of 'auto', 'fast', 'full'; got {profile!r}")
    if profile != "auto":
        return profile
    env = os.environ.get("MELIB_PROFILE", "").strip()
    if env:
        if env not in PROFILES:
            raise ValueError(f"MELIB_PROFILE must be 'fast' or 'full'; got {env!r}")
        return env
    return "fast"


def _profile_reason(profile: str) -> str:
    if profile != "auto":
        return "asked for"
    if os.environ.get("MELIB_PROFILE", "").strip():
        return f"auto, MELIB_PROFILE={os.environ['MELIB_PROFILE'].strip()}"
    return "auto = fast; ask for full by name"


def drop_defaults(settings: Mapping[str, Any], added: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` without each field of ``added`` (fields added after runs and caches existed, with their
    defaults) that still holds its default: such a field is hashed only when set, so earlier keys stay."""
    return {k: v for k, v in settings.items() if not (k in added and v == added[k])}


def config_hash(config: Any, length: int = 12) -> str:
    """Stable hex digest of a config (dataclass, mapping, list or scalar) for cache/checkpoint names."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    text = json.dumps(config, sort_keys=True, default=_json_default, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    raise TypeError(f"cannot hash config value of type {type(obj).__name__}: {obj!r}")


class Params(Mapping):
    """Frozen, validated notebook parameters with attribute access (``params.fold``)."""

    def __init__(self, values: Mapping[str, Any]):
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Params are frozen; change them in the parameters cell or with papermill -p")

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"Params({body})"


_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}
_LITERALS = (str, int, float, bool, type(None), list, tuple, dict)
_SEEN = "_melib_params_globals"  # names present at the first validation, kept in the notebook's globals


def _assigned_names(source: str) -> set[str]:
    """Names a cell's source assigns at top level (``x = 1``, ``x: int = 1``); empty if it does not parse."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def _candidate_names(namespace: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    """Plain-literal globals that could be a mistyped parameter.

    The first call sees only the parameters cell and papermill's injected cell, so every literal global
    counts. A later call (the cell re-run after exploring) counts only the names that existed at the first
    call, plus those the cell run just before it assigns (the parameters cell, when run in order), so
    ``n_clips = 12`` from a later cell is not mistaken for a typo while ``flod = 3`` still is.
    """
    names = [k for k, v in namespace.items()
             if not k.startswith("_") and k not in _IPYTHON_NAMES and k not in spec and isinstance(v, _LITERALS)]
    seen = namespace.get(_SEEN)
    if not isinstance(seen, frozenset):
        return names
    history = namespace.get("In")
    previous = _assigned_names(history[-2]) if isinstance(history, list) and len(history) >= 2 else set()
    return [k for k in names if k in seen or k in previous]


def notebook_params(namespace: Mapping[str, Any], spec: Mapping[str, Any], verbose: bool = True) -> Params:
    """Validate a notebook's parameters and freeze them.

    Call it in the cell right after the ``parameters`` cell with ``globals()``. ``spec`` maps each
    parameter to its rule: a type (``int``), a tuple of allowed values, or a ``(type, check)`` pair
    where ``check(value)`` returns an error message or ``None``. Any other plain-literal global
    (a papermill ``-p`` typo such as ``flod``) is an error, as is a wrong type or value. Re-running the
    cell after later cells defined globals of their own still works (see :func:`_candidate_names`).
    ``profile`` is resolved (``auto`` -> ``fast``/``full``) and stored as ``profile``; the value
    asked for is kept as ``profile_requested``.
    """
    errors: list[str] = []
    for name in _candidate_names(namespace, spec):
        close = difflib.get_close_matches(name, list(spec), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        errors.append(f"unknown parameter {name!r}{hint}; known: {', '.join(spec)}")
    values: dict[str, Any] = {}
    for name, rule in spec.items():
        if name not in namespace:
            errors.append(f"parameter {name!r} is missing from the parameters cell")
            continue
        value = namespace[name]
        message = _check(name, value, rule)
        if message:
            errors.append(message)
        values[name] = value
    if errors:
        raise ValueError("invalid notebook parameters:\n  - " + "\n  - ".join(errors))
    if isinstance(namespace, dict) and not isinstance(namespace.get(_SEEN), frozenset):
        namespace[_SEEN] = frozenset(namespace)
    if "profile" in values:
        values["profile_requested"] = values["profile"]
        values["profile"] = resolve_profile(values["profile"])
    params = Params(values)
    if verbose:
        print(describe_run(params))
    return params


def _check(name: str, value: Any, rule: Any) -> str | None:
    if isinstance(rule, tuple) and len(rule) == 2 and isinstance(rule[0], type) and callable(rule[1]):
        kind, check = rule
        message = _check(name, value, kind)
        return message or (f"parameter {name!r}: {check(value)}" if check(value) else None)
    if isinstance(rule, tuple):
        return None if value in rule else f"parameter {name!r} must be one of {rule}; got {value!r}"
    if isinstance(rule, type):
        ok = isinstance(value, rule) and not (rule is int and isinstance(value, bool))
        if rule is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        return None if ok else f"parameter {name!r} must be {rule.__name__}; got {type(value).__name__} {value!r}"
    raise TypeError(f"bad rule for parameter {name!r}: {rule!r}")


def display_path(path: str | Path) -> str:
    """``path`` as a reader should see it in a notebook: relative to the outputs, data or cache root
    (``outputs/figures/x.png``) or to the repository, so no machine's absolute paths end up in an
    executed copy; a path outside all of them is shown as it is."""
    path = Path(path).resolve()
    for label, root in (("outputs", outputs_root()), ("data", data_root()), ("cache", cache_root()),
                        (".", repo_root())):
        try:
            rel = path.relative_to(root.resolve())
        except ValueError:
            continue
        return str(Path(label) / rel) if label != "." else str(rel)
    return str(path)


def describe_run(params: Mapping[str, Any] | None = None) -> str:
    """One line naming the profile, device and roots, printed at the top of every notebook."""
    from . import __version__

    device = "cuda" if cuda_available() else "cpu"
    parts = [f"melib {__version__}"]
    if params is not None and "profile" in params:
        parts.append(f"profile={params['profile']} ({_profile_reason(params.get('profile_requested', 'auto'))})")
    parts += [f"device={device}", f"data={_root_label(data_root(), 'MELIB_DATA', 'data')}",
              f"outputs={_root_label(outputs_root(), 'MELIB_OUTPUTS', 'outputs')}"]
    return " | ".join(parts)


def _root_label(root: Path, env: str, default: str) -> str:
    """``data`` / ``outputs`` for the defaults under the repository, else ``$MELIB_X`` (not the path)."""
    return default if root == repo_root() / default else f"${env}"
