"""Choosing when images are decoded once per run; no Ludwig import, no training."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ludwig_track import decoding

GREY_28 = {"modes": {"L": 70000}, "sizes": {"28x28": 70000}}


def image_config(preprocessing: dict | None = None) -> dict:
    feature = {"name": "image_path", "type": "image"}
    if preprocessing is not None:
        feature["preprocessing"] = preprocessing
    return {"input_features": [feature], "output_features": [{"name": "label", "type": "category"}]}


def test_unset_mode_becomes_cached(tmp_path):
    config = image_config()
    assert decoding.choose_image_decoding(config, GREY_28, 70000, tmp_path / "runs") == ["image_path"]
    assert config["input_features"][0]["preprocessing"] == {"mode": "lazy_cached"}


@pytest.mark.parametrize("mode", ["lazy", "eager", "lazy_cached"])
def test_user_mode_kept(tmp_path, mode):
    config = image_config({"mode": mode, "height": 28})
    assert decoding.choose_image_decoding(config, GREY_28, 70000, tmp_path) == []
    assert config["input_features"][0]["preprocessing"] == {"mode": mode, "height": 28}


def test_disk_too_small(tmp_path, monkeypatch):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(decoding.shutil, "disk_usage", lambda path: usage._replace(free=300_000_000))
    config = image_config()
    # 70,000 grey 28x28 images take 219.5 MB as float32: more than half of 300 MB.
    assert decoding.choose_image_decoding(config, GREY_28, 70000, tmp_path) == []
    assert "preprocessing" not in config["input_features"][0]


def test_other_features_untouched(tmp_path):
    config = image_config()
    config["input_features"].append({"name": "caption", "type": "text"})
    decoding.choose_image_decoding(config, GREY_28, 10, tmp_path)
    assert "preprocessing" not in config["input_features"][1]


@pytest.mark.parametrize(
    ("preprocessing", "summary", "expected"),
    [
        ({}, GREY_28, 70000 * 28 * 28 * 1 * 4),
        ({}, {"modes": {"RGB": 5, "RGBA": 1}, "sizes": {"32x32": 5, "64x48": 1}}, 70000 * 64 * 48 * 4 * 4),
        ({"height": 224, "width": 224, "num_channels": 3}, GREY_28, 70000 * 224 * 224 * 3 * 4),
        ({}, {"modes": {"RGB": 1}, "sizes": {"1024x768": 1}}, 70000 * 256 * 256 * 3 * 4),
    ],
)
def test_decoded_size_estimate(preprocessing, summary, expected):
    assert decoding.decoded_bytes(preprocessing, summary, 70000) == expected


def test_output_folder_not_created(tmp_path):
    decoding.choose_image_decoding(image_config(), GREY_28, 10, tmp_path / "not" / "yet")
    assert not Path(tmp_path / "not").exists()
