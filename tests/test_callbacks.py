"""Callback codes: every encoder round-trips, fits in 64 bytes, and junk parses to None."""

from __future__ import annotations

import pytest

from bot import callbacks
from bot.callbacks import Answer, Go, SetLanguage, SetTeam, parse

LONG_ID = "a" * 23 + "z"  # 24 characters, the longest node id the content allows
LONG_ID_2 = "b" + "_9" * 11 + "y"  # 24 characters, digits and underscores


@pytest.mark.parametrize(
    ("code", "action"),
    [
        (callbacks.go("home"), Go("home")),
        (callbacks.go("worry_signs", 3), Go("worry_signs", 3)),
        (callbacks.go("emergency", 0, "worry"), Go("emergency", 0, "worry")),
        (callbacks.go("talk_start", 12, "home"), Go("talk_start", 12, "home")),
        (callbacks.go(LONG_ID, 99, LONG_ID_2), Go(LONG_ID, 99, LONG_ID_2)),
        (callbacks.answer("worry_check", "several"), Answer("worry_check", "several")),
        (callbacks.answer(LONG_ID, "x" * 24), Answer(LONG_ID, "x" * 24)),
        (callbacks.set_language("sv"), SetLanguage("sv")),
        (callbacks.set_language("ckb"), SetLanguage("ckb")),
        (callbacks.set_language("pt-BR"), SetLanguage("pt-BR")),
        (callbacks.set_team("laholm"), SetTeam("laholm")),
        (callbacks.set_team("none"), SetTeam("none")),
        (callbacks.set_team(LONG_ID), SetTeam(LONG_ID)),
    ],
)
def test_encoded_action_parses_back(code: str, action: object) -> None:
    assert parse(code) == action


@pytest.mark.parametrize("action", callbacks.FIXED_ACTIONS, ids=repr)
def test_every_action_without_arguments_round_trips(action: callbacks.Action) -> None:
    assert parse(action.data) == action


def test_codes_without_arguments_are_distinct() -> None:
    codes = [action.data for action in callbacks.FIXED_ACTIONS]
    assert len(set(codes)) == len(codes)


@pytest.mark.parametrize(
    ("code", "action"),
    [
        ("k:c:child", callbacks.AnswerRequest("concerns", "child")),
        ("k:r", callbacks.AnswerRequest("reply_via", None)),  # an old button: out of date
        ("k:l:ar", callbacks.AnswerRequest("language", "ar")),
        ("k:e", callbacks.EditRequest()),
        ("k:e:topic", callbacks.EditRequest("topic")),
        ("k:fb:partly", callbacks.Feedback("partly")),
        ("k:ok:x", callbacks.SendRequest()),  # the value of a plain step is not read
        ("k:zap:1", callbacks.OutdatedRequestStep("zap", "1")),
    ],
)
def test_request_steps_parse_to_typed_actions(code: str, action: callbacks.Action) -> None:
    assert parse(code) == action
    assert parse(action.data) == action


def test_page_zero_without_back_is_the_short_form() -> None:
    assert callbacks.go("home", 0) == "g:home"


@pytest.mark.parametrize(
    "code",
    [
        callbacks.go(LONG_ID, 99, LONG_ID_2),
        callbacks.answer(LONG_ID, "o" * 24),
        callbacks.set_team(LONG_ID),
        callbacks.set_language("abc-12345678"),
        *(action.data for action in callbacks.FIXED_ACTIONS),
    ],
)
def test_longest_codes_fit_in_64_bytes_of_ascii(code: str) -> None:
    assert code.isascii()
    assert len(code.encode()) <= callbacks.MAX_BYTES == 64


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "g:",
        "g:Home",  # upper case is not a node id
        "g:home:abc",
        "g:home:123",  # at most two page digits
        "g:" + "a" * 25,  # node id over 24 characters
        "g:home:1:Back",
        "a:worry_check",
        "a:worry_check:",
        "l:svenska",
        "l:s",
        "t:",
        "t:Laholm",
        "x:y",
        "q",
        "garbage",
        "g:home ",
        " g:home",
        "g:hemö",  # non-ASCII
        "l:sv\u00e9",
        "g:" + "a" * 70,  # too long
        "t:" + "a" * 63,
    ],
)
def test_garbage_parses_to_none(data: str | None) -> None:
    assert parse(data) is None


@pytest.mark.parametrize("data", ["X", "C", "D", "c:n", "d:n", "d:y:c", "L:", "cancel"])
def test_unknown_simple_codes_parse_to_none(data: str) -> None:
    assert parse(data) is None
