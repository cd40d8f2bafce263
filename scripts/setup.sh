#!/usr/bin/env bash
# Create .venv with Python 3.12 and install ludwig_track with its test tools.
# Safe to run again: it reinstalls only when pyproject.toml has changed.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3.12 \
      "$(command -v pyenv >/dev/null 2>&1 && pyenv root)"/versions/3.12.*/bin/python3.12 \
      "$HOME"/.pyenv/versions/3.12.*/bin/python3.12; do
    [[ -n "$candidate" ]] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
        "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

if [[ ! -x .venv/bin/python ]]; then
  python=$(find_python) || {
    echo "setup.sh: Python 3.12 not found. Install it (e.g. 'pyenv install 3.12') or set PYTHON=/path/to/python3.12." >&2
    exit 1
  }
  echo "setup.sh: creating .venv with $python" >&2
  "$python" -m venv .venv
fi

stamp=.venv/.ludwig_track-installed
if [[ ! -f "$stamp" || pyproject.toml -nt "$stamp" ]]; then
  echo "setup.sh: installing ludwig_track and its dependencies (several minutes on a first install)" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[test]'
  touch "$stamp"
fi
