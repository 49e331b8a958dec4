#!/usr/bin/env python3
"""test_batch_manifests.py - S3 Batch Operations manifests beyond one CSV object, through
stock boto3 against a real quarry: S3InventoryReport_CSV_20161130 manifests (manifest.json
naming gzipped CSV data files, each one's MD5 checked).

The S3 Control client talks to http://localhost:PORT (ACCOUNT.localhost resolves to
loopback). Jobs here use S3PutObjectTagging / S3PutObjectCopy, which need no function.
"""

import gzip
import hashlib
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.parse
import uuid

import boto3
from botocore.config import Config

from harness import check, eq, run, test
from quarry_server import ACCOUNT, REGION, QuarryServer

ROLE = f"arn:aws:iam::{ACCOUNT}:role/batch-ops"
JOB_DEADLINE_S = 120.0

srv = None
s3 = None
s3c = None


def setup():
    global srv, s3, s3c
    srv = QuarryServer().start()
    srv.batch_role()  # jobs run as their role, which must exist and trust Batch Operations
    s3 = srv.boto3_client()
    s3c = boto3.client("s3control", endpoint_url=srv.control_endpoint,
                       region_name=REGION, aws_access_key_id=srv.access_key,
                       aws_secret_access_key=srv.secret_key,
                       config=Config(retries={"total_max_attempts": 1}, read_timeout=60))


def teardown():
    if srv is not None:
        srv.close()


def gp_bucket():
    name = f"bm-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    return name


def wait_job(job_id):
    end = time.monotonic() + JOB_DEADLINE_S
    while True:
        job = s3c.describe_job(AccountId=ACCOUNT, JobId=job_id)["Job"]
        if job["Status"] in ("Complete", "Failed", "Cancelled"):
            return job
        check(time.monotonic() < end, f"job {job_id} still {job['Status']}")
        time.sleep(0.05)


def tag_op(value):
    return {"S3PutObjectTagging": {"TagSet": [{"Key": "batch", "Value": value}]}}


def inventory_job(man_bucket, man_key, etag, op):
    return s3c.create_job(
        AccountId=ACCOUNT, ConfirmationRequired=False, Operation=op, Priority=10, RoleArn=ROLE,
        ClientRequestToken=str(uuid.uuid4()), Report={"Enabled": False},
        Manifest={"Spec": {"Format": "S3InventoryReport_CSV_20161130"},
                  "Location": {"ObjectArn": f"arn:aws:s3:::{man_bucket}/{man_key}",
                               "ETag": etag}})["JobId"]


def csv_row(*cols):
    return ",".join('"' + c.replace('"', '""') + '"' for c in cols)


def put_inventory(src, dest, files, schema="Bucket, Key, VersionId, Size, ETag",
                  bad_md5_for=None):
    """Writes the data files (each a list of lines, gzipped) and manifest.json into dest;
    returns (manifest key, its ETag, data file keys)."""
    base = f"inv/{src}/{uuid.uuid4().hex[:8]}/2026-12-07T00-00Z"
    entries, keys = [], []
    for i, lines in enumerate(files):
        body = gzip.compress(("\n".join(lines) + "\n").encode())
        key = f"inv/{src}/data/{uuid.uuid4()}.csv.gz"
        s3.put_object(Bucket=dest, Key=key, Body=body)
        md5 = hashlib.md5(body).hexdigest()
        if bad_md5_for == i:
            md5 = "0" * 32
        entries.append({"key": key, "size": len(body), "MD5checksum": md5})
        keys.append(key)
    manifest = {"sourceBucket": src, "destinationBucket": f"arn:aws:s3:::{dest}",
                "version": "2016-11-30", "creationTimestamp": "1765065600000",
                "fileFormat": "CSV", "fileSchema": schema, "files": entries}
    r = s3.put_object(Bucket=dest, Key=f"{base}/manifest.json", Body=json.dumps(manifest).encode())
    return f"{base}/manifest.json", r["ETag"], keys


def tags_of(bucket, key):
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


@test
def inventory_manifest_job():
    """Two gzipped data files (keys URL-encoded as inventory writes them, quoted CSV columns,
    extra columns ignored): every listed object is tagged, the job counts every line, and
    DescribeJob echoes the inventory format."""
    src, inv = gp_bucket(), gp_bucket()
    keys = ["plain.txt", "with space.txt", "plus+sign.txt", "percent%41.txt", "a,comma.txt",
            "dir/unicodé 日本語.txt", 'quote"d.txt']
    for k in keys:
        s3.put_object(Bucket=src, Key=k, Body=b"x")
    rows = [csv_row(src, urllib.parse.quote_plus(k), "", "1", "etag") for k in keys]
    mkey, etag, _ = put_inventory(src, inv, [rows[:4], rows[4:]])
    jid = inventory_job(inv, mkey, etag, tag_op("inv"))
    job = wait_job(jid)
    eq(job["Status"], "Complete", f"status ({job.get('FailureReasons')})")
    ps = job["ProgressSummary"]
    eq((ps["TotalNumberOfTasks"], ps["NumberOfTasksSucceeded"], ps["NumberOfTasksFailed"]),
       (len(keys), len(keys), 0), "progress")
    eq(job["Manifest"]["Spec"]["Format"], "S3InventoryReport_CSV_20161130", "format echoed")
    for k in keys:
        eq(tags_of(src, k), {"batch": "inv"}, f"tags of {k!r}")


@test
def inventory_wrong_md5_fails_naming_the_file():
    """A data file whose MD5 is not manifest.json's fails the job in Preparing, naming the
    file; no object is touched."""
    src, inv = gp_bucket(), gp_bucket()
    s3.put_object(Bucket=src, Key="k1", Body=b"x")
    mkey, etag, files = put_inventory(src, inv, [[csv_row(src, "k1", "", "1", "e")]],
                                      bad_md5_for=0)
    job = wait_job(inventory_job(inv, mkey, etag, tag_op("no")))
    eq(job["Status"], "Failed", "status")
    reason = job["FailureReasons"][0]["FailureReason"]
    check(files[0][:80] in reason and "MD5" in reason, f"reason names the file: {reason}")
    eq(tags_of(src, "k1"), {}, "object untouched")


@test
def inventory_bad_inputs_fail_in_preparing():
    """A malformed data line (named by file and line), a data file that is not gzip, a
    missing data file, a manifest.json without a Key column, a wrong manifest ETag."""
    src, inv = gp_bucket(), gp_bucket()
    cases = []
    mkey, etag, files = put_inventory(src, inv, [[csv_row(src, "ok"), csv_row(src, "a%zz")]],
                                      schema="Bucket, Key")
    cases.append((mkey, etag, [files[0][:60], "line 2"]))
    mkey, etag, files = put_inventory(src, inv, [[csv_row(src, "ok")]], schema="Bucket, Key")
    s3.put_object(Bucket=inv, Key=files[0], Body=b"not gzip at all")
    cases.append((mkey, etag, [files[0][:60], "gzip"]))
    mkey, etag, files = put_inventory(src, inv, [[csv_row(src, "ok")]], schema="Bucket, Key")
    s3.delete_object(Bucket=inv, Key=files[0])
    cases.append((mkey, etag, [files[0][:60], "does not exist"]))
    mkey, etag, _ = put_inventory(src, inv, [[csv_row(src, "ok")]], schema="Bucket, Size")
    cases.append((mkey, etag, ["fileSchema"]))
    mkey, _, _ = put_inventory(src, inv, [[csv_row(src, "ok")]], schema="Bucket, Key")
    cases.append((mkey, '"0123456789abcdef0123456789abcdef"', ["ETag"]))
    for mkey, etag, needles in cases:
        job = wait_job(inventory_job(inv, mkey, etag, tag_op("no")))
        eq(job["Status"], "Failed", f"status for {needles}")
        reason = job["FailureReasons"][0]["FailureReason"]
        for n in needles:
            check(n in reason, f"{n!r} in {reason!r}")


@test
def inventory_pinned_at_preparing():
    """Once the job is past Preparing, deleting the data files and manifest.json changes
    nothing: the job runs from the task list pinned at preparation."""
    src, inv = gp_bucket(), gp_bucket()
    for i in range(3):
        s3.put_object(Bucket=src, Key=f"p{i}", Body=b"x")
    mkey, etag, files = put_inventory(src, inv, [[csv_row(src, f"p{i}") for i in range(3)]],
                                      schema="Bucket, Key")
    jid = s3c.create_job(
        AccountId=ACCOUNT, ConfirmationRequired=True, Operation=tag_op("pin"), Priority=10,
        RoleArn=ROLE, ClientRequestToken=str(uuid.uuid4()), Report={"Enabled": False},
        Manifest={"Spec": {"Format": "S3InventoryReport_CSV_20161130"},
                  "Location": {"ObjectArn": f"arn:aws:s3:::{inv}/{mkey}", "ETag": etag}})["JobId"]
    end = time.monotonic() + JOB_DEADLINE_S
    while s3c.describe_job(AccountId=ACCOUNT, JobId=jid)["Job"]["Status"] != "Suspended":
        check(time.monotonic() < end, "job reaches Suspended")
        time.sleep(0.05)
    for k in files + [mkey]:
        s3.delete_object(Bucket=inv, Key=k)
    s3c.update_job_status(AccountId=ACCOUNT, JobId=jid, RequestedJobStatus="Ready")
    job = wait_job(jid)
    eq((job["Status"], job["ProgressSummary"]["NumberOfTasksSucceeded"]), ("Complete", 3),
       "job ran from its pinned task list")
    eq(tags_of(src, "p2"), {"batch": "pin"}, "tagged")


def blob_files(server):
    n = 0
    for _, _, files in os.walk(os.path.join(server.data, "objects")):
        n += sum(1 for f in files if not f.endswith(".tmp"))
    return n


@test
def kill9_while_preparing_an_inventory():
    """kill -9 while Preparing expands a 2,000,000-line inventory (fsync on), once part of
    the task list is on disk: after the restart preparation starts over and the job counts
    every line once; once the job ends, no blob of either attempt's task list is left and
    the holds on the data files are gone."""
    with QuarryServer(fsync=True) as server:
        server.batch_role()
        c3 = server.boto3_client()
        ctl = boto3.client("s3control", endpoint_url=server.control_endpoint,
                           region_name=REGION, aws_access_key_id=server.access_key,
                           aws_secret_access_key=server.secret_key,
                           config=Config(retries={"total_max_attempts": 1}, read_timeout=120))
        c3.create_bucket(Bucket="ksrc")
        c3.create_bucket(Bucket="kinv")
        n, per, files = 2_000_000, 500_000, []
        for f in range(0, n, per):
            body = gzip.compress("".join(f'"ksrc","k/{i:09d}",""\n'
                                         for i in range(f, f + per)).encode(), 1)
            key = f"inv/data/{f}.csv.gz"
            c3.put_object(Bucket="kinv", Key=key, Body=body)
            files.append({"key": key, "size": len(body), "MD5checksum": hashlib.md5(body).hexdigest()})
        m = {"sourceBucket": "ksrc", "destinationBucket": "arn:aws:s3:::kinv", "fileFormat": "CSV",
             "fileSchema": "Bucket, Key, VersionId", "files": files}
        etag = c3.put_object(Bucket="kinv", Key="inv/manifest.json", Body=json.dumps(m).encode())["ETag"]
        before = blob_files(server)
        jid = ctl.create_job(
            AccountId=ACCOUNT, ConfirmationRequired=True, Operation=tag_op("k"), Priority=10,
            RoleArn=ROLE, ClientRequestToken=str(uuid.uuid4()), Report={"Enabled": False},
            Manifest={"Spec": {"Format": "S3InventoryReport_CSV_20161130"},
                      "Location": {"ObjectArn": "arn:aws:s3:::kinv/inv/manifest.json",
                                   "ETag": etag}})["JobId"]
        end = time.monotonic() + JOB_DEADLINE_S
        # Crash once part of the task list is on disk (a spool chunk) but not pinned.
        while blob_files(server) == before:
            check(time.monotonic() < end, "preparation writes its task list")
        status = ctl.describe_job(AccountId=ACCOUNT, JobId=jid)["Job"]["Status"]
        server.kill9()
        eq(status, "Preparing", "the crash came while preparing")
        server.restart()
        ctl = boto3.client("s3control", endpoint_url=server.control_endpoint,
                           region_name=REGION, aws_access_key_id=server.access_key,
                           aws_secret_access_key=server.secret_key,
                           config=Config(retries={"total_max_attempts": 1}, read_timeout=120))
        end = time.monotonic() + JOB_DEADLINE_S
        while True:
            job = ctl.describe_job(AccountId=ACCOUNT, JobId=jid)["Job"]
            if job["Status"] not in ("New", "Preparing"):
                break
            check(time.monotonic() < end, "preparation ends after the restart")
            time.sleep(0.05)
        eq((job["Status"], job["ProgressSummary"]["TotalNumberOfTasks"]), ("Suspended", n),
           "every line counted once")
        ctl.update_job_status(AccountId=ACCOUNT, JobId=jid, RequestedJobStatus="Cancelled")
        end = time.monotonic() + JOB_DEADLINE_S
        while ctl.describe_job(AccountId=ACCOUNT, JobId=jid)["Job"]["Status"] != "Cancelled":
            check(time.monotonic() < end, "job cancelled")
            time.sleep(0.05)
        # Freed blobs are unlinked by the writer after its commit: wait for it.
        end = time.monotonic() + 30
        while blob_files(server) != before and time.monotonic() < end:
            time.sleep(0.05)
        eq(blob_files(server), before, "no blob left behind")
        for f in files:  # no hold left: deleting the data files frees their blobs
            c3.delete_object(Bucket="kinv", Key=f["key"])
        end = time.monotonic() + 30
        while blob_files(server) != 0 and time.monotonic() < end:
            time.sleep(0.05)
        eq(blob_files(server), 0, "no hold left on the data files")


# ---- S3JobManifestGenerator ----

GEN_KEYS = {"a/one.txt": 10, "a/two.log": 200, "a/mid-three.txt": 3000, "b/four.txt": 50,
            "b/mid five.txt": 700, "c/six+.bin": 1}


def gen_source():
    src = gp_bucket()
    for k, n in GEN_KEYS.items():
        s3.put_object(Bucket=src, Key=k, Body=b"z" * n)
    s3.put_object(Bucket=src, Key="ia/seven.txt", Body=b"ia", StorageClass="STANDARD_IA")
    return src


def generator_job(src, flt=None, output=None, op=None, tags=None):
    g = {"SourceBucket": f"arn:aws:s3:::{src}", "EnableManifestOutput": output is not None}
    if flt is not None:
        g["Filter"] = flt
    if output is not None:
        g["ManifestOutputLocation"] = output
    kw = {"Tags": tags} if tags else {}
    return s3c.create_job(
        AccountId=ACCOUNT, ConfirmationRequired=False, Operation=op or tag_op("gen"),
        Priority=10, RoleArn=ROLE, ClientRequestToken=str(uuid.uuid4()),
        Report={"Enabled": False}, ManifestGenerator={"S3JobManifestGenerator": g},
        **kw)["JobId"]


def tagged(src, value="gen"):
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=src).get("Contents", [])]
    return sorted(k for k in keys if tags_of(src, k).get("batch") == value)


@test
def generator_filters():
    """Each filter of JobManifestGeneratorFilter on its own selects exactly the objects it
    names: the job tags those and only those, and counts them."""
    from datetime import datetime, timedelta, timezone
    hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    every = sorted(list(GEN_KEYS) + ["ia/seven.txt"])
    cases = [
        (None, every),
        ({"KeyNameConstraint": {"MatchAnyPrefix": ["a/"]}},
         ["a/mid-three.txt", "a/one.txt", "a/two.log"]),
        ({"KeyNameConstraint": {"MatchAnySuffix": [".txt"]}},
         ["a/mid-three.txt", "a/one.txt", "b/four.txt", "b/mid five.txt", "ia/seven.txt"]),
        ({"KeyNameConstraint": {"MatchAnySubstring": ["mid"]}},
         ["a/mid-three.txt", "b/mid five.txt"]),
        ({"KeyNameConstraint": {"MatchAnyPrefix": ["b/"], "MatchAnySubstring": ["mid"]}},
         ["b/mid five.txt"]),
        ({"ObjectSizeGreaterThanBytes": 200}, ["a/mid-three.txt", "b/mid five.txt"]),
        ({"ObjectSizeLessThanBytes": 10}, ["c/six+.bin", "ia/seven.txt"]),
        ({"ObjectSizeGreaterThanBytes": 10, "ObjectSizeLessThanBytes": 700},
         ["a/two.log", "b/four.txt"]),
        ({"CreatedAfter": hour_ago}, every),
        ({"CreatedBefore": hour_ago}, []),
        ({"ObjectReplicationStatuses": ["NONE"]}, every),
        ({"ObjectReplicationStatuses": ["COMPLETED", "REPLICA"]}, []),
        ({"MatchAnyStorageClass": ["STANDARD_IA"]}, ["ia/seven.txt"]),
        ({"MatchAnyStorageClass": ["STANDARD", "GLACIER_IR"]}, sorted(GEN_KEYS)),
        ({"EligibleForReplication": False, "KeyNameConstraint": {"MatchAnyPrefix": ["c/"]}},
         ["c/six+.bin"]),
    ]
    for flt, want in cases:
        src = gen_source()
        job = wait_job(generator_job(src, flt))
        eq(job["Status"], "Complete", f"status for {flt} ({job.get('FailureReasons')})")
        eq(job["ProgressSummary"]["TotalNumberOfTasks"], len(want), f"tasks for {flt}")
        eq(tagged(src), want, f"objects selected by {flt}")
        check("ManifestGenerator" in job and "Manifest" not in job, "DescribeJob echoes the generator")
        if flt:
            eq(job["ManifestGenerator"]["S3JobManifestGenerator"]["Filter"].keys() - {"EligibleForReplication"},
               flt.keys() - {"EligibleForReplication"}, "filter echoed")


@test
def generator_creation_time_cut():
    """CreatedAfter / CreatedBefore at a cut between two groups of writes select by each
    object's Last-Modified (read back from the listing, milliseconds) strictly."""
    src = gp_bucket()
    for k in ("old1", "old2", "old3"):
        s3.put_object(Bucket=src, Key=k, Body=b"o")
    cut = max(o["LastModified"] for o in s3.list_objects_v2(Bucket=src)["Contents"])
    for k in ("new1", "new2"):
        s3.put_object(Bucket=src, Key=k, Body=b"n")
    listed = {o["Key"]: o["LastModified"] for o in s3.list_objects_v2(Bucket=src)["Contents"]}
    after = sorted(k for k, t in listed.items() if t > cut)
    before = sorted(k for k, t in listed.items() if t < cut)
    check(set(after) == {"new1", "new2"}, f"the cut separates the groups: {listed} at {cut}")
    job = wait_job(generator_job(src, {"CreatedAfter": cut}))
    eq((job["Status"], tagged(src)), ("Complete", after), "CreatedAfter")
    job = wait_job(generator_job(src, {"CreatedBefore": cut}, op=tag_op("b")))
    eq((job["Status"], tagged(src, "b")), ("Complete", before), "CreatedBefore (strict)")


@test
def generator_refusals():
    """EligibleForReplication=true (no replication in quarry) and MatchAnyObjectEncryption are
    refused 501 naming them; a directory-bucket source, a missing source, two prefixes, a
    wrong ManifestFormat and both Manifest and ManifestGenerator are 400s."""
    from botocore.exceptions import ClientError
    src = gp_bucket()
    dname = f"bm-{uuid.uuid4().hex[:8]}--use1-az4--x-s3"
    s3.create_bucket(Bucket=dname, CreateBucketConfiguration={
        "Location": {"Type": "AvailabilityZone", "Name": "use1-az4"},
        "Bucket": {"DataRedundancy": "SingleAvailabilityZone", "Type": "Directory"}})

    def refused(status, code, needle, fn):
        try:
            fn()
        except ClientError as e:
            eq((e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"]),
               (status, code), f"error for {needle}")
            check(needle in e.response["Error"]["Message"], f"{needle!r} in {e.response['Error']['Message']!r}")
            return
        raise AssertionError(f"not refused: {needle}")

    refused(501, "NotImplemented", "EligibleForReplication",
            lambda: generator_job(src, {"EligibleForReplication": True}))
    refused(501, "NotImplemented", "MatchAnyObjectEncryption",
            lambda: generator_job(src, {"MatchAnyObjectEncryption": [{"NOTSSE": {}}]}))
    refused(400, "BadRequestException", "Directory buckets", lambda: generator_job(dname))
    refused(400, "BadRequestException", "does not exist", lambda: generator_job("bm-missing-zz"))
    refused(400, "BadRequestException", "exactly one",
            lambda: generator_job(src, {"KeyNameConstraint": {"MatchAnyPrefix": ["a", "b"]}}))
    refused(400, "BadRequestException", "Directory buckets", lambda: generator_job(
        src, output={"Bucket": f"arn:aws:s3:::{dname}",
                     "ManifestFormat": "S3InventoryReport_CSV_20211130"}))


@test
def generator_manifest_output():
    """EnableManifestOutput writes manifest.json and gzipped data files under
    <ManifestPrefix>/job-<id>/ (MD5s right, rows the selected objects, keys URL-encoded);
    DescribeJob's GeneratedManifestDescriptor names it with its ETag; and the generated
    manifest runs as an S3InventoryReport_CSV_20161130 manifest of a second job."""
    src, out = gen_source(), gp_bucket()
    flt = {"KeyNameConstraint": {"MatchAnySuffix": [".txt"]}}
    jid = generator_job(src, flt, output={"Bucket": f"arn:aws:s3:::{out}", "ManifestPrefix": "gen",
                                          "ManifestFormat": "S3InventoryReport_CSV_20211130"})
    job = wait_job(jid)
    eq(job["Status"], "Complete", "status")
    desc = job["GeneratedManifestDescriptor"]
    mkey = f"gen/job-{jid}/manifest.json"
    eq(desc["Format"], "S3InventoryReport_CSV_20211130", "descriptor format")
    eq(desc["Location"]["ObjectArn"], f"arn:aws:s3:::{out}/{mkey}", "descriptor location")
    head = s3.head_object(Bucket=out, Key=mkey)
    eq(desc["Location"]["ETag"], head["ETag"], "descriptor ETag")
    m = json.loads(s3.get_object(Bucket=out, Key=mkey)["Body"].read())
    eq((m["sourceBucket"], m["destinationBucket"], m["fileFormat"], m["fileSchema"]),
       (src, f"arn:aws:s3:::{out}", "CSV", "Bucket, Key"), "manifest.json fields")
    rows = []
    for f in m["files"]:
        check(f["key"].startswith(f"gen/job-{jid}/data/") and f["key"].endswith(".csv.gz"), f["key"])
        body = s3.get_object(Bucket=out, Key=f["key"])["Body"].read()
        eq((f["size"], f["MD5checksum"]), (len(body), hashlib.md5(body).hexdigest()), "file entry")
        rows += gzip.decompress(body).decode().splitlines()
    want = sorted(k for k in list(GEN_KEYS) + ["ia/seven.txt"] if k.endswith(".txt"))
    eq(sorted(urllib.parse.unquote_plus(r.split(",")[1].strip('"')) for r in rows), want,
       "generated rows")
    jid2 = inventory_job(out, mkey, head["ETag"], tag_op("again"))
    job2 = wait_job(jid2)
    eq((job2["Status"], job2["ProgressSummary"]["NumberOfTasksSucceeded"]), ("Complete", len(want)),
       "the generated manifest runs as an inventory manifest")
    eq(tagged(src, "again"), want, "second job's objects")


@test
def generator_many_pages():
    """A listing of two pages (1,300 objects) with a filter keeps every match once."""
    src = gp_bucket()
    keys = [f"k{i:05d}{'.x' if i % 3 == 0 else ''}" for i in range(1300)]
    for k in keys:
        s3.put_object(Bucket=src, Key=k, Body=b"")
    job = wait_job(generator_job(src, {"KeyNameConstraint": {"MatchAnySuffix": [".x"]}},
                                 op={"S3DeleteObjectTagging": {}}))
    eq(job["Status"], "Complete", "status")
    eq((job["ProgressSummary"]["TotalNumberOfTasks"],
        job["ProgressSummary"]["NumberOfTasksSucceeded"]),
       (len([k for k in keys if k.endswith(".x")]),) * 2, "every match once")


# ---- beyond AWS: dry run, rate and ETA ----

def csv_manifest(bucket, keys):
    body = "".join(f"{bucket},{urllib.parse.quote_plus(k)}\n" for k in keys).encode()
    man = gp_bucket()
    return man, s3.put_object(Bucket=man, Key="m.csv", Body=body)["ETag"]


def csv_job(man, etag, op, tags=None, report=None, confirm=False):
    kw = {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}
    return s3c.create_job(
        AccountId=ACCOUNT, ConfirmationRequired=confirm, Operation=op, Priority=10,
        RoleArn=ROLE, ClientRequestToken=str(uuid.uuid4()),
        Report=({"Bucket": f"arn:aws:s3:::{report}", "Format": "Report_CSV_20180820",
                 "Enabled": True, "Prefix": "rep", "ReportScope": "AllTasks"}
                if report else {"Enabled": False}),
        Manifest={"Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
                  "Location": {"ObjectArn": f"arn:aws:s3:::{man}/m.csv", "ETag": etag}},
        **kw)["JobId"]


@test
def dry_run_changes_nothing():
    """quarry:dry-run=true with quarry:dry-run-keys=3: the first three tasks are checked (one
    object missing), nothing is copied, the job ends Complete with a report of the checked
    rows and a StatusUpdateReason summing up; the same job without the tag copies."""
    src, dst, rep = gp_bucket(), gp_bucket(), gp_bucket()
    keys = ["d1", "missing", "d3", "d4", "d5"]
    for k in keys:
        if k != "missing":
            s3.put_object(Bucket=src, Key=k, Body=b"dry")
    man, etag = csv_manifest(src, keys)
    op = {"S3PutObjectCopy": {"TargetResource": f"arn:aws:s3:::{dst}", "TargetKeyPrefix": "c/"}}
    jid = csv_job(man, etag, op, tags={"quarry:dry-run": "true", "quarry:dry-run-keys": "3"},
                  report=rep)
    job = wait_job(jid)
    eq(job["Status"], "Complete", "status")
    ps = job["ProgressSummary"]
    eq((ps["TotalNumberOfTasks"], ps["NumberOfTasksSucceeded"], ps["NumberOfTasksFailed"]),
       (3, 2, 1), "checked tasks")
    reason = job.get("StatusUpdateReason", "")
    for needle in ("Dry run", "5 tasks", "S3PutObjectCopy", "2 exist, 1 missing", "Nothing was changed"):
        check(needle in reason, f"{needle!r} in {reason!r}")
    eq(s3.list_objects_v2(Bucket=dst).get("KeyCount", 0), 0, "nothing copied")
    m = json.loads(s3.get_object(Bucket=rep, Key=f"rep/job-{jid}/manifest.json")["Body"].read())
    rows = []
    for r in m["Results"]:
        rows += s3.get_object(Bucket=rep, Key=r["Key"])["Body"].read().decode().splitlines()
    eq(len(rows), 3, "report rows")
    check(any("missing" in r and "NoSuchKey" in r for r in rows), f"missing object reported: {rows}")
    check(all("Dry run" in r for r in rows), "rows say dry run")
    job = wait_job(csv_job(man, etag, op))
    eq((job["Status"], job["ProgressSummary"]["NumberOfTasksSucceeded"]), ("Complete", 4),
       "without the tag the job runs")


@test
def dry_run_generator_writes_no_manifest():
    """A dry run of a generator job with EnableManifestOutput lists and checks but writes no
    generated manifest (and tags nothing); the same job without the tag writes it."""
    src, out = gen_source(), gp_bucket()
    output = {"Bucket": f"arn:aws:s3:::{out}", "ManifestPrefix": "gen",
              "ManifestFormat": "S3InventoryReport_CSV_20211130"}
    jid = generator_job(src, output=output, op=tag_op("dry"), tags=[
        {"Key": "quarry:dry-run", "Value": "true"}])
    job = wait_job(jid)
    eq(job["Status"], "Complete", f"status {job.get('FailureReasons')}")
    check("Dry run" in job.get("StatusUpdateReason", ""), job.get("StatusUpdateReason"))
    eq(s3.list_objects_v2(Bucket=out).get("KeyCount", 0), 0, "no generated manifest")
    check("GeneratedManifestDescriptor" not in job, "no descriptor")
    eq(tagged(src, "dry"), [], "nothing tagged")
    jid = generator_job(src, output=output, op=tag_op("dry"))
    eq(wait_job(jid)["Status"], "Complete", "without the tag")
    s3.head_object(Bucket=out, Key=f"gen/job-{jid}/manifest.json")


def job_tags(jid):
    return {t["Key"]: t["Value"] for t in s3c.get_job_tagging(AccountId=ACCOUNT, JobId=jid)["Tags"]}


@test
def rate_and_eta_tags():
    """quarry:progress=true: GetJobTagging shows quarry:rate and quarry:eta computed by the
    server (unknown before the job runs, 0 once done, the rate matching the counters); a job
    without the tag shows only its own tags; putting quarry:rate does not store it."""
    src = gp_bucket()
    keys = [f"r{i}" for i in range(200)]
    for k in keys:
        s3.put_object(Bucket=src, Key=k, Body=b"")
    man, etag = csv_manifest(src, keys)
    jid = csv_job(man, etag, tag_op("rate"), tags={"quarry:progress": "true", "team": "x"},
                  confirm=True)
    end = time.monotonic() + JOB_DEADLINE_S
    while s3c.describe_job(AccountId=ACCOUNT, JobId=jid)["Job"]["Status"] != "Suspended":
        check(time.monotonic() < end, "job reaches Suspended")
        time.sleep(0.05)
    eq(job_tags(jid), {"quarry:progress": "true", "team": "x", "quarry:rate": "0.0",
                       "quarry:eta": "unknown"}, "before running")
    s3c.update_job_status(AccountId=ACCOUNT, JobId=jid, RequestedJobStatus="Ready")
    job = wait_job(jid)
    t = job_tags(jid)
    eq(t["quarry:eta"], "0", "eta once done")
    rate = float(t["quarry:rate"])
    check(rate >= 0, f"rate {rate}")
    s3c.put_job_tagging(AccountId=ACCOUNT, JobId=jid, Tags=[
        {"Key": "quarry:progress", "Value": "true"}, {"Key": "quarry:rate", "Value": "999"}])
    eq(job_tags(jid)["quarry:rate"], t["quarry:rate"], "a put quarry:rate is not stored")
    other = csv_job(man, etag, tag_op("rate2"), tags={"team": "y"})
    wait_job(other)
    eq(job_tags(other), {"team": "y"}, "no progress tags without the opt-in")


# ---- quarry job commands (subprocesses of the real binary) ----

def quarry_job(*args, timeout=120):
    exe = os.path.join(os.environ.get("BUILD", "build"), "quarry")
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("AWS_"):
            del env[k]
    env.update({"AWS_ENDPOINT_URL": srv.endpoint,
                "AWS_ENDPOINT_URL_S3_CONTROL": srv.control_endpoint, **srv.tls_env(),
                "AWS_ACCESS_KEY_ID": srv.access_key, "AWS_SECRET_ACCESS_KEY": srv.secret_key,
                "AWS_REGION": REGION, "AWS_ACCOUNT_ID": ACCOUNT})
    return subprocess.run([exe, "job", *args], env=env, capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@test
def cli_manifest_lists_with_encoded_keys():
    """`quarry job manifest BUCKET --prefix P --output s3://b/k` writes bucket,key lines for
    every object under the prefix (more than one listing page), keys URL-encoded, and prints
    the ARN and ETag; the manifest runs as a job. --output FILE writes the same lines."""
    src, man = gp_bucket(), gp_bucket()
    keys = ["p/a b.txt", "p/plus+.txt", "p/per%cent", "p/日本", "p/comma,quote\"", "q/other"]
    keys += [f"p/n{i:04d}" for i in range(1005)]
    for k in keys:
        s3.put_object(Bucket=src, Key=k, Body=b"m")
    r = quarry_job("manifest", src, "--prefix", "p/", "--output", f"s3://{man}/gen.csv")
    eq(r.returncode, 0, f"exit ({r.stderr.decode()})")
    arn, etag = r.stdout.decode().split()
    eq(arn, f"arn:aws:s3:::{man}/gen.csv", "printed ARN")
    body = s3.get_object(Bucket=man, Key="gen.csv")["Body"].read().decode()
    lines = body.splitlines()
    want = sorted(k for k in keys if k.startswith("p/"))
    eq(sorted(urllib.parse.unquote_plus(l.split(",", 1)[1]) for l in lines), want, "keys")
    check(all(re.fullmatch(r"[A-Za-z0-9_.~/%-]+", l.split(",", 1)[1]) for l in lines),
          "keys URL-encoded")
    eq(s3.head_object(Bucket=man, Key="gen.csv")["ETag"], etag, "printed ETag")
    job = wait_job(csv_job_at(man, "gen.csv", etag, tag_op("cli")))
    eq((job["Status"], job["ProgressSummary"]["NumberOfTasksSucceeded"]), ("Complete", len(want)),
       "the manifest runs")
    fd, path = tempfile.mkstemp(suffix=".csv")
    os.close(fd)
    try:
        r = quarry_job("manifest", src, "--prefix", "q/", "--output", path)
        eq(r.returncode, 0, "exit to file")
        eq(open(path).read(), f"{src},q/other\n", "file manifest")
    finally:
        if os.path.exists(path):
            os.unlink(path)
    r = quarry_job("manifest", "no-such-bucket-zz")
    check(r.returncode != 0 and b"NoSuchBucket" in r.stderr, f"missing bucket: {r.stderr!r}")


def csv_job_at(man, key, etag, op, report=None):
    return s3c.create_job(
        AccountId=ACCOUNT, ConfirmationRequired=False, Operation=op, Priority=7, RoleArn=ROLE,
        ClientRequestToken=str(uuid.uuid4()),
        Report=({"Bucket": f"arn:aws:s3:::{report}", "Format": "Report_CSV_20180820",
                 "Enabled": True, "Prefix": "rp", "ReportScope": "AllTasks"}
                if report else {"Enabled": False}),
        Manifest={"Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
                  "Location": {"ObjectArn": f"arn:aws:s3:::{man}/{key}", "ETag": etag}})["JobId"]


@test
def cli_watch_plain_lines():
    """`quarry job watch ID` without a terminal prints plain lines (status, done/total, counts,
    rate, eta) as the job moves and ends when it ends: exit 0 for Complete, 1 for Failed;
    the last line shows the final counts."""
    src = gp_bucket()
    keys = [f"w{i}" for i in range(300)]
    for k in keys:
        s3.put_object(Bucket=src, Key=k, Body=b"")
    man, etag = csv_manifest(src, keys + ["missing-1"])
    jid = csv_job(man, etag, tag_op("w"), confirm=True)
    proc = subprocess.Popen([os.path.join(os.environ.get("BUILD", "build"), "quarry"), "job",
                             "watch", jid], env={**{k: v for k, v in os.environ.items()
                                                    if not k.startswith("AWS_")},
                             "AWS_ENDPOINT_URL": srv.endpoint,
                             "AWS_ENDPOINT_URL_S3_CONTROL": srv.control_endpoint, **srv.tls_env(),
                             "AWS_ACCESS_KEY_ID": srv.access_key,
                             "AWS_SECRET_ACCESS_KEY": srv.secret_key, "AWS_REGION": REGION,
                             "AWS_ACCOUNT_ID": ACCOUNT},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline().decode()
    check(re.fullmatch(rf"job {jid} (New|Preparing|Suspended) \d+/\d+ succeeded=0 failed=0 "
                       r"rate=0\.0/s eta=\S+\n", first), f"first line {first!r}")
    s3c.update_job_status(AccountId=ACCOUNT, JobId=jid, RequestedJobStatus="Ready")
    out, err = proc.communicate(timeout=120)
    lines = [first] + out.decode().splitlines(keepends=True)
    eq(proc.returncode, 0, f"exit ({err.decode()})")
    pat = re.compile(rf"job {jid} (\w+) (\d+)/(\d+) succeeded=(\d+) failed=(\d+) "
                     r"rate=([0-9.]+)/s eta=(\S+)\n")
    parsed = [pat.fullmatch(l) for l in lines]
    check(all(parsed), f"every line plain: {lines}")
    last = parsed[-1]
    eq((last[1], last[2], last[3], last[4], last[5], last[7]),
       ("Complete", "301", "301", "300", "1", "0s"), "last line")
    eq(len(set(l for l in lines)), len(lines), "a line only when something changed")
    bad = gp_bucket()
    betag = s3.put_object(Bucket=bad, Key="m.csv", Body=b"NOT A BUCKET!,k\n")["ETag"]
    job2 = csv_job(bad, betag, tag_op("w"))
    r = quarry_job("watch", job2)
    tail = r.stdout.decode().splitlines()[-1]
    check(r.returncode == 1 and re.fullmatch(rf"job {job2} Failed 0/0 succeeded=0 failed=0 "
                                             r"rate=0\.0/s eta=\S+", tail),
          f"a failed job ends watch with 1: {r.returncode} {tail!r}")


@test
def cli_watch_terminal_bar():
    """On a terminal (a pty) `quarry job watch` redraws one line in place: carriage return,
    a progress bar, done/total, tasks/s and ETA, then a newline when the job ends."""
    import pty
    src = gp_bucket()
    for k in ("t1", "t2"):
        s3.put_object(Bucket=src, Key=k, Body=b"")
    jid = csv_job(*csv_manifest(src, ["t1", "t2"]), tag_op("tty"))
    wait_job(jid)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ENDPOINT_URL": srv.endpoint,
                "AWS_ENDPOINT_URL_S3_CONTROL": srv.control_endpoint, **srv.tls_env(),
                "AWS_ACCESS_KEY_ID": srv.access_key, "AWS_SECRET_ACCESS_KEY": srv.secret_key,
                "AWS_REGION": REGION, "AWS_ACCOUNT_ID": ACCOUNT})
    master, slave = pty.openpty()
    proc = subprocess.Popen([os.path.join(os.environ.get("BUILD", "build"), "quarry"), "job",
                             "watch", jid], env=env, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    eq(proc.wait(timeout=60), 0, "exit")
    text = out.decode()
    check(re.search(r"\r\x1b\[KComplete +\[#{30}\] 100% 2/2  failed 0  [0-9.]+ tasks/s  ETA 0s",
                    text), f"bar: {text!r}")
    check(text.endswith("\n"), "ends the line")


@test
def cli_rerun_failed():
    """`quarry job rerun-failed ID` reads the finished job's report, writes a manifest of its
    failed rows next to it and creates a job with the same operation, report and role: once
    the missing objects exist, the new job succeeds on exactly those."""
    src, rep = gp_bucket(), gp_bucket()
    have = ["r1", "r 2", "r+3"]
    gone = ["g 1", "g,2", "g%3"]
    for k in have:
        s3.put_object(Bucket=src, Key=k, Body=b"x")
    man, etag = csv_manifest(src, have + gone)
    jid = csv_job_at(man, "m.csv", etag, tag_op("re"), report=rep)
    job = wait_job(jid)
    eq((job["ProgressSummary"]["NumberOfTasksSucceeded"],
        job["ProgressSummary"]["NumberOfTasksFailed"]), (3, 3), "first run")
    for k in gone:
        s3.put_object(Bucket=src, Key=k, Body=b"y")
    r = quarry_job("rerun-failed", jid)
    eq(r.returncode, 0, f"exit ({r.stderr.decode()})")
    new = r.stdout.decode().strip()
    check(re.fullmatch(r"[0-9a-f-]{36}", new), f"new job id {new!r}")
    job2 = wait_job(new)
    eq((job2["Status"], job2["ProgressSummary"]["TotalNumberOfTasks"],
        job2["ProgressSummary"]["NumberOfTasksSucceeded"]), ("Complete", 3, 3), "rerun")
    eq((job2["Operation"], job2["RoleArn"], job2["Report"]["Bucket"], job2["Priority"]),
       (job["Operation"], job["RoleArn"], job["Report"]["Bucket"], job["Priority"]),
       "same operation, role, report, priority")
    check(job2["Manifest"]["Location"]["ObjectArn"].endswith(f"rp/job-{jid}/rerun-failed.csv"),
          "manifest beside the report")
    for k in gone:
        eq(tags_of(src, k), {"batch": "re"}, f"rerun tagged {k!r}")
    r = quarry_job("rerun-failed", new)
    check(r.returncode == 1 and b"no failed tasks" in r.stderr, f"nothing to rerun: {r.stderr!r}")


if __name__ == "__main__":
    run(setup=setup, teardown=teardown)
