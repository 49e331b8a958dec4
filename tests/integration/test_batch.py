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
from quarry_server import ACCOUNT, DIR_CFG, REGION, QuarryServer, binary_path, build_zip

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "lambda_fixtures")
ROLE = f"arn:aws:iam::{ACCOUNT}:role/batch-ops"
FN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-ex"
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
    return boto3.client("s3control", endpoint_url=server.control_endpoint,
                        region_name=REGION, aws_access_key_id=server.access_key,
                        aws_secret_access_key=server.secret_key, config=Config(**conf))


def setup():
    global srv, s3, s3c, lam
    srv = QuarryServer(extra_args=["--sse-c-over-http"]).start()  # an SSE-C object for a checksum job
    s3 = srv.boto3_client()
    s3c = control_client(srv)
    lam = srv.lambda_client()
    srv.lambda_role()  # functions' and jobs' roles: both act as them
    srv.batch_role()


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


# ---- S3PutObjectCopy, tagging ----

@test
def copy_job_general_to_directory():
    """S3PutObjectCopy from a general purpose bucket into a directory bucket with a key
    prefix; a CRLF manifest with a quoted field; a missing object is a failed task (404
    NoSuchKey), not a failed job; the report splits succeeded and failed rows."""
    src, dst, man, rep = gp_bucket(), dir_bucket(), gp_bucket(), gp_bucket()
    keys = WEIRD_KEYS[:5]
    for k in keys:
        s3.put_object(Bucket=src, Key=k, Body=k.encode() * 3)
    lines = [manifest_line(src, k) for k in keys] + [f'"{src}","no-such-key"']
    etag = put_manifest(man, "m.csv", lines, crlf=True)
    op = {"S3PutObjectCopy": {"TargetResource": f"arn:aws:s3express:{REGION}:{ACCOUNT}:bucket/{dst}",
                              "TargetKeyPrefix": "c/"}}
    jid = s3c.create_job(**job_args(man, "m.csv", etag, op, rep))["JobId"]
    job = wait_job(jid)
    eq(job["Status"], "Complete", "status")
    ps = job["ProgressSummary"]
    eq((ps["TotalNumberOfTasks"], ps["NumberOfTasksSucceeded"], ps["NumberOfTasksFailed"]),
       (6, 5, 1), "progress")
    for k in keys:
        eq(s3.get_object(Bucket=dst, Key="c/" + k)["Body"].read(), k.encode() * 3, f"copy {k!r}")
    _, rows = read_report(rep, jid)
    eq(len(rows["succeeded"]), 5, "succeeded rows")
    eq(rows["failed"], [[src, "no-such-key", "", "failed", "404", "NoSuchKey",
                         "The specified key does not exist."]], "failed row")


@test
def copy_job_into_versioned_lock_bucket():
    """Copies into a bucket with Object Lock (so versioning) and a default retention: every
    task makes a new version of its key, each with the bucket's default retention, and a
    version made before the job stays. The sources are in the same bucket: the tasks of one
    window share what the writer learnt of it (first its id, as a source, then its state,
    as a destination), and this shows the state used is the versioned one it has."""
    man, rep = gp_bucket(), gp_bucket()
    dst = src = uniq("bt")
    s3.create_bucket(Bucket=dst, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(Bucket=dst, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    keys = ["s/k0", "s/k1", "s/k2"]
    for k in keys:
        s3.put_object(Bucket=src, Key=k, Body=k.encode() * 4)
    first = s3.put_object(Bucket=dst, Key="c/s/k0", Body=b"before")["VersionId"]
    etag = put_manifest(man, "m.csv", [manifest_line(src, k) for k in keys + keys])
    op = {"S3PutObjectCopy": {"TargetResource": f"arn:aws:s3:::{dst}", "TargetKeyPrefix": "c/"}}
    job = wait_job(s3c.create_job(**job_args(man, "m.csv", etag, op, rep))["JobId"])
    eq((job["Status"], job["ProgressSummary"]["NumberOfTasksSucceeded"]), ("Complete", 6),
       "status, succeeded")
    vs = s3.list_object_versions(Bucket=dst, Prefix="c/")["Versions"]
    by_key = {}
    for v in vs:
        by_key.setdefault(v["Key"], []).append(v["VersionId"])
    eq({k: len(v) for k, v in by_key.items()}, {"c/s/k0": 3, "c/s/k1": 2, "c/s/k2": 2},
       "versions")
    eq(len({v["VersionId"] for v in vs}), 7, "distinct version ids")
    check(first in by_key["c/s/k0"], "the version made before the job is kept")
    eq(s3.get_object(Bucket=dst, Key="c/s/k0", VersionId=first)["Body"].read(), b"before",
       "the older version's bytes")
    for k in keys:
        for vid in by_key["c/" + k]:
            if vid == first:
                continue
            h = s3.head_object(Bucket=dst, Key="c/" + k, VersionId=vid)
            eq(h.get("ObjectLockMode"), "GOVERNANCE", f"default retention on {k} {vid}")
            eq(s3.get_object(Bucket=dst, Key="c/" + k, VersionId=vid)["Body"].read(),
               k.encode() * 4, f"bytes of {k} {vid}")


@test
def tagging_jobs():
    """S3PutObjectTagging sets the tag set of every listed object; S3DeleteObjectTagging
    removes it; the tags read back through GetObjectTagging."""
    b, man = gp_bucket(), gp_bucket()
    keys = ["t1", "t 2", "t+3"]
    for k in keys:
        s3.put_object(Bucket=b, Key=k, Body=b"x")
    etag = put_manifest(man, "m.csv", [manifest_line(b, k) for k in keys])
    tags = [{"Key": "project", "Value": "blue sky"}, {"Key": "n", "Value": "1+1=2"}]
    jid = s3c.create_job(**job_args(man, "m.csv", etag, {"S3PutObjectTagging": {"TagSet": tags}}))["JobId"]
    eq(wait_job(jid)["Status"], "Complete", "put tagging job")
    for k in keys:
        eq(s3.get_object_tagging(Bucket=b, Key=k)["TagSet"], tags, f"tags of {k!r}")
    jid = s3c.create_job(**job_args(man, "m.csv", etag, {"S3DeleteObjectTagging": {}}))["JobId"]
    eq(wait_job(jid)["Status"], "Complete", "delete tagging job")
    for k in keys:
        eq(s3.get_object_tagging(Bucket=b, Key=k)["TagSet"], [], f"tags of {k!r} after delete")


@test
def compute_checksum_job():
    """S3ComputeObjectChecksum: the report's ResultMessage carries the checksum, computed over
    inline, blob-backed and multipart objects alike (checked here with zlib/hashlib).
    COMPOSITE digests each part, then the part digests ("<b64>-N"; with MD5 that is the
    multipart ETag S3 gave the object); an object not uploaded in parts reports its
    FULL_OBJECT checksum. A missing object and an SSE-C object are failed tasks;
    algorithms quarry lacks are refused by name, CRC64NVME COMPOSITE as S3 refuses it."""
    import base64
    import zlib
    b, man, rep = gp_bucket(), gp_bucket(), gp_bucket()
    bodies = {"small": b"tiny body", "big": os.urandom(300 * 1024)}
    for k, v in bodies.items():
        s3.put_object(Bucket=b, Key=k, Body=v)
    parts = [os.urandom(5 * 1024 * 1024), os.urandom(5 * 1024 * 1024), b"last part"]
    up = s3.create_multipart_upload(Bucket=b, Key="mp")["UploadId"]
    done = [{"PartNumber": i + 1, "ETag": s3.upload_part(Bucket=b, Key="mp", UploadId=up, PartNumber=i + 1,
                                                         Body=p)["ETag"]} for i, p in enumerate(parts)]
    mp_etag = s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=up,
                                           MultipartUpload={"Parts": done})["ETag"].strip('"')
    bodies["mp"] = b"".join(parts)
    sse_c = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": "k" * 32}
    s3.put_object(Bucket=b, Key="sealed", Body=b"secret", **sse_c)
    etag = put_manifest(man, "m.csv", [manifest_line(b, k) for k in bodies] +
                        [manifest_line(b, "gone"), manifest_line(b, "sealed")])
    b64 = lambda d: base64.b64encode(d).decode()  # noqa: E731
    want = {"CRC32": lambda v: zlib.crc32(v).to_bytes(4, "big"),
            "SHA256": lambda v: hashlib.sha256(v).digest(),
            "MD5": lambda v: hashlib.md5(v).digest()}
    for ck_type, algs in (("FULL_OBJECT", ("CRC32", "SHA256")), ("COMPOSITE", ("SHA256", "MD5"))):
        for alg in algs:
            fn = want[alg]
            op = {"S3ComputeObjectChecksum": {"ChecksumAlgorithm": alg, "ChecksumType": ck_type}}
            jid = s3c.create_job(**job_args(man, "m.csv", etag, op, rep))["JobId"]
            job = wait_job(jid)
            eq(job["Status"], "Complete", "status")
            eq(job["Operation"]["S3ComputeObjectChecksum"], {"ChecksumAlgorithm": alg, "ChecksumType": ck_type},
               "echoed")
            _, rows = read_report(rep, jid)
            got = {r[1]: json.loads(r[6]) for r in rows["succeeded"]}
            for k, v in bodies.items():
                if ck_type == "COMPOSITE" and k == "mp":
                    exp = {"checksumType": "COMPOSITE",
                           "checksum": b64(fn(b"".join(fn(p) for p in parts))) + "-3"}
                else:
                    exp = {"checksumType": "FULL_OBJECT", "checksum": b64(fn(v))}
                eq(got[k], {"checksumAlgorithm": alg, **exp}, f"{ck_type} {alg} of {k}")
            if ck_type == "COMPOSITE" and alg == "MD5":
                eq(base64.b64decode(got["mp"]["checksum"].split("-")[0]).hex() + "-3", mp_etag,
                   "composite MD5 = the multipart ETag")
            eq(sorted(r[1:6] for r in rows["failed"]),
               [["gone", "", "failed", "404", "NoSuchKey"], ["sealed", "", "failed", "400", "InvalidRequest"]],
               "missing and SSE-C objects")
    expect_client_error("NotImplemented", 501, s3c.create_job,
                        **job_args(man, "m.csv", etag, {"S3ComputeObjectChecksum": {
                            "ChecksumAlgorithm": "XXHASH64", "ChecksumType": "FULL_OBJECT"}}))
    expect_client_error("BadRequestException", 400, s3c.create_job,
                        **job_args(man, "m.csv", etag, {"S3ComputeObjectChecksum": {
                            "ChecksumAlgorithm": "CRC64NVME", "ChecksumType": "COMPOSITE"}}))


@test
def legal_hold_and_retention_jobs():
    """S3PutObjectLegalHold and S3PutObjectRetention (quarry's S3 has Object Lock, so they
    run): every listed version gets the legal hold or retention, read back through
    GetObjectLegalHold/GetObjectRetention; a version named in the manifest is the one
    changed; a bucket without Object Lock, a missing key and a date already past are failed
    tasks; shortening GOVERNANCE retention needs BypassGovernanceRetention, COMPLIANCE
    cannot be shortened at all; DescribeJob echoes the operation."""
    import datetime as dt
    b, plain, man, rep = uniq("bt"), gp_bucket(), gp_bucket(), gp_bucket()
    s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    keys = ["h1", "h 2", "h+3"]
    for k in keys:
        s3.put_object(Bucket=b, Key=k, Body=b"x")
    old = s3.put_object(Bucket=b, Key="v", Body=b"old")["VersionId"]
    new = s3.put_object(Bucket=b, Key="v", Body=b"new")["VersionId"]
    s3.put_object(Bucket=plain, Key="p", Body=b"x")
    enc = sorted(urllib.parse.quote_plus(k) for k in keys)  # the report's keys, as listed
    lines = [manifest_line(b, k) for k in keys] + [manifest_line(b, "gone"), manifest_line(plain, "p")]
    etag = put_manifest(man, "m.csv", lines)

    def run(op, manifest="m.csv", mtag=etag, fields=None):
        args = job_args(man, manifest, mtag, op, rep)
        if fields:
            args["Manifest"]["Spec"]["Fields"] = fields
        jid = s3c.create_job(**args)["JobId"]
        job = wait_job(jid)
        eq(job["Status"], "Complete", f"status of {op}")
        return job, read_report(rep, jid)[1]

    job, rows = run({"S3PutObjectLegalHold": {"LegalHold": {"Status": "ON"}}})
    eq(job["Operation"], {"S3PutObjectLegalHold": {"LegalHold": {"Status": "ON"}}}, "echoed")
    eq(sorted(r[1] for r in rows["succeeded"]), enc, "held")
    eq(sorted((r[1], r[4], r[5]) for r in rows["failed"]),
       [("gone", "404", "NoSuchKey"), ("p", "400", "InvalidRequest")], "failed tasks")
    for k in keys:
        eq(s3.get_object_legal_hold(Bucket=b, Key=k)["LegalHold"]["Status"], "ON", f"hold of {k!r}")
    expect_client_error("AccessDenied", 403, s3.delete_object, Bucket=b, Key="h1",
                        VersionId=s3.head_object(Bucket=b, Key="h1")["VersionId"])
    run({"S3PutObjectLegalHold": {"LegalHold": {"Status": "OFF"}}})
    for k in keys:
        eq(s3.get_object_legal_hold(Bucket=b, Key=k)["LegalHold"]["Status"], "OFF", f"released {k!r}")

    # a version named in the manifest: that version, not the current one
    vetag = put_manifest(man, "v.csv", [f"{b},v,{old}"])
    run({"S3PutObjectLegalHold": {"LegalHold": {"Status": "ON"}}}, "v.csv", vetag,
        ["Bucket", "Key", "VersionId"])
    eq(s3.get_object_legal_hold(Bucket=b, Key="v", VersionId=old)["LegalHold"]["Status"], "ON",
       "the named version")
    eq(s3.get_object_legal_hold(Bucket=b, Key="v", VersionId=new)["LegalHold"]["Status"], "OFF",
       "the current version untouched")

    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    far, near = now + dt.timedelta(days=2), now + dt.timedelta(days=1)
    ret = lambda mode, when, **kw: {"S3PutObjectRetention": {  # noqa: E731
        "Retention": {"Mode": mode, "RetainUntilDate": when}, **kw}}
    job, rows = run(ret("GOVERNANCE", far))
    eq(job["Operation"]["S3PutObjectRetention"]["Retention"], {"Mode": "GOVERNANCE", "RetainUntilDate": far},
       "echoed retention")
    eq(len(rows["succeeded"]), 3, "retained")
    for k in keys:
        r = s3.get_object_retention(Bucket=b, Key=k)["Retention"]
        eq((r["Mode"], r["RetainUntilDate"]), ("GOVERNANCE", far), f"retention of {k!r}")
    # shortening GOVERNANCE: refused per task without the bypass, done with it
    _, rows = run(ret("GOVERNANCE", near))
    eq(sorted((r[1], r[4], r[5]) for r in rows["failed"] if r[1] in enc),
       [(k, "403", "AccessDenied") for k in enc], "shortening without bypass")
    _, rows = run(ret("GOVERNANCE", near, BypassGovernanceRetention=True))
    eq(sorted(r[1] for r in rows["succeeded"]), enc, "shortened with bypass")
    eq(s3.get_object_retention(Bucket=b, Key="h1")["Retention"]["RetainUntilDate"], near, "new date")
    # COMPLIANCE: extending works, shortening never does, bypass or not
    run(ret("COMPLIANCE", far))
    _, rows = run(ret("COMPLIANCE", near, BypassGovernanceRetention=True))
    eq(sorted(r[1] for r in rows["failed"] if r[5] == "AccessDenied"), enc, "compliance kept")
    eq(s3.get_object_retention(Bucket=b, Key="h 2")["Retention"]["Mode"], "COMPLIANCE", "mode kept")
    # a date already past fails each task, as PutObjectRetention refuses it
    _, rows = run(ret("GOVERNANCE", now - dt.timedelta(days=1)))
    eq({(r[4], r[5]) for r in rows["failed"] if r[1] in enc}, {("400", "InvalidArgument")}, "past date")

    for op in ({"S3PutObjectLegalHold": {"LegalHold": {"Status": "MAYBE"}}},
               {"S3PutObjectRetention": {"Retention": {"Mode": "GOVERNANCE"}}},
               {"S3PutObjectRetention": {"Retention": {"Mode": "FOREVER", "RetainUntilDate": far}}}):
        expect_client_error("BadRequestException", 400, s3c.create_job, **job_args(man, "m.csv", etag, op))
    d = dir_bucket()
    s3.put_object(Bucket=d, Key="k", Body=b"x")
    detag = put_manifest(d, "m.csv", [manifest_line(d, "k")])
    resp = expect_client_error("BadRequestException", 400, s3c.create_job,
                               **job_args(d, "m.csv", detag, {"S3PutObjectLegalHold": {"LegalHold": {"Status": "ON"}}}))
    check("directory" in resp["Error"]["Message"], resp["Error"]["Message"])


@test
def copy_job_new_tagging_and_object_lock():
    """S3PutObjectCopy's NewObjectTagging and Object Lock parameters, as CopyObject's
    x-amz-tagging (TaggingDirective REPLACE) and x-amz-object-lock-* headers: every copy
    carries the new tag set (the source keeps its own) and the retention and legal hold
    asked for; into a bucket without Object Lock the tasks fail as CopyObject does;
    NewObjectTagging into a directory bucket is refused; DescribeJob echoes them."""
    import datetime as dt
    src, plain, man, rep = gp_bucket(), gp_bucket(), gp_bucket(), gp_bucket()
    dst = uniq("bt")
    s3.create_bucket(Bucket=dst, ObjectLockEnabledForBucket=True)
    keys = ["c1", "c 2"]
    for k in keys:
        s3.put_object(Bucket=src, Key=k, Body=k.encode(), Tagging="old=1")
    etag = put_manifest(man, "m.csv", [manifest_line(src, k) for k in keys])
    until = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(days=1)
    tags = [{"Key": "new", "Value": "yes"}]
    op = {"S3PutObjectCopy": {"TargetResource": f"arn:aws:s3:::{dst}", "TargetKeyPrefix": "n/",
                              "NewObjectTagging": tags, "ObjectLockLegalHoldStatus": "ON",
                              "ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": until}}
    job = wait_job(s3c.create_job(**job_args(man, "m.csv", etag, op, rep))["JobId"])
    eq((job["Status"], job["ProgressSummary"]["NumberOfTasksSucceeded"]), ("Complete", 2), "copied")
    eq(job["Operation"], op, "echoed")
    for k in keys:
        eq(s3.get_object_tagging(Bucket=dst, Key="n/" + k)["TagSet"], tags, f"tags of the copy of {k!r}")
        eq(s3.get_object_tagging(Bucket=src, Key=k)["TagSet"], [{"Key": "old", "Value": "1"}], "source tags")
        h = s3.head_object(Bucket=dst, Key="n/" + k)
        eq((h["ObjectLockMode"], h["ObjectLockRetainUntilDate"], h["ObjectLockLegalHoldStatus"]),
           ("GOVERNANCE", until, "ON"), f"lock of the copy of {k!r}")
        eq(s3.get_object(Bucket=dst, Key="n/" + k)["Body"].read(), k.encode(), "bytes")
    # without NewObjectTagging the source's tags are copied, as before
    op2 = {"S3PutObjectCopy": {"TargetResource": f"arn:aws:s3:::{dst}", "TargetKeyPrefix": "o/"}}
    eq(wait_job(s3c.create_job(**job_args(man, "m.csv", etag, op2))["JobId"])["Status"], "Complete", "plain copy")
    eq(s3.get_object_tagging(Bucket=dst, Key="o/c1")["TagSet"], [{"Key": "old", "Value": "1"}], "copied tags")
    # Object Lock parameters into a bucket without Object Lock: failed tasks, no copies
    op3 = {"S3PutObjectCopy": {"TargetResource": f"arn:aws:s3:::{plain}", "ObjectLockLegalHoldStatus": "ON"}}
    jid = s3c.create_job(**job_args(man, "m.csv", etag, op3, rep))["JobId"]
    eq(wait_job(jid)["ProgressSummary"]["NumberOfTasksFailed"], 2, "failed tasks")
    eq({(r[4], r[5]) for r in read_report(rep, jid)[1]["failed"]}, {("400", "InvalidRequest")}, "why")
    eq(s3.list_objects_v2(Bucket=plain).get("KeyCount"), 0, "nothing copied")
    expect_client_error("BadRequestException", 400, s3c.create_job, **job_args(man, "m.csv", etag, {
        "S3PutObjectCopy": {"TargetResource": f"arn:aws:s3:::{dst}", "ObjectLockMode": "GOVERNANCE"}}))
    d = dir_bucket()
    resp = expect_client_error("BadRequestException", 400, s3c.create_job, **job_args(man, "m.csv", etag, {
        "S3PutObjectCopy": {"TargetResource": f"arn:aws:s3express:us-east-1:{ACCOUNT}:bucket/{d}",
                            "NewObjectTagging": tags}}))
    check("directory" in resp["Error"]["Message"], resp["Error"]["Message"])


@test
def copy_job_replaces_metadata():
    """MetadataDirective REPLACE with NewObjectMetadata, as CopyObject with
    x-amz-metadata-directive REPLACE: every copy has the new standard headers and user
    metadata and none of its source's; a copy onto itself is allowed with REPLACE (and
    refused without it); DescribeJob echoes it; control characters (a header split),
    members quarry does not apply and NewObjectMetadata without REPLACE are refused."""
    import datetime as dt
    b, man, rep = gp_bucket(), gp_bucket(), gp_bucket()
    keys = ["m1", "m 2"]
    for k in keys:
        s3.put_object(Bucket=b, Key=k, Body=k.encode(), ContentType="text/old", Metadata={"old": "1"},
                      CacheControl="no-store")
    etag = put_manifest(man, "m.csv", [manifest_line(b, k) for k in keys])
    expires = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    meta = {"ContentType": "application/x-new", "ContentDisposition": "attachment", "ContentLanguage": "de",
            "HttpExpiresDate": expires, "UserMetadata": {"Color": "blue", "n": "1"}}
    op = {"S3PutObjectCopy": {"TargetResource": f"arn:aws:s3:::{b}", "TargetKeyPrefix": "r/",
                              "MetadataDirective": "REPLACE", "NewObjectMetadata": meta,
                              "CannedAccessControlList": "private", "RequesterPays": True}}
    job = wait_job(s3c.create_job(**job_args(man, "m.csv", etag, op, rep))["JobId"])
    eq((job["Status"], job["ProgressSummary"]["NumberOfTasksSucceeded"]), ("Complete", 2), "copied")
    eq(job["Operation"], op, "echoed")
    for k in keys:
        h = s3.head_object(Bucket=b, Key="r/" + k)
        eq((h["ContentType"], h["ContentDisposition"], h["ContentLanguage"], h["Expires"], h["Metadata"]),
           ("application/x-new", "attachment", "de", expires, {"color": "blue", "n": "1"}), f"copy of {k!r}")
        check("CacheControl" not in h, "the source's Cache-Control is not kept")
        eq(s3.get_object(Bucket=b, Key="r/" + k)["Body"].read(), k.encode(), "bytes")
        eq(s3.head_object(Bucket=b, Key=k)["Metadata"], {"old": "1"}, "the source keeps its own")
    # onto itself: refused as CopyObject refuses it without REPLACE, done with it
    same = {"S3PutObjectCopy": {"TargetResource": f"arn:aws:s3:::{b}"}}
    jid = s3c.create_job(**job_args(man, "m.csv", etag, same, rep))["JobId"]
    eq(wait_job(jid)["ProgressSummary"]["NumberOfTasksFailed"], 2, "self copy without REPLACE")
    eq({(r[4], r[5]) for r in read_report(rep, jid)[1]["failed"]}, {("400", "InvalidRequest")}, "why")
    same["S3PutObjectCopy"].update(MetadataDirective="REPLACE", NewObjectMetadata={"UserMetadata": {"v": "2"}})
    eq(wait_job(s3c.create_job(**job_args(man, "m.csv", etag, same))["JobId"])["Status"], "Complete", "self copy")
    for k in keys:
        h = s3.head_object(Bucket=b, Key=k)
        eq((h["Metadata"], h["ContentType"]), ({"v": "2"}, "binary/octet-stream"), f"{k!r} replaced in place")
    bad = lambda code, status, m, directive="REPLACE": expect_client_error(  # noqa: E731
        code, status, s3c.create_job, **job_args(man, "m.csv", etag, {"S3PutObjectCopy": {
            "TargetResource": f"arn:aws:s3:::{b}", "MetadataDirective": directive, "NewObjectMetadata": m}}))
    bad("BadRequestException", 400, {"ContentType": "text/plain\r\nX-Injected: 1"})
    bad("BadRequestException", 400, {"UserMetadata": {"a b": "x"}})
    bad("BadRequestException", 400, {"UserMetadata": {"k": "v" * 3000}})
    bad("NotImplemented", 501, {"ContentMD5": "x"})
    bad("BadRequestException", 400, {"ContentType": "text/plain"}, directive="COPY")
    expect_client_error("NotImplemented", 501, s3c.create_job, **job_args(man, "m.csv", etag, {
        "S3PutObjectCopy": {"TargetResource": f"arn:aws:s3:::{b}", "CannedAccessControlList": "public-read"}}))
    expect_client_error("NotImplemented", 501, s3c.create_job, **job_args(man, "m.csv", etag, {
        "S3PutObjectCopy": {"TargetResource": f"arn:aws:s3:::{b}", "RedirectLocation": "/x"}}))


@test
def copy_job_source_date_conditions():
    """ModifiedSinceConstraint / UnModifiedSinceConstraint, as CopyObject's
    x-amz-copy-source-if-(un)modified-since, checked against each source when its copy
    commits: a failed condition is a 412 PreconditionFailed task with no copy."""
    import datetime as dt
    b, man, rep = gp_bucket(), gp_bucket(), gp_bucket()
    s3.put_object(Bucket=b, Key="s", Body=b"x")
    etag = put_manifest(man, "m.csv", [manifest_line(b, "s")])
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    past, future = now - dt.timedelta(hours=1), now + dt.timedelta(hours=1)
    cases = [("ModifiedSinceConstraint", past, True), ("ModifiedSinceConstraint", future, False),
             ("UnModifiedSinceConstraint", future, True), ("UnModifiedSinceConstraint", past, False)]
    for i, (name, when, copies) in enumerate(cases):
        op = {"S3PutObjectCopy": {"TargetResource": f"arn:aws:s3:::{b}", "TargetKeyPrefix": f"c{i}/",
                                  name: when}}
        jid = s3c.create_job(**job_args(man, "m.csv", etag, op, rep))["JobId"]
        job = wait_job(jid)
        eq(job["Operation"], op, f"{name} echoed")
        rows = read_report(rep, jid)[1]
        if copies:
            eq(len(rows.get("succeeded", [])), 1, f"{name} {when}: copied")
            eq(s3.get_object(Bucket=b, Key=f"c{i}/s")["Body"].read(), b"x", "bytes")
        else:
            eq([(r[4], r[5]) for r in rows["failed"]], [("412", "PreconditionFailed")], f"{name} {when}")
            expect_client_error("NoSuchKey", 404, s3.get_object, Bucket=b, Key=f"c{i}/s")


@test
def tagging_refused_on_directory_bucket_manifest():
    d, = (dir_bucket(),)
    s3.put_object(Bucket=d, Key="k", Body=b"x")
    etag = put_manifest(d, "m.csv", [manifest_line(d, "k")])
    resp = expect_client_error("BadRequestException", 400, s3c.create_job,
                               **job_args(d, "m.csv", etag, {"S3DeleteObjectTagging": {}}))
    check("directory" in resp["Error"]["Message"], resp["Error"]["Message"])


# ---- state machine ----

@test
def confirmation_suspends_until_ready():
    b, man = gp_bucket(), gp_bucket()
    s3.put_object(Bucket=b, Key="k", Body=b"x")
    etag = put_manifest(man, "m.csv", [manifest_line(b, "k")])
    jid = s3c.create_job(**job_args(man, "m.csv", etag, {"S3DeleteObjectTagging": {}},
                                    ConfirmationRequired=True))["JobId"]
    job = wait_job(jid, ("Suspended", "Failed"))
    eq(job["Status"], "Suspended", "status")
    eq(job["SuspendedCause"], "ConfirmationRequired", "SuspendedCause")
    check("SuspendedDate" in job and "TerminationDate" not in job, "dates while suspended")
    eq(job["ProgressSummary"]["TotalNumberOfTasks"], 1, "tasks counted while preparing")
    r = s3c.update_job_status(AccountId=ACCOUNT, JobId=jid, RequestedJobStatus="Ready",
                              StatusUpdateReason="looks good")
    eq((r["JobId"], r["Status"], r["StatusUpdateReason"]), (jid, "Ready", "looks good"), "reply")
    job = wait_job(jid)
    eq(job["Status"], "Complete", "status")
    eq(job["StatusUpdateReason"], "looks good", "StatusUpdateReason kept")
    expect_client_error("JobStatusException", 409, s3c.update_job_status, AccountId=ACCOUNT,
                        JobId=jid, RequestedJobStatus="Ready")
    expect_client_error("JobStatusException", 409, s3c.update_job_status, AccountId=ACCOUNT,
                        JobId=jid, RequestedJobStatus="Cancelled")


@test
def cancel_suspended_job():
    b, man = gp_bucket(), gp_bucket()
    etag = put_manifest(man, "m.csv", [manifest_line(b, "k")])
    jid = s3c.create_job(**job_args(man, "m.csv", etag, {"S3DeleteObjectTagging": {}},
                                    ConfirmationRequired=True))["JobId"]
    wait_job(jid, ("Suspended",))
    r = s3c.update_job_status(AccountId=ACCOUNT, JobId=jid, RequestedJobStatus="Cancelled",
                              StatusUpdateReason="not today")
    eq(r["Status"], "Cancelled", "status in reply")
    job = s3c.describe_job(AccountId=ACCOUNT, JobId=jid)["Job"]
    eq((job["Status"], job["StatusUpdateReason"]), ("Cancelled", "not today"), "described")
    check("TerminationDate" in job, "TerminationDate")
    expect_client_error("JobStatusException", 409, s3c.update_job_status, AccountId=ACCOUNT,
                        JobId=jid, RequestedJobStatus="Ready")


@test
def cancel_running_lambda_job():
    """Cancelled while Active: Cancelling, then Cancelled once the tasks in flight are done;
    the report holds the lines that ran, each once, and no more."""
    b, man, rep = gp_bucket(), gp_bucket(), gp_bucket()
    fn = deploy(uniq("bt-slow"), "batch_behaviours/lambda_function.py")
    lines = [manifest_line(b, f"slow/{i}") for i in range(1000)]
    etag = put_manifest(man, "m.csv", lines)
    jid = s3c.create_job(**job_args(man, "m.csv", etag, {"LambdaInvoke": {"FunctionArn": fn}},
                                    rep))["JobId"]
    end = time.monotonic() + JOB_DEADLINE_S
    while s3c.describe_job(AccountId=ACCOUNT, JobId=jid)["Job"]["ProgressSummary"].get(
            "NumberOfTasksSucceeded", 0) == 0:
        check(time.monotonic() < end, "no progress")
        time.sleep(0.05)
    r = s3c.update_job_status(AccountId=ACCOUNT, JobId=jid, RequestedJobStatus="Cancelled")
    check(r["Status"] in ("Cancelling", "Cancelled"), f"status {r['Status']}")
    job = wait_job(jid)
    eq(job["Status"], "Cancelled", "final status")
    done = job["ProgressSummary"]["NumberOfTasksSucceeded"]
    check(0 < done < 1000, f"cancelled part way: {done}")
    _, rows = read_report(rep, jid)
    got = [r[1] for r in rows["succeeded"]]
    eq(len(got), done, "report rows = tasks done")
    eq(len(set(got)), len(got), "each line once")


@test
def priority_order():
    """A higher-priority job confirmed while a lower one runs goes ahead of it (the running
    LambdaInvoke window stops sending) and ends first; UpdateJobPriority is what made it the
    higher one."""
    b, man = gp_bucket(), gp_bucket()
    fn = deploy(uniq("bt-prio"), "batch_behaviours/lambda_function.py")
    slow = put_manifest(man, "slow.csv", [manifest_line(b, f"slow/{i}") for i in range(1000)])
    small = put_manifest(man, "small.csv", [manifest_line(b, "o")] * 10)
    low = s3c.create_job(**job_args(man, "slow.csv", slow, {"LambdaInvoke": {"FunctionArn": fn}},
                                    Priority=5))["JobId"]
    high = s3c.create_job(**job_args(man, "small.csv", small, {"S3DeleteObjectTagging": {}},
                                     Priority=1, ConfirmationRequired=True))["JobId"]
    wait_job(high, ("Suspended",))
    r = s3c.update_job_priority(AccountId=ACCOUNT, JobId=high, Priority=100)
    eq((r["JobId"], r["Priority"]), (high, 100), "UpdateJobPriority reply")
    end = time.monotonic() + JOB_DEADLINE_S
    while s3c.describe_job(AccountId=ACCOUNT, JobId=low)["Job"]["ProgressSummary"].get(
            "NumberOfTasksSucceeded", 0) == 0:
        check(time.monotonic() < end, "low priority job made no progress")
        time.sleep(0.02)
    s3c.update_job_status(AccountId=ACCOUNT, JobId=high, RequestedJobStatus="Ready")
    jh = wait_job(high)
    jl = s3c.describe_job(AccountId=ACCOUNT, JobId=low)["Job"]
    eq(jh["Status"], "Complete", "high priority job")
    eq(jh["Priority"], 100, "priority described")
    eq(jl["Status"], "Active", "the low priority job was still running")
    check(jl["ProgressSummary"]["NumberOfTasksSucceeded"] < 1000, "low job not finished")
    eq(wait_job(low)["Status"], "Complete", "low priority job completes after")
    expect_client_error("BadRequestException", 400, s3c.update_job_priority, AccountId=ACCOUNT,
                        JobId=high, Priority=3)


@test
def idempotent_create():
    b, man = gp_bucket(), gp_bucket()
    etag = put_manifest(man, "m.csv", [manifest_line(b, "k")])
    args = job_args(man, "m.csv", etag, {"S3DeleteObjectTagging": {}}, ConfirmationRequired=True)
    a = s3c.create_job(**args)["JobId"]
    eq(s3c.create_job(**args)["JobId"], a, "same token, same request: same job")
    other = dict(args, Priority=99)
    expect_client_error("IdempotencyException", 409, s3c.create_job, **other)
    eq(len(a), 36, "job id is a uuid")


# ---- manifests ----

def failed_job(man, key, etag, fields=("Bucket", "Key")):
    args = job_args(man, key, etag, {"S3DeleteObjectTagging": {}})
    args["Manifest"]["Spec"]["Fields"] = list(fields)
    jid = s3c.create_job(**args)["JobId"]
    job = wait_job(jid)
    eq(job["Status"], "Failed", "status")
    eq(job["ProgressSummary"]["NumberOfTasksSucceeded"], 0, "no task ran")
    check(job.get("FailureReasons"), "FailureReasons present")
    return job["FailureReasons"][0]


@test
def bad_manifests_fail_in_preparing():
    b, man = gp_bucket(), gp_bucket()
    good = put_manifest(man, "good.csv", [manifest_line(b, "k")])
    f = failed_job(man, "good.csv", '"0123456789abcdef0123456789abcdef"')
    check("ETag" in f["FailureReason"], f"wrong ETag: {f}")
    f = failed_job(man, "nothing-here.csv", good)
    check("does not exist" in f["FailureReason"], f"missing manifest: {f}")
    cols = put_manifest(man, "cols.csv", [manifest_line(b, "a"), manifest_line(b, "b"),
                                          f"{b},c,extra"])
    f = failed_job(man, "cols.csv", cols)
    check("line 3" in f["FailureReason"] and "more fields" in f["FailureReason"],
          f"column count: {f}")
    enc = put_manifest(man, "enc.csv", [manifest_line(b, "a"), f"{b},bad%zzkey"])
    f = failed_job(man, "enc.csv", enc)
    check("line 2" in f["FailureReason"] and "percent" in f["FailureReason"], f"encoding: {f}")
    hdr = put_manifest(man, "hdr.csv", ["Bucket,Key", manifest_line(b, "a")])
    f = failed_job(man, "hdr.csv", hdr)
    check("line 1" in f["FailureReason"], f"header line: {f}")
    f = failed_job(man, "good.csv", good, fields=("Bucket", "Key", "VersionId"))
    check("fewer fields" in f["FailureReason"], f"too few columns: {f}")


@test
def manifest_pinned_for_the_jobs_life():
    """Overwriting the manifest after the job was prepared changes nothing for the job."""
    b, man, rep = gp_bucket(), gp_bucket(), gp_bucket()
    for k in ("a", "b"):
        s3.put_object(Bucket=b, Key=k, Body=b"x")
    etag = put_manifest(man, "m.csv", [manifest_line(b, "a"), manifest_line(b, "b")])
    jid = s3c.create_job(**job_args(man, "m.csv", etag, {"S3DeleteObjectTagging": {}}, rep,
                                    ConfirmationRequired=True))["JobId"]
    wait_job(jid, ("Suspended",))
    put_manifest(man, "m.csv", [manifest_line(b, "zzz")] * 5)
    s3c.update_job_status(AccountId=ACCOUNT, JobId=jid, RequestedJobStatus="Ready")
    eq(wait_job(jid)["Status"], "Complete", "status")
    _, rows = read_report(rep, jid)
    eq(sorted(r[1] for r in rows["succeeded"]), ["a", "b"], "the pinned lines ran")


# ---- LambdaInvoke results ----

@test
def lambda_results_every_case():
    """Each documented outcome of a LambdaInvoke task, with schema 1.0 (bucket ARN, no
    user arguments); a function's failures fail tasks, never the job."""
    b, man, rep = gp_bucket(), gp_bucket(), gp_bucket()
    fn = deploy(uniq("bt-beh"), "batch_behaviours/lambda_function.py", Timeout=2)
    kinds = ["ok/1", "ok/a b+c", "temp/1", "perm/1", "missing/1", "raise/1", "crash/1",
             "timeout/1", "garbage/1"]
    lines = [manifest_line(b, k) for k in kinds]
    etag = put_manifest(man, "m.csv", lines)
    jid = s3c.create_job(**job_args(man, "m.csv", etag, {"LambdaInvoke": {"FunctionArn": fn}},
                                    rep))["JobId"]
    job = wait_job(jid)
    eq(job["Status"], "Complete", "status")
    ps = job["ProgressSummary"]
    eq((ps["NumberOfTasksSucceeded"], ps["NumberOfTasksFailed"]), (2, 7), "progress")
    _, rows = read_report(rep, jid)
    by_key = {urllib.parse.unquote_plus(r[1]): r for st in rows.values() for r in st}
    eq(sorted(by_key), sorted(kinds), "every line once")
    ok = json.loads(by_key["ok/a b+c"][6])
    eq((ok["key"], ok["bucket"], ok["v"], ok["ntasks"]),
       (urllib.parse.quote_plus("ok/a b+c"), f"arn:aws:s3:::{b}", "1.0", 1),
       "schema 1.0 event, one task per invocation as on AWS")
    eq(by_key["temp/1"][5], "TemporaryFailure", "temporary failure after retries")
    eq((by_key["perm/1"][5], len(by_key["perm/1"][6])), ("PermanentFailure", 1024),
       "ResultMessage cut to 1024")
    eq(by_key["missing/1"][5], "PermanentFailure", "treatMissingKeysAs")
    for k in ("raise/1", "crash/1", "timeout/1"):
        eq(by_key[k][5], "PermanentFailure", f"{k} code")
        check(by_key[k][6].startswith("Lambda returned function error: "), f"{k}: {by_key[k][6]}")
    check("boom from" in by_key["raise/1"][6], by_key["raise/1"][6])
    check("invalid response" in by_key["garbage/1"][6], by_key["garbage/1"][6])


@test
def lambda_event_strings_escaped():
    """The event carries each task's key and version id exactly as the manifest wrote
    them, JSON-escaped when they need it (a quote, a backslash, raw UTF-8) and written
    as they are otherwise; a result document longer than 4 KiB is read as well as a
    short one."""
    b, man, rep = gp_bucket(), gp_bucket(), gp_bucket()
    fn = deploy(uniq("bt-esc"), "batch_behaviours/lambda_function.py")
    # (key field as written in the CSV, version id field)
    raw = [("ok/plain", ""), ('"ok/say ""hi"" \\ \u00e9t\u00e9"', ""),
           ("ok/v", "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"), ("ok/snow\u2603", '"v""q"'),
           ("big/1", "")]
    lines = [f"{b},{k},{v}" for k, v in raw]
    etag = put_manifest(man, "m.csv", lines)
    args = job_args(man, "m.csv", etag, {"LambdaInvoke": {"FunctionArn": fn,
                                                          "InvocationSchemaVersion": "2.0"}}, rep)
    args["Manifest"]["Spec"]["Fields"] = ["Bucket", "Key", "VersionId"]
    jid = s3c.create_job(**args)["JobId"]
    job = wait_job(jid)
    eq(job["Status"], "Complete", "status")
    eq(job["ProgressSummary"]["NumberOfTasksSucceeded"], len(raw), "every task succeeded")
    _, rows = read_report(rep, jid)
    unq = lambda f: f[1:-1].replace('""', '"') if f.startswith('"') else f  # noqa: E731
    got = {r[1]: r for r in rows["succeeded"]}
    for k, v in raw:
        if k.startswith("big/"):
            eq(got[k][6], "y" * 1024, "a long result document: its resultString cut to 1024")
            continue
        ev = json.loads(got[unq(k)][6])
        eq((ev["key"], ev["version"], ev["bucket"]), (unq(k), unq(v) or None, b),
           f"event strings of {k!r}")


@test
def throttled_function_waited_out():
    """A function with reserved concurrency 1 throttles all but one of the 16 invocations
    the job keeps in flight; throttling is waited out and retried, never a failed task."""
    b, man, rep = gp_bucket(), gp_bucket(), gp_bucket()
    name = uniq("bt-throttle")
    fn = deploy(name, "batch_behaviours/lambda_function.py")
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    keys = [f"slow/{i}" for i in range(30)]
    etag = put_manifest(man, "m.csv", [manifest_line(b, k) for k in keys])
    jid = s3c.create_job(**job_args(man, "m.csv", etag, {"LambdaInvoke": {"FunctionArn": fn}},
                                    rep))["JobId"]
    job = wait_job(jid)
    eq(job["Status"], "Complete", "status")
    eq((job["ProgressSummary"]["NumberOfTasksSucceeded"],
        job["ProgressSummary"]["NumberOfTasksFailed"]), (30, 0), "every task succeeded")
    _, rows = read_report(rep, jid)
    eq(sorted(urllib.parse.unquote_plus(r[1]) for r in rows["succeeded"]), sorted(keys), "rows")


@test
def failure_threshold():
    """More than 50% of at least 1,000 attempted tasks failed: the job ends Failed with
    TaskFailureThresholdExceeded and still writes its report. The opt-in tag
    quarry:failure-threshold-percent=100 keeps such a job running to Complete."""
    b, man, rep = gp_bucket(), gp_bucket(), gp_bucket()
    s3.put_object(Bucket=b, Key="exists", Body=b"x")
    lines = [manifest_line(b, f"missing-{i}") for i in range(1100)] + [manifest_line(b, "exists")]
    etag = put_manifest(man, "m.csv", lines)
    op = {"S3PutObjectCopy": {"TargetResource": f"arn:aws:s3:::{b}", "TargetKeyPrefix": "c/"}}
    jid = s3c.create_job(**job_args(man, "m.csv", etag, op, rep))["JobId"]
    job = wait_job(jid)
    eq(job["Status"], "Failed", "status")
    eq(job["FailureReasons"][0]["FailureCode"], "TaskFailureThresholdExceeded", "code")
    check(job["ProgressSummary"]["NumberOfTasksFailed"] >= 1000, f"{job['ProgressSummary']}")
    _, rows = read_report(rep, jid)
    eq(len(rows["failed"]), job["ProgressSummary"]["NumberOfTasksFailed"], "report of the failed job")
    jid = s3c.create_job(**job_args(man, "m.csv", etag, op, rep, Tags=[
        {"Key": "quarry:failure-threshold-percent", "Value": "100"}]))["JobId"]
    job = wait_job(jid)
    eq(job["Status"], "Complete", "status with the threshold off")
    eq((job["ProgressSummary"]["NumberOfTasksSucceeded"],
        job["ProgressSummary"]["NumberOfTasksFailed"]), (1, 1100), "progress")


@test
def tasks_per_invocation_tag():
    """Opt-in beyond AWS: the job tag quarry:tasks-per-invocation=N sends N tasks per
    event to a function that loops over event['tasks']; each task still gets its own
    result and report row. Without the tag, one task per invocation (checked above)."""
    b, man, rep = gp_bucket(), gp_bucket(), gp_bucket()
    fn = deploy(uniq("bt-many"), "batch_behaviours/lambda_function.py")
    keys = [f"ok/{i}" for i in range(40)] + ["perm/x"]
    etag = put_manifest(man, "m.csv", [manifest_line(b, k) for k in keys])
    op = {"LambdaInvoke": {"FunctionArn": fn, "InvocationSchemaVersion": "2.0",
                           "UserArguments": {"a": "b"}}}
    jid = s3c.create_job(**job_args(man, "m.csv", etag, op, rep,
                                    Tags=[{"Key": "quarry:tasks-per-invocation", "Value": "8"}]))["JobId"]
    job = wait_job(jid)
    eq(job["Status"], "Complete", "status")
    eq((job["ProgressSummary"]["NumberOfTasksSucceeded"],
        job["ProgressSummary"]["NumberOfTasksFailed"]), (40, 1), "progress")
    _, rows = read_report(rep, jid)
    counts = [json.loads(r[6])["ntasks"] for r in rows["succeeded"]]
    check(max(counts) == 8 and all(1 <= c <= 8 for c in counts), f"tasks per event {counts}")
    eq(sorted(urllib.parse.unquote_plus(r[1]) for r in rows["succeeded"]), sorted(keys[:-1]),
       "every task its own row")
    eq(rows["failed"][0][5], "PermanentFailure", "the failed task of a shared event")


@test
def server_flags_set_batch_defaults():
    """`quarry serve --batch-*` sets the defaults of the opt-in job options for every job; a
    job's quarry:* tag still overrides them. Here: 8 tasks per invocation and a failure
    threshold of 100% (never fail) by flag, 1 task per invocation by tag; bad flag values
    are refused at start."""
    global s3, s3c, lam
    saved = (s3, s3c, lam)
    other = QuarryServer(extra_args=["--batch-tasks-per-invocation", "8",
                                     "--batch-failure-threshold", "100"]).start()
    try:
        s3, s3c, lam = other.boto3_client(), control_client(other), other.lambda_client()
        other.lambda_role()
        other.batch_role()
        b, man, rep = gp_bucket(), gp_bucket(), gp_bucket()
        fn = deploy(uniq("bt-flags"), "batch_behaviours/lambda_function.py")
        keys = [f"ok/{i}" for i in range(40)]
        etag = put_manifest(man, "m.csv", [manifest_line(b, k) for k in keys])
        op = {"LambdaInvoke": {"FunctionArn": fn, "InvocationSchemaVersion": "2.0",
                               "UserArguments": {"a": "b"}}}
        for tags, want_max in (([], 8), ([{"Key": "quarry:tasks-per-invocation", "Value": "1"}], 1)):
            jid = s3c.create_job(**job_args(man, "m.csv", etag, op, rep, Tags=tags))["JobId"]
            eq(wait_job(jid)["Status"], "Complete", f"status with tags {tags}")
            _, rows = read_report(rep, jid)
            counts = [json.loads(r[6])["ntasks"] for r in rows["succeeded"]]
            eq((len(counts), max(counts)), (40, want_max), f"tasks per event with tags {tags}")
        # 1,001 failed tasks of 1,001: over AWS's 50% once 1,000 were attempted, yet the
        # flag's 100% lets the job complete
        etag = put_manifest(man, "perm.csv", [manifest_line(b, f"perm/{i}") for i in range(1001)])
        jid = s3c.create_job(**job_args(man, "perm.csv", etag, op))["JobId"]
        job = wait_job(jid)
        eq((job["Status"], job["ProgressSummary"]["NumberOfTasksFailed"]), ("Complete", 1001),
           "threshold 100% by flag")
    finally:
        s3, s3c, lam = saved
        other.close()
    for flag, value in (("--batch-concurrency", "0"), ("--batch-max-retries", "21"),
                        ("--batch-tasks-per-invocation", "65"), ("--batch-failure-threshold", "101")):
        with tempfile.TemporaryDirectory() as d:
            r = subprocess.run([binary_path(), "serve", "--port", "0", "--data", d, flag, value],
                               capture_output=True, timeout=30)
        eq(r.returncode, 2, f"{flag} {value} refused")
        check(f"bad option {flag} {value}".encode() in r.stderr, r.stderr[:200])


@test
def lambda_user_arguments_need_schema_2():
    b, man = gp_bucket(), gp_bucket()
    fn = deploy(uniq("bt-args"), "batch_behaviours/lambda_function.py")
    etag = put_manifest(man, "m.csv", [manifest_line(b, "ok/1")])
    op = {"LambdaInvoke": {"FunctionArn": fn, "InvocationSchemaVersion": "1.0",
                           "UserArguments": {"a": "b"}}}
    expect_client_error("BadRequestException", 400, s3c.create_job,
                        **job_args(man, "m.csv", etag, op))
    op = {"LambdaInvoke": {"FunctionArn": fn + "-nope"}}
    expect_client_error("BadRequestException", 400, s3c.create_job,
                        **job_args(man, "m.csv", etag, op))


# ---- the API's own validation ----

@test
def validation_errors():
    raw = control_client(srv, parameter_validation=False)
    b, man = gp_bucket(), gp_bucket()
    etag = put_manifest(man, "m.csv", [manifest_line(b, "k")])
    base = job_args(man, "m.csv", etag, {"S3DeleteObjectTagging": {}})

    def bad(code, status, **over):
        a = json.loads(json.dumps(base))
        a["ClientRequestToken"] = str(uuid.uuid4())
        for k, v in over.items():
            if v is None:
                a.pop(k, None)
            else:
                a[k] = v
        return expect_client_error(code, status, raw.create_job, **a)

    bad("BadRequestException", 400, RoleArn="not-a-role")
    bad("BadRequestException", 400, ClientRequestToken="t" * 65)
    bad("BadRequestException", 400, Description="d" * 257)
    bad("BadRequestException", 400, Operation={"S3DeleteObjectTagging": {},
                                                "S3PutObjectTagging": {"TagSet": []}})
    r = bad("NotImplemented", 501, Operation={"S3PutObjectAcl": {"AccessControlPolicy": {
        "CannedAccessControlList": "private"}}})
    check("S3PutObjectAcl" in r["Error"]["Message"], r["Error"]["Message"])
    r = bad("NotImplemented", 501, Operation={"S3PutObjectCopy": {
        "TargetResource": f"arn:aws:s3:::{b}", "StorageClass": "GLACIER"}})
    check("StorageClass" in r["Error"]["Message"], r["Error"]["Message"])
    bad("BadRequestException", 400, Operation={"S3PutObjectCopy": {
        "TargetResource": "arn:aws:s3:::no-such-bucket-here"}})
    bad("BadRequestException", 400, Operation={"S3PutObjectTagging": {"TagSet": [
        {"Key": "aws:x", "Value": "y"}]}})
    bad("BadRequestException", 400, Operation={"S3PutObjectTagging": {"TagSet": [
        {"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}})
    bad("BadRequestException", 400, Manifest={"Spec": {"Format": "CSV", "Fields": ["Bucket", "Key"]},
                                              "Location": base["Manifest"]["Location"]})
    bad("BadRequestException", 400, Manifest={"Spec": {"Format": "S3BatchOperations_CSV_20180820",
                                                       "Fields": ["Bucket"]},
                                              "Location": base["Manifest"]["Location"]})
    bad("BadRequestException", 400, Manifest={"Spec": base["Manifest"]["Spec"], "Location": {
        "ObjectArn": "arn:aws:s3:::no-such-bucket-here/m.csv", "ETag": etag}})
    bad("BadRequestException", 400, Report={"Enabled": True, "Format": "Report_CSV_20180820"})
    bad("BadRequestException", 400, Report={"Enabled": True, "Format": "Report_CSV_20180820",
                                            "Bucket": f"arn:aws:s3:::{b}", "ReportScope": "Some"})
    bad("BadRequestException", 400, Report={"Enabled": True, "Format": "Report_CSV_20180820",
                                            "Bucket": "arn:aws:s3:::no-such-bucket-here"})
    bad("TooManyTagsException", 400, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    expect_client_error("AccessDenied", 403, s3c.create_job,
                        **dict(base, AccountId="210987654321", ClientRequestToken="x"))
    expect_client_error("NotFoundException", 404, s3c.describe_job, AccountId=ACCOUNT,
                        JobId="00000000-0000-4000-8000-000000000000")
    expect_client_error("BadRequestException", 400, raw.describe_job, AccountId=ACCOUNT,
                        JobId="bad!id")
    expect_client_error("InvalidRequestException", 400, raw.list_jobs, AccountId=ACCOUNT,
                        JobStatuses=["Sleeping"])
    expect_client_error("InvalidNextTokenException", 400, s3c.list_jobs, AccountId=ACCOUNT,
                        NextToken="not-a-token")
    expect_client_error("BadRequestException", 400, raw.update_job_status, AccountId=ACCOUNT,
                        JobId="00000000-0000-4000-8000-000000000000", RequestedJobStatus="Active")


@test
def unauthenticated_requests_refused():
    """The jobs API is behind SigV4 like every other: a wrong secret and an unsigned
    request are refused before anything is read or created."""
    import urllib.request
    bad = boto3.client("s3control", endpoint_url=srv.control_endpoint,
                       region_name=REGION, aws_access_key_id=srv.access_key,
                       aws_secret_access_key="wrong-secret",
                       config=Config(retries={"total_max_attempts": 1}))
    expect_client_error("SignatureDoesNotMatch", 403, bad.list_jobs, AccountId=ACCOUNT)
    b, man = gp_bucket(), gp_bucket()
    etag = put_manifest(man, "m.csv", [manifest_line(b, "k")])
    expect_client_error("SignatureDoesNotMatch", 403, bad.create_job,
                        **job_args(man, "m.csv", etag, {"S3DeleteObjectTagging": {}}))
    before = [j["JobId"] for j in s3c.list_jobs(AccountId=ACCOUNT)["Jobs"]]
    req = urllib.request.Request(f"http://127.0.0.1:{srv.port}/v20180820/jobs", method="POST",
                                 data=b"<CreateJobRequest/>",
                                 headers={"x-amz-account-id": ACCOUNT})
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("unsigned CreateJob accepted")
    except urllib.error.HTTPError as e:
        eq(e.code, 403, "unsigned request status")
    eq([j["JobId"] for j in s3c.list_jobs(AccountId=ACCOUNT)["Jobs"]], before, "no job created")


@test
def list_jobs_filter_and_pages():
    b, man = gp_bucket(), gp_bucket()
    etag = put_manifest(man, "m.csv", [manifest_line(b, "k")])
    ids = [s3c.create_job(**job_args(man, "m.csv", etag, {"S3DeleteObjectTagging": {}},
                                     ConfirmationRequired=True, Description=f"list {i}"))["JobId"]
           for i in range(3)]
    for i in ids:
        wait_job(i, ("Suspended",))
    seen, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        page = s3c.list_jobs(AccountId=ACCOUNT, JobStatuses=["Suspended"], MaxResults=2, **kw)
        for j in page["Jobs"]:
            eq(j["Status"], "Suspended", "filtered status")
            eq(j["Operation"], "S3DeleteObjectTagging", "Operation name")
            seen.append(j["JobId"])
        token = page.get("NextToken")
        if not token:
            break
    check(set(ids) <= set(seen), "every suspended job listed")
    eq(len(seen), len(set(seen)), "no job listed twice")
    for i in ids:
        s3c.update_job_status(AccountId=ACCOUNT, JobId=i, RequestedJobStatus="Cancelled")
    listed = [j["JobId"] for j in s3c.list_jobs(AccountId=ACCOUNT, JobStatuses=["Cancelled"])["Jobs"]]
    check(set(ids) <= set(listed), "cancelled jobs listed under Cancelled")


@test
def job_tagging():
    b, man = gp_bucket(), gp_bucket()
    etag = put_manifest(man, "m.csv", [manifest_line(b, "k")])
    jid = s3c.create_job(**job_args(man, "m.csv", etag, {"S3DeleteObjectTagging": {}},
                                    ConfirmationRequired=True,
                                    Tags=[{"Key": "team", "Value": "data"}]))["JobId"]
    eq(s3c.get_job_tagging(AccountId=ACCOUNT, JobId=jid)["Tags"], [{"Key": "team", "Value": "data"}],
       "tags from CreateJob")
    s3c.put_job_tagging(AccountId=ACCOUNT, JobId=jid, Tags=[{"Key": "a", "Value": "1"},
                                                            {"Key": "b", "Value": ""}])
    eq(s3c.get_job_tagging(AccountId=ACCOUNT, JobId=jid)["Tags"],
       [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": ""}], "replaced")
    expect_client_error("TooManyTagsException", 400, s3c.put_job_tagging, AccountId=ACCOUNT,
                        JobId=jid, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    s3c.delete_job_tagging(AccountId=ACCOUNT, JobId=jid)
    eq(s3c.get_job_tagging(AccountId=ACCOUNT, JobId=jid).get("Tags", []), [], "deleted")
    expect_client_error("NotFoundException", 404, s3c.get_job_tagging, AccountId=ACCOUNT,
                        JobId="00000000-0000-4000-8000-000000000000")


# ---- durability ----

def crash_mid_job(server, ctl, jid, at_least):
    """kill -9 once the job has at least at_least tasks done and is not finished; restart."""
    end = time.monotonic() + JOB_DEADLINE_S
    while True:
        job = ctl.describe_job(AccountId=ACCOUNT, JobId=jid)["Job"]
        if job["ProgressSummary"].get("NumberOfTasksSucceeded", 0) >= at_least:
            break
        check(job["Status"] not in ("Complete", "Failed"), f"job ended before the crash: {job}")
        check(time.monotonic() < end, "job made no progress")
        time.sleep(0.01)
    server.kill9()
    server.restart()
    ctl = control_client(server)
    job = ctl.describe_job(AccountId=ACCOUNT, JobId=jid)["Job"]
    check(job["Status"] != "Complete", f"the crash came mid-job: {job['ProgressSummary']}")
    return ctl


@test
def kill9_mid_job_resumes():
    """kill -9 in the middle of a LambdaInvoke job and of a 100,000-task copy job: after the
    restart both complete and their reports list every manifest line exactly once."""
    with QuarryServer(fsync=True) as server:
        c, ctl, fl = server.boto3_client(), control_client(server), server.lambda_client()
        server.lambda_role()
        server.batch_role()
        b, man, rep = gp_bucket(c), gp_bucket(c), gp_bucket(c)
        src = open(os.path.join(FIXTURES, "batch_behaviours/lambda_function.py"), "rb").read()
        name = uniq("bt-crash")
        fl.create_function(FunctionName=name, Runtime="python3.11", Role=FN_ROLE,
                           Handler="lambda_function.lambda_handler", Timeout=30,
                           Code={"ZipFile": build_zip({"lambda_function.py": src})})
        fn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        # slow/ tasks (0.1 s each) keep the job running long after the first 64 are done,
        # however fast invocations are, so the crash below always comes mid-job
        lam_lines = ([manifest_line(b, f"ok/{i}") for i in range(100)] +
                     [manifest_line(b, f"slow/{i}") for i in range(500)])
        lam_etag = put_manifest(man, "lam.csv", lam_lines, client=c)
        for i in range(50):
            c.put_object(Bucket=b, Key=f"o{i}", Body=b"y" * i)
        copy_lines = [manifest_line(b, f"o{i % 50}") for i in range(100000)]
        copy_etag = put_manifest(man, "copy.csv", copy_lines, client=c)
        j1 = ctl.create_job(**job_args(man, "lam.csv", lam_etag,
                                       {"LambdaInvoke": {"FunctionArn": fn}}, rep))["JobId"]
        j2 = ctl.create_job(**job_args(man, "copy.csv", copy_etag, {"S3PutObjectCopy": {
            "TargetResource": f"arn:aws:s3:::{b}", "TargetKeyPrefix": "dst/"}}, rep,
            Priority=1))["JobId"]
        ctl = crash_mid_job(server, ctl, j1, 64)
        eq(wait_job(j1, client=ctl)["Status"], "Complete", "lambda job after restart")
        ctl = crash_mid_job(server, ctl, j2, 1000)
        for jid, lines in ((j1, lam_lines), (j2, copy_lines)):
            job = wait_job(jid, client=ctl)
            eq(job["Status"], "Complete", f"job {jid} after restart")
            ps = job["ProgressSummary"]
            if ps["NumberOfTasksFailed"]:
                base = f"ReportPrefix/job-{jid}/"
                m = json.loads(c.get_object(Bucket=rep, Key=base + "manifest.json")["Body"].read())
                for r in m["Results"]:
                    if r["TaskExecutionStatus"] == "failed":
                        print(c.get_object(Bucket=rep, Key=r["Key"])["Body"].read()[:2000])
            eq((ps["NumberOfTasksSucceeded"], ps["NumberOfTasksFailed"]), (len(lines), 0),
               "every task once")
            base = f"ReportPrefix/job-{jid}/"
            m = json.loads(c.get_object(Bucket=rep, Key=base + "manifest.json")["Body"].read())
            eq([r["TaskExecutionStatus"] for r in m["Results"]], ["succeeded"], "one file")
            data = c.get_object(Bucket=rep, Key=m["Results"][0]["Key"])["Body"].read().decode()
            got = [",".join(r[:2]) for r in csv.reader(io.StringIO(data))]
            eq(sorted(got), sorted(lines), "report lines = manifest lines, each once")


# ---- the aws CLI v1 ----

def aws_cli(args, home):
    env = srv.client_env(home)
    env["AWS_ENDPOINT_URL_S3_CONTROL"] = srv.control_endpoint
    p = subprocess.run(["aws"] + args + ["--output", "json"], capture_output=True, env=env,
                       timeout=120)
    check(p.returncode == 0, f"aws {' '.join(args[:2])}: {p.stderr.decode()[-800:]}")
    return json.loads(p.stdout) if p.stdout.strip() else {}


@test
def walkthrough_aws_cli():
    """The walkthrough's create-job command line, as the issue gives it, with the aws CLI v1
    and AWS_ENDPOINT_URL_S3_CONTROL=http://localhost:PORT; then describe-job until Complete."""
    src, dst, man, rep = dir_bucket(), dir_bucket(), gp_bucket(), gp_bucket()
    keys = ["cli one.txt", "cli+two.txt", "clï/three#.txt"]
    for k in keys:
        s3.put_object(Bucket=src, Key=k, Body=k.encode())
    etag = put_manifest(man, "m.csv", [manifest_line(src, k) for k in keys])
    fn_name = uniq("s3batchops-function")
    fn = deploy(fn_name, "batch_walkthrough/lambda_function.py")
    op = {"LambdaInvoke": {"FunctionArn": fn, "InvocationSchemaVersion": "2.0",
                           "UserArguments": {"MyDestinationBucket": dst,
                                             "MyDestinationBucketRegion": REGION,
                                             "MyDestinationPrefix": "copied/",
                                             "MyDestinationObjectKeySuffix": "_new_suffix"}}}
    manifest = {"Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
                "Location": {"ObjectArn": f"arn:aws:s3:::{man}/m.csv", "ETag": etag}}
    report = {"Bucket": f"arn:aws:s3:::{rep}", "Format": "Report_CSV_20180820", "Enabled": True,
              "Prefix": "ReportPrefix", "ReportScope": "AllTasks"}
    with tempfile.TemporaryDirectory() as home:
        out = aws_cli(["s3control", "create-job", "--account-id", ACCOUNT,
                       "--operation", json.dumps(op), "--manifest", json.dumps(manifest),
                       "--priority", "1", "--role-arn", ROLE, "--no-confirmation-required",
                       "--report", json.dumps(report)], home)
        jid = out["JobId"]
        end = time.monotonic() + JOB_DEADLINE_S
        while True:
            job = aws_cli(["s3control", "describe-job", "--account-id", ACCOUNT, "--job-id", jid],
                          home)["Job"]
            if job["Status"] in ("Complete", "Failed", "Cancelled"):
                break
            check(time.monotonic() < end, f"job still {job['Status']}")
            time.sleep(0.1)
        eq(job["Status"], "Complete", "status")
        listed = aws_cli(["s3control", "list-jobs", "--account-id", ACCOUNT,
                          "--job-statuses", "Complete"], home)["Jobs"]
        check(jid in [j["JobId"] for j in listed], "list-jobs shows the job")
    for k in keys:
        eq(s3.get_object(Bucket=dst, Key=f"copied/{k}_new_suffix")["Body"].read(), k.encode(),
           f"copy of {k!r}")
    _, rows = read_report(rep, jid)
    eq(sorted(r[1] for r in rows["succeeded"]), sorted(urllib.parse.quote_plus(k) for k in keys),
       "report rows")


# ---- tasks run as the job's role ----

def _role(name, statements):
    iam = srv.iam_client()
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "batchoperations.s3.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": statements}))
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


@test
def job_role_without_invoke_gives_access_denied_tasks():
    """A job whose role lacks lambda:InvokeFunction: every task AccessDenied in the report,
    and the function never runs (it would write to the bucket)."""
    b, man, rep = gp_bucket(), gp_bucket(), gp_bucket()
    for i in range(3):
        s3.put_object(Bucket=b, Key=f"o{i}", Body=b"x")
    fn = deploy(uniq("bt-denied"), "batch_walkthrough/lambda_function.py")
    role = _role(uniq("no-invoke"), [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}])
    etag = put_manifest(man, "m.csv", [manifest_line(b, f"o{i}") for i in range(3)])
    op = {"LambdaInvoke": {"FunctionArn": fn, "InvocationSchemaVersion": "2.0",
                           "UserArguments": {"MyDestinationBucket": b,
                                             "MyDestinationBucketRegion": REGION,
                                             "MyDestinationPrefix": "copied/",
                                             "MyDestinationBucketType": "General"}}}
    jid = s3c.create_job(**job_args(man, "m.csv", etag, op, rep, RoleArn=role))["JobId"]
    job = wait_job(jid)
    eq(job["ProgressSummary"].get("NumberOfTasksFailed"), 3, f"tasks failed: {job}")
    _, rows = read_report(rep, jid)
    failed = rows.get("failed", [])
    eq(len(failed), 3, f"report rows {rows}")
    check(all("AccessDenied" in r for r in failed), f"AccessDenied rows: {failed}")
    eq(s3.list_objects_v2(Bucket=b, Prefix="copied/").get("KeyCount"), 0, "the function never ran")


@test
def copy_job_role_cannot_write_destination():
    src, dst, man, rep = gp_bucket(), gp_bucket(), gp_bucket(), gp_bucket()
    s3.put_object(Bucket=src, Key="a", Body=b"a")
    role = _role(uniq("read-only"), [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                                      "Resource": [f"arn:aws:s3:::{src}/*", f"arn:aws:s3:::{rep}/*",
                                                   f"arn:aws:s3:::{man}/*"]}])
    etag = put_manifest(man, "m.csv", [manifest_line(src, "a")])
    op = {"S3PutObjectCopy": {"TargetResource": f"arn:aws:s3:::{dst}"}}
    jid = s3c.create_job(**job_args(man, "m.csv", etag, op, rep, RoleArn=role))["JobId"]
    job = wait_job(jid)
    eq(job["ProgressSummary"].get("NumberOfTasksFailed"), 1, f"{job}")
    eq(s3.list_objects_v2(Bucket=dst).get("KeyCount"), 0, "nothing copied")


@test
def read_only_user_cannot_create_jobs():
    iam = srv.iam_client()
    name = uniq("ro")
    iam.create_user(UserName=name)
    iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    k = iam.create_access_key(UserName=name)["AccessKey"]
    c = boto3.client("s3control", endpoint_url=srv.control_endpoint, region_name=REGION,
                     aws_access_key_id=k["AccessKeyId"], aws_secret_access_key=k["SecretAccessKey"],
                     config=Config(retries={"total_max_attempts": 1}))
    b = gp_bucket()
    etag = put_manifest(b, "m.csv", [manifest_line(b, "m.csv")])
    code, st, r = client_error(c.create_job, **job_args(b, "m.csv", etag, {
        "S3PutObjectTagging": {"TagSet": [{"Key": "k", "Value": "v"}]}}))
    eq((code, st), ("AccessDenied", 403), "CreateJob")
    check("s3:CreateJob" in r["Error"]["Message"], r["Error"]["Message"])
    eq(s3c.list_jobs(AccountId=ACCOUNT).get("Jobs") is not None, True, "root still lists")
    # a role that does not exist, or does not trust Batch Operations, is refused at CreateJob
    for role in (f"arn:aws:iam::{ACCOUNT}:role/{uniq('missing')}", FN_ROLE):
        code, st, _ = client_error(s3c.create_job, **job_args(b, "m.csv", etag, {
            "S3PutObjectTagging": {"TagSet": [{"Key": "k", "Value": "v"}]}}, RoleArn=role))
        eq((code, st), ("BadRequestException", 400), f"RoleArn {role}")


@test
def copy_job_with_requests_keeps_wal_bounded():
    """A 60,000-task copy job while a client PUTs: the job completes (the writer pauses its
    bulk work for the checkpoint thread's WAL restart and resumes it), the PUTs are all
    answered and readable, and the WAL keeps starting over instead of growing with the
    job: sampled throughout, at most 12 MiB (the writer asks for a restart past 4 MiB;
    without those restarts this job's WAL reaches about 18 MiB)."""
    src, dst, man = gp_bucket(), gp_bucket(), gp_bucket()
    for i in range(100):
        s3.put_object(Bucket=src, Key=f"s/{i:03d}", Body=b"x" * 100)
    n = 60000
    lines = [manifest_line(src, f"s/{i % 100:03d}") for i in range(n)]
    etag = put_manifest(man, "m.csv", lines)
    op = {"S3PutObjectCopy": {"TargetResource": f"arn:aws:s3:::{dst}",
                              "TargetKeyPrefix": "c/"}}
    wal = os.path.join(srv.data, "meta.db-wal")
    jid = s3c.create_job(**job_args(man, "m.csv", etag, op))["JobId"]
    biggest, puts = 0, 0
    end = time.monotonic() + JOB_DEADLINE_S
    while True:
        check(time.monotonic() < end, f"job {jid} not done after {JOB_DEADLINE_S}s")
        s3.put_object(Bucket=dst, Key=f"p/{puts:05d}", Body=b"p" * 4096)
        puts += 1
        biggest = max(biggest, os.path.getsize(wal) if os.path.exists(wal) else 0)
        job = s3c.describe_job(AccountId=ACCOUNT, JobId=jid)["Job"]
        if job["Status"] in ("Complete", "Failed", "Cancelled"):
            break
    eq(job["Status"], "Complete", f"{job}")
    eq(job["ProgressSummary"]["NumberOfTasksSucceeded"], n, "tasks succeeded")
    listed = s3.list_objects_v2(Bucket=dst, Prefix="p/", MaxKeys=1000)["KeyCount"]
    eq(listed, min(puts, 1000), "PUTs during the job listed")
    check(biggest < 12 << 20, f"WAL reached {biggest} bytes during the job ({puts} PUTs)")
    print(f"  WAL at most {biggest >> 10} KiB, {puts} PUTs during the job")


if __name__ == "__main__":
    run(setup=setup, teardown=teardown)
