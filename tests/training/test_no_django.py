import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import training

REPO = Path(__file__).resolve().parents[2]


def test_training_imports_no_django():
    modules = ["training"] + [
        f"training.{m.name}"
        for m in pkgutil.iter_modules(training.__path__)
        if m.name != "__main__"
    ]
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "names = [k for k in sys.modules if k == 'django' or k.startswith('django.')]\n"
        "print(json.dumps(sorted(names)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
    )
    assert len(modules) >= 10
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
