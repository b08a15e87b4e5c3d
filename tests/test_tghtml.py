"""The one Telegram-HTML parser: visible text, entities in UTF-16 units, and refusals.

The content check validates with it and the emulator renders with it, so these cases
pin what both see (the validator's rules themselves are in test_spec.py).
"""

from __future__ import annotations

import pytest

from bot.tghtml import parse_telegram_html, utf16_length, visible_length


def test_entities_are_counted_in_utf16_units() -> None:
    parsed = parse_telegram_html("😀 <b>fet</b> &amp; <i>kursiv</i>")
    assert parsed.text == "😀 fet & kursiv"
    assert parsed.failure is None and parsed.problems == []
    assert parsed.entities == [
        {"type": "bold", "offset": 3, "length": 3},
        {"type": "italic", "offset": 9, "length": 6},
    ]
    assert visible_length("😀 <b>fet</b>") == utf16_length("😀 fet") == 6


@pytest.mark.parametrize(
    ("html", "entity"),
    [
        (
            '<pre><code class="language-python">x</code></pre>',
            {"type": "pre", "language": "python"},
        ),
        ("<blockquote expandable>x</blockquote>", {"type": "expandable_blockquote"}),
        ('<tg-emoji emoji-id="5368324170671202286">x</tg-emoji>', {"type": "custom_emoji"}),
        ('<span class="tg-spoiler">x</span>', {"type": "spoiler"}),
        ('<a href="https://x.se">x</a>', {"type": "text_link", "url": "https://x.se"}),
    ],
)
def test_each_tag_gives_its_entity(html: str, entity: dict[str, str]) -> None:
    (found,) = parse_telegram_html(html).entities
    assert found.items() >= entity.items() and found["offset"] == 0 and found["length"] == 1


def test_empty_entities_are_dropped_and_time_is_text_only() -> None:
    parsed = parse_telegram_html('<b></b><tg-time unix="1700000000">i dag</tg-time>')
    assert parsed.text == "i dag" and parsed.entities == []


@pytest.mark.parametrize("html", ["<div>nej</div>", "<b>open", "a < b", "<b><i>x</b></i>"])
def test_what_telegram_refuses_fails_with_its_reason(html: str) -> None:
    parsed = parse_telegram_html(html)
    assert parsed.failure is not None and parsed.failure == parsed.problems[0]


def test_a_bare_ampersand_is_a_problem_but_not_a_refusal() -> None:
    parsed = parse_telegram_html("Tom & Jerry")
    assert parsed.failure is None and parsed.text == "Tom & Jerry"
    assert any("&amp;" in p for p in parsed.problems)
