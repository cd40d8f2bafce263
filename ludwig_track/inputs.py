"""Read and check the dataset CSV, the image zip and the images, without Ludwig.

:func:`preflight` runs every check and raises one :class:`InputError` that lists
all problems found. :func:`extract_images` then unpacks the zip, confined to
its target folder, and returns the dataset with absolute image paths.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import logging
import os
import posixpath
import shutil
import stat
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ludwig_track import config as config_lib
from ludwig_track.errors import InputError

logger = logging.getLogger(__name__)

IMAGE_COLUMN = "image_path"
LABEL_COLUMN = "label"
SPLIT_COLUMN = "split"
REQUIRED_COLUMNS = (IMAGE_COLUMN, LABEL_COLUMN, SPLIT_COLUMN)

SPLIT_NAMES = {0: "training", 1: "validation", 2: "test"}
SPLIT_SPELLINGS = {
    "0": 0, "train": 0, "training": 0,
    "1": 1, "val": 1, "valid": 1, "validation": 1, "dev": 1,
    "2": 2, "test": 2, "testing": 2,
}  # fmt: skip

# Files that archivers and file managers add beside the real content.
DEBRIS_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", ".directory"})
DEBRIS_FOLDERS = frozenset({"__MACOSX", ".Trash", ".Spotlight-V100", ".fseventsd"})

IMAGE_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}
MAX_LISTED = 5


@dataclass(frozen=True)
class ZipLimits:
    """Bounds that guard extraction against archive bombs."""

    max_entries: int = 1_000_000
    max_total_bytes: int = 20 * 1024**3
    max_ratio: float = 200.0
    """Largest uncompressed-to-compressed size ratio of an entry larger than 1 MiB."""


@dataclass
class CheckedInput:
    """The dataset after preflight, with image paths as they are named in the zip."""

    dataset: pd.DataFrame
    csv_path: Path
    zip_path: Path
    zip_members: dict[str, str]
    """Maps each image path of the CSV to the name of its entry in the zip."""
    warnings: list[str] = field(default_factory=list)
    image_summary: dict[str, Any] = field(default_factory=dict)

    @property
    def split_sizes(self) -> dict[str, int]:
        counts = self.dataset[SPLIT_COLUMN].value_counts()
        return {name: int(counts.get(code, 0)) for code, name in SPLIT_NAMES.items()}

    @property
    def class_counts(self) -> dict[str, dict[str, int]]:
        table = self.dataset.groupby([SPLIT_COLUMN, LABEL_COLUMN]).size()
        counts: dict[str, dict[str, int]] = {}
        for (code, label), count in table.items():
            counts.setdefault(SPLIT_NAMES[int(code)], {})[str(label)] = int(count)
        return counts


def read_dataset_csv(path: Path, problems: list[str], warnings: list[str]) -> pd.DataFrame | None:
    """Read the dataset CSV in whatever encoding and dialect a spreadsheet wrote it.

    Appends problems and warnings instead of raising, so that preflight can
    report everything at once. Returns ``None`` when the file cannot be used.
    """
    if not path.is_file():
        problems.append(f"{path}: dataset CSV not found. Pass the path of a CSV with columns {', '.join(REQUIRED_COLUMNS)}.")
        return None
    raw = path.read_bytes()
    text = _decode(raw, path, warnings)
    if not text.strip():
        problems.append(f"{path}: the dataset CSV is empty. It needs a header row {','.join(REQUIRED_COLUMNS)} and one row per image.")
        return None
    first_line, _, rest = text.partition("\n")
    if first_line.strip().lower().startswith("sep=") and len(first_line.strip()) == 5:
        # Excel writes a "sep=;" line to name the delimiter of the file.
        delimiter, text = first_line.strip()[4], rest
    else:
        try:
            delimiter = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, skip_blank_lines=True)
    except (pd.errors.ParserError, csv.Error) as err:
        problems.append(f"{path}: not a readable CSV ({err}). Save it as comma-separated values with a header row.")
        return None

    renames = {column: column.strip().lower() for column in frame.columns if column != column.strip().lower()}
    frame = frame.rename(columns=renames)
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        found = ", ".join(repr(column) for column in frame.columns)
        for column in missing:
            close = difflib.get_close_matches(column, [str(c) for c in frame.columns], n=1, cutoff=0.6)
            hint = f" Rename '{close[0]}' to '{column}'." if close else f" Add a '{column}' column."
            problems.append(f"{path}: required column '{column}' is missing (columns found: {found}).{hint}")
        return None

    empty = (frame[list(REQUIRED_COLUMNS)].apply(lambda column: column.str.strip()) == "").all(axis=1)
    if empty.any():
        warnings.append(f"{path}: skipped {int(empty.sum())} empty rows.")
        frame = frame[~empty]
    # The index stays the data row number, so index + 2 is the line in the file (line 1 is the header).
    _check_cells(frame, path, problems, warnings)
    return frame


def _decode(raw: bytes, path: Path, warnings: list[str]) -> str:
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        warnings.append(f"{path}: not valid UTF-8; read it as Windows-1252 (cp1252). Save it as UTF-8 to be sure of the file names.")
        return raw.decode("cp1252", errors="replace")


def _check_cells(frame: pd.DataFrame, path: Path, problems: list[str], warnings: list[str]) -> None:
    """Normalise the image path, label and split columns in place."""
    for column in (IMAGE_COLUMN, LABEL_COLUMN):
        blank = frame[column].str.strip() == ""
        if blank.any():
            rows = _row_numbers(blank)
            problems.append(
                f"{path}: column '{column}' is empty in {int(blank.sum())} rows (CSV lines {rows}). Fill them in or delete those rows."
            )

    stripped = frame[LABEL_COLUMN].str.strip()
    padded = stripped != frame[LABEL_COLUMN]
    if padded.any():
        examples = ", ".join(repr(value) for value in frame.loc[padded, LABEL_COLUMN].unique()[:MAX_LISTED])
        warnings.append(f"{path}: stripped spaces around {int(padded.sum())} labels ({examples}), so that ' 3' and '3' are one class.")
    frame[LABEL_COLUMN] = stripped
    frame[IMAGE_COLUMN] = frame[IMAGE_COLUMN].str.strip().map(normalise_member_name)

    spellings = frame[SPLIT_COLUMN].str.strip().str.lower()
    numeric = pd.to_numeric(spellings, errors="coerce")
    whole = numeric.notna() & (numeric == numeric.round())
    spellings = spellings.where(~whole, numeric.where(whole).astype("Int64").astype(str))
    codes = spellings.map(SPLIT_SPELLINGS)
    unknown = codes.isna()
    if unknown.any():
        counts = Counter(frame.loc[unknown, SPLIT_COLUMN])
        listed = ", ".join(f"{value!r} ({count} rows)" for value, count in counts.most_common())
        problems.append(
            f"{path}: column '{SPLIT_COLUMN}' has unexpected values {listed}. "
            "Use 0 (or 'train') for training, 1 ('validation') for validation and 2 ('test') for test."
        )
        return
    frame[SPLIT_COLUMN] = codes.astype(int)
    if not (frame[SPLIT_COLUMN] == 0).any():
        problems.append(f"{path}: no training rows (split 0). Mark the rows to train on with split 0.")
        return
    training_labels = set(frame.loc[frame[SPLIT_COLUMN] == 0, LABEL_COLUMN])
    for code in (1, 2):
        unseen = sorted(set(frame.loc[frame[SPLIT_COLUMN] == code, LABEL_COLUMN]) - training_labels)
        if unseen:
            warnings.append(
                f"{path}: classes {unseen} appear in the {SPLIT_NAMES[code]} split but never in training, so the model cannot predict them."
            )


def _row_numbers(mask: pd.Series) -> str:
    # Line 1 of the file is the header, so data row i sits on line i + 2.
    lines = [str(index + 2) for index in mask[mask].index[:MAX_LISTED]]
    return ", ".join(lines) + (", …" if int(mask.sum()) > MAX_LISTED else "")


def _count(number: int, noun: str) -> str:
    """Return "1 image is" or "3 images are"."""
    return f"1 {noun} is" if number == 1 else f"{number} {noun}s are"


def normalise_member_name(name: str) -> str:
    """Return a relative POSIX path: backslashes to slashes, no ``./`` prefix."""
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def list_zip(path: Path, limits: ZipLimits, problems: list[str], warnings: list[str]) -> dict[str, zipfile.ZipInfo] | None:
    """Return the zip's file entries by normalised name, skipping operating-system debris.

    Rejects entries that would land outside the extraction folder (``..``,
    absolute paths, drive letters, symbolic links) and archives out of
    proportion to ``limits``.
    """
    if not path.is_file():
        problems.append(f"{path}: image zip not found. Pass the zip that holds the images the CSV names.")
        return None
    if not zipfile.is_zipfile(path):
        problems.append(f"{path}: not a zip archive. Pass a .zip file of the images (tar and 7z archives are not read).")
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError) as err:
        problems.append(f"{path}: corrupt zip archive ({err}). Re-create the zip.")
        return None

    if len(infos) > limits.max_entries:
        problems.append(
            f"{path}: {len(infos)} entries exceed the limit of {limits.max_entries}. Raise the entry limit (--max-zip-entries) if the archive is trusted."
        )
        return None
    total = sum(info.file_size for info in infos)
    if total > limits.max_total_bytes:
        problems.append(
            f"{path}: expands to {total / 1024**3:.1f} GiB, over the limit of {limits.max_total_bytes / 1024**3:.1f} GiB. "
            "Raise the size limit (--max-zip-gib) if the archive is trusted."
        )
        return None

    members: dict[str, zipfile.ZipInfo] = {}
    unsafe: list[str] = []
    debris = 0
    for info in infos:
        name = _member_name(info)
        if info.is_dir():
            continue
        if _is_debris(name):
            debris += 1
            continue
        if _is_unsafe(info, name):
            unsafe.append(name)
            continue
        if info.file_size > 1024**2 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            problems.append(
                f"{path}: entry '{name}' expands {info.file_size / max(info.compress_size, 1):.0f} times, "
                f"over the ratio limit of {limits.max_ratio:.0f}; rejected as a possible zip bomb."
            )
            continue
        members[name] = info
    if unsafe:
        problems.append(
            f"{path}: {len(unsafe)} entries would land outside the extraction folder or are symbolic links "
            f"({', '.join(unsafe[:MAX_LISTED])}). Re-create the zip with relative paths and plain files."
        )
    if debris:
        logger.info("%s: skipping %d operating-system files (__MACOSX, .DS_Store, …)", path, debris)
    return members


def _member_name(info: zipfile.ZipInfo) -> str:
    name = info.filename
    # Without the UTF-8 flag (bit 11), zipfile decodes names as cp437; archivers
    # on Windows and older macOS wrote UTF-8 or the local code page there instead.
    if not info.flag_bits & 0x800 and not name.isascii():
        raw = name.encode("cp437")
        for encoding in ("utf-8", "cp1252"):
            try:
                name = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    return normalise_member_name(name)


def _is_debris(name: str) -> bool:
    # Plain string splitting: this runs once per entry, 70,000 times for MNIST.
    parts = [part for part in name.split("/") if part]
    if not parts:
        return True
    return any(part in DEBRIS_FOLDERS for part in parts) or parts[-1] in DEBRIS_NAMES or parts[-1].startswith("._")


def _is_unsafe(info: zipfile.ZipInfo, name: str) -> bool:
    if stat.S_ISLNK(info.external_attr >> 16):
        return True
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return True
    return ".." in name.split("/")


def match_images(
    image_paths: pd.Series, members: dict[str, zipfile.ZipInfo], zip_path: Path, csv_path: Path, problems: list[str], warnings: list[str]
) -> dict[str, str]:
    """Map each CSV image path to its zip entry, allowing for one wrapping top folder."""
    requested = pd.unique(image_paths)
    names = set(members)
    direct = {path: path for path in requested if path in names}
    if len(direct) == len(requested):
        return direct

    tops = {name.split("/", 1)[0] for name in names if "/" in name}
    if len(tops) == 1 and all("/" in name for name in names):
        top = tops.pop()
        prefixed = {path: f"{top}/{path}" for path in requested if f"{top}/{path}" in names}
        if len(prefixed) > len(direct):
            warnings.append(
                f"{zip_path}: every image sits under the top folder '{top}/', which the CSV paths omit; reading them from there."
            )
            return _report_missing(image_paths, prefixed, names, zip_path, csv_path, problems)
    stripped: dict[str, str] = {}
    for path in requested:
        if "/" in path and path.split("/", 1)[1] in names:
            stripped[path] = path.split("/", 1)[1]
    if len(stripped) > len(direct):
        top = next(iter(stripped)).split("/", 1)[0]
        warnings.append(f"{csv_path}: image paths start with the folder '{top}/', which the zip does not have; reading them without it.")
        return _report_missing(image_paths, stripped, names, zip_path, csv_path, problems)
    return _report_missing(image_paths, direct, names, zip_path, csv_path, problems)


def _report_missing(
    image_paths: pd.Series, found: dict[str, str], names: set[str], zip_path: Path, csv_path: Path, problems: list[str]
) -> dict[str, str]:
    first_lines = {path: index + 2 for index, path in image_paths.drop_duplicates().items()}
    missing = [path for path in first_lines if path not in found]
    if missing:
        lines = []
        by_folder: dict[str, list[str]] = {}
        for name in names:
            by_folder.setdefault(posixpath.dirname(name), []).append(name)
        for path in missing[:MAX_LISTED]:
            candidates = by_folder.get(posixpath.dirname(path)) or list(names)[:20_000]
            close = difflib.get_close_matches(path, candidates, n=1, cutoff=0.5)
            lines.append(f"'{path}' (line {first_lines[path]})" + (f", nearest in the zip: '{close[0]}'" if close else ""))
        more = f" and {len(missing) - MAX_LISTED} more" if len(missing) > MAX_LISTED else ""
        problems.append(
            f"{csv_path}: {_count(len(missing), 'image path')} not in {zip_path.name}: {'; '.join(lines)}{more}. "
            "Fix the paths in the image_path column or add the images to the zip."
        )
    return found


def check_images(zip_path: Path, members: dict[str, str], problems: list[str]) -> dict[str, Any]:
    """Open every image named by the CSV and summarise formats, modes and sizes.

    Empty files, files that are not images and truncated images are problems;
    mixed channel counts and sizes are allowed (Ludwig converts them) and only summarised.
    """
    from PIL import Image, UnidentifiedImageError

    formats: Counter[str] = Counter()
    modes: Counter[str] = Counter()
    sizes: Counter[tuple[int, int]] = Counter()
    bad: list[str] = []
    with zipfile.ZipFile(zip_path) as archive:
        infos = {_member_name(info): info for info in archive.infolist()}
        for csv_name, member in members.items():
            data = archive.read(infos[member])
            reason = None
            if not data:
                reason = "empty file"
            elif not any(data.startswith(signature) for signature in IMAGE_SIGNATURES) and data[8:12] != b"WEBP":
                reason = "not an image"
            else:
                try:
                    with Image.open(io.BytesIO(data)) as image:
                        formats[image.format or "?"] += 1
                        modes[image.mode] += 1
                        sizes[image.size] += 1
                        image.load()
                except (UnidentifiedImageError, OSError, SyntaxError) as err:
                    reason = f"unreadable or truncated ({err})"
            if reason:
                bad.append(f"'{csv_name}': {reason}")
    if bad:
        more = f" and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
        problems.append(f"{zip_path}: {_count(len(bad), 'image')} unreadable: {'; '.join(bad[:MAX_LISTED])}{more}. Replace or remove them.")
    summary = {
        "formats": dict(formats),
        "modes": dict(modes),
        "sizes": {f"{width}x{height}": count for (width, height), count in sizes.most_common()},
    }
    if len(modes) > 1 or len(sizes) > 1:
        logger.warning(
            "%s: images differ in mode %s or size %s; Ludwig converts them to the first image's channels and size",
            zip_path,
            dict(modes),
            summary["sizes"],
        )
    return summary


def preflight(
    config: dict[str, Any],
    config_path: Path,
    csv_path: Path,
    zip_path: Path,
    limits: ZipLimits | None = None,
    check_image_files: bool = True,
) -> CheckedInput:
    """Check config, CSV, zip and images together, before any run starts.

    Raises:
        InputError: listing every problem found, each with the file, the
            row, key or value, and the fix.
    """
    problems: list[str] = []
    warnings: list[str] = []
    frame = read_dataset_csv(csv_path, problems, warnings)
    problems.extend(config_lib.check_config(config, config_path, None if frame is None else frame.columns))
    members = list_zip(zip_path, limits or ZipLimits(), problems, warnings)
    zip_members: dict[str, str] = {}
    image_summary: dict[str, Any] = {}
    if frame is not None and members is not None and SPLIT_COLUMN in frame and frame[SPLIT_COLUMN].dtype.kind == "i":
        zip_members = match_images(frame[IMAGE_COLUMN], members, zip_path, csv_path, problems, warnings)
        # Decoding every image takes seconds on large sets, so bad input is rejected first.
        if check_image_files and zip_members and not problems:
            image_summary = check_images(zip_path, zip_members, problems)
        elif check_image_files and problems:
            problems[-1] += " (The image files themselves are checked once these problems are fixed.)"
    if problems:
        raise InputError(problems)
    assert frame is not None
    for warning in warnings:
        logger.warning("%s", warning)
    return CheckedInput(frame, csv_path, zip_path, zip_members, warnings, image_summary)


class BackgroundExtraction:
    """Extract the images in a separate process, so that the work overlaps with importing Ludwig.

    Use as a context manager. The images land in a fresh folder under
    ``parent``, which is removed on exit, after an error too; :meth:`result`
    waits for the extraction and returns the dataset with absolute paths.
    """

    def __init__(self, checked: CheckedInput, parent: Path) -> None:
        self._checked = checked
        self._parent = parent
        self.folder: Path | None = None
        self._pool: Any = None
        self._job: Any = None

    def __enter__(self) -> BackgroundExtraction:
        import multiprocessing
        import tempfile

        self._parent.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix=".images-", dir=self._parent))
        # Spawn rather than fork: MLflow and torch may have started threads by now.
        self._pool = multiprocessing.get_context("spawn").Pool(1)
        self._job = self._pool.apply_async(_extract_members, (self._checked.zip_path, self._checked.zip_members, self.folder))
        return self

    def result(self) -> pd.DataFrame:
        targets = self._job.get()
        # The pool's helper threads poll while it lives, so end it before training starts.
        self._pool.close()
        self._pool.join()
        self._pool = None
        dataset = self._checked.dataset.copy()
        dataset[IMAGE_COLUMN] = dataset[IMAGE_COLUMN].map(targets)
        return dataset

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def extract_images(checked: CheckedInput, destination: Path) -> pd.DataFrame:
    """Extract the images the CSV names into ``destination``; return the dataset with absolute paths.

    Every target path is checked to stay inside ``destination`` before it is
    written. :func:`list_zip` already rejected entries with ``..``, absolute
    paths and symbolic links, so a string check suffices and no file system
    lookups slow down the 70,000 writes of MNIST.
    """
    targets = _extract_members(checked.zip_path, checked.zip_members, destination)
    dataset = checked.dataset.copy()
    dataset[IMAGE_COLUMN] = dataset[IMAGE_COLUMN].map(targets)
    return dataset


def _extract_members(zip_path: Path, members: dict[str, str], destination: Path) -> dict[str, str]:
    """Write each zip entry of ``members`` under ``destination``; return the CSV name to file path mapping."""
    root = destination.resolve()
    root.mkdir(parents=True, exist_ok=True)
    root_text = str(root) + os.sep
    targets: dict[str, str] = {}
    created: set[str] = set()
    with zipfile.ZipFile(zip_path) as archive:
        infos = {_member_name(info): info for info in archive.infolist()}
        for csv_name, member in members.items():
            target = os.path.normpath(os.path.join(root_text, member))
            if not target.startswith(root_text):
                raise InputError(f"{zip_path}: entry '{member}' would be written outside {root}.")
            folder = os.path.dirname(target)
            if folder not in created:
                os.makedirs(folder, exist_ok=True)
                created.add(folder)
            with open(target, "wb") as sink:
                sink.write(archive.read(infos[member]))
            targets[csv_name] = target
    return targets
