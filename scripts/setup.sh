#!/usr/bin/env bash
# Sets up a fresh machine that reaches only the Python and Debian package
# registries: espeak-ng (the embedded corpus's speech synthesiser) and the
# package with its pinned torch/torchaudio 2.11 pair. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v espeak-ng >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq espeak-ng >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e ".[dev]"
