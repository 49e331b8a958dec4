#!/usr/bin/env python3
"""test_durability.py - a PUT is acknowledged only after its bytes and its row are durable.

Runs quarry (fsync on) under the qr_durability_shim LD_PRELOAD library, makes sequential
PUTs of blob-sized (> 64 KiB, stored in files) and small (inline) objects, then versioned
PUTs, a delete marker and Object Lock retention on a versioned bucket, each wrapped in
MARK lines, and checks with durability_check that for every blob
fsync(tmp) < rename(tmp -> final) < fsync(dir) < sync(meta.db-wal) < response write, and
for every small object sync(meta.db-wal) < response write. The checker is first fed
hand-made bad logs (and a real log with the response moved earlier) to prove it fails.
Every PUT is SSE-S3 (quarry's default), so this is the order of an encrypted PUT.
"""

import copy
import datetime
import os
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)

import durability_check as dc  # noqa: E402
from harness import check, eq, run, test  # noqa: E402
from quarry_server import QuarryServer  # noqa: E402

_shim = None
_tmp = tempfile.mkdtemp(prefix="quarry-dur-")


def shim_env(log):
    """The shim and its log; under a sanitizer build ASan must tolerate a preload ahead
    of its runtime (the shim forwards to the next definition, so both see every call)."""
    asan = os.environ.get("ASAN_OPTIONS", "")
    return {"LD_PRELOAD": shim_path(), "QR_DURABILITY_LOG": log,
            "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"}


def shim_path():
    global _shim
    if _shim is None:
        if os.environ.get("QR_SHIM"):
            _shim = os.environ["QR_SHIM"]
        else:
            out = os.path.join(_tmp, "shim")
            subprocess.run(["make", "-s", "-C", HERE, f"OUT={out}"], check=True,
                           stdout=subprocess.DEVNULL)
            _shim = os.path.join(out, "libqr_durability.so")
    return _shim


# ---- the checker must be able to fail ----

D = "/srv/d"


def synth(order):
    """A log for one blob PUT 'p' with the events in the given order."""
    ev = {
        "fsync_tmp": f"1\t9\t10\tfsync\t5\t0\t{D}/objects/tmp/b1.tmp\t\t\n",
        "rename": f"2\t9\t10\trenameat\t-1\t0\t{D}/objects/tmp/b1.tmp\t{D}/objects/ab/b1\t\n",
        "fsync_dir": f"3\t9\t10\tfsync\t6\t0\t{D}/objects/ab\t\t\n",
        "wal": f"4\t9\t11\tfdatasync\t7\t0\t{D}/meta.db-wal\t\t\n",
        "resp": f"5\t9\t12\tsockwritev\t8\t300\t\t\tHTTP/1.1%20200%20OK\n",
    }
    lines = [dc.mark_line(1, 1, "begin", "p")]
    lines += [f"0\t9\t12\tsockwritev\t8\t25\t\t\tHTTP/1.1%20100%20Con\n"]
    lines += [ev[k] for k in order]
    lines.append(dc.mark_line(1, 1, "end", "p"))
    return dc.parse("".join(lines))


GOOD = ["fsync_tmp", "rename", "fsync_dir", "wal", "resp"]


@test
def checker_accepts_good_order():
    eq(dc.check(synth(GOOD), [("p", "blob")], D), [], "problems")
    eq(dc.check(synth(["wal", "resp"]), [("p", "small")], D), [], "problems")


@test
def checker_rejects_bad_orders():
    bad = {
        "response before wal sync": ["fsync_tmp", "rename", "fsync_dir", "resp", "wal"],
        "rename before tmp fsync": ["rename", "fsync_tmp", "fsync_dir", "wal", "resp"],
        "dir fsync before rename": ["fsync_tmp", "fsync_dir", "rename", "wal", "resp"],
        "wal before dir fsync": ["fsync_tmp", "rename", "wal", "fsync_dir", "resp"],
        "no dir fsync": ["fsync_tmp", "rename", "wal", "resp"],
        "no rename": ["fsync_tmp", "fsync_dir", "wal", "resp"],
        "no response": ["fsync_tmp", "rename", "fsync_dir", "wal"],
    }
    for name, order in bad.items():
        probs = dc.check(synth(order), [("p", "blob")], D)
        check(probs, f"checker accepted a log with {name}")
    probs = dc.check(synth(["resp", "wal"]), [("p", "small")], D)
    check(probs, "checker accepted a small PUT answered before the wal sync")
    probs = dc.check(synth(GOOD), [("q", "blob")], D)
    check(probs, "checker accepted a missing segment")


@test
def shim_logs_what_it_should():
    """The shim really sees fsync paths, renames and socket writes of a process."""
    log = os.path.join(_tmp, "self.log")
    d = os.path.join(_tmp, "selfdir")
    os.makedirs(d, exist_ok=True)
    prog = (
        "import os,socket\n"
        f"d={d!r}\n"
        "fd=os.open(d+'/t',os.O_CREAT|os.O_WRONLY);os.write(fd,b'x');os.fsync(fd);os.close(fd)\n"
        "os.rename(d+'/t',d+'/f')\n"
        "dfd=os.open(d,os.O_RDONLY);os.fsync(dfd);os.close(dfd)\n"
        "a,b=socket.socketpair();a.sendall(b'HTTP/1.1 200 OK\\r\\n');os.write(a.fileno(),b'more')\n"
    )
    env = dict(os.environ, **shim_env(log))
    subprocess.run([sys.executable, "-c", prog], env=env, check=True)
    evs = dc.parse(open(log).read())
    real_d = os.path.realpath(d)
    check(any(e.kind == "fsync" and e.path == real_d + "/t" for e in evs), f"no fsync of t: {evs}")
    check(any(e.kind in dc.RENAME and e.path == real_d + "/t" and e.path2 == real_d + "/f" for e in evs),
          f"no rename t->f: {evs}")
    check(any(e.kind == "fsync" and e.path == real_d for e in evs), f"no dir fsync: {evs}")
    check(any(dc.is_final_response(e) for e in evs), f"no socket response write: {evs}")


# ---- the real server ----

_state = {}


def put_sequence():
    """Runs the shimmed server once and returns (events, puts, data_dir)."""
    if "events" in _state:
        return _state["events"], _state["puts"], _state["data"]
    log = os.path.join(_tmp, "server-dur.log")
    srv = QuarryServer(fsync=True, env=shim_env(log))
    try:
        srv.start()
        # plain HTTP even in TLS mode: the shim finds responses by their bytes on the socket
        c = srv.boto3_client(plain=True)
        c.create_bucket(Bucket="dur")
        c.create_bucket(Bucket="dur--use1-az4--x-s3", CreateBucketConfiguration={
            "Location": {"Type": "AvailabilityZone", "Name": "use1-az4"},
            "Bucket": {"DataRedundancy": "SingleAvailabilityZone", "Type": "Directory"}})
        c.create_bucket(Bucket="durv", ObjectLockEnabledForBucket=True)
        # warm the directory bucket's session so its CreateSession is not inside a segment
        c.list_objects_v2(Bucket="dur--use1-az4--x-s3")
        mfd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        puts = []
        sizes = [("blob", 65 * 1024 + 1), ("small", 100), ("blob", 300 * 1024), ("small", 4096),
                 ("blob", 1024 * 1024), ("small", 0), ("blob", 200 * 1024)]
        tid = threading.get_native_id()
        for i, (kind, size) in enumerate(sizes):
            for bucket in ("dur", "dur--use1-az4--x-s3"):
                label = f"{bucket}/k{i}-{kind}"
                os.write(mfd, dc.mark_line(os.getpid(), tid, "begin", label).encode())
                r = c.put_object(Bucket=bucket, Key=f"k{i}-{kind}", Body=os.urandom(size))
                os.write(mfd, dc.mark_line(os.getpid(), tid, "end", label).encode())
                # every PUT here is encrypted (SSE-S3 by default): the order holds for it
                check(r.get("ServerSideEncryption") == "AES256", f"{label} not SSE-S3")
                puts.append((label, kind))
        # versions, a delete marker and retention: each acknowledged only once in the WAL
        # (and, for a blob version, once its file is durable)
        until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
        steps = [
            ("vblob", "blob", lambda: c.put_object(Bucket="durv", Key="v", Body=os.urandom(300 * 1024))),
            ("vsmall", "small", lambda: c.put_object(Bucket="durv", Key="v", Body=b"second")),
            ("marker", "small", lambda: c.delete_object(Bucket="durv", Key="v")),
            ("locked", "small", lambda: c.put_object(
                Bucket="durv", Key="l", Body=b"l", ObjectLockMode="GOVERNANCE",
                ObjectLockRetainUntilDate=until)),
            ("retention", "small", lambda: c.put_object_retention(
                Bucket="durv", Key="l",
                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until + datetime.timedelta(days=1)})),
        ]
        for name, kind, step in steps:
            label = f"durv/{name}"
            os.write(mfd, dc.mark_line(os.getpid(), tid, "begin", label).encode())
            step()
            os.write(mfd, dc.mark_line(os.getpid(), tid, "end", label).encode())
            puts.append((label, kind))
        os.close(mfd)
        _state.update(events=dc.parse(open(log).read()), puts=puts, data=srv.data)
        # the data dir is removed on close; the checker only needs its path
        _state["data"] = srv.data
    finally:
        srv.stop()
    _state["srv"] = srv
    return _state["events"], _state["puts"], _state["data"]


@test
def server_put_is_durable_before_ack():
    events, puts, data = put_sequence()
    probs = dc.check(events, puts, data)
    check(not probs, "durability order violated:\n" + "\n".join(probs))


@test
def checker_rejects_real_log_with_early_response():
    """Move each blob PUT's response write to the start of its segment: must be caught."""
    events, puts, data = put_sequence()
    segs, _ = dc.segments(events)
    lines = []
    for label, kind in puts:
        evs = segs.get(label, [])
        evs = [copy.copy(e) for e in evs]  # the shared log stays as it was
        resp = [e for e in evs if dc.is_final_response(e)]
        rest = [e for e in evs if not dc.is_final_response(e)]
        lines.append((label, resp + rest))
    # rebuild an event list with fresh indexes in the new order
    mutated = []
    for label, evs in lines:
        mutated.append(dc.Event(0, ["0", "1", "1", "MARK", "-1", "0", "begin", label]))
        mutated += evs
        mutated.append(dc.Event(0, ["0", "1", "1", "MARK", "-1", "0", "end", label]))
    for i, e in enumerate(mutated):
        e.idx = i
    probs = dc.check(mutated, puts, data)
    bad = [l for l, _ in puts if not any(p.startswith(l + ":") for p in probs)]
    check(not bad, f"checker missed early responses for {bad}")


def teardown():
    srv = _state.get("srv")
    if srv is not None:
        srv.close()
    import shutil
    shutil.rmtree(_tmp, ignore_errors=True)


if __name__ == "__main__":
    run(teardown=teardown)
