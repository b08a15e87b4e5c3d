"""The helpline team's web door: sign-in, the queue, case pages, the JSON API.

``/staff`` and ``/api/v1`` are aiohttp sub-applications (``app``) whose middlewares
own sessions, CSRF, sign-in checks and the refusal-to-status table (``refusals``);
handlers (``views``, ``api``, ``stats_views``) parse the request, call a service,
render. The services own the rules, the permissions and sign-in throttling
(``bot.services.signin``); this package also owns the page language and the OpenAPI
document (``openapi.yaml``).
"""

from bot.web.staff.app import StaffWeb

__all__ = ["StaffWeb"]
