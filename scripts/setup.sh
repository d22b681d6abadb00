#!/usr/bin/env bash
# Sets up a fresh machine that reaches only the Python and Debian package
# registries: espeak-ng (the embedded corpus's speech synthesiser), then a
# virtual environment `.venv/` with the package and every dependency at the
# versions locked in requirements/constraints.txt (torch 2.11.0 with its own
# torchaudio 2.11.0), and finally an import check of the whole stack.
# Safe to run again: it reuses `.venv/` unless KDSRL_FRESH_VENV=1.
#   KDSRL_VENV=DIR        the environment's folder (default: .venv)
#   KDSRL_FRESH_VENV=1    delete and re-create it (CI does)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${KDSRL_VENV:-.venv}"

if ! command -v espeak-ng >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq espeak-ng >/dev/null
fi

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
    if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))'; then
    echo "setup.sh: kdsrl needs Python 3.11 or newer; $PYTHON is $("$PYTHON" --version 2>&1)." >&2
    echo "          Install python3.11 (apt-get install python3.11 python3.11-venv) or set PYTHON=..." >&2
    exit 1
fi

if [ "${KDSRL_FRESH_VENV:-0}" = 1 ]; then rm -rf "$VENV"; fi
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV" || {
        echo "setup.sh: could not create the virtual environment $VENV;" \
            "on Debian: apt-get install python3-venv" >&2
        exit 1
    }
fi

"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    -c requirements/constraints.txt -e ".[dev]"
"$VENV/bin/python" scripts/check_install.py
