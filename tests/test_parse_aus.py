"""parse_aus / format_aus: every accepted form of an AU cell, and rejected ones naming the token."""
import numpy as np
import pandas as pd
import pytest

from melib.data import format_aus, parse_aus


@pytest.mark.parametrize("text, expected", [
    ("4+7+L10", (4, 7, 10)),
    ("R12 + R15", (12, 15)),
    ("R14A", (14,)),
    ("14e", (14,)),
    ("L2", (2,)),
    ("12?", (12,)),
    ("(12)", (12,)),
    ("12(k)", (12,)),
    ("4+(7)+10 (blink)", (4, 7, 10)),
    ("r12", (12,)),
    ("AU4+au7", (4, 7)),
    ("1,2", (1, 2)),
    (" 1 ,\xa02 + 4 ", (1, 2, 4)),
    ("7+4+4", (4, 7)),
    ("12", (12,)),
    ("12.0", (12,)),
    (12, (12,)),
    (12.0, (12,)),
    (np.int64(12), (12,)),
    (np.float64(14.0), (14,)),
    ("4 or 7", (4, 7)),
    ("R10 OR R14", (10, 14)),
    ("12+14 or 15", (12, 14, 15)),
])
def test_accepted_forms_union(text, expected):
    assert parse_aus(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("4 or 7", (4,)),
    ("12+14 or 15", (12, 14)),      # "or" joins its neighbours: 12 + (14 or 15)
    ("43 or 45+4", (4, 43)),
    ("4+7+L10", (4, 7, 10)),        # no "or": same as union
])
def test_first_alternative(text, expected):
    assert parse_aus(text, alternatives="first") == expected


@pytest.mark.parametrize("text, token", [
    ("12x", "'12x'"),
    ("AU?", "'AU?'"),
    ("4+7+X10", "'X10'"),
    ("12.5", "'12.5'"),
    (12.5, "12.5"),
    ("(12x)", "'(12x)'"),
    ("4+7)", "'7)'"),
    ("0", "'0'"),
    ("or 4", "'or 4'"),
    ("12 14", "'12 14'"),
])
def test_rejected_tokens_are_named(text, token):
    with pytest.raises(ValueError) as info:
        parse_aus(text)
    message = str(info.value)
    assert f"token {token}" in message
    assert repr(text) in message  # the full string too


@pytest.mark.parametrize("text", [None, float("nan"), np.nan, pd.NA, "", "   ", "nan"])
def test_empty_cells(text):
    with pytest.raises(ValueError, match="empty AU string"):
        parse_aus(text)


def test_other_rejections():
    with pytest.raises(ValueError, match="empty AU token"):
        parse_aus("4++7")
    with pytest.raises(ValueError, match="no AU"):
        parse_aus("(k)")
    with pytest.raises(ValueError, match="bad AU value"):
        parse_aus(True)
    with pytest.raises(ValueError, match="alternatives"):
        parse_aus("4", alternatives="last")


def test_format_aus_round_trip():
    assert format_aus([4, 1, 2, 2]) == "1+2+4"
    assert format_aus((np.int64(12),)) == "12"
    assert format_aus(()) == ""
    assert parse_aus(format_aus((17, 1, 4))) == (1, 4, 17)
    with pytest.raises(ValueError):
        format_aus([0, 4])
    with pytest.raises(ValueError):
        format_aus([4.5])


@pytest.mark.parametrize("text, union, first", [
    ("T14", (14,), (14,)),                       # position prefixes: top, bottom, unilateral, asymmetric
    ("B17", (17,), (17,)),
    ("U14", (14,), (14,)),
    ("A1+A2", (1, 2), (1, 2)),
    ("RT12", (12,), (12,)),
    ("12A/B", (12,), (12,)),                     # intensity ranges
    ("R12A+R15B/C", (12, 15), (12, 15)),
    ("12B-C", (12,), (12,)),
    ("L/R12", (12,), (12,)),                     # a prefix before a slash: unsure of the side
    ("12/14", (12, 14), (12,)),                  # a slash between two AUs: alternatives
    ("L12/R14", (12, 14), (12,)),
    ("(12 or 14)+4", (4, 12, 14), (4, 12)),      # bracketed group of alternatives
    ("[4+7]", (4, 7), (4, 7)),
    ("4+[R14 or 17]", (4, 14, 17), (4, 14)),
    ("4+7+ref(43)", (4, 7), (4, 7)),             # reference marks are dropped
    ("ref(4)+12", (12,), (12,)),
    ("4+7 eyes closed", (4, 7), (4, 7)),         # free-text notes
    ("4+(blink)+7", (4, 7), (4, 7)),
    ("4 + slight", (4,), (4,)),
])
def test_real_sheet_notation(text, union, first):
    assert parse_aus(text) == union
    assert parse_aus(text, alternatives="first") == first


@pytest.mark.parametrize("text, token", [
    ("4+X12", "'X12'"),          # X is no side or position
    ("12F", "'12F'"),            # intensities run A-E
    ("4+(12 or x4)", "'(12 or x4)'"),
    ("12 14 eyes", "'12 14 eyes'"),
])
def test_real_sheet_notation_still_rejects_unreadable_tokens(text, token):
    with pytest.raises(ValueError) as info:
        parse_aus(text)
    assert f"token {token}" in str(info.value) and repr(text) in str(info.value)


def test_only_notes_is_no_au():
    for text in ("ref(4)", "(k)", "eyes closed"):
        with pytest.raises(ValueError, match="no AU"):
            parse_aus(text)
