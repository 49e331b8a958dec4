"""runtime.py - a Runtime API client that pipelines, as runtimes/c does: each result and
the next GET /next go out in one send on one keep-alive connection. Every invocation
answers {"event": EVENT, "seen": [...]}, where seen lists, for each earlier result, the
result's status and body, the status of the event read after it, and whether the event's
bytes had already arrived when the 202 was read (quarry sends them in one segment)."""
import json
import os
import socket

host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
sock = socket.create_connection((host, int(port)))
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buf = b""


def more():
    global buf
    d = sock.recv(65536)
    if not d:
        raise SystemExit("runtime API closed the connection")
    buf += d


def response():
    """(status, headers, body, whether bytes after this response were already read)"""
    global buf
    while b"\r\n\r\n" not in buf:
        more()
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    hdrs = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    n = int(hdrs.get("content-length", "0"))
    buf = rest
    while len(buf) < n:
        more()
    body, buf = buf[:n], buf[n:]
    return int(lines[0].split()[1]), hdrs, body, len(buf) > 0


def request(method, path, body=b""):
    return (f"{method} /2018-06-01/runtime/{path} HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


sock.sendall(request("GET", "invocation/next"))
status, hdrs, body, _ = response()
seen = []
while status == 200:
    out = json.dumps({"event": json.loads(body), "seen": seen}).encode()
    rid = hdrs["lambda-runtime-aws-request-id"]
    sock.sendall(request("POST", f"invocation/{rid}/response", out) +
                 request("GET", "invocation/next"))
    st, _, b, together = response()
    status, hdrs, body, _ = response()
    seen.append([st, b.decode(), status, together])
raise SystemExit(f"/next answered {status}")
