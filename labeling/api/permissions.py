"""Who may do what: annotators label the projects they belong to; staff do everything."""

from rest_framework.exceptions import NotFound, PermissionDenied

from labeling import selectors
from labeling.models import Project


def project_for_request(*, user, slug: str, staff_only: bool) -> Project:
    """The project named by the URL, if the user may use this endpoint on it.

    404 when the user cannot see the project at all (its existence is not revealed), 403 when
    they label it but the endpoint is for staff.
    """
    project = selectors.project_for_labeling(user=user, slug=slug)
    if project is None:
        raise NotFound("No such project, or you are not an annotator on it.")
    if staff_only and not user.is_staff:
        raise PermissionDenied("Annotators can only label; this is for staff.")
    return project
