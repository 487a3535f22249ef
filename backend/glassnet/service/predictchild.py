"""The child process of :mod:`.predictprocess`: reads plain digits for the server, in batches.

Run as ``python -m glassnet.service.predictchild MODELS_DIR RUNS_DIR DEFAULT_ID`` by the server
(never by hand): request frames arrive on stdin, answer frames leave on stdout (the formats are
in :mod:`.predictprocess`). Each turn takes every whole request waiting in the pipe (up to
:data:`MAX_BATCH`) as one batch — under load the batches grow by themselves, as in the server's
own batcher — and answers them with the route's own code: the body's grid
(:func:`~.routes.predict.plain_grid`), :meth:`~.inference.ModelRegistry.predict_batch`, the
result's JSON. A request it cannot answer that way (not a plain grid, an unknown or unreadable
model, pixels out of range) is passed back, and the server's route answers it or names the
problem. Stdin's end (the server stopped or died) ends the child.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path

from ..training.blas import blas_threads
from . import gctuning
from .inference import DigitQuery, ModelRegistry
from .predictprocess import ACTIVATIONS, OK, PASS, READY, REQUEST, answer_frame
from .routes.predict import PLAIN_GRID_BYTES, plain_grid

MAX_BATCH = 64
READ_BYTES = 1 << 20


def serve(models_dir: Path, runs_dir: Path, default_id: str, fd_in: int = 0, fd_out: int = 1) -> None:
    """Answer requests from ``fd_in`` on ``fd_out`` until ``fd_in`` ends."""
    registry = ModelRegistry(models_dir=models_dir, runs_dir=runs_dir, default_id=default_id)
    # The network a class asks for, loaded before READY (if it cannot be, its requests pass
    # back and the server names the problem).
    with contextlib.suppress(Exception):
        registry.load(default_id)
    write(fd_out, answer_frame(0, READY))
    buf = bytearray()
    with blas_threads(1):
        while True:
            batch, used = _whole_requests(buf)
            if not batch:
                chunk = os.read(fd_in, READ_BYTES)  # blocks until the server sends
                if not chunk:
                    return
                buf += chunk
                continue
            del buf[:used]
            out = []
            queries, ids = [], []
            paths: dict[str, Path] = {}  # one file per id in a batch (the registry maps id -> file)
            for req_id, flags, model_id, path, body in batch:
                grid = plain_grid(body) if len(body) <= PLAIN_GRID_BYTES else None
                # A run's id whose file changed between two requests of one batch: the later one is
                # passed back (rare; the route reads it), the earlier keeps its file.
                if grid is None or paths.setdefault(model_id, path) != path:
                    out.append(answer_frame(req_id, PASS))
                    continue
                try:
                    registry.register(model_id, path)
                except ValueError:  # an id the registry refuses: the route names the problem
                    out.append(answer_frame(req_id, PASS))
                    continue
                activations = bool(flags & ACTIVATIONS)
                queries.append(DigitQuery(pixels=grid, model_id=model_id, activations=activations))
                ids.append(req_id)
            try:
                results = registry.predict_batch(queries) if queries else []
            except Exception:  # a fault of this batch: the route answers each request instead
                results = [None] * len(queries)
            for req_id, result in zip(ids, results, strict=True):
                if result is None or isinstance(result, Exception):
                    out.append(answer_frame(req_id, PASS))
                else:
                    out.append(answer_frame(req_id, OK, result.model_dump_json().encode()))
            write(fd_out, b"".join(out))


def _whole_requests(buf: bytearray) -> tuple[list[tuple[int, int, str, Path, bytes]], int]:
    """The whole request frames at the start of ``buf`` (at most MAX_BATCH), and their bytes."""
    out = []
    start = 0
    while len(out) < MAX_BATCH and len(buf) - start >= REQUEST.size:
        req_id, flags, model_len, path_len, body_len = REQUEST.unpack_from(buf, start)
        at = start + REQUEST.size
        end = at + model_len + path_len + body_len
        if len(buf) < end:
            break
        model_id = bytes(buf[at : at + model_len]).decode()
        path = Path(os.fsdecode(bytes(buf[at + model_len : at + model_len + path_len])))
        out.append((req_id, flags, model_id, path, bytes(buf[at + model_len + path_len : end])))
        start = end
    return out, start


def write(fd: int, data: bytes) -> None:
    """All of ``data`` to ``fd`` (a pipe takes it in pieces when the server reads slowly)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        usage = "usage: python -m glassnet.service.predictchild MODELS_DIR RUNS_DIR DEFAULT_ID"
        print(usage, file=sys.stderr)
        return 2
    # Ctrl+C in the server's terminal reaches the whole process group: the server stops the
    # child by closing its stdin, after the answers in flight.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gctuning.tune()  # the imports' objects out of the collector's walks, as in the server
    try:
        serve(Path(argv[0]), Path(argv[1]), argv[2])
    except BrokenPipeError:  # the server is gone
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
