"""Faults before and during training: exit codes, run states, retries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zipfile

import pytest
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from ludwig_track import experiment, tracking
from ludwig_track.cli import main
from tests.conftest import write_small_input


def all_runs(uri: str) -> list:
    client = MlflowClient(uri)
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


def _break_config(path, change):  # type: ignore[no-untyped-def]
    config = yaml.safe_load(path.read_text())
    change(config)
    path.write_text(yaml.safe_dump(config))


BAD_INPUTS = [
    (
        "top-level split",
        lambda inp: _break_config(inp.config, lambda c: c.update(split=c.pop("preprocessing")["split"])),
        "move it under 'preprocessing:'",
    ),
    ("yaml syntax", lambda inp: inp.config.write_text("input_features: [\n"), "invalid YAML at line 2, column 1"),
    (
        "feature column",
        lambda inp: _break_config(inp.config, lambda c: c["input_features"][0].update(name="image")),
        "reads column 'image'",
    ),
    (
        "csv column",
        lambda inp: inp.dataset.write_text(inp.dataset.read_text().replace("split", "fold", 1)),
        "required column 'split' is missing",
    ),
    (
        "split value",
        lambda inp: inp.dataset.write_text(inp.dataset.read_text().replace(",2\n", ",holdout\n")),
        "unexpected values 'holdout'",
    ),
    ("not a zip", lambda inp: inp.raw_data.write_bytes(b"plain text"), "not a zip archive"),
    ("missing image", lambda inp: _drop_first_image(inp.raw_data), "1 image path is not in images.zip"),
]


def _drop_first_image(path):  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()[1:]}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


@pytest.mark.parametrize(("case", "breaks", "message"), BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_exit_and_state(tmp_path, capsys, case, breaks, message):
    small = write_small_input(tmp_path / "input", 2, 0, 1, classes=2)
    breaks(small)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = main(
        [
            "experiment", "--config", str(small.config), "--dataset", str(small.dataset), "--raw-data", str(small.raw_data),
            "--tracking-uri", uri, "--output-dir", str(tmp_path / "runs"),
        ]
    )  # fmt: skip
    error = capsys.readouterr().err
    assert code == 2
    assert message in error
    assert "Traceback" not in error
    assert not (tmp_path / "runs").exists()
    assert not (tmp_path / "mlflow.db").exists() or all_runs(uri) == []


class FlakyClient:
    """Wraps a real MlflowClient; its first ``failures`` log_batch calls raise like an unreachable server."""

    def __init__(self, client: MlflowClient, failures: int) -> None:
        self._client = client
        self.failures = failures

    def log_batch(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.failures > 0:
            self.failures -= 1
            raise MlflowException("API request failed: Connection refused")
        return self._client.log_batch(*args, **kwargs)


def test_metrics_survive_brief_outage(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.create_run(client.create_experiment("outage"))
    flaky = FlakyClient(client, failures=5)
    buffer = tracking.MetricBuffer(flaky, run.info.run_id, retries=1, delay=0)
    buffer.add({"train_metrics.label.loss": 1.0}, step=1)
    assert buffer.flush() is False
    buffer.add({"train_metrics.label.loss": 0.5}, step=2)
    assert buffer.flush() is False
    buffer.add({"train_metrics.label.loss": 0.25}, step=3)
    buffer.close()
    history = client.get_metric_history(run.info.run_id, "train_metrics.label.loss")
    assert [(point.step, point.value) for point in history] == [(1, 1.0), (2, 0.5), (3, 0.25)]


def test_server_down_raises_clear_error(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.create_run(client.create_experiment("down"))
    buffer = tracking.MetricBuffer(FlakyClient(client, failures=100), run.info.run_id, retries=2, delay=0)
    buffer.add({"loss": 1.0}, step=1)
    with pytest.raises(tracking.TrackingError, match="1 metrics of run .* could not be logged. Check that the server is up"):
        buffer.close()


@pytest.mark.slow
def test_ludwig_error_ends_run_failed(small_input, tmp_path, monkeypatch):
    from ludwig.api import LudwigModel

    def broken_train(self, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("CUDA error: device-side assert triggered")

    monkeypatch.setattr(LudwigModel, "train", broken_train)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(RuntimeError, match="device-side assert"):
        experiment.run_experiment(
            small_input.config, small_input.dataset, small_input.raw_data, tracking_uri=uri, output_dir=tmp_path / "runs"
        )
    (run,) = all_runs(uri)
    assert run.info.status == "FAILED"
    assert run.data.tags["ludwig_track.error"] == "RuntimeError: CUDA error: device-side assert triggered"
    client = MlflowClient(uri)
    traceback_path = client.download_artifacts(run.info.run_id, "error/traceback.txt", str(tmp_path))
    assert "broken_train" in open(traceback_path).read()
    assert not (tmp_path / "runs" / run.info.run_id / "images").exists()
    assert list((tmp_path / "runs").glob(".images-*")) == []


@pytest.mark.slow
def test_legacy_config_upgraded(small_input):
    config = yaml.safe_load(small_input.config.read_text())
    config["training"] = config.pop("trainer")
    prepared = experiment.prepare(config, small_input.dataset, small_input.raw_data, config_path="legacy.yaml")
    experiment.validate_with_ludwig(prepared)
    assert "training" not in prepared.config
    assert prepared.config["trainer"]["epochs"] == 2
    assert "removed training.epochs" in prepared.upgrades
    assert "added trainer.epochs" in prepared.upgrades
    assert prepared.resolved_config["trainer"]["epochs"] == 2


@pytest.mark.slow
def test_ludwig_schema_error_is_input_error(small_input):
    config = yaml.safe_load(small_input.config.read_text())
    config["trainer"]["optimizer"] = {"type": "not_an_optimizer"}
    prepared = experiment.prepare(config, small_input.dataset, small_input.raw_data, config_path="bad.yaml")
    with pytest.raises(experiment.InputError, match="bad.yaml: Ludwig rejects the config"):
        experiment.validate_with_ludwig(prepared)


@pytest.mark.slow
@pytest.mark.parametrize(("signal_number", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "Ctrl-C"])
def test_signal_ends_run_killed(tmp_path, signal_number, exit_code):
    small = write_small_input(tmp_path / "input", 30, 0, 5, epochs=500)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    command = [
        sys.executable, "-m", "ludwig_track", "experiment",
        "--config", str(small.config), "--dataset", str(small.dataset), "--raw-data", str(small.raw_data),
        "--tracking-uri", uri, "--output-dir", str(tmp_path / "runs"), "--no-model",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    client = MlflowClient(uri)
    deadline = time.monotonic() + 300
    run_id = None
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(1)
        runs = all_runs(uri) if (tmp_path / "mlflow.db").exists() else []
        if runs and client.get_metric_history(runs[0].info.run_id, "train_metrics.label.loss"):
            run_id = runs[0].info.run_id
            break
    assert run_id is not None, "training never logged an epoch"
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == exit_code, stderr
    run = client.get_run(run_id)
    assert run.info.status == "KILLED"
    assert len(client.get_metric_history(run_id, "train_metrics.label.loss")) >= 1
    assert not (tmp_path / "runs" / run_id / "images").exists()
    assert list((tmp_path / "runs").glob(".images-*")) == []
