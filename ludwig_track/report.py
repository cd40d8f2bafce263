"""The evaluation report of one run, built from what the MLflow run holds.

The same code runs at the end of every experiment and in ``ludwig-track
report RUN_ID``, so a report rebuilt later, without the run's local folder,
shows the same figures.
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ludwig_track import figures, tracking
from ludwig_track.errors import InputError
from ludwig_track.evaluation import ClassEvaluation, evaluate_predictions

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
CURVE_METRICS = {"loss": "combined.loss", "accuracy": "{feature}.accuracy", "hits_at_k": "{feature}.hits_at_k"}
PREDICTIONS_ARTIFACT = "evaluation/predictions.csv"
SUMMARY_ARTIFACT = "data/dataset_summary.json"
CONFIG_ARTIFACT = "config/config_used.yaml"


@dataclass
class RunView:
    """Everything a report shows of one run, read from MLflow."""

    run_id: str
    run_name: str
    experiment_id: str
    status: str
    tracking_uri: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]
    feature: str
    curves: dict[str, dict[str, list[tuple[int, float]]]]
    """Per-epoch values by report metric (``loss``, ``accuracy``, ``hits_at_k``), then by split."""
    predictions: pd.DataFrame | None
    dataset_summary: dict[str, Any]
    config_yaml: str
    start_time: int | None
    end_time: int | None
    evaluation: ClassEvaluation | None = field(default=None)

    @property
    def label(self) -> str:
        tag = self.tags.get(tracking.TAG_PREFIX + "config_tag")
        return f"{tag or self.run_name} ({self.run_id[:8]})"

    @property
    def duration_seconds(self) -> float | None:
        if "duration_seconds" in self.metrics:
            return self.metrics["duration_seconds"]
        if self.start_time and self.end_time:
            return (self.end_time - self.start_time) / 1000
        return None


def output_feature(params: dict[str, str]) -> str:
    """Return the name of the first output feature in the flattened config params."""
    names = sorted({match.group(1) for key in params if (match := re.fullmatch(r"output_features\.([^.]+)\.type", key))})
    if not names:
        raise InputError("The run has no output_features.<name>.type param; it was not logged by ludwig_track.")
    return names[0]


def load_run(client: Any, run_id: str, tracking_uri: str) -> RunView:
    """Read a run's params, metric histories and evaluation artifacts.

    Raises:
        InputError: if the run does not exist or was not logged by ludwig_track.
    """
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException as err:
        raise InputError(f"Run '{run_id}' not found at {tracking_uri}. Check the run id and --tracking-uri.") from err
    params = dict(run.data.params)
    feature = output_feature(params)
    curves: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for name, pattern in CURVE_METRICS.items():
        key = pattern.format(feature=feature)
        curves[name] = {}
        for split in SPLITS:
            if f"{split}_metrics.{key}" in run.data.metrics:
                history = client.get_metric_history(run_id, f"{split}_metrics.{key}")
                curves[name][split] = sorted((point.step, point.value) for point in history)

    with tempfile.TemporaryDirectory() as folder:
        predictions = _read_artifact(
            client, run_id, PREDICTIONS_ARTIFACT, folder, lambda path: pd.read_csv(path, dtype=str, keep_default_na=False)
        )
        summary = _read_artifact(client, run_id, SUMMARY_ARTIFACT, folder, lambda path: json.loads(Path(path).read_text())) or {}
        config_yaml = _read_artifact(client, run_id, CONFIG_ARTIFACT, folder, lambda path: Path(path).read_text()) or ""

    view = RunView(
        run_id=run_id,
        run_name=run.info.run_name or run_id,
        experiment_id=run.info.experiment_id,
        status=run.info.status,
        tracking_uri=tracking_uri,
        tags=dict(run.data.tags),
        params=params,
        metrics=dict(run.data.metrics),
        feature=feature,
        curves=curves,
        predictions=predictions,
        dataset_summary=summary,
        config_yaml=config_yaml,
        start_time=run.info.start_time,
        end_time=run.info.end_time,
    )
    if predictions is not None:
        training_counts = summary.get("class_counts", {}).get("training", {})
        view.evaluation = evaluate_predictions(predictions, feature, training_counts)
    return view


def _read_artifact(client: Any, run_id: str, path: str, folder: str, read: Any) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        local = client.download_artifacts(run_id, path, folder)
    except (MlflowException, OSError):
        logger.warning("Run %s has no artifact %s; the report leaves that part out", run_id, path)
        return None
    return read(local)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def run_figures(view: RunView) -> dict[str, bytes]:
    """Draw every figure of one run's report, keyed by file name."""
    drawn: dict[str, bytes] = {}
    if view.evaluation is not None:
        drawn["confusion_matrix.png"] = figures.confusion_matrix(view.evaluation)
        drawn["confusion_matrix_normalized.png"] = figures.confusion_matrix(view.evaluation, normalized=True)
        drawn["entropy.png"] = figures.entropy_ranking(view.evaluation)
        drawn["f1_vs_frequency.png"] = figures.f1_against_frequency(view.evaluation)
    for name, by_split in view.curves.items():
        if by_split:
            drawn[f"{name}_per_epoch.png"] = figures.learning_curves(by_split, name if name != "loss" else "combined loss")
    return drawn


def render_template(template: str, **context: Any) -> str:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("ludwig_track", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["data_uri"] = data_uri
    return environment.get_template(template).render(**context)


def render_report(view: RunView, drawn: dict[str, bytes]) -> str:
    """Render the self-contained HTML report of one run, images embedded."""
    overall = {
        name: view.metrics.get(f"test.{key}")
        for name, key in (
            ("accuracy", f"{view.feature}.accuracy"),
            ("loss", f"{view.feature}.loss"),
            ("hits_at_k", f"{view.feature}.hits_at_k"),
        )
    }
    summary = view.dataset_summary
    class_counts = summary.get("class_counts", {})
    all_labels = sorted({label for counts in class_counts.values() for label in counts}, key=lambda label: (len(label), label))
    missing = {split: [label for label in all_labels if label not in counts] for split, counts in class_counts.items()}
    versions = {
        key: value for key, value in sorted(view.tags.items()) if key.endswith("_version") or key == tracking.TAG_PREFIX + "version"
    }
    return render_template(
        "report.html",
        view=view,
        figures=drawn,
        overall=overall,
        per_class=view.evaluation.per_class.to_dict("records") if view.evaluation is not None else [],
        split_sizes=summary.get("split_sizes", {}),
        class_counts=class_counts,
        all_labels=all_labels,
        missing=missing,
        warnings=summary.get("warnings", []),
        versions=versions,
        ui_command=tracking.ui_command(view.tracking_uri),
        generated=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


@dataclass(frozen=True)
class Report:
    html: str
    figures: dict[str, bytes]


def build_report(client: Any, run_id: str, tracking_uri: str) -> Report:
    """Build the report of ``run_id`` from its MLflow params, metric histories and artifacts."""
    view = load_run(client, run_id, tracking_uri)
    drawn = run_figures(view)
    return Report(render_report(view, drawn), drawn)


def log_report(client: Any, run_id: str, report: Report) -> None:
    """Log ``report.html`` and each figure under ``plots/`` to the run."""
    client.log_text(run_id, report.html, "report.html")
    with tempfile.TemporaryDirectory() as folder:
        for name, png in report.figures.items():
            (Path(folder) / name).write_bytes(png)
        client.log_artifacts(run_id, folder, "plots")
