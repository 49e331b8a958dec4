#!/usr/bin/env python3
"""test_s3_details.py - the S3 details SDKs rely on: a retried CompleteMultipartUpload,
conditional writes under races, conditional deletes, SigV2 header authentication and
headers that come back byte for byte. Stock boto3 against a real quarry; expected values
are computed here (hashlib), never taken from the server.
"""

import datetime
import hashlib
import http.client
import threading

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from harness import check, client_error, eq, expect_client_error, run, test
from quarry_server import DIR_CFG, REGION, QuarryServer

srv = None
s3 = None
MiB = 1024 * 1024


def setup():
    global srv, s3
    srv = QuarryServer().start()
    s3 = srv.boto3_client()


def teardown():
    if srv is not None:
        srv.close()


def both(base):
    gp = base
    d = f"{base}--use1-az4--x-s3"
    s3.create_bucket(Bucket=gp)
    s3.create_bucket(Bucket=d, CreateBucketConfiguration=DIR_CFG)
    return [gp, d]


def mpu(b, key, parts):
    up = s3.create_multipart_upload(Bucket=b, Key=key)["UploadId"]
    done = []
    for i, data in enumerate(parts, 1):
        r = s3.upload_part(Bucket=b, Key=key, UploadId=up, PartNumber=i, Body=data)
        done.append({"PartNumber": i, "ETag": r["ETag"]})
    return up, {"Parts": done}


@test
def complete_multipart_retry_answers_the_same():
    for b in both("retry"):
        parts = [b"a" * (5 * MiB), b"tail"]
        up, listing = mpu(b, "obj", parts)
        first = s3.complete_multipart_upload(Bucket=b, Key="obj", UploadId=up,
                                             MultipartUpload=listing)
        again = s3.complete_multipart_upload(Bucket=b, Key="obj", UploadId=up,
                                             MultipartUpload=listing)
        eq(again["ETag"], first["ETag"], f"{b}: ETag of the retry")
        eq(again["Location"], first["Location"], f"{b}: Location of the retry")
        check(f":{srv.endpoint_port}/" in first["Location"], f"port in Location {first['Location']}")
        eq(s3.get_object(Bucket=b, Key="obj")["Body"].read(), b"".join(parts), "object")
        # a completion the store no longer backs (object replaced) is just gone
        s3.put_object(Bucket=b, Key="obj", Body=b"replaced")
        expect_client_error("NoSuchUpload", 404, s3.complete_multipart_upload, Bucket=b,
                            Key="obj", UploadId=up, MultipartUpload=listing)
        expect_client_error("NoSuchUpload", 404, s3.complete_multipart_upload, Bucket=b,
                            Key="other", UploadId=up, MultipartUpload=listing)


@test
def complete_checks_the_expected_object_size():
    for b in both("mpsize"):
        parts = [b"a" * (5 * MiB), b"tail"]
        up, listing = mpu(b, "obj", parts)
        expect_client_error("InvalidRequest", 400, s3.complete_multipart_upload, Bucket=b,
                            Key="obj", UploadId=up, MultipartUpload=listing,
                            MpuObjectSize=5 * MiB + 3)
        expect_client_error(None, 404, s3.head_object, Bucket=b, Key="obj")
        r = s3.complete_multipart_upload(Bucket=b, Key="obj", UploadId=up,
                                         MultipartUpload=listing, MpuObjectSize=5 * MiB + 4)
        check(r["ETag"], "completed with the right size")


@test
def complete_retry_survives_a_restart():
    b = "retry-restart"
    s3.create_bucket(Bucket=b)
    up, listing = mpu(b, "k", [b"x" * (5 * MiB), b"y"])
    first = s3.complete_multipart_upload(Bucket=b, Key="k", UploadId=up, MultipartUpload=listing)
    srv.kill9()
    srv.restart(crash=True)
    c = srv.boto3_client()
    again = c.complete_multipart_upload(Bucket=b, Key="k", UploadId=up, MultipartUpload=listing)
    eq(again["ETag"], first["ETag"], "ETag after a crash")


def race(b, key, rounds=20):
    """Two threads PUT the same new key with If-None-Match: * at once, rounds times."""
    clients = [srv.boto3_client(recorder=False), srv.boto3_client(recorder=False)]
    outcomes = []
    for r in range(rounds):
        k = f"{key}-{r}"
        got = [None, None]
        go = threading.Barrier(2)

        def put(i):
            go.wait()
            try:
                clients[i].put_object(Bucket=b, Key=k, Body=f"writer {i}".encode(),
                                      IfNoneMatch="*")
                got[i] = 200
            except Exception as e:  # ClientError carries the status
                got[i] = getattr(e, "response", {}).get("ResponseMetadata", {}).get(
                    "HTTPStatusCode", repr(e))
        ts = [threading.Thread(target=put, args=(i,)) for i in (0, 1)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        outcomes.append(sorted(got, key=str))
        winner = got.index(200) if 200 in got else None
        if winner is not None:
            eq(s3.get_object(Bucket=b, Key=k)["Body"].read(), f"writer {winner}".encode(),
               "the winner's bytes")
    return outcomes


@test
def if_none_match_star_race_has_exactly_one_winner():
    for b in both("race"):
        outcomes = race(b, "k")
        bad = [o for o in outcomes if o != [200, 412]]
        eq(bad, [], f"{b}: rounds without exactly one 200 and one 412")


@test
def conditional_puts():
    for b in both("cond"):
        e1 = s3.put_object(Bucket=b, Key="k", Body=b"one")["ETag"]
        expect_client_error("PreconditionFailed", 412, s3.put_object, Bucket=b, Key="k",
                            Body=b"x", IfNoneMatch="*")
        expect_client_error("PreconditionFailed", 412, s3.put_object, Bucket=b, Key="k",
                            Body=b"x", IfMatch='"0123456789abcdef0123456789abcdef"')
        e2 = s3.put_object(Bucket=b, Key="k", Body=b"two", IfMatch=e1)["ETag"]
        expect_client_error("NoSuchKey", 404, s3.put_object, Bucket=b, Key="absent", Body=b"x",
                            IfMatch=e1)
        # the model: If-None-Match on writes takes only "*"; S3 answers others 501
        expect_client_error("NotImplemented", 501, s3.put_object, Bucket=b, Key="k", Body=b"x",
                            IfNoneMatch=e2)
        eq(s3.get_object(Bucket=b, Key="k")["Body"].read(), b"two", "after conditions")
        up, listing = mpu(b, "k", [b"p"])
        expect_client_error("PreconditionFailed", 412, s3.complete_multipart_upload, Bucket=b,
                            Key="k", UploadId=up, MultipartUpload=listing, IfNoneMatch="*")
        s3.complete_multipart_upload(Bucket=b, Key="k", UploadId=up, MultipartUpload=listing,
                                     IfMatch=e2)


@test
def conditional_deletes():
    gp, d = both("cdel")
    for b in (gp, d):
        e = s3.put_object(Bucket=b, Key="k", Body=b"12345")["ETag"]
        expect_client_error("PreconditionFailed", 412, s3.delete_object, Bucket=b, Key="k",
                            IfMatch='"0123456789abcdef0123456789abcdef"')
        eq(s3.get_object(Bucket=b, Key="k")["Body"].read(), b"12345", "kept after If-Match")
        s3.delete_object(Bucket=b, Key="k", IfMatch=e)
        expect_client_error("NoSuchKey", 404, s3.get_object, Bucket=b, Key="k")
    # size and time conditions: directory buckets only
    s3.put_object(Bucket=gp, Key="k", Body=b"12345")
    expect_client_error("NotImplemented", 501, s3.delete_object, Bucket=gp, Key="k",
                        IfMatchSize=5)
    eq(s3.get_object(Bucket=gp, Key="k")["Body"].read(), b"12345", "gp kept")
    s3.put_object(Bucket=d, Key="k", Body=b"12345")
    mtime = s3.head_object(Bucket=d, Key="k")["LastModified"]
    expect_client_error("PreconditionFailed", 412, s3.delete_object, Bucket=d, Key="k",
                        IfMatchSize=4)
    expect_client_error("PreconditionFailed", 412, s3.delete_object, Bucket=d, Key="k",
                        IfMatchLastModifiedTime=mtime - datetime.timedelta(seconds=5))
    eq(s3.get_object(Bucket=d, Key="k")["Body"].read(), b"12345", "dir kept")
    s3.delete_object(Bucket=d, Key="k", IfMatchSize=5, IfMatchLastModifiedTime=mtime)
    expect_client_error("NoSuchKey", 404, s3.get_object, Bucket=d, Key="k")
    # absent object: the size condition holds (model: 204)
    s3.delete_object(Bucket=d, Key="k", IfMatchSize=5)
    # DeleteObjects: per-entry conditions
    for b in (gp, d):
        e = s3.put_object(Bucket=b, Key="a", Body=b"aaa")["ETag"]
        s3.put_object(Bucket=b, Key="b", Body=b"bbb")
        r = s3.delete_objects(Bucket=b, Delete={"Objects": [
            {"Key": "a", "ETag": '"0123456789abcdef0123456789abcdef"'},
            {"Key": "b", "ETag": e}]})
        eq(sorted((x["Key"], x["Code"]) for x in r.get("Errors", [])),
           [("a", "PreconditionFailed"), ("b", "PreconditionFailed")], f"{b}: etag errors")
        r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "a", "ETag": e}]})
        eq([x["Key"] for x in r.get("Deleted", [])], ["a"], "deleted with its etag")
    r = s3.delete_objects(Bucket=d, Delete={"Objects": [{"Key": "b", "Size": 2}]})
    eq([x["Code"] for x in r.get("Errors", [])], ["PreconditionFailed"], "dir size mismatch")
    r = s3.delete_objects(Bucket=gp, Delete={"Objects": [{"Key": "b", "Size": 3}]})
    eq([x["Code"] for x in r.get("Errors", [])], ["InvalidArgument"], "gp size condition")
    for b in (gp, d):
        eq(s3.get_object(Bucket=b, Key="b")["Body"].read(), b"bbb", f"{b}: b kept")


@test
def abort_if_initiated_at():
    gp, d = "abortcond", "abortcond--use1-az4--x-s3"
    s3.create_bucket(Bucket=gp)
    s3.create_bucket(Bucket=d, CreateBucketConfiguration=DIR_CFG)
    up = s3.create_multipart_upload(Bucket=gp, Key="k")["UploadId"]
    expect_client_error("NotImplemented", 501, s3.abort_multipart_upload, Bucket=gp, Key="k",
                        UploadId=up, IfMatchInitiatedTime=datetime.datetime.now())
    up = s3.create_multipart_upload(Bucket=d, Key="k")["UploadId"]
    started = s3.list_multipart_uploads(Bucket=d)["Uploads"][0]["Initiated"]
    expect_client_error("PreconditionFailed", 412, s3.abort_multipart_upload, Bucket=d, Key="k",
                        UploadId=up, IfMatchInitiatedTime=started - datetime.timedelta(hours=1))
    eq([u["UploadId"] for u in s3.list_multipart_uploads(Bucket=d)["Uploads"]], [up], "kept")
    r = s3.abort_multipart_upload(Bucket=d, Key="k", UploadId=up, IfMatchInitiatedTime=started)
    eq(r["ResponseMetadata"]["HTTPStatusCode"], 204, "aborted")
    eq(s3.list_multipart_uploads(Bucket=d).get("Uploads", []), [], "gone")
    r = s3.abort_multipart_upload(Bucket=d, Key="k", UploadId=up, IfMatchInitiatedTime=started)
    eq(r["ResponseMetadata"]["HTTPStatusCode"], 204, "absent upload: the condition holds")


@test
def sigv2_header_authentication():
    v2 = srv.boto3_client(signature_version="s3")
    b = "sigv2"
    v2.create_bucket(Bucket=b)
    v2.put_object(Bucket=b, Key="a b/c", Body=b"v2 body", ContentType="text/plain",
                  Metadata={"m": "v"})
    r = v2.get_object(Bucket=b, Key="a b/c")
    eq(r["Body"].read(), b"v2 body", "body")
    eq(r["Metadata"], {"m": "v"}, "metadata")
    eq([o["Key"] for o in v2.list_objects(Bucket=b)["Contents"]], ["a b/c"], "list")
    v2.put_object_tagging(Bucket=b, Key="a b/c", Tagging={"TagSet": [{"Key": "t", "Value": "1"}]})
    bad = srv.boto3_client(secret_key="wrong", signature_version="s3")
    expect_client_error("SignatureDoesNotMatch", 403, bad.get_object, Bucket=b, Key="a b/c")
    v2.delete_object(Bucket=b, Key="a b/c")


def sign_raw(method, path, headers, payload_hash):
    """SigV4 over the exact header bytes (botocore would sign a UTF-8 form of 0xE9, and
    every x-amz-* header must be signed): returns the Authorization value."""
    import hmac
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    headers = dict(headers, **{"x-amz-date": when.encode(), "x-amz-content-sha256":
                               payload_hash.encode()})
    names = sorted(k.lower() for k in headers)
    import re
    canon = b"".join(k.encode() + b":" + re.sub(rb"\s+", b" ", headers[k].strip()) + b"\n"
                     for k in names)
    signed = ";".join(names)
    creq = (f"{method}\n{path}\n\n".encode() + canon + b"\n" + signed.encode() + b"\n" +
            payload_hash.encode())
    scope = f"{when[:8]}/{REGION}/s3/aws4_request"
    sts = f"AWS4-HMAC-SHA256\n{when}\n{scope}\n{hashlib.sha256(creq).hexdigest()}".encode()
    k = ("AWS4" + srv.secret_key).encode()
    for part in (when[:8], REGION, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts, hashlib.sha256).hexdigest()
    auth = f"AWS4-HMAC-SHA256 Credential={srv.access_key}/{scope}, SignedHeaders={signed}, " \
           f"Signature={sig}"
    return headers, auth


def raw_put_get(bucket, key, headers):
    """PUT with exactly these header bytes (http.client sends latin-1 as is), then GET;
    returns the GET response's header list as raw bytes."""
    creds = Credentials(srv.access_key, srv.secret_key)
    path = f"/{bucket}/{key}"
    raw = {k.lower(): v.encode("latin-1") for k, v in headers.items()}
    raw["host"] = f"127.0.0.1:{srv.endpoint_port}".encode()
    signed, auth = sign_raw("PUT", path, raw, hashlib.sha256(b"body").hexdigest())
    conn = srv.connection(30)
    conn.putrequest("PUT", path, skip_host=True, skip_accept_encoding=True)
    for k, v in signed.items():
        conn.putheader(k, v)
    conn.putheader("Authorization", auth)
    conn.putheader("Content-Length", "4")
    conn.endheaders(b"body")
    r = conn.getresponse()
    r.read()
    eq(r.status, 200, "raw PUT")
    req = AWSRequest(method="GET", url=srv.endpoint + path, headers={})
    req.headers["x-amz-content-sha256"] = hashlib.sha256(b"").hexdigest()
    S3SigV4Auth(creds, "s3", REGION).add_auth(req)
    conn.putrequest("GET", path, skip_accept_encoding=True)
    for k, v in req.headers.items():
        conn.putheader(k, v)
    conn.endheaders()
    r = conn.getresponse()
    r.read()
    conn.close()
    return [(k.lower(), v.encode("latin-1")) for k, v in r.getheaders()]


@test
def header_values_round_trip_byte_exact():
    b = "hdrs"
    s3.create_bucket(Bucket=b)
    got = raw_put_get(b, "k", {"Content-Encoding": "deflate, gzip",
                               "x-amz-meta-name": "caf\u00e9",  # byte 0xE9 on the wire
                               "Cache-Control": "max-age=0,  no-cache"})
    h = dict(got)
    eq((h.get("content-encoding"), h.get("x-amz-meta-name"), h.get("cache-control")),
       (b"deflate, gzip", b"caf\xe9", b"max-age=0,  no-cache"), "headers as sent")


if __name__ == "__main__":
    run(setup=setup, teardown=teardown)
