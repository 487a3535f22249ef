"""The executor choice: the core never imports Ray (the ``glassnet[ray]`` extra is imported only
for ``executor=ray``), and the local executor is the default."""

from __future__ import annotations

import subprocess
import sys

from service_helpers import REPO

CHECK = """
import sys
from pathlib import Path
from fastapi.testclient import TestClient
from glassnet.service.app import create_app
from glassnet.service.settings import Settings

settings = Settings(data_dir=Path(sys.argv[1]), allowed_hosts=["testserver"])
with TestClient(create_app(settings)) as client:
    executor = client.get("/api/executor").json()
    assert executor["name"] == "local" and executor["capacity"] >= 1, executor
    assert client.get("/healthz").status_code == 200
print("ray" in sys.modules)
"""


def test_the_local_executor_never_imports_ray(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHECK, str(tmp_path / "data")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"
