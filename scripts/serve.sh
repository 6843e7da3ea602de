#!/usr/bin/env bash
# One command to run Sightlog: installs it into .venv on first use, then `sightlog serve "$@"`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/sightlog serve "$@"
