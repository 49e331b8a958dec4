#!/usr/bin/env python3
"""test_http.py - quarry's HTTP/1.1 layer against hostile and careless clients.

Raw sockets (so a test controls exactly when each byte goes out) with requests signed by
botocore's own SigV4 signer. What must hold:
- a request is authenticated from its head: an unsigned or wrongly signed 1 GiB PUT is
  answered while the client is still sending, and quarry's memory and data directory do
  not grow; Expect: 100-continue gets the error, not 100, when the signature is bad, and
  other Expect values are ignored (as S3 does), not 417;
- a body whose SHA-256 or checksum does not match leaves no object and no blob behind;
- idle connections cannot lock out a signed request, over-cap connections are evicted or
  refused (and logged), slow heads and slow bodies are dropped;
- keep-alive survives a refused small body, pipelined requests and chunked request bodies
  work.
These speak raw HTTP/1.1 bytes, so they use the plain port in both passes of run-all (the
same parser serves HTTPS once TLS is unwrapped; test_tls.py covers the TLS side).
"""

import base64
import hashlib
import os
import re
import resource
import select
import socket
import time
import urllib.parse
import zlib

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from harness import check, eq, run, test
from quarry_server import REGION, QuarryServer

srv = None
s3 = None
B = "httpb"
GIB = 1024 ** 3


def setup():
    global srv, s3
    srv = QuarryServer().start()
    s3 = srv.boto3_client()
    s3.create_bucket(Bucket=B)


def teardown():
    if srv is not None:
        srv.close()


def sign(method, path, headers=None, body=b"", payload_hash=None, secret=None, server=None):
    """(target, headers) signed by botocore; payload_hash overrides x-amz-content-sha256."""
    server = server or srv
    req = AWSRequest(method=method, url=f"{server.plain_endpoint}{path}", data=body,
                     headers=dict(headers or {}))
    creds = Credentials(server.access_key, secret or server.secret_key)

    class Signer(S3SigV4Auth):
        def payload(self, request):
            return payload_hash if payload_hash is not None else super().payload(request)

    Signer(creds, "s3", REGION).add_auth(req)
    p = req.prepare()
    split = urllib.parse.urlsplit(p.url)
    target = split.path + (f"?{split.query}" if split.query else "")
    hdrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in p.headers.items()}
    hdrs.setdefault("Host", f"127.0.0.1:{server.port}")  # signed by botocore, sent by us
    return target, hdrs


def head_bytes(method, target, headers):
    return (f"{method} {target} HTTP/1.1\r\n" +
            "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()


def connect(server=None, timeout=30):
    s = socket.create_connection(("127.0.0.1", (server or srv).port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


_leftover = {}  # socket -> bytes received past the last response read from it


def read_response(sock, deadline_s=10.0):
    """Reads one response (head + Content-Length body). Returns (status, head, body);
    bytes of a following (pipelined) response are kept for the next call."""
    sock.settimeout(deadline_s)
    data = _leftover.pop(sock, b"")
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    if b"\r\n\r\n" not in data:
        return None, data, b""
    head, rest = data.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ", 2)[1])
    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    n = int(m.group(1)) if m else 0
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    if len(rest) > n:
        _leftover[sock] = rest[n:]
    return status, head, rest[:n]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def du_bytes(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def stream_until_answer(sock, limit):
    """Sends body bytes until a response arrives or limit bytes went out. Returns
    (bytes sent, raw response bytes)."""
    chunk = b"\0" * (1 << 20)
    sent = 0
    got = b""
    sock.setblocking(False)
    while sent < limit:
        r, w, _ = select.select([sock], [sock], [], 5.0)
        if r:
            try:
                data = sock.recv(65536)
            except (ConnectionResetError, BlockingIOError):
                data = b""
            got += data
            if b"\r\n\r\n" in got or not data:
                break
        if w:
            try:
                sent += sock.send(chunk)
            except BlockingIOError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                break
        if not r and not w:
            break
    sock.setblocking(True)
    sock.settimeout(5)
    try:
        while b"\r\n\r\n" not in got:
            data = sock.recv(65536)
            if not data:
                break
            got += data
    except (socket.timeout, ConnectionResetError):
        pass
    return sent, got


def refused_before_body(headers_for, what):
    rss0 = rss_kb(srv.proc.pid)
    du0 = du_bytes(srv.data)
    target, hdrs = headers_for()
    sock = connect()
    try:
        sock.sendall(head_bytes("PUT", target, hdrs))
        sent, got = stream_until_answer(sock, GIB)
    finally:
        sock.close()
    check(got.startswith(b"HTTP/1.1 403"), f"{what}: want 403, got {got[:200]!r}")
    check(sent < 256 * 1024 ** 2, f"{what}: answered only after {sent} body bytes")
    grew_rss = rss_kb(srv.proc.pid) - rss0
    grew_du = du_bytes(srv.data) - du0
    check(grew_rss < 16 * 1024, f"{what}: quarry RSS grew {grew_rss} KiB")
    check(grew_du < 1024 ** 2, f"{what}: data directory grew {grew_du} bytes")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=B).get("Contents", [])]
    check("huge" not in keys, f"{what}: object stored")


# ---- Expect: 100-continue ----

@test
def empty_put_still_gets_its_100_continue():
    """botocore sends Expect: 100-continue on PutObject; an empty body must still get its
    100 Continue before the answer, or botocore takes the answer for the 100 and misreads
    the next response on the connection (it waited 60 s for it)."""
    c = srv.boto3_client(read_timeout=10)
    for body in (b"", b"x", b"", b"yy"):
        r = c.put_object(Bucket=B, Key="after-empty", Body=body)
        eq(r["ResponseMetadata"]["HTTPStatusCode"], 200, f"PUT of {len(body)} bytes")
        check("etag" in r["ResponseMetadata"]["HTTPHeaders"], "the PUT's own answer")
    eq(c.get_object(Bucket=B, Key="after-empty")["Body"].read(), b"yy", "last body")


# ---- authentication before the body ----

@test
def unsigned_1gib_put_refused_before_body():
    refused_before_body(lambda: (f"/{B}/huge", {"Host": f"127.0.0.1:{srv.port}",
                                               "Content-Length": str(GIB)}),
                        "unsigned 1 GiB PUT")


@test
def wrongly_signed_1gib_put_refused_before_body():
    def hdrs():
        t, h = sign("PUT", f"/{B}/huge", headers={"Content-Length": str(GIB)},
                    payload_hash="UNSIGNED-PAYLOAD", secret="not-the-secret")
        h["Content-Length"] = str(GIB)
        return t, h
    refused_before_body(hdrs, "wrongly signed 1 GiB PUT")


@test
def expect_continue_with_bad_signature_gets_the_error():
    t, h = sign("PUT", f"/{B}/exp", payload_hash="UNSIGNED-PAYLOAD", secret="wrong")
    h["Content-Length"] = str(10 * 1024 ** 2)
    h["Expect"] = "100-continue"
    sock = connect()
    try:
        sock.sendall(head_bytes("PUT", t, h))
        status, head, body = read_response(sock)
    finally:
        sock.close()
    eq(status, 403, "status after Expect: 100-continue with a bad signature")
    check(b"SignatureDoesNotMatch" in body, f"error code: {body[:300]!r}")


@test
def expect_continue_signed_gets_100_then_stores():
    body = os.urandom(200 * 1024)
    t, h = sign("PUT", f"/{B}/exp-ok", body=body)
    h["Expect"] = "100-continue"
    h["Content-Length"] = str(len(body))
    sock = connect()
    try:
        sock.sendall(head_bytes("PUT", t, h))
        sock.settimeout(10)
        first = sock.recv(4096)
        check(first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), f"interim: {first!r}")
        sock.sendall(body)
        status, head, rbody = read_response(sock)
    finally:
        sock.close()
    eq(status, 200, "PUT after 100")
    eq(s3.get_object(Bucket=B, Key="exp-ok")["Body"].read(), body, "stored body")


@test
def other_expect_values_are_ignored():
    body = b"expect something else"
    t, h = sign("PUT", f"/{B}/exp-other", body=body, headers={"Expect": "something-else"})
    h["Content-Length"] = str(len(body))
    sock = connect()
    try:
        sock.sendall(head_bytes("PUT", t, h) + body)
        status, head, rbody = read_response(sock)
    finally:
        sock.close()
    eq(status, 200, f"PUT with Expect: something-else ({rbody[:200]!r})")


# ---- payload checks leave nothing behind ----

def objects_files():
    n = 0
    for _root, _dirs, files in os.walk(os.path.join(srv.data, "objects")):
        n += len(files)
    return n


@test
def sha256_mismatch_leaves_nothing():
    body = os.urandom(1024 ** 2)
    other = os.urandom(1024 ** 2)
    before = objects_files()
    t, h = sign("PUT", f"/{B}/bad-sha", body=other)  # signed hash of other, body sent
    h["Content-Length"] = str(len(body))
    sock = connect()
    try:
        sock.sendall(head_bytes("PUT", t, h) + body)
        status, head, rbody = read_response(sock)
    finally:
        sock.close()
    eq(status, 400, "status")
    check(b"XAmzContentSHA256Mismatch" in rbody, f"code: {rbody[:300]!r}")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=B).get("Contents", [])]
    check("bad-sha" not in keys, "object visible after a hash mismatch")
    eq(objects_files(), before, "blob files after a hash mismatch")


@test
def checksum_mismatch_leaves_nothing():
    body = os.urandom(1024 ** 2)
    wrong = base64.b64encode(zlib.crc32(b"other").to_bytes(4, "big")).decode()
    before = objects_files()
    t, h = sign("PUT", f"/{B}/bad-ck", body=body, headers={"x-amz-checksum-crc32": wrong})
    h["Content-Length"] = str(len(body))
    sock = connect()
    try:
        sock.sendall(head_bytes("PUT", t, h) + body)
        status, head, rbody = read_response(sock)
    finally:
        sock.close()
    eq(status, 400, f"status ({rbody[:200]!r})")
    check(b"BadDigest" in rbody, f"code: {rbody[:300]!r}")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=B).get("Contents", [])]
    check("bad-ck" not in keys, "object visible after a checksum mismatch")
    eq(objects_files(), before, "blob files after a checksum mismatch")


# ---- streamed bodies ----

@test
def large_put_streams_to_disk():
    # the socket read-ahead (the kernel's receive buffer, drained in one go) and the two
    # 1 MiB pieces cost a fixed few tens of MB; a buffered body would cost 128 MiB
    body = os.urandom(128 * 1024 ** 2)
    rss0 = rss_kb(srv.proc.pid)
    before = objects_files()
    s3.put_object(Bucket=B, Key="stream128", Body=body)  # SHA-256 signed, CRC32 header
    grew = rss_kb(srv.proc.pid) - rss0
    got = s3.get_object(Bucket=B, Key="stream128")["Body"].read()
    check(got == body, "128 MiB object differs")
    eq(objects_files(), before + 1, "one blob file for one object (written once)")
    check(grew < 48 * 1024, f"quarry RSS grew {grew} KiB for a 128 MiB PUT")


@test
def client_vanishing_mid_body_leaves_nothing():
    before = objects_files()
    t, h = sign("PUT", f"/{B}/vanish", payload_hash="UNSIGNED-PAYLOAD")
    h["Content-Length"] = str(64 * 1024 ** 2)
    sock = connect()
    sock.sendall(head_bytes("PUT", t, h))
    sock.sendall(b"v" * (8 * 1024 ** 2))
    sock.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and objects_files() != before:
        time.sleep(0.05)
    eq(objects_files(), before, "blob files after a client left mid-body")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=B).get("Contents", [])]
    check("vanish" not in keys, "object from a truncated body")


# ---- keep-alive, pipelining, chunked ----

@test
def refused_small_body_keeps_connection():
    s3.put_object(Bucket=B, Key="kept", Body=b"kept")
    sock = connect()
    try:
        sock.sendall(head_bytes("PUT", f"/{B}/nope", {"Host": "x", "Content-Length": "1000"}) +
                     b"a" * 1000)
        status, head, _ = read_response(sock)
        eq(status, 403, "unsigned small PUT")
        check(b"keep-alive" in head.lower(), f"connection kept: {head!r}")
        t, h = sign("GET", f"/{B}/kept")
        sock.sendall(head_bytes("GET", t, h))
        status, head, body = read_response(sock)
        eq((status, body), (200, b"kept"), "signed GET on the same connection")
    finally:
        sock.close()


@test
def pipelined_requests():
    s3.put_object(Bucket=B, Key="pipe", Body=b"pipelined")
    t, h = sign("GET", f"/{B}/pipe")
    sock = connect()
    try:
        one = head_bytes("GET", t, h)
        sock.sendall(one + b"\r\n" + one + one)  # an empty line between requests is ignored
        for i in range(3):
            status, head, body = read_response(sock)
            eq((status, body), (200, b"pipelined"), f"pipelined response {i}")
    finally:
        sock.close()


@test
def chunked_request_body():
    body = os.urandom(300 * 1024)
    t, h = sign("PUT", f"/{B}/chunked", body=body)
    h.pop("Content-Length", None)
    h["Transfer-Encoding"] = "chunked"
    framed = b""
    for i in range(0, len(body), 70000):
        part = body[i:i + 70000]
        framed += f"{len(part):x}\r\n".encode() + part + b"\r\n"
    framed += b"0\r\n\r\n"
    sock = connect()
    try:
        sock.sendall(head_bytes("PUT", t, h) + framed)
        status, head, rbody = read_response(sock)
    finally:
        sock.close()
    eq(status, 200, f"chunked PUT ({rbody[:200]!r})")
    eq(s3.get_object(Bucket=B, Key="chunked")["Body"].read(), body, "chunked body stored")


@test
def smuggling_shapes_refused():
    for extra in ({"Content-Length": "5", "Transfer-Encoding": "chunked"},
                  {"Transfer-Encoding": "gzip"}):
        sock = connect()
        try:
            sock.sendall(head_bytes("PUT", f"/{B}/x", dict({"Host": "x"}, **extra)))
            status, head, _ = read_response(sock)
        finally:
            sock.close()
        check(status in (400, 501), f"{extra}: got {status}")
    sock = connect()
    try:
        sock.sendall(b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")
        status, head, _ = read_response(sock)
    finally:
        sock.close()
    eq(status, 400, "two different Content-Length")


# ---- connection limits and timeouts ----

@test
def idle_connections_do_not_lock_out_signed_requests():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2300:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    idle = []
    try:
        for _ in range(2000):
            idle.append(socket.create_connection(("127.0.0.1", srv.port), timeout=10))
        c = srv.boto3_client()
        t0 = time.monotonic()
        c.put_object(Bucket=B, Key="after-idle", Body=b"served")
        eq(c.get_object(Bucket=B, Key="after-idle")["Body"].read(), b"served", "GET")
        check(time.monotonic() - t0 < 5, "signed requests slow behind idle connections")
    finally:
        for s in idle:
            s.close()


@test
def over_the_cap_idle_evicted_busy_refused():
    # one loop thread, so "the oldest idle connection" is one list
    with QuarryServer(extra_args=["--max-conns-per-ip", "4", "--threads", "1"]) as small:
        small.boto3_client().create_bucket(Bucket=B)
        idle = [connect(small) for _ in range(4)]
        newest = connect(small)  # a fifth: the oldest idle one makes room
        idle[0].settimeout(5)
        check(idle[0].recv(1) == b"", "oldest idle connection not closed")
        # busy: each is inside a request (its 100 Continue proves the server saw the head)
        busy = idle[1:] + [newest]
        for i, s in enumerate(busy):
            t, h = sign("PUT", f"/{B}/busy{i}", payload_hash="UNSIGNED-PAYLOAD", server=small)
            h["Content-Length"] = "100"
            h["Expect"] = "100-continue"
            s.sendall(head_bytes("PUT", t, h))
            s.settimeout(5)
            check(s.recv(64).startswith(b"HTTP/1.1 100"), "no 100 Continue")
        extra = connect(small)
        extra.settimeout(5)
        try:
            got = extra.recv(1)
        except ConnectionResetError:
            got = b""
        eq(got, b"", "connection over the cap with nothing idle")
        for s in busy + [extra, idle[0]]:
            s.close()
        deadline = time.monotonic() + 5
        log = b""
        while time.monotonic() < deadline and b"RefusedConnection" not in log:
            with open(small.log_path, "rb") as f:
                log = f.read()
            time.sleep(0.05)
        check(b"EvictedIdleConnection" in log, "eviction not logged")
        check(b"RefusedConnection" in log, "refusal not logged")


@test
def slowloris_head_dropped():
    with QuarryServer(extra_args=["--header-timeout", "1000"]) as quick:
        sock = connect(quick)
        t0 = time.monotonic()
        closed = False
        try:
            for ch in b"GET /slow HTTP/1.1\r\nHost: x\r\nX-Drip: " + b"a" * 100:
                sock.sendall(bytes([ch]))
                r, _, _ = select.select([sock], [], [], 0.2)
                if r and sock.recv(1) == b"":
                    closed = True
                    break
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        finally:
            sock.close()
        check(closed, "a head dripping for 20 s was not dropped")
        check(time.monotonic() - t0 < 4, "dropped too late")


@test
def slow_body_dropped():
    with QuarryServer(extra_args=["--header-timeout", "1000", "--min-body-rate",
                                  "100000"]) as quick:
        quick.boto3_client().create_bucket(Bucket=B)
        t, h = sign("PUT", f"/{B}/slow", payload_hash="UNSIGNED-PAYLOAD", server=quick)
        h["Content-Length"] = str(1024 ** 2)
        sock = connect(quick)
        t0 = time.monotonic()
        got = b""
        try:
            sock.sendall(head_bytes("PUT", t, h))
            while time.monotonic() - t0 < 10:
                sock.sendall(b"x" * 10)
                r, _, _ = select.select([sock], [], [], 0.2)
                if r:
                    got = sock.recv(65536)
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            sock.close()
        check(got.startswith(b"HTTP/1.1 400") and b"RequestTimeout" in got,
              f"slow body answer: {got[:200]!r}")
        check(time.monotonic() - t0 < 5, "slow body dropped too late")
        keys = quick.boto3_client().list_objects_v2(Bucket=B).get("Contents", [])
        eq(keys, [], "objects after a slow body")


if __name__ == "__main__":
    run(setup, teardown)
