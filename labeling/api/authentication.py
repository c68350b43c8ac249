"""API token authentication: knox tokens (stored hashed, expiring, revocable). Kept apart from
the views: DRF imports authentication classes while its own views module is loading."""

import re

from knox import auth as knox_auth
from rest_framework import exceptions

# knox tokens are hex; anything else is refused before it reaches a query (a NUL byte in a
# filter would be a database error on PostgreSQL, a non-UTF-8 byte a decoding error).
_TOKEN = re.compile(rb"[0-9a-f]{16,128}")


class TokenAuthentication(knox_auth.TokenAuthentication):
    """knox's token check, with malformed tokens refused as 401 up front."""

    def authenticate_credentials(self, token: bytes):
        if not _TOKEN.fullmatch(token):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(token)
