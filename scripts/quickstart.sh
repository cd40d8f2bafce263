#!/usr/bin/env bash
# Set up, then run the main job on the embedded MNIST sample through `mlflow run`.
# Extra arguments go to `mlflow run`, e.g. -P config=experiments/mnist/config_15_epochs.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
export MLFLOW_EXPERIMENT_NAME="${MLFLOW_EXPERIMENT_NAME:-ludwig_track}"
export MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:-sqlite:///$PWD/mlflow.db}"
exec mlflow run . --env-manager local "$@"
