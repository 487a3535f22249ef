"""Tests for glassnet.data.mnist: the IDX reader, the dataset checks and the splits."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from glassnet.data.mnist import (
    DEFAULT_DATASET_DIR,
    FILE_STEMS,
    IdxFormatError,
    MnistArrays,
    Split,
    load_idx_dataset,
    load_splits,
    read_idx,
    resolve_dataset_dir,
    verify_checksums,
)

BUNDLED = DEFAULT_DATASET_DIR


# --------------------------------------------------------------------------------------
# Helpers: write small IDX files and datasets
# --------------------------------------------------------------------------------------


def idx_bytes(arr: np.ndarray, type_code: int = 0x08) -> bytes:
    """Encode `arr` as IDX: 00 00 type ndim, big-endian uint32 sizes, then the bytes."""
    header = bytes([0, 0, type_code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def write_dataset(
    root: Path,
    n_train: int = 12,
    n_test: int = 4,
    hw: tuple[int, int] = (28, 28),
    gz: bool = False,
    overrides: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Write a tiny MNIST-layout dataset into `root`; return the arrays written."""
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, *hw), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, *hw), dtype=np.uint8),
        "test_labels": (np.arange(n_test)[::-1] % 10).astype(np.uint8),
    }
    arrays.update(overrides or {})
    root.mkdir(parents=True, exist_ok=True)
    for field, stem in FILE_STEMS.items():
        data = idx_bytes(arrays[field])
        if gz:
            (root / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (root / stem).write_bytes(data)
    return arrays


@pytest.fixture(scope="module")
def bundled() -> MnistArrays:
    return load_idx_dataset(BUNDLED)


# --------------------------------------------------------------------------------------
# The bundled MNIST files
# --------------------------------------------------------------------------------------


def test_bundled_dataset_shapes_and_labels(bundled: MnistArrays) -> None:
    assert bundled.train_images.shape == (60000, 28, 28)
    assert bundled.train_labels.shape == (60000,)
    assert bundled.test_images.shape == (10000, 28, 28)
    assert bundled.test_labels.shape == (10000,)
    for arr in (bundled.train_images, bundled.train_labels, bundled.test_images):
        assert arr.dtype == np.uint8
    assert set(np.unique(bundled.train_labels)) == set(range(10))
    assert set(np.unique(bundled.test_labels)) == set(range(10))
    # Background is 0 and ink reaches 255, as the README says.
    assert bundled.train_images.min() == 0 and bundled.train_images.max() == 255
    # The first training label of MNIST is a 5, the first test label a 7.
    assert bundled.train_labels[0] == 5 and bundled.test_labels[0] == 7


def test_bundled_checksums_pass() -> None:
    assert (BUNDLED / "SHA256SUMS").is_file()
    verify_checksums(BUNDLED)  # raises on any mismatch


def test_default_dir_is_repository_data_mnist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLASSNET_DATASET", raising=False)
    assert resolve_dataset_dir(None) == BUNDLED
    assert Path(__file__).resolve().parents[2] / "data" / "mnist" == BUNDLED


def test_bundled_splits(bundled: MnistArrays, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLASSNET_DATASET", raising=False)
    splits = load_splits()
    assert splits.source == str(BUNDLED)
    assert splits.train.x.shape == (55000, 1, 28, 28)
    assert splits.val.x.shape == (5000, 1, 28, 28)
    assert splits.test.x.shape == (10000, 1, 28, 28)
    for split in (splits.train, splits.val, splits.test):
        assert split.x.dtype == np.float32
        assert split.y.dtype == np.int64
        assert split.x.min() == 0.0 and split.x.max() == 1.0
    # Validation = the LAST 5000 training samples, unshuffled; activation = pixel / 255.
    np.testing.assert_array_equal(splits.val.y, bundled.train_labels[55000:])
    np.testing.assert_array_equal(splits.train.y, bundled.train_labels[:55000])
    np.testing.assert_array_equal(splits.val.x[:, 0], bundled.train_images[55000:].astype(np.float32) / 255)
    np.testing.assert_array_equal(splits.test.x[0, 0] * 255, bundled.test_images[0])
    assert len(splits.train) == 55000


def test_real_labels_file_raw_and_gzip_equal(tmp_path: Path) -> None:
    gz_path = BUNDLED / "train-labels-idx1-ubyte.gz"
    raw_path = tmp_path / "train-labels-idx1-ubyte"
    raw_path.write_bytes(gzip.decompress(gz_path.read_bytes()))
    np.testing.assert_array_equal(read_idx(gz_path), read_idx(raw_path))


# --------------------------------------------------------------------------------------
# read_idx
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(7,), (3, 5), (4, 3, 2), (2, 3, 2, 2), (0,)])
def test_read_idx_round_trips_shapes(tmp_path: Path, shape: tuple[int, ...]) -> None:
    arr = np.arange(int(np.prod(shape)), dtype=np.uint8).reshape(shape)
    path = tmp_path / "a.idx"
    path.write_bytes(idx_bytes(arr))
    out = read_idx(path)
    assert out.dtype == np.uint8 and out.shape == shape
    np.testing.assert_array_equal(out, arr)


def test_gzip_detected_by_magic_not_name(tmp_path: Path) -> None:
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    gz_without_suffix = tmp_path / "images-idx3-ubyte"
    gz_without_suffix.write_bytes(gzip.compress(idx_bytes(arr)))
    raw_with_suffix = tmp_path / "images-idx3-ubyte.gz"
    raw_with_suffix.write_bytes(idx_bytes(arr))
    np.testing.assert_array_equal(read_idx(gz_without_suffix), arr)
    np.testing.assert_array_equal(read_idx(raw_with_suffix), arr)
    assert isinstance(read_idx(str(raw_with_suffix)), np.ndarray)  # str paths work too


_GOOD = idx_bytes(np.arange(60, dtype=np.uint8).reshape(5, 3, 4))

MALFORMED: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "truncated header"),
    "short-header": (b"\x00\x00\x08", "truncated header"),
    "bad-magic": (b"\x12\x34" + _GOOD[2:], "bad magic"),
    "text-file": (b"hello, not an idx file\n", "bad magic"),
    "float-type": (b"\x00\x00\x0d" + _GOOD[3:], "unsupported element type 0x0d"),
    "int32-type": (b"\x00\x00\x0c" + _GOOD[3:], "only 0x08"),
    "zero-dims": (b"\x00\x00\x08\x00", "0 dimensions"),
    "five-dims": (b"\x00\x00\x08\x05" + struct.pack(">5I", 1, 1, 1, 1, 1) + b"\x00", "5 dim"),
    "truncated-sizes": (_GOOD[:9], "truncated header"),
    "truncated-data": (_GOOD[:-7], "truncated: header says shape (5, 3, 4) = 60 bytes"),
    "trailing-bytes": (_GOOD + b"\x00\x01\x02", "3 unexpected bytes"),
    "corrupt-gzip": (b"\x1f\x8b" + b"\x00" * 40, "gzip"),
    "truncated-gzip": (gzip.compress(_GOOD)[:-12], "gzip"),
    "garbage-after-gzip": (gzip.compress(_GOOD) + b"junk-after-the-stream", "gzip"),
    "gzip-of-truncated": (gzip.compress(_GOOD[:-1]), "found 59"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_raise_idx_format_error(tmp_path: Path, case: str) -> None:
    content, expected = MALFORMED[case]
    path = tmp_path / f"{case}-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(IdxFormatError) as info:
        read_idx(path)
    message = str(info.value)
    assert path.name in message
    assert expected in message


def test_truncated_message_counts_bytes(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte.gz"
    header = bytes([0, 0, 8, 3]) + struct.pack(">3I", 60000, 28, 28)
    path.write_bytes(gzip.compress(header + b"\x00" * 1200))
    with pytest.raises(IdxFormatError, match=r"header says .*47040000 bytes of data, found 1200"):
        read_idx(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(IdxFormatError, match="nope-idx1-ubyte: file not found"):
        read_idx(tmp_path / "nope-idx1-ubyte")
    with pytest.raises(IdxFormatError, match="directory"):
        read_idx(tmp_path)


def test_idx_format_error_is_value_error() -> None:
    assert issubclass(IdxFormatError, ValueError)


# --------------------------------------------------------------------------------------
# load_idx_dataset
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_load_dataset_raw_or_gzip(tmp_path: Path, gz: bool) -> None:
    written = write_dataset(tmp_path, gz=gz)
    arrays = load_idx_dataset(tmp_path)
    for field, arr in written.items():
        np.testing.assert_array_equal(getattr(arrays, field), arr)


def test_load_dataset_mixed_compression_and_any_size(tmp_path: Path) -> None:
    written = write_dataset(tmp_path, hw=(8, 6))
    stem = FILE_STEMS["test_images"]
    raw = (tmp_path / stem).read_bytes()
    (tmp_path / stem).unlink()
    (tmp_path / f"{stem}.gz").write_bytes(gzip.compress(raw))
    arrays = load_idx_dataset(tmp_path)
    assert arrays.train_images.shape == (12, 8, 6)
    np.testing.assert_array_equal(arrays.test_images, written["test_images"])


def test_env_var_overrides_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_dataset(tmp_path, n_train=7)
    monkeypatch.setenv("GLASSNET_DATASET", str(tmp_path))
    assert resolve_dataset_dir(None) == tmp_path
    assert resolve_dataset_dir(BUNDLED) == BUNDLED  # an explicit directory wins
    assert load_idx_dataset().train_images.shape[0] == 7


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(IdxFormatError, match="dataset directory not found"):
        load_idx_dataset(tmp_path / "absent")


def test_missing_file_in_dataset(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    (tmp_path / FILE_STEMS["test_labels"]).unlink()
    with pytest.raises(IdxFormatError, match="t10k-labels-idx1-ubyte"):
        load_idx_dataset(tmp_path)


def test_count_mismatch(tmp_path: Path) -> None:
    write_dataset(tmp_path, overrides={"train_labels": np.zeros(11, dtype=np.uint8)})
    with pytest.raises(IdxFormatError) as info:
        load_idx_dataset(tmp_path)
    message = str(info.value)
    assert "train-images-idx3-ubyte" in message and "train-labels-idx1-ubyte" in message
    assert "12 images" in message and "11 labels" in message


def test_label_out_of_range(tmp_path: Path) -> None:
    labels = np.zeros(4, dtype=np.uint8)
    labels[2] = 12
    write_dataset(tmp_path, overrides={"test_labels": labels})
    with pytest.raises(IdxFormatError, match=r"t10k-labels-idx1-ubyte: label 12 at index 2"):
        load_idx_dataset(tmp_path)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("train_images", np.zeros((12, 784), dtype=np.uint8), "train-images-idx3-ubyte"),
        ("test_labels", np.zeros((4, 1), dtype=np.uint8), "t10k-labels-idx1-ubyte"),
        ("test_images", np.zeros((4, 28, 27), dtype=np.uint8), "28x27"),
    ],
)
def test_wrong_ranks_and_sizes(tmp_path: Path, field: str, value: np.ndarray, expected: str) -> None:
    write_dataset(tmp_path, overrides={field: value})
    with pytest.raises(IdxFormatError, match=expected):
        load_idx_dataset(tmp_path)


def test_malformed_file_in_dataset_is_named(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    path = tmp_path / FILE_STEMS["train_images"]
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(IdxFormatError, match="train-images-idx3-ubyte: truncated"):
        load_idx_dataset(tmp_path)


# --------------------------------------------------------------------------------------
# verify_checksums
# --------------------------------------------------------------------------------------


def write_sums(root: Path, gz: bool) -> None:
    lines = []
    for stem in FILE_STEMS.values():
        data = (root / (f"{stem}.gz" if gz else stem)).read_bytes()
        raw = gzip.decompress(data) if gz else data
        lines.append(f"{hashlib.sha256(raw).hexdigest()}  {stem}\n")
    (root / "SHA256SUMS").write_text("".join(lines))


@pytest.mark.parametrize("gz", [False, True])
def test_checksums_pass_and_detect_mismatch(tmp_path: Path, gz: bool) -> None:
    write_dataset(tmp_path, gz=gz)
    write_sums(tmp_path, gz=gz)
    verify_checksums(tmp_path)
    # Same length, one byte different: only the hash can tell.
    images = write_dataset(tmp_path, gz=gz)["test_images"].copy()
    images[0, 0, 0] ^= 0xFF
    write_dataset(tmp_path, gz=gz, overrides={"test_images": images})
    with pytest.raises(IdxFormatError, match=r"t10k-images-idx3-ubyte(\.gz)?: sha256 mismatch"):
        verify_checksums(tmp_path)


def test_no_checksum_file_is_fine(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    assert verify_checksums(tmp_path) is None


def test_checksums_bundled_copy_detects_corruption(tmp_path: Path) -> None:
    # A copy of the (small) bundled label files with their real sums, one byte flipped.
    stem = "t10k-labels-idx1-ubyte"
    raw = bytearray(gzip.decompress((BUNDLED / f"{stem}.gz").read_bytes()))
    sums = [line for line in (BUNDLED / "SHA256SUMS").read_text().splitlines() if stem in line]
    (tmp_path / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    (tmp_path / stem).write_bytes(bytes(raw))
    verify_checksums(tmp_path)
    raw[100] ^= 1
    (tmp_path / stem).write_bytes(bytes(raw))
    with pytest.raises(IdxFormatError, match=f"{stem}: sha256 mismatch"):
        verify_checksums(tmp_path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not-a-hash  train-images-idx3-ubyte\n", "line 1"),
        (f"{'0' * 64}  ../etc/passwd\n", "not a plain file name"),
        (f"# comment\n\n{'0' * 64}  absent-file\n", "absent-file: file not found"),
    ],
)
def test_bad_checksum_lists(tmp_path: Path, content: str, expected: str) -> None:
    write_dataset(tmp_path)
    (tmp_path / "SHA256SUMS").write_text(content)
    with pytest.raises(IdxFormatError, match=expected):
        verify_checksums(tmp_path)


# --------------------------------------------------------------------------------------
# load_splits
# --------------------------------------------------------------------------------------


def test_splits_hold_out_the_last_samples(tmp_path: Path) -> None:
    written = write_dataset(tmp_path, n_train=12, n_test=4)
    splits = load_splits(tmp_path, validation=3)
    assert splits.source == str(tmp_path)
    assert splits.train.x.shape == (9, 1, 28, 28)
    assert splits.val.x.shape == (3, 1, 28, 28)
    assert splits.test.x.shape == (4, 1, 28, 28)
    np.testing.assert_array_equal(splits.val.y, written["train_labels"][9:].astype(np.int64))
    np.testing.assert_array_equal(splits.val.x[:, 0], written["train_images"][9:].astype(np.float32) / 255)
    np.testing.assert_array_equal(splits.train.x[:, 0], written["train_images"][:9].astype(np.float32) / 255)
    for split in (splits.train, splits.val, splits.test):
        assert split.x.dtype == np.float32 and split.y.dtype == np.int64
        assert split.x.min() >= 0.0 and split.x.max() <= 1.0


def test_splits_are_deterministic(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    a, b = load_splits(tmp_path, validation=5), load_splits(tmp_path, validation=5)
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a, name).x, getattr(b, name).x)
        np.testing.assert_array_equal(getattr(a, name).y, getattr(b, name).y)


def test_zero_validation_gives_empty_val(tmp_path: Path) -> None:
    write_dataset(tmp_path, hw=(10, 9))
    splits = load_splits(tmp_path, validation=0)
    assert splits.val.x.shape == (0, 1, 10, 9)
    assert splits.val.y.shape == (0,)
    assert splits.train.x.shape == (12, 1, 10, 9)


@pytest.mark.parametrize("validation", [-1, 12, 13, 2.5, True])
def test_validation_out_of_range(tmp_path: Path, validation: object) -> None:
    write_dataset(tmp_path, n_train=12)
    with pytest.raises(ValueError, match="validation"):
        load_splits(tmp_path, validation=validation)  # type: ignore[arg-type]


def test_split_checks_its_arrays() -> None:
    x = np.zeros((3, 1, 28, 28), dtype=np.float32)
    y = np.zeros(3, dtype=np.int64)
    assert len(Split(x, y)) == 3
    with pytest.raises(ValueError, match="float32"):
        Split(x.astype(np.float64), y)
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        Split(x[:, 0], y)
    with pytest.raises(ValueError, match="labels"):
        Split(x, y[:2])


def test_write_idx_round_trips_and_subsets_are_real_mnist(tmp_path: Path) -> None:
    from glassnet.data.mnist import write_idx, write_subset

    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        assert np.array_equal(read_idx(write_idx(tmp_path / name, array)), array)
    with pytest.raises(ValueError, match="uint8"):
        write_idx(tmp_path / "bad", np.zeros(3, np.float32))
    subset = load_idx_dataset(write_subset(tmp_path / "small", 30, 10, gz=True))
    full = load_idx_dataset()
    assert subset.train_images.shape == (30, 28, 28) and subset.test_labels.shape == (10,)
    assert np.array_equal(subset.train_images, full.train_images[:30])
    assert np.array_equal(subset.test_labels, full.test_labels[:10])
