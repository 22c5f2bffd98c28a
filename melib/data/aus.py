"""Parse and format the Action Unit (AU) strings of micro-expression annotation sheets.

Accepted grammar (case-insensitive, spaces around separators allowed)::

    aus   := term  (("+" | ",") term)*
    term  := code  ("or" code)*            # "or" joins the two codes beside it
    code  := ["L" | "R"] ["AU"] digits [".0"] [A-E] ["?"]   # or the same inside "( )"

Examples: ``4+7+L10``, ``R12 + R15``, ``R14A``, ``12?``, ``r12``, ``AU4``, ``1,2``, ``4 or 7``,
``12+14 or 15`` (= 12 + (14 or 15)), Excel numbers ``12``, ``12.0`` and ``"12.0"``.
Laterality (L/R), intensity (A-E) and the uncertainty mark ``?`` are dropped: a model sees AU 12,
whatever its side or strength. Parentheses: ``(12)`` is read as AU 12 (a bracketed AU is taken as
weak or uncertain and kept, like ``12?``); a bracketed note without digits, as in ``12(k)``, is dropped.
"""
from __future__ import annotations

import numbers
import re
from collections.abc import Iterable
from typing import Any

import pandas as pd

_CODE = re.compile(r"([LR])?(?:AU)?(\d+)(?:\.0+)?([A-E])?\??", re.IGNORECASE)
_PARENS = re.compile(r"\(([^()]*)\)")
_SEPARATORS = re.compile(r"[+,]")
_OR = re.compile(r"\s+or\s+", re.IGNORECASE)
ALTERNATIVES = ("union", "first")


def parse_aus(text: Any, alternatives: str = "union") -> tuple[int, ...]:
    """Parse one AU cell into sorted unique AU numbers, e.g. ``"4+7+L10" -> (4, 7, 10)``.

    Parameters
    ----------
    text
        The cell: a string, or an int/float as Excel stores a lone AU (``12`` or ``12.0``).
    alternatives
        ``"union"`` (default) keeps every code of ``"A or B"``: the coder saw a movement and was
        unsure which AU it was, so a detector should not be taught that both are absent.
        ``"first"`` keeps only the first code.

    Raises
    ------
    ValueError
        ``"empty AU string"`` for None/NaN/blank; otherwise a message naming the offending token
        and the full string.
    """
    if alternatives not in ALTERNATIVES:
        raise ValueError(f"alternatives must be one of {ALTERNATIVES}; got {alternatives!r}")
    if text is None or (not isinstance(text, str) and pd.api.types.is_scalar(text) and pd.isna(text)):
        raise ValueError("empty AU string")
    if isinstance(text, bool):
        raise ValueError(f"bad AU value {text!r}")
    if isinstance(text, numbers.Integral):
        return _check_number(int(text), text, text)
    if isinstance(text, numbers.Real):
        if not float(text).is_integer():
            raise ValueError(f"bad AU token {text!r} in AU string {text!r}")
        return _check_number(int(text), text, text)
    if not isinstance(text, str):
        raise ValueError(f"bad AU value of type {type(text).__name__}: {text!r}")
    full = text
    text = text.replace("\xa0", " ").strip()
    if not text or text.lower() == "nan":
        raise ValueError("empty AU string")
    text = _PARENS.sub(lambda m: _unwrap(m, full), text).strip()
    if not text:
        raise ValueError(f"no AU in AU string {full!r} (only bracketed notes)")
    aus: set[int] = set()
    for term in _SEPARATORS.split(text):
        codes = _OR.split(term.strip())
        if alternatives == "first":
            codes = codes[:1]
        for code in codes:
            aus.update(_parse_code(code.strip(), full))
    return tuple(sorted(aus))


def _unwrap(match: re.Match, full: str) -> str:
    """``(12)`` -> ``12``; a note without digits (``(k)``) -> removed; anything else is an error."""
    inner = match.group(1).strip()
    if _CODE.fullmatch(inner):
        return inner
    if not any(ch.isdigit() for ch in inner):
        return ""
    raise ValueError(f"bad AU token {match.group(0)!r} in AU string {full!r}")


def _parse_code(code: str, full: str) -> tuple[int, ...]:
    if not code:
        raise ValueError(f"empty AU token (two separators in a row?) in AU string {full!r}")
    if "(" in code or ")" in code:
        raise ValueError(f"bad AU token {code!r} (unbalanced parenthesis) in AU string {full!r}")
    match = _CODE.fullmatch(code)
    if match is None:
        raise ValueError(f"bad AU token {code!r} in AU string {full!r}")
    return _check_number(int(match.group(2)), code, full)


def _check_number(number: int, token: Any, full: Any) -> tuple[int, ...]:
    if number < 1:
        raise ValueError(f"bad AU token {token!r} (AU numbers start at 1) in AU string {full!r}")
    return (number,)


def format_aus(aus: Iterable[int]) -> str:
    """Write AUs the way the sheets do: ``(4, 1, 2) -> "1+2+4"``; no AUs -> ``""``."""
    values = list(aus)
    if any(isinstance(a, bool) or not isinstance(a, numbers.Real) or a != int(a) or a < 1 for a in values):
        raise ValueError(f"AUs must be whole numbers >= 1; got {values!r}")
    return "+".join(str(a) for a in sorted({int(a) for a in values}))
