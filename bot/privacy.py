"""Pseudonyms: the only form in which a chat is ever known to storage.

HMAC-SHA256 keyed with the deployment's SECRET_KEY: the same chat always maps to
the same key (so state survives restarts), but without the secret nobody can go
from a pseudonym back to a chat id, or test a guessed chat id against the table.
Only the newest key in SECRET_KEYS pseudonymises; since a pseudonym cannot be inverted,
rotation moves each chat's state at its next update instead (``bot.chat.memory``).
"""

from __future__ import annotations

import hashlib
import hmac


def chat_pseudonym(secret_key: bytes, chat_id: int) -> str:
    return hmac.new(secret_key, str(chat_id).encode(), hashlib.sha256).hexdigest()
