"""Optuna sweeps over Ludwig configs: one parent MLflow run, one child run per trial."""

from __future__ import annotations

import dataclasses
import gc
import logging
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ludwig_track import config as config_lib
from ludwig_track import decoding, experiment, inputs, interrupts, search_space, tracking
from ludwig_track.errors import InputError
from ludwig_track.sweep_options import DEFAULT_METRIC, DEFAULT_VALIDATION_FRACTION, PRUNER_NAMES, SAMPLER_NAMES

logger = logging.getLogger(__name__)

STATE_TAG = tracking.TAG_PREFIX + "trial_state"
STUDY_TAG = tracking.TAG_PREFIX + "study_name"
TRIAL_TAG = tracking.TAG_PREFIX + "trial_number"
RUN_ID_ATTR = "mlflow_run_id"
INTERRUPTED_ATTR = "interrupted"


class MetricNotFoundError(InputError):
    """The objective metric is not among the metrics Ludwig logs for this config."""


def _samplers() -> dict[str, Any]:
    import optuna

    return {
        "tpe": optuna.samplers.TPESampler,
        "random": optuna.samplers.RandomSampler,
        "cmaes": optuna.samplers.CmaEsSampler,
        "qmc": optuna.samplers.QMCSampler,
        "gp": optuna.samplers.GPSampler,
    }


def make_sampler(name: str, seed: int) -> Any:
    """Return the Optuna sampler called ``name``, seeded."""
    samplers = _samplers()
    if name not in samplers:
        raise InputError(f"Unknown sampler '{name}'. Choose one of: {', '.join(SAMPLER_NAMES)}.")
    return samplers[name](seed=seed)


def make_pruner(name: str, max_epochs: int) -> Any:
    """Return the Optuna pruner called ``name``; pruning steps are epochs."""
    import optuna

    if name == "median":
        # Let two trials finish and every trial run one epoch before comparing.
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(max_epochs, 2))
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise InputError(f"Unknown pruner '{name}'. Choose one of: {', '.join(PRUNER_NAMES)}.")


def default_storage(tracking_uri: str, output_dir: Path) -> str:
    """Return a SQLite file beside a SQLite MLflow store, else in ``output_dir``."""
    if tracking_uri.startswith("sqlite:///"):
        return f"sqlite:///{Path(tracking_uri.removeprefix('sqlite:///')).parent / 'optuna.db'}"
    return f"sqlite:///{output_dir.resolve() / 'optuna.db'}"


def open_storage(url: str) -> Any:
    """Open an Optuna storage: ``journal:///path/to/file.log`` for a journal file, else a database URL.

    SQLite suits one worker or a few on one machine; PostgreSQL and journal
    files suit several workers on several machines.
    """
    import optuna

    if url.startswith("journal://"):
        from optuna.storages.journal import JournalFileBackend

        path = url.removeprefix("journal://")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(path))
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)


def redact(url: str) -> str:
    """Return a storage URL without its password, fit to log."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def check_metric(metric: str, config: Mapping[str, Any]) -> None:
    """Reject objectives on the test split and objectives that name no output feature."""
    parts = metric.split(".")
    if len(parts) != 3 or parts[0] not in ("validation_metrics", "train_metrics"):
        raise InputError(
            f"--metric {metric!r} must read '<split>_metrics.<feature>.<metric>' with split validation or train, "
            "e.g. validation_metrics.label.accuracy. The test split is kept out of model selection."
        )
    features = [feature["name"] for feature in config.get("output_features", [])] + ["combined"]
    if parts[1] not in features:
        raise InputError(f"--metric {metric!r} names feature '{parts[1]}', but the config's output features are: {', '.join(features)}.")


def default_direction(metric: str) -> str:
    return "minimize" if metric.endswith(("loss", "error")) else "maximize"


def ensure_validation_split(checked: inputs.CheckedInput, fraction: float, seed: int) -> tuple[inputs.CheckedInput, int]:
    """Return the input with validation rows, carving a stratified share out of training when it has none.

    Returns the input and the number of rows moved from training to validation.
    """
    dataset = checked.dataset
    if (dataset[inputs.SPLIT_COLUMN] == 1).any():
        return checked, 0
    if not 0 < fraction < 1:
        raise InputError(
            f"{checked.csv_path}: no validation rows (split 1), and the objective must not be computed on the test split. "
            "Mark validation rows with split 1, or pass --validation-fraction between 0 and 1 to carve them out of training."
        )
    from sklearn.model_selection import train_test_split

    training = dataset.index[dataset[inputs.SPLIT_COLUMN] == 0]
    labels = dataset.loc[training, inputs.LABEL_COLUMN]
    stratify = labels if labels.value_counts().min() >= 2 else None
    _, validation = train_test_split(training, test_size=fraction, random_state=seed, stratify=stratify)
    carved = dataset.copy()
    carved.loc[validation, inputs.SPLIT_COLUMN] = 1
    logger.info(
        "No validation rows: moved %d training rows (%.0f%%, stratified, seed %d) to validation", len(validation), fraction * 100, seed
    )
    return dataclasses.replace(checked, dataset=carved), len(validation)


@dataclass
class SweepSettings:
    """Everything a sweep worker needs; plain data, so that it pickles into worker processes."""

    config: Path
    dataset: Path
    raw_data: Path
    space: Path
    n_trials: int
    study_name: str
    storage: str
    metric: str
    direction: str
    sampler: str | Any
    pruner: str | Any
    tracking_uri: str
    experiment_name: str
    output_dir: Path
    random_seed: int
    validation_fraction: float
    timeout: float | None = None
    keep_models: bool = False
    zip_limits: inputs.ZipLimits | None = None
    parent_run_id: str = ""
    reuse_preprocessing: bool = True
    max_epochs: int = 100
    """Upper bound on any trial's epochs, the resource of the Hyperband pruner."""


@dataclass
class SweepResult:
    """The study after this invocation, and where its runs are."""

    study: Any
    parent_run_id: str
    best_run_id: str | None
    best_value: float | None
    best_params: dict[str, Any] = field(default_factory=dict)


class TrialObjective:
    """Run one trial as a nested experiment run, reporting each epoch to Optuna for pruning."""

    def __init__(self, settings: SweepSettings, prepared: experiment.PreparedExperiment, parameters: list[search_space.Parameter]) -> None:
        self.settings = settings
        self.prepared = prepared
        self.parameters = parameters
        self.extracted: pd.DataFrame | None = None
        self.preprocessed: Any = None
        self.metric_error: InputError | None = None

    def __call__(self, trial: Any) -> float:
        import optuna

        settings = self.settings
        values = {parameter.name: parameter.suggest(trial) for parameter in self.parameters}
        trial_config = search_space.apply(self.prepared.config, self.parameters, values)
        prepared = dataclasses.replace(self.prepared, config=trial_config, resolved_config={}, upgrades=[])
        history: list[float] = []
        pruned_at: list[int] = []
        final_epoch = _planned_epochs(trial_config)

        def report_epoch(epoch: int, metrics: dict[str, float]) -> bool:
            if settings.metric not in metrics:
                available = ", ".join(sorted(key for key in metrics if not key.startswith("test_metrics")))
                raise MetricNotFoundError(f"--metric {settings.metric!r} is not among the metrics Ludwig logged: {available}.")
            value = metrics[settings.metric]
            history.append(value)
            trial.report(value, epoch)
            # Stopping at the last planned epoch saves nothing and would discard a finished result.
            if epoch < final_epoch and trial.should_prune():
                pruned_at.append(epoch)
                return True
            return False

        def wants_model() -> bool:
            return not pruned_at and (settings.keep_models or self._is_best_so_far(trial.study, self._objective(history)))

        runner = experiment.ExperimentRunner(
            prepared,
            settings.tracking_uri,
            settings.output_dir,
            settings.random_seed,
            log_model=wants_model,
            epoch_hook=report_epoch,
            progress_metric=settings.metric,
            extracted=self.extracted,
            preprocessed=self.preprocessed,
        )
        extra_params = {f"hp.{name}": value for name, value in values.items()}
        extra_params["trial.number"] = trial.number
        tags = {STUDY_TAG: settings.study_name, TRIAL_TAG: str(trial.number)}
        logger.info("Trial %d: %s", trial.number, ", ".join(f"{name}={value}" for name, value in values.items()))
        started = time.monotonic()
        try:
            result = runner.run(settings.experiment_name, f"trial-{trial.number}", None, settings.parent_run_id, extra_params, tags)
        except KeyboardInterrupt:
            trial.set_user_attr(INTERRUPTED_ATTR, True)
            raise
        except MetricNotFoundError as err:
            self.metric_error = err
            trial.study.stop()
            self._tag_failure(trial, runner)
            raise
        except Exception:
            self._tag_failure(trial, runner)
            raise
        finally:
            _free_accelerator_memory()

        trial.set_user_attr(RUN_ID_ATTR, result.run_id)
        self._keep_tuned_batch_sizes(runner.tuned_batch_sizes, trial.number)
        if pruned_at:
            runner.client.set_tag(result.run_id, STATE_TAG, "PRUNED")
            logger.info("Trial %d pruned at epoch %d after %.0f s", trial.number, pruned_at[0], time.monotonic() - started)
            raise optuna.TrialPruned(f"pruned at epoch {pruned_at[0]}")
        value = self._objective(history)
        runner.client.set_tag(result.run_id, STATE_TAG, "COMPLETE")
        runner.client.log_metric(result.run_id, "objective", value)
        logger.info("Trial %d finished in %.0f s: %s = %.4f", trial.number, time.monotonic() - started, settings.metric, value)
        return value

    def _keep_tuned_batch_sizes(self, tuned: Mapping[str, int], trial_number: int) -> None:
        """Give later trials the batch sizes Ludwig tuned in this one, instead of tuning again in each."""
        searched = {path for parameter in self.parameters for path in parameter.paths}
        reused = {path: size for path, size in tuned.items() if path not in searched}
        for path, size in reused.items():
            self.prepared.config = config_lib.set_path(self.prepared.config, path, size, create_missing=True)
        if reused:
            chosen = ", ".join(f"{path}={size}" for path, size in reused.items())
            logger.info("Trial %d: Ludwig tuned %s, and later trials reuse them", trial_number, chosen)

    def _objective(self, history: Sequence[float]) -> float:
        if not history:
            raise RuntimeError(f"Training logged no {self.settings.metric}; is there a validation split?")
        return max(history) if self.settings.direction == "maximize" else min(history)

    def _is_best_so_far(self, study: Any, value: float) -> bool:
        import optuna

        finished = [t.value for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
        if not finished:
            return True
        best = max(finished) if self.settings.direction == "maximize" else min(finished)
        return value > best if self.settings.direction == "maximize" else value < best

    @staticmethod
    def _tag_failure(trial: Any, runner: experiment.ExperimentRunner) -> None:
        if runner.run_id is not None:
            runner.client.set_tag(runner.run_id, STATE_TAG, "FAIL")
            trial.set_user_attr(RUN_ID_ATTR, runner.run_id)


def _planned_epochs(config: Mapping[str, Any]) -> int:
    try:
        return int(config_lib.get_path(config, "trainer.epochs"))
    except (KeyError, TypeError, ValueError):
        return 100  # Ludwig 0.17's default number of epochs


def _free_accelerator_memory() -> None:
    gc.collect()
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _finished_trials(study: Any) -> int:
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)
    return sum(1 for t in study.get_trials(deepcopy=False, states=states) if not t.user_attrs.get(INTERRUPTED_ATTR))


def prepare_sweep(settings: SweepSettings) -> tuple[experiment.PreparedExperiment, list[search_space.Parameter], int]:
    """Check inputs, search space and metric, and give the data a validation split; import Ludwig last."""
    prepared = experiment.prepare(settings.config, settings.dataset, settings.raw_data, settings.zip_limits)
    parameters = search_space.load_search_space(settings.space)
    check_metric(settings.metric, prepared.config)
    if settings.direction not in ("maximize", "minimize"):
        raise InputError(f"--direction must be maximize or minimize; got {settings.direction!r}.")
    if settings.n_trials < 1:
        raise InputError(f"--n-trials must be at least 1; got {settings.n_trials}.")
    prepared.checked, carved = ensure_validation_split(prepared.checked, settings.validation_fraction, settings.random_seed)
    experiment.validate_with_ludwig(prepared, settings.output_dir)
    search_space.check_paths(parameters, prepared.resolved_config, str(settings.space))
    return prepared, parameters, carved


def run_worker(
    settings: SweepSettings,
    n_trials: int,
    worker_index: int = 0,
    prepared: experiment.PreparedExperiment | None = None,
    parameters: list[search_space.Parameter] | None = None,
) -> None:
    """Run up to ``n_trials`` trials of the shared study in this process.

    A worker process checks the inputs again itself; the coordinator passes
    what it has already checked.
    """
    if prepared is None or parameters is None:
        prepared, parameters, _ = prepare_sweep(settings)
    objective = TrialObjective(settings, prepared, parameters)
    work_dir = settings.output_dir / f"sweep-{settings.parent_run_id}" / f"worker-{worker_index}"
    try:
        objective.extracted = inputs.extract_images(prepared.checked, work_dir / "images")
        if settings.reuse_preprocessing and not any(parameter.touches_preprocessing for parameter in parameters):
            objective.preprocessed = _preprocess_once(
                prepared, objective.extracted, settings.random_seed, work_dir / experiment.DECODED_DIR
            )
        study = load_study(settings)
        study.optimize(
            objective,
            n_trials=n_trials,
            timeout=settings.timeout,
            catch=(Exception,),
            callbacks=[lambda study, trial: interrupts.raise_if_stop_requested()],
            gc_after_trial=True,
        )
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    if objective.metric_error is not None:
        raise objective.metric_error


def _preprocess_once(prepared: experiment.PreparedExperiment, extracted: pd.DataFrame, seed: int, decoded_dir: Path) -> Any:
    """Preprocess for all trials; images decoded in the first trial's first epoch serve every later one."""
    from ludwig.api import LudwigModel

    started = time.monotonic()
    model = LudwigModel(prepared.config, logging_level=logging.WARNING)
    with decoding.decoded_images_in(decoded_dir):
        preprocessed = model.preprocess(dataset=extracted, skip_save_processed_input=True, random_seed=seed)
    logger.info("Preprocessed the data once for all trials in %.1f s", time.monotonic() - started)
    return preprocessed


def load_study(settings: SweepSettings) -> Any:
    import optuna

    pruner = settings.pruner if not isinstance(settings.pruner, str) else make_pruner(settings.pruner, settings.max_epochs)
    return optuna.create_study(
        study_name=settings.study_name,
        storage=open_storage(settings.storage),
        sampler=make_sampler(settings.sampler, settings.random_seed) if isinstance(settings.sampler, str) else settings.sampler,
        pruner=pruner,
        direction=settings.direction,
        load_if_exists=True,
    )


def max_epochs(config: Mapping[str, Any], parameters: list[search_space.Parameter]) -> int:
    """Return the most epochs a trial can run: the config's, or the top of a sampled epochs range."""
    candidates = [_planned_epochs(config)]
    for parameter in parameters:
        if "trainer.epochs" in parameter.paths:
            candidates.extend(int(choice) for choice in parameter.choices)
            if parameter.high is not None:
                candidates.append(int(parameter.high))
    return max(candidates)


def run_sweep(
    config: str | Path,
    dataset: str | Path,
    raw_data: str | Path,
    space: str | Path,
    *,
    n_trials: int = 10,
    timeout: float | None = None,
    study_name: str | None = None,
    storage: str | None = None,
    sampler: str | Any = "tpe",
    pruner: str | Any = "median",
    metric: str = DEFAULT_METRIC,
    direction: str | None = None,
    gpus: Sequence[int] | None = None,
    workers: int = 1,
    experiment_name: str = tracking.DEFAULT_EXPERIMENT,
    tracking_uri: str | None = None,
    output_dir: str | Path = experiment.DEFAULT_OUTPUT_DIR,
    random_seed: int = experiment.DEFAULT_SEED,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    keep_models: bool = False,
    include_baseline: bool = True,
    reuse_preprocessing: bool = True,
    zip_limits: inputs.ZipLimits | None = None,
) -> SweepResult:
    """Explore ``space`` with Optuna, each trial a nested MLflow run under one parent run.

    ``n_trials`` is the study's total: re-running with the same ``study_name``
    and ``storage`` runs only the trials still missing. With ``include_baseline``,
    a new study's first trial uses the config's own values, so the best trial
    can be judged against the unchanged config on the same validation split. ``gpus`` runs one worker
    process per listed GPU; ``workers`` runs that many CPU worker processes.

    Raises:
        InputError: before any run starts, for bad inputs, search space or options.
    """
    from mlflow import MlflowClient

    uri = tracking.resolve_tracking_uri(tracking_uri)
    output = Path(output_dir)
    settings = SweepSettings(
        config=Path(config),
        dataset=Path(dataset),
        raw_data=Path(raw_data),
        space=Path(space),
        n_trials=n_trials,
        study_name=study_name or f"{Path(config).stem}-sweep",
        storage=storage or default_storage(uri, output),
        metric=metric,
        direction=direction or default_direction(metric),
        sampler=sampler,
        pruner=pruner,
        tracking_uri=uri,
        experiment_name=experiment_name,
        output_dir=output,
        random_seed=random_seed,
        validation_fraction=validation_fraction,
        timeout=timeout,
        keep_models=keep_models,
        zip_limits=zip_limits,
        reuse_preprocessing=reuse_preprocessing,
    )
    if isinstance(sampler, str) and sampler not in SAMPLER_NAMES:
        raise InputError(f"Unknown sampler '{sampler}'. Choose one of: {', '.join(SAMPLER_NAMES)}.")
    if isinstance(pruner, str) and pruner not in PRUNER_NAMES:
        raise InputError(f"Unknown pruner '{pruner}'. Choose one of: {', '.join(PRUNER_NAMES)}.")
    if workers < 1:
        raise InputError(f"--workers must be at least 1; got {workers}.")
    prepared, parameters, carved = prepare_sweep(settings)
    settings.max_epochs = max_epochs(prepared.resolved_config, parameters)

    study = load_study(settings)
    if include_baseline and not study.trials:
        _enqueue_baseline(study, prepared.resolved_config, parameters)
    remaining = max(0, n_trials - _finished_trials(study))
    devices = list(gpus) if gpus else [None] * workers
    client = MlflowClient(uri)
    parent_run_id = _start_parent_run(client, settings, parameters, carved, devices)
    settings.parent_run_id = parent_run_id
    logger.info(
        "Study '%s' in %s: %d of %d trials left, %d worker(s), parent run %s",
        settings.study_name, redact(settings.storage), remaining, n_trials, len(devices), parent_run_id,
    )  # fmt: skip
    status = "FAILED"
    try:
        if remaining and devices == [None]:
            run_worker(settings, remaining, 0, prepared, parameters)
        elif remaining:
            _run_workers(settings, remaining, devices)
        study = load_study(settings)
        result = _summarize(client, settings, study)
        status = "FINISHED"
        return result
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        client.set_terminated(parent_run_id, status)


def _enqueue_baseline(study: Any, config: Mapping[str, Any], parameters: list[search_space.Parameter]) -> None:
    values = {}
    for parameter in parameters:
        try:
            found = {repr(config_lib.get_path(config, dotted)) for dotted in parameter.paths}
            value = config_lib.get_path(config, parameter.paths[0])
        except KeyError:
            logger.info("No baseline trial: the config does not set %s", parameter.name)
            return
        inside = value in parameter.choices if parameter.type == "categorical" else parameter.low <= value <= parameter.high  # type: ignore[operator]
        if len(found) > 1 or not inside:
            logger.info("No baseline trial: the config's %s %s is not one value inside the search space", parameter.name, sorted(found))
            return
        values[parameter.name] = value
    study.enqueue_trial(values, user_attrs={"baseline": True})
    logger.info("Trial 0 is the config as given: %s", values)


def _run_workers(settings: SweepSettings, remaining: int, devices: list[int | None]) -> None:
    quotas = [remaining // len(devices) + (1 if index < remaining % len(devices) else 0) for index in range(len(devices))]
    context = multiprocessing.get_context("spawn")
    processes = []
    for index, (device, quota) in enumerate(zip(devices, quotas, strict=True)):
        if quota == 0:
            continue
        previous = os.environ.get("CUDA_VISIBLE_DEVICES")
        # A spawned process copies os.environ when it starts, so each worker can use only its own GPU.
        if device is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = str(device)
        try:
            process = context.Process(target=_worker_entry, args=(settings, quota, index), name=f"sweep-worker-{index}")
            process.start()
        finally:
            if device is not None:
                if previous is None:
                    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
                else:
                    os.environ["CUDA_VISIBLE_DEVICES"] = previous
        logger.info(
            "Started worker %d (pid %d, %s) for %d trials", index, process.pid, f"GPU {device}" if device is not None else "CPU", quota
        )
        processes.append(process)
    try:
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=60)
        raise
    failed = [process.name for process in processes if process.exitcode != 0]
    if failed:
        raise RuntimeError(f"Sweep workers {', '.join(failed)} failed; their errors are in the log above.")


def _worker_entry(settings: SweepSettings, n_trials: int, worker_index: int) -> None:
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s %(levelname)s worker-{worker_index} %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)

    interrupts.install_sigterm_handler()
    run_worker(settings, n_trials, worker_index)


def _start_parent_run(
    client: Any, settings: SweepSettings, parameters: list[search_space.Parameter], carved: int, devices: list[int | None]
) -> str:
    from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

    tags = {
        STUDY_TAG: settings.study_name,
        tracking.TAG_PREFIX + "storage": redact(settings.storage),
        tracking.TAG_PREFIX + "kind": "sweep",
    }
    run_id = tracking.handed_over_run_id(client)
    if run_id is None:
        experiment_id = tracking.get_or_create_experiment(client, settings.experiment_name)
        run_id = client.create_run(
            experiment_id, tags={**tags, MLFLOW_RUN_NAME: settings.study_name}, run_name=settings.study_name
        ).info.run_id
    else:
        # Children must live in the parent's experiment for the MLflow UI to nest them.
        settings.experiment_name = client.get_experiment(client.get_run(run_id).info.experiment_id).name
        tracking.log_tags(client, run_id, tags)
    params = {
        "sweep.n_trials": settings.n_trials,
        "sweep.metric": settings.metric,
        "sweep.direction": settings.direction,
        "sweep.sampler": settings.sampler if isinstance(settings.sampler, str) else type(settings.sampler).__name__,
        "sweep.pruner": settings.pruner if isinstance(settings.pruner, str) else type(settings.pruner).__name__,
        "sweep.validation_fraction": settings.validation_fraction if carved else 0,
        "sweep.validation_rows_carved": carved,
        "sweep.workers": len(devices),
        "sweep.gpus": ",".join(str(device) for device in devices if device is not None) or "none",
        "sweep.random_seed": settings.random_seed,
    }
    for parameter in parameters:
        params[f"space.{parameter.name}"] = f"{parameter.type} {list(parameter.choices) or [parameter.low, parameter.high]}"
        params[f"space.{parameter.name}.paths"] = ",".join(parameter.paths)
    tracking.log_params(client, run_id, params)
    client.log_artifact(run_id, str(settings.config), "config")
    client.log_artifact(run_id, str(settings.space), "config")
    return run_id


def _summarize(client: Any, settings: SweepSettings, study: Any) -> SweepResult:
    import optuna

    run_id = settings.parent_run_id
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    counts = {state.name: len(study.get_trials(deepcopy=False, states=(state,))) for state in optuna.trial.TrialState}
    for state, count in counts.items():
        client.log_metric(run_id, f"trials.{state.lower()}", count)

    trials = study.trials_dataframe()
    with tempfile.TemporaryDirectory() as folder:
        trials.to_csv(Path(folder) / "trials.csv", index=False)
        client.log_artifact(run_id, str(Path(folder) / "trials.csv"))
        _log_optuna_plots(client, run_id, study, Path(folder))

    if not complete:
        logger.warning("No trial completed, so the study has no best trial")
        return SweepResult(study, run_id, None, None)
    best = study.best_trial
    best_run_id = best.user_attrs.get(RUN_ID_ATTR)
    client.log_metric(run_id, "best_value", best.value)
    tracking.log_params(client, run_id, {f"best.{name}": value for name, value in best.params.items()})
    tracking.log_tags(
        client, run_id, {tracking.TAG_PREFIX + "best_run_id": best_run_id or "", tracking.TAG_PREFIX + "best_trial": best.number}
    )
    logger.info("Best trial %d: %s = %.4f with %s (run %s)", best.number, settings.metric, best.value, best.params, best_run_id)
    return SweepResult(study, run_id, best_run_id, best.value, dict(best.params))


def _log_optuna_plots(client: Any, run_id: str, study: Any, folder: Path) -> None:
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as optuna_plots

    plots = {
        "optimization_history.png": optuna_plots.plot_optimization_history,
        "param_importances.png": optuna_plots.plot_param_importances,
        "parallel_coordinate.png": optuna_plots.plot_parallel_coordinate,
        "slice.png": optuna_plots.plot_slice,
        "intermediate_values.png": optuna_plots.plot_intermediate_values,
    }
    plots_dir = folder / "plots"
    plots_dir.mkdir()
    for name, plot in plots.items():
        try:
            with warnings.catch_warnings():
                # Optuna marks its matplotlib backend experimental.
                warnings.simplefilter("ignore")
                axes = plot(study)
            figure = (axes.flat[0] if hasattr(axes, "flat") else axes).figure
            figure.savefig(plots_dir / name, dpi=100, bbox_inches="tight")
            plt.close(figure)
        except (ValueError, RuntimeError, ZeroDivisionError) as err:
            logger.warning("Skipped the Optuna plot %s: %s", name, err)
    client.log_artifacts(run_id, str(plots_dir), "plots")
