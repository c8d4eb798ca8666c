#!/usr/bin/env bash
# SQS through the AWS SDK for JavaScript v3 (JSON 1.0 protocol): starts sluiced,
# then runs js/test_sdk_v3.mjs with node's test runner.
# Usage: test_sdk_v3.sh BUILD_DIR [REPO_DIR]
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD_DIR=${1:?usage: test_sdk_v3.sh BUILD_DIR [REPO_DIR]}
. "$HERE/lib.sh"

if ! command -v node >/dev/null 2>&1; then
    echo "SKIP: node not installed; run tests/install-deps.sh"
    exit 77
fi
if [ ! -d "$HERE/js/node_modules/@aws-sdk/client-sqs" ]; then
    echo "SKIP: @aws-sdk/client-sqs not installed in tests/integration/js; run tests/install-deps.sh"
    exit 77
fi

start_broker "$BUILD_DIR" || exit 1
export SLUICE_ENDPOINT="$ENDPOINT"
cd "$HERE/js"
timeout 150 node --test-reporter=spec --test test_sdk_v3.mjs
