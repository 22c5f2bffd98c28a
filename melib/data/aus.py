"""Parse and format the Action Unit (AU) strings of micro-expression annotation sheets.

The sheets write FACS codes as their coders typed them. Accepted grammar (case-insensitive, spaces
around separators allowed)::

    aus   := term  (("+" | ",") term)*
    term  := code  (("or" | "/") code)*  [note]     # "or" (or "/" between two AUs) joins alternatives
    code  := [side "/"] [side] ["AU"] digits [".0"] [intensity] ["?"]
    side  := one or two of L R T B U A              # left, right, top, bottom, unilateral, asymmetric
    intensity := A-E  [("/" | "-") A-E]            # "R14A", a range "12A/B" or "12B-C"

Examples: ``4+7+L10``, ``R12 + R15``, ``R14A``, ``12?``, ``AU4``, ``1,2``, ``4 or 7``, ``12+14 or 15``
(= 12 + (14 or 15)), ``T14``, ``B17``, ``U14``, ``A1+A2``, ``12A/B``, ``L/R12``, ``A/L12``, ``12/14``,
``(12 or 14)+4``, ``[4+7]``, ``4+7+ref(43)``, ``4+7 eyes closed``, Excel numbers ``12``, ``12.0``.

Choices, each a documented reading of what the sheets mean:

- Side, position and intensity (``L R T B U A`` prefixes, ``A``-``E`` suffixes and their ranges,
  the uncertainty mark ``?``) are dropped: a detector sees AU 12, whatever its side or strength.
  A prefix before a slash (``L/R12``: the coder was unsure of the side) is dropped too.
  A position before a slash reads the same way: ``A/L12`` (asymmetric, on the left; SAMM) is AU 12.
- Alternatives (``or``; a slash between two AU codes, ``12/14``; a bracketed group ``(12 or 14)``)
  keep every code with ``alternatives="union"`` and the first with ``"first"``.
- Brackets ``( )`` and ``[ ]``: a group that parses is read as AUs (``(12)`` is AU 12, taken as weak
  or uncertain and kept, like ``12?``). A bracketed note without digits, as in ``12(k)``, is dropped.
- Reference marks ``ref(...)`` point at another coding and are dropped with their contents.
- Free-text notes (words of three or more letters without digits, such as ``blink`` or ``eyes
  closed``) are dropped wherever they stand in a term.
- Anything else that holds a digit is an error naming the token and the whole cell.
"""
from __future__ import annotations

import numbers
import re
from collections.abc import Iterable
from typing import Any

import pandas as pd

_SIDE = r"[LRTBUA]{1,2}"
_CODE = re.compile(rf"(?:{_SIDE}\s*/\s*)?({_SIDE})?\s*(?:AU)?\s*(\d+)(?:\.0+)?(?:[A-E](?:\s*[/-]\s*[A-E])?)?\??",
                   re.IGNORECASE)
_PARENS = re.compile(r"\(([^()]*)\)")
_REF = re.compile(r"\bref\s*\([^()]*\)", re.IGNORECASE)
_SEPARATORS = re.compile(r"[+,]")
# a slash between two codes: after a digit, an intensity letter that follows a digit, or "?" (not after a
# lone side letter: in "A/L12" the "A" is a position, not intensity A)
_OR = re.compile(r"\s+or\s+|(?:(?<=\d)|(?<=\d[A-Ea-e])|(?<=\?))\s*/\s*(?=(?:[LRTBUAlrtbua]{0,2}\s*(?:AU)?\s*\d))",
                 re.IGNORECASE)
_NOTE_WORD = re.compile(r"[^\W\d_]{3,}")
_DROPPED = "\x00"  # stands where a note or reference mark was removed: a term of only this is skipped
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
    text = text.replace("\xa0", " ").replace("[", "(").replace("]", ")").strip()
    if not text or text.lower() == "nan":
        raise ValueError("empty AU string")
    text = _REF.sub(_DROPPED, text)
    while _PARENS.search(text):  # innermost groups first
        text = _PARENS.sub(lambda m: _unwrap(m, full, alternatives), text)
    text = text.strip()
    if not text:
        raise ValueError(f"no AU in AU string {full!r} (only bracketed notes)")
    aus = _parse_expression(text, full, alternatives)
    if not aus:
        raise ValueError(f"no AU in AU string {full!r} (only notes)")
    return aus


def _parse_expression(text: str, full: str, alternatives: str) -> tuple[int, ...]:
    aus: set[int] = set()
    for term in _SEPARATORS.split(text):
        dropped = _DROPPED in term
        term = term.replace(_DROPPED, " ").strip()
        if not term and dropped:
            continue
        if not term:
            raise ValueError(f"empty AU token (two separators in a row?) in AU string {full!r}")
        codes = [c.strip() for c in _OR.split(term)]
        if alternatives == "first":
            codes = codes[:1]
        for code in codes:
            aus.update(_parse_code(code, full))
    return tuple(sorted(aus))


def _unwrap(match: re.Match, full: str, alternatives: str) -> str:
    """A bracketed group -> its AUs joined by "+"; a note without digits -> removed; else an error."""
    inner = match.group(1).strip()
    if not any(ch.isdigit() for ch in inner):
        return _DROPPED
    try:
        aus = _parse_expression(inner, full, alternatives)
    except ValueError:
        raise ValueError(f"bad AU token {match.group(0)!r} in AU string {full!r}") from None
    return " " + "+".join(map(str, aus)) + " " if aus else ""


def _parse_code(code: str, full: str) -> tuple[int, ...]:
    if not code:
        raise ValueError(f"empty AU token (two separators in a row?) in AU string {full!r}")
    if "(" in code or ")" in code:
        raise ValueError(f"bad AU token {code!r} (unbalanced parenthesis) in AU string {full!r}")
    match = _CODE.fullmatch(code)
    if match is None:  # a code followed or preceded by a free-text note ("7 eyes closed")
        words = code.split()
        notes = [w for w in words if _NOTE_WORD.fullmatch(w) and w.lower() not in ("or",)]
        rest = [w for w in words if w not in notes]
        if notes and not rest:
            return ()
        match = _CODE.fullmatch(" ".join(rest)) if notes and len(rest) == 1 else None
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
