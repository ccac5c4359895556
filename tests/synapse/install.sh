#!/usr/bin/env bash
# Install Synapse (the Matrix homeserver the Matrix tests run against) into its own virtualenv.
#
#   tests/synapse/install.sh            # into <repo>/.synapse-venv
#   DONORBOT_SYNAPSE_VENV=/opt/synapse tests/synapse/install.sh
#
# Idempotent: does nothing when Synapse is already importable there. PYTHON picks the
# interpreter (default python3, 3.10 or newer); SYNAPSE_VERSION pins a version.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${DONORBOT_SYNAPSE_VENV:-$repo/.synapse-venv}"
python="${PYTHON:-python3}"
spec="matrix-synapse${SYNAPSE_VERSION:+==$SYNAPSE_VERSION}"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import synapse.app.homeserver" 2>/dev/null; then
    version="$("$venv/bin/python" -c 'import synapse; print(synapse.__version__)')"
    echo "Synapse $version is already installed in $venv"
    exit 0
fi

echo "Installing $spec into $venv (this takes a few minutes)"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "$spec"
"$venv/bin/python" -c "import synapse.app.homeserver"
version="$("$venv/bin/python" -c 'import synapse; print(synapse.__version__)')"
echo "Synapse $version installed in $venv"
