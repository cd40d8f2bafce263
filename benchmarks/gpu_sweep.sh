#!/usr/bin/env bash
# Run a short sweep on GPU 0 and on the CPU, on the embedded MNIST sample, and
# print each trial's duration side by side. Needs an environment where
# `python -m ludwig_track` works (scripts/setup.sh builds one) and a CUDA GPU.
#   benchmarks/gpu_sweep.sh [TRIALS] [OUTPUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-4}
out=${2:-$(mktemp -d)}
python=${PYTHON:-python}

"$python" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA GPU visible to torch")'
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true

for device in gpu cpu; do
  gpus=$([[ $device == gpu ]] && echo 0 || echo none)
  "$python" -m ludwig_track sweep \
    --config experiments/mnist/config.yaml \
    --dataset experiments/mnist/data/mnist_dataset.csv \
    --raw-data experiments/mnist/data/mnist_images.zip \
    --space experiments/mnist/sweep.yaml --n-trials "$trials" --pruner none \
    --gpus "$gpus" --study-name "gpu-check-$device" \
    --tracking-uri "sqlite:///$out/mlflow.db" --storage "sqlite:///$out/optuna.db" \
    --output-dir "$out/runs" --experiment-name gpu-check > "$out/$device.out" 2> "$out/$device.err"
done

"$python" - "$out" <<'PY'
import sys
import optuna

storage = f"sqlite:///{sys.argv[1]}/optuna.db"
print("| trial | epochs | GPU 0 (s) | CPU (s) | GPU val. accuracy | CPU val. accuracy |")
print("|---|---|---|---|---|---|")
gpu = optuna.load_study(study_name="gpu-check-gpu", storage=storage).trials
cpu = optuna.load_study(study_name="gpu-check-cpu", storage=storage).trials
for g, c in zip(gpu, cpu):
    seconds = lambda t: (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else float("nan")
    print(f"| {g.number} | {g.params.get('epochs')} | {seconds(g):.1f} | {seconds(c):.1f} | {g.value or float('nan'):.4f} | {c.value or float('nan'):.4f} |")
PY
