#!/usr/bin/env bash
# The tools a deploy uses — aws-sam-cli and cargo-lambda (with its zig linker) — in a virtualenv
# of the repo's own (.venv-tools), installed from PyPI when missing. Prints the virtualenv's path.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-tools
if [ ! -x "$venv/bin/sam" ] || [ ! -x "$venv/bin/cargo-lambda" ]; then
  echo "== installing aws-sam-cli and cargo-lambda into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check aws-sam-cli cargo-lambda >&2
fi
echo "$venv"
