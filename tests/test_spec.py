"""Tests for the Bot API call validator: every rule has an accepting and a rejecting case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot import tghtml
from bot.emulator.spec import BotApiSpec, default_spec_path
from bot.tghtml import html_to_plain_text, validate_telegram_html, visible_length

SPEC_PATH = default_spec_path()
pytestmark = pytest.mark.skipif(SPEC_PATH is None, reason="Bot API spec (api.json) not found")


@pytest.fixture(scope="module")
def api() -> BotApiSpec:
    """The spec is ~1 MB of JSON; parse it once for the whole module."""
    assert SPEC_PATH is not None
    return BotApiSpec.load(SPEC_PATH)


def keyboard(*rows: list[dict[str, object]]) -> str:
    """reply_markup as PTB sends it over HTTP: a JSON string."""
    return json.dumps({"inline_keyboard": list(rows)})


def mentions(problems: list[str], *needles: str) -> bool:
    """True if some problem mentions all needles (keeps tests robust to wording)."""
    return any(all(n in p for n in needles) for p in problems)


# --- locating and loading ---------------------------------------------------------


def test_default_spec_path_points_at_shared_api_json() -> None:
    assert SPEC_PATH is not None
    assert SPEC_PATH.name == "api.json"
    assert SPEC_PATH.is_file()


def test_default_spec_path_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = tmp_path / "custom.json"
    monkeypatch.setenv("BOT_API_SPEC", str(target))
    assert default_spec_path() == target


def test_load_accepts_str_path(api: BotApiSpec) -> None:
    assert BotApiSpec.load(str(SPEC_PATH)).version == api.version
    assert "10.0" in api.version


# --- methods and parameters ---------------------------------------------------------


def test_valid_send_message_form_params(api: BotApiSpec) -> None:
    params = {
        "chat_id": "123456",
        "text": "Hello <b>there</b> &amp; welcome",
        "parse_mode": "HTML",
        "disable_notification": "true",
        "reply_markup": keyboard([{"text": "Go", "callback_data": "go"}]),
    }
    assert api.validate_call("sendMessage", params) == []


def test_valid_send_message_json_body(api: BotApiSpec) -> None:
    params = {
        "chat_id": 123456,
        "text": "Hi",
        "protect_content": True,
        "reply_markup": {"inline_keyboard": [[{"text": "Site", "url": "https://example.org"}]]},
    }
    assert api.validate_call("sendMessage", params) == []


def test_method_names_are_case_insensitive(api: BotApiSpec) -> None:
    assert api.validate_call("SENDMESSAGE", {"chat_id": "1", "text": "x"}) == []
    assert api.canonical_method("sendmessage") == "sendMessage"


def test_unknown_method(api: BotApiSpec) -> None:
    problems = api.validate_call("sendMesage", {"chat_id": "1", "text": "x"})
    assert mentions(problems, "unknown method", "sendMesage")
    assert mentions(problems, "sendMessage")  # suggestion


def test_unknown_parameter(api: BotApiSpec) -> None:
    problems = api.validate_call("sendMessage", {"chat_id": "1", "text": "x", "txt": "y"})
    assert mentions(problems, "unknown parameter", "txt")


def test_none_values_count_as_absent(api: BotApiSpec) -> None:
    assert api.validate_call("sendMessage", {"chat_id": "1", "text": "x", "parse_mode": None}) == []
    problems = api.validate_call("sendMessage", {"chat_id": "1", "text": None})
    assert mentions(problems, "text", "missing")


def test_missing_chat_id(api: BotApiSpec) -> None:
    problems = api.validate_call("sendMessage", {"text": "hello"})
    assert mentions(problems, "chat_id", "missing")
    assert len(problems) == 1


def test_chat_id_accepts_username_string(api: BotApiSpec) -> None:
    assert api.validate_call("sendMessage", {"chat_id": "abc", "text": "x"}) == []
    assert api.validate_call("sendMessage", {"chat_id": "@channel", "text": "x"}) == []


def test_message_id_must_be_integer(api: BotApiSpec) -> None:
    ok = {"chat_id": "1", "message_id": "42", "text": "edited"}
    assert api.validate_call("editMessageText", ok) == []
    problems = api.validate_call("editMessageText", {**ok, "message_id": "abc"})
    assert mentions(problems, "message_id", "Integer")


def test_boolean_form_values(api: BotApiSpec) -> None:
    base = {"chat_id": "1", "text": "x"}
    assert api.validate_call("sendMessage", {**base, "disable_notification": "false"}) == []
    problems = api.validate_call("sendMessage", {**base, "disable_notification": "maybe"})
    assert mentions(problems, "disable_notification", "Boolean")


def test_nested_json_must_use_json_types(api: BotApiSpec) -> None:
    markup = json.dumps({"keyboard": [["Yes", "No"]], "resize_keyboard": True})
    assert (
        api.validate_call("sendMessage", {"chat_id": "1", "text": "?", "reply_markup": markup})
        == []
    )
    markup = json.dumps({"keyboard": [["Yes", "No"]], "resize_keyboard": "true"})
    problems = api.validate_call(
        "sendMessage", {"chat_id": "1", "text": "?", "reply_markup": markup}
    )
    assert mentions(problems, "resize_keyboard", "Boolean")


def test_edit_message_text_valid(api: BotApiSpec) -> None:
    params = {
        "chat_id": "1",
        "message_id": "7",
        "text": "<i>updated</i>",
        "parse_mode": "HTML",
        "reply_markup": keyboard([{"text": "Back", "callback_data": "menu:back"}]),
    }
    assert api.validate_call("editMessageText", params) == []


def test_edit_message_text_missing_text(api: BotApiSpec) -> None:
    problems = api.validate_call("editMessageText", {"chat_id": "1", "message_id": "7"})
    assert mentions(problems, "text", "missing")


def test_delete_messages_array(api: BotApiSpec) -> None:
    assert api.validate_call("deleteMessages", {"chat_id": "1", "message_ids": "[1, 2, 3]"}) == []
    assert api.validate_call("deleteMessages", {"chat_id": 1, "message_ids": [4, 5]}) == []


def test_delete_messages_rejects_bad_items_and_counts(api: BotApiSpec) -> None:
    problems = api.validate_call("deleteMessages", {"chat_id": "1", "message_ids": '[1, "x"]'})
    assert mentions(problems, "message_ids[1]", "Integer")
    too_many = json.dumps(list(range(1, 102)))
    problems = api.validate_call("deleteMessages", {"chat_id": "1", "message_ids": too_many})
    assert mentions(problems, "message_ids", "1-100")
    problems = api.validate_call("deleteMessages", {"chat_id": "1", "message_ids": "[]"})
    assert mentions(problems, "message_ids", "1-100")


def test_json_param_that_is_not_json(api: BotApiSpec) -> None:
    problems = api.validate_call(
        "sendMessage", {"chat_id": "1", "text": "x", "reply_markup": "{inline_keyboard"}
    )
    assert mentions(problems, "reply_markup", "JSON")


# --- keyboards ------------------------------------------------------------------------


def test_nested_reply_markup_json_string(api: BotApiSpec) -> None:
    markup = keyboard(
        [{"text": "A", "callback_data": "a"}, {"text": "B", "url": "https://example.org"}],
        [{"text": "C", "callback_data": "c", "style": "success"}],
    )
    assert (
        api.validate_call("sendMessage", {"chat_id": "1", "text": "x", "reply_markup": markup})
        == []
    )


def test_nested_reply_markup_wrong_inner_type(api: BotApiSpec) -> None:
    markup = json.dumps({"inline_keyboard": [{"text": "A", "callback_data": "a"}]})  # one level
    problems = api.validate_call(
        "sendMessage", {"chat_id": "1", "text": "x", "reply_markup": markup}
    )
    assert mentions(problems, "inline_keyboard[0]", "InlineKeyboardButton")


def test_button_with_both_url_and_callback_data(api: BotApiSpec) -> None:
    button = {"text": "Both", "url": "https://example.org", "callback_data": "x"}
    problems = api.validate_call(
        "sendMessage", {"chat_id": "1", "text": "x", "reply_markup": keyboard([button])}
    )
    assert mentions(problems, "inline_keyboard[0][0]", "exactly one", "callback_data", "url")


def test_button_without_any_action(api: BotApiSpec) -> None:
    button = {"text": "Nothing", "style": "primary"}
    problems = api.validate_call(
        "sendMessage", {"chat_id": "1", "text": "x", "reply_markup": keyboard([button])}
    )
    assert mentions(problems, "inline_keyboard[0][0]", "exactly one")


def test_callback_data_64_bytes_ok(api: BotApiSpec) -> None:
    button = {"text": "Max", "callback_data": "å" * 32}  # 64 UTF-8 bytes
    params = {"chat_id": "1", "text": "x", "reply_markup": keyboard([button])}
    assert api.validate_call("sendMessage", params) == []


def test_callback_data_over_64_bytes_with_multibyte_chars(api: BotApiSpec) -> None:
    button = {"text": "Too long", "callback_data": "å" * 33}  # 33 characters, 66 bytes
    params = {"chat_id": "1", "text": "x", "reply_markup": keyboard([button])}
    problems = api.validate_call("sendMessage", params)
    assert mentions(problems, "callback_data", "1-64 bytes", "66")


def test_button_style_enumeration(api: BotApiSpec) -> None:
    button = {"text": "Red", "callback_data": "x", "style": "red"}
    params = {"chat_id": "1", "text": "x", "reply_markup": keyboard([button])}
    problems = api.validate_call("sendMessage", params)
    assert mentions(problems, "style", "danger")


def test_reply_keyboard_accepts_plain_strings_but_not_numbers(api: BotApiSpec) -> None:
    ok = json.dumps({"keyboard": [["Yes", {"text": "Share", "request_contact": True}]]})
    assert api.validate_call("sendMessage", {"chat_id": "1", "text": "?", "reply_markup": ok}) == []
    bad = json.dumps({"keyboard": [[1]]})
    problems = api.validate_call("sendMessage", {"chat_id": "1", "text": "?", "reply_markup": bad})
    assert mentions(problems, "keyboard[0][0]")


# --- text limits --------------------------------------------------------------------


def test_text_4096_chars_ok(api: BotApiSpec) -> None:
    assert api.validate_call("sendMessage", {"chat_id": "1", "text": "x" * 4096}) == []


def test_text_4097_chars_fails(api: BotApiSpec) -> None:
    problems = api.validate_call("sendMessage", {"chat_id": "1", "text": "x" * 4097})
    assert mentions(problems, "text", "1-4096", "4097")


def test_text_counts_utf16_code_units(api: BotApiSpec) -> None:
    # An emoji outside the BMP is 2 UTF-16 code units: 2048 of them are 4096 units.
    assert api.validate_call("sendMessage", {"chat_id": "1", "text": "😀" * 2048}) == []
    problems = api.validate_call("sendMessage", {"chat_id": "1", "text": "😀" * 2048 + "x"})
    assert mentions(problems, "text", "4097")


def test_text_4096_visible_chars_with_tags_passes(api: BotApiSpec) -> None:
    text = "<b>" + "x" * 2000 + "</b><i>" + "y" * 2095 + "</i>&amp;"
    assert len(text) > 4096
    assert visible_length(text) == 4096
    params = {"chat_id": "1", "text": text, "parse_mode": "HTML"}
    assert api.validate_call("sendMessage", params) == []


def test_text_4097_visible_chars_with_tags_fails(api: BotApiSpec) -> None:
    text = "<b>" + "x" * 4097 + "</b>"
    problems = api.validate_call(
        "sendMessage", {"chat_id": "1", "text": text, "parse_mode": "HTML"}
    )
    assert mentions(problems, "text", "4097", "after entity parsing")


def test_same_tags_without_parse_mode_count_raw(api: BotApiSpec) -> None:
    text = "<b>" + "x" * 4093 + "</b>"  # 4100 raw characters
    problems = api.validate_call("sendMessage", {"chat_id": "1", "text": text})
    assert mentions(problems, "text", "4100")


def test_text_empty_after_parsing(api: BotApiSpec) -> None:
    problems = api.validate_call(
        "sendMessage", {"chat_id": "1", "text": "<b> </b>", "parse_mode": "HTML"}
    )
    assert mentions(problems, "text", "empty")
    problems = api.validate_call("sendMessage", {"chat_id": "1", "text": ""})
    assert mentions(problems, "text", "empty")


def test_answer_callback_query_text_limit(api: BotApiSpec) -> None:
    assert (
        api.validate_call("answerCallbackQuery", {"callback_query_id": "q", "text": "x" * 200})
        == []
    )
    assert api.validate_call("answerCallbackQuery", {"callback_query_id": "q"}) == []
    problems = api.validate_call(
        "answerCallbackQuery", {"callback_query_id": "q", "text": "x" * 201}
    )
    assert mentions(problems, "text", "0-200", "201")


def test_caption_limit_on_media(api: BotApiSpec) -> None:
    base = {"chat_id": "1", "photo": "AgACAgIAAx0"}
    assert api.validate_call("sendPhoto", {**base, "caption": "c" * 1024}) == []
    problems = api.validate_call("sendPhoto", {**base, "caption": "c" * 1025})
    assert mentions(problems, "caption", "0-1024")


def test_markdown_counts_are_approximate_but_catch_plain_overflows(api: BotApiSpec) -> None:
    base = {"chat_id": "1", "parse_mode": "MarkdownV2"}
    marked = "*" + "x" * 4096 + "*"  # 4098 raw, 4096 visible
    assert api.validate_call("sendMessage", {**base, "text": marked}) == []
    problems = api.validate_call("sendMessage", {**base, "text": "x" * 4097})
    assert mentions(problems, "text", "4097")


# --- parse_mode and HTML within calls -----------------------------------------------


def test_parse_mode_values(api: BotApiSpec) -> None:
    for mode in ("HTML", "MarkdownV2", "Markdown", "html"):
        assert (
            api.validate_call("sendMessage", {"chat_id": "1", "text": "x", "parse_mode": mode})
            == []
        )
    problems = api.validate_call(
        "sendMessage", {"chat_id": "1", "text": "x", "parse_mode": "HTML5"}
    )
    assert mentions(problems, "parse_mode", "HTML5")


def test_html_errors_in_text_are_reported(api: BotApiSpec) -> None:
    problems = api.validate_call(
        "sendMessage", {"chat_id": "1", "text": "<b>oops", "parse_mode": "HTML"}
    )
    assert mentions(problems, "sendMessage.text", "<b>")


def test_html_is_not_checked_without_html_parse_mode(api: BotApiSpec) -> None:
    assert api.validate_call("sendMessage", {"chat_id": "1", "text": "1 < 2 & <b>"}) == []


def test_html_errors_in_caption_are_reported(api: BotApiSpec) -> None:
    params = {"chat_id": "1", "photo": "AgAC", "caption": "a <script>", "parse_mode": "HTML"}
    problems = api.validate_call("sendPhoto", params)
    assert mentions(problems, "caption", "script")


# --- unions, subtypes, uploads ------------------------------------------------------


def test_media_group_mixing_photos_and_videos(api: BotApiSpec) -> None:
    media = [{"type": "photo", "media": "attach://file0"}, {"type": "video", "media": "BAAC"}]
    params = {"chat_id": "1", "media": json.dumps(media), "file0": b"\x89PNG"}
    assert api.validate_call("sendMediaGroup", params) == []


def test_media_group_rejects_unknown_field_and_unreferenced_upload(api: BotApiSpec) -> None:
    media = [
        {"type": "photo", "media": "AgAC", "colour": "red"},
        {"type": "photo", "media": "AgAD"},
    ]
    params = {"chat_id": "1", "media": json.dumps(media), "file9": b"data"}
    problems = api.validate_call("sendMediaGroup", params)
    assert mentions(problems, "media[0]", "colour")
    assert mentions(problems, "file9")


def test_abstract_type_resolved_by_discriminator(api: BotApiSpec) -> None:
    commands = json.dumps([{"command": "start", "description": "Begin"}])
    scope = json.dumps({"type": "chat", "chat_id": 5})
    assert api.validate_call("setMyCommands", {"commands": commands, "scope": scope}) == []
    scope = json.dumps({"type": "chat"})
    problems = api.validate_call("setMyCommands", {"commands": commands, "scope": scope})
    assert mentions(problems, "scope.chat_id", "missing", "BotCommandScopeChat")


def test_integer_range_from_description(api: BotApiSpec) -> None:
    assert api.validate_call("getUpdates", {"limit": "100", "timeout": "30"}) == []
    problems = api.validate_call("getUpdates", {"limit": "101"})
    assert mentions(problems, "limit", "1-100")


# --- Telegram HTML ------------------------------------------------------------------


@pytest.mark.parametrize(
    "html",
    [
        "plain text",
        "<b>bold</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> <ins>n</ins>",
        "<s>s</s> <strike>k</strike> <del>d</del>",
        '<span class="tg-spoiler">hidden</span> <tg-spoiler>also</tg-spoiler>',
        "<b>bold <i>italic <u>underline</u></i> bold</b>",
        '<a href="https://example.org/?a=1&amp;b=2">link</a>',
        '<a href="tg://user?id=123456789">mention</a>',
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
        '<tg-time unix="1647531900" format="wDT">22:45 tomorrow</tg-time>',
        "<code>x</code> <pre>block</pre>",
        '<pre><code class="language-python">print(1)</code></pre>',
        "<blockquote>q</blockquote><blockquote expandable>long</blockquote>",
        "&lt;tag&gt; &amp; &quot;q&quot; &#65; &#x41;",
        "a > b",
        "<B>upper-case tags are fine</B>",
    ],
)
def test_valid_html(html: str) -> None:
    assert validate_telegram_html(html) == []


@pytest.mark.parametrize(
    ("html", "needle"),
    [
        ("<b>unclosed", "<b>"),
        ("<script>alert(1)</script>", "script"),
        ("a&nbsp;b", "&nbsp;"),
        ("1 < 2", "'<'"),
        ("<b><i>x</b></i>", "</b>"),
        ("Q&A", "'&'"),
        ("</b>", "</b>"),
        ("<a>no href</a>", "href"),
        ("<span>x</span>", "tg-spoiler"),
        ("<br>", "br"),
        ('<tg-emoji emoji-id="abc">👍</tg-emoji>', "emoji-id"),
        ('<tg-time unix="1647531900" format="x">t</tg-time>', "format"),
        ("&#0;", "numeric"),
        ('<a href="https://e.org>x</a>', "<a>"),
    ],
)
def test_invalid_html(html: str, needle: str) -> None:
    problems = validate_telegram_html(html)
    assert problems, html
    assert mentions(problems, needle), problems


def test_bad_nesting_reports_one_structural_error() -> None:
    assert len(validate_telegram_html("<b><i>x</b></i>")) == 1


def test_visible_length_and_text() -> None:
    assert visible_length("<b>ab</b>&amp;<i>c</i>") == 4
    assert html_to_plain_text('<a href="https://x.org">go</a> &lt;3') == "go <3"
    assert visible_length("😀") == 2  # surrogate pair
    assert visible_length("&#128512;") == 2
    assert visible_length("&nbsp;") == 6  # kept literally, as Telegram does


def test_utf16_length_helper() -> None:
    assert tghtml.utf16_length("aå😀") == 4


def test_bundled_spec_is_the_shared_one() -> None:
    """The copy shipped for fresh clones must not drift from the project's reference spec."""
    import json
    from pathlib import Path

    bundled = Path(__file__).resolve().parents[1] / "bot" / "emulator" / "botapi" / "api.json"
    shared = Path(__file__).resolve().parents[2] / "shared" / "telegram-bot-api-spec" / "api.json"
    assert bundled.is_file()
    if shared.is_file():
        assert json.loads(bundled.read_text()) == json.loads(shared.read_text())
