"""Build MNIST in the layout of a Ludwig image experiment.

The layout is the one users bring: ``mnist_images.zip`` holding
``training/<label>/<n>.png`` and ``testing/<label>/<n>.png``, and
``mnist_dataset.csv`` with the columns ``image_path,label,split`` where split 0
marks the 60,000 training images and 2 the 10,000 test images.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import logging
import struct
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ludwig_track.errors import InputError

logger = logging.getLogger(__name__)

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
# Mirror used by torchvision since the original host started rejecting scripted downloads.
DOWNLOAD_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
# A fixed timestamp keeps the zip byte-identical across rebuilds.
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class BuiltDataset:
    """Paths and sizes of a dataset written by :func:`build_dataset`."""

    csv_path: Path
    zip_path: Path
    n_train: int
    n_test: int


def read_idx(path: Path) -> np.ndarray:
    """Read a gzip-compressed IDX file into an array of uint8 values."""
    with gzip.open(path, "rb") as stream:
        data = stream.read()
    magic = struct.unpack(">I", data[:4])[0]
    if magic >> 8 != 0x08:  # 0x08 is the IDX type code of unsigned bytes
        raise InputError(f"{path}: not an IDX file of unsigned bytes (magic number {magic:#x}).")
    n_dims = magic & 0xFF
    shape = struct.unpack(f">{n_dims}I", data[4 : 4 + 4 * n_dims])
    values = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * n_dims)
    if values.size != int(np.prod(shape)):
        raise InputError(f"{path}: invalid IDX file: the header gives shape {shape} but the file contains {values.size} values.")
    return values.reshape(shape)


def download_idx(target_dir: Path, base_url: str = DOWNLOAD_URL) -> Path:
    """Download the four official MNIST IDX files into ``target_dir``."""
    target_dir.mkdir(parents=True, exist_ok=True)
    for name in IDX_FILES.values():
        destination = target_dir / name
        if destination.exists():
            continue
        logger.info("Downloading %s%s", base_url, name)
        with urllib.request.urlopen(base_url + name, timeout=60) as response:
            destination.write_bytes(response.read())
    return target_dir


def _stratified_indices(labels: np.ndarray, per_class: int | None, seed: int) -> np.ndarray:
    if per_class is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if per_class > len(members):
            raise InputError(f"Only {len(members)} images of class {label} exist; asked for {per_class} per class.")
        chosen.append(np.sort(rng.choice(members, size=per_class, replace=False)))
    return np.concatenate(chosen)


def _png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image, mode="L").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _rows(images: np.ndarray, labels: np.ndarray, indices: np.ndarray, folder: str, split: int) -> Iterator[tuple[str, int, int, bytes]]:
    for index in indices:
        label = int(labels[index])
        yield f"{folder}/{label}/{index}.png", label, split, _png_bytes(images[index])


def build_dataset(
    idx_dir: Path | None,
    output_dir: Path,
    train_per_class: int | None = None,
    test_per_class: int | None = None,
    seed: int = 0,
) -> BuiltDataset:
    """Write ``mnist_images.zip`` and ``mnist_dataset.csv`` into ``output_dir``.

    Args:
        idx_dir: Folder holding the four IDX files. ``None`` downloads them into
            ``output_dir/idx`` (needs network access).
        output_dir: Folder that receives the zip and the CSV.
        train_per_class: Training images drawn per digit, or ``None`` for all 60,000.
        test_per_class: Test images drawn per digit, or ``None`` for all 10,000.
        seed: Seed of the stratified draw, so that a sample can be rebuilt exactly.
    """
    if idx_dir is None:
        idx_dir = download_idx(output_dir / "idx")
    missing = [name for name in IDX_FILES.values() if not (idx_dir / name).is_file()]
    if missing:
        raise InputError(
            f"{idx_dir}: missing MNIST files {missing}. Pass the folder that contains them, or omit --idx-dir to download them."
        )

    arrays = {key: read_idx(idx_dir / name) for key, name in IDX_FILES.items()}
    train_idx = _stratified_indices(arrays["train_labels"], train_per_class, seed)
    test_idx = _stratified_indices(arrays["test_labels"], test_per_class, seed + 1)

    output_dir.mkdir(parents=True, exist_ok=True)
    zip_path = output_dir / "mnist_images.zip"
    csv_path = output_dir / "mnist_dataset.csv"
    rows = [
        *_rows(arrays["train_images"], arrays["train_labels"], train_idx, "training", 0),
        *_rows(arrays["test_images"], arrays["test_labels"], test_idx, "testing", 2),
    ]
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_STORED) as archive:
        # PNG data is already deflated, so storing it keeps extraction fast at no cost in size.
        for path, _, _, data in rows:
            archive.writestr(zipfile.ZipInfo(path, date_time=_ZIP_DATE), data)
    with csv_path.open("w", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(["image_path", "label", "split"])
        writer.writerows((path, label, split) for path, label, split, _ in rows)

    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()[:12]
    logger.info("Wrote %d training and %d test images to %s (sha256 %s…)", len(train_idx), len(test_idx), zip_path, digest)
    return BuiltDataset(csv_path, zip_path, len(train_idx), len(test_idx))
