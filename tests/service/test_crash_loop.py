"""Bar 3, short: SIGKILL the server and the training process at random while a run trains
(service/chaos.py, the driver of bench/crash_loop.py): every kill is resumed, no checkpoint is
ever unreadable, no .tmp is left, and the run ends with the weights of a run never killed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from service_helpers import TINY_CNN, Server

from glassnet.nn.checkpoint import read_checkpoint
from glassnet.service.chaos import call, crash_loop, wait

pytestmark = pytest.mark.slow

BODY = {"spec": TINY_CNN, "epochs": 240, "batch_size": 5, "seed": 3, "optimizer": "adam", "lr": 0.002}
ENV = {"GLASSNET_CHECKPOINT_INTERVAL_S": "0.5"}


def test_crash_loop_every_kill_resumes_and_the_result_is_unchanged(
    tmp_path: Path, tiny_dataset: Path
) -> None:
    killed = tmp_path / "killed"
    result = crash_loop(
        lambda: Server(killed, tiny_dataset, env=ENV),
        killed,
        BODY,
        3,
        3,
        (0.5, 1.5),
        seed=1,
        finish_timeout=300,
    )
    assert len(result.kills) >= 4, result.kills  # most kills landed while it trained
    assert result.final["status"] == "finished", result.final
    assert all(not k.unreadable for k in result.kills) and not result.unreadable_at_end
    assert result.tmp_at_end == 0
    for kill in result.kills:  # a server kill loses nothing (the orphan saves); a worker kill ~0.5 s
        if kill.kind == "server":
            assert kill.lost_steps == 0, kill

    straight = tmp_path / "straight"
    server = Server(straight, tiny_dataset, env=ENV)
    try:
        rid = call(server.url + "/api/runs", "POST", BODY)["id"]
        wait(lambda: call(server.url + f"/api/runs/{rid}")["status"] == "finished", 300, 0.2)
    finally:
        server.stop()
    a = read_checkpoint(straight / rid / "last.npz").model.state_dict()
    b = read_checkpoint(killed / result.run_id / "last.npz").model.state_dict()
    for name, p in a.items():
        np.testing.assert_allclose(b[name], p, rtol=1e-5, atol=1e-6, err_msg=name)
