"""Account security: revoking API tokens and sessions, and the SQLite file's permissions."""

import os
import stat

from django.contrib.sessions.models import Session
from django.utils import timezone
from knox.models import AuthToken


def tokens_revoke_all(*, user_id: int) -> int:
    """Delete every API token of the user (after a password change or deactivation). Returns
    how many there were."""
    deleted, _ = AuthToken.objects.filter(user_id=user_id).delete()
    return deleted


def sessions_end_all(*, user_id: int) -> int:
    """Delete the user's live database sessions, so every browser they are logged in with is
    logged out at its next request. Reads each live session (there are few per site)."""
    ended = [
        s.pk for s in Session.objects.filter(expire_date__gt=timezone.now())
        if str(s.get_decoded().get("_auth_user_id")) == str(user_id)
    ]
    Session.objects.filter(pk__in=ended).delete()
    return len(ended)


def user_credentials_changed(*, user_id: int, password_changed: bool, deactivated: bool) -> None:
    """What a password change or a deactivation ends: the user's API tokens always; their
    sessions on deactivation (a password change already ends the others through Django's session
    hash, and keeps the session of the person who made it)."""
    if password_changed or deactivated:
        tokens_revoke_all(user_id=user_id)
    if deactivated:
        sessions_end_all(user_id=user_id)


def sqlite_file_private(path: str) -> None:
    """Make the SQLite database file readable by its owner only (0600); SQLite gives its -wal
    and -shm files the same mode. A missing or in-memory database is left alone."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    if mode != 0o600:
        os.chmod(path, 0o600)
