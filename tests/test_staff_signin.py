"""Sign-in with its brake, as one service for the staff pages and the JSON API."""

from __future__ import annotations

from typing import Any, cast

from bot.domain import StaffUser
from bot.services.signin import FREE_FAILURES, SignInService, SignInThrottle
from bot.services.staff import StaffService

ANNA = StaffUser(id=1, username="anna", role="staff", teams=frozenset({"laholm"}))


class _Accounts:
    """Only anna with the one right password; counts what reached the password check."""

    def __init__(self) -> None:
        self.checked = 0

    async def authenticate(self, username: str, password: str) -> StaffUser | None:
        self.checked += 1
        return ANNA if (username, password) == ("anna", "right password") else None


def _service(now: list[float]) -> tuple[SignInService, _Accounts]:
    accounts = _Accounts()
    throttle = SignInThrottle(clock=lambda: now[0])
    return SignInService(cast(StaffService, cast(Any, accounts)), throttle), accounts


async def test_after_the_free_failures_even_the_right_password_waits() -> None:
    now = [1000.0]
    service, accounts = _service(now)
    for _ in range(FREE_FAILURES):
        result = await service.sign_in(" anna ", "wrong", "10.0.0.1")
        assert result.user is None and result.retry_after == 0 and result.username == "anna"
    locked = await service.sign_in("anna", "right password", "10.0.0.2")
    assert locked.user is None and locked.retry_after > 0
    assert accounts.checked == FREE_FAILURES  # a locked name never reaches argon2
    now[0] += locked.retry_after
    assert (await service.sign_in("anna", "right password", "10.0.0.2")).user == ANNA


async def test_a_success_clears_the_name_and_empty_fields_are_failures() -> None:
    now = [0.0]
    service, accounts = _service(now)
    assert (await service.sign_in("", "", None)).user is None
    assert accounts.checked == 0  # nothing to check, still counted
    for _ in range(FREE_FAILURES - 2):
        await service.sign_in("anna", "wrong", "10.0.0.1")
    assert (await service.sign_in("anna", "right password", "10.0.0.3")).user == ANNA
    for _ in range(FREE_FAILURES - 1):
        assert (await service.sign_in("anna", "wrong", "10.0.0.4")).retry_after == 0
