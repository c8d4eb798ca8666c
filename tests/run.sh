#!/usr/bin/env bash
# The test command: installs what the tests need, then builds and runs every
# test twice, as CI does:
#   1. gcc, RelWithDebInfo                 -> build/
#   2. clang with ASan + UBSan, Debug      -> build-asan/
# Exits non-zero if any step fails; the last line is a one-line summary.
# Usage: bash tests/run.sh            (from any directory)
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
REPO=$(pwd)
JOBS=${JOBS:-2}
STARTED=$SECONDS
declare -a RESULTS=()
FAILED=0

banner() { printf '\n==== %s ====\n' "$*"; }

# step NAME CMD...: run one step, record its outcome.
step() {
    local name=$1 t0=$SECONDS rc
    shift
    banner "$name"
    "$@"
    rc=$?
    if [ $rc -eq 0 ]; then
        RESULTS+=("ok    $name ($((SECONDS - t0)) s)")
    else
        RESULTS+=("FAIL  $name (exit $rc, $((SECONDS - t0)) s)")
        FAILED=$((FAILED + 1))
    fi
    return $rc
}

summary() {
    banner "summary"
    printf '%s\n' "${RESULTS[@]}"
    if [ $FAILED -eq 0 ]; then
        echo "run.sh: all ${#RESULTS[@]} steps passed in $((SECONDS - STARTED)) s"
    else
        echo "run.sh: $FAILED of ${#RESULTS[@]} steps FAILED in $((SECONDS - STARTED)) s"
    fi
}

if ! step "install dependencies" bash "$REPO/tests/install-deps.sh"; then
    summary
    exit 1
fi

# gcc build
if step "configure (gcc)" cmake -S "$REPO" -B "$REPO/build" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
   step "build (gcc)" cmake --build "$REPO/build" -j"$JOBS"; then
    step "ctest (gcc)" bash -c "cd '$REPO/build' && ctest --output-on-failure -j$JOBS"
fi

# sanitizer build: the same tests, sluiced and the unit tests under ASan + UBSan
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
if step "configure (clang, ASan+UBSan)" cmake -S "$REPO" -B "$REPO/build-asan" \
        -DCMAKE_C_COMPILER=clang -DSLUICE_ASAN=ON -DSLUICE_UBSAN=ON \
        -DCMAKE_BUILD_TYPE=Debug &&
   step "build (clang, ASan+UBSan)" cmake --build "$REPO/build-asan" -j"$JOBS"; then
    step "ctest (clang, ASan+UBSan)" \
        bash -c "cd '$REPO/build-asan' && ctest --output-on-failure -j$JOBS"
fi

summary
[ $FAILED -eq 0 ]
