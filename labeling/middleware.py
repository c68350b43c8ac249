"""A database busy past its timeout is a moment to retry, not a server error.

SQLite answers "database is locked" once its busy timeout runs out; PostgreSQL raises a lock
timeout (or a statement timeout, a deadlock, a serialization failure, too many connections).
Each leaves the request's work undone and rolled back, so the client may safely send it again:
the answer is 503 with Retry-After (JSON on the API, a small HTML fragment for htmx, a small
page otherwise) instead of an HTML 500. Every other error is left to Django.
"""

import logging

from django.db import OperationalError
from django.http import HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 2
# SQLSTATEs that mean "busy, try again": lock_not_available, query_canceled (statement
# timeout), deadlock_detected, serialization_failure, too_many_connections.
_BUSY_SQLSTATES = {"55P03", "57014", "40P01", "40001", "53300"}
_BUSY_SQLITE = ("database is locked", "database table is locked", "database is busy")
_MESSAGE = "The database is busy; nothing was saved. Please retry in a moment."


def database_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is a database that was too busy to answer in time."""
    if not isinstance(exc, OperationalError):
        return False
    if getattr(exc.__cause__, "sqlstate", None) in _BUSY_SQLSTATES:
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _BUSY_SQLITE)


def busy_api_body() -> dict:
    """The JSON body of an API answer to a busy database (the API's exception handler uses it:
    DRF handles a view's exceptions before any middleware would see them)."""
    return {"detail": _MESSAGE, "retry_after": RETRY_AFTER_S}


class DatabaseBusyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not database_busy(exception):
            return None
        logger.warning("database busy on %s %s: %s", request.method, request.path, exception)
        if request.path.startswith("/api/"):
            response = JsonResponse(busy_api_body(), status=503)
        elif request.headers.get("HX-Request"):
            response = HttpResponse(f'<p class="flash error" role="alert">{_MESSAGE}</p>', status=503)
        else:
            response = HttpResponse(
                "<!doctype html><html lang=en><meta charset=utf-8><title>Busy · Quartet</title>"
                f"<p>{_MESSAGE}</p><p><a href=\"\">Try again</a></p></html>", status=503,
            )
        response["Retry-After"] = str(RETRY_AFTER_S)
        return response
