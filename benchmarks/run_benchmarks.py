"""Measure ludwig_track against bare Ludwig on this machine and write docs/benchmarks.md.

Every comparison runs the same config, data and seed in one invocation, one
command after the other, so the ratios compare like with like. Wall time and
peak memory come from GNU time (``/usr/bin/time -f``) around each command.

    python benchmarks/run_benchmarks.py --idx-dir /path/to/mnist_idx
    python benchmarks/run_benchmarks.py --skip-full --skip-hyperopt      # a quick run

The hyperopt comparison needs Ludwig's Ray executor, which Ludwig 0.17.10
only runs with ``ray[tune]``, ``hyperopt`` and ``dask[dataframe]`` installed.
Give it an environment that has them with ``--hyperopt-python``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
STARTUP = "Start-up costs"
OVERHEAD_SAMPLE = "Tracking overhead, embedded sample (5,000 + 1,000 images, 5 epochs)"
OVERHEAD_FULL = "Tracking overhead, full MNIST (60,000 + 10,000 images, 5 epochs)"
SWEEPS = "Sweep against Ludwig's hyperopt, embedded sample"
WINS = "Before and after"
SAMPLE = REPO / "experiments" / "mnist" / "data"
CONFIG = REPO / "experiments" / "mnist" / "config.yaml"
TIME = "/usr/bin/time"


@dataclass
class Measurement:
    label: str
    wall_seconds: float
    peak_mb: float
    accuracy: float | None = None
    notes: dict[str, object] = field(default_factory=dict)


def timed(label: str, command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[Measurement, str]:
    """Run ``command`` under GNU time; return its wall time, peak memory and stdout."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        full = [TIME, "-f", "%e %M", "-o", report.name, *command]
        print(f"[bench] {label}: {' '.join(command)}", file=sys.stderr, flush=True)
        completed = subprocess.run(full, capture_output=True, text=True, env=env, cwd=cwd)
        if completed.returncode != 0:
            raise RuntimeError(f"{label} failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
        wall, peak_kb = report.read().split()[-2:]
    return Measurement(label, float(wall), int(peak_kb) / 1024), completed.stdout


def ludwig_track_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "ludwig_track", *arguments]


def clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    env.update(extra)
    return env


def bare_dataset(csv_path: Path, zip_path: Path, folder: Path) -> Path:
    """Extract the images and write the CSV with absolute paths, as bare Ludwig needs them."""
    images = folder / "images"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(images)
    output = folder / "dataset_absolute.csv"
    with csv_path.open() as source, output.open("w", newline="") as target:
        reader = csv.DictReader(source)
        writer = csv.DictWriter(target, fieldnames=reader.fieldnames or [])
        writer.writeheader()
        for row in reader:
            row["image_path"] = str(images / row["image_path"])
            writer.writerow(row)
    return output


def measure_overhead(name: str, csv_path: Path, zip_path: Path, work: Path) -> list[Measurement]:
    """Bare `ludwig experiment` against `ludwig-track experiment` on one data set."""
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    # Bare Ludwig cannot read the zip, so its images are extracted before its clock starts.
    # ludwig-track extracts them, and removes them at the end, inside its measured time.
    unzip_started = time.monotonic()
    absolute = bare_dataset(csv_path, zip_path, work)
    unzip_seconds = time.monotonic() - unzip_started
    # Where the config leaves them unset, ludwig-track decodes the images once per run and evaluates
    # with the training batch size. The second bare run gets both settings, to show what tracking costs.
    same_settings = work / "config_same_settings.yaml"
    config = yaml.safe_load(CONFIG.read_text())
    for feature in config["input_features"]:
        feature.setdefault("preprocessing", {})["mode"] = "lazy_cached"
    config["trainer"]["eval_batch_size"] = config["trainer"]["batch_size"]
    same_settings.write_text(yaml.safe_dump(config, sort_keys=False))
    bare_runs = []
    for label, config_path, folder in (
        (f"bare ludwig experiment ({name})", CONFIG, "bare"),
        (f"bare ludwig experiment ({name}), config + the settings ludwig-track adds", same_settings, "bare_same_settings"),
    ):
        measurement, _ = timed(
            label,
            [str(Path(sys.executable).parent / "ludwig"), "experiment", "--config", str(config_path), "--dataset", str(absolute),
             "--output_directory", str(work / folder), "--random_seed", "42"],
            env=clean_env(),
        )  # fmt: skip
        statistics_files = sorted((work / folder).glob("*/test_statistics.json"))
        measurement.accuracy = json.loads(statistics_files[-1].read_text())["label"]["accuracy"] if statistics_files else None
        measurement.notes["uncounted_unzip_seconds"] = unzip_seconds
        bare_runs.append(measurement)
    bare, bare_same = bare_runs

    tracked, stdout = timed(
        f"ludwig-track experiment ({name})",
        ludwig_track_command("experiment", "--config", str(CONFIG), "--dataset", str(csv_path), "--raw-data", str(zip_path),
                             "--tracking-uri", f"sqlite:///{work / 'mlflow.db'}", "--output-dir", str(work / "tracked"), "--random-seed", "42"),
        env=clean_env(),
    )  # fmt: skip
    tracked.accuracy = _printed(stdout, "test.label.accuracy")
    tracked.notes["ratio"] = tracked.wall_seconds / bare.wall_seconds
    tracked.notes["ratio_to_same_settings"] = tracked.wall_seconds / bare_same.wall_seconds
    first = first_epoch_seconds(f"sqlite:///{work / 'mlflow.db'}")
    if first is not None:
        tracked.notes["seconds_to_first_epoch"] = first
    return [bare, bare_same, tracked]


def _printed(stdout: str, key: str) -> float | None:
    for line in stdout.splitlines():
        if line.startswith(f"{key}: "):
            return float(line.split(": ", 1)[1])
    return None


def measure_startup(full_csv: Path | None, full_zip: Path | None) -> list[Measurement]:
    """Time `ludwig-track --help` and preflight of the full MNIST input, good and bad."""
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run(ludwig_track_command("--help"), capture_output=True, check=True)
        runs.append(time.perf_counter() - started)
    results = [Measurement("ludwig-track --help (median of 5)", statistics.median(runs), 0)]
    if full_csv is None or full_zip is None:
        return results

    sys.path.insert(0, str(REPO))
    from ludwig_track import config as config_lib
    from ludwig_track import inputs
    from ludwig_track.errors import InputError

    config = config_lib.load_config(CONFIG)
    started = time.perf_counter()
    checked = inputs.preflight(config, CONFIG, full_csv, full_zip)
    results.append(Measurement(f"preflight, full MNIST ({len(checked.dataset)} images)", time.perf_counter() - started, 0))

    with tempfile.TemporaryDirectory() as folder:
        bad = Path(folder) / "bad_split.csv"
        bad.write_text(full_csv.read_text().replace(",2\n", ",holdout\n"))
        started = time.perf_counter()
        try:
            inputs.preflight(config, CONFIG, bad, full_zip)
        except InputError:
            pass
        results.append(Measurement("preflight rejects a bad split column, full MNIST", time.perf_counter() - started, 0))
    return results


def first_epoch_seconds(tracking_uri: str) -> float | None:
    """Seconds from the start of the newest run to its first logged epoch."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], order_by=["attributes.start_time DESC"], max_results=1
    )
    if not runs:
        return None
    history = client.get_metric_history(runs[0].info.run_id, "train_metrics.label.loss")
    first = min((point.timestamp for point in history if point.step == 1), default=None)
    return None if first is None else (first - runs[0].info.start_time) / 1000


BENCH_SPACE = {
    "parameters": {
        "epochs": {"paths": ["trainer.epochs"], "type": "int", "low": 2, "high": 8},
        "learning_rate": {"paths": ["trainer.learning_rate"], "type": "float", "low": 0.0001, "high": 0.01, "log": True},
    }
}


def with_validation_rows(csv_path: Path, folder: Path, fraction: float = 0.1) -> Path:
    """Write the CSV with every tenth training row moved to validation, so both tools tune on the same split."""
    output = folder / "dataset_with_validation.csv"
    with csv_path.open() as source, output.open("w", newline="") as target:
        reader = csv.DictReader(source)
        writer = csv.DictWriter(target, fieldnames=reader.fieldnames or [])
        writer.writeheader()
        for index, row in enumerate(reader):
            if row["split"] == "0" and index % round(1 / fraction) == 0:
                row["split"] = "1"
            writer.writerow(row)
    return output


def measure_sweeps(csv_path: Path, zip_path: Path, work: Path, trials: int, hyperopt_python: str | None) -> list[Measurement]:
    """`ludwig-track sweep` against `ludwig hyperopt` (Ray executor, Optuna search) on one space and budget."""
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    with_validation = with_validation_rows(csv_path, work)
    space = work / "space.yaml"
    space.write_text(yaml.safe_dump(BENCH_SPACE))
    uri = f"sqlite:///{work / 'mlflow.db'}"
    ours, stdout = timed(
        f"ludwig-track sweep, {trials} trials",
        ludwig_track_command("sweep", "--config", str(CONFIG), "--dataset", str(with_validation), "--raw-data", str(zip_path),
                             "--space", str(space), "--n-trials", str(trials), "--no-baseline", "--tracking-uri", uri,
                             "--output-dir", str(work / "sweep"), "--random-seed", "42"),
        env=clean_env(),
    )  # fmt: skip
    ours.accuracy = _printed(stdout, "best_value")
    ours.notes.update(_study_timing(work / "optuna.db"))
    ours.notes["seconds_per_trial"] = ours.wall_seconds / trials
    ours.notes["trials_per_hour"] = trials / ours.wall_seconds * 3600
    results = [ours]

    if hyperopt_python is None:
        return results
    absolute = bare_dataset(with_validation, zip_path, work)
    config = yaml.safe_load(CONFIG.read_text())
    config["hyperopt"] = {
        "goal": "maximize",
        "metric": "accuracy",
        "output_feature": "label",
        "split": "validation",
        "parameters": {
            "trainer.epochs": {"space": "randint", "lower": 2, "upper": 9},
            "trainer.learning_rate": {"space": "loguniform", "lower": 0.0001, "upper": 0.01},
        },
        "search_alg": {"type": "optuna", "seed": 42},
        "executor": {"type": "ray", "num_samples": trials, "cpu_resources_per_trial": os.cpu_count() or 1, "max_concurrent_trials": 1},
    }
    hyperopt_config = work / "hyperopt_config.yaml"
    hyperopt_config.write_text(yaml.safe_dump(config, sort_keys=False))
    theirs, _ = timed(
        f"ludwig hyperopt (Ray executor, Optuna search), {trials} trials",
        [hyperopt_python, "-m", "ludwig.cli", "hyperopt", "--config", str(hyperopt_config), "--dataset", str(absolute),
         "--output_directory", str(work / "hyperopt"), "--random_seed", "42"],
        env=clean_env(RAY_USAGE_STATS_ENABLED="0"),
    )  # fmt: skip
    found = sorted((work / "hyperopt").rglob("hyperopt_statistics.json"))
    if found:
        statistics_json = json.loads(found[-1].read_text())
        scores = [result["metric_score"] for result in statistics_json.get("hyperopt_results", [])]
        theirs.accuracy = max(scores) if scores else None
        theirs.notes["trials"] = len(scores)
    theirs.notes.update(_ray_timing(work / "hyperopt"))
    theirs.notes["seconds_per_trial"] = theirs.wall_seconds / trials
    theirs.notes["trials_per_hour"] = trials / theirs.wall_seconds * 3600
    ours.notes["trials_per_hour_ratio"] = ours.notes["trials_per_hour"] / theirs.notes["trials_per_hour"]  # type: ignore[operator]
    results.append(theirs)
    return results


def _ray_timing(folder: Path) -> dict[str, object]:
    """Return the seconds from the first trial's start to the end of the first best-scoring trial, read from Ray Tune's results.

    Like the Optuna figure, it leaves out start-up before the first trial. Ray
    stamps results in whole seconds.
    """
    trials = []
    for result_file in folder.rglob("result.json"):
        lines = [json.loads(line) for line in result_file.read_text().splitlines() if line.strip()]
        if lines:
            first, last = lines[0], lines[-1]
            trials.append((first["timestamp"] - first["time_total_s"], last["timestamp"], last.get("metric_score")))
    scored = [trial for trial in trials if trial[2] is not None]
    if not scored:
        return {}
    best = max(score for _, _, score in scored)
    reached = min(end for _, end, score in scored if score == best)
    return {"seconds_to_best": reached - min(start for start, _, _ in trials)}


def _study_timing(storage: Path) -> dict[str, object]:
    import optuna

    summaries = optuna.get_all_study_summaries(f"sqlite:///{storage}")
    study = optuna.load_study(study_name=summaries[0].study_name, storage=f"sqlite:///{storage}")
    finished = [trial for trial in study.trials if trial.datetime_complete is not None]
    start = min(trial.datetime_start for trial in finished)
    best = study.best_trial
    states = {state: sum(trial.state.name == state for trial in study.trials) for state in ("COMPLETE", "PRUNED", "FAIL")}
    return {"seconds_to_best": (best.datetime_complete - start).total_seconds(), "best_trial": best.number, **states}


def measure_wins(csv_path: Path, zip_path: Path, work: Path, trials: int) -> list[Measurement]:
    """Before and after of each optimisation, on the embedded sample."""
    import shutil

    results = []
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    with_validation = with_validation_rows(csv_path, work)
    space = work / "space.yaml"
    space.write_text(yaml.safe_dump({"parameters": {"dropout": BENCH_DROPOUT}}))
    for reuse in (False, True):
        code = (
            "import sys, ludwig_track; "
            "ludwig_track.run_sweep(*sys.argv[1:5], n_trials=int(sys.argv[5]), pruner='none', include_baseline=False, "
            f"reuse_preprocessing={reuse}, tracking_uri=sys.argv[6], storage=sys.argv[7], output_dir=sys.argv[8])"
        )
        measurement, _ = timed(
            f"sweep of {trials} trials, preprocessing {'reused' if reuse else 'repeated per trial'}",
            [sys.executable, "-c", code, str(CONFIG), str(with_validation), str(zip_path), str(space), str(trials),
             f"sqlite:///{work / f'reuse_{reuse}.db'}", f"sqlite:///{work / f'optuna_{reuse}.db'}", str(work / f"reuse_{reuse}")],
            env=clean_env(),
        )  # fmt: skip
        results.append(measurement)

    variants = (
        ("images decoded for every batch (preprocessing.mode lazy)", {"mode": "lazy"}, {}),
        ("batch_size auto (Ludwig's default)", {}, {"batch_size": "auto"}),
        ("eval_batch_size auto (Ludwig searches for one, as it does when the config leaves it unset)", {}, {"eval_batch_size": "auto"}),
        ("reference config", {}, {}),
    )
    for label, preprocessing, trainer in variants:
        config = yaml.safe_load(CONFIG.read_text())
        config["input_features"][0].setdefault("preprocessing", {}).update(preprocessing)
        config["trainer"].update(trainer)
        config_path = work / f"config_{len(results)}.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        measurement, stdout = timed(
            f"experiment on the sample, {label}",
            ludwig_track_command("experiment", "--config", str(config_path), "--dataset", str(csv_path), "--raw-data", str(zip_path),
                                 "--tracking-uri", f"sqlite:///{work / 'batch.db'}", "--output-dir", str(work / "batch"), "--no-model"),
            env=clean_env(),
        )  # fmt: skip
        measurement.accuracy = _printed(stdout, "test.label.accuracy")
        results.append(measurement)

    results.extend(_metric_logging(work))
    results.extend(_model_uploads(work, work.parent / "overhead_sample" / "tracked"))
    return results


def _model_uploads(work: Path, runs_dir: Path, epochs: int = 5) -> list[Measurement]:
    """Upload a trained model folder after every epoch (as Ludwig's MLflow callback does) against once."""
    from mlflow import MlflowClient

    model_dirs = sorted(runs_dir.glob("*/ludwig/*/model"))
    if not model_dirs:
        return []
    size_mb = sum(path.stat().st_size for path in model_dirs[0].rglob("*") if path.is_file()) / 1024**2
    client = MlflowClient(f"sqlite:///{work / 'uploads.db'}")
    experiment = client.create_experiment("uploads", artifact_location=(work / "upload_artifacts").as_uri())
    results = []
    for count, label in ((epochs, f"after each of {epochs} epochs"), (1, "once, after training")):
        run = client.create_run(experiment).info.run_id
        started = time.perf_counter()
        for epoch in range(count):
            client.log_artifacts(run, str(model_dirs[0]), f"model/epoch_{epoch}")
        results.append(Measurement(f"model upload ({size_mb:.1f} MB) {label}", time.perf_counter() - started, 0))
    return results


BENCH_DROPOUT = {"paths": ["input_features.image_path.encoder.fc_layers.0.dropout"], "type": "float", "low": 0.1, "high": 0.6}


def _metric_logging(work: Path) -> list[Measurement]:
    """One log_metric call per value (as Ludwig's MLflow callback does) against one log_batch per epoch."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(f"sqlite:///{work / 'metrics.db'}")
    experiment = client.create_experiment("metric-logging")
    epochs, keys = (
        15,
        [
            f"{split}_metrics.label.{name}"
            for split in ("train", "validation", "test")
            for name in ("loss", "accuracy", "hits_at_k", "roc_auc")
        ],
    )
    results = []
    run = client.create_run(experiment).info.run_id
    started = time.perf_counter()
    for epoch in range(epochs):
        for key in keys:
            client.log_metric(run, key, 0.5, step=epoch)
    results.append(Measurement(f"{epochs} epochs x {len(keys)} metrics, one log_metric call each", time.perf_counter() - started, 0))
    run = client.create_run(experiment).info.run_id
    started = time.perf_counter()
    for epoch in range(epochs):
        client.log_batch(run, metrics=[Metric(key, 0.5, int(time.time() * 1000), epoch) for key in keys])
    results.append(Measurement(f"{epochs} epochs x {len(keys)} metrics, one log_batch per epoch", time.perf_counter() - started, 0))
    return results


def _shell_word(argument: str) -> str:
    """Quote ``argument`` for a shell as a reader would type it. Placeholders in <> stay as they are."""
    if argument.startswith("<") or shlex.quote(argument) == argument:
        return argument
    return f'"{argument}"' if "'" in argument else shlex.quote(argument)


def render(sections: dict[str, list[Measurement]], command: str) -> str:
    import ludwig
    import mlflow
    import optuna
    import torch

    lines = [
        "# Benchmarks",
        "",
        f"Measured on {datetime.date.today().isoformat()} by `{command}`.",
        f"Machine: {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), no GPU; "
        f"Python {platform.python_version()}, Ludwig {ludwig.__version__}, MLflow {mlflow.__version__}, "
        f"Optuna {optuna.__version__}, torch {torch.__version__}.",
        "Wall time and peak resident memory come from GNU time around each command. The rows of a section ran in one invocation, "
        "one after the other; a section named by `--redo` was measured again, and the others kept from earlier invocations.",
        "",
    ]
    for title, measurements in sections.items():
        if not measurements:
            continue
        lines += [f"## {title}", "", "| what | wall (s) | peak memory (MB) | accuracy | notes |", "|---|---|---|---|---|"]
        for item in measurements:
            notes = ", ".join(f"{key} {value:.3g}" if isinstance(value, float) else f"{key} {value}" for key, value in item.notes.items())
            accuracy = f"{item.accuracy:.4f}" if item.accuracy is not None else ""
            peak = f"{item.peak_mb:.0f}" if item.peak_mb else ""
            lines.append(f"| {item.label} | {item.wall_seconds:.2f} | {peak} | {accuracy} | {notes} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idx-dir", type=Path, help="MNIST IDX files, to build the full 70,000-image set")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "ludwig_track_bench")
    parser.add_argument("--trials", type=int, default=6, help="trial budget of each sweep (default: %(default)s)")
    parser.add_argument("--hyperopt-python", help="Python of an environment with Ludwig, ray[tune], hyperopt and dask[dataframe]")
    parser.add_argument("--skip-full", action="store_true", help="skip the runs on the full 70,000-image set")
    parser.add_argument("--skip-hyperopt", action="store_true", help="skip the sweep comparison")
    parser.add_argument("--skip-wins", action="store_true", help="skip the before/after measurements")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument(
        "--redo", action="append", default=[], metavar="TITLE", help="measure this section again although --work-dir has its results"
    )
    args = parser.parse_args()

    work = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    full_csv = full_zip = None
    if not args.skip_full and args.idx_dir:
        full = work / "full_data"
        if not (full / "mnist_images.zip").exists():
            subprocess.run(ludwig_track_command("build-mnist", "--idx-dir", str(args.idx_dir), "--output-dir", str(full)), check=True)
        full_csv, full_zip = full / "mnist_dataset.csv", full / "mnist_images.zip"

    # Each finished section is saved at once, so a failure later on (or a re-run with
    # --redo for one section) keeps what was already measured.
    saved = work / "results.json"
    sections: dict[str, list[Measurement]] = {}
    if saved.exists():
        for title, items in json.loads(saved.read_text()).items():
            sections[title] = [Measurement(**item) for item in items]

    def measure(title: str, run: Callable[[], list[Measurement]]) -> None:
        if title in sections and title not in args.redo:
            print(f"[bench] keeping the saved results of '{title}'", file=sys.stderr)
            return
        try:
            sections[title] = run()
        except (RuntimeError, OSError, ValueError) as err:
            print(f"[bench] '{title}' failed: {err}", file=sys.stderr)
            return
        saved.write_text(json.dumps({key: [dataclasses.asdict(item) for item in items] for key, items in sections.items()}, indent=2))

    sample_csv, sample_zip = SAMPLE / "mnist_dataset.csv", SAMPLE / "mnist_images.zip"
    measure(STARTUP, lambda: measure_startup(full_csv, full_zip))
    measure(OVERHEAD_SAMPLE, lambda: measure_overhead("sample", sample_csv, sample_zip, work / "overhead_sample"))
    if full_csv is not None and full_zip is not None:
        measure(OVERHEAD_FULL, lambda: measure_overhead("full", full_csv, full_zip, work / "overhead_full"))
    if not args.skip_hyperopt:
        measure(SWEEPS, lambda: measure_sweeps(sample_csv, sample_zip, work / "sweeps", args.trials, args.hyperopt_python))
    if not args.skip_wins:
        measure(WINS, lambda: measure_wins(sample_csv, sample_zip, work / "wins", 3))

    # Local folders mean nothing to a reader on another machine, so the command shows a placeholder.
    displayed_arguments = [
        "<folder of the MNIST IDX files>" if previous == "--idx-dir" else argument
        for previous, argument in zip(["", *sys.argv[1:]], sys.argv[1:], strict=False)
    ]
    command_line = " ".join(_shell_word(argument) for argument in displayed_arguments)
    text = render(sections, "python benchmarks/run_benchmarks.py " + command_line)
    args.output.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
