#!/usr/bin/env bash
# CI builds what is deployed: the six functions' release artifacts as `sam build` builds them
# (cargo-lambda, release profile, provided.al2023 `bootstrap`s; one run for all six, which shares
# the dependency build), then starts each under aws-local's Runtime API against moto and has it
# answer one invocation (lambda-smoke).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(bash infra/deploy-tools.sh)
echo "== cargo lambda build --release (the deployed artifacts)"
# The virtualenv first on PATH for this command only: moto, which lambda-smoke starts, lives in the
# system Python, not in the virtualenv.
PATH="$PWD/$venv/bin:$PATH" cargo lambda build --release \
  --bin webhook-intake --bin work-items --bin integrations --bin repositories --bin sync-worker --bin reconcile
echo "== each artifact answers one invocation"
cargo run --quiet -p bridge-tests --bin lambda-smoke -- target/lambda
