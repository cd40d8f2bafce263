"""MLflow plumbing: tracking URI, runs, params within limits, buffered metrics."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ludwig_track.errors import InputError, LudwigTrackError

logger = logging.getLogger(__name__)

DEFAULT_EXPERIMENT = "ludwig_track"
TAG_PREFIX = "ludwig_track."


class TrackingError(LudwigTrackError):
    """The MLflow tracking server could not be reached after retries."""


def resolve_tracking_uri(tracking_uri: str | None = None) -> str:
    """Return the tracking URI to use: the argument, else ``MLFLOW_TRACKING_URI``, else ``./mlflow.db``.

    A relative SQLite or file path is made absolute, so that the printed URI
    still works from another folder.
    """
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db"
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = "sqlite:///" + str(Path(uri.removeprefix("sqlite:///")).resolve())
    elif "://" not in uri:
        uri = Path(uri).resolve().as_uri()
    return uri


def ui_command(tracking_uri: str, host: str = "127.0.0.1", port: int = 5000) -> str:
    """Return the shell command that opens the MLflow UI on ``tracking_uri``.

    The UI binds to loopback unless another host is given, so that the runs are
    not served to the network by accident.
    """
    if tracking_uri.startswith(("http://", "https://")):
        return f"open {tracking_uri} in a browser"
    return f"mlflow ui --backend-store-uri '{tracking_uri}' --host {host} --port {port}"


@contextlib.contextmanager
def tracking_uri_set(tracking_uri: str) -> Iterator[None]:
    """Point MLflow's fluent API at ``tracking_uri`` and restore the previous URI on exit."""
    import mlflow

    previous_env = os.environ.get("MLFLOW_TRACKING_URI")
    previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(tracking_uri)
    try:
        yield
    finally:
        # set_tracking_uri(None) also unsets MLFLOW_TRACKING_URI, so restore it afterwards.
        mlflow.set_tracking_uri(previous)
        if previous_env is not None:
            os.environ["MLFLOW_TRACKING_URI"] = previous_env


def get_or_create_experiment(client: Any, name: str) -> str:
    """Return the id of the experiment called ``name``, creating it when missing.

    Raises:
        InputError: if the experiment exists but was deleted.
    """
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return client.create_experiment(name, artifact_location=default_artifact_location(client.tracking_uri, name))
    if experiment.lifecycle_stage == "deleted":
        raise InputError(
            f"MLflow experiment '{name}' was deleted. Restore it with "
            f"`mlflow experiments restore --experiment-id {experiment.experiment_id}` or pick another --experiment-name."
        )
    return experiment.experiment_id


def default_artifact_location(tracking_uri: str, experiment_name: str) -> str | None:
    """Return a folder beside a SQLite store for the experiment's artifacts, or None to let MLflow choose.

    MLflow's default for a database store is ``./mlruns`` of whatever folder the
    process runs in, which scatters artifacts across working folders.
    """
    if not tracking_uri.startswith("sqlite:///"):
        return None
    database = Path(tracking_uri.removeprefix("sqlite:///"))
    safe_name = "".join(character if character.isalnum() or character in "-_." else "_" for character in experiment_name)
    return (database.parent / "mlartifacts" / safe_name).as_uri()


def handed_over_run_id(client: Any) -> str | None:
    """Return the run that ``mlflow run`` started for this process, if any.

    ``mlflow run`` creates the run and passes its id in ``MLFLOW_RUN_ID``. Only a
    run that is still RUNNING is adopted: an id left over in the shell from an
    earlier invocation must not reopen a finished run.
    """
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if not run_id:
        return None
    run = client.get_run(run_id)
    if run.info.status != "RUNNING":
        raise InputError(
            f"MLFLOW_RUN_ID={run_id} names a run that is {run.info.status}, not RUNNING; "
            "a finished run is never reopened. Unset MLFLOW_RUN_ID to start a new run."
        )
    return run_id


def fit_param(key: str, value: Any) -> tuple[str, str]:
    """Return ``key`` and ``value`` cut to MLflow's length limits.

    A key over the limit keeps its end (the most specific part) behind a short
    hash, so that two long keys stay distinct.
    """
    from mlflow.utils.validation import MAX_ENTITY_KEY_LENGTH, MAX_PARAM_VAL_LENGTH

    text = str(value)
    if len(text) > MAX_PARAM_VAL_LENGTH:
        text = text[: MAX_PARAM_VAL_LENGTH - 3] + "..."
    if len(key) > MAX_ENTITY_KEY_LENGTH:
        digest = hashlib.sha1(key.encode()).hexdigest()[:8]
        key = f"{digest}~{key[-(MAX_ENTITY_KEY_LENGTH - 9) :]}"
    return key, text


def log_params(client: Any, run_id: str, params: Mapping[str, Any]) -> None:
    """Log ``params`` in batches of MLflow's maximum size, cut to its length limits.

    Keys the run already has are left as they are, because MLflow rejects a
    changed param value. ``mlflow run`` logs its entry point's parameters before
    ludwig_track starts.
    """
    from mlflow.entities import Param
    from mlflow.utils.validation import MAX_PARAMS_TAGS_PER_BATCH

    existing = client.get_run(run_id).data.params
    fitted = [Param(*fit_param(key, value)) for key, value in params.items()]
    fitted = [param for param in fitted if param.key not in existing]
    for start in range(0, len(fitted), MAX_PARAMS_TAGS_PER_BATCH):
        client.log_batch(run_id, params=fitted[start : start + MAX_PARAMS_TAGS_PER_BATCH], synchronous=True)


def log_tags(client: Any, run_id: str, tags: Mapping[str, Any]) -> None:
    """Set ``tags`` on the run in one batch."""
    from mlflow.entities import RunTag
    from mlflow.utils.validation import MAX_PARAMS_TAGS_PER_BATCH, MAX_TAG_VAL_LENGTH

    fitted = [RunTag(key, str(value)[:MAX_TAG_VAL_LENGTH]) for key, value in tags.items()]
    for start in range(0, len(fitted), MAX_PARAMS_TAGS_PER_BATCH):
        client.log_batch(run_id, tags=fitted[start : start + MAX_PARAMS_TAGS_PER_BATCH], synchronous=True)


class MetricBuffer:
    """Collect metrics and send them to MLflow in batches, keeping them while the server is down.

    A failed send is retried ``retries`` times with a doubling delay. Metrics
    that still could not be sent stay buffered and go out with the next flush,
    so a briefly unreachable server loses nothing. :meth:`close` raises
    :class:`TrackingError` when anything is still unsent.
    """

    def __init__(self, client: Any, run_id: str, retries: int = 3, delay: float = 1.0) -> None:
        self._client = client
        self._run_id = run_id
        self._retries = retries
        self._delay = delay
        self._pending: list[Any] = []

    def add(self, metrics: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        timestamp = int(time.time() * 1000)
        self._pending.extend(Metric(key, float(value), timestamp, step) for key, value in metrics.items())

    def flush(self) -> bool:
        """Send the buffered metrics; return whether the buffer is now empty."""
        from mlflow.exceptions import MlflowException
        from mlflow.utils.validation import MAX_METRICS_PER_BATCH

        delay = self._delay
        for attempt in range(self._retries + 1):
            try:
                while self._pending:
                    batch = self._pending[:MAX_METRICS_PER_BATCH]
                    self._client.log_batch(self._run_id, metrics=batch, synchronous=True)
                    del self._pending[: len(batch)]
                return True
            except (MlflowException, OSError) as err:
                if attempt == self._retries:
                    logger.warning("Could not send %d metrics to MLflow, keeping them for the next try: %s", len(self._pending), err)
                    return False
                logger.info("Sending metrics to MLflow failed (%s); retrying in %.0f s", err, delay)
                time.sleep(delay)
                delay *= 2
        return not self._pending

    def close(self) -> None:
        if not self.flush():
            raise TrackingError(
                f"MLflow tracking server unreachable: {len(self._pending)} metrics of run {self._run_id} could not be logged. "
                "Check that the server is up and the tracking URI is right."
            )


def log_metrics_now(client: Any, run_id: str, metrics: Mapping[str, float], step: int) -> None:
    """Log ``metrics`` at ``step`` right away, with the retries of :class:`MetricBuffer`."""
    buffer = MetricBuffer(client, run_id)
    buffer.add(metrics, step)
    buffer.close()
