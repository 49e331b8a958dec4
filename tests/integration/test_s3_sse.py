#!/usr/bin/env python3
"""test_s3_sse.py - server-side encryption: SSE-S3 by default (and said so), SSE-C with
the customer's key never stored, SSE-KMS refused, default bucket encryption. Stock boto3
against a real quarry; the bytes at rest are read straight from the blob files, meta.db
and its WAL, and must not hold the plaintext.
"""

import base64
import glob
import hashlib
import os
import sqlite3

from harness import check, client_error, eq, expect_client_error, run, test
from quarry_server import DIR_CFG, QuarryServer

srv = None
s3 = None
MiB = 1024 * 1024
KEY = os.urandom(32)
OTHER_KEY = os.urandom(32)


def ssec(key=KEY, prefix=""):
    return {f"{prefix}SSECustomerAlgorithm": "AES256", f"{prefix}SSECustomerKey": key}


def setup():
    global srv, s3
    srv = QuarryServer(extra_args=["--sse-c-over-http"]).start()
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


def marker_body(n):
    """n bytes made of a random 64-byte pattern: any 64 bytes of the plaintext on disk
    would show the pattern."""
    pat = os.urandom(64)
    return (pat * (n // 64 + 1))[:n], pat


def at_rest_files():
    files = glob.glob(os.path.join(srv.data, "objects", "*", "*", "*"))
    files += glob.glob(os.path.join(srv.data, "meta.db*"))
    return files


def plaintext_at_rest(pat):
    for f in at_rest_files():
        with open(f, "rb") as fh:
            if pat in fh.read():
                return f
    return None


def db():
    return sqlite3.connect(f"file:{os.path.join(srv.data, 'meta.db')}?mode=ro", uri=True)


def blob_files():
    return sorted(glob.glob(os.path.join(srv.data, "objects", "*", "*", "*")))


@test
def sse_s3_by_default_and_said_so():
    for b in both("dflt"):
        for size in (100, 200 * 1024):
            body = os.urandom(size)
            r = s3.put_object(Bucket=b, Key=f"k{size}", Body=body)
            eq(r.get("ServerSideEncryption"), "AES256", f"PUT header {b}")
            g = s3.get_object(Bucket=b, Key=f"k{size}")
            eq(g["Body"].read(), body, f"bytes back {b} {size}")
            eq(g.get("ServerSideEncryption"), "AES256", "GET header")
            h = s3.head_object(Bucket=b, Key=f"k{size}")
            eq(h.get("ServerSideEncryption"), "AES256", "HEAD header")
            if "--x-s3" not in b:  # S3's SSE-S3 ETag stays the MD5 of the plaintext
                eq(g["ETag"].strip('"'), hashlib.md5(body).hexdigest(), "ETag")


@test
def bytes_at_rest_are_not_the_plaintext():
    s3.create_bucket(Bucket="rest")
    small, p1 = marker_body(3000)        # inline: lives in meta.db
    large, p2 = marker_body(3 * MiB)     # a blob file
    s3.put_object(Bucket="rest", Key="small", Body=small)
    s3.put_object(Bucket="rest", Key="large", Body=large)
    s3.put_object(Bucket="rest", Key="ssec", Body=small[:2000] + b"x", **ssec())
    eq(plaintext_at_rest(p1), None, "inline plaintext found in")
    eq(plaintext_at_rest(p2), None, "blob plaintext found in")
    with db() as c:
        rows = c.execute("SELECT o.data, o.sse FROM objects o JOIN buckets b ON b.id=o.bucket_id"
                         " WHERE b.name=X'72657374' AND o.key=X'736d616c6c'").fetchall()
    eq(len(rows), 1, "inline row")
    check(rows[0][0] is not None and len(rows[0][0]) == 3000, "inline row holds 3000 bytes")
    check(rows[0][0] != small and rows[0][1] is not None, "inline row is encrypted, has envelope")
    # the key file is private
    st = os.stat(os.path.join(srv.data, "keys", "sse.key"))
    eq(st.st_mode & 0o777, 0o600, "sse.key mode")
    eq(st.st_size, 32, "sse.key size")
    # and the customer's key is nowhere at rest
    for f in at_rest_files():
        with open(f, "rb") as fh:
            check(KEY not in fh.read(), f"customer key found in {f}")


@test
def ranged_reads_at_odd_offsets():
    s3.create_bucket(Bucket="ranges")
    big = os.urandom(3 * MiB + 123)
    small = os.urandom(5000)
    s3.put_object(Bucket="ranges", Key="big", Body=big)
    s3.put_object(Bucket="ranges", Key="small", Body=small)
    s3.put_object(Bucket="ranges", Key="bigc", Body=big, **ssec())
    for a, z in [(0, 0), (1, 17), (15, 16), (17, 47), (1048575, 1048592), (262143, 786433),
                 (len(big) - 5, len(big) - 1)]:
        r = s3.get_object(Bucket="ranges", Key="big", Range=f"bytes={a}-{z}")
        eq(r["Body"].read(), big[a:z + 1], f"big {a}-{z}")
        r = s3.get_object(Bucket="ranges", Key="bigc", Range=f"bytes={a}-{z}", **ssec())
        eq(r["Body"].read(), big[a:z + 1], f"SSE-C big {a}-{z}")
    for a, z in [(1, 1), (7, 4093), (4999, 4999)]:
        r = s3.get_object(Bucket="ranges", Key="small", Range=f"bytes={a}-{z}")
        eq(r["Body"].read(), small[a:z + 1], f"small {a}-{z}")


@test
def sse_c_needs_its_key():
    s3.create_bucket(Bucket="ssec")
    body = os.urandom(300 * 1024)
    r = s3.put_object(Bucket="ssec", Key="o", Body=body, **ssec())
    want_md5 = base64.b64encode(hashlib.md5(KEY).digest()).decode()
    eq(r.get("SSECustomerAlgorithm"), "AES256", "PUT algorithm header")
    eq(r.get("SSECustomerKeyMD5"), want_md5, "PUT key MD5 header")
    check(r["ETag"].strip('"') != hashlib.md5(body).hexdigest(), "SSE-C ETag is not the MD5")
    s3.put_object(Bucket="ssec", Key="small", Body=b"tiny secret", **ssec())
    for key in ("o", "small"):
        expect_client_error("InvalidRequest", 400, s3.get_object, Bucket="ssec", Key=key)
        expect_client_error("AccessDenied", 403, s3.get_object, Bucket="ssec", Key=key,
                            **ssec(OTHER_KEY))
        expect_client_error(None, 403, s3.head_object, Bucket="ssec", Key=key, **ssec(OTHER_KEY))
        expect_client_error(None, 400, s3.head_object, Bucket="ssec", Key=key)
    g = s3.get_object(Bucket="ssec", Key="o", **ssec())
    eq(g["Body"].read(), body, "bytes with the key")
    eq(g.get("SSECustomerKeyMD5"), want_md5, "GET key MD5")
    eq(s3.get_object(Bucket="ssec", Key="small", **ssec())["Body"].read(), b"tiny secret", "inline")
    h = s3.head_object(Bucket="ssec", Key="o", **ssec())
    eq(h["ContentLength"], len(body), "HEAD length")
    # key headers on an object that is not SSE-C
    s3.put_object(Bucket="ssec", Key="plain", Body=b"x")
    expect_client_error("InvalidRequest", 400, s3.get_object, Bucket="ssec", Key="plain", **ssec())
    # a key whose MD5 header does not match, and a short key
    bad = dict(ssec())
    bad["SSECustomerKey"] = base64.b64encode(KEY).decode()
    bad["SSECustomerKeyMD5"] = base64.b64encode(hashlib.md5(OTHER_KEY).digest()).decode()
    expect_client_error("InvalidArgument", 400, s3.put_object, Bucket="ssec", Key="x", Body=b"x",
                        **bad)
    expect_client_error("InvalidArgument", 400, s3.put_object, Bucket="ssec", Key="x", Body=b"x",
                        **ssec(b"short key"))
    expect_client_error("InvalidArgument", 400, s3.put_object, Bucket="ssec", Key="x", Body=b"x",
                        ServerSideEncryption="AES256", **ssec())


@test
def sse_c_over_plain_http_refused_by_default():
    with QuarryServer() as plain:
        c = plain.boto3_client(plain=True)
        c.create_bucket(Bucket="plainhttp")
        r = expect_client_error("InvalidRequest", 400, c.put_object, Bucket="plainhttp", Key="k",
                                Body=b"secret", **ssec())
        check("secure connection" in r["Error"]["Message"], "S3's message")
        expect_client_error("NoSuchKey", 404, c.get_object, Bucket="plainhttp", Key="k")


@test
def copy_shares_the_encrypted_blob():
    s3.create_bucket(Bucket="cpy")
    body = os.urandom(2 * MiB)
    s3.put_object(Bucket="cpy", Key="src", Body=body)
    before = blob_files()
    r = s3.copy_object(Bucket="cpy", Key="dst", CopySource={"Bucket": "cpy", "Key": "src"})
    eq(r.get("ServerSideEncryption"), "AES256", "copy header")
    eq(blob_files(), before, "no new blob file")
    with db() as c:
        refs = c.execute("SELECT refcount FROM blobs WHERE refcount > 1 AND sse IS NOT NULL"
                         " AND size = ?", (len(body),)).fetchall()
    eq(refs, [(2,)], "the encrypted blob is shared by both objects")
    eq(s3.get_object(Bucket="cpy", Key="dst")["Body"].read(), body, "copy bytes")
    eq(s3.get_object(Bucket="cpy", Key="dst", Range="bytes=1000001-1000010")["Body"].read(),
       body[1000001:1000011], "copy range")
    # SSE-C: the same key shares; no copy-source key or another key is refused
    s3.put_object(Bucket="cpy", Key="csrc", Body=body, **ssec())
    expect_client_error("InvalidRequest", 400, s3.copy_object, Bucket="cpy", Key="c1",
                        CopySource={"Bucket": "cpy", "Key": "csrc"}, **ssec())
    expect_client_error("AccessDenied", 403, s3.copy_object, Bucket="cpy", Key="c1",
                        CopySource={"Bucket": "cpy", "Key": "csrc"}, **ssec(),
                        **ssec(OTHER_KEY, "CopySource"))
    expect_client_error("NotImplemented", 501, s3.copy_object, Bucket="cpy", Key="c1",
                        CopySource={"Bucket": "cpy", "Key": "csrc"}, **ssec(OTHER_KEY),
                        **ssec(KEY, "CopySource"))
    before = blob_files()
    s3.copy_object(Bucket="cpy", Key="c1", CopySource={"Bucket": "cpy", "Key": "csrc"}, **ssec(),
                   **ssec(KEY, "CopySource"))
    eq(blob_files(), before, "SSE-C copy shares too")
    eq(s3.get_object(Bucket="cpy", Key="c1", **ssec())["Body"].read(), body, "SSE-C copy bytes")
    expect_client_error("InvalidRequest", 400, s3.get_object, Bucket="cpy", Key="c1")


@test
def multipart_sse_s3():
    s3.create_bucket(Bucket="mps3")
    p1, p2 = os.urandom(5 * MiB), os.urandom(4097)
    up = s3.create_multipart_upload(Bucket="mps3", Key="o")
    eq(up.get("ServerSideEncryption"), "AES256", "create header")
    parts = []
    for i, data in enumerate((p1, p2), 1):
        r = s3.upload_part(Bucket="mps3", Key="o", UploadId=up["UploadId"], PartNumber=i, Body=data)
        eq(r.get("ServerSideEncryption"), "AES256", "part header")
        eq(r["ETag"].strip('"'), hashlib.md5(data).hexdigest(), "part ETag")
        parts.append({"PartNumber": i, "ETag": r["ETag"]})
    c = s3.complete_multipart_upload(Bucket="mps3", Key="o", UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": parts})
    eq(c.get("ServerSideEncryption"), "AES256", "complete header")
    g = s3.get_object(Bucket="mps3", Key="o", Range=f"bytes={5 * MiB - 3}-{5 * MiB + 2}")
    eq(g["Body"].read(), (p1 + p2)[5 * MiB - 3:5 * MiB + 3], "range across parts")
    eq(s3.get_object(Bucket="mps3", Key="o")["Body"].read(), p1 + p2, "whole")
    with db() as cn:
        envs = [r[0] for r in cn.execute("SELECT sse FROM blobs WHERE size IN (?, ?)",
                                         (len(p1), len(p2)))]
    eq(len(envs), 2, "two part blobs")
    check(all(e is not None for e in envs) and envs[0] != envs[1], "each part has its own key")
    # UploadPartCopy from an encrypted object
    up2 = s3.create_multipart_upload(Bucket="mps3", Key="o2")
    r = s3.upload_part_copy(Bucket="mps3", Key="o2", UploadId=up2["UploadId"], PartNumber=1,
                            CopySource={"Bucket": "mps3", "Key": "o"},
                            CopySourceRange="bytes=3-5242882")
    s3.complete_multipart_upload(Bucket="mps3", Key="o2", UploadId=up2["UploadId"],
                                 MultipartUpload={"Parts": [
                                     {"PartNumber": 1, "ETag": r["CopyPartResult"]["ETag"]}]})
    eq(s3.get_object(Bucket="mps3", Key="o2")["Body"].read(), (p1 + p2)[3:5242883], "part copy")


@test
def multipart_sse_c():
    s3.create_bucket(Bucket="mpc")
    p1, p2 = os.urandom(5 * MiB), os.urandom(1000)
    up = s3.create_multipart_upload(Bucket="mpc", Key="o", **ssec())["UploadId"]
    expect_client_error("InvalidRequest", 400, s3.upload_part, Bucket="mpc", Key="o", UploadId=up,
                        PartNumber=1, Body=p1)
    expect_client_error("InvalidRequest", 400, s3.upload_part, Bucket="mpc", Key="o", UploadId=up,
                        PartNumber=1, Body=p1, **ssec(OTHER_KEY))
    parts = []
    for i, data in enumerate((p1, p2), 1):
        r = s3.upload_part(Bucket="mpc", Key="o", UploadId=up, PartNumber=i, Body=data, **ssec())
        parts.append({"PartNumber": i, "ETag": r["ETag"]})
    s3.complete_multipart_upload(Bucket="mpc", Key="o", UploadId=up,
                                 MultipartUpload={"Parts": parts})
    eq(s3.get_object(Bucket="mpc", Key="o", **ssec())["Body"].read(), p1 + p2, "whole")
    expect_client_error("InvalidRequest", 400, s3.get_object, Bucket="mpc", Key="o")
    expect_client_error("AccessDenied", 403, s3.get_object, Bucket="mpc", Key="o",
                        **ssec(OTHER_KEY))
    # UploadPartCopy from it: the copy-source key is needed, the upload's key too
    up2 = s3.create_multipart_upload(Bucket="mpc", Key="o2", **ssec())["UploadId"]
    src = {"Bucket": "mpc", "Key": "o"}
    expect_client_error("InvalidRequest", 400, s3.upload_part_copy, Bucket="mpc", Key="o2",
                        UploadId=up2, PartNumber=1, CopySource=src, **ssec())
    r = s3.upload_part_copy(Bucket="mpc", Key="o2", UploadId=up2, PartNumber=1, CopySource=src,
                            CopySourceRange="bytes=7-5000006", **ssec(),
                            **ssec(KEY, "CopySource"))
    s3.complete_multipart_upload(Bucket="mpc", Key="o2", UploadId=up2, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": r["CopyPartResult"]["ETag"]}]})
    eq(s3.get_object(Bucket="mpc", Key="o2", **ssec())["Body"].read(), (p1 + p2)[7:5000007],
       "SSE-C part copy")


@test
def default_bucket_encryption():
    for b in both("benc"):
        cfg = s3.get_bucket_encryption(Bucket=b)["ServerSideEncryptionConfiguration"]
        eq(cfg["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"], "AES256",
           f"default rule {b}")
        s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration={"Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
            "BucketKeyEnabled": True}]})
        rule = s3.get_bucket_encryption(Bucket=b)["ServerSideEncryptionConfiguration"]["Rules"][0]
        eq(rule.get("BucketKeyEnabled"), True, "bucket key echoed")
        r = expect_client_error("NotImplemented", 501, s3.put_bucket_encryption, Bucket=b,
                                ServerSideEncryptionConfiguration={"Rules": [{
                                    "ApplyServerSideEncryptionByDefault": {
                                        "SSEAlgorithm": "aws:kms"}}]})
        check("KMS" in r["Error"]["Message"], "names KMS")
        expect_client_error("InvalidArgument", 400, s3.put_bucket_encryption, Bucket=b,
                            ServerSideEncryptionConfiguration={"Rules": [{
                                "ApplyServerSideEncryptionByDefault": {
                                    "SSEAlgorithm": "AES256", "KMSMasterKeyID": "k"}}]})
        s3.delete_bucket_encryption(Bucket=b)
        rule = s3.get_bucket_encryption(Bucket=b)["ServerSideEncryptionConfiguration"]["Rules"][0]
        eq(rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"], "AES256", "after delete")
    expect_client_error("NoSuchBucket", 404, s3.get_bucket_encryption, Bucket="nobucket")


@test
def default_encryption_off_unless_the_bucket_asks():
    with QuarryServer(extra_args=["--no-default-encryption"]) as q:
        c = q.boto3_client()
        c.create_bucket(Bucket="plain")
        c.create_bucket(Bucket="enc")
        c.put_bucket_encryption(Bucket="enc", ServerSideEncryptionConfiguration={"Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        r = c.put_object(Bucket="plain", Key="k", Body=b"p" * 100)
        eq(r.get("ServerSideEncryption"), None, "plain bucket, no header")
        r = c.put_object(Bucket="enc", Key="k", Body=b"p" * 100)
        eq(r.get("ServerSideEncryption"), "AES256", "bucket rule applies")
        r = c.put_object(Bucket="plain", Key="k2", Body=b"p" * 100, ServerSideEncryption="AES256")
        eq(r.get("ServerSideEncryption"), "AES256", "asked for")


@test
def kms_refused_and_nothing_stored():
    s3.create_bucket(Bucket="kms")
    for alg in ("aws:kms", "aws:kms:dsse"):
        r = expect_client_error("NotImplemented", 501, s3.put_object, Bucket="kms", Key="k",
                                Body=b"x", ServerSideEncryption=alg)
        check("KMS" in r["Error"]["Message"], "names KMS")
        expect_client_error("NotImplemented", 501, s3.create_multipart_upload, Bucket="kms",
                            Key="k", ServerSideEncryption=alg)
    expect_client_error("NotImplemented", 501, s3.put_object, Bucket="kms", Key="k", Body=b"x",
                        SSEKMSKeyId="arn:aws:kms:us-east-1:123456789012:key/x")
    expect_client_error("InvalidArgument", 400, s3.put_object, Bucket="kms", Key="k", Body=b"x",
                        ServerSideEncryption="rot13")
    s3.put_object(Bucket="kms", Key="src", Body=b"y")
    expect_client_error("NotImplemented", 501, s3.copy_object, Bucket="kms", Key="k",
                        CopySource={"Bucket": "kms", "Key": "src"}, ServerSideEncryption="aws:kms")
    eq(s3.list_objects_v2(Bucket="kms").get("KeyCount"), 1, "only src exists")


@test
def streamed_puts_encrypted_at_rest():
    # 1 MiB and more with a Content-Length goes straight from the socket into its blob
    # file in 1 MiB pieces: each piece must be encrypted on its way in
    s3.create_bucket(Bucket="streamed")
    for name, extra in (("s3", {}), ("c", ssec())):
        body, pat = marker_body(2 * MiB)
        before = set(blob_files())
        r = s3.put_object(Bucket="streamed", Key=name, Body=body, **extra)
        check(r.get("ServerSideEncryption") == "AES256" or
              r.get("SSECustomerAlgorithm") == "AES256", f"{name}: encryption said")
        new = sorted(set(blob_files()) - before)
        eq(len(new), 1, f"{name}: one blob file, written once")
        with open(new[0], "rb") as fh:
            at_rest = fh.read()
        eq(len(at_rest), len(body), f"{name}: blob size")
        check(pat not in at_rest, f"{name}: plaintext in the streamed blob")
        eq(plaintext_at_rest(pat), None, f"{name}: plaintext found in")
        blob_id = int(os.path.basename(new[0]), 16)
        with db() as c:
            env = c.execute("SELECT sse FROM blobs WHERE id=?", (blob_id,)).fetchone()
        check(env is not None and env[0] is not None and len(env[0]) == 93,
              f"{name}: the blob's envelope is recorded")
        eq(s3.get_object(Bucket="streamed", Key=name, **extra)["Body"].read(), body,
           f"{name}: read back")
        # ranges across the 1 MiB piece boundary, at offsets no 16-byte block aligns
        for a, z in [(MiB - 1, MiB), (MiB - 17, MiB + 33), (MiB - 5, MiB + 5), (3, 2 * MiB - 2),
                     (MiB + 15, MiB + 16), (2 * MiB - 31, 2 * MiB - 1)]:
            r = s3.get_object(Bucket="streamed", Key=name, Range=f"bytes={a}-{z}", **extra)
            eq(r["Body"].read(), body[a:z + 1], f"{name}: {a}-{z}")
    expect_client_error("InvalidRequest", 400, s3.get_object, Bucket="streamed", Key="c")
    expect_client_error("AccessDenied", 403, s3.get_object, Bucket="streamed", Key="c",
                        **ssec(OTHER_KEY))


@test
def streamed_parts_encrypted_at_rest():
    s3.create_bucket(Bucket="sparts")
    for name, extra in (("s3", {}), ("c", ssec())):
        body, pat = marker_body(5 * MiB + 3 * MiB + 11)
        u = s3.create_multipart_upload(Bucket="sparts", Key=name, **extra)["UploadId"]
        parts = []
        for n, (a, z) in enumerate([(0, 5 * MiB), (5 * MiB, len(body))], 1):
            r = s3.upload_part(Bucket="sparts", Key=name, UploadId=u, PartNumber=n,
                               Body=body[a:z], **extra)
            parts.append({"PartNumber": n, "ETag": r["ETag"]})
        eq(plaintext_at_rest(pat), None, f"{name}: part plaintext found in")
        s3.complete_multipart_upload(Bucket="sparts", Key=name, UploadId=u,
                                     MultipartUpload={"Parts": parts}, **extra)
        eq(s3.get_object(Bucket="sparts", Key=name, **extra)["Body"].read(), body,
           f"{name}: read back")
        for a, z in [(5 * MiB - 7, 5 * MiB + 9), (MiB - 3, MiB + 1), (6 * MiB + 1, 6 * MiB + 1)]:
            r = s3.get_object(Bucket="sparts", Key=name, Range=f"bytes={a}-{z}", **extra)
            eq(r["Body"].read(), body[a:z + 1], f"{name}: {a}-{z}")


@test
def streamed_part_checksum_computed_from_plaintext():
    # an upload with a checksum algorithm and a part that sends none: the server computes
    # it, and the streamed part's mapped bytes are ciphertext, so it must not hash those
    c = srv.boto3_client(request_checksum_calculation="when_required")
    c.create_bucket(Bucket="spck")
    body = os.urandom(2 * MiB + 5)
    want = base64.b64encode(hashlib.sha256(body).digest()).decode()
    for name, extra in (("s3", {}), ("c", ssec())):
        u = c.create_multipart_upload(Bucket="spck", Key=name, ChecksumAlgorithm="SHA256",
                                      **extra)["UploadId"]
        r = c.upload_part(Bucket="spck", Key=name, UploadId=u, PartNumber=1, Body=body, **extra)
        eq(r.get("ChecksumSHA256"), want, f"{name}: part checksum of the plaintext")
        c.abort_multipart_upload(Bucket="spck", Key=name, UploadId=u)


@test
def streamed_put_without_default_encryption():
    # the choice made before the body: no rule, the bucket's rule, a header; a bucket
    # that does not exist is not guessed at (the body is read, the handler answers)
    with QuarryServer(extra_args=["--no-default-encryption"]) as q:
        c = q.boto3_client()
        c.create_bucket(Bucket="plain")
        c.create_bucket(Bucket="enc")
        c.put_bucket_encryption(Bucket="enc", ServerSideEncryptionConfiguration={"Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        body, pat = marker_body(2 * MiB)
        r = c.put_object(Bucket="enc", Key="k", Body=body)
        eq(r.get("ServerSideEncryption"), "AES256", "bucket rule applies")
        r = c.put_object(Bucket="plain", Key="k", Body=body, ServerSideEncryption="AES256")
        eq(r.get("ServerSideEncryption"), "AES256", "asked for")
        for f in glob.glob(os.path.join(q.data, "objects", "*", "*", "*")):
            with open(f, "rb") as fh:
                check(pat not in fh.read(), f"plaintext in {f}")
        r = c.put_object(Bucket="plain", Key="p", Body=body)
        eq(r.get("ServerSideEncryption"), None, "plain bucket, no header")
        for b, k in (("enc", "k"), ("plain", "k"), ("plain", "p")):
            eq(c.get_object(Bucket=b, Key=k)["Body"].read(), body, f"{b}/{k} read back")
        expect_client_error("NoSuchBucket", 404, c.put_object, Bucket="nobucket", Key="k",
                            Body=body)


@test
def encrypted_data_survives_restart():
    s3.create_bucket(Bucket="restart")
    body = os.urandom(MiB + 7)
    s3.put_object(Bucket="restart", Key="k", Body=body)
    s3.put_object(Bucket="restart", Key="c", Body=body[:999], **ssec())
    srv.restart()
    eq(s3.get_object(Bucket="restart", Key="k")["Body"].read(), body, "SSE-S3 after restart")
    eq(s3.get_object(Bucket="restart", Key="c", **ssec())["Body"].read(), body[:999], "SSE-C")


if __name__ == "__main__":
    run(setup=setup, teardown=teardown)
