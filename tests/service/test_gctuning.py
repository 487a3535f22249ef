"""The server process's collector settings (service/gctuning.py): what is alive at start is
frozen out of the collector's walks, young collections come less often, and garbage made later
is still collected. In a child process, so this test process keeps its own settings."""

from __future__ import annotations

import json
import subprocess
import sys

from glassnet.service import gctuning

CHILD = """
import gc, json, weakref
from glassnet.service import gctuning
import glassnet.service.app  # the server's modules, as at start
frozen = gctuning.tune()

class Node:
    pass

a, b = Node(), Node()
a.other, b.other = b, a  # a cycle: only the collector frees it
gone = weakref.ref(a)
del a, b
gc.collect()
print(json.dumps({"frozen": frozen, "count": gc.get_freeze_count(), "thresholds": gc.get_threshold(),
                  "cycle_collected": gone() is None}))
"""


def test_tune_freezes_the_started_objects_and_later_garbage_is_still_collected() -> None:
    cmd = [sys.executable, "-c", CHILD]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
    facts = json.loads(out.stdout)
    assert facts["frozen"] == facts["count"] > 10_000  # the app's modules: tens of thousands
    assert tuple(facts["thresholds"]) == gctuning.THRESHOLDS
    assert facts["cycle_collected"] is True
