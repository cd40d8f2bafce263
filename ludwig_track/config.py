"""Load, check and flatten Ludwig configs without importing Ludwig."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ludwig_track.errors import InputError

# Top-level sections of a Ludwig 0.17 ECD or LLM config.
TOP_LEVEL_KEYS = frozenset(
    {
        "model_type",
        "input_features",
        "output_features",
        "combiner",
        "trainer",
        "preprocessing",
        "defaults",
        "hyperopt",
        "backend",
        "ludwig_version",
        "base_model",
        "prompt",
        "generation",
        "adapter",
        "quantization",
        "model_parameters",
    }
)
# Keys written in older Ludwig styles; Ludwig's own upgrade step rewrites them.
LEGACY_TOP_LEVEL_KEYS = {"training": "trainer"}
# Keys users put at the top level that belong inside a section.
MISPLACED_KEYS = {
    "split": "preprocessing",
    "sample_ratio": "preprocessing",
    "oversample_minority": "preprocessing",
    "epochs": "trainer",
    "batch_size": "trainer",
    "learning_rate": "trainer",
    "optimizer": "trainer",
    "early_stop": "trainer",
    "dropout": "combiner",
}
FEATURE_LIST_KEYS = ("input_features", "output_features")


def load_config(path: Path) -> dict[str, Any]:
    """Read a Ludwig config from a YAML file with ``yaml.safe_load``.

    Raises:
        InputError: if the file is missing, is not valid YAML (the message gives
            the line and column) or does not hold a mapping.
    """
    if not path.is_file():
        raise InputError(f"{path}: config file not found. Pass the path of a Ludwig YAML config with --config.")
    text = path.read_text(encoding="utf-8-sig")
    try:
        config = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "unknown position"
        raise InputError(f"{path}: invalid YAML at {where}: {err.problem}. Fix the syntax there.") from err
    except yaml.YAMLError as err:
        raise InputError(f"{path}: invalid YAML: {err}") from err
    if not isinstance(config, dict):
        raise InputError(
            f"{path}: a Ludwig config must be a YAML mapping with input_features and output_features; found {type(config).__name__}."
        )
    return config


def check_config(config: Mapping[str, Any], path: Path | str, columns: Iterable[str] | None = None) -> list[str]:
    """Return every problem of ``config`` as a message naming the key and the fix.

    Checks the top-level keys (unknown ones get the closest valid key, misplaced
    ones the section they belong in), the feature lists, and, when ``columns`` is
    given, that each feature's column exists in the dataset.
    """
    problems: list[str] = []
    for key in config:
        if key in TOP_LEVEL_KEYS or key in LEGACY_TOP_LEVEL_KEYS:
            continue
        if key in MISPLACED_KEYS:
            section = MISPLACED_KEYS[key]
            problems.append(
                f"{path}: top-level key '{key}' is not read by Ludwig 0.17 (it would be ignored without a word); "
                f"move it under '{section}:' as '{section}.{key}'."
            )
            continue
        close = difflib.get_close_matches(str(key), sorted(TOP_LEVEL_KEYS), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        problems.append(f"{path}: unknown top-level key '{key}'.{hint} Valid keys: {', '.join(sorted(TOP_LEVEL_KEYS))}.")

    known_columns = set(columns) if columns is not None else None
    for list_key in FEATURE_LIST_KEYS:
        features = config.get(list_key)
        if not isinstance(features, list) or not features:
            problems.append(f"{path}: '{list_key}' must be a non-empty list of features, each with a name and a type.")
            continue
        for position, feature in enumerate(features):
            where = f"{path}: {list_key}[{position}]"
            if not isinstance(feature, dict) or "name" not in feature or "type" not in feature:
                problems.append(f"{where} must be a mapping with at least 'name' and 'type'.")
                continue
            column = feature.get("column", feature["name"])
            if known_columns is not None and column not in known_columns:
                close = difflib.get_close_matches(str(column), sorted(known_columns), n=1)
                hint = f" Did you mean '{close[0]}'?" if close else ""
                problems.append(
                    f"{where} reads column '{column}', which the dataset does not have (columns: {', '.join(sorted(known_columns))}).{hint}"
                )
    return problems


def feature_columns(config: Mapping[str, Any], list_key: str) -> list[str]:
    """Return the dataset column read by each feature of ``config[list_key]``."""
    return [feature.get("column", feature["name"]) for feature in config.get(list_key, [])]


def split_column(config: Mapping[str, Any]) -> str | None:
    """Return the column of a fixed split under ``preprocessing.split``, if the config has one."""
    split = config.get("preprocessing", {}).get("split", {})
    if isinstance(split, dict) and split.get("type") == "fixed":
        return split.get("column", "split")
    return None


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings and lists into dotted keys.

    Features are keyed by their name (``input_features.image_path.encoder.type``)
    so that keys stay stable when features are reordered; other lists by index.
    """
    flat: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, dotted + "."))
        elif isinstance(value, list) and value and all(isinstance(item, Mapping) for item in value):
            named = key in FEATURE_LIST_KEYS and all("name" in item for item in value)
            for index, item in enumerate(value):
                label = item["name"] if named else index
                flat.update(flatten(item, f"{dotted}.{label}."))
        else:
            flat[dotted] = value
    return flat


def get_path(config: Mapping[str, Any], dotted: str) -> Any:
    """Return the value at a dotted path, as :func:`set_path` addresses it.

    Raises:
        KeyError: naming the first part of the path that does not exist.
    """
    node: Any = config
    for part in dotted.split("."):
        node = _child(node, part, dotted)
    return node


def set_path(config: Mapping[str, Any], dotted: str, value: Any, create_missing: bool = False) -> dict[str, Any]:
    """Return a deep copy of ``config`` with ``value`` at the dotted path.

    Path parts address mapping keys, list indexes, or features by name
    (``input_features.image_path.encoder.conv_layers.1.dropout``). Every part
    but the last must already exist. With ``create_missing``, missing mapping
    keys become empty sections, as for ``trainer.learning_rate`` in a config
    without ``trainer:``. List items are never created.
    """
    updated = copy.deepcopy(dict(config))
    *parents, last = dotted.split(".")
    node: Any = updated
    for part in parents:
        if create_missing and isinstance(node, dict) and part not in node:
            node[part] = {}
        node = _child(node, part, dotted)
    if isinstance(node, list):
        node[_list_index(node, last, dotted)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise KeyError(f"'{dotted}': '{last}' cannot be set on a {type(node).__name__}.")
    return updated


def _child(node: Any, part: str, dotted: str) -> Any:
    if isinstance(node, dict):
        if part not in node:
            raise KeyError(f"'{dotted}': key '{part}' not found (available: {', '.join(map(str, node))}).")
        return node[part]
    if isinstance(node, list):
        return node[_list_index(node, part, dotted)]
    raise KeyError(f"'{dotted}': '{part}' cannot be looked up in a {type(node).__name__}.")


def _list_index(node: list[Any], part: str, dotted: str) -> int:
    if part.isdigit():
        index = int(part)
        if index >= len(node):
            raise KeyError(f"'{dotted}': index {index} is out of range (the list has {len(node)} items).")
        return index
    names = [item.get("name") for item in node if isinstance(item, dict)]
    if part in names:
        return names.index(part)
    raise KeyError(f"'{dotted}': no item named '{part}' (names: {', '.join(map(str, names))}).")
