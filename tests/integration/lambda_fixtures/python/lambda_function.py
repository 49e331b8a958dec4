"""lambda_function.py - the Python handler quarry's Lambda tests deploy (zipped at run time).

One handler, many behaviours, chosen by the event's "op" so a test can provoke each case
AWS documents (result, raise, timeout, crash, out-of-memory, S3 access with the function's
own credentials). CODE_MARK is rewritten by tests that deploy a second revision, and
INVOKES counts invokes in this process: a fresh execution environment starts at 1.
"""

import json
import os
import sys
import time
import uuid

CODE_MARK = "v1"
INVOKES = 0

# What the handler reports of its environment (AWS sets these; see the reference, 3.1).
ENV_KEYS = ("AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION", "AWS_DEFAULT_REGION",
            "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "_HANDLER",
            "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_EXECUTION_ENV",
            "TZ", "LANG", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
            "GREETING", "QUARRY_TEST_MARK")


def _s3():
    import boto3  # the image's boto3, pointed at quarry by AWS_ENDPOINT_URL
    return boto3.client("s3")


def lambda_handler(event, context):
    global INVOKES
    INVOKES += 1
    op = event.get("op", "echo") if isinstance(event, dict) else "echo"
    print(f"handler op={op} mark={CODE_MARK} invoke={INVOKES}")
    sys.stdout.flush()

    if op == "echo":
        return {"event": event, "pid": os.getpid(), "count": INVOKES, "mark": CODE_MARK,
                "request_id": context.aws_request_id,
                "function_arn": context.invoked_function_arn,
                "function_version": context.function_version,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "remaining_ms": context.get_remaining_time_in_millis(),
                "has_session_token": bool(os.environ.get("AWS_SESSION_TOKEN")),
                "cwd": os.getcwd(),
                "env": {k: os.environ.get(k) for k in ENV_KEYS}}
    if op == "raise":
        raise ValueError(event.get("message", "boom"))
    if op == "sleep":
        time.sleep(float(event["seconds"]))
        return {"slept": event["seconds"], "pid": os.getpid()}
    if op == "exit":
        os._exit(int(event.get("status", 3)))
    if op == "oom":
        # bytes * n fills every page, so the memory is really used (calloc would not touch it)
        hog = b"x" * (int(event["mb"]) * 1024 * 1024)
        return {"allocated": len(hog)}
    if op == "copy":
        r = _s3().copy_object(Bucket=event["bucket"], Key=event["dst"],
                              CopySource={"Bucket": event["bucket"], "Key": event["src"]})
        return {"copied": event["dst"], "etag": r["CopyObjectResult"]["ETag"]}
    if op == "put":
        time.sleep(float(event.get("sleep_first", 0)))
        key = event["key"]
        if event.get("unique"):
            key = f"{key}{uuid.uuid4()}"
        _s3().put_object(Bucket=event["bucket"], Key=key,
                         Body=json.dumps({"request_id": context.aws_request_id}).encode())
        return {"put": key}
    if op == "print":
        for line in event["lines"]:
            print(line)
        return {"printed": len(event["lines"])}
    if op == "probe":
        # what the sandbox lets the function see and write
        def writable(d):
            path = os.path.join(d, f"probe-{uuid.uuid4()}")
            try:
                with open(path, "w") as f:
                    f.write("x")
            except OSError:
                return False
            os.unlink(path)
            return True
        return {"exists": {p: os.path.exists(p) for p in event.get("paths", [])},
                "tmp_writable": writable("/tmp"),
                "task_writable": writable(os.environ.get("LAMBDA_TASK_ROOT", "."))}
    if op == "big":
        return "x" * int(event["n"])
    raise RuntimeError(f"unknown op {op!r}")
