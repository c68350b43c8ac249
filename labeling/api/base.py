"""What every API view shares: the project from the URL, pagination, documented errors."""

import logging

from django.core.exceptions import SuspiciousOperation
from django.core.signals import got_request_exception
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from labeling.api.permissions import project_for_request
from labeling.api.serializers import Error
from labeling.middleware import RETRY_AFTER_S, busy_api_body, database_busy


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class ProjectScoped:
    """Mixed into a DRF view: after authentication, permissions and throttling, resolve
    ``self.project`` from the URL's slug (404 when hidden from the user, 403 when the view is
    ``staff_only`` and the user only labels)."""

    staff_only = True

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.project = project_for_request(
            user=request.user, slug=kwargs["slug"], staff_only=self.staff_only
        )


def responses(ok, *errors: int, status: int = 200, media_type: str | None = None) -> dict:
    """OpenAPI responses: the success body and the error codes this endpoint can answer, always
    including 401 (no credentials), 403 (not allowed) and 404 (no such project or object)."""
    documented = {(status, media_type) if media_type else status: ok}
    for code in sorted({401, 403, 404, *errors}):
        # 400 bodies name the fields: {"field": ["problem"]} (or {"detail": …}).
        body = OpenApiTypes.OBJECT if code == 400 else Error
        documented[code] = OpenApiResponse(body, description=_ERRORS[code])
    return documented


_ERRORS = {
    400: "invalid input",
    401: "no or bad credentials",
    403: "not allowed for this user",
    404: "no such project or object (or not visible to this user)",
    409: "conflicts with the current state",
    429: "too many requests; retry after the Retry-After header",
}


class Conflict(APIException):
    status_code = 409
    default_detail = "This conflicts with the current state."
    default_code = "conflict"


def validated(serializer_class, data, *, also_allowed: tuple[str, ...] = ()) -> dict:
    """``data`` checked by the serializer; a key it does not know (a misspelt filter, say) is a
    400 naming it, not silently ignored (a filter ignored exports everything)."""
    known = set(serializer_class().fields) | set(also_allowed)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValidationError({"detail": f"Unknown parameter{'s' if len(unknown) > 1 else ''}: "
                                         f"{', '.join(unknown)}. Known: {', '.join(sorted(known))}."})
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


log = logging.getLogger(__name__)


def exception_handler(exc, context):
    """DRF's handler, then JSON for what it leaves to Django: a refused request body (too big,
    too many fields) is a 400, anything unforeseen a logged 500, both with a JSON body."""
    response = drf_exception_handler(exc, context)
    if response is not None:
        return response
    if database_busy(exc):
        log.warning("database busy on the API: %s", exc)
        return Response(busy_api_body(), status=503, headers={"Retry-After": str(RETRY_AFTER_S)})
    if isinstance(exc, (SuspiciousOperation, RecursionError)):
        return Response({"detail": f"Bad request: {exc}" if str(exc) else "Bad request."}, status=400)
    log.error("API error", exc_info=(type(exc), exc, exc.__traceback__))
    # Django's own hook for unhandled errors (error reporting; the test client re-raises it).
    got_request_exception.send(sender=None, request=context.get("request"))
    return Response({"detail": "Internal error; it was logged."}, status=500)
