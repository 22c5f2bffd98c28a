"""Methods as the training harness runs them: presets, datasets over the front-end cache, the paper tables.

Each paper is one package here whose ``SPEC = MethodSpec(...)`` (:mod:`melib.methods.spec`) says how everything
after training reaches it; :data:`NAMES` is the registry, one entry a paper. Adding a method: docs/methods.md.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from .spec import MethodSpec

#: The registry: one module under ``melib.methods`` a paper, in the order tables list them.
NAMES: tuple[str, ...] = ("iicl", "annotation_mimic", "micro_au_clip", "selfme")


class _Specs(Mapping[str, Any]):
    """name -> :class:`~melib.methods.spec.MethodSpec`, each module imported when first asked for."""

    def __getitem__(self, name: str) -> Any:
        if name not in NAMES:
            raise KeyError(name)
        return importlib.import_module(f"melib.methods.{name}").SPEC

    def __iter__(self) -> Iterator[str]:
        return iter(NAMES)

    def __len__(self) -> int:
        return len(NAMES)


SPECS: Mapping[str, Any] = _Specs()


def spec(name: str) -> Any:
    """The spec of method ``name``; an unknown name raises, listing the registry."""
    if name not in NAMES:
        raise ValueError(f"unknown method {name!r}; choose from {list(NAMES)}")
    return SPECS[name]


def spec_of_run(method_name: str) -> Any:
    """The spec whose runs carry ``method_name`` (``run.json``'s ``method``, e.g. ``"mimic-db+all-paper"``)."""
    found = [s for s in SPECS.values() if s.owns_run(method_name)]
    if len(found) != 1:
        raise ValueError(f"no single method owns runs named {method_name!r} (run prefixes: "
                         f"{ {s.name: s.run_prefix for s in SPECS.values()} })")
    return found[0]


__all__ = ["MethodSpec", "NAMES", "SPECS", "spec", "spec_of_run"]
