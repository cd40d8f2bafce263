"""Choices and defaults of a sweep, importable without Optuna so that the CLI's --help stays fast."""

DEFAULT_METRIC = "validation_metrics.label.accuracy"
DEFAULT_VALIDATION_FRACTION = 0.1
SAMPLER_NAMES = ("tpe", "random", "cmaes", "qmc", "gp")
PRUNER_NAMES = ("median", "hyperband", "successive_halving", "none")
