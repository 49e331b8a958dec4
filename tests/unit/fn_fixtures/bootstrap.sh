#!/bin/sh
# bootstrap.sh - a custom runtime written in sh for test_fn: speaks the Lambda Runtime API
# with curl, one process per invocation step. The event selects what an invocation does:
#   sleep   sleeps 30 s (timeouts)          exit3  exits with status 3 (crashes)
#   big     answers 7,000,000 bytes (413)   fail   posts an error with a custom type
#   slow    answers after 1 s (concurrency) creds  answers the credentials it was given
#   probe   answers what it sees of the filesystem (sandbox)
#   else    answers {"pid":PID,"n":N,"event":EVENT}
# With _HANDLER=initfail it reports an init error and exits 1.
set -u
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
if [ "${_HANDLER:-}" = initfail ]; then
    echo "init failing on purpose"
    curl -sS -o /dev/null -H 'Lambda-Runtime-Function-Error-Type: Runtime.ImportModuleError' \
        --data-binary '{"errorMessage":"Unable to import module","errorType":"Runtime.ImportModuleError"}' \
        "$API/init/error"
    exit 1
fi
echo "init done"
n=0
while :; do
    curl -sS -D "$T/h" -o "$T/event" "$API/invocation/next" || exit 1
    id=$(tr -d '\r' < "$T/h" | sed -n 's/^[Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d: //p')
    n=$((n + 1))
    ev=$(cat "$T/event")
    echo "fn line $n $ev"
    case "$ev" in
    sleep) sleep 30 ;;
    exit3) exit 3 ;;
    big)
        head -c 7000000 /dev/zero | tr '\0' 'a' > "$T/out"
        curl -sS -o /dev/null --data-binary @"$T/out" "$API/invocation/$id/response"
        ;;
    fail)
        curl -sS -o /dev/null -H 'Lambda-Runtime-Function-Error-Type: Custom.Boom' \
            --data-binary '{"errorMessage":"boom","errorType":"Custom.Boom"}' \
            "$API/invocation/$id/error"
        ;;
    creds)
        printf '{"akid":"%s","token":"%s","secret":"%s","fn":"%s","mem":"%s","stream":"%s"}' \
            "${AWS_ACCESS_KEY_ID:-}" "${AWS_SESSION_TOKEN:-}" "${AWS_SECRET_ACCESS_KEY:-}" \
            "${AWS_LAMBDA_FUNCTION_NAME:-}" "${AWS_LAMBDA_FUNCTION_MEMORY_SIZE:-}" \
            "${AWS_LAMBDA_LOG_STREAM_NAME:-}" > "$T/out"
        curl -sS -o /dev/null --data-binary @"$T/out" "$API/invocation/$id/response"
        ;;
    probe)
        task=no; data=no
        [ -f /var/task/bootstrap.sh ] && task=yes
        [ -e "${PROBE_DATA:-/nonexistent}" ] && data=yes
        printf '{"task":"%s","data":"%s","cwd":"%s"}' "$task" "$data" "$(pwd)" > "$T/out"
        curl -sS -o /dev/null --data-binary @"$T/out" "$API/invocation/$id/response"
        ;;
    *)
        [ "$ev" = slow ] && sleep 1
        printf '{"pid":%s,"n":%s,"event":"%s"}' $$ "$n" "$ev" > "$T/out"
        curl -sS -o /dev/null --data-binary @"$T/out" "$API/invocation/$id/response"
        ;;
    esac
done
