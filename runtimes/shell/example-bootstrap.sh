#!/bin/sh
# example-bootstrap.sh - a provided.al2023 function written as a shell script, speaking the
# Lambda Runtime API (2018-06-01) with curl. Ship it as `bootstrap` (mode 0755) at the root
# of the zip; Lambda (and quarry) run it with AWS_LAMBDA_RUNTIME_API=host:port and
# _HANDLER set. It has no handler file: the "function" is the `handle` shell function below,
# which reads the event on stdin and writes the result JSON to stdout.
#
# What it shows, as AWS's own custom-runtime tutorial does:
#   1. GET  /2018-06-01/runtime/invocation/next            long poll, no timeout;
#      the request id comes back in the Lambda-Runtime-Aws-Request-Id header
#   2. POST /2018-06-01/runtime/invocation/<id>/response   the result (expects 202)
#   3. POST /2018-06-01/runtime/invocation/<id>/error      {"errorMessage","errorType"}
# Each curl call opens a new connection (fine for a demo; see runtimes/c for one
# keep-alive connection). A non-2xx answer to a POST ends the script (curl -f + set -e), as
# AWS's clients exit then. Needs: sh, curl, mktemp.
set -eu

API="http://${AWS_LAMBDA_RUNTIME_API:?AWS_LAMBDA_RUNTIME_API is not set}/2018-06-01/runtime"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# The function: echoes the event inside {"handler":..,"event":..}; fails on {"fail":..}.
handle() {
    event=$(cat)
    case "$event" in
        *'"fail"'*) echo "asked to fail" >&2; return 1 ;;
    esac
    printf '{"handler":"%s","event":%s}' "${_HANDLER:-}" "$event"
}

while :; do
    # -D dumps the response headers; -sS quiet but show errors; no --max-time (long poll).
    curl -sS -D "$TMP/headers" -o "$TMP/event" "$API/invocation/next"
    # Header names are case-insensitive; strip the CR of the HTTP line ending.
    id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$TMP/headers" | tr -d '\r' | cut -d' ' -f2)
    trace=$(grep -i '^Lambda-Runtime-Trace-Id:' "$TMP/headers" | tr -d '\r' | cut -d' ' -f2- || true)
    if [ -n "$trace" ]; then export _X_AMZN_TRACE_ID="$trace"; else unset _X_AMZN_TRACE_ID || true; fi
    [ -n "$id" ] || { echo "bootstrap: /next gave no request id" >&2; exit 1; }

    echo "processing $id"   # stdout/stderr lines go to the function's log
    if handle < "$TMP/event" > "$TMP/result" 2> "$TMP/stderr"; then
        curl -sSf -o /dev/null -X POST -H 'Content-Type: application/json' \
            --data-binary "@$TMP/result" "$API/invocation/$id/response"
    else
        cat "$TMP/stderr" >&2
        # The message goes into JSON: keep it to one line without quotes or backslashes.
        msg=$(tr -d '"\\\r' < "$TMP/stderr" | tr '\n' ' ')
        curl -sSf -o /dev/null -X POST -H 'Content-Type: application/json' \
            -H 'Lambda-Runtime-Function-Error-Type: Unhandled' \
            --data-binary "{\"errorMessage\":\"${msg% }\",\"errorType\":\"ShellError\",\"stackTrace\":[]}" \
            "$API/invocation/$id/error"
    fi
done
