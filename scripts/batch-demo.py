#!/usr/bin/env python3
"""batch-demo.py - AWS's S3 Batch Operations walkthrough against a fresh quarry, with the
stock aws CLI, printing every command and what it answered (`make demo`).

Starts $BUILD/quarry on a free loopback port with a throwaway data directory, then: two
directory buckets, objects with awkward keys, a general purpose bucket holding the CSV
manifest, the walkthrough's Python function (create-function), create-job with
LambdaInvoke 2.0 and UserArguments, describe-job until Complete, the copied objects and
the completion report. S3 Control needs ACCOUNT.localhost to resolve to loopback
(libnss-myhostname or systemd-resolved). The server is stopped by PID at the end.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from quarry_server import ACCOUNT, REGION, QuarryServer, build_zip  # noqa: E402

FIXTURE = os.path.join(REPO, "tests", "integration", "lambda_fixtures", "batch_walkthrough",
                       "lambda_function.py")
KEYS = ["photos/cat one.jpg", "photos/dog+bone.jpg", "docs/100% done.txt", "docs/#1.txt",
        "unicode/café 日本.txt"]


def aws(env, *args, show=True):
    cmd = ["aws", *args, "--output", "json"]
    if show:
        print("$ " + " ".join(a if " " not in a and "{" not in a else f"'{a}'" for a in cmd[:-2]))
    p = subprocess.run(cmd, capture_output=True, env=env, timeout=120)
    if p.returncode != 0:
        sys.exit(f"failed: {p.stderr.decode()}")
    out = json.loads(p.stdout) if p.stdout.strip() else {}
    if show and out:
        print(json.dumps(out, indent=2, default=str)[:1500])
    return out


def main():
    with QuarryServer() as srv, tempfile.TemporaryDirectory() as home:
        env = srv.client_env(home)
        env["AWS_ENDPOINT_URL_S3_CONTROL"] = f"http://localhost:{srv.port}"
        print(f"quarry at {srv.endpoint}; S3 Control at http://localhost:{srv.port}\n")
        src, dst = "demo-src--use1-az4--x-s3", "demo-dst--use1-az4--x-s3"
        cfg = '{"Location":{"Type":"AvailabilityZone","Name":"use1-az4"},' \
              '"Bucket":{"DataRedundancy":"SingleAvailabilityZone","Type":"Directory"}}'
        for b in (src, dst):
            aws(env, "s3api", "create-bucket", "--bucket", b, "--create-bucket-configuration", cfg)
        aws(env, "s3api", "create-bucket", "--bucket", "demo-manifests")
        aws(env, "s3api", "create-bucket", "--bucket", "demo-reports")
        for k in KEYS:
            body = os.path.join(home, "body")
            with open(body, "w") as f:
                f.write(f"contents of {k}\n")
            aws(env, "s3api", "put-object", "--bucket", src, "--key", k, "--body", body, show=False)
        print(f"(uploaded {len(KEYS)} objects to {src})")
        manifest = os.path.join(home, "manifest.csv")
        with open(manifest, "w") as f:
            f.writelines(f"{src},{urllib.parse.quote_plus(k)}\n" for k in KEYS)
        print("manifest.csv:\n" + open(manifest).read())
        etag = aws(env, "s3api", "put-object", "--bucket", "demo-manifests", "--key",
                   "manifest.csv", "--body", manifest)["ETag"]
        zpath = os.path.join(home, "function.zip")
        with open(zpath, "wb") as f:
            f.write(build_zip({"lambda_function.py": open(FIXTURE, "rb").read()}))
        aws(env, "lambda", "create-function", "--function-name", "s3batchops-function",
            "--runtime", "python3.11", "--handler", "lambda_function.lambda_handler",
            "--role", f"arn:aws:iam::{ACCOUNT}:role/lambda-ex", "--timeout", "30",
            "--zip-file", f"fileb://{zpath}")
        op = {"LambdaInvoke": {
            "FunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:s3batchops-function",
            "InvocationSchemaVersion": "2.0",
            "UserArguments": {"MyDestinationBucket": dst, "MyDestinationBucketRegion": REGION,
                              "MyDestinationPrefix": "copied/",
                              "MyDestinationObjectKeySuffix": "_new_suffix"}}}
        man = {"Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
               "Location": {"ObjectArn": "arn:aws:s3:::demo-manifests/manifest.csv",
                            "ETag": etag}}
        rep = {"Bucket": "arn:aws:s3:::demo-reports", "Format": "Report_CSV_20180820",
               "Enabled": True, "Prefix": "ReportPrefix", "ReportScope": "AllTasks"}
        jid = aws(env, "s3control", "create-job", "--account-id", ACCOUNT, "--operation",
                  json.dumps(op), "--manifest", json.dumps(man), "--priority", "1",
                  "--role-arn", f"arn:aws:iam::{ACCOUNT}:role/batch-ops",
                  "--no-confirmation-required", "--report", json.dumps(rep))["JobId"]
        t0 = time.monotonic()
        while True:
            job = aws(env, "s3control", "describe-job", "--account-id", ACCOUNT, "--job-id", jid,
                      show=False)["Job"]
            if job["Status"] in ("Complete", "Failed", "Cancelled"):
                break
            time.sleep(0.2)
        print(f"\n(job {job['Status']} after {time.monotonic() - t0:.1f} s)")
        aws(env, "s3control", "describe-job", "--account-id", ACCOUNT, "--job-id", jid)
        aws(env, "s3api", "list-objects-v2", "--bucket", dst, "--query", "Contents[].Key")
        listed = aws(env, "s3api", "list-objects-v2", "--bucket", "demo-reports", "--query",
                     "Contents[].Key")
        for key in listed:
            out = os.path.join(home, "report")
            aws(env, "s3api", "get-object", "--bucket", "demo-reports", "--key", key, out,
                show=False)
            print(f"--- demo-reports/{key}\n{open(out, encoding='utf-8').read()}")


if __name__ == "__main__":
    main()
