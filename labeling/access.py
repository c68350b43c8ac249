"""Who may do what, in one place: every page view asks here (the API's rules live beside its
permission classes in labeling/api/permissions.py)."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from labeling.models import Project


def project_for_staff(request, slug: str) -> Project:
    """The project for a staff-only page. Non-staff get 403 before the project is looked up, so
    the answer never tells them which projects exist; staff get 404 for an unknown slug."""
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can see and steer this page.")
    return get_object_or_404(Project, slug=slug)
