#!/usr/bin/env bash
# The project's one test command: installs what the tests need (moto, cfn-lint) when missing,
# then runs every check CI runs. Usage: bash infra/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Python tools: moto in server mode (real DynamoDB + Secrets Manager APIs on loopback; each test
# binary starts its own on a free port and stops it) and cfn-lint for template.yaml.
if ! python3 -c "import moto.server, flask, cfnlint" 2>/dev/null; then
  echo "== installing moto[server] and cfn-lint with pip"
  python3 -m pip install --quiet --disable-pip-version-check 'moto[server]>=5.1' 'cfn-lint>=1.20'
fi
cfn_lint() { python3 -c 'import sys; from cfnlint.runner import main; sys.exit(main())' "$@"; }

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== cfn-lint template.yaml"
cfn_lint template.yaml

# sam validate --lint and the guided deploy's prompts, answered as the README says (no AWS account).
bash infra/sam-check.sh

echo "== cargo build --workspace --bins (aws-local's tests run the function binaries)"
cargo build --workspace --bins

echo "== cargo test --workspace"
cargo test --workspace

echo "== the deployed artifacts (cargo lambda build --release) start and answer"
bash infra/lambda-check.sh
