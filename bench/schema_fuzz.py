"""Schemathesis against a live ``glassnet serve``: every check, every operation, then the count of
requests sent and the failures found. Prints; asserts nothing (the test command runs a short one).

    .venv/bin/python bench/schema_fuzz.py [--examples 100] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from glassnet.data.mnist import write_subset
from glassnet.service.devserver import ServeProcess

HERE = Path(__file__).resolve().parent


def fuzz(examples: int, seed: int, work: Path) -> tuple[int, int, str]:
    """(exit code, requests sent, the summary) of one schemathesis run against a fresh server."""
    dataset = write_subset(work / "mnist", 600, 200)
    env = {"GLASSNET_VALIDATION": "100", "GLASSNET_MAX_QUEUED_RUNS": "4"}
    server = ServeProcess(work / "runs", dataset, env=env, log=work / "server.log").start()
    har = work / "requests.har"
    try:
        proc = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "--config-file", str(HERE / "schemathesis.toml"),
                "run", f"{server.url}/openapi.json",
                "--checks", "all", "--max-examples", str(examples), "--seed", str(seed),
                "--report", "har", "--report-har-path", str(har), "--no-color",
            ],
            capture_output=True, text=True, timeout=1800, cwd=work,
        )  # fmt: skip
    finally:
        server.stop()
    requests = len(json.loads(har.read_text())["log"]["entries"]) if har.exists() else 0
    summary = proc.stdout[proc.stdout.rfind("SUMMARY") :] if "SUMMARY" in proc.stdout else proc.stdout[-3000:]
    return proc.returncode, requests, summary + proc.stderr[-2000:]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=100, help="examples per operation and phase")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="glassnet-fuzz-") as tmp:
        code, requests, summary = fuzz(args.examples, args.seed, Path(tmp))
    print(summary)
    print(f"schemathesis exit code {code}; {requests} requests sent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
