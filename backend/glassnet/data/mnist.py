"""Read MNIST-style IDX files and split them into train / validation / test sets.

The IDX format (LeCun's, used by MNIST and Fashion-MNIST) is a tiny header followed by raw
bytes::

    byte 0-1   0x00 0x00           magic: two zero bytes
    byte 2     0x08                element type (0x08 = unsigned byte, the only one read here)
    byte 3     d                   number of dimensions, 1..4
    next 4*d   big-endian uint32   the size of each dimension
    rest       prod(sizes) bytes   the elements, row-major (C order)

The files may be gzip-compressed; compression is detected from the gzip magic bytes
(``1f 8b``), not from the file name. Every problem with a file raises `IdxFormatError`
naming the file and what is wrong, never a bare NumPy or gzip traceback.

Each image is a grid of input neurons: `load_splits` turns the uint8 pixels (0 = background,
255 = ink) into activations in 0..1, shaped NCHW ``(N, 1, 28, 28)`` for the networks.

This module imports only NumPy and the standard library.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import re
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..resources import resource_dir
from .classes import DIGITS, ClassInfo, class_info, default_validation

MNIST_CLASSES = ClassInfo(0, DIGITS)

__all__ = [
    "DATASET_ENV_VAR",
    "DEFAULT_DATASET_DIR",
    "FILE_STEMS",
    "IdxFormatError",
    "MnistArrays",
    "Split",
    "Splits",
    "dataset_classes",
    "idx_bytes",
    "load_idx_dataset",
    "load_split_images",
    "load_splits",
    "read_idx",
    "read_idx_bytes",
    "resolve_dataset_dir",
    "verify_checksums",
    "write_idx",
    "write_subset",
]

# The bundled MNIST: package data in a wheel, data/mnist/ in a checkout (glassnet.resources).
DEFAULT_DATASET_DIR: Path = resource_dir("mnist")
DATASET_ENV_VAR = "GLASSNET_DATASET"

# The four standard file names, keyed by the MnistArrays field they fill. Each may also
# carry a ".gz" suffix.
FILE_STEMS: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_GZIP_MAGIC = b"\x1f\x8b"
_UNSIGNED_BYTE = 0x08
_TYPE_NAMES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}
_MAX_DIMS = 4
# Read in bounded chunks: a corrupt header can claim up to (2**32 - 1)**4 bytes, and asking
# the file object for that many at once would try to allocate them.
_CHUNK = 1 << 20
_SHA256_LINE = re.compile(r"^([0-9a-fA-F]{64})\s+\*?(.+)$")


class IdxFormatError(ValueError):
    """An IDX file (or the dataset folder) is missing, malformed or inconsistent.

    The message always starts with the file (or folder) it is about.
    """


# --------------------------------------------------------------------------------------
# IDX reading
# --------------------------------------------------------------------------------------


@contextmanager
def _open_maybe_gzip(path: Path) -> Iterator[tuple[BinaryIO, bool]]:
    """Open `path` for reading, transparently decompressing gzip; yield (stream, is_gzip)."""
    with open(path, "rb") as raw:
        is_gzip = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if is_gzip:
            with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                yield gz, True  # type: ignore[misc]
        else:
            yield raw, False


def _read_up_to(stream: BinaryIO, n: int) -> bytearray:
    """Read at most `n` bytes (fewer only at end of file), in bounded chunks."""
    buf = bytearray()
    while len(buf) < n:
        chunk = stream.read(min(_CHUNK, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf


def _count_rest(stream: BinaryIO) -> int:
    """Count (and discard) the bytes left in `stream`."""
    total = 0
    while chunk := stream.read(_CHUNK):
        total += len(chunk)
    return total


def _read_error(name: str, exc: BaseException, is_gzip: bool | None) -> IdxFormatError:
    """Turn an OS / gzip / zlib failure into an IdxFormatError naming the file."""
    if isinstance(exc, FileNotFoundError):
        return IdxFormatError(f"{name}: file not found")
    if isinstance(exc, IsADirectoryError):
        return IdxFormatError(f"{name}: is a directory, not an IDX file")
    if isinstance(exc, PermissionError):
        return IdxFormatError(f"{name}: permission denied")
    if is_gzip or isinstance(exc, (EOFError, zlib.error, gzip.BadGzipFile)):
        return IdxFormatError(f"{name}: corrupt or truncated gzip data ({exc})")
    return IdxFormatError(f"{name}: cannot read file ({exc})")


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (raw or gzip-compressed) into a uint8 array.

    Args:
        path: the file. Gzip is detected from its first two bytes, not its name.

    Returns:
        uint8 array whose shape is the header's sizes, e.g. ``(60000, 28, 28)`` for
        ``train-images-idx3-ubyte`` or ``(60000,)`` for ``train-labels-idx1-ubyte``.

    Raises:
        IdxFormatError: the file is missing or unreadable, the gzip stream is corrupt, the
            magic bytes are wrong, the element type is not unsigned byte (0x08), the number
            of dimensions is not 1..4, or the data is shorter or longer than the header
            says. The message names the file.
    """
    path = Path(path)
    name = str(path)
    is_gzip: bool | None = None
    try:
        with _open_maybe_gzip(path) as (stream, is_gzip):
            return _read_idx_stream(stream, name)
    except IdxFormatError:
        raise
    except (OSError, EOFError, zlib.error) as exc:
        raise _read_error(name, exc, is_gzip) from exc


def read_idx_bytes(data: bytes, name: str = "upload", max_bytes: int | None = None) -> np.ndarray:
    """:func:`read_idx` for an IDX file held in memory (raw or gzip), e.g. an upload.

    ``max_bytes`` caps the data the header may declare: a larger claim is refused *before*
    anything is decompressed or allocated (a small gzip file can claim gigabytes).
    """
    is_gzip = data[:2] == _GZIP_MAGIC
    try:
        if is_gzip:
            with gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as gz:
                return _read_idx_stream(gz, name, max_bytes)  # type: ignore[arg-type]
        return _read_idx_stream(io.BytesIO(data), name, max_bytes)
    except IdxFormatError:
        raise
    except (OSError, EOFError, zlib.error) as exc:
        raise _read_error(name, exc, is_gzip) from exc


def _read_idx_stream(stream: BinaryIO, name: str, max_bytes: int | None = None) -> np.ndarray:
    """Header, then exactly the data it declares (see :func:`read_idx`)."""
    header = _read_up_to(stream, 4)
    if len(header) < 4:
        raise IdxFormatError(f"{name}: truncated header: {len(header)} bytes, an IDX file starts with 4")
    if header[0] != 0 or header[1] != 0:
        raise IdxFormatError(
            f"{name}: bad magic number 0x{header.hex()}: "
            "an IDX file starts with two zero bytes (is this an IDX file?)"
        )
    type_code, ndim = header[2], header[3]
    if type_code != _UNSIGNED_BYTE:
        type_name = _TYPE_NAMES.get(type_code, "unknown type")
        raise IdxFormatError(
            f"{name}: unsupported element type 0x{type_code:02x} ({type_name}); "
            "only 0x08 (unsigned byte) is supported"
        )
    if not 1 <= ndim <= _MAX_DIMS:
        raise IdxFormatError(f"{name}: header says {ndim} dimensions; expected 1 to {_MAX_DIMS}")
    size_bytes = _read_up_to(stream, 4 * ndim)
    if len(size_bytes) < 4 * ndim:
        raise IdxFormatError(
            f"{name}: truncated header: {ndim} dimension sizes need {4 * ndim} bytes, found {len(size_bytes)}"
        )
    shape = struct.unpack(f">{ndim}I", size_bytes)
    n_bytes = math.prod(shape)
    if max_bytes is not None and n_bytes > max_bytes:
        raise IdxFormatError(
            f"{name}: header declares shape {shape} = {n_bytes} bytes, over the limit of {max_bytes}"
        )
    data = _read_up_to(stream, n_bytes)
    if len(data) < n_bytes:
        raise IdxFormatError(
            f"{name}: truncated: header says shape {shape} = {n_bytes} bytes of data, found {len(data)}"
        )
    extra = _count_rest(stream)
    if extra:
        raise IdxFormatError(
            f"{name}: {extra} unexpected bytes after the {n_bytes} bytes of data "
            f"the header (shape {shape}) describes"
        )
    # A bytearray backs a writable array without a copy.
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


# --------------------------------------------------------------------------------------
# The dataset folder
# --------------------------------------------------------------------------------------


def resolve_dataset_dir(directory: str | Path | None = None) -> Path:
    """Choose the dataset folder: `directory` if given, else ``$GLASSNET_DATASET`` if set,
    else the bundled `DEFAULT_DATASET_DIR` (``data/mnist`` at the repository root)."""
    if directory is not None:
        return Path(directory).expanduser()
    env = os.environ.get(DATASET_ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return DEFAULT_DATASET_DIR


def _require_dir(root: Path) -> None:
    if not root.is_dir():
        # The advice fits where the folder came from: a wrong GLASSNET_DATASET is not fixed by
        # setting GLASSNET_DATASET.
        from_env = os.environ.get(DATASET_ENV_VAR, "").strip()
        if from_env and Path(from_env).expanduser() == root:
            advice = f"from {DATASET_ENV_VAR}: correct it, or unset it for the bundled MNIST"
        else:
            advice = f"pass a directory holding the four MNIST IDX files, or set {DATASET_ENV_VAR}"
        raise IdxFormatError(f"{root}: dataset directory not found ({advice})")


def _find_file(root: Path, stem: str) -> Path:
    """The file `stem` or `stem`.gz in `root` (the uncompressed one first: it loads faster)."""
    for candidate in (root / stem, root / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise IdxFormatError(f"{root / stem}: file not found (neither {stem} nor {stem}.gz)")


@dataclass(frozen=True)
class MnistArrays:
    """The four IDX arrays as stored, uint8.

    Attributes:
        train_images: (N_train, H, W) uint8, 0 = background, 255 = ink (60000x28x28 for MNIST).
        train_labels: (N_train,) uint8 labels (0..9 for MNIST; see ``classes.py``).
        test_images: (N_test, H, W) uint8 (10000x28x28 for MNIST).
        test_labels: (N_test,) uint8 labels.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def _check_pair(images: np.ndarray, labels: np.ndarray, image_path: Path, label_path: Path) -> None:
    """Images must be (N, H, W), labels (N,), N > 0 (what the labels mean: ``classes.py``)."""
    if images.ndim != 3:
        raise IdxFormatError(
            f"{image_path}: expected images of shape (count, rows, cols), got shape {images.shape}"
        )
    if labels.ndim != 1:
        raise IdxFormatError(f"{label_path}: expected labels of shape (count,), got shape {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise IdxFormatError(
            f"{image_path}: holds {images.shape[0]} images but {label_path.name} holds "
            f"{labels.shape[0]} labels"
        )
    if images.shape[0] == 0:
        raise IdxFormatError(f"{image_path}: holds no images")
    if images.shape[1] == 0 or images.shape[2] == 0:
        raise IdxFormatError(f"{image_path}: images have an empty side: shape {images.shape}")


def load_idx_dataset(directory: str | Path | None = None) -> MnistArrays:
    """Read and check the four standard IDX files of an MNIST-style dataset.

    Any dataset laid out like MNIST works (Fashion-MNIST is a drop-in); images may be any
    H x W, though the presets expect 28 x 28. Nothing is cached here: callers may cache.

    Args:
        directory: the folder; None means `resolve_dataset_dir` (``$GLASSNET_DATASET`` or
            the bundled ``data/mnist``). Each file may be raw or ``.gz``.

    Returns:
        MnistArrays with train_images (N_train, H, W), train_labels (N_train,),
        test_images (N_test, H, W), test_labels (N_test,), all uint8.

    Raises:
        IdxFormatError: a file is missing or malformed, images are not 3-D or labels not
            1-D, image and label counts differ, or the training and test images differ in
            size. The message names the file.
    """
    root = resolve_dataset_dir(directory)
    _require_dir(root)
    paths = {field: _find_file(root, stem) for field, stem in FILE_STEMS.items()}
    arrays = {field: read_idx(path) for field, path in paths.items()}
    for split in ("train", "test"):
        _check_pair(
            arrays[f"{split}_images"],
            arrays[f"{split}_labels"],
            paths[f"{split}_images"],
            paths[f"{split}_labels"],
        )
    # The classes are the training labels' (classes.py); a test label outside them cannot be learned.
    low, high = int(arrays["train_labels"].min()), int(arrays["train_labels"].max())
    outside = np.flatnonzero((arrays["test_labels"] < low) | (arrays["test_labels"] > high))
    if outside.size:
        i = int(outside[0])
        raise IdxFormatError(
            f"{paths['test_labels']}: label {int(arrays['test_labels'][i])} at index {i} is outside the "
            f"training labels {low}..{high} ({outside.size} such labels)"
        )
    train_hw = arrays["train_images"].shape[1:]
    test_hw = arrays["test_images"].shape[1:]
    if train_hw != test_hw:
        raise IdxFormatError(
            f"{paths['test_images']}: images are {test_hw[0]}x{test_hw[1]} but the training "
            f"images are {train_hw[0]}x{train_hw[1]}"
        )
    return MnistArrays(**arrays)


def load_split_images(
    directory: str | Path | None = None, split: str = "test"
) -> tuple[np.ndarray, np.ndarray]:
    """Read only one split's two IDX files: (images (N, H, W) uint8, labels (N,) uint8).

    For a server that looks up single digits (a test digit to explain) without holding the
    whole training set in memory. ``split`` is ``"train"`` or ``"test"``.

    Raises:
        ValueError: an unknown split name.
        IdxFormatError: as :func:`load_idx_dataset`, for these two files.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = resolve_dataset_dir(directory)
    _require_dir(root)
    image_path = _find_file(root, FILE_STEMS[f"{split}_images"])
    label_path = _find_file(root, FILE_STEMS[f"{split}_labels"])
    images, labels = read_idx(image_path), read_idx(label_path)
    _check_pair(images, labels, image_path, label_path)
    return images, labels


def _sha256_decompressed(path: Path) -> str:
    """sha256 hex digest of the file's contents after gzip decompression (if gzipped)."""
    digest = hashlib.sha256()
    is_gzip: bool | None = None
    try:
        with _open_maybe_gzip(path) as (stream, is_gzip):
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise _read_error(str(path), exc, is_gzip) from exc
    return digest.hexdigest()


def verify_checksums(directory: str | Path | None = None) -> None:
    """Check the dataset files against the folder's ``SHA256SUMS``, if it has one.

    Each line of ``SHA256SUMS`` is ``<sha256 hex>  <file name>`` where the name is that of
    the uncompressed file (what ``gunzip -c F | sha256sum`` prints); the file may be stored
    raw or as ``<name>.gz``, and is hashed after decompression. Blank lines and lines
    starting with ``#`` are skipped. Without a ``SHA256SUMS`` this returns silently.

    Raises:
        IdxFormatError: a listed file is missing or unreadable, its hash differs (the
            message names it), or ``SHA256SUMS`` itself is malformed.
    """
    root = resolve_dataset_dir(directory)
    _require_dir(root)
    sums_path = root / "SHA256SUMS"
    if not sums_path.is_file():
        return
    try:
        text = sums_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IdxFormatError(f"{sums_path}: cannot read ({exc})") from exc
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SHA256_LINE.match(line)
        if match is None:
            raise IdxFormatError(
                f"{sums_path}: line {lineno}: expected '<sha256 hex>  <file name>', got {line!r}"
            )
        expected, file_name = match.group(1).lower(), match.group(2).strip()
        # Only plain names: a checksum list must not point outside the dataset folder.
        if "/" in file_name or "\\" in file_name or file_name in {".", ".."}:
            raise IdxFormatError(f"{sums_path}: line {lineno}: {file_name!r} is not a plain file name")
        path = _find_file(root, file_name)
        actual = _sha256_decompressed(path)
        if actual != expected:
            raise IdxFormatError(
                f"{path}: sha256 mismatch: SHA256SUMS says {expected}, the "
                f"{'decompressed ' if path.suffix == '.gz' else ''}file has {actual}"
            )


# --------------------------------------------------------------------------------------
# Splits of activations for the networks
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """One set of samples, ready for a network.

    Attributes:
        x: (N, 1, H, W) float32 input activations in [0, 1] (pixel / 255), NCHW with one
            channel; (N, 1, 28, 28) for MNIST.
        y: (N,) int64 class indices 0..K-1.
    """

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        if self.x.ndim != 4 or self.x.shape[1] != 1:
            raise ValueError(f"Split.x must have shape (N, 1, H, W), got {self.x.shape}")
        if self.x.dtype != np.float32:
            raise ValueError(f"Split.x must be float32, got {self.x.dtype}")
        if self.y.ndim != 1 or self.y.dtype != np.int64:
            raise ValueError(f"Split.y must be (N,) int64, got {self.y.shape} {self.y.dtype}")
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"Split has {self.x.shape[0]} inputs but {self.y.shape[0]} labels")

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class Splits:
    """Train / validation / test splits and the folder they came from.

    Attributes:
        train: the first N_train - validation training samples.
        val: the last `validation` training samples (possibly empty: (0, 1, H, W)).
        test: the test set (10000 samples for MNIST).
        source: the dataset directory, as a string.
        classes: the class names (``classes.py``); labels were shifted by ``first_label``.
        name: "mnist" for the bundled set, else the folder's name.
        transpose: whether the images were stored transposed (EMNIST) and turned back.
    """

    train: Split
    val: Split
    test: Split
    source: str
    classes: ClassInfo = MNIST_CLASSES
    name: str = "mnist"
    transpose: bool = False


def _to_activations(images: np.ndarray) -> np.ndarray:
    """(N, H, W) uint8 pixels -> (N, 1, H, W) float32 activations in [0, 1]."""
    x = images.astype(np.float32)[:, None, :, :]
    np.divide(x, np.float32(255.0), out=x)  # in place: no second 188 MB array
    return x


def load_splits(
    directory: str | Path | None = None,
    validation: int | None = None,
    transpose: bool = False,
    classes: str | None = None,
) -> Splits:
    """Load the dataset as activations, holding out the LAST `validation` training samples.

    The split is deterministic (no shuffling): train = the first N_train - validation
    samples, val = the last `validation`. With MNIST's 60000 and the default 5000 this
    gives 55000 / 5000 / 10000. train and val are views of one array (no copy).

    Args:
        directory: see `load_idx_dataset`.
        validation: how many training samples to hold out, 0 <= validation < N_train; None:
            5000, or a tenth of a training set smaller than 50,000 (`default_validation`).
        transpose: the images are stored transposed (EMNIST's layout): turn them back.
        classes: the class names (see ``classes.py``): a known set, a file or a comma list.

    Returns:
        Splits whose x arrays are (N, 1, H, W) float32 in [0, 1] and y arrays (N,) int64
        class indices 0..K-1 (labels minus the set's first label).

    Raises:
        ValueError: `validation` is out of range (or not an integer), or the class names do not fit.
        IdxFormatError: the dataset files are missing or malformed.
    """
    if validation is not None and (
        isinstance(validation, bool) or not isinstance(validation, int | np.integer)
    ):
        raise ValueError(f"validation must be an integer, got {validation!r}")
    root = resolve_dataset_dir(directory)
    arrays = load_idx_dataset(root)
    n_train = int(arrays.train_labels.shape[0])
    if validation is None:
        validation = default_validation(n_train)
    if not 0 <= validation < n_train:
        raise ValueError(
            f"validation {validation}: the dataset at {root} has {n_train} training images and the "
            f"validation images are held out of them (0 <= validation < {n_train}; "
            f"e.g. {default_validation(n_train)})"
        )
    info = class_info([arrays.train_labels, arrays.test_labels], root, classes)
    train_images, test_images = arrays.train_images, arrays.test_images
    if transpose:  # EMNIST stores each image column by column
        train_images = np.ascontiguousarray(train_images.transpose(0, 2, 1))
        test_images = np.ascontiguousarray(test_images.transpose(0, 2, 1))
    x = _to_activations(train_images)
    y = arrays.train_labels.astype(np.int64) - info.first_label
    cut = n_train - int(validation)
    return Splits(
        train=Split(x=x[:cut], y=y[:cut]),
        val=Split(x=x[cut:], y=y[cut:]),
        test=Split(
            x=_to_activations(test_images),
            y=arrays.test_labels.astype(np.int64) - info.first_label,
        ),
        source=str(root),
        classes=info,
        name=dataset_name(root),
        transpose=transpose,
    )


def dataset_name(root: Path) -> str:
    """What checkpoints record as the dataset: ``mnist`` for the bundled one, else its folder's name."""
    return "mnist" if root.resolve() == DEFAULT_DATASET_DIR.resolve() else root.name


def dataset_classes(directory: str | Path | None = None, classes: str | None = None) -> ClassInfo:
    """The classes of a dataset from its label files alone (the images are not read)."""
    root = resolve_dataset_dir(directory)
    _require_dir(root)
    labels = [read_idx(_find_file(root, FILE_STEMS[key])) for key in ("train_labels", "test_labels")]
    return class_info(labels, root, classes)


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 array (1 to 4 dimensions) as an IDX file; gzip-compressed when the name ends
    in ``.gz``. The inverse of :func:`read_idx`."""
    path = Path(path)
    array = np.asarray(array)
    if array.dtype != np.uint8 or not 1 <= array.ndim <= 4:
        raise ValueError(
            f"{path}: IDX holds uint8 arrays of 1 to 4 dimensions, got {array.dtype} {array.shape}"
        )
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return path


def idx_bytes(array: np.ndarray) -> bytes:
    """A uint8 array (1 to 4 dimensions) as the bytes of an uncompressed IDX file."""
    array = np.asarray(array)
    if array.dtype != np.uint8 or not 1 <= array.ndim <= 4:
        raise ValueError(f"IDX holds uint8 arrays of 1 to 4 dimensions, got {array.dtype} {array.shape}")
    head = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return head + np.ascontiguousarray(array).tobytes()


def write_subset(
    folder: str | Path, n_train: int, n_test: int, source: str | Path | None = None, gz: bool = False
) -> Path:
    """The first ``n_train`` training and ``n_test`` test images (and labels) of an IDX set (default:
    the bundled MNIST), written to ``folder`` under the standard names: a small real dataset for
    tests and benchmarks."""
    folder, source_dir = Path(folder), resolve_dataset_dir(source)
    folder.mkdir(parents=True, exist_ok=True)
    counts = {"train_images": n_train, "train_labels": n_train, "test_images": n_test, "test_labels": n_test}
    for key, stem in FILE_STEMS.items():
        array = read_idx(_find_file(source_dir, stem))[: counts[key]]
        write_idx(folder / (stem + (".gz" if gz else "")), array)
    return folder
