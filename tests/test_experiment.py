"""A real experiment on small MNIST images, read back from a SQLite MLflow store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from ludwig_track.experiment import CONFIG_TAG

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(session_tracking_uri: str) -> MlflowClient:
    return MlflowClient(session_tracking_uri)


def test_run_finished_with_tag(trained_run, client):
    run = client.get_run(trained_run.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "Stacked CNN"
    assert run.data.tags[CONFIG_TAG] == "Stacked CNN"
    assert run.data.tags["random_seed"] == "7"
    assert run.data.tags["ludwig_version"].startswith("0.17")
    assert run.data.tags["mlflow_version"].startswith("3.")


def test_only_one_run_in_store(trained_run, client):
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert [run.info.run_id for run in runs] == [trained_run.run_id]


def test_params_hold_resolved_config(trained_run, client):
    params = client.get_run(trained_run.run_id).data.params
    assert params["trainer.epochs"] == "2"
    assert params["input_features.image_path.encoder.type"] == "stacked_cnn"
    assert params["input_features.image_path.encoder.conv_layers.1.dropout"] == "0.4"
    assert params["input_features.image_path.encoder.fc_layers.0.output_size"] == "128"
    assert params["preprocessing.split.type"] == "fixed"
    assert "combiner.type" in params
    assert params["data.training_rows"] == "300"
    assert params["data.validation_rows"] == "100"
    assert params["data.test_rows"] == "100"
    assert params["random_seed"] == "7"
    assert params["input_features.image_path.preprocessing.mode"] == "lazy_cached"
    assert params["trainer.eval_batch_size"] == "64"
    assert not [key for key in params if key.startswith("tuned.")]


@pytest.mark.parametrize("split", ["train_metrics", "validation_metrics", "test_metrics"])
@pytest.mark.parametrize("metric", ["accuracy", "loss", "hits_at_k"])
def test_metric_history_per_epoch(trained_run, client, split, metric):
    history = client.get_metric_history(trained_run.run_id, f"{split}.label.{metric}")
    assert sorted(point.step for point in history) == [1, 2]


def test_test_metrics_returned(trained_run, client):
    logged = client.get_run(trained_run.run_id).data.metrics
    assert 0.0 <= trained_run.test_metrics["test.label.accuracy"] <= 1.0
    for key, value in trained_run.test_metrics.items():
        assert logged[key] == pytest.approx(value)


def test_artifacts_logged(trained_run, client):
    paths = {artifact.path for folder in ("config", "evaluation", "data") for artifact in client.list_artifacts(trained_run.run_id, folder)}
    assert {
        "config/config.yaml",
        "config/resolved_config.yaml",
        "evaluation/predictions.csv",
        "evaluation/test_statistics.json",
        "data/dataset_summary.json",
    } <= paths


def test_predictions_match_test_metrics(trained_run, client, tmp_path):
    folder = client.download_artifacts(trained_run.run_id, "evaluation", str(tmp_path))
    predictions = pd.read_csv(Path(folder) / "predictions.csv", dtype={"label": str, "label_predictions": str})
    assert len(predictions) == 100
    assert predictions["image_path"].str.startswith("testing/").all()
    probability_columns = [f"label_probabilities_{digit}" for digit in range(10)]
    assert set(probability_columns) <= set(predictions.columns)
    accuracy = (predictions["label"] == predictions["label_predictions"]).mean()
    assert accuracy == pytest.approx(trained_run.test_metrics["test.label.accuracy"], abs=1e-6)
    statistics = json.loads((Path(folder) / "test_statistics.json").read_text())
    assert sum(map(sum, statistics["label"]["confusion_matrix"])) == 100


def test_dataset_input_logged(trained_run, client):
    inputs = client.get_run(trained_run.run_id).inputs.dataset_inputs
    assert [entry.dataset.name for entry in inputs] == ["dataset.csv"]


def test_model_loads_and_predicts(trained_run, small_input, tmp_path):
    import zipfile

    with zipfile.ZipFile(small_input.raw_data) as archive:
        names = [name for name in archive.namelist() if name.startswith("testing/")][:4]
        archive.extractall(tmp_path, names)
    frame = pd.DataFrame({"image_path": [str(tmp_path / name) for name in names]})
    mlflow.set_tracking_uri(trained_run.tracking_uri)
    try:
        model = mlflow.pyfunc.load_model(trained_run.model_uri)
    finally:
        mlflow.set_tracking_uri(None)
    assert model.metadata.signature.inputs.input_names() == ["image_path"]
    predictions = model.predict(frame)
    assert len(predictions) == 4
    assert set(predictions["label_predictions"]) <= {str(digit) for digit in range(10)}
    assert predictions["label_probability"].between(0, 1).all()


def test_served_model_decodes_each_request(trained_run, small_input, tmp_path):
    """Two requests of the same size and image shape get the predictions of their own images."""
    import zipfile

    with zipfile.ZipFile(small_input.raw_data) as archive:
        names = [name for name in archive.namelist() if name.startswith("testing/")]
        first = [name for name in names if "/0/" in name][:3]
        second = [name for name in names if "/1/" in name][:3]
        archive.extractall(tmp_path, first + second)
    mlflow.set_tracking_uri(trained_run.tracking_uri)
    try:
        model = mlflow.pyfunc.load_model(trained_run.model_uri)
    finally:
        mlflow.set_tracking_uri(None)

    def predict(paths: list[str]) -> list[float]:
        frame = pd.DataFrame({"image_path": [str(tmp_path / name) for name in paths]})
        return list(model.predict(frame)["label_probabilities_0"])

    together = predict(first + second)
    assert predict(first) == pytest.approx(together[:3])
    assert predict(second) == pytest.approx(together[3:])


def test_decoded_images_stay_in_run_folder(small_input, tmp_path, monkeypatch):
    """The memmap of decoded images sits in the run's folder while training, nowhere else, and is removed after."""
    from ludwig_track import experiment

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    output = tmp_path / "runs"
    prepared = experiment.prepare(small_input.config, small_input.dataset, small_input.raw_data)
    experiment.validate_with_ludwig(prepared, output)
    assert prepared.config["input_features"][0]["preprocessing"]["mode"] == "lazy_cached"
    seen: list[list[str]] = []

    def look(epoch: int, metrics: dict[str, float]) -> bool:
        seen.append(sorted(path.name for path in output.glob(f"*/{experiment.DECODED_DIR}/*.npy")))
        return False

    runner = experiment.ExperimentRunner(prepared, f"sqlite:///{tmp_path / 'mlflow.db'}", output, log_model=False, epoch_hook=look)
    runner.run("decoding", "decoding", None)
    assert len(seen) == 2
    assert any("_decoded_n300_" in name for name in seen[0])
    assert not (tmp_path / "home").exists()
    assert not (output / runner.run_id / experiment.DECODED_DIR).exists()


def test_working_images_removed(trained_run):
    assert not (trained_run.output_dir / "images").exists()
    assert not (trained_run.output_dir / "decoded_images").exists()
    assert list(trained_run.output_dir.parent.glob(".images-*")) == []
    assert (trained_run.output_dir / "ludwig").is_dir()


def test_mlflow_run_adopts_handed_over_run(small_input, tmp_path):
    """`mlflow run` creates the run and passes MLFLOW_RUN_ID; the experiment must log into it."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment_id = client.create_experiment("handed_over")
    handed = client.create_run(experiment_id)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    environment.update(MLFLOW_RUN_ID=handed.info.run_id, MLFLOW_TRACKING_URI=uri)
    command = [
        sys.executable, "-m", "ludwig_track", "experiment",
        "--config", str(small_input.config), "--dataset", str(small_input.dataset), "--raw-data", str(small_input.raw_data),
        "--tag", "handed over", "--output-dir", str(tmp_path / "runs"), "--no-model",
    ]  # fmt: skip
    completed = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    assert f"run_id: {handed.info.run_id}" in completed.stdout
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert [run.info.run_id for run in runs] == [handed.info.run_id]
    run = client.get_run(handed.info.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags[CONFIG_TAG] == "handed over"
    assert len(client.get_metric_history(handed.info.run_id, "test_metrics.label.accuracy")) == 2


def test_finished_run_never_reopened(small_input, tmp_path, trained_run):
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    environment.update(MLFLOW_RUN_ID=trained_run.run_id, MLFLOW_TRACKING_URI=trained_run.tracking_uri)
    command = [
        sys.executable, "-m", "ludwig_track", "experiment",
        "--config", str(small_input.config), "--dataset", str(small_input.dataset), "--raw-data", str(small_input.raw_data),
        "--output-dir", str(tmp_path / "runs"),
    ]  # fmt: skip
    completed = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 2
    assert "never reopened" in completed.stderr
