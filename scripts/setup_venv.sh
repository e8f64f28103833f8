#!/usr/bin/env bash
# Creates .venv with Python 3.10 and installs the pinned set; a no-op when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
key=$(cat requirements.txt pyproject.toml scripts/setup_venv.sh | sha256sum | cut -c1-16)
stamp="$VENV/.keras-au-setup-$key"
if [ -f "$stamp" ] && "$VENV/bin/python" -c 'import keras_au' >/dev/null 2>&1; then
  echo "setup: .venv is up to date ($key)"
  exit 0
fi
py=$(bash scripts/find_python310.sh)
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
  echo "setup: creating $VENV with $py"
  rm -rf "$VENV"
  "$py" -m venv "$VENV"
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$VENV/bin/python" -m pip install -q --upgrade pip wheel 'setuptools<81'
echo "setup: installing the pinned set from requirements.txt (first time: several minutes)"
"$VENV/bin/python" -m pip install -q -r requirements.txt
"$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
# The package installs the keras_au library only; pipeline/ and serving/ run from this checkout, which the .pth
# puts on the venv's path (so `keras-au pipeline ...` works from any folder).
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
pwd > "$site/keras_au_checkout.pth"
rm -f "$VENV"/.keras-au-setup-*
touch "$stamp"
echo "setup: done ($key)"
