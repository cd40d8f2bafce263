"""Decode each image once per run instead of once per batch.

Ludwig 0.17 reads image features lazily by default: every epoch opens and
decodes every image file again, in threads that compete with training for the
CPU. On the full MNIST set with 2 cores that is about half of each epoch. Its
``lazy_cached`` mode decodes during the first epoch into a numpy memmap and
reads the memmap afterwards, with the same numbers going into the model.

Two things keep ``lazy_cached`` from being safe as Ludwig ships it. For data
passed as a DataFrame, the memmap goes to ``~/.cache/ludwig/lazy_media``. Its
name contains only the column, the row count and the image shape, so a later
run on other images of the same count and shape silently trains on the old
ones. And the memmap takes ``rows x height x width x channels x 4`` bytes of
disk. So ludwig_track turns the mode on only where the user left it unset and
the memmap fits, and keeps the memmap inside the run's own output folder
(:func:`decoded_images_in`), where it is deleted with the extracted images.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CACHED_MODE = "lazy_cached"
MAX_DISK_FRACTION = 0.5
"""Use at most this share of the output folder's free disk space for decoded images."""
CHANNELS_BY_MODE = {"1": 1, "L": 1, "I": 1, "F": 1, "I;16": 1, "LA": 2, "P": 3, "RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3}
MAX_INFERRED_SIDE = 256
"""Ludwig's default ceiling on inferred image height and width."""


def choose_image_decoding(config: dict[str, Any], image_summary: Mapping[str, Any], rows: int, output_dir: Path) -> list[str]:
    """Set ``preprocessing.mode: lazy_cached`` on image inputs that leave the mode unset.

    Changes ``config`` in place when the decoded images fit in half the free
    disk space of ``output_dir``; returns the names of the features changed.
    """
    features = [
        feature
        for feature in config.get("input_features") or []
        if isinstance(feature, dict) and feature.get("type") == "image" and "mode" not in (feature.get("preprocessing") or {})
    ]
    if not features:
        return []
    needed = sum(decoded_bytes(feature.get("preprocessing") or {}, image_summary, rows) for feature in features)
    free = shutil.disk_usage(_existing_parent(output_dir)).free
    if needed > free * MAX_DISK_FRACTION:
        logger.info(
            "Images are decoded again for every batch (Ludwig's default): decoding them once would need %.1f GB "
            "of the %.1f GB free under %s",
            needed / 1e9,
            free / 1e9,
            output_dir,
        )
        return []
    for feature in features:
        feature.setdefault("preprocessing", {})["mode"] = CACHED_MODE
    logger.info(
        "Decoding images once, in the first epoch (preprocessing.mode: %s, %.2f GB under %s); "
        "set preprocessing.mode in the config to choose otherwise",
        CACHED_MODE,
        needed / 1e9,
        output_dir,
    )
    return [str(feature.get("name")) for feature in features]


def decoded_bytes(preprocessing: Mapping[str, Any], image_summary: Mapping[str, Any], rows: int) -> int:
    """Estimate the bytes of ``rows`` images decoded to float32, from the config or the images seen in preflight."""
    sizes = [tuple(int(side) for side in size.split("x")) for size in (image_summary.get("sizes") or {})] or [(1, 1)]
    width = preprocessing.get("width") or min(max(width for width, _ in sizes), MAX_INFERRED_SIDE)
    height = preprocessing.get("height") or min(max(height for _, height in sizes), MAX_INFERRED_SIDE)
    modes = image_summary.get("modes") or {}
    channels = preprocessing.get("num_channels") or max((CHANNELS_BY_MODE.get(mode, 4) for mode in modes), default=3)
    return int(rows) * int(width) * int(height) * int(channels) * 4


@contextlib.contextmanager
def decoded_images_in(folder: Path) -> Iterator[Path]:
    """Make Ludwig write the memmaps of ``lazy_cached`` image features into ``folder``.

    Ludwig picks the memmap's path when it builds a dataset. Keep this active
    while data is preprocessed or handed to ``train`` or ``predict``; the
    datasets keep the path afterwards.
    """
    from ludwig.data import lazy_utils

    folder.mkdir(parents=True, exist_ok=True)
    original = lazy_utils.get_default_lazy_cache_dir
    lazy_utils.get_default_lazy_cache_dir = lambda: folder
    try:
        yield folder
    finally:
        lazy_utils.get_default_lazy_cache_dir = original


def _existing_parent(path: Path) -> Path:
    path = path.resolve()
    while not path.exists():
        path = path.parent
    return path
