#!/usr/bin/env python3
"""test_lambda_runtimes.py - functions in every runtime quarry supports, through boto3.

- nodejs20.x ES module handler (index.mjs) importing @aws-sdk/client-s3 unbundled and
  putting an object to quarry's S3 with the function's credentials;
- nodejs20.x CommonJS handler (index.js) require()ing the SDK, plus a thrown error;
- provided.al2023 in C: lambda_fixtures/c/fixture.c compiled here with cc against
  runtimes/c/lambda_runtime.c (static, like runtimes/c/Makefile) and zipped as `bootstrap`,
  and the noop example built by runtimes/c/Makefile itself;
- provided.al2023 shell script: runtimes/shell/example-bootstrap.sh copied as `bootstrap`;
- AWS's own Node runtime interface client, aws-lambda-ric 3.3.0 from npm, unchanged,
  serving a handler against quarry's Runtime API (a provided.al2023 function whose
  bootstrap execs `node node_modules/aws-lambda-ric/bin/index.mjs index.handler`). The RIC
  comes from runtimes/node/ric-test/node_modules when built there, else `npm install` into
  a temp dir; the test fails if neither gives it (make test builds it).
Zips are built at run time; every function is deleted afterwards.
"""

import json
import os
import shutil
import subprocess
import tempfile
import uuid

from harness import check, eq, run, test
from quarry_server import REPO, QuarryServer, build_zip

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "lambda_fixtures")
ROLE = "arn:aws:iam::123456789012:role/lambda-ex"
BUCKET = "lt-rt-out"
RIC_VERSION = "3.3.0"

srv = None
lam = None
s3 = None
work = None


def setup():
    global srv, lam, s3, work
    srv = QuarryServer().start()
    lam = srv.lambda_client()
    s3 = srv.boto3_client()
    s3.create_bucket(Bucket=BUCKET)
    srv.lambda_role()  # the walkthrough's execution role, which functions act as
    work = tempfile.mkdtemp(prefix="quarry-lt-rt-")


def teardown():
    if srv is not None:
        srv.close()
    if work is not None:
        shutil.rmtree(work, ignore_errors=True)


def read(path):
    with open(path, "rb") as f:
        return f.read()


class Fn:
    """One function for the duration of a with-block."""

    def __init__(self, base, runtime, handler, zip_bytes, **kw):
        self.name = f"{base}-{uuid.uuid4().hex[:8]}"
        self.args = dict(FunctionName=self.name, Runtime=runtime, Role=ROLE, Handler=handler,
                         Code={"ZipFile": zip_bytes}, Timeout=kw.pop("Timeout", 20), **kw)

    def __enter__(self):
        lam.create_function(**self.args)
        lam.get_waiter("function_active_v2").wait(FunctionName=self.name,
                                                  WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        return self

    def __exit__(self, *exc):
        try:
            lam.delete_function(FunctionName=self.name)
        except Exception:
            pass
        return False

    def invoke(self, event, **kw):
        r = lam.invoke(FunctionName=self.name, Payload=json.dumps(event).encode(), **kw)
        body = r["Payload"].read()
        try:
            return r, json.loads(body)
        except ValueError:
            return r, body


def ok(r, p, what):
    check("FunctionError" not in r, f"{what}: function error {r.get('FunctionError')}: {p}")
    eq(r["StatusCode"], 200, f"{what} StatusCode")


# ---- Node ----

@test
def node_esm_uses_sdk_v3():
    z = build_zip({"index.mjs": read(os.path.join(FIX, "node_esm", "index.mjs"))})
    with Fn("esm", "nodejs20.x", "index.handler", z) as f:
        key = f"esm/{uuid.uuid4()}"
        r, p = f.invoke({"bucket": BUCKET, "key": key})
        ok(r, p, "esm")
        eq(p["type"], "esm", "handler ran")
        eq(p["requestId"], r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"], "context.awsRequestId")
        eq(p["functionName"], f.name, "context.functionName")
        eq(p["memory"], "128", "context.memoryLimitInMB")
        eq(p["execEnv"], "AWS_Lambda_nodejs20.x", "AWS_EXECUTION_ENV")
        eq(p["endpoint"], srv.plain_endpoint, "AWS_ENDPOINT_URL")
        got = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        eq(got["requestId"], p["requestId"], "object written by the function")
        check(got["node"].startswith("v"), f"node version {got['node']}")
        r, p2 = f.invoke({"bucket": BUCKET, "key": key + "-2"})
        eq(p2["count"], 2, "warm ESM instance reused")
        r, p3 = f.invoke({"fail": "esm-x"})
        eq(r.get("FunctionError"), "Unhandled", "ESM throw -> FunctionError")
        eq((p3.get("errorType"), p3.get("errorMessage")), ("Error", "esm failure: esm-x"), "ESM error body")
        check(isinstance(p3.get("trace"), list), f"Node error bodies carry `trace`: {p3}")


@test
def node_cjs_handler():
    z = build_zip({"index.js": read(os.path.join(FIX, "node_cjs", "index.js"))})
    s3.put_object(Bucket=BUCKET, Key="cjs/in.txt", Body=b"from-the-test")
    with Fn("cjs", "nodejs20.x", "index.handler", z) as f:
        r, p = f.invoke({"bucket": BUCKET, "key": "cjs/in.txt"})
        ok(r, p, "cjs")
        eq((p["type"], p["got"], p["functionName"], p["version"]), ("cjs", "from-the-test", f.name, "$LATEST"),
           "CommonJS handler result")
        check(0 < p["remaining"] <= 20000, f"getRemainingTimeInMillis {p['remaining']}")
        r, p = f.invoke({"fail": "cjs-x"})
        eq(r.get("FunctionError"), "Unhandled", "CJS throw -> FunctionError")
        eq((p.get("errorType"), p.get("errorMessage")), ("TypeError", "cjs failure: cjs-x"), "CJS error body")
    # handler module missing its export
    z = build_zip({"index.js": "exports.other = async () => 1;\n"})
    with Fn("cjsnohandler", "nodejs20.x", "index.handler", z) as f:
        r, p = f.invoke({})
        eq((r.get("FunctionError"), p.get("errorType")), ("Unhandled", "Runtime.HandlerNotFound"),
           f"missing Node handler: {p}")


# ---- provided.al2023 ----

def build_c_fixture():
    out = os.path.join(work, "c-fixture-bootstrap")
    cdir = os.path.join(REPO, "runtimes", "c")
    cmd = ["cc", "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-I", cdir, "-o", out,
           os.path.join(FIX, "c", "fixture.c"), os.path.join(cdir, "lambda_runtime.c"), "-static", "-s"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:  # no static libc: dynamic is fine on this machine
        cmd = cmd[:-2]
        p = subprocess.run(cmd, capture_output=True, text=True)
    check(p.returncode == 0, f"building the C fixture failed: {p.stderr}")
    return read(out)


@test
def c_provided_al2023():
    z = build_zip({"bootstrap": build_c_fixture()}, mode_of={"bootstrap": 0o755})
    with Fn("cfn", "provided.al2023", "unused.handler", z) as f:
        for i in range(3):
            r, p = f.invoke({"i": i, "pad": "z" * 1000})
            ok(r, p, f"C invoke {i}")
            eq(p["c"], True, "C handler ran")
            eq(p["request_id"], r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"], "request id")
            eq(p["function"], f.name, "AWS_LAMBDA_FUNCTION_NAME")
            eq(p["payload_len"], len(json.dumps({"i": i, "pad": "z" * 1000})), "payload length")
            eq(p["arn"], f"arn:aws:lambda:us-east-1:123456789012:function:{f.name}", "invoked ARN")
            eq(p["remaining_ok"], True, "deadline header")
        r, p = f.invoke({"fail": True})
        eq(r.get("FunctionError"), "Unhandled", "C error")
        eq((p.get("errorType"), p.get("errorMessage")), ("FixtureError", "asked to fail"), "C error body")
        r, p = f.invoke({}, LogType="Tail")
        import base64
        log = base64.b64decode(r["LogResult"]).decode()
        check("c fixture handled" in log and "REPORT RequestId" in log, f"C function log: {log!r}")


@test
def c_example_built_by_makefile():
    out = os.path.join(work, "cmake-out")
    p = subprocess.run(["make", "-s", "-C", os.path.join(REPO, "runtimes", "c"), f"OUT={out}", "all"],
                       capture_output=True, text=True)
    check(p.returncode == 0, f"make -C runtimes/c failed: {p.stderr[-800:]}")
    z = build_zip({"bootstrap": read(os.path.join(out, "echo", "bootstrap"))}, mode_of={"bootstrap": 0o755})
    with Fn("cecho", "provided.al2023", "x.y", z) as f:
        ev = {"hello": "world", "n": [1, 2, 3]}
        r, p = f.invoke(ev)
        ok(r, p, "echo example")
        eq(p, ev, "runtimes/c/examples/echo.c echoes the event")
    z = build_zip({"bootstrap": read(os.path.join(out, "noop", "bootstrap"))}, mode_of={"bootstrap": 0o755})
    with Fn("cnoop", "provided.al2", "x.y", z) as f:
        r, p = f.invoke({})
        ok(r, p, "noop example (provided.al2)")


@test
def pipelined_runtime():
    """A runtime that sends its result and the next GET /next in one segment gets the 202
    and then the next event, in order, on the same connection; quarry holds the 202
    until the event and sends both in one segment."""
    d = os.path.join(FIX, "pipeline")
    z = build_zip({"bootstrap": read(os.path.join(d, "bootstrap")),
                   "runtime.py": read(os.path.join(d, "runtime.py"))}, mode_of={"bootstrap": 0o755})
    with Fn("piped", "provided.al2023", "x.y", z) as f:
        for i in range(4):
            r, p = f.invoke({"i": i})
            ok(r, p, f"pipelined invoke {i}")
            eq(p["event"], {"i": i}, f"event {i}")
            eq(len(p["seen"]), i, f"results before invoke {i}")
            for st, body, next_status, together in p["seen"]:
                eq((st, json.loads(body), next_status), (202, {"status": "OK"}, 200),
                   f"pipelined result then event: {p['seen']}")
                eq(together, True, f"202 held for the event, one segment: {p['seen']}")


@test
def shell_bootstrap():
    src = read(os.path.join(REPO, "runtimes", "shell", "example-bootstrap.sh"))
    z = build_zip({"bootstrap": src}, mode_of={"bootstrap": 0o755})
    with Fn("sh", "provided.al2023", "function.handler", z) as f:
        r, p = f.invoke({"a": 1})
        ok(r, p, "shell bootstrap")
        eq(p, {"handler": "function.handler", "event": {"a": 1}}, "shell function result")
        r, p = f.invoke({"fail": "x"})
        eq(r.get("FunctionError"), "Unhandled", "shell function error")
        eq(p.get("errorType"), "ShellError", "shell errorType")
        check("asked to fail" in p.get("errorMessage", ""), f"shell errorMessage: {p}")


@test
def provided_without_bootstrap():
    z = build_zip({"README.txt": "no bootstrap here\n"})
    with Fn("noboot", "provided.al2023", "x.y", z) as f:
        r, p = f.invoke({})
        eq(r.get("FunctionError"), "Unhandled", f"missing bootstrap: {p}")
        eq(p.get("errorType"), "Runtime.InvalidEntrypoint", f"missing bootstrap errorType: {p}")


# ---- AWS's Node runtime interface client ----

def find_ric():
    """Directory of a built aws-lambda-ric, or (None, reason)."""
    cand = os.path.join(REPO, "runtimes", "node", "ric-test", "node_modules", "aws-lambda-ric")
    if os.path.exists(os.path.join(cand, "dist", "rapid-client.node")):
        return cand, None
    prefix = os.path.join(work, "ric-npm")
    os.makedirs(prefix, exist_ok=True)
    try:
        p = subprocess.run(["npm", "install", "--prefix", prefix, "--no-audit", "--no-fund",
                            f"aws-lambda-ric@{RIC_VERSION}"], capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"npm could not run: {e}"
    ric = os.path.join(prefix, "node_modules", "aws-lambda-ric")
    if p.returncode != 0 or not os.path.exists(os.path.join(ric, "dist", "rapid-client.node")):
        return None, f"npm install aws-lambda-ric@{RIC_VERSION} failed: {p.stderr[-500:]}"
    return ric, None


@test
def aws_lambda_ric_unchanged():
    ric, why = find_ric()
    check(ric is not None, f"aws-lambda-ric not available: {why}")
    pkg = json.loads(read(os.path.join(ric, "package.json")))
    eq(pkg["version"], RIC_VERSION, "aws-lambda-ric version")
    files = {"index.mjs": read(os.path.join(FIX, "node_ric", "index.mjs")),
             "bootstrap": read(os.path.join(FIX, "node_ric", "bootstrap")),
             "node_modules/aws-lambda-ric/package.json": read(os.path.join(ric, "package.json")),
             "node_modules/aws-lambda-ric/bin/index.mjs": read(os.path.join(ric, "bin", "index.mjs"))}
    for n in os.listdir(os.path.join(ric, "dist")):
        files[f"node_modules/aws-lambda-ric/dist/{n}"] = read(os.path.join(ric, "dist", n))
    modes = {"bootstrap": 0o755, "node_modules/aws-lambda-ric/dist/rapid-client.node": 0o755}
    z = build_zip(files, mode_of=modes)
    with Fn("ric", "provided.al2023", "index.handler", z) as f:
        for i in range(3):
            ev = {"ric-event": i}
            r, p = f.invoke(ev)
            ok(r, p, f"RIC invoke {i}")
            eq(p["ric"], True, "RIC handler ran")
            eq(p["event"], ev, "event through the RIC")
            eq(p["requestId"], r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"], "awsRequestId")
            eq(p["arn"], f"arn:aws:lambda:us-east-1:123456789012:function:{f.name}", "invokedFunctionArn")
            eq(p["functionName"], f.name, "functionName")
            check(0 < p["remaining"] <= 20000, f"getRemainingTimeInMillis {p['remaining']}")
        r, p = f.invoke({"fail": "ric-x"})
        eq(r.get("FunctionError"), "Unhandled", f"RIC error: {p}")
        eq((p.get("errorType"), p.get("errorMessage")), ("Error", "ric failure: ric-x"), "RIC error body")
        r, p = f.invoke({"after": "error"}, LogType="Tail")
        ok(r, p, "RIC invoke after an error")
        import base64
        log = base64.b64decode(r["LogResult"]).decode("utf-8", "replace")
        check(f"ric handler {p['requestId']}" in log, f"RIC console.log line not in the tail: {log!r}")
    # an init error reported by the RIC (/runtime/init/error): handler module missing
    z = build_zip({k: v for k, v in files.items() if k != "index.mjs"}, mode_of=modes)
    with Fn("ricinit", "provided.al2023", "index.handler", z) as f:
        r, p = f.invoke({})
        eq(r.get("FunctionError"), "Unhandled", f"RIC init error: {p}")
        check(str(p.get("errorType", "")).startswith("Runtime."), f"RIC init errorType: {p}")


if __name__ == "__main__":
    run(setup, teardown)
