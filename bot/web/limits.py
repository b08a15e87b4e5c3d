"""The staff door's rules for free text from a form or a JSON body (#11).

A reply, note or canned reply is normalised (``bot.text_input.normalise_text``: NFKC, format
characters removed, invisible-only text empty) and refused with ``CaseError("bad_character")``
(400) when it holds a lone surrogate, NUL or another control character but ``\\n`` and
``\\t``. The JSON bodies' depth and size limits are ``bot.text_input.loads_json`` and the API's
``MAX_JSON_BYTES``.
"""

from __future__ import annotations

import logging
import unicodedata

from aiohttp.http_exceptions import HttpProcessingError

from bot.domain import CaseError
from bot.text_input import clean_text, normalise_text


def staff_text(value: str) -> str:
    """The text to hand to the service, stripped (``""`` when nothing visible is left)."""
    text, refused = clean_text(value)
    if refused:
        raise CaseError("bad_character", refused)
    return text.strip()


def shown_again(value: str) -> str:
    """A refused text to show in the form again: every character that cannot be stored (or
    sent in a page) replaced by U+FFFD, so the writer sees where it was."""
    return "".join(
        "\ufffd" if (unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\n\t") else ch
        for ch in normalise_text(value)
    )


class BadRequestLogFilter(logging.Filter):
    """aiohttp's HTTP parser refusing a malformed request (a control character or NUL in a
    header, a broken request line) answers 400 and logs it as an ERROR with a traceback;
    it is the client's mistake, so it becomes one INFO line with the error's type only."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError) and 400 <= (error.code or 400) < 500:
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = (
                "malformed HTTP request refused (400): %s",
                (type(error).__name__,),
            )
            record.exc_info, record.exc_text = None, None
        return True


BAD_REQUEST_LOG_FILTER = BadRequestLogFilter()


def quiet_malformed_requests() -> None:
    """Install ``BadRequestLogFilter`` on aiohttp's server logger (once)."""
    logger = logging.getLogger("aiohttp.server")
    if BAD_REQUEST_LOG_FILTER not in logger.filters:
        logger.addFilter(BAD_REQUEST_LOG_FILTER)
