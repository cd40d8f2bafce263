"""Ludwig callback that streams per-epoch metrics to MLflow.

Importing this module imports Ludwig (about 15 s), so only the training path does.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from ludwig.callbacks import Callback

from ludwig_track.experiment import EpochHook
from ludwig_track.interrupts import raise_if_stop_requested
from ludwig_track.tracking import MetricBuffer

logger = logging.getLogger(__name__)

SPLIT_PREFIXES = ("train_metrics", "validation_metrics", "test_metrics")


def latest_metrics(progress_tracker: Any) -> dict[str, float]:
    """Return the newest value of every split's metrics, keyed as Ludwig names them.

    The keys follow Ludwig's own ``<split>_metrics.<feature>.<metric>`` scheme,
    for example ``validation_metrics.label.accuracy``.
    """
    metrics: dict[str, float] = {}
    for prefix in SPLIT_PREFIXES:
        for feature, by_metric in getattr(progress_tracker, prefix).items():
            for metric, history in by_metric.items():
                if history:
                    value = float(history[-1][-1])
                    if math.isfinite(value):
                        metrics[f"{prefix}.{feature}.{metric}"] = value
    return metrics


class MlflowMetricsCallback(Callback):
    """Log each evaluation's metrics to one MLflow run with step = epoch.

    Unlike Ludwig's own MLflow callback, it never starts, resumes or uploads to a
    run of its own: the run is chosen by the caller and stays the caller's.
    """

    def __init__(self, buffer: MetricBuffer, epoch_hook: EpochHook | None = None, progress_metric: str | None = None) -> None:
        self._buffer = buffer
        self._epoch_hook = epoch_hook
        self._progress_metric = progress_metric
        self._stop = False
        self.epochs_logged = 0

    def on_eval_end(self, trainer: Any, progress_tracker: Any, save_path: str, **kwargs: Any) -> None:
        epoch = int(progress_tracker.epoch)
        metrics = latest_metrics(progress_tracker)
        metrics["learning_rate"] = float(progress_tracker.learning_rate)
        self._buffer.add(metrics, step=epoch)
        self._buffer.flush()
        self.epochs_logged = epoch
        total = getattr(trainer, "epochs", None)
        displayed = sorted(key for key in metrics if key.endswith((".accuracy", ".loss")) and ".combined." not in key)
        if self._progress_metric in metrics:
            displayed = [self._progress_metric] + [key for key in displayed if key != self._progress_metric]
        summary = ", ".join(f"{key} {metrics[key]:.4f}" for key in displayed)
        logger.info("Epoch %d/%s: %s", epoch, total if total is not None else "?", summary)

    def on_validation_end(self, trainer: Any, progress_tracker: Any, save_path: str, **kwargs: Any) -> None:
        # Ludwig calls should_early_stop after validation but before on_eval_end, so the
        # decision to stop this epoch has to be made here.
        if self._epoch_hook is not None and self._epoch_hook(int(progress_tracker.epoch), latest_metrics(progress_tracker)):
            self._stop = True

    def on_batch_end(self, trainer: Any, progress_tracker: Any, save_path: str, sync_step: bool = True, **kwargs: Any) -> None:
        # Ludwig 0.17 catches Ctrl-C during training and only shortens it, which would end
        # the run FINISHED; raising here ends it KILLED instead.
        if getattr(trainer, "received_sigint", False):
            raise KeyboardInterrupt("interrupted by Ctrl-C")
        raise_if_stop_requested()

    def on_trainer_train_teardown(self, trainer: Any, progress_tracker: Any, save_path: str, is_coordinator: bool, **kwargs: Any) -> None:
        # A Ctrl-C between batches (during evaluation, say) ends Ludwig's loop before the next
        # on_batch_end; training then looks finished unless the interrupt is raised here.
        if getattr(trainer, "received_sigint", False):
            raise KeyboardInterrupt("interrupted by Ctrl-C")

    def should_early_stop(self, trainer: Any, progress_tracker: Any, is_coordinator: bool, **kwargs: Any) -> bool:
        return self._stop
