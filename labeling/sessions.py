"""The session and the user that every request reads, through prepared statements.

Django's database session store and ``ModelBackend`` each build an ORM query per request; on
the labeling hot path those two lookups were a fifth of a decision's CPU, and PostgreSQL planned
both anew every time. These subclasses read the same rows with the same rules through
``labeling.prepared`` and change nothing else: sessions are still rows in ``django_session``
(logout and deactivation end them at once, on every web process), saved by Django's code.

settings: ``SESSION_ENGINE = "labeling.sessions"`` and ``labeling.sessions.UserBackend`` in
``AUTHENTICATION_BACKENDS`` in place of ``ModelBackend``.
"""

import functools

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.sessions.backends import db
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from labeling import prepared


class SessionStore(db.SessionStore):
    def load(self):
        """The session's data if its row exists and has not expired, else an empty session
        (and no key, so a new one is made on save): ``db.SessionStore.load``'s rule."""
        table = self.model._meta.db_table
        found = prepared.rows(
            f"SELECT session_data FROM {table} WHERE session_key = %s AND expire_date > %s",
            [self.session_key, connection.ops.adapt_datetimefield_value(timezone.now())],
        )
        if not found:
            self._session_key = None
            return {}
        return self.decode(found[0][0])


@functools.cache
def _user_sql(User, vendor: str) -> str:
    return f"SELECT {prepared.columns(User, 'u')} FROM {User._meta.db_table} u WHERE u.{User._meta.pk.column} = %s"


class UserBackend(ModelBackend):
    """``ModelBackend`` whose per-request user lookup is one prepared statement."""

    def get_user(self, user_id):
        User = get_user_model()
        try:  # the session stores the id as text; the ORM would convert it the same way
            user_id = User._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        found = prepared.instance(User, _user_sql(User, connection.vendor), [user_id])
        if found is None:
            return None
        user = found[0]
        return user if self.user_can_authenticate(user) else None
