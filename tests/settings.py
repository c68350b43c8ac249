"""Settings for the test suite: production settings with test-only secrets and plain HTTP."""

import os
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("SESSION_COOKIE_SECURE", "0")
os.environ.setdefault("CSRF_COOKIE_SECURE", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Tests never share a broker folder with a `make run` worker on the same machine (worker
# processes started by the tests inherit this).
os.environ.setdefault("QUARTET_BROKER_DIR", str(Path(__file__).resolve().parents[1] / "var" / "test-broker"))
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from config.settings import *  # noqa: E402,F403
from config.settings import STORAGES  # noqa: E402

# Tests do not run collectstatic; serve static files from the finders.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not the shared-cache in-memory default: shared cache has table locks that ignore
    # the busy timeout, so threads would fail instead of waiting their turn as in production.
    VAR_DIR.mkdir(exist_ok=True)  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}  # noqa: F405

# CI sets REDIS_URL: the suite then talks to a real Redis broker; otherwise the filesystem one.
if os.environ.get("REDIS_URL") and not os.environ.get("CELERY_BROKER_URL"):
    CELERY_BROKER_URL = os.environ["REDIS_URL"]
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
