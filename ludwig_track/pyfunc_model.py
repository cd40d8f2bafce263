"""MLflow "model from code" that serves a trained Ludwig model.

MLflow copies this file into the logged model and runs it at load time, so
loading needs no unpickling of Python objects.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

LUDWIG_MODEL_ARTIFACT = "ludwig_model"


class LudwigImageClassifier(PythonModel):
    """Predict labels and class probabilities from a DataFrame of image paths."""

    def load_context(self, context: Any) -> None:
        import logging

        from ludwig.api import LudwigModel

        self._model = LudwigModel.load(context.artifacts[LUDWIG_MODEL_ARTIFACT], logging_level=logging.WARNING)
        _decode_per_batch(self._model.training_set_metadata)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        import warnings

        with warnings.catch_warnings():
            # Ludwig warns that the training split column is missing, which is expected when serving.
            warnings.simplefilter("ignore", UserWarning)
            predictions, _ = self._model.predict(model_input, skip_save_unprocessed_output=True, skip_save_predictions=True)
        # Ludwig adds one list-valued column of all probabilities; the per-class columns carry the same numbers.
        flat = [column for column in predictions.columns if not isinstance(predictions[column].iloc[0], (list, tuple))]
        predictions = predictions[flat].reset_index(drop=True)
        for column in predictions.columns:
            if column.endswith("_predictions"):
                predictions[column] = predictions[column].astype(str)
        return predictions


def _decode_per_batch(training_set_metadata: dict[str, Any]) -> None:
    """Switch image features trained with ``lazy_cached`` decoding back to per-batch decoding.

    Each request's images are read once, so a memmap of them only costs disk.
    Worse, Ludwig names that memmap by row count and image shape alone, so a
    request would get predictions for the images of an earlier one of the same size.
    """
    for metadata in training_set_metadata.values():
        if isinstance(metadata, dict) and metadata.get("mode") == "lazy_cached":
            metadata["mode"] = "lazy"
            if isinstance(metadata.get("preprocessing"), dict):
                metadata["preprocessing"]["mode"] = "lazy"


mlflow.models.set_model(LudwigImageClassifier())
