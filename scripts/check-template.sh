#!/usr/bin/env bash
# Placeholder until template.yaml exists (issue 5).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f template.yaml ]; then echo "check-template: no template.yaml yet"; exit 0; fi
