#!/usr/bin/env python3
"""test_crash.py - kill -9 under write load loses nothing acknowledged and exposes nothing torn.

Several threads PUT new keys with random content (small inline objects and 200 KiB-1.5 MiB blob
objects, to both bucket types) and record the SHA-256 of every attempt and of every
acknowledged PUT. The server (fsync on) is killed with SIGKILL in the middle of the load
and restarted on the same data directory. Then every acknowledged object must read back
byte-identical, and every listed object must be one that was attempted, with a body whose
size matches the listing and whose content is the attempted one. Repeated for a few
rounds, so recovery after a crash is itself crashed. Every object is encrypted at rest:
SSE-S3 by default (each PUT must say AES256), and a quarter of the general purpose PUTs
use SSE-C, read back with their key.

Alongside, writers make versions of a few keys in a bucket with versioning and Object
Lock: new versions (some with GOVERNANCE retention) and delete markers. Every
acknowledged version must read back by its id, every acknowledged marker must still be
listed, and every acknowledged retention must still hold after the crash. Versions are
encrypted (SSE-S3) like every other object.
"""

import datetime
import hashlib
import os
import random
import threading
import time

from botocore.exceptions import ClientError

from harness import check, eq, run, test
from quarry_server import QuarryServer

srv = None
GP = "crash"
DIRB = "crash--use1-az4--x-s3"
THREADS = 8
MIN_ACKS = 60
attempted = {}   # (bucket, key) -> sha256 hex of the body tried
acked = {}       # (bucket, key) -> (sha256 hex, size)
live_errors = [] # PUT failures while the server was up (there should be none)
lock = threading.Lock()
SSE_C_KEY = os.urandom(32)
SSE_C = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": SSE_C_KEY}
ssec_objects = set()  # (bucket, key) written with SSE-C
VB = "crash-versions"
VTHREADS = 2
v_acked = {}     # (key, version id) -> sha256 hex of an acknowledged versioned PUT
v_markers = {}   # (key, version id) of acknowledged delete markers
v_locked = set() # (key, version id) acknowledged with GOVERNANCE retention


def setup():
    global srv
    srv = QuarryServer(fsync=True, extra_args=["--sse-c-over-http"]).start()
    c = srv.boto3_client()
    c.create_bucket(Bucket=GP)
    c.create_bucket(Bucket=DIRB, CreateBucketConfiguration={
        "Location": {"Type": "AvailabilityZone", "Name": "use1-az4"},
        "Bucket": {"DataRedundancy": "SingleAvailabilityZone", "Type": "Directory"}})
    c.create_bucket(Bucket=VB, ObjectLockEnabledForBucket=True)


def teardown():
    if srv is not None:
        srv.close()


def writer(round_no, tid, stop):
    c = srv.boto3_client(recorder=False, connect_timeout=2, read_timeout=20)
    rnd = random.Random(round_no * 1000 + tid)
    i = 0
    while not stop.is_set():
        bucket = GP if rnd.random() < 0.5 else DIRB
        big = rnd.random() < 0.4
        size = rnd.randint(200 * 1024, 1536 * 1024) if big else rnd.randint(0, 60 * 1024)
        data = rnd.randbytes(size)
        key = f"r{round_no}/t{tid}/{i}-{'big' if big else 'small'}"
        i += 1
        digest = hashlib.sha256(data).hexdigest()
        customer = bucket == GP and rnd.random() < 0.25
        with lock:
            attempted[(bucket, key)] = digest
            if customer:
                ssec_objects.add((bucket, key))
        try:
            r = c.put_object(Bucket=bucket, Key=key, Body=data, **(SSE_C if customer else {}))
            if not customer and r.get("ServerSideEncryption") != "AES256":
                raise RuntimeError("PUT not encrypted with SSE-S3")
        except Exception as e:  # noqa: BLE001 - the server is being killed
            if stop.is_set() or not srv.alive():
                return
            with lock:
                live_errors.append(f"{bucket}/{key}: {e}")
            continue
        with lock:
            acked[(bucket, key)] = (digest, size)


def get(c, bucket, key):
    return c.get_object(Bucket=bucket, Key=key,
                        **(SSE_C if (bucket, key) in ssec_objects else {}))["Body"].read()


def vwriter(round_no, tid, stop):
    """Versions of three keys: PUTs (every third with retention) and delete markers."""
    c = srv.boto3_client(recorder=False, connect_timeout=2, read_timeout=20)
    rnd = random.Random(round_no * 7919 + tid)
    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    i = 0
    while not stop.is_set():
        key = f"v{rnd.randint(0, 2)}"
        i += 1
        try:
            if i % 5 == 0:
                r = c.delete_object(Bucket=VB, Key=key)
                with lock:
                    v_markers[(key, r["VersionId"])] = True
                continue
            data = rnd.randbytes(rnd.choice([100, 300 * 1024]))
            kw = {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": until} \
                if i % 3 == 0 else {}
            r = c.put_object(Bucket=VB, Key=key, Body=data, **kw)
            if r.get("ServerSideEncryption") != "AES256":
                raise RuntimeError("versioned PUT not encrypted with SSE-S3")
            with lock:
                v_acked[(key, r["VersionId"])] = hashlib.sha256(data).hexdigest()
                if kw:
                    v_locked.add((key, r["VersionId"]))
        except Exception as e:  # noqa: BLE001 - the server is being killed
            if stop.is_set() or not srv.alive():
                return
            with lock:
                live_errors.append(f"{VB}/{key}: {e}")


def verify_versions(c):
    problems = []
    markers = set()
    for page in c.get_paginator("list_object_versions").paginate(Bucket=VB):
        markers |= {(m["Key"], m["VersionId"]) for m in page.get("DeleteMarkers", [])}
    for (key, vid), digest in sorted(v_acked.items()):
        try:
            r = c.get_object(Bucket=VB, Key=key, VersionId=vid)
            if hashlib.sha256(r["Body"].read()).hexdigest() != digest:
                problems.append(f"version {key}@{vid} differs")
            if (key, vid) in v_locked and r.get("ObjectLockMode") != "GOVERNANCE":
                problems.append(f"version {key}@{vid} lost its retention")
        except ClientError as e:
            problems.append(f"acknowledged version {key}@{vid} unreadable: {e}")
    for mk in sorted(v_markers):
        if mk not in markers:
            problems.append(f"acknowledged delete marker {mk[0]}@{mk[1]} is gone")
    for key, vid in sorted(v_locked)[:3]:
        try:
            c.delete_object(Bucket=VB, Key=key, VersionId=vid)
            problems.append(f"locked version {key}@{vid} deleted after the crash")
        except ClientError as e:
            if e.response["Error"]["Code"] != "AccessDenied":
                problems.append(f"locked version {key}@{vid}: {e}")
    return problems


def verify(c):
    problems = verify_versions(c)
    for (bucket, key), (digest, size) in sorted(acked.items()):
        try:
            body = get(c, bucket, key)
        except Exception as e:  # noqa: BLE001
            problems.append(f"acknowledged {bucket}/{key} unreadable: {e}")
            continue
        if hashlib.sha256(body).hexdigest() != digest:
            problems.append(f"acknowledged {bucket}/{key} differs: {len(body)} bytes, want {size}")
    for bucket in (GP, DIRB):
        for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                k = (bucket, o["Key"])
                if k not in attempted:
                    problems.append(f"listed {bucket}/{o['Key']} was never written")
                    continue
                try:
                    body = get(c, bucket, o["Key"])
                except Exception as e:  # noqa: BLE001
                    problems.append(f"listed {bucket}/{o['Key']} unreadable: {e}")
                    continue
                if len(body) != o["Size"]:
                    problems.append(f"listed {bucket}/{o['Key']}: size {o['Size']} but body {len(body)} bytes")
                elif hashlib.sha256(body).hexdigest() != attempted[k]:
                    problems.append(f"listed {bucket}/{o['Key']}: content is not what was written")
    return problems


def crash_round(round_no):
    stop = threading.Event()
    before = len(acked)
    threads = [threading.Thread(target=writer, args=(round_no, t, stop), daemon=True) for t in range(THREADS)]
    threads += [threading.Thread(target=vwriter, args=(round_no, t, stop), daemon=True)
                for t in range(VTHREADS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acked) - before < MIN_ACKS and time.monotonic() < deadline:
        time.sleep(0.02)
    check(len(acked) - before >= MIN_ACKS, f"only {len(acked) - before} PUTs acknowledged in 60 s")
    stop.set()
    srv.kill9()
    for t in threads:
        t.join(timeout=30)
    check(not any(t.is_alive() for t in threads), "writer threads hang after the kill")
    errs = list(live_errors)
    live_errors.clear()
    srv.restart(same_port=False)
    c = srv.boto3_client()
    problems = verify(c)
    check(not errs, f"round {round_no}: PUTs failed before the kill:\n" + "\n".join(errs[:10]))
    check(not problems, f"round {round_no}: {len(problems)} problems after kill -9 "
                        f"({len(acked)} acked, {len(attempted)} attempted):\n" + "\n".join(problems[:20]))
    # and the server takes writes again
    c.put_object(Bucket=GP, Key=f"r{round_no}/after", Body=b"after crash")
    eq(c.get_object(Bucket=GP, Key=f"r{round_no}/after")["Body"].read(), b"after crash", "write after restart")
    attempted[(GP, f"r{round_no}/after")] = hashlib.sha256(b"after crash").hexdigest()
    acked[(GP, f"r{round_no}/after")] = (attempted[(GP, f"r{round_no}/after")], 11)


@test
def crash_during_puts_round1():
    crash_round(1)


@test
def crash_during_puts_round2():
    crash_round(2)


@test
def crash_during_puts_round3():
    crash_round(3)


@test
def clean_restart_keeps_everything():
    srv.restart(same_port=False)
    problems = verify(srv.boto3_client())
    check(not problems, "\n".join(problems[:20]))
    check(v_acked and v_markers and v_locked,
          f"versioned load too thin: {len(v_acked)} versions, {len(v_markers)} markers, "
          f"{len(v_locked)} locked")


if __name__ == "__main__":
    run(setup=setup, teardown=teardown)
