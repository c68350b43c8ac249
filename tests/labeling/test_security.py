"""Logins, sessions, tokens, passwords, the database file and the Content-Security-Policy."""

import os
import stat

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.factories import StaffFactory, UserFactory

LIMIT = 5  # AXES_FAILURE_LIMIT's default


def login(client, path, username, password):
    return client.post(path, {"username": username, "password": password})


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_right_password_is_refused_during_an_account_lockout(db, path):
    user = StaffFactory()
    for i in range(LIMIT):  # each guess from a different address: the account locks
        response = Client(REMOTE_ADDR=f"10.0.0.{i + 1}").post(path, {"username": user.username, "password": "wrong"})
        assert response.status_code == (429 if i == LIMIT - 1 else 200)
    locked = Client(REMOTE_ADDR="10.0.1.1").post(path, {"username": user.username, "password": "pw"})
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content
    assert "_auth_user_id" not in locked.client.session


def test_an_address_guessing_many_accounts_is_locked_out(db):
    users = [UserFactory() for _ in range(LIMIT + 1)]
    client = Client(REMOTE_ADDR="10.9.9.9")
    for user in users[:LIMIT]:
        login(client, "/login/", user.username, "wrong")
    # Another account, right password, same address: refused.
    assert login(client, "/login/", users[-1].username, "pw").status_code == 429
    # The same account from another address is fine: it was never guessed at.
    other = Client(REMOTE_ADDR="10.9.9.10")
    assert login(other, "/login/", users[-1].username, "pw").status_code == 302


def test_token_endpoint_counts_towards_the_lockout_and_answers_json(db):
    user = UserFactory()
    client = APIClient(REMOTE_ADDR="10.1.0.1")
    for _ in range(LIMIT - 1):
        assert client.post("/api/auth/token/", {"username": user.username, "password": "no"}).status_code == 400
    last = client.post("/api/auth/token/", {"username": user.username, "password": "no"})
    assert last.status_code in (400, 429)
    locked = APIClient(REMOTE_ADDR="10.1.0.2").post("/api/auth/token/", {"username": user.username, "password": "pw"})
    assert locked.status_code == 429 and "Too many failed logins" in locked.json()["detail"]
    assert not AuthToken.objects.filter(user=user).exists()


def test_token_endpoint_is_throttled_per_address(db, settings):
    from labeling.api.views.auth import TokenThrottle

    TokenThrottle.cache.clear()
    users = [UserFactory() for _ in range(12)]
    client = APIClient(REMOTE_ADDR="10.2.0.1")
    codes = [client.post("/api/auth/token/", {"username": u.username, "password": "pw"}).status_code
             for u in users]
    assert codes[:10] == [200] * 10  # QUARTET_API_TOKEN_RATE: 10/min
    assert codes[10:] == [429, 429]
    TokenThrottle.cache.clear()


@pytest.mark.parametrize("password", ["12345678", "password", "87654321987"])
def test_common_and_numeric_passwords_are_refused(db, password):
    with pytest.raises(ValidationError):
        validate_password(password, UserFactory.build(username="someone"))


def test_an_old_session_cookie_is_refused_after_logout(db):
    user = UserFactory()
    browser = Client()
    assert login(browser, "/login/", user.username, "pw").status_code == 302
    cookie = browser.cookies["sessionid"].value
    assert browser.get("/").status_code == 200
    browser.post("/logout/")
    thief = Client()
    thief.cookies["sessionid"] = cookie
    response = thief.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_deactivation_ends_sessions_and_tokens(db):
    user = UserFactory()
    browser = Client()
    login(browser, "/login/", user.username, "pw")
    token = AuthToken.objects.create(user=user)[1]
    user.is_active = False
    user.save()
    assert browser.get("/").status_code == 302
    assert APIClient().get("/api/projects/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 401
    assert not AuthToken.objects.filter(user=user).exists()


def test_the_per_request_user_lookup_follows_model_backends_rules(db):
    """labeling.sessions.UserBackend reads the user with a prepared statement: the same user as
    the ORM (converted fields included), none for an inactive user or an id that is no id."""
    from labeling.sessions import UserBackend

    user = UserFactory(first_name="Ada")
    found = UserBackend().get_user(str(user.pk))  # the session keeps the id as text
    assert (found.pk, found.username, found.first_name, found.is_active) == (user.pk, user.username, "Ada", True)
    assert found.date_joined == user.date_joined and found.check_password("pw")
    assert UserBackend().get_user("not-an-id") is None
    assert UserBackend().get_user(str(user.pk + 1000)) is None
    user.is_active = False
    user.save()
    assert UserBackend().get_user(str(user.pk)) is None


def test_tokens_are_hashed_expire_and_are_revoked_by_a_password_change(db):
    user = UserFactory()
    response = APIClient(REMOTE_ADDR="10.3.0.1").post(
        "/api/auth/token/", {"username": user.username, "password": "pw"})
    body = response.json()
    token = body["token"]
    assert body["expiry"]
    stored = AuthToken.objects.get(user=user)
    assert token not in (stored.digest, stored.token_key) and stored.expiry is not None
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/projects/").status_code == 200
    user.set_password("a-new-long-passphrase")
    user.save()
    assert api.get("/api/projects/").status_code == 401


def test_a_password_change_keeps_unrelated_saves_cheap(db, django_assert_num_queries):
    user = UserFactory()
    AuthToken.objects.create(user=user)
    with django_assert_num_queries(1):  # last_login on login: no token lookups
        user.save(update_fields=["last_login"])
    assert AuthToken.objects.filter(user=user).count() == 1


@pytest.mark.parametrize("token", ["not-hex\x00", "é" * 20, "ab" * 200])
def test_malformed_tokens_are_a_401(db, token):
    response = APIClient().get("/api/projects/", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 401 and response["Content-Type"] == "application/json"


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the file mode matters for SQLite only")
def test_sqlite_file_is_private(db):
    connection.ensure_connection()
    mode = stat.S_IMODE(os.stat(connection.settings_dict["NAME"]).st_mode)
    assert mode == 0o600


def test_pages_carry_a_content_security_policy_without_inline_allowances(admin_client):
    response = admin_client.get("/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "style-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy


@pytest.mark.parametrize("path", ["/", "/login/", "/api/docs/", "/admin/"])
def test_pages_have_no_inline_scripts_or_styles(admin_client, path):
    import re

    html = admin_client.get(path).content.decode()
    inline_scripts = [s for s in re.findall(r"<script([^>]*)>", html)
                      if "src=" not in s and "application/json" not in s]
    assert inline_scripts == []
    assert "<style" not in html
    assert not re.search(r"\son[a-z]+=\"", html)  # no inline event handlers
