"""Which network answers a prediction, loaded once and kept warm: the :class:`ModelRegistry`.

Model ids:

* bundled checkpoints: every ``models_dir/*.npz``, id = the file stem (``"cnn"``, ``"mlp"``);
  ``"cnn"`` answers when no id is given;
* run checkpoints: every ``runs_dir/**/*.npz``, id = the path relative to ``runs_dir`` without
  ``.npz``, with ``/`` written as ``:`` (``runs_dir/run-3/epoch-2.npz`` -> ``"run-3:epoch-2"``);
  uploads live in ``runs_dir/uploads/`` and so have ids ``"uploads:<name>"``;
* ids added with :meth:`ModelRegistry.register`, and whatever the run resolver
  (:meth:`ModelRegistry.set_run_resolver`) maps to a file, e.g. a bare run id ``"3"`` to that
  run's latest checkpoint.

An id is never turned into a path by string concatenation alone: every segment must be a plain
name (letters, digits, ``._-``, not starting with a dot), so ``..`` cannot escape the folders.

Loaded networks sit in a small LRU cache keyed by (path, mtime, size): a checkpoint rewritten
in place by a training run is reloaded on the next request. A network's layers keep caches
from their last forward pass, so each loaded network is used by one thread at a time.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import stat
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.data.preprocess import (
    decode_image,
    prepare_digit,
    prepare_pixel_batch,
)
from glassnet.nn.backend import to_host
from glassnet.nn.checkpoint import (
    MAX_CHECKPOINT_BYTES,
    MAX_RUN_CHECKPOINT_BYTES,
    CheckpointError,
    MissingCheckpointError,
    read_checkpoint,
    read_checkpoint_info,
)
from glassnet.nn.fastforward import FastForward
from glassnet.nn.losses import probabilities, readout
from glassnet.nn.model import Sequential
from glassnet.numbers import cut_percent

from .encoding import encode_all_activations, encode_image28
from .modelinfo import (
    DEFAULT_MODEL,
    MAX_ID,
    TEXT_MAX,
    IncompatibleModelError,
    LayerSummary,
    ModelKind,
    ModelSummary,
    UnknownModelError,
    UploadTooLargeError,
    article,
    check_compatible,
    class_names,
    clip_text,
    finite_fraction,
)
from .uploads import UPLOADS, shown_name, slug, write_new
from .wire import EncodedArray, LayerActivation, PredictResult

__all__ = [
    "DEFAULT_MODEL",
    "DigitQuery",
    "IncompatibleModelError",
    "LayerSummary",
    "ModelRegistry",
    "ModelSummary",
    "PredictResult",
    "UnknownModelError",
    "UploadTooLargeError",
    "check_compatible",
]

log = logging.getLogger(__name__)

_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class DigitQuery:
    """One digit to read, as :meth:`ModelRegistry.predict` takes it."""

    pixels: Any = None
    image: bytes | None = None
    model_id: str | None = None
    activations: bool = False
    image_name: str = "image"
    fallback: bool = False


# -- the registry -------------------------------------------------------------------------------


@dataclass
class _Loaded:
    model: Sequential
    lock: threading.Lock
    classes: tuple[str, ...]
    fast: FastForward  # the forward pass for predictions, without per-layer Python (nn/fastforward.py)
    step: int | None = None  # the training step the weights were saved at (checkpoint meta)


def _run_figures(meta: dict[str, Any], epochs: Any, val_accuracy: Any) -> tuple[Any, Any]:
    """A run checkpoint's epochs and validation accuracy, from what its meta already holds: the
    epochs completed (``epoch``) and the last epochs' figures (``history.epochs``). The accuracy
    only when the weights are exactly those the epoch was judged with (its step is the
    checkpoint's): ``epoch-NNN``, and ``last`` at an epoch's end; not weights trained on since."""
    if epochs is None:
        epochs = meta.get("epoch")
    history, step = meta.get("history"), meta.get("step")
    if val_accuracy is None and step is not None and isinstance(history, dict):
        for figures in history.get("epochs") or []:
            if isinstance(figures, dict) and figures.get("step") == step:
                val_accuracy = figures.get("val_accuracy")
    return epochs, val_accuracy


#: a checkpoint file's cache key: (path, mtime in ns, size, inode)
_Key = tuple[str, int, int, int]


def _stat_key(path: Path | str, st: os.stat_result) -> _Key:
    return (str(path), st.st_mtime_ns, st.st_size, st.st_ino)


def _file_key(path: Path | str) -> _Key | None:
    """The cache key of a regular file, or None where ``path`` is not one (missing, a folder,
    unreadable): ``Path.is_file()`` and the key from one ``stat``."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # ValueError: a NUL in a resolver's path, as is_file() says False
        return None
    return _stat_key(path, st) if stat.S_ISREG(st.st_mode) else None


#: Ids whose candidate files :meth:`ModelRegistry._locate` remembers (then it starts afresh).
CANDIDATES_KEPT = 1024


class ModelRegistry:
    """Finds, loads, caches and runs the networks that answer predictions.

    Thread-safe: the routes call it from the threadpool.
    """

    def __init__(
        self,
        models_dir: Path,
        runs_dir: Path,
        cache_size: int = 8,
        max_upload_bytes: int = MAX_CHECKPOINT_BYTES,
        default_id: str = DEFAULT_MODEL,
    ) -> None:
        self.models_dir = Path(models_dir)
        self.runs_dir = Path(runs_dir)
        self.cache_size = max(1, cache_size)
        self.max_upload_bytes = min(max_upload_bytes, MAX_CHECKPOINT_BYTES)
        self.default_id = default_id
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, int, int, int], _Loaded] = OrderedDict()
        self._summaries: dict[tuple[str, int, int, int], ModelSummary] = {}
        self._registered: dict[str, Path] = {}
        self._names: dict[int, tuple[str, ...]] = {}  # id(model) -> class names, set on each load
        self._steps: dict[int, int | None] = {}  # id(model) -> the training step of its weights
        self._resolver: Callable[[str], Path | None] | None = None
        # id -> the files a plain id may name, bundled then run, as (Path, str) pairs: checking
        # the id and joining the paths cost more than the stat itself on every prediction
        self._candidates: dict[str, tuple[tuple[Path, str], ...]] = {}

    # -- ids and paths ---------------------------------------------------------------------
    def register(self, model_id: str, path: Path) -> None:
        """Make ``path`` answer to ``model_id`` (overrides bundled and run ids)."""
        if not model_id or len(model_id) > MAX_ID:
            raise ValueError(f"model id must be 1 to {MAX_ID} characters")
        with self._lock:
            self._registered[model_id] = Path(path)

    def set_run_resolver(self, fn: Callable[[str], Path | None] | None) -> None:
        """``fn(id)`` -> checkpoint path or None; asked for ids that no file name matches."""
        with self._lock:
            self._resolver = fn

    def _kind(self, path: Path) -> ModelKind:
        try:
            rel = path.relative_to(self.runs_dir)
        except ValueError:
            return "bundled" if path.parent == self.models_dir else "run"
        return "upload" if rel.parts[:1] == (UPLOADS,) else "run"

    def _id_of(self, path: Path) -> str | None:
        """The id a file found by listing answers to, or None if its name is not a plain id."""
        if path.parent == self.models_dir:
            segments: Sequence[str] = (path.stem,)
        else:
            try:
                segments = path.relative_to(self.runs_dir).with_suffix("").parts
            except ValueError:
                return None
        if not all(_SEGMENT.fullmatch(s) for s in segments):
            return None
        return ":".join(segments)

    def path_of(self, model_id: str | None) -> Path:
        """The checkpoint file behind an id (None or "" -> the default model).

        Raises:
            UnknownModelError: no such model.
        """
        return self._locate(model_id)[0]

    def _locate(self, model_id: str | None) -> tuple[Path, _Key]:
        """:meth:`path_of`'s file and its cache key (:meth:`_key`), from one ``stat`` of it: a
        prediction's lookup stat'ed the file twice (``is_file``, then for the key).

        Raises:
            UnknownModelError: no such model.
        """
        model_id = model_id or self.default_id
        with self._lock:
            registered = self._registered.get(model_id)
            resolver = self._resolver
        if registered is not None:
            if (key := _file_key(registered)) is not None:
                return registered, key
            raise UnknownModelError(model_id)
        if len(model_id) <= MAX_ID:
            for path, name in self._candidate_files(model_id):
                if (key := _file_key(name)) is not None:
                    return path, key
            if resolver is not None:
                try:
                    found = resolver(model_id)
                except (LookupError, ValueError, OSError) as exc:  # the resolver's "no such run"
                    log.debug("run resolver refused %r: %s", model_id, exc)
                    found = None
                if found is not None and (key := _file_key(Path(found))) is not None:
                    return Path(found), key
        raise UnknownModelError(model_id)

    def _candidate_files(self, model_id: str) -> tuple[tuple[Path, str], ...]:
        """The files a plain id names, in the order they answer to it: ``models/<id>.npz``
        (a one-segment id), then ``runs/<a>/<b>.npz`` for ``a:b``; none for an id that is not
        plain segments."""
        found = self._candidates.get(model_id)
        if found is None:
            segments = model_id.split(":")
            paths: list[Path] = []
            if all(_SEGMENT.fullmatch(s) for s in segments):
                if len(segments) == 1:
                    paths.append(self.models_dir / f"{model_id}.npz")
                paths.append(self.runs_dir.joinpath(*segments[:-1], f"{segments[-1]}.npz"))
            found = tuple((p, str(p)) for p in paths)
            with self._lock:
                if len(self._candidates) >= CANDIDATES_KEPT:
                    self._candidates.clear()
                self._candidates[model_id] = found
        return found

    def _files(self) -> list[tuple[str, Path]]:
        """(id, path) of every checkpoint: bundled, then runs (uploads included), then registered."""
        found: dict[str, Path] = {}
        if self.models_dir.is_dir():
            for path in sorted(self.models_dir.glob("*.npz")):
                model_id = self._id_of(path)
                if model_id is not None and path.is_file():
                    found.setdefault(model_id, path)
        if self.runs_dir.is_dir():
            for path in sorted(self.runs_dir.glob("**/*.npz")):
                model_id = self._id_of(path)
                if model_id is not None and path.is_file():
                    found.setdefault(model_id, path)
        with self._lock:
            registered = dict(self._registered)
        found.update({k: p for k, p in registered.items() if p.is_file()})
        return list(found.items())

    # -- loading -----------------------------------------------------------------------------
    @staticmethod
    def _key(path: Path) -> _Key:
        """(path, mtime, size, inode): a file rewritten or replaced is another key. The path as
        given (ids map to one path each), not resolved: resolving lstat'ed every folder of it,
        ~40 µs of every prediction. Raises FileNotFoundError for a file that is gone."""
        return _stat_key(path, os.stat(path))

    def load(self, model_id: str | None = None) -> tuple[str, Sequential, threading.Lock]:
        """(id, network, its lock) for an id, from the cache or freshly read and validated.

        Raises:
            UnknownModelError: no such model.
            CheckpointError: the file is not a valid checkpoint.
            IncompatibleModelError: the network cannot read 28x28 digits.
        """
        model_id, loaded = self._load(model_id)
        return model_id, loaded.model, loaded.lock

    def _load(self, model_id: str | None) -> tuple[str, _Loaded]:
        model_id = model_id or self.default_id
        path, key = self._locate(model_id)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                self._names[id(hit.model)] = hit.classes
                self._steps[id(hit.model)] = hit.step
                return model_id, hit
        # Read outside the lock: a slow load must not hold up predictions on other models.
        try:
            # Files on the server's own disk (bundled, or written by a run): the run checkpoint
            # cap; the optimizer state they may hold is checked, not read.
            checkpoint = read_checkpoint(
                path, name=model_id, max_bytes=MAX_RUN_CHECKPOINT_BYTES, optimizer=False
            )
        except CheckpointError:
            if not path.is_file():  # deleted meanwhile (a run cleaning up old epochs)
                raise UnknownModelError(model_id) from None
            raise
        model = checkpoint.model.astype(np.float32)
        check_compatible(model, model_id, checkpoint.meta)
        step = checkpoint.meta.get("step")
        loaded = _Loaded(
            model,
            threading.Lock(),
            class_names(checkpoint.meta, model.output_shape[0]),
            FastForward(model),
            step if isinstance(step, int) and not isinstance(step, bool) else None,
        )
        with self._lock:
            loaded = self._cache.setdefault(key, loaded)  # another thread may have won the race
            self._cache.move_to_end(key)
            # Drop older versions of the same file, then the least recently used.
            for stale in [k for k in self._cache if k[0] == key[0] and k != key]:
                del self._cache[stale]
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
            self._names[id(loaded.model)] = loaded.classes
            self._steps[id(loaded.model)] = loaded.step
        return model_id, loaded

    def classes_of(self, model: Sequential) -> tuple[str, ...]:
        """The class names of a network :meth:`load` returned."""
        with self._lock:
            names = self._names.get(id(model))
        return names if names is not None else tuple(str(i) for i in range(model.output_shape[0]))

    def step_of(self, model: Sequential) -> int | None:
        """The training step a network :meth:`load` returned was saved at (a run's checkpoint or
        live weights), None where the file does not say (bundled, uploaded)."""
        with self._lock:
            return self._steps.get(id(model))

    def cached_count(self) -> int:
        with self._lock:
            return len(self._cache)

    # -- predicting --------------------------------------------------------------------------
    def predict(
        self,
        pixels: Any = None,
        image: bytes | None = None,
        model_id: str | None = None,
        activations: bool = False,
        image_name: str = "image",
        fallback: bool = False,
    ) -> PredictResult:
        """Read one digit.

        Args:
            pixels: a grid of numbers in [0, 1]: 784 values, or H x W rows (e.g. 28x28), either
                polarity (see ``prepare_pixels``).
            image: instead of pixels, a PNG/JPEG file's bytes (dark ink on light paper works).
            model_id: which network; None -> the default (bundled cnn).
            activations: also return every layer's output (encoded per map).
            image_name: how error messages name the image.
            fallback: when ``model_id`` (a run's id) has no weights yet (the run is queued),
                answer with the default model instead; ``model`` and ``message`` then name the
                one that answered.

        Returns:
            :class:`PredictResult`; ``empty=True`` and no digit when there is no ink.

        Raises:
            ValueError: bad pixels (shape, NaN, range) or both/neither input given.
            ImageError: not an image, corrupt, or too large.
            UnknownModelError, CheckpointError, IncompatibleModelError: see :meth:`load`.
        """
        query = DigitQuery(pixels, image, model_id, activations, image_name, fallback)
        result = self.predict_batch([query])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def predict_batch(self, queries: Sequence[DigitQuery]) -> list[PredictResult | Exception]:
        """Read many digits at once: one model lookup and one forward pass per network, the
        pixel grids prepared together; each query's answer is what :meth:`predict` would give
        it, or the exception it would raise (so one bad query never fails the others)."""
        out: list[PredictResult | Exception | None] = [None] * len(queries)
        nets: dict[tuple[str, bool], tuple[str, _Loaded, str] | Exception] = {}
        for i, q in enumerate(queries):
            if (q.pixels is None) == (q.image is None):
                out[i] = ValueError("give either pixels or an image, not both or neither")
                continue
            key = (q.model_id or self.default_id, q.fallback)
            if key not in nets:
                try:
                    nets[key] = self._network(q.model_id, q.fallback)
                except Exception as exc:  # unknown, unreadable or incompatible: this query's answer
                    nets[key] = exc
            if isinstance(nets[key], Exception):
                out[i] = nets[key]  # type: ignore[assignment]
        digits: dict[int, np.ndarray | None] = {}
        grids = [i for i, q in enumerate(queries) if out[i] is None and q.pixels is not None]
        for i, digit in zip(grids, prepare_pixel_batch([queries[i].pixels for i in grids]), strict=True):
            if isinstance(digit, ValueError):
                out[i] = digit
            else:
                digits[i] = digit
        for i, q in enumerate(queries):
            if out[i] is None and q.image is not None:
                try:
                    digits[i] = prepare_digit(decode_image(q.image, name=q.image_name))
                except ValueError as exc:
                    out[i] = exc
        by_net: dict[int, list[int]] = {}
        for i, digit in digits.items():
            q = queries[i]
            model_id, loaded, note = nets[(q.model_id or self.default_id, q.fallback)]  # type: ignore[misc]
            if digit is None:
                out[i] = PredictResult(
                    model=model_id,
                    digit=None,
                    probabilities=None,
                    prepared=None,
                    empty=True,
                    message=f"{note}too little ink to read: draw or upload a bigger digit (none guessed)",
                )
            else:
                by_net.setdefault(id(loaded), []).append(i)
        for members in by_net.values():
            q = queries[members[0]]
            model_id, loaded, note = nets[(q.model_id or self.default_id, q.fallback)]  # type: ignore[misc]
            model = loaded.model
            ready = [digits[i] for i in members]
            x = ready[0][None] if len(ready) == 1 else np.stack(ready)  # one digit: a view
            x = x.reshape(len(ready), *model.input_shape)
            record = any(queries[i].activations for i in members)
            with loaded.lock:  # layers and buffers are per network: one forward pass at a time
                if record:  # the same forward pass, keeping every layer's output
                    scores, acts = model.forward_record(x.astype(np.float32, copy=False))
                else:
                    scores, acts = loaded.fast.scores(x.astype(np.float32, copy=False)), []
                probs = to_host(probabilities(model.loss, scores)).astype(np.float64)
            wanted = [row for row, i in enumerate(members) if queries[i].activations]
            encoded: dict[int, list[dict[str, Any]]] = {}
            if wanted:  # every layer encoded once for all the rows that asked for activations
                layers_of = encode_all_activations(model, [a[wanted] for a in acts])
                encoded = dict(zip(wanted, layers_of, strict=True))
            for row, i in enumerate(members):
                layers = encoded.get(row)
                answer = (model_id, note, digits[i], probs[row], layers, loaded.classes, model.loss)
                out[i] = self._answer(*answer)
        return out  # type: ignore[return-value]

    def _network(self, model_id: str | None, fallback: bool) -> tuple[str, _Loaded, str]:
        """(id, loaded network, note): :meth:`load`, or with ``fallback`` the default network
        for a run that has no weights yet (the note says so)."""
        requested = model_id or self.default_id
        try:
            return (*self._load(model_id), "")
        except UnknownModelError:
            if not fallback or requested == self.default_id:
                raise
            model_id, loaded = self._load(None)
            note = f"run {requested} has no weights yet, so the bundled {model_id} network answered: "
            return model_id, loaded, note

    @staticmethod
    def _answer(
        model_id: str,
        note: str,
        digit: np.ndarray,
        probs: np.ndarray,
        layers: list[dict] | None,
        classes: tuple[str, ...],
        loss: str,
    ) -> PredictResult:
        # Ten numbers: read in Python (NumPy's per-call overhead is most of one prediction's).
        values: list[float] = probs.tolist()
        if not math.isfinite(sum(values)):  # cannot come from finite weights, but never send NaN
            values = [1.0 / len(values)] * len(values)
        best = max(range(len(values)), key=values.__getitem__)  # the first of equals, as argmax
        sure = cut_percent(values[best])  # cut like every percentage a person reads
        return PredictResult(
            model=model_id,
            digit=best,
            probabilities=values,
            prepared=EncodedArray(**encode_image28(digit)),
            activations=[LayerActivation(**a) for a in layers] if layers is not None else None,
            classes=list(classes),
            label=(name := classes[best]),
            empty=False,
            readout=readout(loss),
            message=f"{note}the {model_id} network reads {article(name)} {name} ({sure} sure)",
        )

    # -- listing -----------------------------------------------------------------------------
    def _summary(self, model_id: str, path: Path) -> ModelSummary:
        """Spec and metadata of a checkpoint, cached by (path, mtime, size); weights not loaded.
        A file removed meanwhile (its run deleted) is an :class:`UnknownModelError`."""
        try:
            key = self._key(path)
        except FileNotFoundError:
            raise UnknownModelError(model_id) from None
        with self._lock:
            cached = self._summaries.get(key)
        if cached is not None and cached.id == model_id:
            return cached
        try:  # spec and metadata only; the network is built from shapes, no weight allocated
            spec, meta, model = read_checkpoint_info(path, name=model_id, max_bytes=MAX_RUN_CHECKPOINT_BYTES)
        except MissingCheckpointError:
            raise UnknownModelError(model_id) from None
        except OSError as exc:
            raise CheckpointError(f"{model_id}: unreadable ({exc})") from None
        created = meta.get("date") if isinstance(meta.get("date"), str) else None
        if created is None:
            created = datetime.fromtimestamp(key[1] / 1e9, tz=UTC).isoformat(timespec="seconds")
        epochs = meta.get("epochs")
        val_accuracy = meta.get("val_accuracy")
        # A run's checkpoint records its figures its own way, and so does one uploaded again.
        epochs, val_accuracy = _run_figures(meta, epochs, val_accuracy)
        summary = ModelSummary(
            id=model_id,
            kind=self._kind(path),
            default=model_id == self.default_id,
            preset=clip_text(meta.get("preset")),
            name=clip_text(spec.get("name")),
            description=clip_text(spec.get("description")),
            input_shape=list(model.input_shape),
            loss=model.loss,
            layers=[LayerSummary(**info.as_dict()) for info in model.summary()],
            params=model.param_count(),
            test_accuracy=finite_fraction(meta.get("test_accuracy")),
            val_accuracy=finite_fraction(val_accuracy),
            epochs=epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None,
            size=key[2],
            created=created[:TEXT_MAX],
        )
        with self._lock:
            self._summaries[key] = summary
        return summary

    def describe(self, model_id: str | None) -> ModelSummary:
        """The summary of one model. Raises :class:`UnknownModelError` or ``CheckpointError``."""
        model_id = model_id or self.default_id
        return self._summary(model_id, self.path_of(model_id))

    def list_models(self) -> list[ModelSummary]:
        """Summaries of every readable checkpoint: bundled first, then runs and uploads."""
        out = []
        seen = set()
        for model_id, path in self._files():
            try:
                out.append(self._summary(model_id, path))
                seen.add(self._key(path))
            except UnknownModelError:
                continue  # removed since the listing (its run deleted)
            except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
                log.warning("skipping unreadable checkpoint %s: %s", path, exc)
        with self._lock:  # forget summaries of files that are gone or rewritten
            for key in [k for k in self._summaries if k not in seen]:
                del self._summaries[key]
        return out

    # -- uploads -----------------------------------------------------------------------------
    def add_uploaded(self, data: bytes, filename: str | None = None) -> ModelSummary:
        """Validate an uploaded checkpoint like a library load and store it under a new id.

        The file lands in ``runs_dir/uploads/<slug>-<random>.npz`` (id
        ``"uploads:<slug>-<random>"``), written atomically and never over an existing file.

        Raises:
            UploadTooLargeError: over ``max_upload_bytes``.
            CheckpointError: not a valid glassnet checkpoint (pickle refused).
            IncompatibleModelError: valid, but not a 784 -> 10 digit reader.
        """
        where = shown_name(filename, "upload")  # messages name the file as sent, not its slug
        if len(data) > self.max_upload_bytes:
            raise UploadTooLargeError(
                f"{where}: {len(data)} bytes is over the upload limit of {self.max_upload_bytes} bytes"
            )
        if not data:
            raise CheckpointError(f"{where}: empty file")
        checkpoint = read_checkpoint(io.BytesIO(data), name=where)
        check_compatible(checkpoint.model, where, checkpoint.meta)
        folder = self.runs_dir / UPLOADS
        folder.mkdir(parents=True, exist_ok=True)
        path = write_new(folder, slug(filename), data)
        return self._summary(f"{UPLOADS}:{path.stem}", path)

    def delete_uploaded(self, model_id: str, allowed: Callable[[], None] | None = None) -> None:
        """Delete an uploaded model. Raises :class:`UnknownModelError`, or ``PermissionError``
        for a bundled model or a run's checkpoint (those are not uploads). ``allowed`` (the
        route's owner check) runs once the model is known to be an upload, before anything is
        removed, and raises ``PermissionError`` to refuse: so an unknown id is still a 404 and a
        bundled one still says why, whoever asks."""
        path = self.path_of(model_id)  # UnknownModelError
        if self._kind(path) != "upload":
            what = (
                "a bundled model" if self._kind(path) == "bundled" else "a run's checkpoint (delete the run)"
            )
            raise PermissionError(f"{model_id} is {what}; only uploaded models can be deleted")
        if allowed is not None:
            allowed()
        try:
            path.unlink()
        except FileNotFoundError:
            raise UnknownModelError(model_id) from None
        with self._lock:
            for key in [k for k in self._cache if k[0] == str(path)]:
                del self._cache[key]
