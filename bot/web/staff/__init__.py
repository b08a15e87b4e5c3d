"""The helpline team's web door: sign-in, the queue, case pages, the JSON API.

Thin views: parse the request, call ``CaseService`` / ``StaffService``, render.
The services own the rules and the permissions; this package owns sessions,
CSRF, sign-in throttling, the language of the page and the OpenAPI document.
"""

from bot.web.staff.app import StaffWeb

__all__ = ["StaffWeb"]
