"""frontend/js/protocol.js mirrors the server's protocol (service/protocol.py): the version, the
event types, each event's fields and required fields, the run statuses and the client message
types. The JS module is loaded with node and compared with the JSON schema that GET /api/protocol
serves, and the run state machine (service/runstate.py) is the same on both sides."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from glassnet.service.protocol import protocol_schema

ROOT = Path(__file__).resolve().parents[1]
NODE = shutil.which("node")


def require_node() -> str:
    """The drift guard is part of the test command: without Node it fails, loudly (never skips)."""
    if NODE is None:
        pytest.fail("node is not installed: the protocol drift guard needs Node 20 (apt-get install nodejs)")
    return NODE


def node_json(script: str) -> object:
    """Run an ES-module script with node; it writes one JSON value to stdout, returned here."""
    proc = subprocess.run(
        [require_node(), "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(proc.stdout)


def js_module(module: str) -> str:
    """The file: URL of a frontend module, as a JS string literal."""
    return json.dumps((ROOT / "frontend" / "js" / module).as_uri())


def js_exports(module: str, names: list[str]) -> dict:
    """Import an ES module with node and return some of its exports as JSON."""
    return node_json(
        f"import * as m from {js_module(module)};"
        f"const out = {{}}; for (const n of {json.dumps(names)}) out[n] = m[n];"
        "process.stdout.write(JSON.stringify(out));"
    )


@pytest.fixture(scope="module")
def js() -> dict:
    return js_exports(
        "protocol.js",
        [
            "PROTOCOL_VERSION",
            "EVENT_TYPES",
            "HEAVY_EVENTS",
            "RUN_STATUSES",
            "CLIENT_TYPES",
            "EVENT_FIELDS",
            "REQUIRED_FIELDS",
            "RUN_MACHINE",
            "ERROR_CODES",
        ],
    )


@pytest.fixture(scope="module")
def schema() -> dict:
    return protocol_schema()


def test_version_and_type_lists(js: dict, schema: dict) -> None:
    assert js["PROTOCOL_VERSION"] == schema["version"]
    assert js["EVENT_TYPES"] == schema["event_types"]
    assert sorted(js["HEAVY_EVENTS"]) == sorted(schema["heavy_events"])
    assert js["RUN_STATUSES"] == schema["run_statuses"]
    assert js["CLIENT_TYPES"] == schema["client_types"]
    assert js["ERROR_CODES"] == schema["error_codes"]


def test_the_state_machine_is_the_services(js: dict, schema: dict) -> None:
    served = schema["run_machine"]
    for key in ("transitions", "needs_checkpoint", "active", "live", "why_not"):
        assert js["RUN_MACHINE"][key] == served[key], key


def test_every_event_has_the_same_fields(js: dict, schema: dict) -> None:
    assert sorted(js["EVENT_FIELDS"]) == sorted(schema["events"])
    for event, model in schema["events"].items():
        assert sorted(js["EVENT_FIELDS"][event]) == sorted(model["properties"]), event
        assert sorted(js["REQUIRED_FIELDS"][event]) == sorted(model.get("required", [])), event


def test_envelope_fields(schema: dict) -> None:
    # protocol.js reads exactly these keys of every message.
    assert set(schema["envelope"]["properties"]) == {"v", "type", "run", "seq", "data"}


def test_schema_served_by_the_app_is_the_same(tmp_path: Path, small_mnist: Path) -> None:
    from fastapi.testclient import TestClient

    from glassnet.service.app import create_app
    from glassnet.service.settings import Settings

    app = create_app(
        Settings(
            data_dir=tmp_path / "data", dataset=small_mnist, validation=200, allowed_hosts=["testserver"]
        )
    )
    with TestClient(app) as client:
        served = client.get("/api/protocol").json()
    assert served == json.loads(json.dumps(protocol_schema()))
