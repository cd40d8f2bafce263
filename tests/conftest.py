"""Shared fixtures: small real MNIST inputs cut from the embedded sample, and one trained run."""

from __future__ import annotations

import csv
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO / "experiments" / "mnist" / "data"
REFERENCE_CONFIG = REPO / "experiments" / "mnist" / "config.yaml"


@dataclass(frozen=True)
class SmallInput:
    config: Path
    dataset: Path
    raw_data: Path


@pytest.fixture(autouse=True, scope="session")
def _isolated_mlflow_environment() -> Iterator[None]:
    """Keep the host's MLflow settings (tracking URI, run id, experiment) out of the tests."""
    saved = {key: value for key, value in os.environ.items() if key.startswith("MLFLOW_")}
    for key in saved:
        del os.environ[key]
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    yield
    os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
    os.environ.update(saved)


def write_small_input(
    folder: Path, train_per_class: int, validation_per_class: int, test_per_class: int, epochs: int = 2, classes: int = 10
) -> SmallInput:
    """Cut a small real dataset out of the embedded MNIST sample.

    Validation rows are taken from the sample's training images, so the result
    has all three splits. The config is the reference config with fewer epochs.
    """
    folder.mkdir(parents=True, exist_ok=True)
    with (SAMPLE_DIR / "mnist_dataset.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    picked: list[tuple[str, str, int]] = []
    counts: dict[tuple[str, int], int] = {}
    quotas = {0: train_per_class, 1: validation_per_class, 2: test_per_class}
    for row in rows:
        if int(row["label"]) >= classes:
            continue
        source_split = int(row["split"])
        splits = (0, 1) if source_split == 0 else (2,)
        for split in splits:
            key = (row["label"], split)
            if counts.get(key, 0) < quotas[split]:
                counts[key] = counts.get(key, 0) + 1
                picked.append((row["image_path"], row["label"], split))
                break

    dataset = folder / "dataset.csv"
    with dataset.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["image_path", "label", "split"])
        writer.writerows(picked)
    raw_data = folder / "images.zip"
    with zipfile.ZipFile(SAMPLE_DIR / "mnist_images.zip") as source, zipfile.ZipFile(raw_data, "w") as target:
        for path, _, _ in picked:
            target.writestr(path, source.read(path))

    config = yaml.safe_load(REFERENCE_CONFIG.read_text())
    config["trainer"]["epochs"] = epochs
    config["trainer"]["batch_size"] = 64
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return SmallInput(config_path, dataset, raw_data)


@pytest.fixture(scope="session")
def small_input(tmp_path_factory: pytest.TempPathFactory) -> SmallInput:
    """300 training, 100 validation and 100 test images of the ten digits, 2 epochs."""
    return write_small_input(tmp_path_factory.mktemp("small_input"), 30, 10, 10)


@pytest.fixture(scope="session")
def session_tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(scope="session")
def trained_run(small_input: SmallInput, session_tracking_uri: str, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One real experiment on ``small_input``, shared by every test that reads a finished run."""
    from ludwig_track import run_experiment

    return run_experiment(
        small_input.config,
        small_input.dataset,
        small_input.raw_data,
        config_tag="Stacked CNN",
        experiment_name="tests",
        tracking_uri=session_tracking_uri,
        output_dir=tmp_path_factory.mktemp("runs"),
        random_seed=7,
    )
