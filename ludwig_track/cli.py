"""The ``ludwig-track`` command line.

Each subcommand has an ``_add_<name>_arguments`` function that declares its
flags and a ``_run_<name>`` function that does the work. Heavy imports happen
inside the run functions, so ``--help`` and input errors come back at once.
Results go to stdout, logs to stderr. Exit status: 0 on success, 2 for
invalid input, 1 for any other failure, 130 on Ctrl-C and 143 on SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from ludwig_track import __version__
from ludwig_track.errors import InputError
from ludwig_track.interrupts import Terminated, install_sigterm_handler

logger = logging.getLogger("ludwig_track.cli")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


def _whole_number(text: str) -> int:
    # MLproject has no integer type, so `mlflow run` may hand over "42.0".
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(value)


def _add_tracking_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the current folder)",
    )
    parser.add_argument("--experiment-name", default="ludwig_track", help="MLflow experiment, created when missing (default: %(default)s)")


def _add_input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="Ludwig config (YAML)")
    parser.add_argument(
        "--dataset",
        required=True,
        type=Path,
        help="CSV with the columns image_path,label,split (split 0 = training, 1 = validation, 2 = test)",
    )
    parser.add_argument("--raw-data", required=True, type=Path, help="zip of the images that the CSV's image_path column names")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("ludwig_track_runs"),
        help="folder for Ludwig's output, one subfolder per run (default: %(default)s)",
    )
    parser.add_argument(
        "--random-seed", type=_whole_number, default=42, help="seed for shuffling and weight initialisation (default: %(default)s)"
    )
    parser.add_argument(
        "--max-zip-entries", type=int, default=1_000_000, help="reject zips with more entries than this (default: %(default)s)"
    )
    parser.add_argument(
        "--max-zip-gib", type=float, default=20.0, help="reject zips that expand to more GiB than this (default: %(default)s)"
    )


def _zip_limits(args: argparse.Namespace) -> object:
    from ludwig_track.inputs import ZipLimits

    return ZipLimits(max_entries=args.max_zip_entries, max_total_bytes=int(args.max_zip_gib * 1024**3))


def _add_experiment_arguments(parser: argparse.ArgumentParser) -> None:
    _add_input_arguments(parser)
    _add_tracking_arguments(parser)
    parser.add_argument(
        "--tag",
        "--config-tag",
        dest="tag",
        help="label of this configuration, e.g. 'Stacked CNN'; set as a run tag and used as the run name",
    )
    parser.add_argument("--run-name", help="MLflow run name (default: the tag, else the config file name)")
    parser.add_argument("--no-model", action="store_true", help="do not log the trained model to MLflow")


def _run_experiment(args: argparse.Namespace) -> int:
    from ludwig_track import experiment, inputs, tracking

    uri = tracking.resolve_tracking_uri(args.tracking_uri)
    logger.info("Tracking URI: %s (to browse: %s)", uri, tracking.ui_command(uri))
    prepared = experiment.prepare(args.config, args.dataset, args.raw_data, _zip_limits(args))  # type: ignore[arg-type]
    logger.info("Input checked: %s", ", ".join(f"{count} {name} rows" for name, count in prepared.checked.split_sizes.items()))
    with inputs.BackgroundExtraction(prepared.checked, args.output_dir) as extraction:
        logger.info("Loading Ludwig while the images are extracted")
        experiment.validate_with_ludwig(prepared, args.output_dir)
        runner = experiment.ExperimentRunner(
            prepared, uri, args.output_dir, args.random_seed, log_model=not args.no_model, extraction=extraction
        )
        result = runner.run(args.experiment_name, args.run_name or args.tag or args.config.stem, args.tag)

    print(f"run_id: {result.run_id}")
    print(f"experiment_id: {result.experiment_id}")
    for key, value in sorted(result.test_metrics.items()):
        print(f"{key}: {value:.4f}")
    print(f"model_uri: {result.model_uri}")
    print(f"tracking_uri: {result.tracking_uri}")
    print(f"mlflow_ui: {tracking.ui_command(result.tracking_uri)}")
    return EXIT_OK


def _gpu_list(text: str) -> list[int]:
    # MLproject parameters cannot be left out, so "none" stands for no GPU.
    if text.strip().lower() in ("", "none", "cpu"):
        return []
    try:
        gpus = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected GPU indexes such as 0,1; got {text!r}") from None
    if not gpus or any(gpu < 0 for gpu in gpus):
        raise argparse.ArgumentTypeError(f"expected GPU indexes such as 0,1; got {text!r}")
    return gpus


def _add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    from ludwig_track.sweep_options import DEFAULT_METRIC, DEFAULT_VALIDATION_FRACTION, PRUNER_NAMES, SAMPLER_NAMES

    _add_input_arguments(parser)
    _add_tracking_arguments(parser)
    parser.add_argument(
        "--space", required=True, type=Path, help="search space YAML: named parameters, each with config paths and a distribution"
    )
    parser.add_argument(
        "--n-trials",
        type=_whole_number,
        default=10,
        help="trials the study should have in total; a re-run adds only the missing ones (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout", type=float, default=0, help="stop starting new trials after this many seconds; 0 for no limit (default: %(default)s)"
    )
    parser.add_argument("--study-name", help="Optuna study name (default: <config file stem>-sweep)")
    parser.add_argument(
        "--storage", help="Optuna storage: a database URL, or journal:///path/file.log (default: optuna.db beside a SQLite MLflow store)"
    )
    parser.add_argument("--sampler", choices=SAMPLER_NAMES, default="tpe", help="Optuna sampler (default: %(default)s)")
    parser.add_argument(
        "--pruner", choices=PRUNER_NAMES, default="median", help="Optuna pruner; pruning steps are epochs (default: %(default)s)"
    )
    parser.add_argument("--metric", default=DEFAULT_METRIC, help="objective, as Ludwig names it (default: %(default)s)")
    parser.add_argument("--direction", choices=("maximize", "minimize"), help="default: minimize for losses and errors, else maximize")
    parser.add_argument(
        "--gpus", type=_gpu_list, default=[], help="comma-separated GPU indexes, one worker process each, or 'none' (default: none)"
    )
    parser.add_argument(
        "--workers", type=_whole_number, default=1, help="CPU worker processes when --gpus is not given (default: %(default)s)"
    )
    parser.add_argument(
        "--validation-fraction", type=float, default=DEFAULT_VALIDATION_FRACTION,
        help="share of training rows moved to a stratified validation split when the CSV has none (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--keep-models", action="store_true", help="log every completed trial's model, not only each new best")
    parser.add_argument("--no-baseline", action="store_true", help="do not start a new study with a trial of the config's own values")


def _run_sweep(args: argparse.Namespace) -> int:
    from ludwig_track import sweep, tracking

    uri = tracking.resolve_tracking_uri(args.tracking_uri)
    logger.info("Tracking URI: %s (to browse: %s)", uri, tracking.ui_command(uri))
    result = sweep.run_sweep(
        args.config, args.dataset, args.raw_data, args.space,
        n_trials=args.n_trials, timeout=args.timeout or None, study_name=args.study_name, storage=args.storage,
        sampler=args.sampler, pruner=args.pruner, metric=args.metric, direction=args.direction,
        gpus=args.gpus, workers=args.workers, experiment_name=args.experiment_name, tracking_uri=uri,
        output_dir=args.output_dir, random_seed=args.random_seed, validation_fraction=args.validation_fraction,
        keep_models=args.keep_models, include_baseline=not args.no_baseline, zip_limits=_zip_limits(args),  # type: ignore[arg-type]
    )  # fmt: skip
    print(f"parent_run_id: {result.parent_run_id}")
    print(f"study: {result.study.study_name} ({len(result.study.trials)} trials)")
    if result.best_value is not None:
        print(f"best_value: {result.best_value:.4f}")
        print(f"best_params: {result.best_params}")
        print(f"best_run_id: {result.best_run_id}")
    print(f"tracking_uri: {uri}")
    print(f"mlflow_ui: {tracking.ui_command(uri)}")
    return EXIT_OK


def _add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", help="id of a finished run logged by ludwig_track")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)")
    parser.add_argument("-o", "--output", type=Path, help="HTML file to write (default: report_<run id>.html)")
    parser.add_argument("--log", action="store_true", help="also log report.html and plots/ to the run, replacing what it has")


def _run_report(args: argparse.Namespace) -> int:
    from mlflow import MlflowClient

    from ludwig_track import report, tracking

    uri = tracking.resolve_tracking_uri(args.tracking_uri)
    client = MlflowClient(uri)
    built = report.build_report(client, args.run_id, uri)
    output = args.output or Path(f"report_{args.run_id}.html")
    output.write_text(built.html, encoding="utf-8")
    if args.log:
        report.log_report(client, args.run_id, built)
    print(f"report: {output.resolve()}")
    return EXIT_OK


def _add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="runs to compare; the first is the baseline of every delta")
    parser.add_argument("--experiment-name", help="compare the finished runs of this experiment instead, oldest first")
    parser.add_argument("--tag", action="append", dest="tags", help="with --experiment-name, only runs with this config tag (repeatable)")
    parser.add_argument(
        "--max-runs", type=int, default=10, help="with --experiment-name, compare at most this many runs (default: %(default)s)"
    )
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)")
    parser.add_argument("-o", "--output", type=Path, default=Path("comparison.html"), help="HTML file to write (default: %(default)s)")


def _run_compare(args: argparse.Namespace) -> int:
    from mlflow import MlflowClient

    from ludwig_track import compare, tracking

    if bool(args.run_ids) == bool(args.experiment_name):
        raise InputError("Name the runs to compare either as RUN_ID arguments or with --experiment-name, not both or neither.")
    uri = tracking.resolve_tracking_uri(args.tracking_uri)
    client = MlflowClient(uri)
    run_ids = args.run_ids or compare.select_runs(client, args.experiment_name, args.tags, args.max_runs)
    comparison = compare.compare_runs(client, run_ids, uri)
    args.output.write_text(comparison.html, encoding="utf-8")
    print(f"comparison: {args.output.resolve()}")
    print(f"runs: {' '.join(run_ids)}")
    return EXIT_OK


def _add_build_mnist_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--idx-dir", type=Path, help="folder with the four MNIST IDX .gz files (default: download them)")
    parser.add_argument("--output-dir", type=Path, required=True, help="folder that receives mnist_images.zip and mnist_dataset.csv")
    parser.add_argument("--train-per-class", type=int, help="training images drawn per digit (default: all 60,000)")
    parser.add_argument("--test-per-class", type=int, help="test images drawn per digit (default: all 10,000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the stratified draw (default: %(default)s)")


def _run_build_mnist(args: argparse.Namespace) -> int:
    from ludwig_track.mnist import build_dataset

    built = build_dataset(args.idx_dir, args.output_dir, args.train_per_class, args.test_per_class, args.seed)
    print(f"dataset: {built.csv_path}")
    print(f"raw_data: {built.zip_path}")
    print(f"rows: {built.n_train} training, {built.n_test} test")
    return EXIT_OK


Subcommand = tuple[str, str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
SUBCOMMANDS: list[Subcommand] = [
    ("experiment", "train and evaluate one Ludwig model, recorded in one MLflow run", _add_experiment_arguments, _run_experiment),
    ("sweep", "search a Ludwig config's hyperparameters with Optuna, one nested MLflow run per trial", _add_sweep_arguments, _run_sweep),
    ("report", "rebuild the HTML evaluation report of a run from MLflow", _add_report_arguments, _run_report),
    ("compare", "put several runs side by side in one HTML page", _add_compare_arguments, _run_compare),
    ("build-mnist", "write MNIST as an image zip and a dataset CSV", _add_build_mnist_arguments, _run_build_mnist),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ludwig-track", description="Track Ludwig image experiments in MLflow.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text, add_arguments, run in SUBCOMMANDS:
        subparser = subparsers.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        add_arguments(subparser)
        subparser.set_defaults(run=run)
    return parser


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.INFO
    if args.quiet:
        level = logging.WARNING
    elif args.verbose > 1:
        level = logging.DEBUG
    # A root handler on stderr, installed before Ludwig is imported, also makes the
    # logging.basicConfig(stream=sys.stdout) call in ludwig/__init__.py a no-op, so no log
    # line of Ludwig's lands on stdout among the results.
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    logging.getLogger("ludwig_track").setLevel(level)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_DropLudwigServingNoise())
    # bitsandbytes, imported by Ludwig, warns about GPU kernels it cannot fetch even on CPU-only runs.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    # MLflow's artifact progress bars would interleave with the epoch lines on stderr.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _record_on_handed_over_run(err: InputError, tracking_uri: str | None) -> None:
    """Tag the run that `mlflow run` started with the input error, so the MLflow UI shows why it failed."""
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if not run_id:
        return
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from ludwig_track import tracking

    try:
        client = MlflowClient(tracking.resolve_tracking_uri(tracking_uri))
        if client.get_run(run_id).info.status == "RUNNING":
            client.set_tag(run_id, tracking.TAG_PREFIX + "error", f"InputError: {err}"[:5000])
            client.log_text(run_id, str(err) + "\n", "error/input_errors.txt")
    except (MlflowException, OSError) as tracking_error:
        logger.warning("Could not record the input error on run %s: %s", run_id, tracking_error)


class _DropLudwigServingNoise(logging.Filter):
    """Drop two Ludwig 0.17 warnings that every run and prediction prints and that need no action."""

    NOISE = ("was not found in dataset", "in_memory = False is not supported")

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("ludwig.data") and any(text in record.getMessage() for text in self.NOISE))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args)
    previous_handler = install_sigterm_handler()
    try:
        return int(args.run(args))
    except InputError as err:
        if args.debug:
            traceback.print_exc()
        print(f"ludwig-track: error: {err}", file=sys.stderr)
        _record_on_handed_over_run(err, getattr(args, "tracking_uri", None))
        return EXIT_INPUT
    except Terminated:
        logger.error("Stopped by SIGTERM")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        logger.error("Interrupted")
        return EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 - the command line reports every failure as one message
        if args.debug:
            traceback.print_exc()
        print(f"ludwig-track: failed: {type(err).__name__}: {err}\n(run again with --debug for the traceback)", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        signal.signal(signal.SIGTERM, previous_handler)  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())
