"""Matplotlib figures of the evaluation report, returned as PNG bytes.

Ludwig's own plotting helpers need its optional visualisation extra and the
training metadata on disk, so the report draws the same views with matplotlib
from what an MLflow run holds.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np

from ludwig_track.evaluation import ClassEvaluation

SPLIT_STYLES = {"train": "-", "validation": "--", "test": ":"}
Curve = Sequence[tuple[int, float]]


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(figure) -> bytes:  # type: ignore[no-untyped-def]
    plt = _pyplot()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def confusion_matrix(evaluation: ClassEvaluation, normalized: bool = False, title: str | None = None) -> bytes:
    """Draw the confusion matrix as a heat map with each cell's count (or row share) printed."""
    plt = _pyplot()
    values = evaluation.normalized_matrix if normalized else evaluation.matrix
    size = max(5.0, 0.55 * len(evaluation.labels) + 2)
    figure, axes = plt.subplots(figsize=(size, size * 0.85))
    image = axes.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalized else None)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    ticks = range(len(evaluation.labels))
    axes.set_xticks(ticks, evaluation.labels)
    axes.set_yticks(ticks, evaluation.labels)
    axes.set_xlabel("predicted label")
    axes.set_ylabel("true label")
    axes.set_title(title or ("Confusion matrix, each row normalised" if normalized else "Confusion matrix (counts)"))
    if len(evaluation.labels) <= 30:
        threshold = values.max() / 2 if values.size else 0
        for row in ticks:
            for column in ticks:
                value = values[row, column]
                text = f"{value:.2f}" if normalized else f"{int(value)}"
                axes.text(column, row, text, ha="center", va="center", fontsize=8, color="white" if value > threshold else "black")
    return _png(figure)


def entropy_ranking(evaluation: ClassEvaluation) -> bytes:
    """Draw each class's confusion-row entropy as bars, highest first, with the values printed."""
    plt = _pyplot()
    ranked = evaluation.per_class.sort_values("entropy", ascending=False)
    figure, axes = plt.subplots(figsize=(max(6.0, 0.6 * len(ranked) + 2), 4))
    bars = axes.bar(ranked["label"].astype(str), ranked["entropy"], color="tab:orange")
    axes.bar_label(bars, labels=[f"{value:.4f}" for value in ranked["entropy"]], fontsize=8, rotation=90 if len(ranked) > 12 else 0)
    axes.set_xlabel("class, ranked by entropy")
    axes.set_ylabel("entropy of the confusion-matrix row (nats)")
    axes.set_title("Classes ranked by the entropy of their confusion-matrix row")
    axes.margins(y=0.15)
    return _png(figure)


def learning_curves(curves: Mapping[str, Curve], metric: str) -> bytes:
    """Draw one metric per epoch, one line per split (``train``, ``validation``, ``test``)."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4))
    for split, points in curves.items():
        if points:
            steps, values = zip(*sorted(points), strict=True)
            axes.plot(steps, values, SPLIT_STYLES.get(split, "-"), marker="o", label=split)
    _label_epochs(axes, metric)
    axes.legend()
    return _png(figure)


def overlaid_learning_curves(curves: Mapping[str, Mapping[str, Curve]], metric: str) -> bytes:
    """Draw one metric per epoch for several runs: a colour per run, a line style per split."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 4.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    # Runs with one seed share their first epochs; wider lines for earlier runs keep every run visible there.
    widths = {index: 1.5 + 2.0 * (len(curves) - 1 - index) for index in range(len(curves))}
    for index, (run_label, by_split) in enumerate(curves.items()):
        for split, points in by_split.items():
            if points:
                steps, values = zip(*sorted(points), strict=True)
                axes.plot(
                    steps,
                    values,
                    SPLIT_STYLES.get(split, "-"),
                    color=colours[index % len(colours)],
                    linewidth=widths[index],
                    alpha=0.85,
                    label=f"{run_label} · {split}",
                )
    _label_epochs(axes, metric)
    axes.legend(fontsize=8)
    return _png(figure)


def _label_epochs(axes, metric: str) -> None:  # type: ignore[no-untyped-def]
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel(metric)
    axes.set_title(f"{metric} per epoch")
    axes.grid(alpha=0.3)


def f1_against_frequency(evaluation: ClassEvaluation) -> bytes:
    """Plot each class's F1 on the test split against its number of training examples."""
    plt = _pyplot()
    table = evaluation.per_class
    figure, axes = plt.subplots(figsize=(7, 4.5))
    axes.scatter(table["training_count"], table["f1"], color="tab:green")
    for _, row in table.iterrows():
        axes.annotate(str(row["label"]), (row["training_count"], row["f1"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    axes.set_xlabel("training examples of the class")
    axes.set_ylabel("F1 on the test split")
    axes.set_title("F1 against label frequency")
    axes.grid(alpha=0.3)
    return _png(figure)


def grouped_bars(labels: Sequence[str], series: Mapping[str, Sequence[float]], ylabel: str, title: str) -> bytes:
    """Draw one group of bars per label, one bar per run."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(max(7.0, 0.7 * len(labels) * max(1, len(series)) / 2 + 2), 4))
    width = 0.8 / max(1, len(series))
    positions = np.arange(len(labels))
    for index, (name, values) in enumerate(series.items()):
        axes.bar(positions + index * width - 0.4 + width / 2, values, width, label=name)
    axes.set_xticks(positions, labels)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3, axis="y")
    return _png(figure)
