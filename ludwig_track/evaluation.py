"""Per-class evaluation numbers computed from a predictions table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import entropy
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support


@dataclass(frozen=True)
class ClassEvaluation:
    """Confusion matrix and per-class statistics of one output feature on the test split."""

    labels: list[str]
    matrix: np.ndarray
    """Counts with rows = true labels and columns = predicted labels, in the order of ``labels``."""
    per_class: pd.DataFrame
    """One row per label: precision, recall, f1, specificity, support, entropy, correct, training_count."""
    accuracy: float

    @property
    def normalized_matrix(self) -> np.ndarray:
        totals = self.matrix.sum(axis=1, keepdims=True)
        return np.divide(self.matrix, totals, out=np.zeros(self.matrix.shape), where=totals > 0)


def sort_labels(labels: set[str]) -> list[str]:
    """Sort labels numerically when they are all integers, else alphabetically."""
    if all(label.lstrip("-").isdigit() for label in labels):
        return sorted(labels, key=int)
    return sorted(labels)


def row_entropy(row: np.ndarray) -> float:
    """Return the entropy (natural log) of a confusion-matrix row, 0 for an empty row.

    The same measure as Ludwig's confusion-matrix visualisation: 0 when every
    image of the class gets one prediction, higher the more they scatter.
    """
    return float(entropy(row)) if np.count_nonzero(row) else 0.0


def evaluate_predictions(predictions: pd.DataFrame, feature: str, training_counts: Mapping[str, int] | None = None) -> ClassEvaluation:
    """Compute the confusion matrix and per-class statistics from true and predicted labels.

    ``predictions`` contains the true label in column ``feature`` and the predicted
    one in ``<feature>_predictions``. ``training_counts`` gives each label's
    frequency in the training split, for the F1-against-frequency view.
    """
    truth = predictions[feature].astype(str)
    predicted = predictions[f"{feature}_predictions"].astype(str)
    labels = sort_labels(set(truth) | set(predicted))
    matrix = confusion_matrix(truth, predicted, labels=labels)
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=labels, zero_division=0)

    true_positive = np.diag(matrix)
    false_positive = matrix.sum(axis=0) - true_positive
    false_negative = matrix.sum(axis=1) - true_positive
    true_negative = matrix.sum() - true_positive - false_positive - false_negative
    negatives = true_negative + false_positive
    specificity = np.divide(true_negative, negatives, out=np.zeros(len(labels)), where=negatives > 0)

    counts = training_counts or {}
    per_class = pd.DataFrame(
        {
            "label": labels,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "specificity": specificity,
            "support": support,
            "correct": true_positive,
            "entropy": [row_entropy(row) for row in matrix],
            "training_count": [int(counts.get(label, 0)) for label in labels],
        }
    )
    accuracy = float(true_positive.sum() / matrix.sum()) if matrix.sum() else 0.0
    return ClassEvaluation(labels, matrix, per_class, accuracy)
