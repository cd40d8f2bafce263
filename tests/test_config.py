"""Config loading, checks, flattening and dotted paths, without Ludwig."""

from __future__ import annotations

import pytest

from ludwig_track import config as config_lib
from ludwig_track.errors import InputError

CONFIG = {
    "input_features": [
        {
            "name": "image_path",
            "type": "image",
            "encoder": {"type": "stacked_cnn", "conv_layers": [{"num_filters": 32}, {"num_filters": 64, "dropout": 0.4}]},
        }
    ],
    "output_features": [{"name": "label", "type": "category"}],
    "preprocessing": {"split": {"type": "fixed", "column": "split"}},
    "trainer": {"epochs": 5},
}


def test_yaml_error_gives_line_and_column(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("input_features:\n  - name: image_path\n    type: [image\n")
    with pytest.raises(InputError, match=r"config.yaml: invalid YAML at line 4, column 1"):
        config_lib.load_config(path)


def test_yaml_must_be_mapping(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(InputError, match="must be a YAML mapping"):
        config_lib.load_config(path)


def test_yaml_loaded_safely(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("trainer: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(InputError, match="invalid YAML"):
        config_lib.load_config(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(InputError, match="config file not found"):
        config_lib.load_config(tmp_path / "absent.yaml")


def test_top_level_split_rejected():
    config = dict(CONFIG, split={"type": "fixed", "column": "split"})
    problems = config_lib.check_config(config, "config.yaml", ["image_path", "label", "split"])
    assert problems == [
        "config.yaml: top-level key 'split' is not read by Ludwig 0.17 (it would be ignored without a word); "
        "move it under 'preprocessing:' as 'preprocessing.split'."
    ]


@pytest.mark.parametrize(("key", "section"), [("epochs", "trainer"), ("batch_size", "trainer"), ("sample_ratio", "preprocessing")])
def test_misplaced_keys_named_with_section(key, section):
    problems = config_lib.check_config(dict(CONFIG, **{key: 1}), "c.yaml")
    assert f"move it under '{section}:'" in problems[0]


def test_unknown_key_gets_closest():
    problems = config_lib.check_config(dict(CONFIG, trainr={}), "c.yaml")
    assert "unknown top-level key 'trainr'. Did you mean 'trainer'?" in problems[0]


def test_legacy_training_key_accepted():
    assert config_lib.check_config(dict(CONFIG, training={"epochs": 1}), "c.yaml") == []


def test_feature_column_missing_from_dataset():
    problems = config_lib.check_config(CONFIG, "c.yaml", ["image", "label", "split"])
    assert problems == [
        "c.yaml: input_features[0] reads column 'image_path', which the dataset does not have (columns: image, label, split). Did you mean 'image'?"
    ]


def test_features_must_be_listed():
    problems = config_lib.check_config({"output_features": [{"name": "label"}]}, "c.yaml")
    assert "'input_features' must be a non-empty list" in problems[0]
    assert "output_features[0] must be a mapping with at least 'name' and 'type'" in problems[1]


def test_flatten_names_features():
    flat = config_lib.flatten(CONFIG)
    assert flat["input_features.image_path.encoder.conv_layers.1.dropout"] == 0.4
    assert flat["output_features.label.type"] == "category"
    assert flat["trainer.epochs"] == 5


def test_set_path_copies_and_sets():
    updated = config_lib.set_path(CONFIG, "input_features.image_path.encoder.conv_layers.1.dropout", 0.2)
    assert config_lib.get_path(updated, "input_features.0.encoder.conv_layers.1.dropout") == 0.2
    assert CONFIG["input_features"][0]["encoder"]["conv_layers"][1]["dropout"] == 0.4


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("trainer.epoch", None),
        ("trainer.epochs.x", "cannot be looked up"),
        ("input_features.image.encoder", "no item named 'image'"),
        ("input_features.image_path.encoder.conv_layers.5", "index 5 is out of range"),
        ("model.epochs", "key 'model' not found"),
    ],
)
def test_get_path_errors(path, message):
    with pytest.raises(KeyError, match=message or "key 'epoch' not found"):
        config_lib.get_path(CONFIG, path)
