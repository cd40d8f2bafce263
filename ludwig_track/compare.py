"""Side-by-side comparison of several runs in one HTML page."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ludwig_track import figures, tracking
from ludwig_track.errors import InputError
from ludwig_track.report import RunView, load_run, render_template

logger = logging.getLogger(__name__)

# Params that differ between runs of one configuration, so they are left out of the config differences.
IGNORED_PARAM_PREFIXES = ("data.", "ludwig_version")


@dataclass(frozen=True)
class Comparison:
    html: str
    figures: dict[str, bytes]


def select_runs(client: Any, experiment_name: str, config_tags: Sequence[str] | None = None, max_runs: int = 10) -> list[str]:
    """Return the ids of the finished runs of an experiment, oldest first, optionally only those with the given config tags."""
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise InputError(f"MLflow experiment '{experiment_name}' not found. List experiments with `mlflow experiments search`.")
    runs = client.search_runs(
        [experiment.experiment_id], "attributes.status = 'FINISHED'", order_by=["attributes.start_time ASC"], max_results=1000
    )
    tag_key = tracking.TAG_PREFIX + "config_tag"
    if config_tags:
        runs = [run for run in runs if run.data.tags.get(tag_key) in set(config_tags)]
    selected = [run.info.run_id for run in runs][:max_runs]
    if len(selected) < 2:
        found = sorted({run.data.tags.get(tag_key, "(none)") for run in runs})
        raise InputError(
            f"Found {len(selected)} finished runs in experiment '{experiment_name}'"
            + (f" with tags {list(config_tags)}" if config_tags else "")
            + f"; a comparison needs at least 2. Tags present: {', '.join(found) or 'none'}."
        )
    return selected


def _delta_class(delta: float | None, higher_is_better: bool) -> str:
    if delta is None or abs(delta) < 1e-12:
        return ""
    return "better" if (delta > 0) == higher_is_better else "worse"


def metrics_table(views: Sequence[RunView]) -> list[dict[str, Any]]:
    """Return one row per test metric with each run's value and its delta against the first run."""
    first = views[0]
    keys = sorted({key for view in views for key in view.metrics if key.startswith("test.") or key == "duration_seconds"})
    rows = []
    for key in keys:
        base = first.metrics.get(key)
        higher_is_better = not key.endswith(("loss", "duration_seconds"))
        cells = []
        for view in views:
            value = view.metrics.get(key)
            delta = value - base if value is not None and base is not None else None
            cells.append({"value": value, "delta": delta, "css": _delta_class(delta, higher_is_better)})
        rows.append({"metric": key, "cells": cells})
    return rows


def per_class_table(views: Sequence[RunView]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Return each run's per-class correct counts, F1 and entropy with their changes against the first run.

    Also returns the answers to the summary questions of the comparison page.
    """
    evaluated = [view for view in views if view.evaluation is not None]
    if len(evaluated) < 2:
        return [], {}
    first = evaluated[0].evaluation
    assert first is not None
    labels = list(dict.fromkeys(label for view in evaluated for label in view.evaluation.labels))  # type: ignore[union-attr]
    rows = []
    for label in labels:
        cells = []
        for view in evaluated:
            table = view.evaluation.per_class.set_index("label")  # type: ignore[union-attr]
            base = first.per_class.set_index("label")
            if label not in table.index:
                cells.append(None)
                continue
            row = table.loc[label]
            has_base = label in base.index
            cells.append(
                {
                    "correct": int(row["correct"]),
                    "correct_delta": int(row["correct"] - base.loc[label, "correct"]) if has_base else None,
                    "f1": float(row["f1"]),
                    "f1_delta": float(row["f1"] - base.loc[label, "f1"]) if has_base else None,
                    "entropy": float(row["entropy"]),
                    "entropy_delta": float(row["entropy"] - base.loc[label, "entropy"]) if has_base else None,
                }
            )
        rows.append({"label": label, "cells": cells})
    return rows, _answers(evaluated, rows)


def _answers(views: Sequence[RunView], rows: list[dict[str, Any]]) -> dict[str, str]:
    """Answer the usual questions about the last run against the first."""
    last = len(views) - 1
    increased = [row["label"] for row in rows if row["cells"][last] and (row["cells"][last]["correct_delta"] or 0) > 0]
    decreased = [row["label"] for row in rows if row["cells"][last] and (row["cells"][last]["correct_delta"] or 0) < 0]
    entropy_deltas = [
        row["cells"][last]["entropy_delta"] for row in rows if row["cells"][last] and row["cells"][last]["entropy_delta"] is not None
    ]
    fell = sum(delta < 0 for delta in entropy_deltas)
    rose = [row["label"] for row in rows if row["cells"][last] and (row["cells"][last]["entropy_delta"] or 0) > 0]
    first, final = views[0], views[last]

    def change(key: str) -> str:
        before, after = first.metrics.get(f"test.{key}"), final.metrics.get(f"test.{key}")
        if before is None or after is None:
            return "not logged"
        return f"{before:.4f} → {after:.4f} ({after - before:+.4f})"

    feature = final.feature
    return {
        "Correct predictions increased for": ", ".join(increased) or "no label",
        "Correct predictions decreased for": ", ".join(decreased) or "no label",
        "Entropy fell for": f"{fell} of {len(entropy_deltas)} labels"
        + (" (every label)" if entropy_deltas and fell == len(entropy_deltas) else "")
        + (f"; it rose for {', '.join(rose)}" if rose else ""),
        "Test loss": change(f"{feature}.loss"),
        "Test accuracy": change(f"{feature}.accuracy"),
    }


def config_differences(views: Sequence[RunView]) -> list[dict[str, Any]]:
    """Return the config params whose values differ between the runs."""
    keys = sorted({key for view in views for key in view.params if not key.startswith(IGNORED_PARAM_PREFIXES)})
    differences = []
    for key in keys:
        values = [view.params.get(key) for view in views]
        if len(set(values)) > 1:
            differences.append({"param": key, "values": values})
    return differences


def comparison_figures(views: Sequence[RunView]) -> dict[str, bytes]:
    """Draw overlaid learning curves, confusion matrices side by side, and per-class F1 and entropy."""
    drawn: dict[str, bytes] = {}
    for name in ("loss", "accuracy", "hits_at_k"):
        curves = {view.label: view.curves.get(name, {}) for view in views if view.curves.get(name)}
        if curves:
            drawn[f"{name}_per_epoch.png"] = figures.overlaid_learning_curves(curves, name if name != "loss" else "combined loss")
    for index, view in enumerate(views):
        if view.evaluation is not None:
            drawn[f"confusion_matrix_{index}.png"] = figures.confusion_matrix(view.evaluation, title=view.label)
    evaluated = [view for view in views if view.evaluation is not None]
    if evaluated:
        labels = list(dict.fromkeys(label for view in evaluated for label in view.evaluation.labels))  # type: ignore[union-attr]
        for column, title in (("f1", "F1 per class"), ("entropy", "Entropy of the confusion-matrix row per class")):
            series = {}
            for view in evaluated:
                table = view.evaluation.per_class.set_index("label")[column]  # type: ignore[union-attr]
                series[view.label] = [float(table.get(label, np.nan)) for label in labels]
            drawn[f"{column}_per_class.png"] = figures.grouped_bars(labels, series, column, title)
    return drawn


def compare_runs(client: Any, run_ids: Sequence[str], tracking_uri: str) -> Comparison:
    """Build the comparison page of ``run_ids``; the first run is the baseline for every delta."""
    if len(run_ids) < 2:
        raise InputError(f"A comparison needs at least 2 runs; got {len(run_ids)}.")
    views = [load_run(client, run_id, tracking_uri) for run_id in run_ids]
    drawn = comparison_figures(views)
    rows, answers = per_class_table(views)
    html = render_template(
        "compare.html",
        views=views,
        figures=drawn,
        metrics=metrics_table(views),
        per_class=rows,
        answers=answers,
        differences=config_differences(views),
        ui_command=tracking.ui_command(tracking_uri),
        generated=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    return Comparison(html, drawn)
