#!/usr/bin/env python3
"""test_lambda.py - the Lambda control API and Invoke through stock boto3 against a real quarry.

Functions are real: a Python 3.11 handler (lambda_fixtures/python/lambda_function.py,
zipped here at run time) runs in a child process started by quarry and reaches quarry's
S3 with unmodified boto3 code and the function's temporary credentials. Expected values
come from AWS's documented behaviour (reference/aws-lambda-iam.md, the botocore model):
CodeSha256 is computed here with hashlib, error types and statuses are AWS's.

One server for most tests; restart, crash and process-lifetime tests start their own.
Every test deletes the functions it created (even on failure); servers are closed by
their context managers / teardown.
"""

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import threading
import time
import uuid

from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

from harness import check, client_error, eq, expect_client_error, run, test
from quarry_server import (ACCOUNT, DIR_CFG, REGION, QuarryServer, build_zip, children_of,
                           processes_with)

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "lambda_fixtures")
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-ex"
RUNTIME = "python3.11"
HANDLER = "lambda_function.lambda_handler"
MiB = 1024 * 1024
SANDBOXED = shutil.which("bwrap") is not None  # quarry confines functions when bwrap exists
EVENT_DEADLINE_S = 30.0

srv = None
lam = None
s3 = None
BUCKET = "lt-fn-out"            # where functions write what the tests poll for
MARK = f"lt-{uuid.uuid4()}"     # in every function's Environment: finds their processes


def setup():
    global srv, lam, s3
    srv = QuarryServer().start()
    lam = srv.lambda_client()
    s3 = srv.boto3_client()
    s3.create_bucket(Bucket=BUCKET)
    srv.lambda_role()  # the walkthrough's execution role, which functions act as


def teardown():
    if srv is not None:
        srv.close()


# ---- helpers ----

def fixture(path):
    with open(os.path.join(FIXTURES, path), "rb") as f:
        return f.read()


def py_zip(mark="v1"):
    src = fixture("python/lambda_function.py").decode()
    check('CODE_MARK = "v1"' in src, "fixture lost its CODE_MARK line")
    return build_zip({"lambda_function.py": src.replace('CODE_MARK = "v1"', f'CODE_MARK = "{mark}"')})


def sha256_b64(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def status_of(resp):
    return resp["ResponseMetadata"]["HTTPStatusCode"]


def header(resp, name):
    return resp["ResponseMetadata"]["HTTPHeaders"].get(name.lower())


def uniq(base):
    return f"{base}-{uuid.uuid4().hex[:8]}"


class Functions:
    """Creates functions on one client and deletes them all on exit (even on failure)."""

    def __init__(self, client=None):
        self.client = client
        self.names = []

    def __enter__(self):
        if self.client is None:
            self.client = lam
        return self

    def __exit__(self, *exc):
        for n in self.names:
            try:
                self.client.delete_function(FunctionName=n)
            except Exception:
                pass
        return False

    def create(self, base, zip_bytes=None, env=None, wait=True, **kw):
        name = uniq(base)
        variables = {"QUARRY_TEST_MARK": MARK}
        variables.update(env or {})
        args = {"FunctionName": name, "Runtime": RUNTIME, "Role": ROLE, "Handler": HANDLER,
                "Code": {"ZipFile": zip_bytes if zip_bytes is not None else py_zip()},
                "Environment": {"Variables": variables}}
        args.update(kw)
        r = self.client.create_function(**args)
        self.names.append(name)
        if wait:
            wait_active(self.client, name)
        return name, r


def wait_active(client, name):
    client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})


def wait_updated(client, name):
    client.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})


def invoke(name, event=None, client=None, raw=None, **kw):
    """Invoke; returns (response, decoded JSON payload or None for an empty body)."""
    c = client or lam
    body = raw if raw is not None else json.dumps(event if event is not None else {}).encode()
    r = c.invoke(FunctionName=name, Payload=body, **kw)
    data = r["Payload"].read()
    return r, (json.loads(data) if data else None)


def poll_object(bucket, key, deadline_s=EVENT_DEADLINE_S, client=None):
    c = client or s3
    end = time.monotonic() + deadline_s
    while True:
        try:
            return c.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as e:
            if e.response["Error"]["Code"] not in ("NoSuchKey", "404"):
                raise
        if time.monotonic() > end:
            raise AssertionError(f"s3://{bucket}/{key} did not appear within {deadline_s}s")
        time.sleep(0.2)


def count_prefix(bucket, prefix, client=None):
    c = client or s3
    return sum(1 for _ in c.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def expect_function_error(r, payload, error_type=None):
    eq(status_of(r), 200, "function error status")
    eq(r.get("FunctionError"), "Unhandled", f"FunctionError (payload {payload!r})")
    check(isinstance(payload, dict), f"error payload not a JSON object: {payload!r}")
    check("errorMessage" in payload, f"no errorMessage in {payload!r}")
    if error_type is not None:
        eq(payload.get("errorType"), error_type, f"errorType (payload {payload!r})")


def wait_gone(pids_fn, deadline_s=5.0):
    end = time.monotonic() + deadline_s
    left = pids_fn()
    while left and time.monotonic() < end:
        time.sleep(0.1)
        left = pids_fn()
    return left


def describe_pids(pids):
    out = []
    for p in pids:
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")[:200]
            out.append(f"{p}: {cmd}")
        except OSError:
            out.append(f"{p}: (gone)")
    return "; ".join(out)


def kill_pids(pids):
    import signal
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


# ---- control API ----

@test
def create_get_list():
    zip_bytes = py_zip()
    with Functions() as fns:
        name, r = fns.create("basic", zip_bytes, wait=False)
        eq(status_of(r), 201, "CreateFunction status")
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        eq(r["FunctionName"], name, "FunctionName")
        eq(r["FunctionArn"], arn, "FunctionArn")
        eq(r["Runtime"], RUNTIME, "Runtime")
        eq(r["Role"], ROLE, "Role")
        eq(r["Handler"], HANDLER, "Handler")
        eq(r["CodeSha256"], sha256_b64(zip_bytes), "CodeSha256")
        eq(r["CodeSize"], len(zip_bytes), "CodeSize")
        eq(r["Version"], "$LATEST", "Version")
        eq(r["Timeout"], 3, "default Timeout")
        eq(r["MemorySize"], 128, "default MemorySize")
        eq(r.get("PackageType"), "Zip", "PackageType")
        eq(r.get("Architectures"), ["x86_64"], "Architectures")
        check(r.get("State") in ("Pending", "Active"), f"State after create: {r.get('State')}")
        check(r.get("RevisionId"), "no RevisionId")
        check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", r.get("LastModified", "")),
              f"LastModified format: {r.get('LastModified')!r}")
        eq(r["Environment"]["Variables"].get("QUARRY_TEST_MARK"), MARK, "Environment")
        wait_active(lam, name)

        c = lam.get_function_configuration(FunctionName=name)
        eq(c["State"], "Active", "State")
        eq(c.get("LastUpdateStatus"), "Successful", "LastUpdateStatus")
        eq(c["CodeSha256"], sha256_b64(zip_bytes), "config CodeSha256")
        eq(c["CodeSize"], len(zip_bytes), "config CodeSize")
        eq(c["FunctionArn"], arn, "config FunctionArn")
        eq(c["RevisionId"], r["RevisionId"], "RevisionId unchanged without updates")

        g = lam.get_function(FunctionName=name)
        eq(g["Configuration"]["FunctionName"], name, "GetFunction Configuration")
        eq(g["Configuration"]["CodeSha256"], sha256_b64(zip_bytes), "GetFunction CodeSha256")
        eq(g["Code"].get("RepositoryType"), "S3", "Code.RepositoryType")
        check(g["Code"].get("Location"), f"Code.Location missing: {g['Code']}")
        # the same function by ARN and by partial ARN
        eq(lam.get_function_configuration(FunctionName=arn)["FunctionName"], name, "by ARN")
        eq(lam.get_function_configuration(FunctionName=f"{ACCOUNT}:function:{name}")["FunctionName"],
           name, "by partial ARN")

        names = []
        for page in lam.get_paginator("list_functions").paginate():
            names += [f["FunctionName"] for f in page["Functions"]]
        check(name in names, f"{name} missing from ListFunctions {names}")
        listed = [f for page in lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 1})
                  for f in page["Functions"]]
        eq(sorted(f["FunctionName"] for f in listed), sorted(set(names)), "ListFunctions paged by 1")


@test
def control_errors():
    with Functions() as fns:
        code, st, resp = client_error(lam.create_function, FunctionName=uniq("badrt"), Runtime="python9.99",
                                      Role=ROLE, Handler=HANDLER, Code={"ZipFile": py_zip()})
        eq((code, st), ("InvalidParameterValueException", 400), "unknown runtime")
        check("python9.99" in resp["Error"].get("Message", ""),
              f"message does not name the runtime: {resp['Error']}")
        name, _ = fns.create("twice")
        code, st, resp = client_error(lam.create_function, FunctionName=name, Runtime=RUNTIME, Role=ROLE,
                                      Handler=HANDLER, Code={"ZipFile": py_zip()})
        eq((code, st), ("ResourceConflictException", 409), "create twice")
        expect_client_error("ResourceNotFoundException", 404, lam.invoke,
                            FunctionName=uniq("nope"), Payload=b"{}")
        expect_client_error("ResourceNotFoundException", 404, lam.get_function, FunctionName=uniq("nope"))
        expect_client_error("ResourceNotFoundException", 404, lam.get_function_configuration,
                            FunctionName=uniq("nope"))
        expect_client_error("ResourceNotFoundException", 404, lam.delete_function, FunctionName=uniq("nope"))
        # reserved environment variables are refused (AWS: InvalidParameterValueException)
        expect_client_error("InvalidParameterValueException", 400, lam.create_function,
                            FunctionName=uniq("reserved"), Runtime=RUNTIME, Role=ROLE, Handler=HANDLER,
                            Code={"ZipFile": py_zip()}, Environment={"Variables": {"AWS_REGION": "x"}})
        # a zip that is not a zip
        code, st, _ = client_error(lam.create_function, FunctionName=uniq("notzip"), Runtime=RUNTIME,
                                   Role=ROLE, Handler=HANDLER, Code={"ZipFile": b"this is not a zip file"})
        check((code, st) in (("InvalidParameterValueException", 400), ("InvalidZipFileException", 502)),
              f"non-zip code: {code}/{st}")


@test
def invoke_result_and_environment():
    with Functions() as fns:
        name, _ = fns.create("echo")
        event = {"op": "echo", "k": 1, "nested": {"list": [1, 2, 3]}, "text": "héllo"}
        r, p = invoke(name, event)
        eq(status_of(r), 200, "status")
        eq(r["StatusCode"], 200, "StatusCode")
        check("FunctionError" not in r, f"unexpected FunctionError {r.get('FunctionError')}: {p}")
        eq(r.get("ExecutedVersion"), "$LATEST", "ExecutedVersion")
        eq(p["event"], event, "event round trip")
        rid = header(r, "x-amzn-RequestId")
        eq(p["request_id"], rid, "context.aws_request_id = x-amzn-RequestId")
        eq(p["function_arn"], f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}", "invoked_function_arn")
        eq(p["function_version"], "$LATEST", "context.function_version")
        eq(p["memory_limit_in_mb"], "128", "context.memory_limit_in_mb")
        check(0 < p["remaining_ms"] <= 3000, f"remaining_ms {p['remaining_ms']}")
        env = p["env"]
        eq(env["AWS_LAMBDA_FUNCTION_NAME"], name, "AWS_LAMBDA_FUNCTION_NAME")
        eq(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST", "AWS_LAMBDA_FUNCTION_VERSION")
        eq(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "128", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        eq(env["AWS_REGION"], REGION, "AWS_REGION")
        eq(env["AWS_DEFAULT_REGION"], REGION, "AWS_DEFAULT_REGION")
        eq(env["_HANDLER"], HANDLER, "_HANDLER")
        eq(env["AWS_LAMBDA_LOG_GROUP_NAME"], f"/aws/lambda/{name}", "AWS_LAMBDA_LOG_GROUP_NAME")
        check(re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", env["AWS_LAMBDA_LOG_STREAM_NAME"] or ""),
              f"AWS_LAMBDA_LOG_STREAM_NAME {env['AWS_LAMBDA_LOG_STREAM_NAME']!r}")
        eq(env["AWS_EXECUTION_ENV"], "AWS_Lambda_python3.11", "AWS_EXECUTION_ENV")
        eq(env["TZ"], ":UTC", "TZ")
        check(env["LANG"], "LANG unset")
        eq(env["AWS_ENDPOINT_URL"], srv.plain_endpoint, "AWS_ENDPOINT_URL")
        check(re.fullmatch(r"127\.0\.0\.1:\d+", env["AWS_LAMBDA_RUNTIME_API"] or ""),
              f"AWS_LAMBDA_RUNTIME_API must be a bare host:port: {env['AWS_LAMBDA_RUNTIME_API']!r}")
        check(env["AWS_LAMBDA_RUNTIME_API"] != srv.host, "Runtime API shares the client port")
        eq(env["QUARRY_TEST_MARK"], MARK, "user Environment variable")
        # temporary credentials, never the root keys
        check(env["AWS_ACCESS_KEY_ID"] and env["AWS_ACCESS_KEY_ID"] != srv.access_key,
              f"function got the root access key {env['AWS_ACCESS_KEY_ID']!r}")
        check(env["AWS_SECRET_ACCESS_KEY"] and env["AWS_SECRET_ACCESS_KEY"] != srv.secret_key,
              "function got the root secret key")
        check(p["has_session_token"], "no AWS_SESSION_TOKEN")
        eq(env["LAMBDA_TASK_ROOT"], p["cwd"], "LAMBDA_TASK_ROOT is the working directory")
        if SANDBOXED:
            eq(env["LAMBDA_TASK_ROOT"], "/var/task", "LAMBDA_TASK_ROOT under bubblewrap")
        # warm reuse: the same process answers the next invoke
        r2, p2 = invoke(name, {"op": "echo"})
        eq(p2["pid"], p["pid"], "warm invoke ran in the same process")
        eq(p2["count"], 2, "module state kept between warm invokes")
        check(header(r2, "x-amzn-RequestId") != rid, "request ids differ between invokes")
        # a non-JSON-object payload is passed through verbatim
        r3, p3 = invoke(name, raw=b'"just a string"')
        eq(p3["event"], "just a string", "string event")


@test
def sandbox_view():
    if not SANDBOXED:
        print("  (bubblewrap not installed: sandbox checks skipped)")
        return
    with Functions() as fns:
        name, _ = fns.create("probe")
        r, p = invoke(name, {"op": "probe", "paths": [srv.data, srv.root, "/var/task/lambda_function.py"]})
        check("FunctionError" not in r, f"probe failed: {p}")
        eq(p["exists"][srv.data], False, "function sees quarry's data dir")
        eq(p["exists"][srv.root], False, "function sees the server's scratch dir")
        eq(p["exists"]["/var/task/lambda_function.py"], True, "code at /var/task")
        eq(p["task_writable"], False, "/var/task is writable")
        eq(p["tmp_writable"], True, "/tmp not writable")


@test
def handler_uses_s3_on_both_bucket_types():
    gp = uniq("lt-copy")
    d = f"{uniq('ltcp')}--use1-az4--x-s3"
    s3.create_bucket(Bucket=gp)
    s3.create_bucket(Bucket=d, CreateBucketConfiguration=DIR_CFG)
    try:
        with Functions() as fns:
            name, _ = fns.create("copier", Timeout=30)
            for b in (gp, d):
                data = os.urandom(2048) + b.encode()
                s3.put_object(Bucket=b, Key="src.bin", Body=data)
                r, p = invoke(name, {"op": "copy", "bucket": b, "src": "src.bin", "dst": "copied/dst.bin"})
                check("FunctionError" not in r, f"copy in {b} failed inside the function: {p}")
                eq(p["copied"], "copied/dst.bin", f"{b} handler result")
                got = s3.get_object(Bucket=b, Key="copied/dst.bin")["Body"].read()
                eq(hashlib.sha256(got).hexdigest(), hashlib.sha256(data).hexdigest(), f"{b} copied bytes")
    finally:
        for b in (gp, d):
            try:
                for o in s3.list_objects_v2(Bucket=b).get("Contents", []):
                    s3.delete_object(Bucket=b, Key=o["Key"])
                s3.delete_bucket(Bucket=b)
            except Exception:
                pass


@test
def update_code_and_configuration():
    with Functions() as fns:
        v1 = py_zip("v1")
        name, created = fns.create("upd", v1)
        _, p1 = invoke(name, {"op": "echo"})
        _, p1b = invoke(name, {"op": "echo"})
        eq((p1["mark"], p1["count"]), ("v1", 1), "first revision, first invoke")
        eq((p1b["pid"], p1b["count"]), (p1["pid"], 2), "warm instance reused before the update")

        v2 = py_zip("v2")
        u = lam.update_function_code(FunctionName=name, ZipFile=v2)
        eq(status_of(u), 200, "UpdateFunctionCode status")
        eq(u["CodeSha256"], sha256_b64(v2), "updated CodeSha256")
        eq(u["CodeSize"], len(v2), "updated CodeSize")
        check(u["RevisionId"] != created["RevisionId"], "RevisionId did not change on code update")
        wait_updated(lam, name)
        _, p2 = invoke(name, {"op": "echo"})
        eq(p2["mark"], "v2", "new code runs after UpdateFunctionCode")
        eq(p2["count"], 1, "an instance of the old revision was reused")

        u2 = lam.update_function_configuration(
            FunctionName=name, Timeout=7, MemorySize=256,
            Environment={"Variables": {"GREETING": "hello", "QUARRY_TEST_MARK": MARK}})
        eq((u2["Timeout"], u2["MemorySize"]), (7, 256), "updated Timeout/MemorySize")
        eq(u2["Environment"]["Variables"], {"GREETING": "hello", "QUARRY_TEST_MARK": MARK}, "updated Environment")
        eq(u2["CodeSha256"], sha256_b64(v2), "code unchanged by a configuration update")
        eq(u2["Runtime"], RUNTIME, "Runtime kept")
        check(u2["RevisionId"] != u["RevisionId"], "RevisionId did not change on configuration update")
        wait_updated(lam, name)
        _, p3 = invoke(name, {"op": "echo"})
        eq(p3["env"]["GREETING"], "hello", "new Environment visible to the handler")
        eq(p3["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256", "new MemorySize in the environment")
        eq(p3["count"], 1, "an instance of the old configuration was reused")
        check(5000 < p3["remaining_ms"] <= 7000, f"remaining_ms {p3['remaining_ms']} with Timeout 7")
        eq(p3["mark"], "v2", "code kept across a configuration update")

        c = lam.get_function_configuration(FunctionName=name)
        eq((c["Timeout"], c["MemorySize"], c["Handler"]), (7, 256, HANDLER), "configuration after updates")
        expect_client_error("PreconditionFailedException", 412, lam.update_function_configuration,
                            FunctionName=name, Timeout=8, RevisionId=str(uuid.uuid4()))
        expect_client_error("InvalidParameterValueException", 400, lam.update_function_configuration,
                            FunctionName=name, Environment={"Variables": {"AWS_LAMBDA_RUNTIME_API": "x"}})


@test
def versions_and_aliases():
    with Functions() as fns:
        v1 = py_zip("v1")
        name, _ = fns.create("ver", v1)
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        pv1 = lam.publish_version(FunctionName=name, Description="first")
        eq(status_of(pv1), 201, "PublishVersion status")
        eq(pv1["Version"], "1", "first version")
        eq(pv1["FunctionArn"], f"{arn}:1", "version ARN")
        eq(pv1["CodeSha256"], sha256_b64(v1), "version CodeSha256")
        v2 = py_zip("v2")
        lam.update_function_code(FunctionName=name, ZipFile=v2)
        wait_updated(lam, name)
        pv2 = lam.publish_version(FunctionName=name)
        eq(pv2["Version"], "2", "second version")
        eq(lam.publish_version(FunctionName=name)["Version"], "2", "publish without changes returns the latest")
        expect_client_error("PreconditionFailedException", 412, lam.publish_version, FunctionName=name,
                            CodeSha256=sha256_b64(b"something else"))

        versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]]
        eq(versions, ["$LATEST", "1", "2"], "ListVersionsByFunction")
        eq(lam.get_function_configuration(FunctionName=name, Qualifier="1")["Version"], "1", "config of 1")
        eq(lam.get_function(FunctionName=f"{name}:1")["Configuration"]["CodeSha256"], sha256_b64(v1),
           "GetFunction name:1")

        for qual, want_ver, want_mark in (("1", "1", "v1"), ("2", "2", "v2"), ("$LATEST", "$LATEST", "v2")):
            r, p = invoke(name, {"op": "echo"}, Qualifier=qual)
            eq(r.get("ExecutedVersion"), want_ver, f"ExecutedVersion for {qual}")
            eq(header(r, "X-Amz-Executed-Version"), want_ver, f"X-Amz-Executed-Version for {qual}")
            eq(p["mark"], want_mark, f"code run for {qual}")
            eq(p["env"]["AWS_LAMBDA_FUNCTION_VERSION"], want_ver, f"AWS_LAMBDA_FUNCTION_VERSION for {qual}")
        r, p = invoke(f"{arn}:1", {"op": "echo"})
        eq((r.get("ExecutedVersion"), p["mark"]), ("1", "v1"), "invoke by qualified ARN")
        eq(p["function_arn"], f"{arn}:1", "invoked_function_arn of a version")

        a = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1", Description="prod")
        eq(status_of(a), 201, "CreateAlias status")
        eq(a["AliasArn"], f"{arn}:live", "AliasArn")
        eq((a["Name"], a["FunctionVersion"]), ("live", "1"), "alias fields")
        check(a.get("RevisionId"), "alias RevisionId")
        lam.create_alias(FunctionName=name, Name="beta", FunctionVersion="2")
        expect_client_error("ResourceConflictException", 409, lam.create_alias, FunctionName=name,
                            Name="live", FunctionVersion="2")
        g = lam.get_alias(FunctionName=name, Name="live")
        eq((g["FunctionVersion"], g["Description"]), ("1", "prod"), "GetAlias")
        r, p = invoke(name, {"op": "echo"}, Qualifier="live")
        eq((r.get("ExecutedVersion"), p["mark"]), ("1", "v1"), "invoke alias live->1")
        eq(p["function_arn"], f"{arn}:live", "invoked_function_arn of an alias")
        r, p = invoke(f"{name}:live", {"op": "echo"})
        eq(r.get("ExecutedVersion"), "1", "invoke name:alias")

        u = lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2")
        eq(u["FunctionVersion"], "2", "UpdateAlias")
        r, p = invoke(name, {"op": "echo"}, Qualifier="live")
        eq((r.get("ExecutedVersion"), p["mark"]), ("2", "v2"), "invoke alias live->2")

        aliases = sorted((x["Name"], x["FunctionVersion"]) for x in lam.list_aliases(FunctionName=name)["Aliases"])
        eq(aliases, [("beta", "2"), ("live", "2")], "ListAliases")
        lam.update_alias(FunctionName=name, Name="beta", FunctionVersion="1")
        only2 = [x["Name"] for x in lam.list_aliases(FunctionName=name, FunctionVersion="2")["Aliases"]]
        eq(only2, ["live"], "ListAliases FunctionVersion=2")

        d = lam.delete_alias(FunctionName=name, Name="live")
        eq(status_of(d), 204, "DeleteAlias status")
        expect_client_error("ResourceNotFoundException", 404, lam.get_alias, FunctionName=name, Name="live")
        expect_client_error("ResourceNotFoundException", 404, lam.invoke, FunctionName=name,
                            Qualifier="live", Payload=b"{}")
        expect_client_error("ResourceNotFoundException", 404, lam.invoke, FunctionName=name,
                            Qualifier="99", Payload=b"{}")
        # a version an alias points to cannot be deleted (beta -> 1); then it can
        expect_client_error("ResourceConflictException", 409, lam.delete_function, FunctionName=name,
                            Qualifier="1")
        lam.delete_alias(FunctionName=name, Name="beta")
        lam.delete_function(FunctionName=name, Qualifier="1")
        versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]]
        eq(versions, ["$LATEST", "2"], "versions after deleting version 1")


@test
def concurrency_api():
    with Functions() as fns:
        name, _ = fns.create("conc")
        eq(lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions"), None,
           "no reserved concurrency at first")
        p = lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5)
        eq(p["ReservedConcurrentExecutions"], 5, "PutFunctionConcurrency")
        eq(lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"], 5,
           "GetFunctionConcurrency")
        eq(lam.get_function(FunctionName=name).get("Concurrency"), {"ReservedConcurrentExecutions": 5},
           "GetFunction Concurrency")
        d = lam.delete_function_concurrency(FunctionName=name)
        eq(status_of(d), 204, "DeleteFunctionConcurrency status")
        eq(lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions"), None,
           "reserved concurrency after delete")
        # 0 throttles every invoke
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
        expect_client_error("TooManyRequestsException", 429, lam.invoke, FunctionName=name, Payload=b"{}")
        lam.delete_function_concurrency(FunctionName=name)
        r, _ = invoke(name, {"op": "echo"})
        eq(r["StatusCode"], 200, "invoke after removing the throttle")
        expect_client_error("ResourceNotFoundException", 404, lam.put_function_concurrency,
                            FunctionName=uniq("nope"), ReservedConcurrentExecutions=1)


@test
def delete_then_invoke():
    with Functions() as fns:
        name, _ = fns.create("del")
        invoke(name, {"op": "echo"})
        d = lam.delete_function(FunctionName=name)
        check(status_of(d) in (200, 204), f"DeleteFunction status {status_of(d)}")
        expect_client_error("ResourceNotFoundException", 404, lam.invoke, FunctionName=name, Payload=b"{}")
        expect_client_error("ResourceNotFoundException", 404, lam.get_function, FunctionName=name)
        names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
        check(name not in names, "deleted function still listed")
        # the name can be used again
        lam.create_function(FunctionName=name, Runtime=RUNTIME, Role=ROLE, Handler=HANDLER,
                            Code={"ZipFile": py_zip("again")},
                            Environment={"Variables": {"QUARRY_TEST_MARK": MARK}})
        wait_active(lam, name)
        _, p = invoke(name, {"op": "echo"})
        eq((p["mark"], p["count"]), ("again", 1), "recreated function runs the new code in a new process")


# ---- invoke types and logs ----

@test
def invoke_log_tail():
    with Functions() as fns:
        name, _ = fns.create("tail")
        line = f"tail-line-{uuid.uuid4()}"
        r, p = invoke(name, {"op": "print", "lines": [line]}, LogType="Tail")
        eq(p, {"printed": 1}, "payload")
        rid = header(r, "x-amzn-RequestId")
        check("LogResult" in r, "no LogResult with LogType Tail")
        log = base64.b64decode(r["LogResult"]).decode("utf-8", "replace")
        check(f"START RequestId: {rid} Version: $LATEST" in log, f"START line missing: {log!r}")
        check(f"END RequestId: {rid}" in log, f"END line missing: {log!r}")
        check(re.search(rf"REPORT RequestId: {rid}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
                        rf"Memory Size: 128 MB\tMax Memory Used: \d+ MB", log), f"REPORT line: {log!r}")
        check(line in log, f"the handler's print line is not in the tail: {log!r}")
        check(log.index("START") < log.index(line) < log.index("END RequestId"), f"log order: {log!r}")
        # the tail is the last 4 KB
        lines = [f"{i:05d}-" + "y" * 90 for i in range(200)]
        r, p = invoke(name, {"op": "print", "lines": lines}, LogType="Tail")
        log = base64.b64decode(r["LogResult"])
        check(len(log) <= 4096, f"LogResult is {len(log)} bytes, more than 4 KB")
        check(len(log) >= 3000, f"LogResult is only {len(log)} bytes")
        check(b"REPORT RequestId" in log and lines[-1].encode() in log, f"tail lost the end: {log[-300:]!r}")
        check(lines[0].encode() not in log, "tail holds the first lines of a long log")
        # without Tail there is no LogResult
        r, _ = invoke(name, {"op": "echo"})
        check("LogResult" not in r, "LogResult without LogType Tail")


@test
def dry_run_and_event():
    with Functions() as fns:
        name, _ = fns.create("evt")
        r, p = invoke(name, {"op": "echo"}, InvocationType="DryRun")
        eq((r["StatusCode"], p), (204, None), "DryRun")
        expect_client_error("ResourceNotFoundException", 404, lam.invoke, FunctionName=uniq("nope"),
                            InvocationType="DryRun", Payload=b"{}")
        key = f"event/{uuid.uuid4()}"
        r, p = invoke(name, {"op": "put", "bucket": BUCKET, "key": key}, InvocationType="Event")
        eq((r["StatusCode"], p), (202, None), "Event invoke")
        check(header(r, "x-amzn-RequestId"), "no request id on an Event invoke")
        body = json.loads(poll_object(BUCKET, key))
        eq(body["request_id"], header(r, "x-amzn-RequestId"), "the event ran with the 202's request id")
        s3.delete_object(Bucket=BUCKET, Key=key)
        expect_client_error("ResourceNotFoundException", 404, lam.invoke, FunctionName=uniq("nope"),
                            InvocationType="Event", Payload=b"{}")


# ---- function errors ----

@test
def function_error_raise():
    with Functions() as fns:
        name, _ = fns.create("raise")
        r, p = invoke(name, {"op": "raise", "message": "boom-42"})
        expect_function_error(r, p, "ValueError")
        eq(header(r, "X-Amz-Function-Error"), "Unhandled", "X-Amz-Function-Error header")
        eq(p["errorMessage"], "boom-42", "errorMessage")
        check(isinstance(p.get("stackTrace"), list) and p["stackTrace"], f"stackTrace: {p.get('stackTrace')}")
        check(any("lambda_function.py" in s for s in p["stackTrace"]), f"stackTrace: {p['stackTrace']}")
        # an error does not kill the environment: the next invoke is warm
        _, p2 = invoke(name, {"op": "echo"})
        eq(p2["count"], 2, "the environment survived a handled exception")


@test
def import_error():
    with Functions() as fns:
        z = build_zip({"lambda_function.py": fixture("python_import_error/lambda_function.py")})
        name, _ = fns.create("imperr", z)
        r, p = invoke(name, {"op": "echo"})
        expect_function_error(r, p, "Runtime.ImportModuleError")
        check("Unable to import module 'lambda_function'" in p["errorMessage"], f"errorMessage: {p}")
        check("quarry_no_such_module_for_tests" in p["errorMessage"], f"errorMessage: {p}")
        r, p = invoke(name, {"op": "echo"})
        expect_function_error(r, p, "Runtime.ImportModuleError")


@test
def handler_not_found():
    with Functions() as fns:
        name, _ = fns.create("nohandler", Handler="lambda_function.no_such_handler")
        r, p = invoke(name, {"op": "echo"})
        expect_function_error(r, p, "Runtime.HandlerNotFound")
        check("no_such_handler" in p["errorMessage"], f"errorMessage: {p}")


@test
def timeout():
    with Functions() as fns:
        name, _ = fns.create("timeout", Timeout=1)
        t0 = time.monotonic()
        r, p = invoke(name, {"op": "sleep", "seconds": 3})
        took = time.monotonic() - t0
        expect_function_error(r, p)
        check(re.search(r"Task timed out after 1\.\d\d seconds", p["errorMessage"]), f"timeout message: {p}")
        if "errorType" in p:
            eq(p["errorType"], "Sandbox.Timedout", "timeout errorType")
        check(took < 2.8, f"the invoke took {took:.2f}s: the function was not stopped at its timeout")
        r, p = invoke(name, {"op": "echo"})
        check("FunctionError" not in r, f"invoke after a timeout failed: {p}")
        eq(p["count"], 1, "the timed-out environment was reused")


@test
def crash_exit():
    with Functions() as fns:
        name, _ = fns.create("crash")
        r, p = invoke(name, {"op": "exit", "status": 3})
        expect_function_error(r, p, "Runtime.ExitError")
        check("exit status 3" in p["errorMessage"], f"errorMessage: {p}")
        r, p = invoke(name, {"op": "echo"})
        check("FunctionError" not in r, f"invoke after a crash failed: {p}")
        eq(p["count"], 1, "a new environment after the crash")


@test
def out_of_memory():
    with Functions() as fns:
        name, _ = fns.create("oom", MemorySize=128, Timeout=20)
        r, p = invoke(name, {"op": "oom", "mb": 400})
        expect_function_error(r, p, "Runtime.OutOfMemory")
        r, p = invoke(name, {"op": "echo"})
        check("FunctionError" not in r, f"invoke after OOM failed: {p}")
        # a modest allocation still fits in 128 MB
        r, p = invoke(name, {"op": "oom", "mb": 32})
        check("FunctionError" not in r, f"32 MB in a 128 MB function failed: {p}")


@test
def oversize_payloads():
    with Functions() as fns:
        name, _ = fns.create("big", Timeout=20)
        pad = "x" * (6 * MiB)
        body = json.dumps({"op": "echo", "pad": pad}).encode()
        expect_client_error("RequestTooLargeException", 413, lam.invoke, FunctionName=name, Payload=body)
        # just under the limit is accepted
        r, p = invoke(name, raw=json.dumps({"op": "print", "lines": [], "pad": "x" * (6 * MiB - 100)}).encode())
        check("FunctionError" not in r, f"a payload under 6 MB failed: {str(p)[:300]}")
        # a response over 6 MB is a function error
        r, p = invoke(name, {"op": "big", "n": 7 * MiB})
        expect_function_error(r, p)
        check("ResponseSizeTooLarge" in p.get("errorType", ""), f"oversize response error: {str(p)[:300]}")


@test
def reserved_concurrency_throttles():
    with Functions() as fns:
        name, _ = fns.create("throttle", Timeout=10)
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
        results = {}

        def worker(tag):
            c = srv.lambda_client(recorder=False)
            try:
                r = c.invoke(FunctionName=name, Payload=json.dumps({"op": "sleep", "seconds": 2}).encode())
                results[tag] = ("ok", r["StatusCode"], r["Payload"].read())
            except ClientError as e:
                results[tag] = ("error", e.response["Error"]["Code"],
                                e.response["ResponseMetadata"]["HTTPStatusCode"], e.response)
            except Exception as e:  # noqa: BLE001
                results[tag] = ("exception", repr(e))

        t1 = threading.Thread(target=worker, args=("first",))
        t1.start()
        time.sleep(0.7)
        t2 = threading.Thread(target=worker, args=("second",))
        t2.start()
        t1.join(30)
        t2.join(30)
        eq(results.get("first", ("missing",))[:2], ("ok", 200), f"first invoke: {results.get('first')}")
        second = results.get("second", ("missing",))
        eq(second[:3], ("error", "TooManyRequestsException", 429), f"second invoke: {second}")
        eq(second[3].get("Reason"), "ReservedFunctionConcurrentInvocationLimitExceeded", "throttle Reason")


@test
def zip_with_parent_entries_rejected():
    import io
    import zipfile
    tag = uuid.uuid4().hex
    names = [f"{'../' * depth}escape-{tag}-{depth}.txt" for depth in range(1, 13)]
    names.append(f"/tmp/escape-{tag}-abs.txt")
    names.append(f"ok/../../escape-{tag}-mid.txt")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("lambda_function.py", fixture("python/lambda_function.py"))
        for n in names:
            info = zipfile.ZipInfo("placeholder")
            info.filename = n  # set after construction: ZipInfo() would not keep a leading /
            z.writestr(info, b"escaped\n")
    data = buf.getvalue()
    check(b"../escape-" in data, "test zip lost its ../ entries")
    name = uniq("zipslip")
    try:
        code, st, resp = client_error(lam.create_function, FunctionName=name, Runtime=RUNTIME, Role=ROLE,
                                      Handler=HANDLER, Code={"ZipFile": data})
        eq((code, st), ("InvalidParameterValueException", 400), f"zip with ../ entries: {resp.get('Error')}")
        expect_client_error("ResourceNotFoundException", 404, lam.get_function, FunctionName=name)
        # the same through UpdateFunctionCode
        with Functions() as fns:
            ok_name, _ = fns.create("zipslip-upd")
            code, st, _ = client_error(lam.update_function_code, FunctionName=ok_name, ZipFile=data)
            eq((code, st), ("InvalidParameterValueException", 400), "UpdateFunctionCode with ../ entries")
            _, p = invoke(ok_name, {"op": "echo"})
            eq(p["mark"], "v1", "the old code still runs after a rejected update")
    finally:
        try:
            lam.delete_function(FunctionName=name)
        except Exception:
            pass
    # nothing was written outside the data dir: look in every ancestor of it and in /tmp
    leaked = []
    d = srv.data
    while True:
        for depth in range(1, 13):
            p = os.path.join(d, f"escape-{tag}-{depth}.txt")
            if os.path.exists(p):
                leaked.append(p)
        for extra in ("mid", "abs"):
            p = os.path.join(d, f"escape-{tag}-{extra}.txt")
            if os.path.exists(p):
                leaked.append(p)
        if d == "/":
            break
        d = os.path.dirname(d)
    for root, _dirs, files in os.walk(srv.root):
        leaked += [os.path.join(root, f) for f in files if tag in f]
    for p in leaked:
        try:
            os.unlink(p)
        except OSError:
            pass
    eq(leaked, [], "files written by a zip with ../ entries")


@test
def retried_invoke_runs_once():
    """boto3 with read_timeout=1 resends a 2 s invoke with the same amz-sdk-invocation-id;
    the function must run once."""
    with Functions() as fns:
        name, _ = fns.create("retry", Timeout=10)
        prefix = f"runs/{uuid.uuid4()}/"
        c = srv.lambda_client(recorder=False, read_timeout=1, retries={"max_attempts": 2})
        sent = []
        c.meta.events.register("before-send.lambda",
                               lambda request, **kw: sent.append(
                                   (request.headers.get("amz-sdk-invocation-id"),
                                    request.headers.get("amz-sdk-request"))))
        event = {"op": "put", "bucket": BUCKET, "key": prefix, "unique": True, "sleep_first": 2}
        t0 = time.monotonic()
        outcome = None
        try:
            r = c.invoke(FunctionName=name, Payload=json.dumps(event).encode())
            outcome = ("ok", r["StatusCode"], r["Payload"].read())
        except ReadTimeoutError as e:
            outcome = ("read timeout", repr(e))
        except ClientError as e:
            outcome = ("error", e.response["Error"])
        check(len(sent) >= 2, f"the client did not retry (sent {sent}, outcome {outcome}): test proves nothing")
        ids = {s[0] for s in sent}
        eq(len(ids), 1, f"amz-sdk-invocation-id differs between attempts: {sent}")
        # let any duplicate run finish: the last attempt started < now, runs take 2 s
        time.sleep(max(0.0, 4.0 - (time.monotonic() - t0)) + 2.5)
        n = count_prefix(BUCKET, prefix)
        eq(n, 1, f"function runs for one retried invoke (attempts {sent}, client outcome {outcome})")
        for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []):
            s3.delete_object(Bucket=BUCKET, Key=o["Key"])


# ---- tests with servers of their own: restart, crash, process lifetime ----

def _own_server_function(server, base, env=None, **kw):
    c = server.lambda_client()
    b3 = server.boto3_client()
    b3.create_bucket(Bucket=BUCKET)
    server.lambda_role()
    fns = Functions(c)
    name, _ = fns.create(base, env=env, **kw)
    return c, b3, fns, name


def _event_survives(crash):
    with QuarryServer(fsync=True) as s2:
        c, b3, fns, name = _own_server_function(s2, "durable", Timeout=10)
        key = f"durable/{uuid.uuid4()}"
        r, _ = invoke(name, {"op": "put", "bucket": BUCKET, "key": key, "sleep_first": 2},
                      client=c, InvocationType="Event")
        eq(r["StatusCode"], 202, "Event invoke")
        s2.restart(crash=crash)
        c2 = s2.boto3_client()
        body = json.loads(poll_object(BUCKET, key, client=c2))
        eq(body["request_id"], header(r, "x-amzn-RequestId"), "the queued event kept its request id")


@test
def event_survives_restart():
    _event_survives(crash=False)


@test
def event_survives_crash():
    _event_survives(crash=True)


def _no_process_outlives(stop):
    mark = f"lt-life-{uuid.uuid4()}"
    s2 = QuarryServer().start()
    stray = []
    try:
        c, _b3, _fns, name = _own_server_function(s2, "life", env={"QUARRY_TEST_MARK": mark})
        # two instances: one idle after its invoke, one busy in a long sleep
        invoke(name, {"op": "echo"}, client=c)
        busy = threading.Thread(target=lambda: _swallow(invoke, name, {"op": "sleep", "seconds": 2.5},
                                                        client=s2.lambda_client(recorder=False)))
        busy.start()
        time.sleep(0.5)
        server_pid = s2.proc.pid
        before = processes_with(mark)
        kids = [k for k in children_of(server_pid)]
        check(before, f"no process carries the function's marker while it is warm: the scan is blind "
                      f"(server children: {describe_pids(kids)})")
        stop(s2)
        left = wait_gone(lambda: sorted(set(processes_with(mark)) | set(p for p in kids if _alive(p))))
        stray = left
        busy.join(10)
        eq(left, [], f"function processes outlived the server: {describe_pids(left)}")
    finally:
        kill_pids(stray)
        s2.close()


def _swallow(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except Exception:
        pass


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            st = f.read()
        return st[st.rfind(b")") + 2:st.rfind(b")") + 3] != b"Z"
    except OSError:
        return False


@test
def no_process_outlives_close():
    _no_process_outlives(lambda s: s.close())


@test
def no_process_outlives_kill9():
    _no_process_outlives(lambda s: s.kill9())


if __name__ == "__main__":
    run(setup, teardown)
