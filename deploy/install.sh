#!/usr/bin/env bash
# Install the bot into a fresh virtual environment at PREFIX, reproducibly:
#   deploy/install.sh PREFIX [SOURCE]
# - PREFIX: the virtual environment to create (for example /opt/relatives-bot);
# - SOURCE: the source tree to build from (default: the repository this script is in).
# Dependencies come from requirements/runtime.txt with --require-hashes; the project is
# built as a wheel (setuptools from requirements/build.txt, also hash-checked) and
# installed NON-editable, so content/ and locales/ are read from the installed package
# (bot/_data) and the source tree may be deleted afterwards. Only the package registry
# is contacted. The container image (Dockerfile) runs exactly this script.
# Environment: PYTHON (default python3, must be 3.11 or newer).
set -euo pipefail

usage() { echo "usage: $0 PREFIX [SOURCE]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] && [ -n "$1" ] || usage

PREFIX=$1
SOURCE=${2:-$(cd "$(dirname "$0")/.." && pwd)}
PYTHON=${PYTHON:-python3}

for needed in pyproject.toml setup.py requirements/runtime.txt requirements/build.txt \
              bot content locales; do
  if [ ! -e "$SOURCE/$needed" ]; then
    echo "install.sh: $SOURCE is not the bot's source tree ($needed is missing)" >&2
    exit 1
  fi
done
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "install.sh: $PYTHON is missing or older than Python 3.11" >&2
  exit 1
fi
if [ -e "$PREFIX" ] && [ -n "$(ls -A "$PREFIX" 2>/dev/null)" ]; then
  echo "install.sh: $PREFIX exists and is not empty; install into a new directory" >&2
  exit 1
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PIP=(--quiet --disable-pip-version-check --no-input)

# 1. Build the wheel from a clean copy of what the package is made of (nothing else in
#    SOURCE, such as data/ or a .venv, can end up in it), with hash-checked setuptools.
mkdir "$WORK/src"
tar -C "$SOURCE" --exclude=__pycache__ --exclude='*.pyc' -cf - \
    pyproject.toml setup.py MANIFEST.in README.md LICENSE CHANGELOG.md bot content locales \
  | tar -C "$WORK/src" -xf -
"$PYTHON" -m venv "$WORK/build-env"
"$WORK/build-env/bin/python" -m pip install "${PIP[@]}" --require-hashes --no-deps \
    -r "$SOURCE/requirements/build.txt"
"$WORK/build-env/bin/python" -m pip wheel "${PIP[@]}" --no-build-isolation --no-deps \
    --wheel-dir "$WORK/wheel" "$WORK/src"

# 2. The runtime environment: the locked dependencies, then the wheel without dependencies.
"$PYTHON" -m venv "$PREFIX"
"$PREFIX/bin/python" -m pip install "${PIP[@]}" --require-hashes --no-deps \
    -r "$SOURCE/requirements/runtime.txt"
"$PREFIX/bin/python" -m pip install "${PIP[@]}" --no-deps --no-index "$WORK"/wheel/*.whl
# The venv module seeds setuptools, which nothing at run time needs and no lock pins.
"$PREFIX/bin/python" -m pip uninstall "${PIP[@]}" --yes setuptools
"$PREFIX/bin/python" -m pip check >/dev/null

echo "installed relatives-support-bot $("$PREFIX/bin/python" -m bot --version | awk '{print $NF}') into $PREFIX"
echo "run it with: $PREFIX/bin/python -m bot serve   (or $PREFIX/bin/relatives-bot serve)"
