"""One Bot API call carried in the webhook response instead of a request of its own.

Telegram runs a method the bot puts in its 2xx webhook response; the bot never
learns the result. That suits answerCallbackQuery (it only stops the button's
spinner) and saves one HTTP round trip per tap. The webhook route opens a slot
for the update it is processing; the door uses it when there is one, and calls
the API as usual in polling mode or when the slot is taken.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any


class WebhookReply:
    """Holds at most one method call for the current webhook response."""

    def __init__(self) -> None:
        self.call: dict[str, Any] | None = None
        # Set by the error handler: the update met a transient failure, so the webhook
        # answers 503 and Telegram delivers it again (nothing of it was kept).
        self.retry = False

    def offer(self, method: str, **params: Any) -> bool:
        """Take the call if the slot is free; False means: call the API yourself."""
        if self.call is not None:
            return False
        self.call = {"method": method, **{k: v for k, v in params.items() if v is not None}}
        return True


current_webhook_reply: ContextVar[WebhookReply | None] = ContextVar(
    "current_webhook_reply", default=None
)
