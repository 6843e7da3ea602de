#!/usr/bin/env bash
# One command to set up and run the whole test suite (what CI runs): installs the test extras into .venv,
# makes sure the local services the tests use are up, then runs ruff and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh test

# PostgreSQL on 127.0.0.1:5432 (trust auth, database "test") backs the PostgreSQL half of the suite.
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
fi

# The dashboard tests drive Debian's Chromium through Playwright (Playwright's own browser download is not
# reachable here), so install the package when it is missing.
if [ ! -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi

.venv/bin/ruff check src tests bench
# Two workers: half of the suite's time is spent waiting on servers, browsers and fsyncs, so two
# processes finish in ~60% of the time of one, even on two cores (11 min -> 7 min).
.venv/bin/python -m pytest -n "${SIGHTLOG_TEST_WORKERS:-2}" "$@"
