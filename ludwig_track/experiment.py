"""Train and evaluate one Ludwig model inside one MLflow run."""

from __future__ import annotations

import copy
import json
import logging
import platform
import shutil
import time
import traceback
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ludwig_track import config as config_lib
from ludwig_track import decoding, inputs, tracking
from ludwig_track.errors import InputError

logger = logging.getLogger(__name__)

EpochHook = Callable[[int, dict[str, float]], bool]
"""Called after each epoch's evaluation with the epoch and its metrics; returns True to stop training."""
DEFAULT_OUTPUT_DIR = Path("ludwig_track_runs")
DEFAULT_SEED = 42
CONFIG_TAG = tracking.TAG_PREFIX + "config_tag"
DECODED_DIR = "decoded_images"


@dataclass(frozen=True)
class ExperimentResult:
    """Identifiers and test metrics of a finished experiment run."""

    run_id: str
    experiment_id: str
    tracking_uri: str
    test_metrics: dict[str, float]
    """Scalar test metrics of the final evaluation, keyed as logged (``test.label.accuracy``)."""
    model_uri: str | None
    output_dir: Path


@dataclass
class PreparedExperiment:
    """Inputs that passed preflight and Ludwig's config validation; no run exists yet."""

    config: dict[str, Any]
    config_path: Path
    checked: inputs.CheckedInput
    resolved_config: dict[str, Any] = field(default_factory=dict)
    upgrades: list[str] = field(default_factory=list)


def prepare(
    config: str | Path | Mapping[str, Any],
    dataset: str | Path,
    raw_data: str | Path,
    zip_limits: inputs.ZipLimits | None = None,
    config_path: str | Path | None = None,
) -> PreparedExperiment:
    """Load and check every input; raise :class:`InputError` listing all problems.

    ``config`` is a YAML path or an already loaded mapping (then ``config_path``
    names it in messages). Nothing is written and no run is started.
    """
    if isinstance(config, Mapping):
        config_dict = dict(config)
        path = Path(config_path or "<config>")
    else:
        path = Path(config)
        config_dict = config_lib.load_config(path)
    checked = inputs.preflight(config_dict, path, Path(dataset), Path(raw_data), zip_limits)
    return PreparedExperiment(config_dict, path, checked)


def validate_with_ludwig(prepared: PreparedExperiment, output_dir: str | Path = DEFAULT_OUTPUT_DIR) -> None:
    """Upgrade old config styles and validate the config against Ludwig's schema.

    Imports Ludwig. Fills ``prepared.resolved_config`` (every default filled in)
    and ``prepared.upgrades`` (the keys that Ludwig's upgrade step rewrote).
    Image inputs without a ``preprocessing.mode`` are decoded once per run when
    the decoded images fit under ``output_dir`` (see :mod:`ludwig_track.decoding`).
    """
    from ludwig.error import ConfigValidationError
    from ludwig.schema.model_types.base import ModelConfig
    from ludwig.utils.backward_compatibility import upgrade_config_dict_to_latest_version

    upgraded = upgrade_config_dict_to_latest_version(prepared.config)
    # Ludwig stamps its version on every config it upgrades; that is no rewrite worth reporting.
    before = config_lib.flatten({key: value for key, value in prepared.config.items() if key != "ludwig_version"})
    after = config_lib.flatten({key: value for key, value in upgraded.items() if key != "ludwig_version"})
    removed = sorted(set(before) - set(after))
    added = sorted(set(after) - set(before))
    if removed or added:
        prepared.upgrades = [f"removed {key}" for key in removed] + [f"added {key}" for key in added]
        logger.warning("%s: upgraded from an older Ludwig style: %s", prepared.config_path, "; ".join(prepared.upgrades))
    decoding.choose_image_decoding(upgraded, prepared.checked.image_summary, len(prepared.checked.dataset), Path(output_dir))
    _evaluate_with_training_batch_size(upgraded)
    try:
        prepared.resolved_config = ModelConfig.from_dict(upgraded).to_dict()
    except ConfigValidationError as err:
        raise InputError(f"{prepared.config_path}: Ludwig rejects the config: {err}") from err
    prepared.config = upgraded


def _evaluate_with_training_batch_size(config: dict[str, Any]) -> None:
    """Give an unset ``trainer.eval_batch_size`` the training batch size, as Ludwig documents.

    Ludwig 0.17 searches for one instead, at the start of every run. On a
    2-core CPU the search takes seconds and its throughput readings are noisy:
    on full MNIST it once picked 4, which made every evaluation many times slower.
    """
    trainer = config.get("trainer")
    if not isinstance(trainer, dict) or trainer.get("eval_batch_size") not in (None, 0):
        return
    batch_size = trainer.get("batch_size")
    if isinstance(batch_size, int) and not isinstance(batch_size, bool):
        trainer["eval_batch_size"] = batch_size
        logger.info("Evaluating with trainer.batch_size (%d), as Ludwig documents for an unset trainer.eval_batch_size", batch_size)


def run_experiment(
    config: str | Path | Mapping[str, Any],
    dataset: str | Path,
    raw_data: str | Path,
    *,
    config_tag: str | None = None,
    experiment_name: str = tracking.DEFAULT_EXPERIMENT,
    tracking_uri: str | None = None,
    output_dir: str | Path = DEFAULT_OUTPUT_DIR,
    random_seed: int = DEFAULT_SEED,
    run_name: str | None = None,
    zip_limits: inputs.ZipLimits | None = None,
    log_model: bool = True,
) -> ExperimentResult:
    """Train a Ludwig model on the images of ``raw_data`` and record it all in one MLflow run.

    Args:
        config: Ludwig config, as a YAML path or a mapping.
        dataset: CSV with the columns ``image_path,label,split``.
        raw_data: Zip of the images that ``image_path`` names.
        config_tag: Label of the configuration (``"Stacked CNN"``), set as a tag
            and used as the run name.
        experiment_name: MLflow experiment, created when missing.
        tracking_uri: MLflow tracking URI; see :func:`tracking.resolve_tracking_uri`.
        output_dir: Folder for Ludwig's output. Each run writes into its own subfolder.
        random_seed: Seed for Ludwig's shuffling and weight initialisation.
        run_name: MLflow run name; defaults to ``config_tag`` or the config file's stem.
        zip_limits: Bounds on the zip's entry count and expanded size.
        log_model: Whether to log the trained model as an MLflow model.

    Raises:
        InputError: before any run starts, listing every problem of the inputs.
    """
    prepared = prepare(config, dataset, raw_data, zip_limits)
    with inputs.BackgroundExtraction(prepared.checked, Path(output_dir)) as extraction:
        validate_with_ludwig(prepared, output_dir)
        uri = tracking.resolve_tracking_uri(tracking_uri)
        runner = ExperimentRunner(prepared, uri, Path(output_dir), random_seed, log_model=log_model, extraction=extraction)
        return runner.run(experiment_name, run_name or config_tag or prepared.config_path.stem, config_tag)


class ExperimentRunner:
    """Carry a prepared experiment through one MLflow run: train, evaluate, log, end the run."""

    def __init__(
        self,
        prepared: PreparedExperiment,
        tracking_uri: str,
        output_dir: Path,
        random_seed: int = DEFAULT_SEED,
        *,
        log_model: bool | Callable[[], bool] = True,
        epoch_hook: EpochHook | None = None,
        progress_metric: str | None = None,
        extracted: pd.DataFrame | None = None,
        extraction: inputs.BackgroundExtraction | None = None,
        preprocessed: Any = None,
    ) -> None:
        """Set up the run's settings; nothing is created in MLflow yet.

        Args:
            log_model: Whether to log the model, or a callable asked after
                training (a sweep logs the model of its best trial only).
            epoch_hook: Called after each epoch's evaluation; returning True stops training.
            progress_metric: Metric shown first in the per-epoch log line.
            extracted: The dataset with image paths already extracted, shared
                by the trials of a sweep; by default each run extracts its own copy.
            extraction: An extraction already under way in the background.
            preprocessed: Ludwig's ``PreprocessedDataset`` to train on instead
                of preprocessing ``extracted`` again.
        """
        from mlflow import MlflowClient

        self.prepared = prepared
        self.tracking_uri = tracking_uri
        self.output_dir = output_dir
        self.random_seed = random_seed
        self.log_model = log_model
        self.epoch_hook = epoch_hook
        self.progress_metric = progress_metric
        self.extracted = extracted
        self.extraction = extraction
        self.preprocessed = preprocessed
        self.client = MlflowClient(tracking_uri)
        self.epochs_logged = 0
        self.run_id: str | None = None
        self.tuned_batch_sizes: dict[str, int] = {}
        """Batch sizes that Ludwig tuned because the config left them to it, by config path."""

    def create_run(
        self,
        experiment_name: str,
        run_name: str,
        config_tag: str | None,
        parent_run_id: str | None = None,
        extra_tags: Mapping[str, str] | None = None,
    ) -> tuple[str, str]:
        """Return ``(experiment_id, run_id)``: the run that ``mlflow run`` handed over, or a new one."""
        from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

        tags = dict(extra_tags or {})
        if config_tag:
            tags[CONFIG_TAG] = config_tag
        run_id = None if parent_run_id else tracking.handed_over_run_id(self.client)
        if run_id is not None:
            run = self.client.get_run(run_id)
            actual = self.client.get_experiment(run.info.experiment_id).name
            if actual != experiment_name:
                logger.warning(
                    "Logging into the run that mlflow run started (%s), which is in experiment '%s', not '%s'; "
                    "pass --experiment-name to mlflow run to choose the experiment",
                    run_id, actual, experiment_name,
                )  # fmt: skip
            tracking.log_tags(self.client, run_id, tags)
            return run.info.experiment_id, run_id
        experiment_id = tracking.get_or_create_experiment(self.client, experiment_name)
        if parent_run_id:
            tags[MLFLOW_PARENT_RUN_ID] = parent_run_id
        tags[MLFLOW_RUN_NAME] = run_name
        run = self.client.create_run(experiment_id, tags=tags, run_name=run_name)
        return experiment_id, run.info.run_id

    def run(
        self,
        experiment_name: str,
        run_name: str,
        config_tag: str | None = None,
        parent_run_id: str | None = None,
        extra_params: Mapping[str, Any] | None = None,
        extra_tags: Mapping[str, str] | None = None,
    ) -> ExperimentResult:
        """Create or adopt the run, train and log; the run always ends FINISHED, FAILED or KILLED."""
        import mlflow

        from ludwig_track.interrupts import raise_if_stop_requested

        raise_if_stop_requested()
        experiment_id, run_id = self.create_run(experiment_name, run_name, config_tag, parent_run_id, extra_tags)
        self.run_id = run_id
        run_dir = self.output_dir / run_id
        logger.info("MLflow run %s in experiment %s at %s", run_id, experiment_id, self.tracking_uri)
        status = "FAILED"
        try:
            with tracking.tracking_uri_set(self.tracking_uri):
                mlflow.start_run(run_id=run_id, nested=parent_run_id is not None)
                try:
                    if extra_params:
                        tracking.log_params(self.client, run_id, extra_params)
                    with decoding.decoded_images_in(run_dir / DECODED_DIR):
                        result = self._train_and_log(run_id, experiment_id, run_dir, config_tag)
                    status = "FINISHED"
                    return result
                except KeyboardInterrupt:
                    status = "KILLED"
                    logger.warning("Run %s interrupted; ending it KILLED with the metrics logged so far", run_id)
                    raise
                except BaseException as err:
                    self._record_failure(run_id, err)
                    raise
                finally:
                    mlflow.end_run(status)
        finally:
            shutil.rmtree(run_dir / "images", ignore_errors=True)
            shutil.rmtree(run_dir / DECODED_DIR, ignore_errors=True)

    def _record_failure(self, run_id: str, err: BaseException) -> None:
        text = "".join(traceback.format_exception(err))
        try:
            self.client.set_tag(run_id, tracking.TAG_PREFIX + "error", f"{type(err).__name__}: {err}"[:5000])
            self.client.log_text(run_id, text, "error/traceback.txt")
        except Exception as logging_error:  # noqa: BLE001 - the original error matters more
            logger.warning("Could not record the error on run %s: %s", run_id, logging_error)

    def _train_and_log(self, run_id: str, experiment_id: str, run_dir: Path, config_tag: str | None) -> ExperimentResult:
        from ludwig.api import LudwigModel

        from ludwig_track.callbacks import MlflowMetricsCallback

        prepared = self.prepared
        if not prepared.resolved_config:
            validate_with_ludwig(prepared, self.output_dir)
        started = time.monotonic()
        self._log_inputs(run_id, config_tag)

        if self.extracted is not None:
            dataset = self.extracted
        elif self.extraction is not None:
            dataset = self.extraction.result()
        else:
            dataset = inputs.extract_images(prepared.checked, run_dir / "images")
        buffer = tracking.MetricBuffer(self.client, run_id)
        callback = MlflowMetricsCallback(buffer, self.epoch_hook, self.progress_metric)
        model = LudwigModel(prepared.config, logging_level=logging.WARNING, callbacks=[callback])
        logger.info("Training on %s", ", ".join(f"{count} {name}" for name, count in prepared.checked.split_sizes.items()))
        trained = model.train(
            **self._training_data(dataset),
            output_directory=str(run_dir / "ludwig"),
            skip_save_processed_input=True,
            random_seed=self.random_seed,
        )
        self.epochs_logged = callback.epochs_logged
        self.tuned_batch_sizes = _tuned_batch_sizes(prepared.resolved_config, model.config_obj.trainer)
        if self.tuned_batch_sizes:
            tracking.log_params(self.client, run_id, {f"tuned.{path}": size for path, size in self.tuned_batch_sizes.items()})
        buffer.close()

        test_metrics: dict[str, float] = {}
        model_uri = None
        test_set = trained.preprocessed_data.test_set
        test_rows = dataset[dataset[inputs.SPLIT_COLUMN] == 2]
        if test_set is not None and len(test_rows):
            stats, predictions, _ = model.evaluate(test_set, collect_predictions=True, collect_overall_stats=True)
            test_metrics = _scalar_metrics(stats, "test")
            tracking.log_metrics_now(self.client, run_id, test_metrics, step=callback.epochs_logged)
            self._log_evaluation(run_id, stats, predictions, prepared.checked.dataset.loc[test_rows.index], run_dir)
        else:
            logger.warning("No test rows (split 2): the run has no test metrics, predictions or confusion matrix")

        wants_model = self.log_model() if callable(self.log_model) else self.log_model
        if wants_model:
            model_uri = self._log_model(model, Path(trained.output_directory) / "model", test_rows if len(test_rows) else dataset, run_dir)
        self.client.log_metric(run_id, "duration_seconds", time.monotonic() - started)
        self._log_report(run_id)
        return ExperimentResult(run_id, experiment_id, self.tracking_uri, test_metrics, model_uri, run_dir)

    def _training_data(self, dataset: pd.DataFrame) -> dict[str, Any]:
        if self.preprocessed is None:
            return {"dataset": dataset}
        # Training adds to the metadata, so each trial gets its own copy.
        return {
            "training_set": self.preprocessed.training_set,
            "validation_set": self.preprocessed.validation_set,
            "test_set": self.preprocessed.test_set,
            "training_set_metadata": copy.deepcopy(self.preprocessed.training_set_metadata),
        }

    def _log_inputs(self, run_id: str, config_tag: str | None) -> None:
        import ludwig
        import mlflow
        import torch

        from ludwig_track import __version__

        prepared = self.prepared
        checked = prepared.checked
        params = config_lib.flatten(prepared.resolved_config)
        params.update({f"data.{name}_rows": count for name, count in checked.split_sizes.items()})
        params["random_seed"] = self.random_seed
        tracking.log_params(self.client, run_id, params)
        tracking.log_tags(
            self.client,
            run_id,
            {
                tracking.TAG_PREFIX + "version": __version__,
                "ludwig_version": ludwig.__version__,
                "mlflow_version": mlflow.__version__,
                "torch_version": torch.__version__,
                "python_version": platform.python_version(),
                "random_seed": self.random_seed,
                tracking.TAG_PREFIX + "config_file": prepared.config_path.name,
                tracking.TAG_PREFIX + "dataset_file": checked.csv_path.name,
                tracking.TAG_PREFIX + "raw_data_file": checked.zip_path.name,
            },
        )
        if prepared.config_path.is_file():
            self.client.log_artifact(run_id, str(prepared.config_path), "config")
        self.client.log_text(run_id, yaml.safe_dump(prepared.config, sort_keys=False), "config/config_used.yaml")
        self.client.log_text(run_id, yaml.safe_dump(prepared.resolved_config, sort_keys=False), "config/resolved_config.yaml")
        summary = {
            "split_sizes": checked.split_sizes,
            "class_counts": checked.class_counts,
            "images": checked.image_summary,
            "warnings": checked.warnings,
            "config_upgrades": prepared.upgrades,
        }
        self.client.log_dict(run_id, summary, "data/dataset_summary.json")

        with warnings.catch_warnings():
            # MLflow 3 registers two equivalent sources for local paths and warns about the choice.
            # It also warns that the integer split column cannot contain missing values, and it never does here.
            warnings.simplefilter("ignore", UserWarning)
            source = mlflow.data.from_pandas(
                checked.dataset, source=str(checked.csv_path.resolve()), name=checked.csv_path.name, targets=inputs.LABEL_COLUMN
            )
            mlflow.log_input(source, context="training")

    def _log_evaluation(
        self, run_id: str, stats: dict[str, Any], predictions: pd.DataFrame, test_rows: pd.DataFrame, run_dir: Path
    ) -> None:
        staging = run_dir / "evaluation"
        staging.mkdir(parents=True, exist_ok=True)
        table = predictions_table(test_rows, predictions)
        table.to_csv(staging / "predictions.csv", index=False)
        (staging / "test_statistics.json").write_text(json.dumps(stats, indent=2, default=_json_default))
        self.client.log_artifacts(run_id, str(staging), "evaluation")

    def _log_report(self, run_id: str) -> None:
        from ludwig_track import report

        built = report.build_report(self.client, run_id, self.tracking_uri)
        report.log_report(self.client, run_id, built)
        logger.info("Logged report.html and %d plots", len(built.figures))

    def _log_model(self, model: Any, model_dir: Path, test_rows: pd.DataFrame, run_dir: Path) -> str:
        from mlflow.models import infer_signature

        example = test_rows[[inputs.IMAGE_COLUMN]].head(3).reset_index(drop=True)
        with warnings.catch_warnings():
            # Ludwig warns that the split column is missing, which is expected when serving.
            warnings.simplefilter("ignore", UserWarning)
            predictions, _ = model.predict(example, skip_save_unprocessed_output=True, skip_save_predictions=True)
        flat = predictions[scalar_columns(predictions)]
        flat = flat.astype({column: str for column in flat.columns if column.endswith("_predictions")})
        signature = infer_signature(example, flat)
        with warnings.catch_warnings():
            # An input example would make MLflow load and run the model once more at logging time;
            # the signature already describes the input.
            warnings.filterwarnings("ignore", message=".*input example was not provided.*")
            info = self._log_pyfunc(model_dir, signature)
        logger.info("Logged the model as %s", info.model_uri)
        return info.model_uri

    def _log_pyfunc(self, model_dir: Path, signature: Any) -> Any:
        import ludwig
        import mlflow

        from ludwig_track import pyfunc_model

        return mlflow.pyfunc.log_model(
            name="model",
            python_model=str(Path(pyfunc_model.__file__)),
            artifacts={pyfunc_model.LUDWIG_MODEL_ARTIFACT: str(model_dir)},
            signature=signature,
            pip_requirements=[f"ludwig=={ludwig.__version__}", f"mlflow=={mlflow.__version__}"],
        )


def predictions_table(test_rows: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """Join the test rows of the CSV with Ludwig's predictions, one row per image."""
    if len(test_rows) != len(predictions):
        raise RuntimeError(f"Ludwig returned {len(predictions)} predictions for {len(test_rows)} test rows.")
    table = test_rows[[inputs.IMAGE_COLUMN, inputs.LABEL_COLUMN]].reset_index(drop=True)
    return pd.concat([table, predictions[scalar_columns(predictions)].reset_index(drop=True)], axis=1)


def scalar_columns(predictions: pd.DataFrame) -> list[str]:
    """Return Ludwig's prediction columns without the list-valued one; the per-class columns carry the same numbers."""
    return [column for column in predictions.columns if not isinstance(predictions[column].iloc[0], (list, tuple))]


def _tuned_batch_sizes(resolved_config: Mapping[str, Any], trainer: Any) -> dict[str, int]:
    found = {}
    for key in ("batch_size", "eval_batch_size"):
        chosen = getattr(trainer, key, None)
        if resolved_config.get("trainer", {}).get(key) in (None, "auto") and isinstance(chosen, int):
            found[f"trainer.{key}"] = chosen
    return found


def _scalar_metrics(stats: Mapping[str, Any], prefix: str) -> dict[str, float]:
    metrics = {}
    for feature, values in stats.items():
        for name, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics[f"{prefix}.{feature}.{name}"] = float(value)
    return metrics


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
