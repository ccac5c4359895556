#!/usr/bin/env bash
# Set up and run every check: a virtualenv in .venv with donorbot and its test tools,
# Synapse in .synapse-venv for the Matrix tests, then ruff, mypy and pytest.
# Extra arguments go to pytest (e.g. `bash tests/run.sh -k matrix`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
bash tests/synapse/install.sh
# systemd-analyze checks deploy/donorbot.service (tests/test_deploy.py).
if ! command -v systemd-analyze >/dev/null; then
    echo "Installing systemd-analyze (Debian's package systemd)"
    apt-get update -qq && apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi

lint=(bot tests)
[ -d bench ] && lint+=(bench)
echo "ruff check ${lint[*]}"
.venv/bin/ruff check "${lint[@]}"
.venv/bin/ruff format --check "${lint[@]}"
echo "mypy bot"
.venv/bin/mypy bot
echo "pytest"
.venv/bin/pytest -q "$@"
