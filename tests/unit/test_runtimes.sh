#!/bin/sh
# test_runtimes.sh - unit tests of quarry's Lambda runtimes (runtimes/): the Python
# bootstrap's pure pieces (image's python3), the Node bootstrap's (node --test), and the C
# library's HTTP/JSON pieces (cc). Usage: tests/unit/test_runtimes.sh [BUILD_DIR]
# Exits non-zero if any part fails. The runtimes' Runtime API loops are exercised through
# quarry's engine by the integration tests, not here.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(cd "$ROOT" && realpath -m "${1:-build}")/runtimes
PY=$(command -v python3)
rc=0
mkdir -p "$OUT"

echo "== python: runtimes/python/test_bootstrap.py"
"$PY" "$ROOT/runtimes/python/test_bootstrap.py" || rc=1

echo "== node: runtimes/node/test_bootstrap.mjs"
node --test "$ROOT/runtimes/node/test_bootstrap.mjs" > "$OUT/node.log" 2>&1 || { cat "$OUT/node.log"; rc=1; }
grep -E '^# (pass|fail)' "$OUT/node.log"

echo "== c: runtimes/c/tests/test_lambda_runtime.c"
make -s -C "$ROOT/runtimes/c" OUT="$OUT/c" test all || rc=1

[ $rc -eq 0 ] && echo "test_runtimes: OK" || echo "test_runtimes: FAILED"
exit $rc
