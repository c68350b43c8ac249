import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_python(code, **env):
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_importing_the_wsgi_application_does_not_import_torch():
    result = run_python(
        # training.chat (the torch-free definition of a conversation), training.data (the
        # plain dataclasses selectors hand to rounds) and training.config (settings and their
        # check on save) are the parts of training/ the web process may load; all three import
        # only the standard library.
        "import sys, config.wsgi; "
        "heavy = [m for m in sys.modules if m in ('torch', 'transformers', 'trl') "
        "or (m.startswith('training') and m not in "
        "('training', 'training.chat', 'training.data', 'training.config'))]; "
        "print(heavy); sys.exit(1 if heavy else 0)",
        DJANGO_SETTINGS_MODULE="config.settings",
        SECRET_KEY="x" * 60,
        DEBUG="0",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_settings_pass_check_deploy_without_warnings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k not in (
                "DEBUG", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
                "DJANGO_ALLOW_ASYNC_UNSAFE",  # set by the browser tests' Playwright fixture
            )},
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SECRET_KEY": "k3y-" + "Zq9!xR2@vT7#bN4$mW8%" * 3,
            "ALLOWED_HOSTS": "quartet.example.org",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_secret_key():
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_collectstatic_with_production_storage(tmp_path):
    """The manifest storage rewrites every reference in the static files; a vendored file that
    points at a missing one (a source map, say) would break a production release."""
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k != "DEBUG"},
             "DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "x" * 60},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_web_process_does_not_load_pyarrow_or_training_code():
    result = run_python(
        "import sys, config.wsgi; from django.urls import resolve; resolve('/'); "
        "import labeling.views, labeling.api.urls; "
        "heavy = [m for m in ('pyarrow', 'torch', 'datasets', 'training.reward') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)",
        DJANGO_SETTINGS_MODULE="config.settings", SECRET_KEY="x" * 60, DEBUG="0",
    )
    assert result.returncode == 0, result.stdout + result.stderr
