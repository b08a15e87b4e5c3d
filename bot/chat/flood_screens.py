"""What the relative is told when they write faster than the bot, or the team, can take.

Two limits (issue #11): the per-chat budget for incoming updates (``bot.services.flood``)
and the cap on the relative's messages stored per request per hour (``CaseService``).
Each is told calmly, in the chat's language, with 112 one tap away.
"""

from __future__ import annotations

from bot.content.render import Renderer, Screen


def slow_down(renderer: Renderer, lang: str) -> Screen:
    """The one notice when a chat goes over its budget; what follows is not read."""
    _ = renderer.t(lang).gettext
    return renderer.notice(
        lang,
        _(
            "⏸ You are writing faster than I can keep up with. Please slow down a little: "
            "for a short while, what you send is neither read nor passed on. Then carry on "
            "as usual."
        ),
        with_home=False,
    )


def held_back_first(renderer: Renderer, lang: str) -> str:
    """The hourly cap was reached: said once, above the current screen."""
    _ = renderer.t(lang).gettext
    return _(
        "The team already has many messages from you this hour. They will read your earlier "
        "messages first, so this one and the next ones this hour are not passed on. You can "
        "write again later."
    )


def held_back_again(renderer: Renderer, lang: str) -> str:
    """A further message over the cap in the same hour."""
    _ = renderer.t(lang).gettext
    return _("Not passed on: the team will read your earlier messages first.")
