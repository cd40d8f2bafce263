"""The per-run report and the comparison page, checked against independent computations."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from PIL import Image
from scipy.stats import entropy
from sklearn.metrics import f1_score

from ludwig_track import compare, report
from ludwig_track.cli import main
from ludwig_track.evaluation import evaluate_predictions

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def client(session_tracking_uri: str) -> MlflowClient:
    return MlflowClient(session_tracking_uri)


@pytest.fixture(scope="module")
def second_run(small_input, session_tracking_uri, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The same model trained for 3 epochs, to compare against the 2-epoch run."""
    import yaml

    from ludwig_track import run_experiment

    config = yaml.safe_load(small_input.config.read_text())
    config["trainer"]["epochs"] = 3
    return run_experiment(
        config,
        small_input.dataset,
        small_input.raw_data,
        config_tag="Stacked CNN 3 epochs",
        experiment_name="tests",
        tracking_uri=session_tracking_uri,
        output_dir=tmp_path_factory.mktemp("runs"),
        random_seed=7,
        log_model=False,
    )


def predictions_of(client: MlflowClient, run_id: str, folder: Path) -> pd.DataFrame:
    path = client.download_artifacts(run_id, "evaluation/predictions.csv", str(folder))
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_confusion_matrix_of_synthetic_predictions():
    frame = pd.DataFrame({"label": ["a", "a", "a", "b", "b", "c"], "label_predictions": ["a", "a", "b", "b", "b", "a"]})
    evaluation = evaluate_predictions(frame, "label", {"a": 10, "b": 5})
    assert evaluation.labels == ["a", "b", "c"]
    assert evaluation.matrix.tolist() == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    table = evaluation.per_class.set_index("label")
    assert table.loc["a", "precision"] == pytest.approx(2 / 3)
    assert table.loc["b", "specificity"] == pytest.approx(3 / 4)
    assert table.loc["c", "entropy"] == 0.0
    assert table.loc["a", "training_count"] == 10
    assert table.loc["c", "training_count"] == 0
    assert evaluation.accuracy == pytest.approx(4 / 6)


def test_labels_sorted_numerically():
    frame = pd.DataFrame({"label": ["10", "2", "1"], "label_predictions": ["10", "2", "1"]})
    assert evaluate_predictions(frame, "label").labels == ["1", "2", "10"]


@pytest.mark.slow
def test_run_carries_report_and_plots(trained_run, client):
    names = {artifact.path for artifact in client.list_artifacts(trained_run.run_id)}
    assert "report.html" in names
    plots = {artifact.path for artifact in client.list_artifacts(trained_run.run_id, "plots")}
    assert {
        "plots/confusion_matrix.png",
        "plots/confusion_matrix_normalized.png",
        "plots/entropy.png",
        "plots/loss_per_epoch.png",
        "plots/accuracy_per_epoch.png",
        "plots/hits_at_k_per_epoch.png",
        "plots/f1_vs_frequency.png",
    } == plots


@pytest.mark.slow
def test_report_numbers_match_predictions(trained_run, client, tmp_path):
    predictions = predictions_of(client, trained_run.run_id, tmp_path)
    view = report.load_run(client, trained_run.run_id, trained_run.tracking_uri)
    evaluation = view.evaluation
    assert evaluation is not None
    assert evaluation.matrix.sum() == len(predictions) == 100

    expected_f1 = f1_score(predictions["label"], predictions["label_predictions"], labels=evaluation.labels, average=None, zero_division=0)
    np.testing.assert_allclose(evaluation.per_class["f1"], expected_f1)
    for index, row in enumerate(evaluation.matrix):
        expected = entropy(row) if row.any() else 0.0
        assert evaluation.per_class["entropy"][index] == pytest.approx(expected)

    html = client.download_artifacts(trained_run.run_id, "report.html", str(tmp_path))
    text = Path(html).read_text()
    for value in evaluation.per_class["entropy"]:
        assert f"{value:.4f}" in text
    assert trained_run.run_id in text
    assert "Stacked CNN" in text
    assert "mlflow ui --backend-store-uri" in text
    assert "stacked_cnn" in text


@pytest.mark.slow
def test_report_rebuilt_without_local_folder(trained_run, client, tmp_path):
    shutil.rmtree(trained_run.output_dir)
    output = tmp_path / "rebuilt.html"
    assert main(["report", trained_run.run_id, "--tracking-uri", trained_run.tracking_uri, "-o", str(output)]) == 0
    assert output.read_text().count("data:image/png;base64,") == 7

    rebuilt = report.build_report(client, trained_run.run_id, trained_run.tracking_uri)
    for name, png in rebuilt.figures.items():
        logged = Path(client.download_artifacts(trained_run.run_id, f"plots/{name}", str(tmp_path)))
        np.testing.assert_array_equal(pixels(png), pixels(logged.read_bytes()), err_msg=name)


@pytest.mark.slow
def test_compare_two_runs(trained_run, second_run, client, tmp_path, capsys):
    output = tmp_path / "comparison.html"
    assert main(["compare", trained_run.run_id, second_run.run_id, "--tracking-uri", trained_run.tracking_uri, "-o", str(output)]) == 0
    text = output.read_text()
    assert "Correct predictions increased for" in text
    assert "Entropy fell for" in text
    assert "trainer.epochs" in text
    assert text.count("data:image/png;base64,") == 7


@pytest.mark.slow
def test_compare_selects_by_experiment_and_tag(trained_run, second_run, client):
    selected = compare.select_runs(client, "tests", ["Stacked CNN", "Stacked CNN 3 epochs"])
    assert selected == [trained_run.run_id, second_run.run_id]
    with pytest.raises(report.InputError, match="needs at least 2"):
        compare.select_runs(client, "tests", ["Stacked CNN"])


def test_report_of_unknown_run(session_tracking_uri, capsys):
    assert main(["report", "0123456789abcdef", "--tracking-uri", session_tracking_uri, "-o", "/dev/null"]) == 2
    assert "Run '0123456789abcdef' not found" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
def test_pages_render_in_chromium(trained_run, second_run, client, tmp_path):
    from playwright.sync_api import sync_playwright

    pages = [Path(client.download_artifacts(trained_run.run_id, "report.html", str(tmp_path)))]
    comparison = compare.compare_runs(client, [trained_run.run_id, second_run.run_id], trained_run.tracking_uri)
    pages.append(tmp_path / "comparison.html")
    pages[-1].write_text(comparison.html)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        try:
            for path in pages:
                page = browser.new_page()
                errors: list[str] = []
                page.on("console", lambda message, errors=errors: errors.append(message.text) if message.type == "error" else None)
                page.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
                requests: list[str] = []
                page.on("request", lambda request, requests=requests: requests.append(request.url))
                page.goto(path.as_uri(), wait_until="load")
                broken = page.evaluate("Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length")
                total = page.evaluate("document.images.length")
                assert total == 7, path.name
                assert broken == 0, path.name
                assert errors == [], path.name
                assert all(url.startswith(("file:", "data:")) for url in requests), requests
                page.close()
        finally:
            browser.close()
