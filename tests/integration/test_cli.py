#!/usr/bin/env python3
"""test_cli.py - the user walkthrough with the stock `aws` CLI (v1, on PATH) against quarry.

The CLI runs with only AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_DEFAULT_REGION /
AWS_ENDPOINT_URL set and a throwaway HOME and config paths, so no user configuration
leaks in. Steps are the ones a user types: create a directory bucket and a general
purpose bucket, upload a folder recursively, list it, copy across bucket types, sync
both ways (a second sync transfers nothing), and a 64 MiB upload that goes multipart,
downloaded again and compared by SHA-256, on both bucket types.
"""

import hashlib
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
MEDIA = "media--use1-az4--x-s3"
ARCHIVE = "archive"
DIR_CFG = ('{"Location":{"Type":"AvailabilityZone","Name":"use1-az4"},'
           '"Bucket":{"DataRedundancy":"SingleAvailabilityZone","Type":"Directory"}}')
PHOTOS = {"a.jpg": 3000, "b.png": 70 * 1024, "with space.jpg": 10, "sub/c.txt": 1, "sub/deep/ü.gif": 300 * 1024,
          "empty.bin": 0}


def setup():
    global srv, work, env
    # Debian's CLI v2.9 ignores AWS_ENDPOINT_URL and would talk to real AWS: refuse it
    v = subprocess.run(["aws", "--version"], capture_output=True, timeout=60)
    ver = (v.stdout + v.stderr).decode(errors="replace").strip()
    if not ver.startswith("aws-cli/1."):
        major_minor = ver.split("/")[1].split(" ")[0].split(".")[:2] if ver.startswith("aws-cli/") else ["0", "0"]
        if [int(x) for x in major_minor] < [2, 13]:
            raise RuntimeError(f"`aws` is {ver!r}: it does not honour AWS_ENDPOINT_URL (need v1 or >= 2.13)")
    srv = QuarryServer().start()
    work = tempfile.mkdtemp(prefix="quarry-cli-")
    home = os.path.join(work, "home")
    os.mkdir(home)
    env = srv.client_env(home)
    for name, size in PHOTOS.items():
        p = os.path.join(work, "photos", name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(os.urandom(size))


def teardown():
    if srv is not None:
        srv.close()
    if work:
        shutil.rmtree(work, ignore_errors=True)


def aws(*args, ok=True, timeout=600):
    r = subprocess.run(["aws", *args], cwd=work, env=env, capture_output=True, timeout=timeout)
    if ok and r.returncode != 0:
        raise AssertionError(f"`aws {' '.join(args)}` exited {r.returncode}\n  stdout: "
                             f"{r.stdout.decode(errors='replace')[-1500:]}\n  stderr: "
                             f"{r.stderr.decode(errors='replace')[-1500:]}\n  server log tail:\n{srv.log_tail(10)}")
    return r.stdout.decode(errors="replace")


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def local_tree(root):
    out = {}
    for d, _, files in os.walk(root):
        for n in files:
            p = os.path.join(d, n)
            out[os.path.relpath(p, root)] = sha(p)
    return out


@test
def create_buckets():
    aws("s3api", "create-bucket", "--bucket", MEDIA, "--create-bucket-configuration", DIR_CFG)
    aws("s3api", "create-bucket", "--bucket", ARCHIVE)
    out = json.loads(aws("s3api", "list-buckets"))
    eq([b["Name"] for b in out["Buckets"]], [ARCHIVE], "list-buckets")
    out = json.loads(aws("s3api", "list-directory-buckets"))
    eq([b["Name"] for b in out["Buckets"]], [MEDIA], "list-directory-buckets")
    check(ARCHIVE in aws("s3", "ls"), "aws s3 ls lacks archive")


@test
def recursive_upload_and_list():
    aws("s3", "cp", "./photos", f"s3://{MEDIA}/photos/", "--recursive")
    out = json.loads(aws("s3api", "list-objects-v2", "--bucket", MEDIA, "--prefix", "photos/"))
    got = {o["Key"]: o["Size"] for o in out.get("Contents", [])}
    eq(got, {f"photos/{k}": v for k, v in PHOTOS.items()}, "listed photos")
    ls = aws("s3", "ls", f"s3://{MEDIA}/photos/", "--recursive")
    for k in PHOTOS:
        check(f"photos/{k}" in ls, f"aws s3 ls misses photos/{k}:\n{ls}")


@test
def copy_across_bucket_types():
    aws("s3", "cp", f"s3://{MEDIA}/photos/a.jpg", f"s3://{ARCHIVE}/a.jpg")
    aws("s3", "cp", f"s3://{ARCHIVE}/a.jpg", "./a.out")
    eq(sha(os.path.join(work, "a.out")), sha(os.path.join(work, "photos", "a.jpg")), "copied a.jpg")
    aws("s3", "cp", f"s3://{ARCHIVE}/a.jpg", f"s3://{MEDIA}/back/a.jpg")
    aws("s3", "cp", f"s3://{MEDIA}/back/a.jpg", "./a2.out")
    eq(sha(os.path.join(work, "a2.out")), sha(os.path.join(work, "photos", "a.jpg")), "copied back")
    out = json.loads(aws("s3api", "head-object", "--bucket", ARCHIVE, "--key", "a.jpg"))
    eq(out["ContentLength"], PHOTOS["a.jpg"], "head-object length")


def sync_round(bucket):
    dest = f"s3://{bucket}/synced/"
    first = aws("s3", "sync", "./photos", dest)
    eq(first.count("upload:"), len(PHOTOS), f"first sync to {bucket} uploads:\n{first}")
    second = aws("s3", "sync", "./photos", dest)
    eq(second.strip(), "", f"second sync to {bucket} transferred something")
    down = os.path.join(work, f"down-{bucket}")
    first = aws("s3", "sync", dest, down)
    eq(first.count("download:"), len(PHOTOS), f"first sync from {bucket} downloads:\n{first}")
    eq(local_tree(down), local_tree(os.path.join(work, "photos")), f"tree synced from {bucket}")
    second = aws("s3", "sync", dest, down)
    eq(second.strip(), "", f"second sync from {bucket} transferred something")
    # a changed local file is uploaded again, and only that one
    p = os.path.join(work, "photos", "sub", "c.txt")
    with open(p, "wb") as f:
        f.write(b"changed content")
    third = aws("s3", "sync", "./photos", dest)
    eq(third.count("upload:"), 1, f"sync after one change to {bucket}:\n{third}")


@test
def sync_general_purpose():
    sync_round(ARCHIVE)


@test
def sync_directory_bucket():
    """aws-cli v1 refuses `s3 sync` on directory buckets by itself (client-side message
    "Cannot use sync command with a directory bucket."); then the same round trip is done
    with recursive cp, which is what the CLI allows."""
    r = subprocess.run(["aws", "s3", "sync", "./photos", f"s3://{MEDIA}/synced/"], cwd=work, env=env,
                       capture_output=True, timeout=600)
    if r.returncode != 0 and b"Cannot use sync command with a directory bucket" in r.stderr:
        aws("s3", "cp", "./photos", f"s3://{MEDIA}/synced/", "--recursive")
        down = os.path.join(work, f"down-{MEDIA}")
        aws("s3", "cp", f"s3://{MEDIA}/synced/", down, "--recursive")
        eq(local_tree(down), local_tree(os.path.join(work, "photos")), "tree copied back from the directory bucket")
        return
    check(r.returncode == 0, f"aws s3 sync to {MEDIA}: {r.stderr.decode(errors='replace')[-800:]}")
    aws("s3", "rm", f"s3://{MEDIA}/synced/", "--recursive")
    sync_round(MEDIA)


def big_round(bucket):
    big = os.path.join(work, "big")
    if not os.path.exists(big):
        with open(big, "wb") as f:
            for _ in range(64):
                f.write(os.urandom(1 << 20))
    aws("s3", "cp", "big", f"s3://{bucket}/big")
    head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "big"))
    eq(head["ContentLength"], 64 << 20, f"{bucket} big length")
    if not bucket.endswith("--x-s3"):
        check(head["ETag"].strip('"').endswith("-8"), f"{bucket} big ETag {head['ETag']} is not an 8-part ETag")
    down = os.path.join(work, f"big.{bucket}")
    aws("s3", "cp", f"s3://{bucket}/big", down)
    eq(sha(down), sha(big), f"{bucket} 64 MiB round trip sha256")
    os.unlink(down)
    part = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "big", "--part-number", "1"))
    eq(part["ContentLength"], 8 << 20, f"{bucket} part 1 length (went multipart?)")
    eq(part.get("PartsCount"), 8, f"{bucket} PartsCount")


@test
def multipart_64mib_general_purpose():
    big_round(ARCHIVE)


@test
def multipart_64mib_directory_bucket():
    big_round(MEDIA)


@test
def remove_and_delete_buckets():
    aws("s3", "rm", f"s3://{MEDIA}/", "--recursive")
    aws("s3", "rm", f"s3://{ARCHIVE}/", "--recursive")
    out = json.loads(aws("s3api", "list-objects-v2", "--bucket", MEDIA) or "{}")
    eq(out.get("Contents", []), [], "media after rm --recursive")
    aws("s3api", "delete-bucket", "--bucket", MEDIA)
    aws("s3", "rb", f"s3://{ARCHIVE}")
    out = json.loads(aws("s3api", "list-buckets"))
    eq(out["Buckets"], [], "buckets after delete")


if __name__ == "__main__":
    run(setup=setup, teardown=teardown)
