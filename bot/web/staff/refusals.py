"""One table from a service's refusal (``CaseError.reason``) to an HTTP status and words.

The pages and the JSON API both answer from it, so a refusal has the same status on
either door: bad input is 400, an unknown case 404, and a request whose state does not
allow the step 409. Another team's case is the same 404 with the same words as an unknown
one (``lookups`` answers both as "not_found"): a refusal must not say that a code exists.
Too many missed case codes is 429.
"""

from __future__ import annotations

from typing import NamedTuple

from bot.i18n import N_


class Refusal(NamedTuple):
    status: int
    message: str  # English msgid; pages translate it, the API sends it as "message"


REFUSALS: dict[str, Refusal] = {
    "not_found": Refusal(404, N_("There is no request with that case code.")),
    # The same as "not_found": no existence oracle for other teams' codes.
    "forbidden": Refusal(404, N_("There is no request with that case code.")),
    "too_many_lookups": Refusal(
        429, N_("Too many case codes that do not exist. Wait a few minutes and try again.")
    ),
    "not_open": Refusal(409, N_("This request is not open any more.")),
    "not_claimed_by_you": Refusal(409, N_("Claim the request before you do this.")),
    "already_claimed": Refusal(409, N_("Someone else has already claimed this request.")),
    "closed": Refusal(409, N_("This request is closed.")),
    "not_closed": Refusal(409, N_("Only a closed request can be reopened.")),
    "retention_passed": Refusal(
        409, N_("This request can no longer be reopened: its texts have been deleted.")
    ),
    "invalid": Refusal(
        400, N_("Something in the form was missing or not valid. Nothing was changed.")
    ),
    "unknown_team": Refusal(400, N_("There is no such team.")),
    "too_long": Refusal(400, N_("The text is too long. Nothing was sent.")),
    "bad_character": Refusal(
        400,
        N_(
            "The text contains a character that cannot be stored (a control character or "
            "a broken one). Nothing was changed."
        ),
    ),
}
# A reason a newer service may raise before this table knows it: a conflict, said plainly.
UNKNOWN = Refusal(409, REFUSALS["invalid"].message)


def refusal(reason: str) -> Refusal:
    """The status and words for a refusal; never a KeyError for a new reason."""
    return REFUSALS.get(reason, UNKNOWN)
