#!/usr/bin/env bash
# What a first deploy meets, checked without an AWS account: `sam validate --lint`, then
# `sam deploy --guided` answered as README "Deploying to AWS" says (Enter for each of the eleven
# settings, y for each of the eleven "…has no authentication" routes, Enter for the three
# config-file questions) must get through every prompt to its first AWS call, which fails here
# for want of credentials. Uses the deploy tools of infra/deploy-tools.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(bash infra/deploy-tools.sh)
export SAM_CLI_TELEMETRY=0
echo "== sam validate --lint"
"$venv/bin/sam" validate --lint --region us-east-1

echo "== sam deploy --guided, answered as the README says, up to its first AWS call"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp template.yaml samconfig.toml "$work/"
answers() {
  for _ in $(seq 11); do echo; done
  for _ in $(seq 11); do echo y; done
  for _ in $(seq 3); do echo; done
}
sam="$PWD/$venv/bin/sam"
transcript=$(cd "$work" && answers | env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
  AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent \
  timeout 120 "$sam" deploy --guided --region us-east-1 2>&1 || true)
no_auth=$(printf '%s' "$transcript" | grep -o 'has no authentication' | wc -l)
if [ "$no_auth" -ne 11 ] || ! printf '%s' "$transcript" | grep -q 'Looking for resources needed for deployment'; then
  printf '%s\n' "$transcript" | tr '\t' '\n' | tail -40
  echo "sam deploy --guided did not reach its first AWS call with the README's answers ($no_auth authentication prompts)" >&2
  exit 1
fi
echo "reached the first AWS call after $no_auth authentication prompts"
