#!/usr/bin/env bash
# `make check-template` (part of `make test`): lint and validate template.yaml, offline.
# cfn-lint checks CloudFormation and SAM schemas and best practices; `sam validate` runs SAM's
# own translator; `sam validate --lint` runs cfn-lint as SAM CLI bundles it. None of them needs
# an AWS account: fake credentials and a region are enough, so this passes on a fresh machine
# with no network. Any warning fails the check (cfn-lint exits non-zero on warnings).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${VENV:-.venv}
for tool in cfn-lint sam; do
    if [ ! -x "$venv/bin/$tool" ]; then
        echo "check-template: $venv/bin/$tool is missing; run 'make install'" >&2
        exit 1
    fi
done

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN
# No usage telemetry. (SAM CLI's weekly "newer version?" look-up fails quietly when offline.)
export SAM_CLI_TELEMETRY=0

echo "check-template: cfn-lint"
"$venv/bin/cfn-lint" template.yaml
echo "check-template: sam validate"
"$venv/bin/sam" validate --template-file template.yaml
echo "check-template: sam validate --lint"
"$venv/bin/sam" validate --lint --template-file template.yaml
echo "check-template: ok"
