#!/usr/bin/env python3
"""test_batch.py - S3 Batch Operations (the S3 Control jobs API and the engine) through stock
boto3 and the aws CLI v1 against a real quarry.

The S3 Control client talks to http://localhost:PORT: every SDK puts the account id in front
of the host (123456789012.localhost), which libnss-myhostname resolves to loopback. Expected
values come from AWS's documentation and the botocore model (reference/aws-s3.md sections 4-8):
report layout, event shapes, state machine. Functions are real processes (lambda_fixtures/).
"""

import csv
import hashlib
import io
import json
import os
import subprocess
import tempfile
import time
import urllib.parse
import uuid

import boto3
from botocore.config import Config

from harness import check, client_error, eq, expect_client_error, run, test
from quarry_server import ACCOUNT, REGION, QuarryServer, build_zip

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "lambda_fixtures")
ROLE = f"arn:aws:iam::{ACCOUNT}:role/batch-ops"
FN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-ex"
DIR_CFG = {"Location": {"Type": "AvailabilityZone", "Name": "use1-az4"},
           "Bucket": {"DataRedundancy": "SingleAvailabilityZone", "Type": "Directory"}}
JOB_DEADLINE_S = 120.0
# Keys a manifest must carry safely: spaces, '+', '%', '#', commas, quotes, unicode.
WEIRD_KEYS = ["plain.txt", "with space.txt", "plus+sign.txt", "percent%41.txt", "hash#tag.txt",
              "dir/unicodé 日本語.txt", "a,comma.txt", 'quote"d.txt', "deep/er/path/x"]

srv = None
s3 = None
s3c = None
lam = None


def control_client(server, **cfg):
    conf = {"retries": {"total_max_attempts": 1}, "connect_timeout": 10, "read_timeout": 60}
    conf.update(cfg)
    return boto3.client("s3control", endpoint_url=f"http://localhost:{server.port}",
                        region_name=REGION, aws_access_key_id=server.access_key,
                        aws_secret_access_key=server.secret_key, config=Config(**conf))


def setup():
    global srv, s3, s3c, lam
    srv = QuarryServer().start()
    s3 = srv.boto3_client()
    s3c = control_client(srv)
    lam = srv.lambda_client()


def teardown():
    if srv is not None:
        srv.close()


# ---- helpers ----

def uniq(p):
    return f"{p}-{uuid.uuid4().hex[:8]}"


def dir_bucket(client=None):
    name = f"{uniq('bt')}--use1-az4--x-s3"
    (client or s3).create_bucket(Bucket=name, CreateBucketConfiguration=DIR_CFG)
    return name


def gp_bucket(client=None):
    name = uniq("bt")
    (client or s3).create_bucket(Bucket=name)
    return name


def put_manifest(bucket, key, lines, client=None, crlf=False):
    body = ("\r\n" if crlf else "\n").join(lines) + ("\r\n" if crlf else "\n")
    r = (client or s3).put_object(Bucket=bucket, Key=key, Body=body.encode())
    return r["ETag"]


def manifest_line(bucket, key):
    return f"{bucket},{urllib.parse.quote_plus(key)}"


def job_args(manifest_bucket, manifest_key, etag, operation, report_bucket=None, **kw):
    args = {
        "AccountId": ACCOUNT,
        "ConfirmationRequired": False,
        "Operation": operation,
        "Manifest": {"Spec": {"Format": "S3BatchOperations_CSV_20180820",
                              "Fields": ["Bucket", "Key"]},
                     "Location": {"ObjectArn": f"arn:aws:s3:::{manifest_bucket}/{manifest_key}",
                                  "ETag": etag}},
        "Priority": 10,
        "RoleArn": ROLE,
        "ClientRequestToken": str(uuid.uuid4()),
        "Report": ({"Bucket": f"arn:aws:s3:::{report_bucket}", "Format": "Report_CSV_20180820",
                    "Enabled": True, "Prefix": "ReportPrefix", "ReportScope": "AllTasks"}
                   if report_bucket else {"Enabled": False}),
    }
    args.update(kw)
    return args


def wait_job(job_id, states=("Complete", "Failed", "Cancelled"), client=None,
             deadline_s=JOB_DEADLINE_S):
    c = client or s3c
    end = time.monotonic() + deadline_s
    while True:
        job = c.describe_job(AccountId=ACCOUNT, JobId=job_id)["Job"]
        if job["Status"] in states:
            return job
        if time.monotonic() > end:
            raise AssertionError(f"job {job_id} still {job['Status']} after {deadline_s}s: {job}")
        time.sleep(0.05)


def read_report(bucket, job_id, prefix="ReportPrefix"):
    """(manifest.json, {status: [rows]}) with every results file's MD5 checked."""
    base = f"{prefix}/job-{job_id}/"
    m = json.loads(s3.get_object(Bucket=bucket, Key=base + "manifest.json")["Body"].read())
    eq(m["Format"], "Report_CSV_20180820", "report Format")
    eq(m["ReportSchema"], "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, "
       "ResultMessage", "ReportSchema")
    rows = {}
    for r in m["Results"]:
        check(r["Key"].startswith(base + "results/") and r["Key"].endswith(".csv"),
              f"results key {r['Key']}")
        eq(r["Bucket"], bucket, "results bucket")
        data = s3.get_object(Bucket=bucket, Key=r["Key"])["Body"].read()
        eq(r["MD5Checksum"], hashlib.md5(data).hexdigest(), "results MD5Checksum")
        parsed = list(csv.reader(io.StringIO(data.decode())))
        for row in parsed:
            eq(len(row), 7, f"columns of {row}")
            eq(row[3], r["TaskExecutionStatus"], "TaskStatus matches its file")
        rows[r["TaskExecutionStatus"]] = parsed
    return m, rows


def deploy(name, path, **kw):
    src = open(os.path.join(FIXTURES, path), "rb").read()
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=FN_ROLE,
                        Handler="lambda_function.lambda_handler",
                        Code={"ZipFile": build_zip({"lambda_function.py": src})},
                        Timeout=kw.pop("Timeout", 30), **kw)
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


# ---- the walkthrough ----

@test
def walkthrough_lambda_directory_buckets():
    """AWS's walkthrough unchanged but for the endpoint: two directory buckets, a CSV manifest
    in a general purpose bucket, the walkthrough's function, LambdaInvoke schema 2.0 with
    UserArguments, no confirmation; every object copied with prefix and suffix; the report
    lists each manifest line once."""
    src, dst, man, rep = dir_bucket(), dir_bucket(), gp_bucket(), gp_bucket()
    for k in WEIRD_KEYS:
        s3.put_object(Bucket=src, Key=k, Body=f"body of {k}".encode())
    lines = [manifest_line(src, k) for k in WEIRD_KEYS]
    etag = put_manifest(man, "m.csv", lines)
    fn = deploy(uniq("s3batchops-function"), "batch_walkthrough/lambda_function.py")
    op = {"LambdaInvoke": {"FunctionArn": fn, "InvocationSchemaVersion": "2.0",
                           "UserArguments": {"MyDestinationBucket": dst,
                                             "MyDestinationBucketRegion": REGION,
                                             "MyDestinationPrefix": "copied/",
                                             "MyDestinationObjectKeySuffix": "_new_suffix"}}}
    jid = s3c.create_job(**job_args(man, "m.csv", etag, op, rep, Priority=1))["JobId"]
    job = wait_job(jid)
    eq(job["Status"], "Complete", f"status ({job.get('FailureReasons')})")
    eq(job["JobArn"], f"arn:aws:s3:{REGION}:{ACCOUNT}:job/{jid}", "JobArn")
    ps = job["ProgressSummary"]
    eq((ps["TotalNumberOfTasks"], ps["NumberOfTasksSucceeded"], ps["NumberOfTasksFailed"]),
       (len(WEIRD_KEYS), len(WEIRD_KEYS), 0), "progress")
    check("TerminationDate" in job, "TerminationDate set")
    eq(job["Operation"]["LambdaInvoke"]["UserArguments"]["MyDestinationPrefix"], "copied/",
       "Operation echoed")
    for k in WEIRD_KEYS:
        body = s3.get_object(Bucket=dst, Key=f"copied/{k}_new_suffix")["Body"].read()
        eq(body, f"body of {k}".encode(), f"copy of {k!r}")
    m, rows = read_report(rep, jid)
    eq(set(rows), {"succeeded"}, "only a succeeded file")
    eq(sorted((r[0], r[1]) for r in rows["succeeded"]),
       sorted(tuple(l.split(",", 1)) for l in lines), "report rows = manifest lines")
    for r in rows["succeeded"]:
        eq((r[2], r[4], r[5]), ("", "200", ""), "VersionId, HTTP status, error code")
        check(r[6].startswith(f"Copied to {dst}/copied/"), f"ResultMessage {r[6]!r}")


if __name__ == "__main__":
    run(setup=setup, teardown=teardown)
