"""Input that cannot crash anything (#11): text normalisation and refusal, JSON depth and size
limits on every JSON route, same-site ``next``."""

from __future__ import annotations

import pytest

from bot.text_input import clean_text, normalise_text, refuse_reason

# --- the text rules (base layer) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\u200bb", "ab"),  # zero-width space
        ("\u202eevil", "evil"),  # bidi override
        ("\ufeffhej", "hej"),  # byte-order mark
        ("ｆｕｌｌ", "full"),  # NFKC: full-width letters
        ("a\r\nb\rc", "a\nb\nc"),  # browsers send CRLF
        ("a\u2028b", "a\nb"),
        ("👨\u200d👩", "👨\u200d👩"),  # a joiner between visible characters stays
        ("\u200dx\u200d", "x"),  # ... not at the edges
        ("می\u200cخواهم", "می\u200cخواهم"),  # Persian's non-joiner
        ("ok\t\n", "ok\t\n"),
    ],
)
def test_normalise_text(raw: str, expected: str) -> None:
    assert normalise_text(raw) == expected


@pytest.mark.parametrize(
    "invisible",
    ["\u200b", "\u200b\u200c\u200d", " \u3000\u00a0\u2028\u2029", "\ufe0f", "\u3164", "\u2060\t\n"],
)
def test_invisible_only_text_is_empty(invisible: str) -> None:
    assert normalise_text(invisible) == ""


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("x\ud800", "surrogate"),
        ("\udfffx", "surrogate"),
        ("a\x00b", "nul"),
        ("a\x07b", "control"),
        ("a\x1bb", "control"),
        ("a\x7fb", "control"),
        ("a\x85b", "control"),
        ("a\x0bb", "control"),
        ("fine\ttext\n", None),
        ("", None),
    ],
)
def test_refuse_reason(raw: str, reason: str | None) -> None:
    assert refuse_reason(raw) == reason
    assert clean_text(raw)[1] == reason  # normalising neither hides nor adds a refusal
