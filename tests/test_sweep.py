"""Optuna sweeps on small real images: nested runs, pruning, failures, resuming, two workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from ludwig_track import search_space, sweep
from ludwig_track.errors import InputError
from tests.conftest import write_small_input

CONFIG = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "..", "experiments", "mnist", "config.yaml")))


def write_space(path, parameters):  # type: ignore[no-untyped-def]
    path.write_text(yaml.safe_dump({"parameters": parameters}))
    return path


def child_runs(client: MlflowClient, parent_run_id: str) -> list:
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}'")


def test_reference_space_matches_config():
    parameters = search_space.load_search_space(Path("experiments/mnist/sweep.yaml"), CONFIG)
    assert [parameter.name for parameter in parameters] == ["epochs", "dropout"]
    updated = search_space.apply(CONFIG, parameters, {"epochs": 7, "dropout": 0.25})
    assert updated["trainer"]["epochs"] == 7
    assert updated["input_features"][0]["encoder"]["conv_layers"][1]["dropout"] == 0.25
    assert updated["input_features"][0]["encoder"]["fc_layers"][0]["dropout"] == 0.25


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"paths": ["trainer.epoch"], "type": "int", "low": 1, "high": 3}, "key 'epoch' not found"),
        ({"paths": ["input_features.image.encoder.dropout"], "type": "float", "low": 0.1, "high": 0.5}, "no item named 'image'"),
        ({"paths": ["trainer.epochs"], "type": "int", "low": 5, "high": 2}, r"the range is empty \(low=5 > high=2\)"),
        ({"paths": ["trainer.epochs"], "type": "float", "low": 0, "high": 1, "log": True}, "a log range needs low > 0"),
        ({"paths": ["trainer.epochs"], "type": "categorical", "choices": []}, "'choices' must be a non-empty list"),
        ({"paths": ["trainer.epochs"], "type": "uniform", "low": 1, "high": 2}, "type 'uniform' is not one of int, float, categorical"),
        ({"type": "int", "low": 1, "high": 2}, "needs 'paths'"),
    ],
    ids=["missing-key", "missing-feature", "empty-range", "log-zero", "no-choices", "unknown-type", "no-paths"],
)
def test_bad_space_rejected(tmp_path, entry, message):
    space = write_space(tmp_path / "space.yaml", {"p": entry})
    with pytest.raises(InputError, match=message):
        search_space.load_search_space(space, CONFIG)


def test_test_split_metric_rejected():
    with pytest.raises(InputError, match="The test split is kept out of model selection"):
        sweep.check_metric("test_metrics.label.accuracy", CONFIG)
    with pytest.raises(InputError, match="output features are: label, combined"):
        sweep.check_metric("validation_metrics.digit.accuracy", CONFIG)


def test_validation_split_carved(tmp_path):
    from ludwig_track import inputs

    small = write_small_input(tmp_path, 10, 0, 2)
    checked = inputs.preflight(yaml.safe_load(small.config.read_text()), small.config, small.dataset, small.raw_data)
    carved, moved = sweep.ensure_validation_split(checked, 0.2, seed=3)
    assert moved == 20
    assert carved.split_sizes == {"training": 80, "validation": 20, "test": 20}
    assert set(carved.class_counts["validation"].values()) == {2}
    again, _ = sweep.ensure_validation_split(checked, 0.2, seed=3)
    assert again.dataset["split"].tolist() == carved.dataset["split"].tolist()
    with pytest.raises(InputError, match="no validation rows"):
        sweep.ensure_validation_split(checked, 0, seed=3)


def test_storage_password_redacted():
    assert sweep.redact("postgresql://optuna:secret@db.example:5432/studies") == "postgresql://optuna:***@db.example:5432/studies"


@pytest.mark.slow
def test_sweep_nested_runs_prune_and_fail(tmp_path):
    small = write_small_input(tmp_path / "input", 20, 0, 5, epochs=2)
    config = yaml.safe_load(small.config.read_text())
    config["trainer"]["batch_size"] = "auto"
    small.config.write_text(yaml.safe_dump(config, sort_keys=False))
    # Every combination once: epochs 1 completes, epochs 3 is pruned at epoch 2, dropout 5.0 fails inside torch.
    space = write_space(
        tmp_path / "space.yaml",
        {
            "epochs": {"paths": ["trainer.epochs"], "type": "categorical", "choices": [1, 3]},
            "dropout": {"paths": ["input_features.image_path.encoder.fc_layers.0.dropout"], "type": "categorical", "choices": [0.2, 5.0]},
        },
    )
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = sweep.run_sweep(
        small.config, small.dataset, small.raw_data, space,
        n_trials=4, sampler=optuna.samplers.BruteForceSampler(seed=0),
        pruner=optuna.pruners.ThresholdPruner(lower=0.999, n_warmup_steps=2),
        study_name="nested", tracking_uri=uri, output_dir=tmp_path / "runs", validation_fraction=0.2, include_baseline=False,
    )  # fmt: skip
    states = sorted(trial.state.name for trial in result.study.trials)
    assert states == ["COMPLETE", "FAIL", "FAIL", "PRUNED"]
    assert result.best_params == {"epochs": 1, "dropout": 0.2}

    client = MlflowClient(uri)
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["trials.complete"] == 1
    assert parent.data.metrics["trials.pruned"] == 1
    assert parent.data.metrics["trials.fail"] == 2
    assert parent.data.params["best.epochs"] == "1"
    assert parent.data.params["sweep.validation_rows_carved"] == "40"
    parent_artifacts = {artifact.path for artifact in client.list_artifacts(result.parent_run_id)}
    assert "trials.csv" in parent_artifacts
    plots = {artifact.path for artifact in client.list_artifacts(result.parent_run_id, "plots")}
    assert "plots/optimization_history.png" in plots

    children = child_runs(client, result.parent_run_id)
    assert len(children) == 4
    by_state = {}
    for child in children:
        by_state.setdefault(child.data.tags["ludwig_track.trial_state"], []).append(child)
        assert "hp.epochs" in child.data.params
        assert child.data.params["trainer.epochs"] == child.data.params["hp.epochs"]
    assert {state: len(runs) for state, runs in by_state.items()} == {"COMPLETE": 1, "PRUNED": 1, "FAIL": 2}
    complete, pruned = by_state["COMPLETE"][0], by_state["PRUNED"][0]
    assert complete.info.status == "FINISHED"
    assert [point.step for point in client.get_metric_history(complete.info.run_id, "validation_metrics.label.accuracy")] == [1]
    assert pruned.data.params["trainer.epochs"] == "3"
    assert [point.step for point in client.get_metric_history(pruned.info.run_id, "validation_metrics.label.accuracy")] == [1, 2]
    assert all(run.info.status == "FAILED" for run in by_state["FAIL"])
    assert all("dropout" in run.data.tags["ludwig_track.error"] for run in by_state["FAIL"])
    assert result.best_run_id == complete.info.run_id
    # Ludwig searches for batch sizes in the first trial that trains; later trials reuse them.
    ordered = sorted(children, key=lambda run: int(run.data.params["trial.number"]))
    first = next(index for index, run in enumerate(ordered) if run.data.tags["ludwig_track.trial_state"] != "FAIL")
    assert first < len(ordered) - 1
    assert ordered[first].data.params["trainer.batch_size"] == "auto"
    for key in ("trainer.batch_size", "trainer.eval_batch_size"):
        tuned = ordered[first].data.params[f"tuned.{key}"]
        assert all(run.data.params[key] == tuned for run in ordered[first + 1 :])
    assert complete.outputs is not None and complete.outputs.model_outputs, "the best trial keeps its model"
    pruned_models = pruned.outputs.model_outputs if pruned.outputs else []
    assert not pruned_models


def sweep_command(small, space, uri, storage, n_trials, *extra):  # type: ignore[no-untyped-def]
    return [
        sys.executable, "-m", "ludwig_track", "sweep",
        "--config", str(small.config), "--dataset", str(small.dataset), "--raw-data", str(small.raw_data), "--space", str(space),
        "--tracking-uri", uri, "--storage", storage, "--study-name", "resumable", "--n-trials", str(n_trials),
        "--sampler", "random", "--pruner", "none", "--validation-fraction", "0.2", *extra,
    ]  # fmt: skip


def clean_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}


def tiny_dropout_sweep(tmp_path, storage, *extra):  # type: ignore[no-untyped-def]
    """Return the tracking URI and the CLI command of a 4-trial, 1-epoch dropout sweep on 120 images."""
    small = write_small_input(tmp_path / "input", 10, 0, 2, epochs=1)
    space = write_space(
        tmp_path / "space.yaml",
        {"dropout": {"paths": ["input_features.image_path.encoder.fc_layers.0.dropout"], "type": "float", "low": 0.1, "high": 0.5}},
    )
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    return uri, sweep_command(small, space, uri, storage, 4, *extra, "--output-dir", str(tmp_path / "runs"))


@pytest.mark.slow
def test_killed_sweep_resumes_remaining(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    _, command = tiny_dropout_sweep(tmp_path, storage)
    process = subprocess.Popen(command, env=clean_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    finished = 0
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.5)
        try:
            study = optuna.load_study(study_name="resumable", storage=storage)
        except KeyError:
            continue
        finished = len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)))
        if finished >= 2:
            break
    assert finished >= 2, "the sweep never finished two trials"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr

    study = optuna.load_study(study_name="resumable", storage=storage)
    done_before = {trial.number for trial in study.trials if trial.state == optuna.trial.TrialState.COMPLETE}
    completed = subprocess.run(command, env=clean_environment(), capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr

    study = optuna.load_study(study_name="resumable", storage=storage)
    complete = [trial for trial in study.trials if trial.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 4
    assert done_before <= {trial.number for trial in complete}
    interrupted = [trial for trial in study.trials if trial.user_attrs.get("interrupted")]
    assert len(study.trials) == 4 + len(interrupted)


@pytest.mark.slow
def test_two_workers_share_journal(tmp_path):
    storage = f"journal://{tmp_path / 'journal.log'}"
    uri, command = tiny_dropout_sweep(tmp_path, storage, "--workers", "2")
    completed = subprocess.run(command, env=clean_environment(), capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr

    study = optuna.load_study(study_name="resumable", storage=sweep.open_storage(storage))
    assert sorted(trial.number for trial in study.trials) == [0, 1, 2, 3]
    assert all(trial.state == optuna.trial.TrialState.COMPLETE for trial in study.trials)
    client = MlflowClient(uri)
    parent_id = completed.stdout.split("parent_run_id: ")[1].split()[0]
    children = child_runs(client, parent_id)
    assert sorted(int(run.data.params["trial.number"]) for run in children) == [0, 1, 2, 3]
    assert len({trial.user_attrs["mlflow_run_id"] for trial in study.trials}) == 4


@pytest.mark.slow
@pytest.mark.parametrize(("path", "accepted"), [("trainer.learning_rate", True), ("trainer.learning_rat", False)])
def test_space_paths_checked_against_ludwig_defaults(tmp_path, path, accepted):
    small = write_small_input(tmp_path / "input", 5, 0, 1, classes=2)
    space = write_space(tmp_path / "space.yaml", {"lr": {"paths": [path], "type": "float", "low": 0.0001, "high": 0.01, "log": True}})
    settings = sweep.SweepSettings(
        config=small.config, dataset=small.dataset, raw_data=small.raw_data, space=space, n_trials=1, study_name="s",
        storage=f"sqlite:///{tmp_path / 'optuna.db'}", metric=sweep.DEFAULT_METRIC, direction="maximize", sampler="tpe",
        pruner="none", tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", experiment_name="e", output_dir=tmp_path / "runs",
        random_seed=0, validation_fraction=0.5,
    )  # fmt: skip
    if accepted:
        _, parameters, _ = sweep.prepare_sweep(settings)
        assert parameters[0].paths == (path,)
    else:
        with pytest.raises(InputError, match="key 'learning_rat' not found"):
            sweep.prepare_sweep(settings)
    assert not (tmp_path / "mlflow.db").exists()
