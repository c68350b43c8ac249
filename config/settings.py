"""Quartet settings, read from environment variables (see .env.example).

Embedded default: SQLite and artifacts under var/, no servers needed.
Production: set DATABASE_URL, CELERY_BROKER_URL, SECRET_KEY, ALLOWED_HOSTS.
"""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
# Outside DEBUG there is no fallback: production refuses to start without a real key.
SECRET_KEY = env("SECRET_KEY") if not DEBUG else env("SECRET_KEY", default="insecure-dev-only-key")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "knox",  # API tokens: stored hashed, expiring, revocable
    "axes",  # login lockouts (per account and per address)
    "csp",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI assets served from here: no CDN
    "labeling",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # A database busy past its timeout answers 503 + Retry-After instead of an HTML 500.
    "labeling.middleware.DatabaseBusyMiddleware",
    # Last, as django-axes asks: it turns a lockout raised during authentication into its answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'quartet.sqlite3'}"),
}
# Persistent connections, one per web thread, on both databases: opening one per request cost a
# connect, the connection's setup (PRAGMAs, file mode; a time zone query on PostgreSQL) and on
# SQLite a WAL checkpoint when the last connection closed, on every decision. Health checks
# (a no-op on SQLite) replace a connection the database dropped before a request uses it.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions serialize writers up front, so the task hand-out never hits
    # "database is locked" half-way through; WAL lets readers go on while one writes.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # Waiting on a row lock ends like SQLite's busy timeout, as an error the web answers with
    # 503 + Retry-After, instead of holding a web thread for as long as the lock lasts.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "options", f"-c lock_timeout={env.int('QUARTET_DB_LOCK_TIMEOUT_MS', default=20_000)}"
    )
    # The queue's statements (labeling/queue_sql.py) are prepared on the server after this many
    # executions on a connection, so a decision's dozen statements are not parsed and planned
    # anew each time; the ORM's statements are never prepared. 0 turns it off (for a pooler in
    # transaction mode that cannot keep prepared statements).
    DATABASES["default"]["OPTIONS"].setdefault(
        "prepare_threshold", env.int("QUARTET_DB_PREPARE_THRESHOLD", default=5) or None
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-axes checks every password login (the login page, the admin's, the API token endpoint)
# before Django's backend runs a PBKDF2 hash, and refuses during a lockout even the right password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend with its per-request user lookup as a prepared statement (labeling/sessions.py).
    "labeling.sessions.UserBackend",
]
AXES_FAILURE_LIMIT = env.int("QUARTET_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("QUARTET_LOGIN_LOCKOUT_MINUTES", default=15))
# Each listed parameter locks on its own: an account guessed at from many addresses, and an
# address guessing at many accounts.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Behind a TLS proxy the client's address is the last one the proxy appended.
AXES_IPWARE_PROXY_COUNT = env.int("QUARTET_PROXY_COUNT", default=0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "labeling:project_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("QUARTET_STATIC_ROOT", default=str(BASE_DIR / "var" / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # The manifest storage in DEBUG too: `make run`'s collectstatic then writes the manifest that
    # production settings need (with DEBUG on, {% static %} still links the plain names).
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Sessions live in the database, so logging out (or deactivating the user, or changing the
# password) ends them everywhere; a copied cookie is worth nothing afterwards. Not cached_db with
# a per-process cache: another web worker would go on trusting its cached copy after logout.
# labeling.sessions is Django's database store whose per-request read is a prepared statement.
SESSION_ENGINE = env("SESSION_ENGINE", default="labeling.sessions")
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=3 * 24 * 3600)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy: scripts, styles, images and fetches from this origin only; no inline
# script or style (htmx's injected indicator style is switched off in base.html), no framing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Celery: the web process only enqueues; workers run the rounds (see config/celery.py).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
BROKER_DIR = Path(env("QUARTET_BROKER_DIR", default=str(VAR_DIR / "broker")))
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        # Producer and consumer share one folder: kombu's filesystem transport needs no server.
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {}
)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # one round at a time per worker process
CELERY_TASK_ROUTES = {
    "labeling.tasks.training_round": {"queue": "training"},
    "labeling.tasks.sampling_round": {"queue": "sampling"},
    "labeling.tasks.loop_safety_net": {"queue": "sampling"},
}
CELERY_BEAT_SCHEDULE = {
    "loop-safety-net": {"task": "labeling.tasks.loop_safety_net", "schedule": 60.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Application settings.
QUARTET_ARTIFACTS_DIR = Path(env("QUARTET_ARTIFACTS_DIR", default=str(VAR_DIR / "artifacts")))
# Where model versions live: empty = the folder QUARTET_ARTIFACTS_DIR; for several machines an
# object store URL such as s3://bucket/prefix (s3fs; credentials and AWS_ENDPOINT_URL from the
# usual AWS_* variables). Workers only; the web process stores these URLs, never opens them.
QUARTET_ARTIFACTS_URL = env("QUARTET_ARTIFACTS_URL", default="")
# Each worker machine's cache of versions loaded from an object store.
QUARTET_ARTIFACTS_CACHE = Path(env("QUARTET_ARTIFACTS_CACHE", default=str(VAR_DIR / "artifact-cache")))
# How a worker runs reward and policy rounds (training.config.LaunchConfig): 1 process = in the
# worker itself; more = a child `accelerate launch` over that many ranks (one per GPU).
QUARTET_LAUNCH_PROCESSES = env.int("QUARTET_LAUNCH_PROCESSES", default=1)
QUARTET_LAUNCH_MIXED_PRECISION = env("QUARTET_LAUNCH_MIXED_PRECISION", default="")  # no|fp16|bf16
QUARTET_LAUNCH_CONFIG_FILE = env("QUARTET_LAUNCH_CONFIG_FILE", default="")  # DeepSpeed/FSDP yaml
# Text generation engine: auto (vLLM where installed and CUDA present), vllm, or transformers.
QUARTET_GENERATION_BACKEND = env("QUARTET_GENERATION_BACKEND", default="auto")
# The committed starter policy the demo project uses as its initial policy ρ.
QUARTET_STARTER_POLICY = env("QUARTET_STARTER_POLICY", default=str(BASE_DIR / "training" / "starter"))
# The chat starter (a chat template, tuned on instructions): the demo is a chat project on it
# when it is there, and falls back to the text starter otherwise.
QUARTET_CHAT_STARTER_POLICY = env(
    "QUARTET_CHAT_STARTER_POLICY", default=str(BASE_DIR / "training" / "chat_starter")
)
QUARTET_DEFAULT_LEASE_SECONDS = env.int("QUARTET_DEFAULT_LEASE_SECONDS", default=600)
# A running round whose worker sent no heartbeat for this long is marked failed by beat.
QUARTET_RUN_STALE_SECONDS = env.int("QUARTET_RUN_STALE_SECONDS", default=120)
QUARTET_HEARTBEAT_SECONDS = env.float("QUARTET_HEARTBEAT_SECONDS", default=10.0)
# Hard limit on one round; a round past it is killed and marked failed.
QUARTET_ROUND_TIME_LIMIT = env.int("QUARTET_ROUND_TIME_LIMIT", default=6 * 3600)
# Where a project's policy_source may point: folders under these roots only (comma-separated).
QUARTET_MODEL_ROOTS = [
    Path(p) for p in env.list(
        "QUARTET_MODEL_ROOTS", default=[str(BASE_DIR / "training"), str(QUARTET_ARTIFACTS_DIR)]
    )
]
# Uploads (imports): the largest file accepted, in megabytes; a bigger one is refused unread.
QUARTET_MAX_UPLOAD_MB = env.int("QUARTET_MAX_UPLOAD_MB", default=100)
# Uploads above this many bytes go to a temporary file instead of memory (Django's default 2.5 MB).
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# Failing automatic rounds: wait this long after the first failure, doubling each time, and
# switch the project's loop off after this many failures in a row.
QUARTET_LOOP_RETRY_SECONDS = env.int("QUARTET_LOOP_RETRY_SECONDS", default=60)
QUARTET_LOOP_MAX_FAILURES = env.int("QUARTET_LOOP_MAX_FAILURES", default=3)
# The reward models' anchor set: the first K tasks sampled from ρ to get two labels, held out of
# reward training; every reward model's agreement is measured on it (labeling/selectors/anchor.py).
QUARTET_ANCHOR_TASKS = env.int("QUARTET_ANCHOR_TASKS", default=100)

# REST API (labeling/api/): tokens for scripts, the session for the browser.
REST_FRAMEWORK = {
    # Token first: an anonymous request gets 401 with a WWW-Authenticate challenge.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "labeling.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "labeling.api.base.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Every error, even one raised while parsing, answers JSON (never Django's HTML 500 page).
    "EXCEPTION_HANDLER": "labeling.api.base.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "labeling.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_RATES": {
        # Per address, on the token endpoint: password guessing costs a hash each time.
        "token": env("QUARTET_API_TOKEN_RATE", default="10/min"),
        # Per user, on the labeling endpoints (next, submit, skip, flag, undo): generous for a
        # person, a brake for a runaway script.
        "labeling": env("QUARTET_API_LABELING_RATE", default="1200/min"),
    },
}
# API tokens: hashed (SHA-512) in the database, shown once, expiring, revoked on password change.
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env.int("QUARTET_API_TOKEN_HOURS", default=24 * 7)),
    "AUTH_HEADER_PREFIX": "Token",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Quartet API",
    "DESCRIPTION": "Projects, labeling, training runs, imports and preference exports.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ChoiceKindEnum": "labeling.models.Choice.Kind",
        "TaskStatusEnum": "labeling.models.ComparisonTask.Status",
        "RunKindEnum": "labeling.models.TrainingRun.Kind",
        "RunStatusEnum": "labeling.models.TrainingRun.Status",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
