#!/usr/bin/env bash
# Create .venv (if missing) and install Sightlog into it, with the given extras (e.g. "test").
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python_bin="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python_bin" -c 'import sys; assert sys.version_info >= (3, 11), "Sightlog needs Python 3.11 or newer"'
  "$python_bin" -m venv .venv
fi
stamp=".venv/.installed-${extras:-base}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
  touch "$stamp"
fi
