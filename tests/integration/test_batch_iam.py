#!/usr/bin/env python3
"""test_batch_iam.py - S3 Batch Operations under IAM, through stock boto3 against a real
quarry: a job runs as its RoleArn (every task, the manifest read, the report write), and the
S3 Control API is authorized like every other API (s3:CreateJob, s3:DescribeJob, ... and
iam:PassRole on the job's role, which must trust batchoperations.s3.amazonaws.com).

Each attack is tried and seen refused: a role without lambda:InvokeFunction, a role that
cannot write the copy's destination (general purpose, or a directory bucket without a
ReadWrite session), a role that cannot read an object to checksum, a role that cannot read
the manifest or write the report, a role that may read an inventory's manifest.json but
not its data files, a generator's role that may not list the source bucket or write the
generated manifest, a deleted role, a user without
iam:PassRole, a role Batch Operations may not assume, a read-only user, users whose
policies condition job actions on the job condition keys (s3:RequestJobPriority,
s3:RequestJobOperation, s3:ExistingJobPriority, s3:ExistingJobOperation,
s3:JobSuspendedCause, and the request's tags) and ask beyond them; and the AWS walkthrough still runs end to end
with the walkthrough's own narrow roles.
"""

import csv
import gzip
import hashlib
import io
import json
import time
import uuid

import boto3
from botocore.config import Config

from harness import check, eq, expect_client_error, run, test
from quarry_server import ACCOUNT, DIR_CFG, REGION, QuarryServer, build_zip
import os
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "lambda_fixtures")
BATCH_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "batchoperations.s3.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}
LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}

srv = s3 = s3c = lam = iam = None


def control_client(key=None, secret=None, validate=True):
    return boto3.client("s3control", endpoint_url=srv.control_endpoint,
                        region_name=REGION, aws_access_key_id=key or srv.access_key,
                        aws_secret_access_key=secret or srv.secret_key,
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=60,
                                      parameter_validation=validate))


def setup():
    global srv, s3, s3c, lam, iam
    srv = QuarryServer().start()
    s3, s3c, lam, iam = srv.boto3_client(), control_client(), srv.lambda_client(), srv.iam_client()


def teardown():
    if srv is not None:
        srv.close()


def uniq(p):
    return f"{p}-{uuid.uuid4().hex[:8]}"


def gp_bucket():
    b = uniq("bi")
    s3.create_bucket(Bucket=b)
    return b


def dir_bucket():
    b = f"{uniq('bi')}--use1-az4--x-s3"
    s3.create_bucket(Bucket=b, CreateBucketConfiguration=DIR_CFG)
    return b


def role(name, statements, trust=BATCH_TRUST):
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": statements}))
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def allow(actions, resources):
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


def user(name, statements=(), managed=()):
    iam.create_user(UserName=name)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": list(statements)}))
    for arn in managed:
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return control_client(k["AccessKeyId"], k["SecretAccessKey"])


def job_args(man, key, etag, operation, role_arn, report=None):
    return {
        "AccountId": ACCOUNT, "ConfirmationRequired": False, "Operation": operation,
        "Manifest": {"Spec": {"Format": "S3BatchOperations_CSV_20180820",
                              "Fields": ["Bucket", "Key"]},
                     "Location": {"ObjectArn": f"arn:aws:s3:::{man}/{key}", "ETag": etag}},
        "Priority": 10, "RoleArn": role_arn, "ClientRequestToken": str(uuid.uuid4()),
        "Report": ({"Bucket": f"arn:aws:s3:::{report}", "Format": "Report_CSV_20180820",
                    "Enabled": True, "Prefix": "ReportPrefix", "ReportScope": "AllTasks"}
                   if report else {"Enabled": False}),
    }


def put_manifest(man, key, lines):
    return s3.put_object(Bucket=man, Key=key, Body=("\n".join(lines) + "\n").encode())["ETag"]


def wait_job(jid, client=None):
    end = time.monotonic() + 120
    while True:
        job = (client or s3c).describe_job(AccountId=ACCOUNT, JobId=jid)["Job"]
        if job["Status"] in ("Complete", "Failed", "Cancelled"):
            return job
        check(time.monotonic() < end, f"job {jid} still {job['Status']}")
        time.sleep(0.05)


def report_rows(rep, jid):
    m = json.loads(s3.get_object(Bucket=rep, Key=f"ReportPrefix/job-{jid}/manifest.json")
                   ["Body"].read())
    rows = {}
    for r in m["Results"]:
        data = s3.get_object(Bucket=rep, Key=r["Key"])["Body"].read().decode()
        rows[r["TaskExecutionStatus"]] = list(csv.reader(io.StringIO(data)))
    return rows


def deploy(name, fn_role):
    src = open(os.path.join(FIXTURES, "batch_walkthrough/lambda_function.py"), "rb").read()
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=fn_role,
                        Handler="lambda_function.lambda_handler", Timeout=30,
                        Code={"ZipFile": build_zip({"lambda_function.py": src})})
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def walkthrough_op(fn, dst):
    return {"LambdaInvoke": {"FunctionArn": fn, "InvocationSchemaVersion": "2.0",
                             "UserArguments": {"MyDestinationBucket": dst,
                                               "MyDestinationBucketRegion": REGION,
                                               "MyDestinationPrefix": "copied/",
                                               "MyDestinationObjectKeySuffix": "_new"}}}


def denied_message(role_name, jid, action, resource):
    return (f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/s3-batch-operations-{jid} "
            f"is not authorized to perform: {action} on resource: {resource} because no "
            f"identity-based policy allows the {action} action")


# ---- a job runs as its role ----

@test
def role_without_invoke_denies_every_task():
    """The job's role may read the manifest and write the report but not invoke the function:
    every task is failed AccessDenied (403, AWS's message) in the report and the function
    never ran (its copies never appear)."""
    src, dst, man, rep = dir_bucket(), dir_bucket(), gp_bucket(), gp_bucket()
    keys = ["a.txt", "b c.txt", "d+e.txt"]
    for k in keys:
        s3.put_object(Bucket=src, Key=k, Body=k.encode())
    etag = put_manifest(man, "m.csv", [f"{src},{urllib.parse.quote_plus(k)}" for k in keys])
    fn_role = role(uniq("fnrole"), [allow("s3express:CreateSession", "*")], LAMBDA_TRUST)
    fn = deploy(uniq("noinv"), fn_role)
    name = uniq("noinvoke")
    arn = role(name, [allow("s3:GetObject", f"arn:aws:s3:::{man}/*"),
                      allow("s3:PutObject", f"arn:aws:s3:::{rep}/*")])
    jid = s3c.create_job(**job_args(man, "m.csv", etag, walkthrough_op(fn, dst), arn,
                                    rep))["JobId"]
    job = wait_job(jid)
    eq(job["Status"], "Complete", "status")
    eq(job["ProgressSummary"]["NumberOfTasksFailed"], len(keys), "failed tasks")
    eq(job["ProgressSummary"]["NumberOfTasksSucceeded"], 0, "succeeded tasks")
    rows = report_rows(rep, jid)
    eq(list(rows), ["failed"], "only a failed file")
    for r in rows["failed"]:
        eq((r[3], r[4], r[5]), ("failed", "403", "AccessDenied"), f"row {r}")
        eq(r[6], denied_message(name, jid, "lambda:InvokeFunction", fn), "message")
    eq(s3.list_objects_v2(Bucket=dst).get("KeyCount", 0), 0, "the function never ran")


@test
def copy_role_cannot_write_destination():
    """A copy job whose role may read the sources but not write the destination bucket:
    AccessDenied tasks naming s3:PutObject on the destination key, nothing written."""
    b, dst, man, rep = gp_bucket(), gp_bucket(), gp_bucket(), gp_bucket()
    for i in range(5):
        s3.put_object(Bucket=b, Key=f"o{i}", Body=b"x" * i)
    etag = put_manifest(man, "m.csv", [f"{b},o{i}" for i in range(5)])
    name = uniq("nowrite")
    arn = role(name, [allow("s3:GetObject", "*"), allow("s3:PutObject", f"arn:aws:s3:::{rep}/*")])
    jid = s3c.create_job(**job_args(man, "m.csv", etag, {"S3PutObjectCopy": {
        "TargetResource": f"arn:aws:s3:::{dst}", "TargetKeyPrefix": "cp/"}}, arn, rep))["JobId"]
    job = wait_job(jid)
    eq((job["Status"], job["ProgressSummary"]["NumberOfTasksFailed"]), ("Complete", 5), "job")
    rows = report_rows(rep, jid)["failed"]
    eq(len(rows), 5, "failed rows")
    for r in rows:
        eq((r[4], r[5]), ("403", "AccessDenied"), f"row {r}")
        eq(r[6], denied_message(name, jid, "s3:PutObject", f"arn:aws:s3:::{dst}/cp/{r[1]}"),
           "message")
    eq(s3.list_objects_v2(Bucket=dst).get("KeyCount", 0), 0, "nothing written")
    # The same job with a role that may write the destination copies everything.
    ok = role(uniq("canwrite"), [allow("s3:GetObject", "*"), allow("s3:PutObject", "*")])
    jid = s3c.create_job(**job_args(man, "m.csv", etag, {"S3PutObjectCopy": {
        "TargetResource": f"arn:aws:s3:::{dst}", "TargetKeyPrefix": "cp/"}}, ok, rep))["JobId"]
    eq(wait_job(jid)["ProgressSummary"]["NumberOfTasksSucceeded"], 5, "allowed role copies")
    eq(s3.list_objects_v2(Bucket=dst)["KeyCount"], 5, "copies written")


@test
def copy_into_directory_bucket_needs_read_write_session():
    """A directory-bucket destination is decided as AWS decides zonal writes:
    s3express:CreateSession on the bucket in ReadWrite mode. A role limited to ReadOnly
    sessions there gets AccessDenied tasks naming s3express:CreateSession; nothing is
    written."""
    b, dst, man, rep = gp_bucket(), dir_bucket(), gp_bucket(), gp_bucket()
    s3.put_object(Bucket=b, Key="o", Body=b"x")
    etag = put_manifest(man, "m.csv", [f"{b},o"])
    dst_arn = f"arn:aws:s3express:{REGION}:{ACCOUNT}:bucket/{dst}"
    name = uniq("readonlysession")
    arn = role(name, [allow(["s3:GetObject", "s3:PutObject"], "*"),
                      {"Effect": "Allow", "Action": "s3express:CreateSession", "Resource": dst_arn,
                       "Condition": {"StringEquals": {"s3express:SessionMode": "ReadOnly"}}}])
    op = {"S3PutObjectCopy": {"TargetResource": dst_arn, "TargetKeyPrefix": "c/"}}
    jid = s3c.create_job(**job_args(man, "m.csv", etag, op, arn, rep))["JobId"]
    eq(wait_job(jid)["ProgressSummary"]["NumberOfTasksFailed"], 1, "denied")
    row = report_rows(rep, jid)["failed"][0]
    eq((row[4], row[5]), ("403", "AccessDenied"), "row")
    eq(row[6], denied_message(name, jid, "s3express:CreateSession", dst_arn), "message")
    eq(s3.list_objects_v2(Bucket=dst).get("KeyCount", 0), 0, "nothing written")


@test
def checksum_job_needs_get_object():
    """S3ComputeObjectChecksum reads each object as the role: s3:GetObject allowed on one
    prefix only, the other object's task is AccessDenied and has no checksum."""
    b, man, rep = gp_bucket(), gp_bucket(), gp_bucket()
    s3.put_object(Bucket=b, Key="open/a", Body=b"a")
    s3.put_object(Bucket=b, Key="closed/b", Body=b"b")
    etag = put_manifest(man, "m.csv", [f"{b},open/a", f"{b},closed/b"])
    name = uniq("cksum")
    arn = role(name, [allow("s3:GetObject", [f"arn:aws:s3:::{b}/open/*", f"arn:aws:s3:::{man}/*"]),
                      allow("s3:PutObject", f"arn:aws:s3:::{rep}/*")])
    op = {"S3ComputeObjectChecksum": {"ChecksumAlgorithm": "CRC32", "ChecksumType": "FULL_OBJECT"}}
    jid = s3c.create_job(**job_args(man, "m.csv", etag, op, arn, rep))["JobId"]
    wait_job(jid)
    rows = report_rows(rep, jid)
    eq([r[1] for r in rows["succeeded"]], ["open/a"], "allowed object")
    eq([(r[1], r[4], r[5]) for r in rows["failed"]], [("closed/b", "403", "AccessDenied")],
       "denied object")
    eq(rows["failed"][0][6], denied_message(name, jid, "s3:GetObject",
                                            f"arn:aws:s3:::{b}/closed/b"), "message")


@test
def lock_jobs_need_their_actions():
    """S3PutObjectLegalHold runs as the role with s3:PutObjectLegalHold; S3PutObjectRetention
    with s3:PutObjectRetention, and with BypassGovernanceRetention also
    s3:BypassGovernanceRetention, as PutObjectRetention with the bypass header needs both."""
    import datetime as dt
    b, man, rep = uniq("lk"), gp_bucket(), gp_bucket()
    s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    s3.put_object(Bucket=b, Key="k", Body=b"x")
    etag = put_manifest(man, "m.csv", [f"{b},k"])
    when = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(days=1)
    base = [allow("s3:GetObject", f"arn:aws:s3:::{man}/*"), allow("s3:PutObject", f"arn:aws:s3:::{rep}/*")]
    name = uniq("lock")
    arn = role(name, base + [allow("s3:PutObjectRetention", f"arn:aws:s3:::{b}/*")])
    hold = {"S3PutObjectLegalHold": {"LegalHold": {"Status": "ON"}}}
    ret = {"S3PutObjectRetention": {"BypassGovernanceRetention": True,
                                    "Retention": {"Mode": "GOVERNANCE", "RetainUntilDate": when}}}
    for op, action in ((hold, "s3:PutObjectLegalHold"), (ret, "s3:BypassGovernanceRetention")):
        jid = s3c.create_job(**job_args(man, "m.csv", etag, op, arn, rep))["JobId"]
        wait_job(jid)
        rows = report_rows(rep, jid)
        eq([(r[1], r[4], r[5]) for r in rows["failed"]], [("k", "403", "AccessDenied")], action)
        eq(rows["failed"][0][6], denied_message(name, jid, action, f"arn:aws:s3:::{b}/k"), "message")
    eq(s3.get_object_legal_hold(Bucket=b, Key="k")["LegalHold"]["Status"], "OFF", "no hold")
    expect_client_error("NoSuchObjectLockConfiguration", 404, s3.get_object_retention, Bucket=b, Key="k")
    del ret["S3PutObjectRetention"]["BypassGovernanceRetention"]
    jid = s3c.create_job(**job_args(man, "m.csv", etag, ret, arn, rep))["JobId"]
    eq(wait_job(jid)["ProgressSummary"]["NumberOfTasksSucceeded"], 1, "retention without bypass")
    eq(s3.get_object_retention(Bucket=b, Key="k")["Retention"]["Mode"], "GOVERNANCE", "retained")


@test
def role_cannot_read_manifest():
    """A role that may not read the manifest fails the job in Preparing with a reason; no
    task runs."""
    b, man = gp_bucket(), gp_bucket()
    s3.put_object(Bucket=b, Key="k", Body=b"v")
    etag = put_manifest(man, "m.csv", [f"{b},k"])
    arn = role(uniq("noread"), [allow("s3:PutObjectTagging", "*")])
    jid = s3c.create_job(**job_args(man, "m.csv", etag, {"S3DeleteObjectTagging": {}},
                                    arn))["JobId"]
    job = wait_job(jid)
    eq(job["Status"], "Failed", "status")
    reasons = [f["FailureReason"] for f in job.get("FailureReasons", [])]
    check(any("Reading the manifest is forbidden" in r for r in reasons), f"reasons {reasons}")
    eq(job["ProgressSummary"]["NumberOfTasksSucceeded"] +
       job["ProgressSummary"]["NumberOfTasksFailed"], 0, "no task ran")


@test
def role_cannot_write_report():
    """A role that may run the tasks but not write the report bucket fails the job."""
    b, man, rep = gp_bucket(), gp_bucket(), gp_bucket()
    s3.put_object(Bucket=b, Key="k", Body=b"v")
    etag = put_manifest(man, "m.csv", [f"{b},k"])
    arn = role(uniq("noreport"), [allow(["s3:GetObject", "s3:DeleteObjectTagging"], "*")])
    jid = s3c.create_job(**job_args(man, "m.csv", etag, {"S3DeleteObjectTagging": {}}, arn,
                                    rep))["JobId"]
    job = wait_job(jid)
    eq(job["Status"], "Failed", "status")
    reasons = [f["FailureReason"] for f in job.get("FailureReasons", [])]
    check(any("report" in r and "AccessDenied" in r for r in reasons), f"reasons {reasons}")
    eq(s3.list_objects_v2(Bucket=rep).get("KeyCount", 0), 0, "no report written")


# ---- preparation reads and writes as the role: inventory data files, generator ----

def failure_reasons(job):
    return [(f["FailureCode"], f["FailureReason"]) for f in job.get("FailureReasons", [])]


def inventory_manifest(src, inv, keys, data_bucket=None):
    """An S3InventoryReport_CSV_20161130 manifest in inv listing src's keys in one gzipped
    data file under data/ of data_bucket (inv by default); returns (manifest.json key, its
    ETag)."""
    data_bucket = data_bucket or inv
    body = gzip.compress("".join(f'"{src}","{urllib.parse.quote_plus(k)}"\n'
                                 for k in keys).encode())
    data = f"data/{uuid.uuid4()}.csv.gz"
    s3.put_object(Bucket=data_bucket, Key=data, Body=body)
    m = {"sourceBucket": src, "destinationBucket": f"arn:aws:s3:::{data_bucket}",
         "version": "2016-11-30",
         "creationTimestamp": "1765065600000", "fileFormat": "CSV", "fileSchema": "Bucket, Key",
         "files": [{"key": data, "size": len(body),
                    "MD5checksum": hashlib.md5(body).hexdigest()}]}
    return "meta/manifest.json", s3.put_object(Bucket=inv, Key="meta/manifest.json",
                                               Body=json.dumps(m).encode())["ETag"]


def inventory_job_args(inv, mkey, etag, op, role_arn):
    a = job_args(inv, mkey, etag, op, role_arn)
    a["Manifest"] = {"Spec": {"Format": "S3InventoryReport_CSV_20161130"},
                     "Location": {"ObjectArn": f"arn:aws:s3:::{inv}/{mkey}", "ETag": etag}}
    return a


TAG_OP = {"S3PutObjectTagging": {"TagSet": [{"Key": "batch", "Value": "role"}]}}


def tags(b, k):
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=b, Key=k)["TagSet"]}


@test
def inventory_data_files_read_as_the_role():
    """An inventory manifest's data files are read as the role (AWS: the role needs read
    access to manifest.json and to all its data files): a role allowed manifest.json but not
    the data file fails the job in Preparing with the manifest reason and no task runs; the
    same role with the data files allowed completes."""
    src, inv = gp_bucket(), gp_bucket()
    s3.put_object(Bucket=src, Key="k one", Body=b"v")
    mkey, etag = inventory_manifest(src, inv, ["k one"])
    tag = allow("s3:PutObjectTagging", f"arn:aws:s3:::{src}/*")
    narrow = role(uniq("invmeta"), [allow("s3:GetObject", f"arn:aws:s3:::{inv}/meta/*"), tag])
    jid = s3c.create_job(**inventory_job_args(inv, mkey, etag, TAG_OP, narrow))["JobId"]
    job = wait_job(jid)
    eq(job["Status"], "Failed", "status")
    eq(failure_reasons(job), [("AccessDenied", "Reading the manifest is forbidden: AccessDenied")],
       "reasons")
    ps = job["ProgressSummary"]
    eq((ps["TotalNumberOfTasks"], ps["NumberOfTasksSucceeded"], ps["NumberOfTasksFailed"]),
       (0, 0, 0), "no task")
    eq(tags(src, "k one"), {}, "object untouched")
    wide = role(uniq("invall"), [allow("s3:GetObject", f"arn:aws:s3:::{inv}/*"), tag])
    jid = s3c.create_job(**inventory_job_args(inv, mkey, etag, TAG_OP, wide))["JobId"]
    job = wait_job(jid)
    eq((job["Status"], job["ProgressSummary"]["NumberOfTasksSucceeded"]), ("Complete", 1),
       f"allowed job {failure_reasons(job)}")
    eq(tags(src, "k one"), {"batch": "role"}, "tagged")


@test
def inventory_data_files_in_a_directory_bucket():
    """Data files in a directory bucket (manifest.json's destinationBucket) are read through
    a ReadOnly session on it: a role that may read manifest.json but has no
    s3express:CreateSession on the directory bucket fails the job; with it the job
    completes."""
    src, inv, dirb = gp_bucket(), gp_bucket(), dir_bucket()
    s3.put_object(Bucket=src, Key="d", Body=b"v")
    mkey, etag = inventory_manifest(src, inv, ["d"], data_bucket=dirb)
    base = [allow("s3:GetObject", f"arn:aws:s3:::{inv}/*"),
            allow("s3:PutObjectTagging", f"arn:aws:s3:::{src}/*")]
    no_session = role(uniq("invdir"), base)
    job = wait_job(s3c.create_job(**inventory_job_args(inv, mkey, etag, TAG_OP,
                                                       no_session))["JobId"])
    eq((job["Status"], failure_reasons(job)),
       ("Failed", [("AccessDenied", "Reading the manifest is forbidden: AccessDenied")]),
       "without a session")
    eq(tags(src, "d"), {}, "object untouched")
    session = role(uniq("invdirok"), base + [{
        "Effect": "Allow", "Action": "s3express:CreateSession",
        "Resource": f"arn:aws:s3express:{REGION}:{ACCOUNT}:bucket/{dirb}",
        "Condition": {"StringEquals": {"s3express:SessionMode": "ReadOnly"}}}])
    job = wait_job(s3c.create_job(**inventory_job_args(inv, mkey, etag, TAG_OP,
                                                       session))["JobId"])
    eq((job["Status"], job["ProgressSummary"]["NumberOfTasksSucceeded"]), ("Complete", 1),
       f"with a ReadOnly session {failure_reasons(job)}")
    eq(tags(src, "d"), {"batch": "role"}, "tagged")


def generator_job_args(src, op, role_arn, out=None):
    g = {"SourceBucket": f"arn:aws:s3:::{src}", "EnableManifestOutput": out is not None}
    if out:
        g["ManifestOutputLocation"] = {"Bucket": f"arn:aws:s3:::{out}", "ManifestPrefix": "gen",
                                       "ManifestFormat": "S3InventoryReport_CSV_20211130"}
    return {"AccountId": ACCOUNT, "ConfirmationRequired": False, "Operation": op,
            "Priority": 10, "RoleArn": role_arn, "ClientRequestToken": str(uuid.uuid4()),
            "Report": {"Enabled": False}, "ManifestGenerator": {"S3JobManifestGenerator": g}}


@test
def generator_lists_the_source_as_the_role():
    """A generator job lists its source bucket as the role: without s3:ListBucket on it the
    job fails in Preparing and no task runs; with it the job completes."""
    src = gp_bucket()
    for k in ("a", "b"):
        s3.put_object(Bucket=src, Key=k, Body=b"v")
    tag = allow("s3:PutObjectTagging", f"arn:aws:s3:::{src}/*")
    nolist = role(uniq("genlist"), [allow("s3:GetObject", f"arn:aws:s3:::{src}/*"), tag])
    job = wait_job(s3c.create_job(**generator_job_args(src, TAG_OP, nolist))["JobId"])
    eq(job["Status"], "Failed", "status")
    eq(failure_reasons(job), [("AccessDenied", "Listing the source bucket of the manifest "
                                               "generator is forbidden: AccessDenied")], "reasons")
    eq(job["ProgressSummary"]["TotalNumberOfTasks"], 0, "no task")
    eq((tags(src, "a"), tags(src, "b")), ({}, {}), "objects untouched")
    lister = role(uniq("genok"), [allow("s3:ListBucket", f"arn:aws:s3:::{src}"), tag])
    job = wait_job(s3c.create_job(**generator_job_args(src, TAG_OP, lister))["JobId"])
    eq((job["Status"], job["ProgressSummary"]["NumberOfTasksSucceeded"]), ("Complete", 2),
       f"allowed job {failure_reasons(job)}")
    eq((tags(src, "a"), tags(src, "b")), ({"batch": "role"},) * 2, "tagged")


@test
def generator_writes_its_manifest_as_the_role():
    """EnableManifestOutput writes the generated manifest as the role: without s3:PutObject
    on the output location the job fails in Preparing, nothing is written there and no task
    runs; a role allowed the output prefix completes and the manifest is there."""
    src, out = gp_bucket(), gp_bucket()
    s3.put_object(Bucket=src, Key="x", Body=b"v")
    base = [allow("s3:ListBucket", f"arn:aws:s3:::{src}"),
            allow("s3:PutObjectTagging", f"arn:aws:s3:::{src}/*")]
    elsewhere = role(uniq("genout"), base + [allow("s3:PutObject", f"arn:aws:s3:::{out}/other/*")])
    job = wait_job(s3c.create_job(**generator_job_args(src, TAG_OP, elsewhere, out))["JobId"])
    eq(job["Status"], "Failed", "status")
    eq(failure_reasons(job), [("AccessDenied", "Writing the generated manifest is forbidden: "
                                               "AccessDenied")], "reasons")
    eq(s3.list_objects_v2(Bucket=out).get("KeyCount", 0), 0, "nothing written")
    check("GeneratedManifestDescriptor" not in job, "no descriptor")
    eq(tags(src, "x"), {}, "object untouched")
    # manifest.json allowed but not the data files: still nothing written
    meta_only = role(uniq("genmeta"), base + [allow("s3:PutObject",
                                                    f"arn:aws:s3:::{out}/gen/*/manifest.json")])
    job = wait_job(s3c.create_job(**generator_job_args(src, TAG_OP, meta_only, out))["JobId"])
    eq(job["Status"], "Failed", "status (manifest.json only)")
    eq(s3.list_objects_v2(Bucket=out).get("KeyCount", 0), 0, "nothing written (manifest.json only)")
    writer = role(uniq("genw"), base + [allow("s3:PutObject", f"arn:aws:s3:::{out}/gen/*")])
    jid = s3c.create_job(**generator_job_args(src, TAG_OP, writer, out))["JobId"]
    job = wait_job(jid)
    eq((job["Status"], job["ProgressSummary"]["NumberOfTasksSucceeded"]), ("Complete", 1),
       f"allowed job {failure_reasons(job)}")
    s3.head_object(Bucket=out, Key=f"gen/job-{jid}/manifest.json")
    eq(tags(src, "x"), {"batch": "role"}, "tagged")


@test
def role_deleted_mid_job_denies():
    """Deleting the job's role takes effect for the tasks that run after it: a job created
    while the role existed, confirmed after it was deleted, fails every task AccessDenied."""
    b, man, rep = gp_bucket(), gp_bucket(), gp_bucket()
    for i in range(3):
        s3.put_object(Bucket=b, Key=f"t{i}", Body=b"v")
    etag = put_manifest(man, "m.csv", [f"{b},t{i}" for i in range(3)])
    name = uniq("gone")
    arn = role(name, [allow(["s3:GetObject", "s3:PutObject", "s3:PutObjectTagging"], "*")])
    args = job_args(man, "m.csv", etag, {"S3PutObjectTagging": {"TagSet": [
        {"Key": "k", "Value": "v"}]}}, arn, rep)
    args["ConfirmationRequired"] = True
    jid = s3c.create_job(**args)["JobId"]
    end = time.monotonic() + 60
    while s3c.describe_job(AccountId=ACCOUNT, JobId=jid)["Job"]["Status"] != "Suspended":
        check(time.monotonic() < end, "job never reached Suspended")
        time.sleep(0.05)
    # The report bucket stays writable through a bucket policy naming the role's sessions.
    s3.put_bucket_policy(Bucket=rep, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/"
                                                f"s3-batch-operations-{jid}"},
        "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{rep}/*"}]}))
    iam.delete_role_policy(RoleName=name, PolicyName="p")
    iam.delete_role(RoleName=name)
    s3c.update_job_status(AccountId=ACCOUNT, JobId=jid, RequestedJobStatus="Ready")
    job = wait_job(jid)
    eq(job["ProgressSummary"]["NumberOfTasksFailed"], 3, f"every task denied: {job}")
    for i in range(3):
        eq(s3.get_object_tagging(Bucket=b, Key=f"t{i}")["TagSet"], [], "no tag written")


# ---- the S3 Control API is authorized ----

@test
def create_job_needs_pass_role():
    """A user allowed s3:CreateJob but not iam:PassRole is refused (403 AccessDenied naming
    iam:PassRole) and no job exists; with iam:PassRole on that role the same request works."""
    b, man = gp_bucket(), gp_bucket()
    etag = put_manifest(man, "m.csv", [f"{b},k"])
    arn = role(uniq("passed"), [allow("s3:*", "*")])
    name = uniq("creator")
    c = user(name, [allow(["s3:CreateJob", "s3:ListJobs", "s3:DescribeJob"], "*")])
    before = len(s3c.list_jobs(AccountId=ACCOUNT)["Jobs"])
    args = job_args(man, "m.csv", etag, {"S3DeleteObjectTagging": {}}, arn)
    args["ConfirmationRequired"] = True
    r = expect_client_error("AccessDenied", 403, c.create_job, **args)
    msg = r["Error"]["Message"]
    check(f"user/{name} is not authorized to perform: iam:PassRole on resource: {arn}" in msg,
          f"message {msg}")
    eq(len(s3c.list_jobs(AccountId=ACCOUNT)["Jobs"]), before, "no job created")
    iam.put_user_policy(UserName=name, PolicyName="pass", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [allow("iam:PassRole", arn)]}))
    args["ClientRequestToken"] = str(uuid.uuid4())
    jid = c.create_job(**args)["JobId"]
    eq(c.describe_job(AccountId=ACCOUNT, JobId=jid)["Job"]["RoleArn"], arn, "created")
    s3c.update_job_status(AccountId=ACCOUNT, JobId=jid, RequestedJobStatus="Cancelled")


@test
def create_job_role_must_trust_batch_operations():
    """A role trusted only by Lambda, and a role that does not exist, are refused at
    CreateJob (400 BadRequestException), even for the account root."""
    b, man = gp_bucket(), gp_bucket()
    etag = put_manifest(man, "m.csv", [f"{b},k"])
    lambda_only = role(uniq("lambdaonly"), [allow("s3:*", "*")], LAMBDA_TRUST)
    for arn in (lambda_only, f"arn:aws:iam::{ACCOUNT}:role/{uniq('nosuchrole')}"):
        r = expect_client_error("BadRequestException", 400, s3c.create_job,
                                **job_args(man, "m.csv", etag, {"S3DeleteObjectTagging": {}},
                                           arn))
        check("batchoperations.s3.amazonaws.com" in r["Error"]["Message"], r["Error"]["Message"])


@test
def read_only_user_and_describe_only_user():
    """AmazonS3ReadOnlyAccess cannot CreateJob (403 naming s3:CreateJob) nor change a job's
    status; a user allowed only s3:DescribeJob on the job's ARN can describe it and nothing
    else."""
    b, man = gp_bucket(), gp_bucket()
    etag = put_manifest(man, "m.csv", [f"{b},k"])
    arn = role(uniq("ro"), [allow("s3:*", "*")])
    args = job_args(man, "m.csv", etag, {"S3DeleteObjectTagging": {}}, arn)
    args["ConfirmationRequired"] = True
    jid = s3c.create_job(**args)["JobId"]
    ro = user(uniq("reader"), managed=["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"])
    args["ClientRequestToken"] = str(uuid.uuid4())
    r = expect_client_error("AccessDenied", 403, ro.create_job, **args)
    check("s3:CreateJob" in r["Error"]["Message"], r["Error"]["Message"])
    expect_client_error("AccessDenied", 403, ro.update_job_status, AccountId=ACCOUNT, JobId=jid,
                        RequestedJobStatus="Cancelled")
    job_arn = f"arn:aws:s3:{REGION}:{ACCOUNT}:job/{jid}"
    d = user(uniq("describer"), [allow("s3:DescribeJob", job_arn)])
    eq(d.describe_job(AccountId=ACCOUNT, JobId=jid)["Job"]["JobId"], jid, "describe allowed")
    expect_client_error("AccessDenied", 403, d.list_jobs, AccountId=ACCOUNT)
    expect_client_error("AccessDenied", 403, d.get_job_tagging, AccountId=ACCOUNT, JobId=jid)
    expect_client_error("AccessDenied", 403, d.update_job_priority, AccountId=ACCOUNT, JobId=jid,
                        Priority=5)
    other = "00000000-0000-4000-8000-000000000000"
    expect_client_error("AccessDenied", 403, d.describe_job, AccountId=ACCOUNT, JobId=other)
    s3c.update_job_status(AccountId=ACCOUNT, JobId=jid, RequestedJobStatus="Cancelled")


# ---- the job condition keys (s3:RequestJob*, s3:ExistingJob*, s3:JobSuspendedCause) ----

def cond_allow(actions, condition):
    return {"Effect": "Allow", "Action": actions, "Resource": "*", "Condition": condition}


def job_count():
    return len(s3c.list_jobs(AccountId=ACCOUNT)["Jobs"])


def suspended_job(operation, priority):
    """A job made by root that waits for confirmation (so it never runs): (id, manifest args)."""
    b, man = gp_bucket(), gp_bucket()
    etag = put_manifest(man, "m.csv", [f"{b},k"])
    arn = role(uniq("keys"), [allow("s3:*", "*")])
    args = job_args(man, "m.csv", etag, operation, arn)
    args["ConfirmationRequired"], args["Priority"] = True, priority
    return s3c.create_job(**args)["JobId"], args


@test
def create_job_request_priority_condition():
    """A user allowed s3:CreateJob only with NumericLessThanEquals s3:RequestJobPriority 10
    is refused priority 50 and 11 (403 naming s3:CreateJob, no job made, ListJobs unchanged)
    and may create at 5 and at 10; 9 passes too, which a string comparison would refuse; a
    priority that is not one is refused 403 (no key), where root gets 400."""
    b, man = gp_bucket(), gp_bucket()
    etag = put_manifest(man, "m.csv", [f"{b},k"])
    arn = role(uniq("prio"), [allow("s3:*", "*")])
    name = uniq("prio-user")
    c = user(name, [cond_allow("s3:CreateJob",
                               {"NumericLessThanEquals": {"s3:RequestJobPriority": "10"}}),
                    allow("iam:PassRole", arn)])
    args = job_args(man, "m.csv", etag, {"S3PutObjectTagging": {"TagSet": []}}, arn)
    args["ConfirmationRequired"] = True
    before = job_count()
    for prio in (50, 11):
        args["Priority"], args["ClientRequestToken"] = prio, str(uuid.uuid4())
        r = expect_client_error("AccessDenied", 403, c.create_job, **args)
        check(f"user/{name} is not authorized to perform: s3:CreateJob" in r["Error"]["Message"],
              r["Error"]["Message"])
        eq(job_count(), before, f"no job at priority {prio}")
    # A priority that is not one (here -1, sent past the client's own check) gives no key:
    # the condition fails and the caller gets 403, before the 400 root gets for it.
    k = iam.create_access_key(UserName=name)["AccessKey"]
    raw = control_client(k["AccessKeyId"], k["SecretAccessKey"], validate=False)
    args["Priority"], args["ClientRequestToken"] = -1, str(uuid.uuid4())
    expect_client_error("AccessDenied", 403, raw.create_job, **args)
    expect_client_error("BadRequestException", 400, control_client(validate=False).create_job,
                        **args)
    eq(job_count(), before, "no job at priority -1")
    made = []
    for prio in (5, 10, 9):
        args["Priority"], args["ClientRequestToken"] = prio, str(uuid.uuid4())
        jid = c.create_job(**args)["JobId"]
        eq(s3c.describe_job(AccountId=ACCOUNT, JobId=jid)["Job"]["Priority"], prio, "priority")
        made.append(jid)
    eq(job_count(), before + 3, "three jobs")
    for jid in made:
        s3c.update_job_status(AccountId=ACCOUNT, JobId=jid, RequestedJobStatus="Cancelled")


@test
def create_job_request_operation_condition():
    """A user allowed s3:CreateJob only for s3:RequestJobOperation "S3PutObjectTagging" is
    refused a LambdaInvoke job and an S3DeleteObjectTagging job (403, nothing created) that
    root may create with the same body, and may create the S3PutObjectTagging job."""
    src, man = dir_bucket(), gp_bucket()
    etag = put_manifest(man, "m.csv", [f"{src},k"])
    arn = role(uniq("opjob"), [allow("s3:*", "*"), allow("lambda:InvokeFunction", "*")])
    fn = deploy(uniq("opfn"), role(uniq("opfnrole"), [allow("s3express:CreateSession", "*")],
                                   LAMBDA_TRUST))
    c = user(uniq("op-user"), [cond_allow("s3:CreateJob", {"StringEquals": {
        "s3:RequestJobOperation": "S3PutObjectTagging"}}), allow("iam:PassRole", arn)])
    made = []
    for op in (walkthrough_op(fn, src), {"S3DeleteObjectTagging": {}}):
        args = job_args(man, "m.csv", etag, op, arn)
        args["ConfirmationRequired"] = True
        before = job_count()
        r = expect_client_error("AccessDenied", 403, c.create_job, **args)
        check("s3:CreateJob" in r["Error"]["Message"], r["Error"]["Message"])
        eq(job_count(), before, f"no {list(op)[0]} job")
        made.append(s3c.create_job(**args)["JobId"])  # the body itself is a valid job
    args = job_args(man, "m.csv", etag, {"S3PutObjectTagging": {"TagSet": [
        {"Key": "k", "Value": "v"}]}}, arn)
    args["ConfirmationRequired"] = True
    jid = c.create_job(**args)["JobId"]
    eq(list(s3c.describe_job(AccountId=ACCOUNT, JobId=jid)["Job"]["Operation"]),
       ["S3PutObjectTagging"], "operation")
    for j in made + [jid]:
        s3c.update_job_status(AccountId=ACCOUNT, JobId=j, RequestedJobStatus="Cancelled")


@test
def update_job_priority_existing_and_request_priority():
    """s3:UpdateJobPriority allowed only while s3:ExistingJobPriority < 100: 50 -> 150 is
    allowed, then 150 -> 20 is refused (403) and the job keeps 150; a job id that does not
    exist is refused too (403, not 404: the caller learns nothing of it). Allowed only for
    s3:RequestJobPriority <= 10: 5 is allowed, 50 refused."""
    jid, _ = suspended_job({"S3DeleteObjectTagging": {}}, 50)
    c = user(uniq("exprio"), [cond_allow("s3:UpdateJobPriority", {
        "NumericLessThan": {"s3:ExistingJobPriority": "100"}})])
    eq(c.update_job_priority(AccountId=ACCOUNT, JobId=jid, Priority=150)["Priority"], 150,
       "50 -> 150")
    r = expect_client_error("AccessDenied", 403, c.update_job_priority, AccountId=ACCOUNT,
                            JobId=jid, Priority=20)
    check("s3:UpdateJobPriority" in r["Error"]["Message"], r["Error"]["Message"])
    eq(s3c.describe_job(AccountId=ACCOUNT, JobId=jid)["Job"]["Priority"], 150, "unchanged")
    expect_client_error("AccessDenied", 403, c.update_job_priority, AccountId=ACCOUNT,
                        JobId="00000000-0000-4000-8000-000000000000", Priority=1)
    expect_client_error("NotFoundException", 404, s3c.update_job_priority, AccountId=ACCOUNT,
                        JobId="00000000-0000-4000-8000-000000000000", Priority=1)
    c2 = user(uniq("rqprio"), [cond_allow("s3:UpdateJobPriority", {
        "NumericLessThanEquals": {"s3:RequestJobPriority": "10"}})])
    expect_client_error("AccessDenied", 403, c2.update_job_priority, AccountId=ACCOUNT,
                        JobId=jid, Priority=50)
    eq(s3c.describe_job(AccountId=ACCOUNT, JobId=jid)["Job"]["Priority"], 150, "unchanged")
    eq(c2.update_job_priority(AccountId=ACCOUNT, JobId=jid, Priority=5)["Priority"], 5, "-> 5")
    eq(s3c.describe_job(AccountId=ACCOUNT, JobId=jid)["Job"]["Priority"], 5, "now 5")
    s3c.update_job_status(AccountId=ACCOUNT, JobId=jid, RequestedJobStatus="Cancelled")


@test
def update_job_status_suspended_cause_and_existing_operation():
    """s3:UpdateJobStatus allowed only for s3:JobSuspendedCause AWAITING_CONFIRMATION: the
    user cancels a job waiting for confirmation, then is refused (403) on the cancelled job,
    where root gets JobStatusException. s3:PutJobTagging and s3:DeleteJobTagging allowed only
    for s3:ExistingJobOperation S3PutObjectTagging: tags change on such a job and are refused
    (403, unchanged) on an S3DeleteObjectTagging job; s3:UpdateJobStatus with a Deny on
    s3:ExistingJobOperation S3PutObjectTagging refuses that job (explicit deny) and not
    another."""
    jid, _ = suspended_job({"S3DeleteObjectTagging": {}}, 1)
    c = user(uniq("cause"), [cond_allow("s3:UpdateJobStatus", {"StringEquals": {
        "s3:JobSuspendedCause": "AWAITING_CONFIRMATION"}})])
    eq(c.update_job_status(AccountId=ACCOUNT, JobId=jid, RequestedJobStatus="Cancelled")
       ["Status"], "Cancelled", "cancelled by the user")
    expect_client_error("AccessDenied", 403, c.update_job_status, AccountId=ACCOUNT, JobId=jid,
                        RequestedJobStatus="Cancelled")
    expect_client_error("JobStatusException", 409, s3c.update_job_status, AccountId=ACCOUNT,
                        JobId=jid, RequestedJobStatus="Cancelled")

    tag_job, _ = suspended_job({"S3PutObjectTagging": {"TagSet": []}}, 1)
    del_job, _ = suspended_job({"S3DeleteObjectTagging": {}}, 1)
    t = user(uniq("tagger"), [cond_allow(["s3:PutJobTagging", "s3:DeleteJobTagging"], {
        "StringEquals": {"s3:ExistingJobOperation": "S3PutObjectTagging"}})])
    tags = [{"Key": "team", "Value": "a"}]
    t.put_job_tagging(AccountId=ACCOUNT, JobId=tag_job, Tags=tags)
    eq(s3c.get_job_tagging(AccountId=ACCOUNT, JobId=tag_job)["Tags"], tags, "tagged")
    s3c.put_job_tagging(AccountId=ACCOUNT, JobId=del_job, Tags=tags)
    expect_client_error("AccessDenied", 403, t.put_job_tagging, AccountId=ACCOUNT, JobId=del_job,
                        Tags=[{"Key": "team", "Value": "b"}])
    expect_client_error("AccessDenied", 403, t.delete_job_tagging, AccountId=ACCOUNT,
                        JobId=del_job)
    eq(s3c.get_job_tagging(AccountId=ACCOUNT, JobId=del_job)["Tags"], tags, "unchanged")
    t.delete_job_tagging(AccountId=ACCOUNT, JobId=tag_job)
    eq(s3c.get_job_tagging(AccountId=ACCOUNT, JobId=tag_job)["Tags"], [], "deleted")

    d = user(uniq("nolambda"), [allow("s3:UpdateJobStatus", "*"), {
        "Effect": "Deny", "Action": "s3:UpdateJobStatus", "Resource": "*",
        "Condition": {"StringEquals": {"s3:ExistingJobOperation": "S3PutObjectTagging"}}}])
    r = expect_client_error("AccessDenied", 403, d.update_job_status, AccountId=ACCOUNT,
                            JobId=tag_job, RequestedJobStatus="Cancelled")
    check("explicit deny" in r["Error"]["Message"], r["Error"]["Message"])
    eq(s3c.describe_job(AccountId=ACCOUNT, JobId=tag_job)["Job"]["Status"], "Suspended",
       "still suspended")
    eq(d.update_job_status(AccountId=ACCOUNT, JobId=del_job, RequestedJobStatus="Cancelled")
       ["Status"], "Cancelled", "the other job")
    s3c.update_job_status(AccountId=ACCOUNT, JobId=tag_job, RequestedJobStatus="Cancelled")


@test
def job_request_tags_condition():
    """AWS's job-tags example: a user may create jobs and put job tags only with the tag
    department=Finance and no tag keys but department and stage (aws:RequestTag/department,
    ForAllValues aws:TagKeys). A job without tags, with department=HR, or with another tag key
    is refused (403, no job); with department=Finance it is created; PutJobTagging of
    department=HR is refused and leaves the tags as they were."""
    b, man = gp_bucket(), gp_bucket()
    etag = put_manifest(man, "m.csv", [f"{b},k"])
    arn = role(uniq("tags"), [allow("s3:*", "*")])
    c = user(uniq("finance"), [cond_allow(["s3:CreateJob", "s3:PutJobTagging"], {
        "StringEquals": {"aws:RequestTag/department": "Finance"},
        "ForAllValues:StringEquals": {"aws:TagKeys": ["department", "stage"]}}),
        allow("iam:PassRole", arn)])
    args = job_args(man, "m.csv", etag, {"S3DeleteObjectTagging": {}}, arn)
    args["ConfirmationRequired"] = True
    before = job_count()
    for tags in ([], [{"Key": "department", "Value": "HR"}],
                 [{"Key": "department", "Value": "Finance"}, {"Key": "owner", "Value": "x"}]):
        args["ClientRequestToken"] = str(uuid.uuid4())
        if tags:
            args["Tags"] = tags
        else:
            args.pop("Tags", None)
        expect_client_error("AccessDenied", 403, c.create_job, **args)
        eq(job_count(), before, f"no job with tags {tags}")
    good = [{"Key": "department", "Value": "Finance"}, {"Key": "stage", "Value": "QA"}]
    args["Tags"], args["ClientRequestToken"] = good, str(uuid.uuid4())
    jid = c.create_job(**args)["JobId"]
    eq(s3c.get_job_tagging(AccountId=ACCOUNT, JobId=jid)["Tags"], good, "created with its tags")
    expect_client_error("AccessDenied", 403, c.put_job_tagging, AccountId=ACCOUNT, JobId=jid,
                        Tags=[{"Key": "department", "Value": "HR"}])
    eq(s3c.get_job_tagging(AccountId=ACCOUNT, JobId=jid)["Tags"], good, "unchanged")
    c.put_job_tagging(AccountId=ACCOUNT, JobId=jid, Tags=[{"Key": "department",
                                                             "Value": "Finance"}])
    eq(len(s3c.get_job_tagging(AccountId=ACCOUNT, JobId=jid)["Tags"]), 1, "retagged")
    s3c.update_job_status(AccountId=ACCOUNT, JobId=jid, RequestedJobStatus="Cancelled")


# ---- the walkthrough with its own roles ----

@test
def walkthrough_with_walkthrough_roles():
    """AWS's walkthrough end to end with its narrow roles: lambda-ex may only create S3
    Express sessions on the two directory buckets (plus basic execution), the job's role may
    only invoke s3batchops-function*, read the manifest and write the report."""
    src, dst, man, rep = dir_bucket(), dir_bucket(), gp_bucket(), gp_bucket()
    keys = ["photos/a.jpg", "photos/b c.jpg", "photos/d+e.jpg"]
    for k in keys:
        s3.put_object(Bucket=src, Key=k, Body=k.encode())
    etag = put_manifest(man, "m.csv", [f"{src},{urllib.parse.quote_plus(k)}" for k in keys])
    fn_role = role("lambda-ex", [allow("s3express:CreateSession", [
        f"arn:aws:s3express:{REGION}:{ACCOUNT}:bucket/{src}",
        f"arn:aws:s3express:{REGION}:{ACCOUNT}:bucket/{dst}"])], LAMBDA_TRUST)
    iam.attach_role_policy(RoleName="lambda-ex", PolicyArn="arn:aws:iam::aws:policy/service-role/"
                                                           "AWSLambdaBasicExecutionRole")
    fn = deploy(uniq("s3batchops-function"), fn_role)
    arn = role("batch-ops", [
        allow("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
                                       "s3batchops-function*"),
        allow(["s3:GetObject", "s3:GetObjectVersion"], f"arn:aws:s3:::{man}/*"),
        allow("s3:PutObject", f"arn:aws:s3:::{rep}/*")])
    jid = s3c.create_job(**job_args(man, "m.csv", etag, walkthrough_op(fn, dst), arn,
                                    rep))["JobId"]
    job = wait_job(jid)
    eq((job["Status"], job["ProgressSummary"]["NumberOfTasksSucceeded"]), ("Complete", 3),
       f"job {job.get('FailureReasons')}")
    for k in keys:
        eq(s3.get_object(Bucket=dst, Key=f"copied/{k}_new")["Body"].read(), k.encode(), k)
    eq(list(report_rows(rep, jid)), ["succeeded"], "report")


if __name__ == "__main__":
    run(setup=setup, teardown=teardown)
