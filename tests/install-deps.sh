#!/usr/bin/env bash
# Install everything sluice needs to build and test on Debian 12: compilers and
# libraries, the real AWS clients the integration tests drive (aws CLI and boto3
# from Debian, the AWS SDK for JavaScript v3 from npm) and redis-server.
#
# Idempotent: apt is skipped when every package is already installed, and npm
# only runs when tests/integration/js/node_modules is missing or older than the
# lock file. Runs as root, or through sudo otherwise.
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JS_DIR="$REPO_DIR/tests/integration/js"

say() { printf 'install-deps: %s\n' "$*"; }

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    SUDO=()
fi

# Debian packages: build tools and libraries, then the test clients.
PKGS=(
    build-essential cmake pkg-config clang libclang-rt-14-dev
    libevent-dev libhiredis-dev libmsgpack-dev librdkafka-dev libjansson-dev
    libyaml-dev libssl-dev libcmocka-dev uuid-dev
    awscli python3 python3-boto3 python3-yaml python3-cryptography curl redis-server
    ca-certificates
    g++ make autoconf automake libtool unzip libcurl4-openssl-dev python3-dev
)
# Node.js may come from elsewhere (nodesource ships npm inside its nodejs);
# only ask Debian for it when node or npm is missing.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
    command -v npm >/dev/null 2>&1 || PKGS+=(npm)
fi

missing=()
installed=" $(dpkg-query -W -f='${Package}:${db:Status-Status} ' "${PKGS[@]}" 2>/dev/null || true) "
for p in "${PKGS[@]}"; do
    case "$installed" in
        *" $p:installed "*) ;;
        *) missing+=("$p") ;;
    esac
done

if [ ${#missing[@]} -eq 0 ]; then
    say "all ${#PKGS[@]} Debian packages already installed; skipping apt"
else
    if [ "$(id -u)" -ne 0 ] && [ ${#SUDO[@]} -eq 0 ]; then
        say "missing packages (${missing[*]}) and neither root nor sudo" >&2
        exit 1
    fi
    say "apt-get update"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    say "apt-get install ${missing[*]}"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
fi

# The tests run Debian's python explicitly; make sure it has boto3.
if ! /usr/bin/python3 -c 'import boto3' 2>/dev/null; then
    say "/usr/bin/python3 cannot import boto3" >&2
    exit 1
fi

# AWS SDK for JavaScript v3, pinned in tests/integration/js/package.json.
if ! command -v npm >/dev/null 2>&1; then
    say "npm not found after install" >&2
    exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
    say "warning: node $(node --version 2>/dev/null) is older than the 20 that @aws-sdk/client-sqs wants" >&2
fi
# npm_install DIR: npm ci (or install) there unless node_modules is newer than
# package.json and the lock file.
npm_install() {
    local dir=$1 stamp="$1/node_modules/.sluice-installed"

    if [ -f "$stamp" ] && [ "$stamp" -nt "$dir/package.json" ] &&
       { [ ! -f "$dir/package-lock.json" ] || [ "$stamp" -nt "$dir/package-lock.json" ]; }; then
        say "npm packages in ${dir#"$REPO_DIR"/} already installed; skipping npm"
        return 0
    fi
    if [ -f "$dir/package-lock.json" ]; then
        say "npm ci in ${dir#"$REPO_DIR"/}"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error </dev/null)
    else
        say "npm install in ${dir#"$REPO_DIR"/}"
        (cd "$dir" && npm install --no-audit --no-fund --loglevel=error </dev/null)
    fi
    touch "$stamp"
}

# The AWS SDK for JavaScript v3 (SQS JSON protocol tests) and AWS's own Lambda
# runtime interface client, aws-lambda-ric, which the process-function tests run
# a Node.js handler with (it builds a native part, about 75 s the first time).
npm_install "$JS_DIR"
npm_install "$REPO_DIR/tests/integration/functions/node"

say "done"
