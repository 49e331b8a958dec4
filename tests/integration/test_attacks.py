#!/usr/bin/env python3
"""test_attacks.py - the signature and credential attacks an attacker would try, each
refused with AWS's error and the store unchanged.

Requests are built with botocore's own signers (SigV4Auth, S3SigV4Auth, S3SigV4QueryAuth,
HmacV1QueryAuth) and then tampered with before they are sent with http.client: an unsigned
x-amz-copy-source added to a presigned PUT, a new body under an old signature, an unsigned
Content-Encoding: aws-chunked, a SigV2 URL with an appended sub-resource, "%2B" turned
into "+", a token forged with the server key that claims to live until 2100, session
credentials used outside their bucket or service, a function's credentials after
DeleteFunction. Each test checks what was refused and that nothing changed.
"""

import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import struct
import time
import urllib.parse
import uuid

import botocore.auth
from botocore.auth import HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from harness import check, client_error, eq, run, test
from quarry_server import DIR_CFG, REGION, QuarryServer, build_zip

srv = None
s3 = None
GP = "atk-gp"
GP2 = "atk-other"
DIRA = "atka--use1-az4--x-s3"
DIRB = "atkb--use1-az4--x-s3"
SECRET = b"secret bytes of another bucket"


def setup():
    global srv, s3
    srv = QuarryServer().start()
    s3 = srv.boto3_client()
    s3.create_bucket(Bucket=GP)
    s3.create_bucket(Bucket=GP2)
    s3.put_object(Bucket=GP2, Key="secret", Body=SECRET)
    s3.put_object(Bucket=GP, Key="keep", Body=b"original")
    for b in (DIRA, DIRB):
        s3.create_bucket(Bucket=b, CreateBucketConfiguration=DIR_CFG)
    s3.put_object(Bucket=DIRB, Key="secret", Body=SECRET)
    s3.put_object(Bucket=DIRA, Key="mine", Body=b"mine")
    srv.lambda_role()


def teardown():
    if srv is not None:
        srv.close()


# ---- raw requests ----

def creds():
    return Credentials(srv.access_key, srv.secret_key)


def send(method, url, headers=None, body=b""):
    """Sends exactly these bytes; returns (status, headers dict lower-case, body)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
    c = conn(u.hostname, u.port, timeout=30)
    path = u.path + ("?" + u.query if u.query else "")
    c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    hs = dict(headers or {})
    if not any(k.lower() == "host" for k in hs):
        c.putheader("Host", u.netloc)
    for k, v in hs.items():
        c.putheader(k, v)
    if body or method in ("PUT", "POST"):
        c.putheader("Content-Length", str(len(body)))
    c.endheaders()
    if body:
        c.send(body)
    r = c.getresponse()
    data = r.read()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    c.close()
    return out


def signed(method, url, body=b"", headers=None, service="s3", auth_cls=None, cred=None):
    """A request signed by botocore (header form); returns (headers, body) to tamper with."""
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    cls = auth_cls or (S3SigV4Auth if service in ("s3", "s3express") else SigV4Auth)
    cls(cred or creds(), service, REGION).add_auth(req)
    return dict(req.headers.items()), body


def presign_v4(method, url, expires=300, cred=None):
    req = AWSRequest(method=method, url=url)
    S3SigV4QueryAuth(cred or creds(), "s3", REGION, expires=expires).add_auth(req)
    return req.url


def xml_code(body):
    import re
    m = re.search(rb"<Code>([^<]*)</Code>", body)
    return m.group(1).decode() if m else None


def xml_message(body):
    import re
    m = re.search(rb"<Message>([^<]*)</Message>", body)
    return m.group(1).decode() if m else None


def obj(bucket, key):
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None


# ---- unsigned x-amz-* headers ----

@test
def unsigned_copy_source_on_presigned_put():
    """A presigned PUT signed with host only cannot become a CopyObject from another
    bucket by adding x-amz-copy-source: AWS refuses unsigned x-amz-* headers."""
    url = presign_v4("PUT", f"{srv.endpoint}/{GP}/stolen")
    st, h, body = send("PUT", url, {"x-amz-copy-source": f"/{GP2}/secret"})
    eq(st, 403, f"status {body[:300]!r}")
    eq(xml_code(body), "AccessDenied", "code")
    eq(xml_message(body), "There were headers present in the request which were not signed",
       "message")
    check(b"<HeadersNotSigned>x-amz-copy-source</HeadersNotSigned>" in body, body[:400])
    eq(obj(GP, "stolen"), None, "nothing was copied")
    # the same URL without the extra header still works: the refusal is about the header
    st, _, body = send("PUT", url, {}, b"legit")
    eq(st, 200, f"untampered presigned PUT {body[:200]!r}")
    eq(obj(GP, "stolen"), b"legit", "presigned PUT stored its body")
    s3.delete_object(Bucket=GP, Key="stolen")


@test
def unsigned_amz_header_on_header_auth():
    """Header-signed requests too: an x-amz-* header added after signing is refused."""
    hs, _ = signed("PUT", f"{srv.endpoint}/{GP}/hdr", b"x")
    hs["x-amz-copy-source"] = f"/{GP2}/secret"
    st, _, body = send("PUT", f"{srv.endpoint}/{GP}/hdr", hs, b"x")
    eq((st, xml_code(body)), (403, "AccessDenied"), body[:300])
    eq(obj(GP, "hdr"), None, "nothing stored")


# ---- bodies of non-S3 services are always hashed ----

@test
def logs_body_swapped_under_old_signature():
    """A captured Logs request carrying x-amz-content-sha256 cannot carry a new body."""
    url = f"{srv.endpoint}/"
    old = json.dumps({"logGroupName": "atk-old"}).encode()
    new = json.dumps({"logGroupName": "atk-new"}).encode()
    hs, _ = signed("POST", url, old, {
        "X-Amz-Target": "Logs_20140328.CreateLogGroup",
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Content-SHA256": hashlib.sha256(old).hexdigest()}, service="logs")
    st, h, body = send("POST", url, hs, new)
    eq(st, 400, f"status {body[:300]!r}")
    eq(json.loads(body).get("__type"), "InvalidSignatureException", f"__type {body[:300]!r}")
    names = [g["logGroupName"] for g in srv.logs_client().describe_log_groups()["logGroups"]]
    check("atk-new" not in names and "atk-old" not in names, f"log groups {names}")
    # and the untampered request is accepted: the signer was right
    st, _, body = send("POST", url, hs, old)
    eq(st, 200, f"untampered {body[:300]!r}")


@test
def lambda_body_swapped_under_old_signature():
    """Same for Lambda: the error is Lambda's (x-amzn-ErrorType), not S3 XML."""
    url = f"{srv.endpoint}/2015-03-31/functions"
    old = json.dumps({"FunctionName": "x"}).encode()
    new = json.dumps({"FunctionName": "y"}).encode()
    hs, _ = signed("POST", url, old, {"Content-Type": "application/json",
                                      "X-Amz-Content-SHA256": hashlib.sha256(old).hexdigest()},
                   service="lambda")
    st, h, body = send("POST", url, hs, new)
    eq(st, 403, f"status {body[:300]!r}")
    eq(h.get("x-amzn-errortype"), "InvalidSignatureException", "x-amzn-ErrorType")
    check(b"<Error>" not in body, "not S3 XML")


@test
def lambda_unsigned_payload_refused():
    """UNSIGNED-PAYLOAD means nothing to Lambda: the body must be the one signed."""
    url = f"{srv.endpoint}/2015-03-31/functions"
    hs, _ = signed("GET", url, b"", {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"},
                   service="lambda")
    st, h, body = send("GET", url, hs)
    eq((st, h.get("x-amzn-errortype")), (403, "InvalidSignatureException"), body[:300])


# ---- aws-chunked only when signed as STREAMING ----

def chunked(data):
    return f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n\r\n"


@test
def unsigned_aws_chunked_swaps_nothing():
    """A captured PUT whose body hash was signed: adding an unsigned
    Content-Encoding: aws-chunked with new chunked bytes must not store them."""
    url = f"{srv.endpoint}/{GP}/keep"
    hs, _ = signed("PUT", url, b"replay")  # S3SigV4Auth signs the body's SHA-256
    hs["Content-Encoding"] = "aws-chunked"
    evil = b"EVIL BYTES"
    st, _, body = send("PUT", url, hs, chunked(evil))
    check(st in (400, 403), f"status {st} {body[:300]!r}")
    eq(obj(GP, "keep"), b"original", "object unchanged")


# ---- SigV2 ----

def presign_v2(method, path, expires_in=300, query=""):
    url = f"{srv.endpoint}{path}" + (f"?{query}" if query else "")
    req = AWSRequest(method=method, url=url)
    HmacV1QueryAuth(creds(), expires=expires_in).add_auth(req)
    return req.url


@test
def sigv2_location_url_cannot_become_session():
    """?location signed with SigV2, then &session appended: no ReadWrite session."""
    url = presign_v2("GET", f"/{DIRA}", query="location")
    st, _, body = send("GET", url + "&session")
    eq(st, 403, f"status {body[:300]!r}")
    eq(xml_code(body), "AccessDenied", "code")
    check(b"SecretAccessKey" not in body and b"Credentials" not in body, body[:300])
    # even the unmodified bucket-level URL is refused: SigV2 presigns objects only
    st, _, body = send("GET", url)
    eq((st, xml_code(body)), (403, "AccessDenied"), body[:300])


@test
def sigv2_unsigned_listing_params():
    """SigV2 does not sign list-type or prefix: a URL carrying them is refused."""
    url = presign_v2("GET", f"/{GP}/keep")
    st, _, body = send("GET", url + "&list-type=2&prefix=x")
    eq((st, xml_code(body)), (403, "AccessDenied"), body[:300])
    st, _, body = send("GET", url)
    eq((st, body), (200, b"original"), "plain object GET by SigV2 URL still works")


@test
def sigv2_expires_capped():
    url = presign_v2("GET", f"/{GP}/keep", expires_in=8 * 86400)
    st, _, body = send("GET", url)
    eq((st, xml_code(body)), (403, "AccessDenied"), body[:300])
    url = presign_v2("GET", f"/{GP}/keep", expires_in=6 * 86400)
    st, _, body = send("GET", url)
    eq(st, 200, "six days is fine")


# ---- '+' in a signed query ----

@test
def plus_in_presigned_query():
    """'+' is what SigV4 says it is (a '+', canonical "%2B"), both when the signature is
    checked and when the value is used: turning "%2B" into "+" changes nothing the server
    does, and turning "%20" into "+" (a space into a plus) breaks the signature."""
    url = f"{srv.endpoint}/{GP}/keep?response-content-type=text%2Fa%2Bb"
    p = presign_v4("GET", url)
    st, h, body = send("GET", p)
    eq((st, h.get("content-type")), (200, "text/a+b"), "legit URL")
    tampered = p.replace("a%2Bb", "a+b")
    check(tampered != p, "the URL carries %2B")
    st, h, body = send("GET", tampered)
    eq((st, h.get("content-type")), (200, "text/a+b"), "%2B -> + is the same value, used as signed")
    url = f"{srv.endpoint}/{GP}/keep?response-content-type=text%2Fa%20b"
    p = presign_v4("GET", url)
    st, h, body = send("GET", p)
    eq((st, h.get("content-type")), (200, "text/a b"), "a space")
    tampered = p.replace("a%20b", "a+b")
    check(tampered != p, "the URL carries %20")
    st, h, body = send("GET", tampered)
    eq((st, xml_code(body)), (403, "SignatureDoesNotMatch"), body[:300])


# ---- forged tokens ----

def _b32(raw):
    return base64.b32encode(raw).decode().rstrip("=")


def _b64u(raw):
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _mac3(key, a, b):
    return hmac.new(key, a + b"\0" + b, hashlib.sha256).digest()


def forge(expires_ms, kind=3, scope=b"forged", principal=b"arn:aws:iam::123456789012:role/x"):
    """Mints session credentials the way the server does, with its key file: what an
    attacker who stole DATA/keys/server.key could do."""
    with open(os.path.join(srv.data, "keys", "server.key"), "rb") as f:
        key = f.read()
    k_akid = _mac3(key, b"quarry creds akid", b"v1")
    k_token = _mac3(key, b"quarry creds token", b"v1")
    k_secret = _mac3(key, b"quarry creds secret", b"v1")
    raw = bytes([2, kind, 0]) + struct.pack(">q", expires_ms) + os.urandom(4)
    raw += _mac3(k_akid, raw, b"akid")[:10]
    akid = "ASIA" + _b32(raw)
    now = int(time.time() * 1000)
    payload = struct.pack(">q", now) + bytes([len(scope)]) + scope
    payload += struct.pack(">H", len(principal)) + principal + struct.pack(">H", 0)
    token = _b64u(payload) + "." + _b64u(_mac3(k_token, akid.encode(), payload))
    secret = base64.b64encode(_mac3(k_secret, akid.encode(), payload)[:30]).decode()
    return akid, secret, token


@test
def forged_far_future_token_refused():
    """With the server key an attacker can mint; the cap on expiry is checked when the
    token is used, so one valid until 2100 is refused. A forge within the cap proves the
    forger is right (and that root-less role sessions then meet authorization)."""
    far = int(datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc).timestamp() * 1000)
    akid, secret, token = forge(far)
    c = _client_with(akid, secret, token)
    code, st, _ = client_error(c.list_objects_v2, Bucket=GP)
    eq((code, st), ("InvalidToken", 400), "far-future token")
    akid, secret, token = forge(int(time.time() * 1000) + 3600_000)
    c = _client_with(akid, secret, token)
    try:
        c.list_objects_v2(Bucket=GP)
        authenticated = True
    except Exception as e:  # noqa: BLE001
        code = getattr(e, "response", {}).get("Error", {}).get("Code")
        authenticated = code not in ("InvalidToken", "InvalidAccessKeyId", "SignatureDoesNotMatch")
    check(authenticated, "a forge within the cap authenticates: the forger matches the server")


def _client_with(akid, secret, token, service="s3"):
    import boto3
    from botocore.config import Config
    cfg = Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"})
    return boto3.client(service, endpoint_url=srv.endpoint, region_name=REGION,
                        aws_access_key_id=akid, aws_secret_access_key=secret,
                        aws_session_token=token, config=cfg)


# ---- auth failures in each service's format ----

def _bad_client(service):
    import boto3
    from botocore.config import Config
    return boto3.client(service, endpoint_url=srv.endpoint, region_name=REGION,
                        aws_access_key_id=srv.access_key, aws_secret_access_key="wrong",
                        config=Config(retries={"total_max_attempts": 1}))


def _unknown_client(service):
    import boto3
    from botocore.config import Config
    return boto3.client(service, endpoint_url=srv.endpoint, region_name=REGION,
                        aws_access_key_id="AKIAUNKNOWNKEY000000", aws_secret_access_key="x",
                        config=Config(retries={"total_max_attempts": 1}))


@test
def auth_errors_in_service_formats():
    cases = [
        ("lambda", lambda c: c.list_functions(), "InvalidSignatureException", 403,
         "UnrecognizedClientException", 403),
        ("logs", lambda c: c.describe_log_groups(), "InvalidSignatureException", 400,
         "UnrecognizedClientException", 400),
        ("iam", lambda c: c.list_users(), "SignatureDoesNotMatch", 403,
         "InvalidClientTokenId", 403),
        ("sts", lambda c: c.get_caller_identity(), "SignatureDoesNotMatch", 403,
         "InvalidClientTokenId", 403),
        ("s3", lambda c: c.list_buckets(), "SignatureDoesNotMatch", 403,
         "InvalidAccessKeyId", 403),
    ]
    for svc, call, code, st, ucode, ust in cases:
        got = client_error(call, _bad_client(svc))
        eq(got[:2], (code, st), f"{svc} wrong secret")
        got = client_error(call, _unknown_client(svc))
        eq(got[:2], (ucode, ust), f"{svc} unknown key")


# ---- S3 Express sessions stay in their bucket, mode and service ----

def _session(bucket, mode):
    r = s3.create_session(Bucket=bucket, SessionMode=mode)["Credentials"]
    return r["AccessKeyId"], r["SecretAccessKey"], r["SessionToken"]


@test
def express_session_not_for_lambda_or_logs():
    akid, secret, token = _session(DIRA, "ReadOnly")
    lam = _client_with(akid, secret, token, "lambda")
    code, st, _ = client_error(lam.list_functions)
    eq((code, st), ("AccessDeniedException", 403), "ListFunctions with a session")
    code, st, _ = client_error(lam.create_function, FunctionName="atk-fn", Runtime="python3.11",
                               Role="arn:aws:iam::123456789012:role/x", Handler="a.b",
                               Code={"ZipFile": build_zip({"a.py": "def b(e, c): return 1"})})
    eq((code, st), ("AccessDeniedException", 403), "CreateFunction with a session")
    eq([f["FunctionName"] for f in srv.lambda_client().list_functions()["Functions"]
        if f["FunctionName"] == "atk-fn"], [], "no function created")
    logs = _client_with(akid, secret, token, "logs")
    code, st, _ = client_error(logs.describe_log_groups)
    eq((code, st), ("AccessDeniedException", 400), "Logs with a session")


def _session_request(method, bucket, key, akid, secret, token, headers=None, query="", body=b""):
    url = f"{srv.endpoint}/{bucket}/{key}" + (f"?{query}" if query else "")
    h = {"x-amz-s3session-token": token}
    h.update(headers or {})
    hs, _ = signed(method, url, body, h, service="s3express",
                   cred=Credentials(akid, secret))
    return send(method, url, hs, body)


@test
def express_session_copy_from_other_bucket():
    """A ReadWrite session for bucket A cannot read bucket B through x-amz-copy-source."""
    akid, secret, token = _session(DIRA, "ReadWrite")
    for src in (f"/{DIRB}/secret", f"/{GP2}/secret"):
        st, _, body = _session_request("PUT", DIRA, "copied", akid, secret, token,
                                       {"x-amz-copy-source": src})
        eq((st, xml_code(body)), (403, "AccessDenied"), f"CopyObject from {src}: {body[:300]!r}")
    eq(obj(DIRA, "copied"), None, "nothing copied")
    # UploadPartCopy
    up = s3.create_multipart_upload(Bucket=DIRA, Key="mpu")["UploadId"]
    st, _, body = _session_request("PUT", DIRA, "mpu", akid, secret, token,
                                   {"x-amz-copy-source": f"/{DIRB}/secret"},
                                   query=f"partNumber=1&uploadId={urllib.parse.quote(up)}")
    eq((st, xml_code(body)), (403, "AccessDenied"), f"UploadPartCopy: {body[:300]!r}")
    eq(s3.list_parts(Bucket=DIRA, Key="mpu", UploadId=up).get("Parts", []), [], "no part")
    s3.abort_multipart_upload(Bucket=DIRA, Key="mpu", UploadId=up)
    # within its own bucket the copy works
    st, _, body = _session_request("PUT", DIRA, "copied", akid, secret, token,
                                   {"x-amz-copy-source": f"/{DIRA}/mine"})
    eq(st, 200, f"copy within the session's bucket: {body[:300]!r}")
    s3.delete_object(Bucket=DIRA, Key="copied")


@test
def express_readonly_session_cannot_write():
    akid, secret, token = _session(DIRA, "ReadOnly")
    st, _, body = _session_request("PUT", DIRA, "ro", akid, secret, token, body=b"x")
    eq((st, xml_code(body)), (403, "AccessDenied"), body[:300])
    eq(obj(DIRA, "ro"), None, "nothing stored")
    st, _, body = _session_request("GET", DIRB, "secret", akid, secret, token)
    eq((st, xml_code(body)), (403, "AccessDenied"), "another bucket")


# ---- function credentials end with the function ----

FN_SRC = """
import os
def handler(event, context):
    return {k: os.environ.get(k) for k in
            ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
"""


@test
def function_credentials_end_at_delete():
    lam = srv.lambda_client()
    name = f"atk-{uuid.uuid4().hex[:8]}"
    lam.create_function(FunctionName=name, Runtime="python3.11",
                        Role="arn:aws:iam::123456789012:role/lambda-ex", Handler="f.handler",
                        Code={"ZipFile": build_zip({"f.py": FN_SRC})})
    for _ in range(100):
        if lam.get_function(FunctionName=name)["Configuration"].get("State") == "Active":
            break
        time.sleep(0.1)
    r = lam.invoke(FunctionName=name, Payload=b"{}")
    env = json.loads(r["Payload"].read())
    check(env.get("AWS_SESSION_TOKEN"), f"function has credentials: {env}")
    check(env["AWS_ACCESS_KEY_ID"] != srv.access_key, "not the root key")
    c = _client_with(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                     env["AWS_SESSION_TOKEN"])
    before = None
    try:
        c.list_objects_v2(Bucket=GP)
        before = "ok"
    except Exception as e:  # noqa: BLE001
        before = e.response["Error"]["Code"]
    check(before not in ("InvalidToken", "InvalidAccessKeyId"),
          f"credentials authenticate while the function exists: {before}")
    lam.delete_function(FunctionName=name)
    code, st, _ = client_error(c.list_objects_v2, Bucket=GP)
    eq((code, st), ("InvalidToken", 400), "after DeleteFunction")


if __name__ == "__main__":
    run(setup, teardown)
