"""Canned replies for one request: the prepared texts of its team in its reply language.

The staff page and the JSON API both ask here, so which replies a case offers is
decided once (the team and language of the case, and only while someone still has to
answer it for the form; the API lists them for any case its caller may see).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import ACTIVE_STATUSES, StaffUser
from bot.services.cases import CaseService, QueueItem


@dataclass(frozen=True)
class CaseCannedReplies:
    team_id: str
    language: str
    replies: list[str]


@dataclass(frozen=True)
class CannedReplies:
    cases: CaseService

    async def for_case(self, staff: StaffUser, code: str) -> CaseCannedReplies:
        """The replies of the case's team and language (the case must be visible to staff)."""
        item = (await self.cases.detail(staff, code)).item
        replies = await self.cases.canned_replies(staff, item.team_id, item.language)
        return CaseCannedReplies(item.team_id, item.language, replies)

    async def offered(self, staff: StaffUser, item: QueueItem) -> list[str]:
        """What the reply form offers: nothing once the request is closed or withdrawn."""
        if item.status not in ACTIVE_STATUSES:
            return []
        return await self.cases.canned_replies(staff, item.team_id, item.language)
