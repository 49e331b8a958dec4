#!/usr/bin/env python3
"""test_lambda_cli.py - the issue's walkthrough with the image's aws CLI v1, verbatim.

    zip f.zip lambda_function.py
    aws lambda create-function --function-name s3batchops-function --zip-file fileb://f.zip \
        --handler lambda_function.lambda_handler --runtime python3.11 \
        --role arn:aws:iam::123456789012:role/lambda-ex
    aws lambda invoke --function-name s3batchops-function --payload '{"k":1}' out.json

The CLI runs with AWS_ENDPOINT_URL set and a throwaway HOME (no config of the machine's
user leaks in); the zip is made by Info-ZIP's `zip`, as a user would. Then --log-type Tail,
--invocation-type Event, a function error (the CLI exits 0 and prints FunctionError),
get/list/delete.
"""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid

from harness import check, eq, run, test
from quarry_server import QuarryServer

HERE = os.path.dirname(os.path.abspath(__file__))
HANDLER_SRC = os.path.join(HERE, "lambda_fixtures", "python", "lambda_function.py")
ROLE = "arn:aws:iam::123456789012:role/lambda-ex"
FN = "s3batchops-function"
BUCKET = "lt-cli-out"

srv = None
work = None
env = None
s3 = None


def setup():
    global srv, work, env, s3
    srv = QuarryServer().start()
    work = tempfile.mkdtemp(prefix="quarry-lt-cli-")
    home = os.path.join(work, "home")
    os.mkdir(home)
    env = srv.client_env(home)
    s3 = srv.boto3_client()
    s3.create_bucket(Bucket=BUCKET)
    srv.lambda_role()  # the walkthrough's execution role, which functions act as


def teardown():
    if srv is not None:
        srv.close()
    if work is not None:
        shutil.rmtree(work, ignore_errors=True)


def aws(*args, ok=True, cwd=None):
    """Runs the CLI v1 (first `aws` on PATH); returns (rc, stdout, stderr)."""
    p = subprocess.run(["aws", *args], cwd=cwd or work, env=env, capture_output=True, text=True, timeout=120)
    if ok and p.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} exited {p.returncode}\n  stdout: {p.stdout[-800:]}\n"
                             f"  stderr: {p.stderr[-800:]}")
    return p.returncode, p.stdout, p.stderr


def make_zip(dirname):
    d = os.path.join(work, dirname)
    os.makedirs(d, exist_ok=True)
    shutil.copy(HANDLER_SRC, os.path.join(d, "lambda_function.py"))
    subprocess.run(["zip", "f.zip", "lambda_function.py"], cwd=d, check=True, capture_output=True)
    with open(os.path.join(d, "f.zip"), "rb") as f:
        return d, f.read()


@test
def walkthrough():
    d, zip_bytes = make_zip("walk")
    rc, out, _ = aws("lambda", "create-function", "--function-name", FN, "--zip-file", "fileb://f.zip",
                     "--handler", "lambda_function.lambda_handler", "--runtime", "python3.11",
                     "--role", ROLE, cwd=d)
    cfg = json.loads(out)
    eq(cfg["FunctionName"], FN, "FunctionName")
    eq(cfg["FunctionArn"], f"arn:aws:lambda:us-east-1:123456789012:function:{FN}", "FunctionArn")
    eq(cfg["CodeSha256"], base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode(), "CodeSha256")
    eq(cfg["CodeSize"], len(zip_bytes), "CodeSize")
    aws("lambda", "wait", "function-active-v2", "--function-name", FN)
    rc, out, _ = aws("lambda", "invoke", "--function-name", FN, "--payload", '{"k":1}', "out.json", cwd=d)
    eq(json.loads(out), {"StatusCode": 200, "ExecutedVersion": "$LATEST"}, "invoke output")
    with open(os.path.join(d, "out.json")) as f:
        result = json.load(f)
    eq(result["event"], {"k": 1}, "out.json event")
    eq(result["env"]["AWS_LAMBDA_FUNCTION_NAME"], FN, "out.json function name")
    eq(result["mark"], "v1", "out.json mark")


@test
def invoke_log_type_tail():
    rc, out, _ = aws("lambda", "invoke", "--function-name", FN, "--log-type", "Tail",
                     "--payload", json.dumps({"op": "print", "lines": ["cli-tail-line"]}), "tail.json")
    o = json.loads(out)
    eq(o["StatusCode"], 200, "StatusCode")
    log = base64.b64decode(o["LogResult"]).decode()
    for want in ("START RequestId: ", "END RequestId: ", "REPORT RequestId: ", "cli-tail-line"):
        check(want in log, f"{want!r} missing from LogResult {log!r}")
    with open(os.path.join(work, "tail.json")) as f:
        eq(json.load(f), {"printed": 1}, "tail.json")


@test
def invoke_event():
    key = f"cli-event/{uuid.uuid4()}"
    rc, out, _ = aws("lambda", "invoke", "--function-name", FN, "--invocation-type", "Event",
                     "--payload", json.dumps({"op": "put", "bucket": BUCKET, "key": key}), "event.json")
    eq(json.loads(out).get("StatusCode"), 202, "Event StatusCode")
    with open(os.path.join(work, "event.json"), "rb") as f:
        eq(f.read(), b"", "Event outfile")
    end = time.monotonic() + 30
    while True:
        listed = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=key).get("Contents", [])]
        if listed:
            break
        check(time.monotonic() < end, f"the Event invoke did not write s3://{BUCKET}/{key} within 30 s")
        time.sleep(0.2)
    s3.delete_object(Bucket=BUCKET, Key=key)
    # Event without a payload: Content-Length 0
    rc, out, _ = aws("lambda", "invoke", "--function-name", FN, "--invocation-type", "Event", "empty.json")
    eq(json.loads(out).get("StatusCode"), 202, "Event without payload")


@test
def invoke_function_error_exits_zero():
    rc, out, _ = aws("lambda", "invoke", "--function-name", FN, "--payload", '{"op":"raise","message":"cli-boom"}',
                     "err.json")
    eq(json.loads(out), {"StatusCode": 200, "FunctionError": "Unhandled", "ExecutedVersion": "$LATEST"},
       "invoke output on a function error")
    with open(os.path.join(work, "err.json")) as f:
        body = json.load(f)
    eq((body.get("errorType"), body.get("errorMessage")), ("ValueError", "cli-boom"), "error body")


@test
def get_list_update_delete():
    rc, out, _ = aws("lambda", "get-function", "--function-name", FN)
    eq(json.loads(out)["Configuration"]["State"], "Active", "get-function State")
    rc, out, _ = aws("lambda", "list-functions")
    check(FN in [f["FunctionName"] for f in json.loads(out)["Functions"]], "list-functions")
    rc, out, _ = aws("lambda", "update-function-configuration", "--function-name", FN,
                     "--environment", "Variables={GREETING=cli}", "--timeout", "9")
    eq(json.loads(out)["Timeout"], 9, "update-function-configuration")
    aws("lambda", "wait", "function-updated-v2", "--function-name", FN)
    rc, out, _ = aws("lambda", "invoke", "--function-name", FN, "--payload", "{}", "env.json")
    with open(os.path.join(work, "env.json")) as f:
        eq(json.load(f)["env"]["GREETING"], "cli", "Environment via CLI shorthand")
    rc, out, _ = aws("lambda", "publish-version", "--function-name", FN)
    eq(json.loads(out)["Version"], "1", "publish-version")
    rc, out, _ = aws("lambda", "create-alias", "--function-name", FN, "--name", "live", "--function-version", "1")
    eq(json.loads(out)["AliasArn"], f"arn:aws:lambda:us-east-1:123456789012:function:{FN}:live", "create-alias")
    rc, out, _ = aws("lambda", "invoke", "--function-name", FN, "--qualifier", "live", "--payload", "{}", "q.json")
    eq(json.loads(out)["ExecutedVersion"], "1", "invoke --qualifier live")
    rc, out, _ = aws("lambda", "put-function-concurrency", "--function-name", FN,
                     "--reserved-concurrent-executions", "3")
    eq(json.loads(out), {"ReservedConcurrentExecutions": 3}, "put-function-concurrency")
    rc, out, _ = aws("lambda", "get-function-concurrency", "--function-name", FN)
    eq(json.loads(out), {"ReservedConcurrentExecutions": 3}, "get-function-concurrency")
    aws("lambda", "delete-function", "--function-name", FN)
    rc, out, err = aws("lambda", "invoke", "--function-name", FN, "--payload", "{}", "gone.json", ok=False)
    check(rc != 0, "invoke of a deleted function succeeded")
    check("ResourceNotFoundException" in err, f"stderr: {err}")


@test
def create_errors():
    d, _ = make_zip("errs")
    rc, out, err = aws("lambda", "create-function", "--function-name", "cli-bad-runtime", "--zip-file",
                       "fileb://f.zip", "--handler", "lambda_function.lambda_handler", "--runtime", "python2.99",
                       "--role", ROLE, cwd=d, ok=False)
    check(rc != 0 and "InvalidParameterValueException" in err and "python2.99" in err,
          f"unknown runtime: rc={rc} stderr={err}")


if __name__ == "__main__":
    run(setup, teardown)
