"""Preflight of the dataset CSV, the image zip and the images, on small generated inputs."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from ludwig_track import inputs
from ludwig_track.errors import InputError

CONFIG = {
    "input_features": [{"name": "image_path", "type": "image"}],
    "output_features": [{"name": "label", "type": "category"}],
    "preprocessing": {"split": {"type": "fixed", "column": "split"}},
}


def png(size: tuple[int, int] = (8, 8), mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color=0).save(buffer, format="PNG")
    return buffer.getvalue()


def write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def default_rows() -> list[tuple[str, str, str]]:
    return [(f"training/{label}/{n}.png", str(label), "0") for label in range(2) for n in range(3)] + [
        (f"testing/{label}/{n}.png", str(label), "2") for label in range(2) for n in range(2)
    ]


def write_csv(
    path: Path, rows: list[tuple[str, ...]], header: str = "image_path,label,split", encoding: str = "utf-8", delimiter: str = ","
) -> Path:
    lines = [header.replace(",", delimiter)] + [delimiter.join(row) for row in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def run_preflight(tmp_path: Path, rows=None, entries=None, **csv_options) -> inputs.CheckedInput:  # type: ignore[no-untyped-def]
    rows = default_rows() if rows is None else rows
    if entries is None:
        entries = {row[0]: png() for row in rows if row[0]}
    csv_path = write_csv(tmp_path / "dataset.csv", rows, **csv_options)
    zip_path = write_zip(tmp_path / "images.zip", entries)
    return inputs.preflight(CONFIG, tmp_path / "config.yaml", csv_path, zip_path)


def test_preflight_accepts_clean_input(tmp_path):
    checked = run_preflight(tmp_path)
    assert checked.split_sizes == {"training": 6, "validation": 0, "test": 4}
    assert checked.class_counts["training"] == {"0": 3, "1": 3}
    assert checked.image_summary["sizes"] == {"8x8": 10}
    assert checked.warnings == []


@pytest.mark.parametrize(
    ("options", "label"),
    [
        ({"delimiter": ";"}, "semicolon"),
        ({"delimiter": "\t"}, "tab"),
        ({"encoding": "utf-16"}, "utf-16 with BOM"),
        ({"encoding": "utf-8-sig"}, "utf-8 with BOM"),
        ({"header": "Image_Path , Label , Split"}, "header case and spaces"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_csv_dialects_accepted(tmp_path, options, label):
    checked = run_preflight(tmp_path, **options)
    assert len(checked.dataset) == 10, label


def test_csv_excel_sep_line(tmp_path):
    csv_path = write_csv(tmp_path / "dataset.csv", default_rows(), delimiter=";")
    csv_path.write_text("sep=;\n" + csv_path.read_text())
    write_zip(tmp_path / "images.zip", {row[0]: png() for row in default_rows()})
    checked = inputs.preflight(CONFIG, tmp_path / "c.yaml", csv_path, tmp_path / "images.zip")
    assert len(checked.dataset) == 10


def test_csv_cp1252_read_with_warning(tmp_path):
    rows = default_rows()
    rows[0] = ("training/0/caf\u00e9.png", "0", "0")
    checked = run_preflight(tmp_path, rows=rows, encoding="cp1252")
    assert "training/0/caf\u00e9.png" in set(checked.dataset["image_path"])
    assert any("cp1252" in warning for warning in checked.warnings)


@pytest.mark.parametrize(
    ("spelling", "code"),
    [("0", 0), ("0.0", 0), ("train", 0), ("Training", 0), ("1", 1), ("validation", 1), ("val", 1), ("2", 2), ("2.0", 2), ("test", 2)],
)
def test_split_spellings_accepted(tmp_path, spelling, code):
    rows = default_rows() + [("extra.png", "0", spelling)]
    checked = run_preflight(tmp_path, rows=rows)
    assert checked.dataset.loc[checked.dataset["image_path"] == "extra.png", "split"].item() == code


def test_empty_rows_and_padded_labels(tmp_path):
    rows = default_rows() + [("", "", "")]
    rows[0] = (rows[0][0], " 0 ", "0")
    checked = run_preflight(tmp_path, rows=rows)
    assert len(checked.dataset) == 10
    assert set(checked.dataset["label"]) == {"0", "1"}
    assert any("empty rows" in warning for warning in checked.warnings)
    assert any("stripped spaces" in warning for warning in checked.warnings)


def test_class_only_in_test_warns(tmp_path):
    rows = default_rows() + [("testing/7/0.png", "7", "2")]
    checked = run_preflight(tmp_path, rows=rows)
    assert any("['7']" in warning and "never in training" in warning for warning in checked.warnings)


def _rows_with(**changes: tuple[str, str, str]) -> list:
    rows = default_rows()
    for index, row in changes.items():
        rows[int(index.removeprefix("row"))] = row
    return rows


BAD_CSV_CASES = [
    ("missing column", {"header": "image_path,labels,split"}, None, r"required column 'label' is missing .*Rename 'labels' to 'label'"),
    (
        "bad split values",
        {},
        _rows_with(row0=("training/0/0.png", "0", "x"), row1=("training/0/1.png", "0", "3")),
        r"unexpected values 'x' \(1 rows\), '3' \(1 rows\)",
    ),
    ("no training rows", {}, [(path, label, "2") for path, label, _ in default_rows()], r"no training rows"),
    ("empty label", {}, _rows_with(row0=("training/0/0.png", "", "0")), r"column 'label' is empty in 1 rows \(CSV lines 2\)"),
]


@pytest.mark.parametrize(("case", "options", "rows", "message"), BAD_CSV_CASES, ids=[case[0] for case in BAD_CSV_CASES])
def test_bad_csv_rejected(tmp_path, case, options, rows, message):
    entries = {row[0]: png() for row in default_rows()}
    with pytest.raises(InputError, match=message):
        run_preflight(tmp_path, rows=rows, entries=entries, **options)


def test_empty_csv_rejected(tmp_path):
    (tmp_path / "dataset.csv").write_text("")
    write_zip(tmp_path / "images.zip", {"a.png": png()})
    with pytest.raises(InputError, match="the dataset CSV is empty"):
        inputs.preflight(CONFIG, tmp_path / "config.yaml", tmp_path / "dataset.csv", tmp_path / "images.zip")


def test_all_problems_reported_at_once(tmp_path):
    rows = _rows_with(row0=("training/0/0.png", "0", "bogus"))
    write_csv(tmp_path / "dataset.csv", rows)
    (tmp_path / "images.zip").write_bytes(b"not a zip")
    config = dict(CONFIG, split={"type": "fixed"})
    with pytest.raises(InputError) as raised:
        inputs.preflight(config, tmp_path / "config.yaml", tmp_path / "dataset.csv", tmp_path / "images.zip")
    assert len(raised.value.problems) == 3
    assert "3 problems found" in str(raised.value)


def _symlink_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("training/0/link.png")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    return path


@pytest.mark.parametrize(
    ("name", "make_zip", "message"),
    [
        ("not a zip", lambda path: path.write_bytes(b"PK but not really") and path, r"not a zip archive"),
        ("parent traversal", lambda path: write_zip(path, {"../evil.png": png()}), r"outside the extraction folder .*\.\./evil\.png"),
        ("absolute path", lambda path: write_zip(path, {"/tmp/evil.png": png()}), r"outside the extraction folder"),
        ("symbolic link", _symlink_zip, r"symbolic links"),
    ],
    ids=["not-zip", "parent-traversal", "absolute-path", "symlink"],
)
def test_unsafe_or_broken_zip_rejected(tmp_path, name, make_zip, message):
    write_csv(tmp_path / "dataset.csv", default_rows())
    make_zip(tmp_path / "images.zip")
    with pytest.raises(InputError, match=message):
        inputs.preflight(CONFIG, tmp_path / "config.yaml", tmp_path / "dataset.csv", tmp_path / "images.zip")


def test_zip_limits_enforced(tmp_path):
    write_csv(tmp_path / "dataset.csv", default_rows())
    write_zip(tmp_path / "images.zip", {row[0]: png() for row in default_rows()})
    with pytest.raises(InputError, match="10 entries exceed the limit of 5"):
        inputs.preflight(CONFIG, tmp_path / "c.yaml", tmp_path / "dataset.csv", tmp_path / "images.zip", inputs.ZipLimits(max_entries=5))
    with pytest.raises(InputError, match="over the limit"):
        inputs.preflight(
            CONFIG, tmp_path / "c.yaml", tmp_path / "dataset.csv", tmp_path / "images.zip", inputs.ZipLimits(max_total_bytes=100)
        )


def test_zip_bomb_ratio_rejected(tmp_path):
    rows = default_rows()
    write_csv(tmp_path / "dataset.csv", rows)
    with zipfile.ZipFile(tmp_path / "images.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, _, _ in rows:
            archive.writestr(path, png())
        archive.writestr("bomb.bin", b"\0" * (4 * 1024**2))
    with pytest.raises(InputError, match="possible zip bomb"):
        inputs.preflight(CONFIG, tmp_path / "c.yaml", tmp_path / "dataset.csv", tmp_path / "images.zip")


def test_debris_skipped(tmp_path):
    rows = default_rows()
    entries = {row[0]: png() for row in rows}
    entries.update({"__MACOSX/training/0/._0.png": b"x", "training/.DS_Store": b"x", "Thumbs.db": b"x"})
    checked = run_preflight(tmp_path, rows=rows, entries=entries)
    assert len(checked.zip_members) == 10


def test_wrapping_folder_in_zip(tmp_path):
    rows = default_rows()
    checked = run_preflight(tmp_path, rows=rows, entries={f"mnist_png/{row[0]}": png() for row in rows})
    assert checked.zip_members["training/0/0.png"] == "mnist_png/training/0/0.png"
    assert any("top folder 'mnist_png/'" in warning for warning in checked.warnings)


def test_wrapping_folder_in_csv(tmp_path):
    rows = [(f"mnist_png/{path}", label, split) for path, label, split in default_rows()]
    checked = run_preflight(tmp_path, rows=rows, entries={row[0].removeprefix("mnist_png/"): png() for row in rows})
    assert checked.zip_members["mnist_png/training/0/0.png"] == "training/0/0.png"


class LegacyZipInfo(zipfile.ZipInfo):
    """Writes a UTF-8 name without the UTF-8 flag, as old Windows and macOS archivers did."""

    def _encodeFilenameFlags(self):  # noqa: N802 - overrides zipfile's private hook
        return self.filename.encode("utf-8"), self.flag_bits & ~0x800


def test_legacy_encoded_names(tmp_path):
    rows = [("training/0/caf\u00e9.png", "0", "0"), ("testing/0/0.png", "0", "2")]
    zip_path = tmp_path / "images.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        for name, _, _ in rows:
            archive.writestr(LegacyZipInfo(name), png())
    with zipfile.ZipFile(zip_path) as archive:
        assert "training/0/caf\u00e9.png" not in archive.namelist()
    write_csv(tmp_path / "dataset.csv", rows)
    checked = inputs.preflight(CONFIG, tmp_path / "c.yaml", tmp_path / "dataset.csv", zip_path)
    assert checked.zip_members["training/0/caf\u00e9.png"] == "training/0/caf\u00e9.png"
    dataset = inputs.extract_images(checked, tmp_path / "work")
    assert Path(dataset.loc[0, "image_path"]).name == "caf\u00e9.png"


def test_missing_images_listed_with_nearest(tmp_path):
    rows = default_rows() + [("training/0/seventeen.png", "0", "0")]
    entries = {row[0]: png() for row in default_rows()}
    entries["training/0/seventen.png"] = png()
    with pytest.raises(
        InputError,
        match=r"1 image path is not in images.zip: 'training/0/seventeen.png' \(line 12\), nearest in the zip: 'training/0/seventen.png'",
    ):
        run_preflight(tmp_path, rows=rows, entries=entries)


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"", "empty file"), (b"hello, not an image", "not an image"), (png()[:30], "unreadable or truncated")],
    ids=["empty", "text", "truncated"],
)
def test_bad_images_rejected(tmp_path, data, reason):
    rows = default_rows()
    entries = {row[0]: png() for row in rows}
    entries[rows[0][0]] = data
    with pytest.raises(InputError, match=rf"1 image is unreadable: 'training/0/0.png': {reason}"):
        run_preflight(tmp_path, rows=rows, entries=entries)


def test_mixed_images_allowed_and_summarised(tmp_path):
    rows = default_rows()
    entries = {row[0]: png() for row in rows}
    entries[rows[0][0]] = png((12, 10), "RGB")
    checked = run_preflight(tmp_path, rows=rows, entries=entries)
    assert checked.image_summary["modes"] == {"RGB": 1, "L": 9}
    assert checked.image_summary["sizes"] == {"8x8": 9, "12x10": 1}


def test_extraction_stays_in_folder(tmp_path):
    checked = run_preflight(tmp_path)
    dataset = inputs.extract_images(checked, tmp_path / "work")
    root = (tmp_path / "work").resolve()
    for path in dataset["image_path"]:
        assert Path(path).is_file()
        assert Path(path).resolve().is_relative_to(root)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset.csv", "images.zip", "work"]
