#!/usr/bin/env python3
"""test_s3_routing.py - quarry never answers one S3 operation with another.

The model walk: every operation of botocore's S3 model is sent with stock boto3 (its own
serializer and SigV4 signer, S3 Express sessions for directory buckets) to a general
purpose and a directory bucket, required members filled with placeholders. The answer
must be that operation's (an XML root the operation returns, or one of the errors the
operation itself gives for the placeholders) or 501 NotImplemented, never another
operation's; and a refused request changes nothing: the store (every bucket, every
object's bytes) is compared before and after. Which operations quarry implements comes
from `quarry s3-operations`, which must also be the table in docs/s3.md.

Then the cases of the issue one by one, with raw signed requests where boto3 cannot
express them (a sub-resource on an object, an unknown query parameter).
"""

import datetime
import functools
import hashlib
import os
import re
import subprocess
import urllib.parse

import botocore.session
import urllib3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, FlexibleChecksumError, MissingDependencyException

from harness import check, client_error, eq, expect_client_error, run, test
from quarry_server import ACCOUNT, DIR_CFG, REGION, REPO, QuarryServer, binary_path

srv = None
s3 = None
FIXTURE = b"walk fixture bytes\n"
WALK_KEY = "walk/k"


def setup():
    global srv, s3
    srv = QuarryServer().start()
    s3 = srv.boto3_client(inject_host_prefix=False)


def teardown():
    if srv is not None:
        srv.close()


def dname(base):
    return f"{base}--use1-az4--x-s3"


def make_gp(name):
    s3.create_bucket(Bucket=name)
    return name


def make_dir(base):
    name = dname(base)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration=DIR_CFG)
    return name


@functools.lru_cache(maxsize=None)
def model():
    return botocore.session.get_session().get_service_model("s3")


def operations_table():
    """{(operation, 'gp'|'dir'): state, (operation, 'request'): "METHOD uri"} from quarry
    s3-operations."""
    out = subprocess.run([binary_path(), "s3-operations"], check=True, capture_output=True,
                         text=True).stdout
    table = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("operation", "---"):
            continue
        table[(cells[0], "gp")] = cells[2]
        table[(cells[0], "dir")] = cells[3]
        table[(cells[0], "request")] = cells[1].strip("`")
    return out, table


# ---- raw signed requests (what boto3 cannot express) ----

_http = urllib3.PoolManager()


def raw(method, bucket, key=None, query="", headers=None, body=b"", session=None):
    """Sends one SigV4-signed request; returns (status, headers, body). session: S3 Express
    credentials (dict from CreateSession) for directory buckets."""
    path = "/" + urllib.parse.quote(bucket, safe="")
    if key is not None:
        path += "/" + urllib.parse.quote(key, safe="/")
    url = srv.endpoint + path + ("?" + query if query else "")
    hdrs = dict(headers or {})
    if session:
        creds = Credentials(session["AccessKeyId"], session["SecretAccessKey"])
        hdrs["x-amz-s3session-token"] = session["SessionToken"]
        service = "s3express"
    else:
        creds = Credentials(srv.access_key, srv.secret_key)
        service = "s3"
    req = AWSRequest(method=method, url=url, data=body, headers=hdrs)
    req.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    S3SigV4Auth(creds, service, REGION).add_auth(req)
    p = req.prepare()
    r = _http.request(method, p.url, body=body or None, headers=dict(p.headers), retries=False,
                      redirect=False)
    return r.status, r.headers, r.data


def error_code(body):
    m = re.search(rb"<Code>([^<]*)</Code>", body or b"")
    return m.group(1).decode() if m else None


# ---- the store, as a client sees it ----

def snapshot():
    """Every bucket (both types) and every object's key, ETag, bytes hash and tags."""
    snap = {}
    names = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    names += [b["Name"] for b in s3.list_directory_buckets().get("Buckets", [])]
    for name in sorted(names):
        objs = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for o in page.get("Contents", []):
                body = s3.get_object(Bucket=name, Key=o["Key"])["Body"].read()
                tags = None
                if not name.endswith("--x-s3"):
                    tags = s3.get_object_tagging(Bucket=name, Key=o["Key"])["TagSet"]
                objs[o["Key"]] = (o["ETag"], hashlib.sha256(body).hexdigest(), repr(tags))
        snap[name] = objs
    return snap


# ---- the model walk ----

# The XML root each implemented operation answers with (S3's documents; the model does
# not name roots). Operations without a body answer with headers only.
ROOTS = {
    "ListBuckets": "ListAllMyBucketsResult",
    "ListDirectoryBuckets": "ListAllMyDirectoryBucketsResult",
    "ListObjects": "ListBucketResult",
    "ListObjectsV2": "ListBucketResult",
    "ListObjectVersions": "ListVersionsResult",
    "GetBucketVersioning": "VersioningConfiguration",
    "GetBucketLocation": "LocationConstraint",
    "ListMultipartUploads": "ListMultipartUploadsResult",
    "CreateMultipartUpload": "InitiateMultipartUploadResult",
    "CopyObject": "CopyObjectResult",
    "DeleteObjects": "DeleteResult",
    "GetObjectTagging": "Tagging",
    "CreateSession": "CreateSessionResult",
    "GetBucketEncryption": "ServerSideEncryptionConfiguration",
}
NO_BODY = {"HeadBucket", "HeadObject", "PutObject", "DeleteObject", "CreateBucket",
           "PutObjectTagging", "DeleteObjectTagging", "GetObject", "DeleteBucketEncryption",
           "DeleteBucketPolicy"}
# What the operation itself answers for the walk's placeholders (a made-up upload id, an
# existing bucket, a non-empty bucket); anything else is a wrong answer.
OWN_ERRORS = {
    "ListParts": {"NoSuchUpload"},
    "AbortMultipartUpload": {"NoSuchUpload"},
    "CompleteMultipartUpload": {"NoSuchUpload"},
    "UploadPart": {"NoSuchUpload"},
    "UploadPartCopy": {"NoSuchUpload"},
    "CreateBucket": {"BucketAlreadyOwnedByYou"},
    "DeleteBucket": {"BucketNotEmpty"},
    "GetBucketPolicy": {"NoSuchBucketPolicy"},  # the walk's bucket has none
    "PutBucketPolicy": {"MalformedPolicy"},     # the placeholder policy is "x"
    ("CreateSession", "gp"): {"InvalidRequest"},
    "PutBucketEncryption": {"MalformedXML"},  # the placeholder has no Rule
    "GetBucketPolicy": {"NoSuchBucketPolicy"},
    "PutBucketPolicy": {"MalformedPolicy"},
    # the walk's bucket has no Object Lock, and its placeholder bodies say nothing
    "PutBucketVersioning": {"MalformedXML"},
    "GetObjectLockConfiguration": {"ObjectLockConfigurationNotFoundError"},
    "PutObjectLockConfiguration": {"MalformedXML", "InvalidBucketState"},
    "GetObjectRetention": {"InvalidRequest"},
    "PutObjectRetention": {"InvalidRequest"},
    "GetObjectLegalHold": {"InvalidRequest"},
    "PutObjectLegalHold": {"InvalidRequest"},
}
# Operations that change the store when they succeed; every other answer must leave it.
WRITES = {"PutObject", "DeleteObject", "DeleteObjects", "CopyObject", "CreateBucket",
          "DeleteBucket", "PutObjectTagging", "DeleteObjectTagging", "PutBucketPolicy",
          "DeleteBucketPolicy"}


def placeholder(shape, name, bucket, depth=0):
    """A value for a required member: the walk's bucket and key where the model means
    them, else the smallest value of the right type."""
    t = shape.type_name
    if name == "Bucket":
        return bucket
    if name == "Key":
        return WALK_KEY
    if name == "CopySource":
        return f"{bucket}/other"
    if name == "UploadId":
        return "walk-upload-id"
    if t == "structure":
        if shape.metadata.get("union"):
            m = next(iter(shape.members))
            return {m: placeholder(shape.members[m], m, bucket, depth + 1)}
        return {m: placeholder(shape.members[m], m, bucket, depth + 1)
                for m in shape.required_members}
    if t == "list":
        return [placeholder(shape.member, "member", bucket, depth + 1)]
    if t == "map":
        return {}
    if t == "string":
        return shape.enum[0] if shape.enum else "x" * max(1, shape.metadata.get("min", 1))
    if t in ("integer", "long"):
        return max(1, shape.metadata.get("min", 1))
    if t == "boolean":
        return False
    if t == "timestamp":
        return datetime.datetime.now(datetime.timezone.utc)
    if t == "blob":
        return b"x"
    return "x"


def call(op, bucket):
    """Sends op with placeholders; returns (status, error code or None, raw body)."""
    om = model().operation_model(op)
    params = placeholder(om.input_shape, "", bucket) if om.input_shape else {}
    seen = {}

    def grab(response_dict=None, **kw):
        if response_dict is not None:
            seen["status"] = response_dict.get("status_code")
            b = response_dict.get("body")
            seen["body"] = b if isinstance(b, bytes) else b""

    s3.meta.events.register("response-received.s3", grab)
    try:
        fn = getattr(s3, botocore.xform_name(op))
        r = fn(**params)
        if op in ("GetObject",):
            seen["object"] = r["Body"].read()
        code = None
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code")
    finally:
        s3.meta.events.unregister("response-received.s3", grab)
    return seen.get("status"), code, seen.get("body", b""), seen.get("object")


def ensure_fixture(bucket):
    try:
        if s3.get_object(Bucket=bucket, Key=WALK_KEY)["Body"].read() == FIXTURE:
            return
    except ClientError:
        pass
    s3.put_object(Bucket=bucket, Key=WALK_KEY, Body=FIXTURE)


def judge(op, kind, state, status, code, body, obj):
    """None when the answer is op's (or a refusal of op), else what is wrong."""
    if state.startswith("NotImplemented"):
        if status == 501 and code == "NotImplemented":
            return None
        return f"{op} is NotImplemented on {kind} but got {status} {code}"
    if code is not None:
        allowed = OWN_ERRORS.get((op, kind)) or OWN_ERRORS.get(op) or set()
        return None if code in allowed else f"{op} on {kind}: unexpected error {status} {code}"
    if status is None or status >= 300:
        return f"{op} on {kind}: status {status}"
    if op == "GetObject":
        return None if obj == FIXTURE else f"GetObject returned {obj[:40]!r}"
    if op in NO_BODY:
        return None if not body.strip() else f"{op} answered a body: {body[:120]!r}"
    m = re.search(rb"<([A-Za-z]+)[ >/]", re.sub(rb"^<\?xml[^>]*\?>\s*", b"", body))
    root = m.group(1).decode() if m else None
    want = ROOTS.get(op)
    if want is None:
        return f"{op} on {kind}: success, but the test knows no answer for it"
    return None if root == want else f"{op} on {kind}: root {root}, want {want}"


@test
def model_walk_never_another_operations_answer():
    _, table = operations_table()
    m = model()
    gp = make_gp("walk")
    d = make_dir("walk")
    # a second object and bucket so a wrong delete or overwrite has something to hit
    s3.put_object(Bucket=gp, Key="other", Body=b"other")
    s3.put_object(Bucket=d, Key="other", Body=b"other")
    wrong = []
    for op in sorted(m.operation_names):
        for kind, bucket in (("gp", gp), ("dir", d)):
            state = table.get((op, kind))
            if state is None:
                wrong.append(f"{op} is missing from quarry s3-operations")
                continue
            ensure_fixture(bucket)
            before = snapshot()
            status, code, body, obj = call(op, bucket)
            why = judge(op, kind, state, status, code, body, obj)
            if why:
                wrong.append(why)
            if code is not None or op not in WRITES:
                after = snapshot()
                if after != before:
                    wrong.append(f"{op} on {kind} ({status} {code}) changed the store")
            if op == "DeleteBucket" and code is None:
                wrong.append(f"DeleteBucket deleted a non-empty bucket {bucket}")
    check(not wrong, "\n      " + "\n      ".join(wrong))


# Headers of implemented operations that quarry reads and acts on (grep s3_hdr in
# src/api/s3 and the stored headers in meta.c); a header of the model outside this set
# must be refused, or be one of NOOP below.
READ_HEADERS = {
    "content-type", "content-disposition", "content-language", "cache-control", "expires",
    "content-encoding", "content-md5", "content-length", "x-amz-storage-class",
    "x-amz-tagging", "x-amz-tagging-directive", "x-amz-metadata-directive",
    "x-amz-copy-source", "x-amz-copy-source-if-match", "x-amz-copy-source-if-none-match",
    "x-amz-copy-source-if-modified-since", "x-amz-copy-source-if-unmodified-since",
    "x-amz-copy-source-range", "if-match", "if-none-match", "if-modified-since",
    "if-unmodified-since", "range", "x-amz-checksum-mode", "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c", "x-amz-checksum-crc64nvme", "x-amz-checksum-sha1",
    "x-amz-checksum-sha256", "x-amz-checksum-type", "x-amz-create-session-mode",
    "x-amz-mp-object-size",
    # encryption (docs/s3.md "Encryption"): SSE-S3 and SSE-C are read; KMS is refused
    "x-amz-server-side-encryption", "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-server-side-encryption-customer-key", "x-amz-server-side-encryption-customer-key-md5",
    "x-amz-copy-source-server-side-encryption-customer-algorithm",
    "x-amz-copy-source-server-side-encryption-customer-key",
    "x-amz-copy-source-server-side-encryption-customer-key-md5",
}
# Read on directory buckets only (the model has them there only).
READ_DIR_HEADERS = {"x-amz-if-match-size", "x-amz-if-match-last-modified-time",
                    "x-amz-if-match-initiated-time"}
# Read on general purpose buckets only (Object Lock; directory buckets refuse them).
READ_GP_HEADERS = {"x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date",
                   "x-amz-object-lock-legal-hold", "x-amz-bucket-object-lock-enabled"}
# (header, value) pairs accepted because they change nothing in quarry (docs/s3.md);
# value None: any value. x-amz-optional-object-attributes asks ListObjectsV2 for
# RestoreStatus, which only archived objects have, and quarry refuses archive classes.
NOOP = {("x-amz-acl", "private"), ("x-amz-acl", "bucket-owner-full-control"),
        ("x-amz-object-ownership", "BucketOwnerEnforced"), ("x-amz-bucket-namespace", "global"),
        ("x-amz-request-payer", "requester"), ("x-amz-bypass-governance-retention", None),
        ("x-amz-bucket-object-lock-enabled", "false"),
        ("x-amz-server-side-encryption-bucket-key-enabled", "false"),
        ("x-amz-optional-object-attributes", None),
        # the account's root can always change a bucket policy, so there is no access of
        # its own for the policy to remove
        ("x-amz-confirm-remove-self-bucket-access", None)}
# Checksum algorithms quarry verifies; the others of the model's enum must be refused.
CK_ALGS = {"CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"}


def header_values(member):
    """Values to try for a header member: every enum value, else one placeholder."""
    if member.type_name == "string" and member.enum:
        return list(member.enum)
    if member.type_name == "boolean":
        return [True, False]
    return [placeholder(member, "", "")]


def wire(v):
    return str(v).lower() if isinstance(v, bool) else str(v)


@test
def model_walk_headers_are_read_or_refused():
    _, table = operations_table()
    m = model()
    gp = make_gp("hwalk")
    d = make_dir("hwalk")
    s3.put_object(Bucket=gp, Key="other", Body=b"other")
    s3.put_object(Bucket=d, Key="other", Body=b"other")
    wrong = []
    for op in sorted(m.operation_names):
        om = m.operation_model(op)
        if not om.input_shape:
            continue
        for kind, bucket in (("gp", gp), ("dir", d)):
            if table.get((op, kind)) != "implemented":
                continue
            for name, member in om.input_shape.members.items():
                hname = member.serialization.get("name", "").lower()
                if member.serialization.get("location") != "header" or hname in READ_HEADERS:
                    continue
                if kind == "dir" and hname in READ_DIR_HEADERS:
                    continue
                if kind == "gp" and hname in READ_GP_HEADERS:
                    continue
                for v in header_values(member):
                    if hname.endswith("checksum-algorithm") and str(v) in CK_ALGS:
                        continue
                    ensure_fixture(bucket)
                    before = snapshot()
                    params = placeholder(om.input_shape, "", bucket)
                    params[name] = v
                    try:
                        getattr(s3, botocore.xform_name(op))(**params)
                        code = None
                    except ClientError as e:
                        code = e.response.get("Error", {}).get("Code")
                    except (FlexibleChecksumError, MissingDependencyException):
                        continue  # boto3 itself will not send it (no such checksum there)
                    noop = (hname, None) in NOOP or (hname, wire(v)) in NOOP
                    # HEAD answers carry no body: botocore's code is the status then
                    refused = code in ("NotImplemented", "InvalidArgument", "AccessDenied",
                                       "501", "400", "403")
                    if not noop and not refused:
                        wrong.append(f"{op} on {kind}: {hname}: {wire(v)!r} -> {code}")
                    if refused and snapshot() != before:
                        wrong.append(f"{op} on {kind}: refused {hname} changed the store")
    check(not wrong, "\n      " + "\n      ".join(wrong))


@test
def model_walk_query_parameters_are_taken():
    """Every querystring member of an implemented operation is one its route takes: sent
    alone, it is never refused as a parameter the operation does not take."""
    _, table = operations_table()
    m = model()
    gp = make_gp("qwalk")
    d = make_dir("qwalk")
    wrong = []
    for op in sorted(m.operation_names):
        om = m.operation_model(op)
        if not om.input_shape:
            continue
        for kind, bucket in (("gp", gp), ("dir", d)):
            if table.get((op, kind)) != "implemented":
                continue
            for name, member in om.input_shape.members.items():
                if member.serialization.get("location") != "querystring":
                    continue
                ensure_fixture(bucket)
                params = placeholder(om.input_shape, "", bucket)
                params.setdefault(name, header_values(member)[0])
                body = {}

                def grab(response_dict=None, **kw):
                    if response_dict is not None:
                        body["b"] = response_dict.get("body") or b""
                s3.meta.events.register("response-received.s3", grab)
                try:
                    getattr(s3, botocore.xform_name(op))(**params)
                except ClientError:
                    pass
                finally:
                    s3.meta.events.unregister("response-received.s3", grab)
                if b"is not one" in body.get("b", b"") or b"x-id=" in body.get("b", b""):
                    wrong.append(f"{op} on {kind}: {member.serialization.get('name')} refused")
    check(not wrong, "\n      " + "\n      ".join(wrong))


@test
def docs_table_is_the_route_table():
    out, table = operations_table()
    ops = set(model().operation_names)
    listed = {k[0] for k in table}
    # every row's request is the model's method and requestUri (the route table prints
    # the one sub-resource word that selects; select-type=2 is a parameter it checks)
    for op in ops:
        h = model().operation_model(op).http
        want = f"{h['method']} {h['requestUri'].replace('&select-type=2', '')}"
        eq(table.get((op, "request")), want, f"{op} request")
    eq(sorted(listed ^ ops), [], "operations only in one of quarry s3-operations and the model")
    with open(os.path.join(REPO, "docs", "s3.md"), encoding="utf-8") as f:
        doc = f.read()
    check(out.strip() in doc, "docs/s3.md does not carry the output of quarry s3-operations")
    # the directory column says "S3 has none" exactly where the model says so
    for op in ops:
        doc_ns = "not supported for directory buckets" in (
            m_doc := model().operation_model(op).documentation)[:400]
        if op in ("ListBuckets", "WriteGetObjectResponse"):
            continue  # bucket-less: no directory bucket involved
        eq(table[(op, "dir")].endswith("(S3 has none)"), doc_ns, f"{op} directory column")
        del m_doc


# ---- the cases of the issue ----

@test
def delete_bucket_tagging_keeps_the_bucket():
    b = make_gp("tagdel")  # empty: DeleteBucket would succeed
    expect_client_error("NotImplemented", 501, s3.delete_bucket_tagging, Bucket=b)
    s3.head_bucket(Bucket=b)
    expect_client_error("NotImplemented", 501, s3.get_bucket_tagging, Bucket=b)
    expect_client_error("NotImplemented", 501, s3.put_bucket_tagging, Bucket=b,
                        Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    s3.head_bucket(Bucket=b)


@test
def sub_resources_on_buckets_and_objects_do_not_fall_through():
    gp = make_gp("subres")
    empty = make_gp("subres-empty")
    s3.put_object(Bucket=gp, Key="k", Body=b"keep me")
    cases = [
        ("DELETE", empty, None, "versioning"),
        ("DELETE", empty, None, "versions"),
        ("DELETE", empty, None, "uploads"),
        ("DELETE", empty, None, "location"),
        ("PUT", gp, None, "versions"),
        ("PUT", gp, None, "uploads"),
        ("PUT", gp, None, "location"),
        ("DELETE", gp, "k", "versioning"),
        ("DELETE", gp, "k", "versions"),
        ("DELETE", gp, "k", "uploads"),
        ("DELETE", gp, "k", "location"),
        ("PUT", gp, "k", "versioning"),
        ("PUT", gp, "k", "versions"),
        ("PUT", gp, "k", "uploads"),
        ("PUT", gp, "k", "location"),
        ("GET", gp, "k", "versioning"),
        ("GET", gp, "k", "versions"),
        ("GET", gp, "k", "uploads"),
        ("GET", gp, "k", "location"),
        ("PUT", gp, "k", "uploadId=abc"),          # UploadPart without partNumber
        ("DELETE", gp, "k", "partNumber=1"),
        ("GET", gp, "k", "no-such-parameter=1"),
        ("PUT", gp, "k", "versionId=null"),        # PutObject takes no versionId
        ("DELETE", gp, "k", "tagging&versions"),
        ("GET", gp, None, "list-type=1"),
        ("DELETE", gp, "k", "x-id=DeleteObjectTagging"),  # the SDK meant another operation
        ("GET", gp, "k", "partNumber=1&partNumber=2"),      # repeated parameter
        ("PUT", gp, "k", "x-amz-checksum-crc32=AAAAAA%3D%3D"),  # hoisted, not read
    ]
    for method, b, key, q in cases:
        st, _, body = raw(method, b, key, q, body=b"overwrite!" if method == "PUT" else b"")
        check(st in (400, 501), f"{method} {b}/{key or ''}?{q}: status {st} {body[:200]!r}")
        check(error_code(body) in ("NotImplemented", "InvalidArgument"),
              f"{method} ?{q}: {body[:200]!r}")
        check(b"<RequestId>" in body, f"{method} ?{q}: no request id in {body[:200]!r}")
    # a hostile parameter name: refused, and the error document stays well-formed XML
    import xml.etree.ElementTree as ET
    st, _, body = raw("GET", gp, "k", "%FF%01%3C%26=1")
    eq(st, 501, "hostile parameter name")
    ET.fromstring(body)
    s3.head_bucket(Bucket=empty)
    eq(s3.get_object(Bucket=gp, Key="k")["Body"].read(), b"keep me", "object after refusals")
    eq([o["Key"] for o in s3.list_objects_v2(Bucket=gp).get("Contents", [])], ["k"], "keys")


@test
def version_ids_never_touch_the_live_object():
    gp = make_gp("verid")
    s3.put_object(Bucket=gp, Key="k", Body=b"live")
    expect_client_error("InvalidArgument", 400, s3.delete_object, Bucket=gp, Key="k",
                        VersionId="abc")
    vid = "A" * 31 + "b"  # an S3-shaped id that names no version here
    r = s3.delete_object(Bucket=gp, Key="k", VersionId=vid)
    eq(r["ResponseMetadata"]["HTTPStatusCode"], 204, "delete of an absent version")
    eq(r.get("VersionId"), vid, "version id echoed")
    eq(s3.get_object(Bucket=gp, Key="k")["Body"].read(), b"live", "live object kept")
    expect_client_error("InvalidArgument", 400, s3.get_object, Bucket=gp, Key="k", VersionId="abc")
    expect_client_error("NoSuchVersion", 404, s3.get_object, Bucket=gp, Key="k", VersionId=vid)
    expect_client_error("404", 404, s3.head_object, Bucket=gp, Key="k", VersionId=vid)
    expect_client_error("NoSuchVersion", 404, s3.get_object_tagging, Bucket=gp, Key="k",
                        VersionId=vid)
    expect_client_error("NoSuchVersion", 404, s3.put_object_tagging, Bucket=gp, Key="k",
                        VersionId=vid, Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    expect_client_error("NoSuchVersion", 404, s3.delete_object_tagging, Bucket=gp, Key="k",
                        VersionId=vid)
    eq(s3.get_object(Bucket=gp, Key="k", VersionId="null")["Body"].read(), b"live", "null")
    r = s3.delete_objects(Bucket=gp, Delete={"Objects": [{"Key": "k", "VersionId": "abc"},
                                                         {"Key": "k", "VersionId": vid}]})
    eq([e["Code"] for e in r.get("Errors", [])], ["InvalidArgument"], "bad id per key")
    eq([(x["Key"], x.get("VersionId")) for x in r.get("Deleted", [])], [("k", vid)], "absent id")
    eq(s3.get_object(Bucket=gp, Key="k")["Body"].read(), b"live", "live after DeleteObjects")
    expect_client_error(None, 400, s3.copy_object, Bucket=gp, Key="c",
                        CopySource={"Bucket": gp, "Key": "k", "VersionId": "abc"})
    expect_client_error("NoSuchVersion", 404, s3.copy_object, Bucket=gp, Key="c",
                        CopySource={"Bucket": gp, "Key": "k", "VersionId": vid})
    s3.delete_object(Bucket=gp, Key="k", VersionId="null")
    expect_client_error("NoSuchKey", 404, s3.get_object, Bucket=gp, Key="k")


@test
def directory_buckets_take_only_the_null_version():
    d = make_dir("verid")
    s3.put_object(Bucket=d, Key="k", Body=b"live")
    expect_client_error("InvalidArgument", 400, s3.delete_object, Bucket=d, Key="k",
                        VersionId="A" * 32)
    eq(s3.get_object(Bucket=d, Key="k")["Body"].read(), b"live", "live object kept")
    eq(s3.get_object(Bucket=d, Key="k", VersionId="null")["Body"].read(), b"live", "null")
    expect_client_error("NotImplemented", 501, s3.get_bucket_versioning, Bucket=d)
    expect_client_error("NotImplemented", 501, s3.list_object_versions, Bucket=d)


@test
def encryption_headers_kms_and_plain_http_sse_c_refused():
    """Encryption itself is test_s3_sse.py's; here: what quarry refuses stores nothing."""
    gp = make_gp("sse")
    d = make_dir("sse")
    key = os.urandom(32)
    ssec = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}
    http = srv.boto3_client(plain=True)
    for b, code in ((gp, "InvalidRequest"), (d, "InvalidArgument")):
        # SSE-C keys over plain HTTP (S3: HTTPS only; directory buckets: no SSE-C at all)
        expect_client_error(code, 400, http.put_object, Bucket=b, Key="c", Body=b"x", **ssec)
        expect_client_error(code, 400, http.create_multipart_upload, Bucket=b, Key="m", **ssec)
        expect_client_error("NotImplemented", 501, s3.put_object, Bucket=b, Key="k", Body=b"x",
                            ServerSideEncryption="aws:kms")
        eq(s3.list_objects_v2(Bucket=b).get("KeyCount"), 0, f"nothing stored in {b}")
        r = s3.put_object(Bucket=b, Key="a", Body=b"x", ServerSideEncryption="AES256")
        eq(r.get("ServerSideEncryption"), "AES256", "SSE-S3 taken")
    st, _, body = raw("PUT", gp, "e", headers={"x-amz-server-side-encryption": "rot13"},
                      body=b"x")
    eq((st, error_code(body)), (400, "InvalidArgument"), "unknown SSE algorithm")
    # an encryption header on an operation that does not take it
    st, _, body = raw("GET", gp, "a", headers={"x-amz-server-side-encryption": "AES256"})
    eq((st, error_code(body)), (501, "NotImplemented"), "SSE header on GetObject")


@test
def object_lock_headers_are_refused():
    # on a bucket without Object Lock, S3's own error; nothing is stored either way
    gp = make_gp("lock")
    d = make_dir("lock")
    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    expect_client_error("InvalidRequest", 400, s3.put_object, Bucket=gp, Key="k", Body=b"x",
                        ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)
    expect_client_error("InvalidRequest", 400, s3.put_object, Bucket=gp, Key="k", Body=b"x",
                        ObjectLockLegalHoldStatus="ON")
    eq(s3.list_objects_v2(Bucket=gp).get("KeyCount"), 0, "nothing stored")
    expect_client_error("NotImplemented", 501, s3.put_object, Bucket=d, Key="k", Body=b"x",
                        ObjectLockLegalHoldStatus="ON")
    expect_client_error("InvalidRequest", 400, s3.create_multipart_upload, Bucket=gp, Key="k",
                        ObjectLockLegalHoldStatus="ON")
    eq(s3.list_multipart_uploads(Bucket=gp).get("Uploads"), None, "no upload started")
    eq(s3.list_objects_v2(Bucket=d).get("KeyCount"), 0, "nothing stored")
    s3.create_bucket(Bucket="lock-off", ObjectLockEnabledForBucket=False)
    s3.put_object(Bucket=gp, Key="k", Body=b"x")
    s3.delete_object(Bucket=gp, Key="k", BypassGovernanceRetention=True)


@test
def acls_and_grants():
    gp = make_gp("acl")
    st, _, body = raw("PUT", gp, "k", headers={"x-amz-acl": "not-a-canned-acl"}, body=b"x")
    eq((st, error_code(body)), (400, "InvalidArgument"), "invalid canned ACL")
    expect_client_error("NotImplemented", 501, s3.put_object, Bucket=gp, Key="k", Body=b"x",
                        ACL="public-read")
    expect_client_error("NotImplemented", 501, s3.put_object, Bucket=gp, Key="k", Body=b"x",
                        GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"')
    expect_client_error("NotImplemented", 501, s3.create_bucket, Bucket="acl-public",
                        ACL="public-read")
    expect_client_error("NotImplemented", 501, s3.copy_object, Bucket=gp, Key="c",
                        CopySource=f"{gp}/k", GrantFullControl="id=someone")
    eq(s3.list_objects_v2(Bucket=gp).get("KeyCount"), 0, "nothing stored")
    expect_client_error(None, 404, s3.head_bucket, Bucket="acl-public")
    s3.put_object(Bucket=gp, Key="k", Body=b"x", ACL="private")
    s3.put_object(Bucket=gp, Key="k2", Body=b"x", ACL="bucket-owner-full-control")


@test
def other_meaning_changing_headers():
    gp = make_gp("hdrs")
    expect_client_error("NotImplemented", 501, s3.put_object, Bucket=gp, Key="k", Body=b"x",
                        WebsiteRedirectLocation="/elsewhere")
    s3.put_object(Bucket=gp, Key="k", Body=b"x")
    expect_client_error("AccessDenied", 403, s3.get_object, Bucket=gp, Key="k",
                        ExpectedBucketOwner="111122223333")
    expect_client_error("AccessDenied", 403, s3.delete_object, Bucket=gp, Key="k",
                        ExpectedBucketOwner="111122223333")
    eq(s3.get_object(Bucket=gp, Key="k", ExpectedBucketOwner=ACCOUNT)["Body"].read(), b"x", "own")
    st, _, body = raw("DELETE", gp, "k", headers={"x-amz-mfa": "SERIAL 123456"})
    eq((st, error_code(body)), (501, "NotImplemented"), "MFA delete")
    # archive classes need RestoreObject before a GET; readable classes are stored as given
    expect_client_error("NotImplemented", 501, s3.put_object, Bucket=gp, Key="g", Body=b"x",
                        StorageClass="GLACIER")
    expect_client_error("NotImplemented", 501, s3.create_multipart_upload, Bucket=gp, Key="g",
                        StorageClass="DEEP_ARCHIVE")
    expect_client_error("NoSuchKey", 404, s3.get_object, Bucket=gp, Key="g")
    s3.put_object(Bucket=gp, Key="ia", Body=b"x", StorageClass="STANDARD_IA")
    eq(s3.head_object(Bucket=gp, Key="ia").get("StorageClass"), "STANDARD_IA", "class kept")
    expect_client_error("NotImplemented", 501, s3.copy_object, Bucket=gp, Key="ia2",
                        CopySource=f"{gp}/ia", StorageClass="STANDARD")
    s3.copy_object(Bucket=gp, Key="ia2", CopySource=f"{gp}/ia", StorageClass="ONEZONE_IA",
                   MetadataDirective="REPLACE")
    eq(s3.head_object(Bucket=gp, Key="ia2").get("StorageClass"), "ONEZONE_IA", "copy's class")
    # listings show each object's (and upload's) class, as HEAD does
    want = {"ia": "STANDARD_IA", "ia2": "ONEZONE_IA", "k": "STANDARD"}
    for name, got in (("v2", s3.list_objects_v2(Bucket=gp)["Contents"]),
                      ("v1", s3.list_objects(Bucket=gp)["Contents"]),
                      ("versions", s3.list_object_versions(Bucket=gp)["Versions"])):
        eq({o["Key"]: o["StorageClass"] for o in got}, want, f"classes in the {name} listing")
    up = s3.create_multipart_upload(Bucket=gp, Key="mpia", StorageClass="STANDARD_IA")["UploadId"]
    up2 = s3.create_multipart_upload(Bucket=gp, Key="mpstd")["UploadId"]
    eq({u["Key"]: u["StorageClass"] for u in s3.list_multipart_uploads(Bucket=gp)["Uploads"]},
       {"mpia": "STANDARD_IA", "mpstd": "STANDARD"}, "classes of uploads")
    eq(s3.list_parts(Bucket=gp, Key="mpia", UploadId=up)["StorageClass"], "STANDARD_IA", "ListParts")
    s3.abort_multipart_upload(Bucket=gp, Key="mpia", UploadId=up)
    s3.abort_multipart_upload(Bucket=gp, Key="mpstd", UploadId=up2)
    # checksum algorithms the model has and quarry does not verify
    for h in ({"x-amz-checksum-sha512": "A" * 88}, {"x-amz-checksum-xxhash64": "AAAAAAAAAAA="},
              {"x-amz-sdk-checksum-algorithm": "MD5"}):
        st, _, body = raw("PUT", gp, "ck", headers=h, body=b"x")
        eq((st, error_code(body)), (501, "NotImplemented"), f"{h}")
    expect_client_error("NoSuchKey", 404, s3.get_object, Bucket=gp, Key="ck")
    # bucket creation options quarry does not keep
    expect_client_error("NotImplemented", 501, s3.create_bucket, Bucket="hdrs-tags",
                        CreateBucketConfiguration={"Tags": [{"Key": "a", "Value": "b"}]})
    expect_client_error("NotImplemented", 501, s3.create_bucket, Bucket="hdrs-ns",
                        BucketNamespace="account-regional")
    for b in ("hdrs-tags", "hdrs-ns"):
        expect_client_error(None, 404, s3.head_bucket, Bucket=b)
    # Requester Pays is never on, so S3 ignores the header: the owner pays
    eq(s3.get_object(Bucket=gp, Key="k", RequestPayer="requester")["Body"].read(), b"x", "rp")
    eq(s3.get_object(Bucket=gp, Key="k")["Body"].read(), b"x", "object kept")


@test
def bucket_versioning_and_object_versions():
    gp = make_gp("versions")
    r = s3.get_bucket_versioning(Bucket=gp)
    check("Status" not in r and "MFADelete" not in r, f"never-versioned bucket: {r}")
    keys = ["a", "b/1", "b/2", "c", "d\u00e9"]
    for k in keys:
        s3.put_object(Bucket=gp, Key=k, Body=k.encode())
    r = s3.list_object_versions(Bucket=gp)
    eq([(v["Key"], v["VersionId"], v["IsLatest"]) for v in r["Versions"]],
       [(k, "null", True) for k in sorted(keys, key=lambda s: s.encode())], "versions")
    eq(r["Versions"][0]["ETag"], '"%s"' % hashlib.md5(b"a").hexdigest(), "etag")
    eq(r["Versions"][0]["Size"], 1, "size")
    r = s3.list_object_versions(Bucket=gp, Delimiter="/", Prefix="")
    eq([p["Prefix"] for p in r["CommonPrefixes"]], ["b/"], "common prefixes")
    eq([v["Key"] for v in r["Versions"]], ["a", "c", "d\u00e9"], "rolled up")
    got = []
    for page in s3.get_paginator("list_object_versions").paginate(
            Bucket=gp, PaginationConfig={"PageSize": 2}):
        got += [v["Key"] for v in page.get("Versions", [])]
    eq(got, sorted(keys, key=lambda s: s.encode()), "paged")
    r = s3.list_object_versions(Bucket=gp, KeyMarker="b/1", VersionIdMarker="null")
    eq([v["Key"] for v in r["Versions"]], ["b/2", "c", "d\u00e9"], "after key-marker")
    r = s3.list_object_versions(Bucket=gp, MaxKeys=2)
    check(r["IsTruncated"], "truncated")
    eq((r["NextKeyMarker"], r["NextVersionIdMarker"]), ("b/1", "null"), "next markers")
    expect_client_error("InvalidArgument", 400, s3.list_object_versions, Bucket=gp,
                        VersionIdMarker="null")
    # a purge through ListObjectVersions (what rclone and `s3 rb --force` tools do)
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=gp):
        objs = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", [])]
        if objs:
            s3.delete_objects(Bucket=gp, Delete={"Objects": objs})
    s3.delete_bucket(Bucket=gp)


if __name__ == "__main__":
    run(setup=setup, teardown=teardown)
