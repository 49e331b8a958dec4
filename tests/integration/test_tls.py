#!/usr/bin/env python3
"""test_tls.py - HTTPS: the stock clients against quarry with a self-signed certificate.

openssl makes a throwaway CA-less self-signed certificate for 127.0.0.1 and localhost;
quarry serves it on --tls-port beside plain HTTP. boto3 (verify= the certificate), the aws
CLI (AWS_CA_BUNDLE), the JS SDK (NODE_EXTRA_CA_CERTS) and curl (--cacert) then run a subset of the S3 tests over TLS:
bucket and object round trips, aws-chunked uploads with trailing checksums (what boto3
sends over HTTPS), multipart, presigned URLs, and the headers-first refusal of an
unsigned large PUT. A client that does not trust the certificate must fail.
"""

import hashlib
import os
import socket
import ssl
import subprocess
import tempfile

import boto3
import botocore.config
import botocore.exceptions

from harness import check, eq, run, test
from quarry_server import REGION, QuarryServer, free_port

srv = None
s3 = None
cert = key = None
tls_port = None
B = "tlsb"


def make_cert(d):
    c, k = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", k, "-out", c], check=True, capture_output=True)
    return c, k


def tls_client(verify=None):
    return boto3.client("s3", endpoint_url=f"https://127.0.0.1:{tls_port}", region_name=REGION,
                        aws_access_key_id=srv.access_key, aws_secret_access_key=srv.secret_key,
                        verify=cert if verify is None else verify,
                        config=botocore.config.Config(s3={"addressing_style": "path"},
                                                      retries={"max_attempts": 1}))


def setup():
    global srv, s3, cert, key, tls_port
    d = tempfile.mkdtemp(prefix="quarry-tls-")
    cert, key = make_cert(d)
    tls_port = free_port()
    srv = QuarryServer(extra_args=["--tls-cert", cert, "--tls-key", key,
                                   "--tls-port", str(tls_port)]).start()
    s3 = tls_client()
    s3.create_bucket(Bucket=B)


def teardown():
    if srv is not None:
        srv.close()


@test
def object_round_trip_over_tls():
    body = os.urandom(300 * 1024)
    r = s3.put_object(Bucket=B, Key="a/one", Body=body, ChecksumAlgorithm="CRC32")
    check("ChecksumCRC32" in r, f"checksum echoed: {r.keys()}")
    eq(s3.get_object(Bucket=B, Key="a/one")["Body"].read(), body, "GET over TLS")
    eq(s3.head_object(Bucket=B, Key="a/one")["ContentLength"], len(body), "HEAD")
    got = s3.get_object(Bucket=B, Key="a/one", Range="bytes=10-19")["Body"].read()
    eq(got, body[10:20], "range GET")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=B)["Contents"]]
    check("a/one" in keys, f"listing: {keys}")
    # the same object is there over plain HTTP: one store behind both ports
    eq(srv.boto3_client().get_object(Bucket=B, Key="a/one")["Body"].read(), body, "over HTTP")


@test
def multipart_over_tls():
    up = s3.create_multipart_upload(Bucket=B, Key="mp")
    parts = []
    data = b""
    for n in (1, 2):
        chunk = os.urandom(5 * 1024 * 1024 if n == 1 else 1000)
        data += chunk
        r = s3.upload_part(Bucket=B, Key="mp", UploadId=up["UploadId"], PartNumber=n, Body=chunk)
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    s3.complete_multipart_upload(Bucket=B, Key="mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": parts})
    eq(hashlib.sha256(s3.get_object(Bucket=B, Key="mp")["Body"].read()).hexdigest(),
       hashlib.sha256(data).hexdigest(), "multipart object")


@test
def presigned_url_with_curl():
    s3.put_object(Bucket=B, Key="pre", Body=b"presigned over tls")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "pre"}, ExpiresIn=60)
    out = subprocess.run(["curl", "-sS", "--cacert", cert, url], capture_output=True, timeout=30)
    eq(out.stdout, b"presigned over tls", f"curl ({out.stderr[:200]!r})")


@test
def aws_cli_with_ca_bundle():
    home = tempfile.mkdtemp(prefix="quarry-tls-cli-")
    env = srv.client_env(home)
    env["AWS_CA_BUNDLE"] = cert
    src = os.path.join(home, "f.bin")
    with open(src, "wb") as f:
        f.write(os.urandom(70000))
    ep = f"https://127.0.0.1:{tls_port}"
    r = subprocess.run(["aws", "--endpoint-url", ep, "s3", "cp", src, f"s3://{B}/cli.bin"],
                       env=env, capture_output=True, timeout=60)
    eq(r.returncode, 0, f"aws s3 cp: {r.stderr[-300:]!r}")
    r = subprocess.run(["aws", "--endpoint-url", ep, "s3", "ls", f"s3://{B}/"], env=env,
                       capture_output=True, timeout=60)
    check(b"cli.bin" in r.stdout, f"aws s3 ls: {r.stdout!r} {r.stderr[-300:]!r}")


@test
def js_sdk_with_extra_ca():
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=cert)
    r = subprocess.run(["node", os.path.join(here, "js", "tls_client.mjs"),
                        f"https://127.0.0.1:{tls_port}", B], env=env, capture_output=True,
                       timeout=120)
    eq(r.stdout.strip(), b"ok", f"JS SDK over TLS ({r.stderr[-400:]!r})")


@test
def untrusted_certificate_refused_by_client():
    c = tls_client(verify=True)  # the system CAs do not know our certificate
    try:
        c.list_buckets()
        check(False, "a client without the certificate trusted it")
    except botocore.exceptions.SSLError:
        pass


@test
def unsigned_large_put_refused_before_body_over_tls():
    ctx = ssl.create_default_context(cafile=cert)
    raw = socket.create_connection(("127.0.0.1", tls_port), timeout=10)
    sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    try:
        sock.sendall(f"PUT /{B}/huge HTTP/1.1\r\nHost: 127.0.0.1:{tls_port}\r\n"
                     f"Content-Length: {1024 ** 3}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    check(data.startswith(b"HTTP/1.1 403"), f"answer without a body sent: {data[:200]!r}")


@test
def plain_http_on_tls_port_fails_cleanly():
    sock = socket.create_connection(("127.0.0.1", tls_port), timeout=10)
    try:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = sock.recv(100)
        except ConnectionResetError:
            data = b""
    finally:
        sock.close()
    check(not data.startswith(b"HTTP/1.1 200"), f"plain HTTP served on the TLS port: {data!r}")
    # and the server still serves TLS afterwards
    eq(s3.head_bucket(Bucket=B)["ResponseMetadata"]["HTTPStatusCode"], 200, "still serving")


if __name__ == "__main__":
    run(setup, teardown)
