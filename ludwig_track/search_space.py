"""Search spaces over dotted paths of a Ludwig config.

A search space file is YAML of this form::

    parameters:
      epochs:
        paths: [trainer.epochs]
        type: int
        low: 2
        high: 15
      dropout:                  # one sampled value written to both paths
        paths:
          - input_features.image_path.encoder.conv_layers.1.dropout
          - input_features.image_path.encoder.fc_layers.0.dropout
        type: float
        low: 0.1
        high: 0.6
      optimizer:
        paths: [trainer.optimizer.type]
        type: categorical
        choices: [adam, adamw]

``int`` and ``float`` take ``low``, ``high`` and optional ``step`` and ``log``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ludwig_track import config as config_lib
from ludwig_track.errors import InputError

TYPES = ("int", "float", "categorical")


@dataclass(frozen=True)
class Parameter:
    """One sampled value and the config paths it is written to."""

    name: str
    paths: tuple[str, ...]
    type: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """Draw this parameter's value for an Optuna trial."""
        if self.type == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)  # type: ignore[arg-type]
        if self.type == "float":
            return trial.suggest_float(self.name, float(self.low), float(self.high), step=self.step, log=self.log)  # type: ignore[arg-type]
        return trial.suggest_categorical(self.name, list(self.choices))

    @property
    def touches_preprocessing(self) -> bool:
        """Whether the value changes how Ludwig preprocesses the data, so the preprocessed data cannot be reused."""
        return any(path.startswith("preprocessing.") or ".preprocessing." in path for path in self.paths)


def load_search_space(path: Path, config: Mapping[str, Any] | None = None) -> list[Parameter]:
    """Read a search space file and check every range, and every path against ``config`` when given.

    Pass Ludwig's resolved config (every default filled in) so that a path to
    a default the user's config leaves out, such as ``trainer.learning_rate``,
    counts as existing.

    Raises:
        InputError: listing every path that does not exist in the config and
            every empty or invalid range.
    """
    if not path.is_file():
        raise InputError(f"{path}: search space file not found. Pass a YAML file with a 'parameters:' mapping to --space.")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise InputError(f"{path}: invalid YAML: {err}") from err
    if not isinstance(document, dict) or not isinstance(document.get("parameters"), dict) or not document["parameters"]:
        raise InputError(f"{path}: expected a mapping 'parameters:' of named parameters, each with 'paths' and 'type'.")
    return parse_parameters(document["parameters"], config, str(path))


def parse_parameters(entries: Mapping[str, Any], config: Mapping[str, Any] | None, source: str = "search space") -> list[Parameter]:
    """Build and check :class:`Parameter` objects from the ``parameters:`` mapping."""
    problems: list[str] = []
    parameters = []
    for name, entry in entries.items():
        where = f"{source}: parameter '{name}'"
        if not isinstance(entry, dict):
            problems.append(f"{where} must be a mapping with 'paths' and 'type'.")
            continue
        paths = entry.get("paths", entry.get("path"))
        paths = [paths] if isinstance(paths, str) else paths
        if not paths or not all(isinstance(p, str) for p in paths):
            problems.append(f"{where} needs 'paths': a list of dotted config paths such as trainer.epochs.")
            continue
        if config is not None:
            problems.extend(_missing_paths(where, paths, config))
        kind = entry.get("type")
        if kind not in TYPES:
            problems.append(f"{where}: type {kind!r} is not one of {', '.join(TYPES)}.")
            continue
        problems.extend(_check_range(where, kind, entry))
        parameters.append(
            Parameter(
                name=str(name),
                paths=tuple(paths),
                type=kind,
                low=entry.get("low"),
                high=entry.get("high"),
                step=entry.get("step"),
                log=bool(entry.get("log", False)),
                choices=tuple(entry.get("choices") or ()),
            )
        )
    if problems:
        raise InputError(problems)
    return parameters


def _missing_paths(where: str, paths: list[str], config: Mapping[str, Any]) -> list[str]:
    problems = []
    for dotted in paths:
        try:
            config_lib.get_path(config, dotted)
        except KeyError as err:
            problems.append(f"{where}: path {err.args[0]} Ludwig's config has no such setting; fix the path.")
    return problems


def check_paths(parameters: list[Parameter], config: Mapping[str, Any], source: str = "search space") -> None:
    """Raise :class:`InputError` naming every parameter path that ``config`` does not have."""
    problems = []
    for parameter in parameters:
        problems.extend(_missing_paths(f"{source}: parameter '{parameter.name}'", list(parameter.paths), config))
    if problems:
        raise InputError(problems)


def _check_range(where: str, kind: str, entry: Mapping[str, Any]) -> list[str]:
    if kind == "categorical":
        choices = entry.get("choices")
        if not isinstance(choices, list) or not choices:
            return [f"{where}: 'choices' must be a non-empty list."]
        return []
    low, high = entry.get("low"), entry.get("high")
    if not isinstance(low, (int, float)) or not isinstance(high, (int, float)) or isinstance(low, bool) or isinstance(high, bool):
        return [f"{where}: 'low' and 'high' must be numbers; got low={low!r}, high={high!r}."]
    if kind == "int" and (low != int(low) or high != int(high)):
        return [f"{where}: an int range needs whole numbers; got low={low!r}, high={high!r}."]
    if low > high:
        return [f"{where}: the range is empty (low={low} > high={high}). Swap or fix the bounds."]
    if entry.get("log") and low <= 0:
        return [f"{where}: a log range needs low > 0; got low={low}."]
    step = entry.get("step")
    if step is not None and (not isinstance(step, (int, float)) or step <= 0):
        return [f"{where}: 'step' must be a positive number; got {step!r}."]
    if step is not None and entry.get("log"):
        return [f"{where}: Optuna takes either 'step' or 'log', not both."]
    return []


def apply(config: Mapping[str, Any], parameters: list[Parameter], values: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``config`` with each parameter's value written to all its paths."""
    updated = dict(config)
    for parameter in parameters:
        for dotted in parameter.paths:
            updated = config_lib.set_path(updated, dotted, values[parameter.name], create_missing=True)
    return updated
