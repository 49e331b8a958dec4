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
  work;
- aws-chunked (signed chunks, signed and unsigned trailers) and chunked transfer coding
  stream into their blob with bounded memory; a tampered chunk, a wrong trailer or
  decoded length leaves no object and no blob; NoSuchBucket and EntityTooLarge are
  answered before 100 Continue.
These speak raw HTTP/1.1 bytes, so they use the plain port in both passes of run-all (the
same parser serves HTTPS once TLS is unwrapped; test_tls.py covers the TLS side).
"""

import base64
import hashlib
import hmac
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


def exchange(data, server=None, timeout=30):
    """Sends these bytes on a new connection and reads one response (read_response)."""
    sock = connect(server, timeout)
    try:
        sock.sendall(data)
        return read_response(sock)
    finally:
        sock.close()


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def reset_peak_rss(pid):
    """Restarts the kernel's peak-RSS count (VmHWM) at the current RSS; returns it."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")
    return rss_kb(pid)


def peak_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
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
    status, head, body = exchange(head_bytes("PUT", t, h))
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


def expect_refused(target, headers, what):
    """Sends a head with Expect: 100-continue and no body: the first thing back must be
    the final answer, not 100 Continue, and the connection then closes."""
    headers["Expect"] = "100-continue"
    sock = connect()
    try:
        sock.sendall(head_bytes("PUT", target, headers))
        status, head, body = read_response(sock)
        sock.settimeout(5)
        try:
            after = sock.recv(1)
        except ConnectionResetError:
            after = b""
    finally:
        sock.close()
    check(status != 100 and b"100 Continue" not in head, f"{what}: invited the body: {head!r}")
    eq(after, b"", f"{what}: connection kept after a refusal without 100")
    return status, body


@test
def no_such_bucket_answered_before_100_continue():
    for target_path in ("/no-such-bucket-here/key", "/no-such-bucket-here/key?partNumber=1&"
                        "uploadId=x", "/no-such-bucket-here?tagging"):
        path, _, query = target_path.partition("?")
        t, h = sign("PUT", target_path, payload_hash="UNSIGNED-PAYLOAD")
        h["Content-Length"] = str(10 * 1024 ** 2)
        status, body = expect_refused(t, h, target_path)
        eq(status, 404, f"{target_path}: status ({body[:200]!r})")
        check(b"NoSuchBucket" in body, f"{target_path}: code: {body[:300]!r}")
    # CreateBucket is the one body to a bucket that does not exist yet: invited
    t, h = sign("PUT", "/fresh-bucket-100", payload_hash="UNSIGNED-PAYLOAD")
    h["Content-Length"] = "0"
    h["Expect"] = "100-continue"
    sock = connect()
    try:
        sock.sendall(head_bytes("PUT", t, h))
        status, head, body = read_response(sock)
        if status == 100:
            status, head, body = read_response(sock)
    finally:
        sock.close()
    eq(status, 200, f"CreateBucket with Expect: 100-continue ({body[:200]!r})")
    # presigned, its query holds the signature: still CreateBucket, still invited
    url = srv.boto3_client(plain=True, signature_version="s3v4").generate_presigned_url(
        "create_bucket", Params={"Bucket": "fresh-bucket-presigned"})
    split = urllib.parse.urlsplit(url)
    sock = connect()
    try:
        sock.sendall(head_bytes("PUT", f"{split.path}?{split.query}", {
            "Host": split.netloc, "Content-Length": "0", "Expect": "100-continue"}))
        status, head, body = read_response(sock)
        if status == 100:
            status, head, body = read_response(sock)
    finally:
        sock.close()
    eq(status, 200, f"presigned CreateBucket ({body[:200]!r})")


@test
def entity_too_large_answered_before_100_continue():
    t, h = sign("PUT", f"/{B}/too-big", payload_hash="UNSIGNED-PAYLOAD")
    h["Content-Length"] = str(5 * GIB + 1)
    status, body = expect_refused(t, h, "PutObject of 5 GiB + 1")
    eq(status, 400, f"status ({body[:200]!r})")
    check(b"EntityTooLarge" in body, f"code: {body[:300]!r}")
    # aws-chunked: the payload is x-amz-decoded-content-length, the framing is not
    t, h = sign("PUT", f"/{B}/too-big?partNumber=1&uploadId=x",
                headers={"Content-Encoding": "aws-chunked",
                         "x-amz-decoded-content-length": str(5 * GIB + 1)},
                payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    h["Content-Length"] = str(64 * 1024)
    status, body = expect_refused(t, h, "aws-chunked UploadPart of 5 GiB + 1")
    eq(status, 400, f"aws-chunked status ({body[:200]!r})")
    check(b"EntityTooLarge" in body, f"aws-chunked code: {body[:300]!r}")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=B).get("Contents", [])]
    check("too-big" not in keys, "object stored")
    # exactly 5 GiB of payload: its aws-chunked framing makes Content-Length larger, and
    # that is no reason to refuse it
    t, h = sign("PUT", f"/{B}/five-gib", headers={"Content-Encoding": "aws-chunked",
                                                  "x-amz-decoded-content-length": str(5 * GIB)},
                payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    h["Content-Length"] = str(5 * GIB + 5 * GIB // 8192 * 8)
    h["Expect"] = "100-continue"
    sock = connect()
    try:
        sock.sendall(head_bytes("PUT", t, h))
        sock.settimeout(10)
        first = sock.recv(4096)
    finally:
        sock.close()
    check(first.startswith(b"HTTP/1.1 100 Continue"), f"5 GiB aws-chunked PUT: {first[:200]!r}")


@test
def other_expect_values_are_ignored():
    body = b"expect something else"
    t, h = sign("PUT", f"/{B}/exp-other", body=body, headers={"Expect": "something-else"})
    h["Content-Length"] = str(len(body))
    status, head, rbody = exchange(head_bytes("PUT", t, h) + body)
    eq(status, 200, f"PUT with Expect: something-else ({rbody[:200]!r})")


# ---- payload checks leave nothing behind ----

def objects_files(server=None):
    n = 0
    for _root, _dirs, files in os.walk(os.path.join((server or srv).data, "objects")):
        n += len(files)
    return n


@test
def sha256_mismatch_leaves_nothing():
    body = os.urandom(1024 ** 2)
    other = os.urandom(1024 ** 2)
    before = objects_files()
    t, h = sign("PUT", f"/{B}/bad-sha", body=other)  # signed hash of other, body sent
    h["Content-Length"] = str(len(body))
    status, head, rbody = exchange(head_bytes("PUT", t, h) + body)
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
    status, head, rbody = exchange(head_bytes("PUT", t, h) + body)
    eq(status, 400, f"status ({rbody[:200]!r})")
    check(b"BadDigest" in rbody, f"code: {rbody[:300]!r}")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=B).get("Contents", [])]
    check("bad-ck" not in keys, "object visible after a checksum mismatch")
    eq(objects_files(), before, "blob files after a checksum mismatch")


# ---- streamed bodies ----

@test
def large_put_streams_to_disk():
    # the socket read-ahead (a receive buffer capped at a few MiB while a body streams)
    # and the three 1 MiB pieces cost a fixed few tens of MB at the peak; a buffered body
    # would cost 128 MiB
    body = os.urandom(128 * 1024 ** 2)
    rss0 = reset_peak_rss(srv.proc.pid)
    before = objects_files()
    s3.put_object(Bucket=B, Key="stream128", Body=body)  # SHA-256 signed, CRC32 header
    grew = peak_rss_kb(srv.proc.pid) - rss0
    got = s3.get_object(Bucket=B, Key="stream128")["Body"].read()
    check(got == body, "128 MiB object differs")
    eq(objects_files(), before + 1, "one blob file for one object (written once)")
    check(grew < 48 * 1024, f"quarry RSS grew {grew} KiB for a 128 MiB PUT")


@test
def sigv2_presigned_put_streams():
    """boto3 presigns S3 URLs with SigV2 by default: such a PUT streams like any other."""
    body = os.urandom(96 * 1024 ** 2)
    url = srv.boto3_client(plain=True).generate_presigned_url(
        "put_object", Params={"Bucket": B, "Key": "v2-stream"})
    split = urllib.parse.urlsplit(url)
    check("AWSAccessKeyId=" in split.query, f"not a SigV2 URL: {url}")
    rss0 = reset_peak_rss(srv.proc.pid)
    sock = connect(timeout=60)
    try:
        sock.sendall(head_bytes("PUT", f"{split.path}?{split.query}", {
            "Host": split.netloc, "Content-Length": str(len(body))}))
        for i in range(0, len(body), 1 << 20):
            sock.sendall(body[i:i + (1 << 20)])
        status, head, rbody = read_response(sock, 60)
    finally:
        sock.close()
    grew = peak_rss_kb(srv.proc.pid) - rss0
    eq(status, 200, f"SigV2 presigned PUT ({rbody[:200]!r})")
    eq(s3.get_object(Bucket=B, Key="v2-stream")["Body"].read(), body, "stored bytes")
    check(grew < 48 * 1024, f"quarry RSS grew {grew} KiB for a 96 MiB SigV2 presigned PUT")


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


# ---- aws-chunked bodies stream too ----

EMPTY_SHA = hashlib.sha256(b"").hexdigest()


class ChunkSigner:
    """Signs an aws-chunked body the way the SDKs do (STREAMING-AWS4-HMAC-SHA256-PAYLOAD
    [-TRAILER]): the request signature seeds a chain of chunk signatures."""

    def __init__(self, headers):
        auth = headers["Authorization"]
        self.prev = re.search(r"Signature=([0-9a-f]{64})", auth).group(1)
        scope = re.search(r"Credential=[^/]+/([^,]+)", auth).group(1)
        self.scope = scope
        self.date = headers["X-Amz-Date"]
        key = ("AWS4" + srv.secret_key).encode()
        for part in scope.split("/"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        self.key = key

    def _sig(self, kind, rest):
        msg = f"{kind}\n{self.date}\n{self.scope}\n{self.prev}\n{rest}"
        self.prev = hmac.new(self.key, msg.encode(), hashlib.sha256).hexdigest()
        return self.prev

    def chunk(self, data):
        sig = self._sig("AWS4-HMAC-SHA256-PAYLOAD",
                        f"{EMPTY_SHA}\n{hashlib.sha256(data).hexdigest()}")
        return b"%x;chunk-signature=%s\r\n" % (len(data), sig.encode()) + data + b"\r\n"

    def trailer(self, lines):
        canon = "".join(f"{n}:{v}\n" for n, v in lines)
        sig = self._sig("AWS4-HMAC-SHA256-TRAILER", hashlib.sha256(canon.encode()).hexdigest())
        return ("".join(f"{n}:{v}\r\n" for n, v in lines) +
                f"x-amz-trailer-signature:{sig}\r\n\r\n").encode()


def signed_chunk_len(n, chunk):
    """Encoded length of n payload bytes in signed chunks of chunk bytes (no trailer)."""
    full, tail = divmod(n, chunk)
    one = lambda k: len(b"%x" % k) + 17 + 64 + 2 + k + 2
    return full * one(chunk) + (one(tail) if tail else 0) + one(0)


def put_signed_chunked(key, size, chunk=64 * 1024, tamper_at=None, trailer_crc=None,
                       expect_continue=False, query=""):
    """PUTs size pseudo-random bytes aws-chunked with signed chunks, generated on the fly
    (never whole in this process). tamper_at: the chunk index whose data byte is flipped
    after signing. trailer_crc: send a signed CRC32 trailer (True: the right one, bytes:
    that value). Returns (status, response bytes, bytes sent, payload CRC32)."""
    trailer = trailer_crc is not None
    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer else "")
    extra = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(size)}
    if trailer:
        extra["x-amz-trailer"] = "x-amz-checksum-crc32"
    t, h = sign("PUT", f"/{B}/{key}{query}", headers=extra, payload_hash=mode)
    total = signed_chunk_len(size, chunk)
    if trailer:
        total += -2 + len("x-amz-checksum-crc32:AAAAAA==\r\n") + len("x-amz-trailer-signature:") \
            + 64 + 4
    h["Content-Length"] = str(total)
    if expect_continue:
        h["Expect"] = "100-continue"
    signer = ChunkSigner(h)
    sock = connect(timeout=60)
    sent = 0
    crc = 0
    seed = hashlib.sha256(key.encode()).digest() * (chunk // 32 + 1)
    try:
        sock.sendall(head_bytes("PUT", t, h))
        if expect_continue:
            first = sock.recv(4096)
            if not first.startswith(b"HTTP/1.1 100"):
                return int(first.split(b" ", 2)[1]), first, 0, 0
        i = 0
        for off in range(0, size, chunk):
            data = bytes(seed[(i % 31):(i % 31) + min(chunk, size - off)])
            crc = zlib.crc32(data, crc)
            frame = signer.chunk(data)
            if i == tamper_at:
                frame = bytearray(frame)
                frame[-3] ^= 1
                frame = bytes(frame)
            r, _, _ = select.select([sock], [], [], 0)
            if r:
                break  # answered while sending
            try:
                sock.sendall(frame)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(frame)
            i += 1
        else:
            tail = b"0;chunk-signature=%s\r\n" % signer._sig(
                "AWS4-HMAC-SHA256-PAYLOAD", f"{EMPTY_SHA}\n{EMPTY_SHA}").encode()
            if trailer:
                v = trailer_crc if isinstance(trailer_crc, str) else \
                    base64.b64encode(crc.to_bytes(4, "big")).decode()
                tail += signer.trailer([("x-amz-checksum-crc32", v)])
            else:
                tail += b"\r\n"
            sock.sendall(tail)
            sent += len(tail)
        status, head, body = read_response(sock, 60)
    finally:
        sock.close()
    return status, body, sent, crc


def crc_of_object(key):
    crc = 0
    for part in s3.get_object(Bucket=B, Key=key)["Body"].iter_chunks(1 << 20):
        crc = zlib.crc32(part, crc)
    return crc


@test
def signed_aws_chunked_put_streams():
    before = objects_files()
    rss0 = reset_peak_rss(srv.proc.pid)
    size = 96 * 1024 ** 2 + 12345
    status, body, sent, crc = put_signed_chunked("achunk", size, trailer_crc=True)
    grew = peak_rss_kb(srv.proc.pid) - rss0
    eq(status, 200, f"signed aws-chunked PUT with a signed trailer ({body[:300]!r})")
    eq(s3.head_object(Bucket=B, Key="achunk")["ContentLength"], size, "decoded size")
    eq(crc_of_object("achunk"), crc, "stored bytes")
    eq(objects_files(), before + 1, "one blob, written once")
    check(grew < 48 * 1024, f"quarry RSS grew {grew} KiB for a {size >> 20} MiB aws-chunked PUT")


@test
def signed_aws_chunked_upload_part_streams():
    key = "mpu-achunk"
    up = s3.create_multipart_upload(Bucket=B, Key=key)["UploadId"]
    sizes = (6 * 1024 ** 2, 2 * 1024 ** 2 + 3)
    for n, size in enumerate(sizes, 1):
        status, body, _, _ = put_signed_chunked(
            key, size, trailer_crc=True, expect_continue=True,
            query=f"?partNumber={n}&uploadId={urllib.parse.quote(up)}")
        eq(status, 200, f"UploadPart {n} aws-chunked ({body[:300]!r})")
    parts = s3.list_parts(Bucket=B, Key=key, UploadId=up)["Parts"]
    eq([p["Size"] for p in parts], list(sizes), "part sizes")
    s3.complete_multipart_upload(Bucket=B, Key=key, UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]})
    want = 0
    got = crc_of_object(key)
    # the parts' bytes are generated per key, so both parts start alike: rebuild the CRC
    seed = hashlib.sha256(key.encode()).digest() * (64 * 1024 // 32 + 1)
    for size in sizes:
        for i, off in enumerate(range(0, size, 64 * 1024)):
            want = zlib.crc32(bytes(seed[(i % 31):(i % 31) + min(64 * 1024, size - off)]), want)
    eq(got, want, "completed object's bytes")


@test
def aws_chunked_tamper_mid_body_leaves_nothing():
    """A chunk signature that does not match, 128 MiB into a 512 MiB body: answered
    SignatureDoesNotMatch while the client is still sending, no object, no blob, and
    quarry's memory does not grow by the body."""
    before = objects_files()
    rss0 = reset_peak_rss(srv.proc.pid)
    size = 512 * 1024 ** 2
    status, body, sent, _ = put_signed_chunked("tampered", size, tamper_at=2048)
    grew = peak_rss_kb(srv.proc.pid) - rss0
    eq(status, 403, f"tampered chunk ({body[:300]!r})")
    check(b"SignatureDoesNotMatch" in body, f"code: {body[:300]!r}")
    check(sent < 256 * 1024 ** 2, f"answered only after {sent} bytes")
    check(grew < 48 * 1024, f"quarry RSS grew {grew} KiB")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=B).get("Contents", [])]
    check("tampered" not in keys, "object stored from a tampered body")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and objects_files() != before:
        time.sleep(0.05)
    eq(objects_files(), before, "blob files after a tampered body")


@test
def kill9_mid_aws_chunked_stream_leaves_nothing():
    """quarry killed while an aws-chunked body streams into its blob: after the restart
    there is no object and no blob file, and the same PUT then works."""
    with QuarryServer(fsync=True) as crash:
        crash.boto3_client().create_bucket(Bucket=B)
        before = objects_files(crash)
        size = 64 * 1024 ** 2
        t, h = sign("PUT", f"/{B}/killed", server=crash, payload_hash="STREAMING-AWS4-HMAC-"
                    "SHA256-PAYLOAD", headers={"Content-Encoding": "aws-chunked",
                                               "x-amz-decoded-content-length": str(size)})
        h["Content-Length"] = str(signed_chunk_len(size, 64 * 1024))
        signer = ChunkSigner(h)
        sock = connect(crash)
        try:
            sock.sendall(head_bytes("PUT", t, h))
            for _ in range(256):  # 16 MiB of the 64
                sock.sendall(signer.chunk(b"k" * (64 * 1024)))
            deadline = time.monotonic() + 10
            while objects_files(crash) == before and time.monotonic() < deadline:
                time.sleep(0.05)
            check(objects_files(crash) > before, "no blob file while the body streamed")
            crash.kill9()
        finally:
            sock.close()
        crash.restart(same_port=False)
        c = crash.boto3_client()
        keys = [o["Key"] for o in c.list_objects_v2(Bucket=B).get("Contents", [])]
        eq(keys, [], "objects after kill -9 mid-body")
        eq(objects_files(crash), before, "blob files after kill -9 mid-body and a restart")
        body = os.urandom(3 * 1024 ** 2)
        c.put_object(Bucket=B, Key="killed", Body=body)
        eq(c.get_object(Bucket=B, Key="killed")["Body"].read(), body, "PUT after the restart")


@test
def aws_chunked_bad_trailer_leaves_nothing():
    before = objects_files()
    size = 4 * 1024 ** 2
    status, body, _, _ = put_signed_chunked("badtrailer", size, trailer_crc="AAAAAA==")
    eq(status, 400, f"wrong trailing CRC32 ({body[:300]!r})")
    check(b"BadDigest" in body, f"code: {body[:300]!r}")
    t, h = sign("PUT", f"/{B}/badlen", headers={"Content-Encoding": "aws-chunked",
                                                "x-amz-decoded-content-length": str(size + 1)},
                payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    signer = ChunkSigner(h)
    framed = b"".join(signer.chunk(b"L" * (1 << 20)) for _ in range(4))
    framed += b"0;chunk-signature=%s\r\n\r\n" % signer._sig(
        "AWS4-HMAC-SHA256-PAYLOAD", f"{EMPTY_SHA}\n{EMPTY_SHA}").encode()
    h["Content-Length"] = str(len(framed))
    status, head, body = exchange(head_bytes("PUT", t, h) + framed)
    eq(status, 400, f"decoded length short by one ({body[:300]!r})")
    check(b"IncompleteBody" in body, f"code: {body[:300]!r}")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=B).get("Contents", [])]
    check("badtrailer" not in keys and "badlen" not in keys, "object stored")
    eq(objects_files(), before, "blob files after bad trailers and lengths")


@test
def aws_chunked_small_chunks_refused():
    """S3 allows only the last chunk to be under 8 KiB (InvalidChunkSizeError, 403); the
    rule also bounds the HMACs a body costs to one per 8 KiB."""
    before = objects_files()
    for size in (2 * 1024 ** 2, 64 * 1024):  # streamed, and read into memory
        status, body, _, _ = put_signed_chunked(f"small-chunks-{size}", size, chunk=4096)
        eq(status, 403, f"{size} bytes in 4 KiB chunks ({body[:300]!r})")
        check(b"InvalidChunkSizeError" in body, f"code: {body[:300]!r}")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=B).get("Contents", [])]
    check(not any(k.startswith("small-chunks") for k in keys), "object stored")
    eq(objects_files(), before, "blob files after small chunks")


@test
def unsigned_trailer_over_transfer_chunked_streams():
    """STREAMING-UNSIGNED-PAYLOAD-TRAILER inside Transfer-Encoding: chunked, with no
    length anywhere: both framings are undone as the bytes pass."""
    payload = os.urandom(3 * 1024 ** 2 + 7)
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    inner = b""
    for i in range(0, len(payload), 65536):
        c = payload[i:i + 65536]
        inner += b"%x\r\n" % len(c) + c + b"\r\n"
    inner += b"0\r\nx-amz-checksum-crc32:" + crc.encode() + b"\r\n\r\n"
    outer = b""
    for i in range(0, len(inner), 100003):
        c = inner[i:i + 100003]
        outer += b"%x\r\n" % len(c) + c + b"\r\n"
    outer += b"0\r\n\r\n"
    t, h = sign("PUT", f"/{B}/te-achunk", headers={"Content-Encoding": "aws-chunked",
                                                   "x-amz-trailer": "x-amz-checksum-crc32"},
                payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    h.pop("Content-Length", None)
    h["Transfer-Encoding"] = "chunked"
    status, head, body = exchange(head_bytes("PUT", t, h) + outer)
    eq(status, 200, f"aws-chunked in chunked ({body[:300]!r})")
    eq(s3.get_object(Bucket=B, Key="te-achunk")["Body"].read(), payload, "stored bytes")


@test
def large_transfer_chunked_put_streams():
    body = os.urandom(40 * 1024 ** 2)
    rss0 = reset_peak_rss(srv.proc.pid)
    t, h = sign("PUT", f"/{B}/te-big", payload_hash="UNSIGNED-PAYLOAD")
    h.pop("Content-Length", None)
    h["Transfer-Encoding"] = "chunked"
    sock = connect()
    try:
        sock.sendall(head_bytes("PUT", t, h))
        for i in range(0, len(body), 300007):
            c = body[i:i + 300007]
            sock.sendall(b"%x\r\n" % len(c) + c + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
        status, head, rbody = read_response(sock, 60)
    finally:
        sock.close()
    grew = peak_rss_kb(srv.proc.pid) - rss0
    eq(status, 200, f"chunked 40 MiB PUT ({rbody[:200]!r})")
    eq(s3.get_object(Bucket=B, Key="te-big")["Body"].read(), body, "stored bytes")
    check(grew < 32 * 1024, f"quarry RSS grew {grew} KiB for a 40 MiB chunked PUT")


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
    status, head, rbody = exchange(head_bytes("PUT", t, h) + framed)
    eq(status, 200, f"chunked PUT ({rbody[:200]!r})")
    eq(s3.get_object(Bucket=B, Key="chunked")["Body"].read(), body, "chunked body stored")
    # a length known only at the end streams into a blob even when it turns out small
    for small in (b"", b"tiny body"):
        t, h = sign("PUT", f"/{B}/chunked-small", body=small)
        h.pop("Content-Length", None)
        h["Transfer-Encoding"] = "chunked"
        framed = (b"%x\r\n" % len(small) + small + b"\r\n" if small else b"") + b"0\r\n\r\n"
        status, head, rbody = exchange(head_bytes("PUT", t, h) + framed)
        eq(status, 200, f"chunked PUT of {len(small)} bytes ({rbody[:200]!r})")
        eq(s3.get_object(Bucket=B, Key="chunked-small")["Body"].read(), small,
           f"chunked body of {len(small)} bytes stored")


@test
def pipelined_after_streamed_chunked_body():
    """A request pipelined right behind a streamed chunked body is the next request, not
    part of the body."""
    body = os.urandom(2 * 1024 ** 2 + 5)
    t, h = sign("PUT", f"/{B}/te-pipe", payload_hash="UNSIGNED-PAYLOAD")
    h.pop("Content-Length", None)
    h["Transfer-Encoding"] = "chunked"
    framed = b"".join(b"%x\r\n" % len(body[i:i + 500000]) + body[i:i + 500000] + b"\r\n"
                      for i in range(0, len(body), 500000)) + b"0\r\n\r\n"
    s3.put_object(Bucket=B, Key="te-pipe-next", Body=b"next one")
    gt, gh = sign("GET", f"/{B}/te-pipe-next")
    sock = connect()
    try:
        sock.sendall(head_bytes("PUT", t, h) + framed + head_bytes("GET", gt, gh))
        status, head, rbody = read_response(sock, 30)
        eq(status, 200, f"streamed chunked PUT ({rbody[:200]!r})")
        status, head, rbody = read_response(sock, 30)
        eq((status, rbody), (200, b"next one"), "the pipelined GET")
    finally:
        sock.close()
    eq(s3.get_object(Bucket=B, Key="te-pipe")["Body"].read(), body, "stored bytes")


@test
def smuggling_shapes_refused():
    for extra in ({"Content-Length": "5", "Transfer-Encoding": "chunked"},
                  {"Transfer-Encoding": "gzip"}):
        status, head, _ = exchange(head_bytes("PUT", f"/{B}/x", dict({"Host": "x"}, **extra)))
        check(status in (400, 501), f"{extra}: got {status}")
    status, head, _ = exchange(b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")
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
