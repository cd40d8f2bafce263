"""The command line: help, exit codes and the state left behind on bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from ludwig_track.cli import main
from ludwig_track.errors import InputError


def run_cli(*arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    return subprocess.run(
        [sys.executable, "-m", "ludwig_track", *arguments], capture_output=True, text=True, env=environment, cwd=cwd, timeout=300
    )


def test_help_does_not_import_ludwig():
    code = "import sys\nfrom ludwig_track.cli import build_parser\nbuild_parser().format_help()\nprint('ludwig' in sys.modules, 'mlflow' in sys.modules)"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "False False"


def test_help_lists_subcommands():
    completed = run_cli("--help")
    assert completed.returncode == 0
    assert "experiment" in completed.stdout
    assert "build-mnist" in completed.stdout


def test_bad_input_exits_2_without_run(small_input, tmp_path):
    config = yaml.safe_load(small_input.config.read_text())
    config["split"] = config.pop("preprocessing")["split"]
    bad_config = tmp_path / "config.yaml"
    bad_config.write_text(yaml.safe_dump(config))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    completed = run_cli(
        "experiment", "--config", str(bad_config), "--dataset", str(small_input.dataset), "--raw-data", str(small_input.raw_data),
        "--tracking-uri", uri, "--output-dir", str(tmp_path / "runs"),
        cwd=tmp_path,
    )  # fmt: skip
    assert completed.returncode == 2
    assert "top-level key 'split' is not read by Ludwig 0.17" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert completed.stdout == ""
    assert not (tmp_path / "runs").exists()
    if (tmp_path / "mlflow.db").exists():
        client = MlflowClient(uri)
        assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == []


def test_missing_files_listed_together(tmp_path, capsys):
    code = main(
        ["experiment", "--config", str(tmp_path / "c.yaml"), "--dataset", str(tmp_path / "d.csv"), "--raw-data", str(tmp_path / "z.zip")]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert "c.yaml: config file not found" in error


def test_build_mnist_from_idx(tmp_path, capsys):
    import gzip
    import struct

    import numpy as np

    idx = tmp_path / "idx"
    idx.mkdir()
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 40), ("t10k", 20)):
        images = rng.integers(0, 255, size=(count, 28, 28), dtype=np.uint8)
        labels = np.arange(count, dtype=np.uint8) % 10
        (idx / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(struct.pack(">IIII", 0x0803, count, 28, 28) + images.tobytes()))
        (idx / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(struct.pack(">II", 0x0801, count) + labels.tobytes()))
    assert (
        main(
            ["build-mnist", "--idx-dir", str(idx), "--output-dir", str(tmp_path / "out"), "--train-per-class", "3", "--test-per-class", "1"]
        )
        == 0
    )
    assert "rows: 30 training, 10 test" in capsys.readouterr().out
    lines = (tmp_path / "out" / "mnist_dataset.csv").read_text().splitlines()
    assert lines[0] == "image_path,label,split"
    assert len(lines) == 41
    assert lines[1].startswith("training/0/")


@pytest.mark.parametrize("value", ["42", "42.0"])
def test_seed_accepts_mlproject_floats(value, tmp_path, capsys):
    # The seed parses before any file is read, so a missing config still reports exit 2.
    code = main(["experiment", "--config", str(tmp_path / "c.yaml"), "--dataset", "d", "--raw-data", "z", "--random-seed", value])
    assert code == 2


def test_mnist_download_from_mirror(tmp_path):
    """The IDX files are fetched from a mirror when no local copy is given (served here on loopback)."""
    import functools
    import gzip
    import http.server
    import struct
    import threading

    import numpy as np

    from ludwig_track import mnist

    served = tmp_path / "served"
    served.mkdir()
    for prefix, count in (("train", 20), ("t10k", 10)):
        images = np.zeros((count, 28, 28), dtype=np.uint8)
        labels = np.arange(count, dtype=np.uint8) % 10
        (served / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(struct.pack(">IIII", 0x0803, count, 28, 28) + images.tobytes())
        )
        (served / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(struct.pack(">II", 0x0801, count) + labels.tobytes()))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        folder = mnist.download_idx(tmp_path / "idx", f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
    assert sorted(path.name for path in folder.iterdir()) == sorted(mnist.IDX_FILES.values())
    assert mnist.read_idx(folder / "train-images-idx3-ubyte.gz").shape == (20, 28, 28)


def test_idx_with_wrong_magic_rejected(tmp_path):
    import gzip

    from ludwig_track import mnist

    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x0d\x01" + b"\x00" * 8))
    with pytest.raises(InputError, match="not an IDX file of unsigned bytes"):
        mnist.read_idx(path)


def test_input_error_recorded_on_handed_over_run(small_input, tmp_path, monkeypatch, capsys):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    handed = client.create_run(client.create_experiment("handed_over")).info.run_id
    monkeypatch.setenv("MLFLOW_RUN_ID", handed)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    code = main(
        [
            "experiment",
            "--config",
            str(tmp_path / "absent.yaml"),
            "--dataset",
            str(small_input.dataset),
            "--raw-data",
            str(small_input.raw_data),
        ]
    )
    assert code == 2
    run = client.get_run(handed)
    assert "absent.yaml: config file not found" in run.data.tags["ludwig_track.error"]
    text = open(client.download_artifacts(handed, "error/input_errors.txt", str(tmp_path))).read()
    assert "config file not found" in text
