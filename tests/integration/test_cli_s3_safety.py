#!/usr/bin/env python3
"""test_cli_s3_safety.py - the stock `aws` CLI (v1) never gets one S3 operation carried
out as another: sub-resources quarry does not serve are refused and change nothing,
version ids never reach the live object, and the versioning calls tools make before
emptying a bucket answer as S3 does for a bucket that was never versioned.
"""

import json
import os
import shutil
import subprocess
import tempfile

from harness import check, eq, run, test
from quarry_server import QuarryServer

srv = None
work = None
env = None


def setup():
    global srv, work, env
    v = subprocess.run(["aws", "--version"], capture_output=True, timeout=60)
    ver = (v.stdout + v.stderr).decode(errors="replace").strip()
    if not ver.startswith("aws-cli/1."):
        raise RuntimeError(f"`aws` is {ver!r}: these tests need CLI v1 (AWS_ENDPOINT_URL)")
    srv = QuarryServer().start()
    work = tempfile.mkdtemp(prefix="quarry-cli-safety-")
    home = os.path.join(work, "home")
    os.mkdir(home)
    env = srv.client_env(home)
    with open(os.path.join(work, "f.txt"), "wb") as f:
        f.write(b"keep me\n")


def teardown():
    if srv is not None:
        srv.close()
    if work:
        shutil.rmtree(work, ignore_errors=True)


def aws(*args, ok=True):
    r = subprocess.run(["aws", *args], cwd=work, env=env, capture_output=True, timeout=300)
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    if ok and r.returncode != 0:
        raise AssertionError(f"`aws {' '.join(args)}` exited {r.returncode}: {err[-1500:]}")
    if not ok and r.returncode == 0:
        raise AssertionError(f"`aws {' '.join(args)}` succeeded: {out[-800:]}")
    return out if ok else err


def keys(bucket):
    out = aws("s3api", "list-objects-v2", "--bucket", bucket)
    return [o["Key"] for o in json.loads(out or "{}").get("Contents", [])]


@test
def delete_bucket_tagging_is_refused_and_the_bucket_stays():
    aws("s3api", "create-bucket", "--bucket", "cli-tags")
    err = aws("s3api", "delete-bucket-tagging", "--bucket", "cli-tags", ok=False)
    check("NotImplemented" in err, err)
    aws("s3api", "head-bucket", "--bucket", "cli-tags")
    err = aws("s3api", "put-bucket-tagging", "--bucket", "cli-tags", "--tagging",
              "TagSet=[{Key=a,Value=b}]", ok=False)
    check("NotImplemented" in err, err)


@test
def version_ids_and_versioning():
    aws("s3api", "create-bucket", "--bucket", "cli-ver")
    aws("s3api", "put-object", "--bucket", "cli-ver", "--key", "k", "--body", "f.txt")
    err = aws("s3api", "delete-object", "--bucket", "cli-ver", "--key", "k", "--version-id",
              "abc", ok=False)
    check("InvalidArgument" in err, err)
    eq(keys("cli-ver"), ["k"], "live object after a bad version id")
    eq(aws("s3api", "get-bucket-versioning", "--bucket", "cli-ver").strip(), "",
       "never-versioned bucket: empty configuration")
    out = json.loads(aws("s3api", "list-object-versions", "--bucket", "cli-ver"))
    eq([(v["Key"], v["VersionId"], v["IsLatest"]) for v in out["Versions"]],
       [("k", "null", True)], "versions")
    aws("s3api", "delete-object", "--bucket", "cli-ver", "--key", "k", "--version-id", "null")
    eq(keys("cli-ver"), [], "null version deleted")


@test
def meaning_changing_headers_are_refused():
    aws("s3api", "create-bucket", "--bucket", "cli-hdr")
    err = aws("s3api", "put-object", "--bucket", "cli-hdr", "--key", "a", "--body", "f.txt",
              "--acl", "public-read", ok=False)
    check("NotImplemented" in err, err)
    ssec = ("--sse-customer-algorithm", "AES256", "--sse-customer-key", "k" * 32)
    if srv.tls:  # SSE-C over HTTPS is served: the object reads back only with its key
        aws("s3api", "put-object", "--bucket", "cli-hdr", "--key", "b", "--body", "f.txt", *ssec)
        err = aws("s3api", "head-object", "--bucket", "cli-hdr", "--key", "b", ok=False)
        check("400" in err, err)
        aws("s3api", "delete-object", "--bucket", "cli-hdr", "--key", "b")
    else:
        err = aws("s3api", "put-object", "--bucket", "cli-hdr", "--key", "b", "--body", "f.txt",
                  *ssec, ok=False)
        check("secure connection" in err, err)  # SSE-C over plain HTTP: S3's refusal
    # Object Lock headers on a bucket created without it: S3's own refusal
    err = aws("s3api", "put-object", "--bucket", "cli-hdr", "--key", "c", "--body", "f.txt",
              "--object-lock-legal-hold-status", "ON", ok=False)
    check("InvalidRequest" in err and "Object Lock" in err, err)
    err = aws("s3", "cp", "f.txt", "s3://cli-hdr/d", "--sse", "aws:kms", ok=False)
    check("NotImplemented" in err, err)
    eq(keys("cli-hdr"), [], "nothing stored")
    aws("s3", "cp", "f.txt", "s3://cli-hdr/e", "--acl", "bucket-owner-full-control")
    eq(keys("cli-hdr"), ["e"], "a no-op ACL is accepted")
    aws("s3", "cp", "f.txt", "s3://cli-hdr/s", "--sse", "AES256")  # SSE-S3 is real now
    eq(keys("cli-hdr"), ["e", "s"], "SSE-S3 accepted")


if __name__ == "__main__":
    run(setup=setup, teardown=teardown)
