#!/usr/bin/env bash
# run-all.sh - runs quarry's tests and prints one total: `N passed, N failed`.
#
#   tests/run-all.sh [unit|integration|integration-tls|fuzz|all]      (default all)
#
# unit:        every cmocka binary $BUILD/tests/test_* (counts read from cmocka's summary)
# integration: every tests/integration/test_*.py and tests/durability/test_*.py (each a
#              separate program ending in `N passed, N failed`), and the JS SDK tests
#              under tests/integration/js with `node --test` (TAP `# pass` / `# fail`)
# integration-tls: the same integration programs again with QUARRY_TEST_TLS=1: every
#              server also serves HTTPS with one throwaway self-signed certificate and the
#              clients (boto3, the aws CLI, urllib, node) use it (quarry_server.py, server.mjs);
#              test_tls.py, which sets up TLS itself, runs in the plain pass only
# fuzz:        `make -C tests/fuzz run` when tests/fuzz/Makefile exists (one result)
# A program that crashes, times out or prints no summary counts as one failure; a test
# that could not run counts as skipped (cmocka's SKIPPED, the harness's `N skipped`, TAP's
# `# skipped`), never as passed.
# Exit status 1 if anything failed. BUILD (default build) names the build directory.
set -u

cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
export BUILD="${BUILD:-build}"
# Sanitizer builds (make test SANITIZE=1): stop at the first report, and leave out what
# h2o keeps until process exit (tests/lsan.supp). Harmless for plain builds.
# A small quarantine: the RSS bounds of the streaming tests hold under ASan too (its
# default keeps 256 MB of freed memory, e.g. 1 MiB body pieces, unreusable).
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:quarantine_size_mb=16}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0}"
MODE="${1:-all}"
PASSED=0
FAILED=0
SKIPPED=0
FAILED_NAMES=()
TMP=$(mktemp -d /tmp/quarry-runall.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

case "$MODE" in unit|integration|integration-tls|fuzz|all) ;; *)
    echo "usage: $0 [unit|integration|integration-tls|fuzz|all]" >&2; exit 2 ;;
esac

add() { # add NAME PASSED FAILED [SKIPPED]
    local s=${4:-0}
    PASSED=$((PASSED + $2)); FAILED=$((FAILED + $3)); SKIPPED=$((SKIPPED + s))
    if [ "$3" -gt 0 ]; then FAILED_NAMES+=("$1 ($3)"); fi
    printf '=== %s: %d passed, %d failed, %d skipped\n' "$1" "$2" "$3" "$s"
}

# run_logged NAME TIMEOUT CMD... -> output in $TMP/out, status in $RC
run_logged() {
    local name=$1 limit=$2; shift 2
    printf '\n=== %s\n' "$name"
    timeout --kill-after=10 "$limit" "$@" > >(tee "$TMP/out") 2>&1
    RC=$?
    wait # the tee
    if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then echo "(timed out after ${limit}s)"; fi
}

run_unit() {
    local found=0 bin p f
    for bin in "$BUILD"/tests/test_*; do
        [ -f "$bin" ] && [ -x "$bin" ] || continue
        found=1
        run_logged "unit $(basename "$bin")" 300 "$bin"
        # cmocka: "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s), listed below:"
        # (one pair per group; sum them)
        p=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test.*/\1/p' "$TMP/out" | awk '{s+=$1} END {print s+0}')
        f=$(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test.*/\1/p' "$TMP/out" | awk '{s+=$1} END {print s+0}')
        s=$(sed -n 's/^\[  SKIPPED \] \([0-9][0-9]*\) test.*/\1/p' "$TMP/out" | awk '{s+=$1} END {print s+0}')
        if [ "$RC" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi       # crash / abort / timeout
        if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then f=1; fi # no summary at all
        add "unit $(basename "$bin")" "$p" "$f" "$s"
    done
    if [ "$found" -eq 0 ]; then echo "(no unit test binaries in $BUILD/tests)"; fi
    # The runtimes' own tests (Python, Node, C bootstraps): one result, by exit status.
    run_logged "unit test_runtimes.sh" 600 bash tests/unit/test_runtimes.sh "$BUILD"
    if [ "$RC" -eq 0 ]; then add "unit test_runtimes.sh" 1 0; else add "unit test_runtimes.sh" 0 1; fi
}

# A harness program: its last `N passed, N failed` line is its result. LABEL (optional)
# goes in front of its name.
run_harness_file() {
    local file=$1 limit=$2 label=${3:-} line p f s
    case "$file" in
        *.py) run_logged "$label${file#tests/}" "$limit" python3 "$file" ;;
        *.sh) run_logged "$label${file#tests/}" "$limit" bash "$file" ;;
        *) return ;;
    esac
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$TMP/out" | tail -n 1)
    p=0; f=0; s=0
    if [ -n "$line" ]; then
        p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
        f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
        case "$line" in *skipped) s=$(echo "$line" | sed -E 's/.* ([0-9]+) skipped$/\1/') ;; esac
    fi
    if [ "$RC" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ -z "$line" ] && [ "$f" -eq 0 ]; then f=1; fi
    add "$label${file#tests/}" "$p" "$f" "$s"
}

run_js() {
    local label=${1:-} p f s
    if ! ls tests/integration/js/*.mjs >/dev/null 2>&1; then return; fi
    if [ ! -d tests/node_modules/@aws-sdk/client-s3 ]; then
        echo "tests/node_modules missing: run 'make test-deps' (npm ci in tests/)"
        add "${label}integration/js" 0 1
        return
    fi
    run_logged "${label}integration/js (node --test)" 600 \
        node --test --test-reporter=tap tests/integration/js/
    p=$(sed -n 's/^# pass \([0-9][0-9]*\)$/\1/p' "$TMP/out" | tail -n 1)
    f=$(sed -n 's/^# fail \([0-9][0-9]*\)$/\1/p' "$TMP/out" | tail -n 1)
    s=$(sed -n 's/^# skipped \([0-9][0-9]*\)$/\1/p' "$TMP/out" | tail -n 1)
    p=${p:-0}; f=${f:-0}; s=${s:-0}
    if [ "$RC" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    add "${label}integration/js" "$p" "$f" "$s"
}

run_integration() {
    local file
    for file in tests/integration/test_*.py tests/integration/test_*.sh tests/durability/test_*.py; do
        [ -f "$file" ] || continue
        run_harness_file "$file" 900
    done
    run_js
}

run_integration_tls() {
    local file d="$TMP/tls" pair
    mkdir -p "$d"
    # the certificate quarry_server.py would make, made once for every program of the pass
    if ! pair=$(python3 -c 'import sys; sys.path.insert(0, "tests/integration")
import quarry_server as q; print(*q.make_tls_cert(sys.argv[1]))' "$d"); then
        add "integration-tls (certificate)" 0 1
        return
    fi
    (
        export QUARRY_TEST_TLS=1 QUARRY_TEST_TLS_CERT=${pair% *} QUARRY_TEST_TLS_KEY=${pair#* }
        export AWS_CA_BUNDLE=$QUARRY_TEST_TLS_CERT SSL_CERT_FILE=$QUARRY_TEST_TLS_CERT CURL_CA_BUNDLE=$QUARRY_TEST_TLS_CERT
        export NODE_EXTRA_CA_CERTS=$QUARRY_TEST_TLS_CERT
        for file in tests/integration/test_*.py tests/integration/test_*.sh tests/durability/test_*.py; do
            [ -f "$file" ] || continue
            [ "$file" = tests/integration/test_tls.py ] && continue
            run_harness_file "$file" 900 "tls "
        done
        run_js "tls "
        # the subshell's counts go back through a file
        printf '%s %s %s\n' "$PASSED" "$FAILED" "$SKIPPED" > "$TMP/tls-counts"
        printf '%s\n' "${FAILED_NAMES[@]}" > "$TMP/tls-failed"
    )
    if [ ! -s "$TMP/tls-counts" ]; then add "integration-tls (pass died)" 0 1; return; fi
    read -r PASSED FAILED SKIPPED < "$TMP/tls-counts"
    while IFS= read -r line; do
        [ -n "$line" ] && FAILED_NAMES+=("$line")
    done < "$TMP/tls-failed"
}

run_fuzz() {
    if [ ! -f tests/fuzz/Makefile ]; then echo "(no tests/fuzz/Makefile, fuzzers skipped)"; return; fi
    run_logged "fuzz (make -C tests/fuzz run)" 600 make -C tests/fuzz run
    if [ "$RC" -eq 0 ]; then add fuzz 1 0; else add fuzz 0 1; fi
}

case "$MODE" in
    unit) run_unit ;;
    integration) run_integration ;;
    integration-tls) run_integration_tls ;;
    fuzz) run_fuzz ;;
    all) run_unit; run_integration; run_integration_tls; run_fuzz ;;
esac

echo
if [ "${#FAILED_NAMES[@]}" -gt 0 ]; then
    echo "failures in: ${FAILED_NAMES[*]}"
fi
echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" -eq 0 ]
