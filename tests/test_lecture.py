"""melib.lecture (the source shown in the notebooks is the real one) and melib.progress's print-once notes."""
import pytest

from melib import lecture
from melib.methods.micro_au_clip import losses


def test_source_text_names_file_and_line_and_holds_the_def():
    text = lecture.source_text(losses.miaucl)
    header, body = text.split("\n", 1)
    assert header.startswith("# melib/methods/micro_au_clip/losses.py:") and header.endswith("(melib.methods.micro_au_clip.losses.miaucl)")
    assert body.startswith("def miaucl(")


def test_source_text_from_a_marker_skips_the_docstring():
    full = lecture.source_text(lecture.source_text)
    short = lecture.source_text(lecture.source_text, start="lines, first =")
    assert len(short) < len(full) and "Parameters" not in short and "lines, first =" in short
    with pytest.raises(ValueError, match="does not occur"):
        lecture.source_text(lecture.source_text, start="no such text")


def test_print_once_says_a_note_once_per_process(capsys):
    from melib import progress

    for _ in range(3):
        progress.print_once("dropped 3 of 9 clips")
    progress.print_once("another note")
    assert capsys.readouterr().out.splitlines() == ["dropped 3 of 9 clips", "another note"]
