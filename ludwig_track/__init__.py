"""Experiment tracking for Ludwig image models: MLflow runs, reports and Optuna sweeps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ludwig_track.errors import InputError, LudwigTrackError

__version__ = "0.1.0"
__all__ = ["ExperimentResult", "InputError", "LudwigTrackError", "SweepResult", "run_experiment", "run_sweep", "__version__"]

if TYPE_CHECKING:
    from ludwig_track.experiment import ExperimentResult, run_experiment
    from ludwig_track.sweep import SweepResult, run_sweep


def __getattr__(name: str) -> Any:
    # Import the training path on first use, so that `import ludwig_track` stays instant.
    if name in ("ExperimentResult", "run_experiment"):
        from ludwig_track import experiment

        return getattr(experiment, name)
    if name in ("SweepResult", "run_sweep"):
        from ludwig_track import sweep

        return getattr(sweep, name)
    raise AttributeError(f"module 'ludwig_track' has no attribute {name!r}")
