#!/usr/bin/env python3
"""test_boto3_s3.py - the S3 API through stock boto3 against a real quarry, both bucket types.

One server for the file; every test makes its own buckets. Expected values are computed
here independently (hashlib/zlib, sorted UTF-8 bytes), never taken from the server.
Directory-bucket calls go through boto3's own CreateSession flow (S3 Express sessions).
"""

import base64
import datetime
import hashlib
import os
import subprocess
import tempfile
import time
import zlib

from botocore.exceptions import ClientError

from harness import check, client_error, eq, expect_client_error, run, test
from quarry_server import DIR_CFG, QuarryServer

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


def dname(base):
    return f"{base}--use1-az4--x-s3"


def make_gp(name):
    s3.create_bucket(Bucket=name)
    return name


def make_dir(base):
    name = dname(base)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration=DIR_CFG)
    return name


def both(base):
    """A general purpose and a directory bucket made for one test."""
    return [make_gp(base), make_dir(base)]


def body_of(resp):
    return resp["Body"].read()


def b64(d):
    return base64.b64encode(d).decode()


def crc32_b64(data):
    return b64(zlib.crc32(data).to_bytes(4, "big"))


def etag_md5(data):
    return '"' + hashlib.md5(data).hexdigest() + '"'


def is_dir(bucket):
    return bucket.endswith("--x-s3")


def status_of(resp):
    return resp["ResponseMetadata"]["HTTPStatusCode"]


# ---- buckets ----

@test
def buckets_create_head_list():
    gp, d = both("alpha")
    eq(status_of(s3.head_bucket(Bucket=gp)), 200, "head gp")
    eq(status_of(s3.head_bucket(Bucket=d)), 200, "head dir")
    gp_names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    check(gp in gp_names, f"{gp} missing from ListBuckets {gp_names}")
    check(d not in gp_names, f"directory bucket {d} listed by ListBuckets {gp_names}")
    dir_names = [b["Name"] for b in s3.list_directory_buckets()["Buckets"]]
    check(d in dir_names, f"{d} missing from ListDirectoryBuckets {dir_names}")
    check(gp not in dir_names, f"general bucket {gp} listed by ListDirectoryBuckets {dir_names}")
    code, st, _ = client_error(s3.head_bucket, Bucket="no-such-bucket-here")
    eq(st, 404, "head missing bucket status")
    expect_client_error("NoSuchBucket", 404, s3.list_objects_v2, Bucket="no-such-bucket-here")
    s3.delete_bucket(Bucket=gp)
    s3.delete_bucket(Bucket=d)
    eq(client_error(s3.head_bucket, Bucket=gp)[1], 404, "head deleted gp")
    check(d not in [b["Name"] for b in s3.list_directory_buckets()["Buckets"]], "deleted dir bucket listed")


@test
def bucket_errors():
    gp = make_gp("full")
    s3.put_object(Bucket=gp, Key="k", Body=b"x")
    expect_client_error("BucketNotEmpty", 409, s3.delete_bucket, Bucket=gp)
    d = make_dir("full")
    s3.put_object(Bucket=d, Key="k", Body=b"x")
    expect_client_error("BucketNotEmpty", 409, s3.delete_bucket, Bucket=d)
    for bad in ("UPPERcase", "ab", "a_b", "-abc", "abc-", "a..b", "192.168.1.1", "xn--abc",
                "x" * 64, "bad--use1-az4--x-s3-", "Bad--use1-az4--x-s3"):
        expect_client_error("InvalidBucketName", 400, s3.create_bucket, Bucket=bad)


# ---- objects ----

@test
def put_get_head_delete():
    for b in both("pgh"):
        data = os.urandom(1000) + b"end"
        r = s3.put_object(Bucket=b, Key="obj.bin", Body=data)
        if not is_dir(b):
            eq(r["ETag"], etag_md5(data), f"{b} put ETag")
        check(r["ETag"].startswith('"') and r["ETag"].endswith('"'), f"{b} ETag not quoted: {r['ETag']}")
        g = s3.get_object(Bucket=b, Key="obj.bin")
        eq(body_of(g), data, f"{b} body")
        eq(g["ContentLength"], len(data), f"{b} length")
        eq(g["ETag"], r["ETag"], f"{b} get ETag")
        h = s3.head_object(Bucket=b, Key="obj.bin")
        eq(h["ContentLength"], len(data), f"{b} head length")
        eq(h["ETag"], r["ETag"], f"{b} head ETag")
        check(isinstance(h["LastModified"], datetime.datetime), "LastModified")
        age = abs((datetime.datetime.now(datetime.timezone.utc) - h["LastModified"]).total_seconds())
        check(age < 120, f"{b} LastModified {h['LastModified']} is {age}s off")
        # overwrite
        s3.put_object(Bucket=b, Key="obj.bin", Body=b"v2")
        eq(body_of(s3.get_object(Bucket=b, Key="obj.bin")), b"v2", f"{b} overwritten body")
        # empty object
        s3.put_object(Bucket=b, Key="empty", Body=b"")
        eq(body_of(s3.get_object(Bucket=b, Key="empty")), b"", f"{b} empty body")
        eq(status_of(s3.delete_object(Bucket=b, Key="obj.bin")), 204, f"{b} delete status")
        expect_client_error("NoSuchKey", 404, s3.get_object, Bucket=b, Key="obj.bin")
        eq(client_error(s3.head_object, Bucket=b, Key="obj.bin")[1], 404, f"{b} head deleted")
        # deleting a missing key is success
        eq(status_of(s3.delete_object(Bucket=b, Key="never-existed")), 204, f"{b} delete missing")


@test
def hot_objects_read_after_write():
    """Each event loop keeps the small objects it read in its current snapshot (store/
    objmemo.c): every change must show on every connection at once. Four clients with one
    connection each (spread over the loops) read a key until it is hot, then one client
    changes it (overwrite, metadata, tags, delete) and every client reads again."""
    clients = [srv.boto3_client(max_pool_connections=1) for _ in range(4)]
    for b in both("hot"):
        for i in range(5):
            body = f"round {i} ".encode() * 50
            clients[i % 4].put_object(Bucket=b, Key="k", Body=body, Metadata={"round": str(i)})
            for c in clients:
                for _ in range(3):
                    g = c.get_object(Bucket=b, Key="k")
                    eq(body_of(g), body, f"{b} round {i}: body")
                    eq(g["Metadata"], {"round": str(i)}, f"{b} round {i}: metadata")
        if not is_dir(b):
            clients[1].copy_object(Bucket=b, Key="k", CopySource={"Bucket": b, "Key": "k"},
                                   Metadata={"round": "copied"}, MetadataDirective="REPLACE")
            for c in clients:
                eq(c.head_object(Bucket=b, Key="k")["Metadata"], {"round": "copied"},
                   f"{b}: metadata replaced in place")
            clients[2].put_object_tagging(Bucket=b, Key="k", Tagging={"TagSet": [{"Key": "t", "Value": "1"}]})
            for c in clients:
                eq(c.get_object(Bucket=b, Key="k").get("TagCount"), 1, f"{b}: tag count after tagging")
        clients[3].delete_object(Bucket=b, Key="k")
        for c in clients:
            expect_client_error("NoSuchKey", 404, c.get_object, Bucket=b, Key="k")


@test
def no_such_key_error_body():
    b = make_gp("nskbody")
    _, _, resp = client_error(s3.get_object, Bucket=b, Key="dir/missing.txt")
    eq(resp["Error"].get("Code"), "NoSuchKey", "code")
    eq(resp["Error"].get("Key"), "dir/missing.txt", "Error/Key")
    check(resp["ResponseMetadata"]["HTTPHeaders"].get("x-amz-request-id"), "no x-amz-request-id")
    expect_client_error("NoSuchBucket", 404, s3.get_object, Bucket="nope-bucket", Key="k")
    expect_client_error("NoSuchBucket", 404, s3.put_object, Bucket="nope-bucket", Key="k", Body=b"x")


@test
def large_object_blob():
    for b in both("large"):
        data = os.urandom(3 * MiB + 17)
        s3.put_object(Bucket=b, Key="big", Body=data)
        g = s3.get_object(Bucket=b, Key="big")
        got = body_of(g)
        eq(len(got), len(data), f"{b} length")
        check(got == data, f"{b} 3 MiB body differs")
        r = s3.get_object(Bucket=b, Key="big", Range="bytes=2097150-2097160")
        eq(body_of(r), data[2097150:2097161], f"{b} range across 2 MiB")


@test
def get_range():
    for b in both("range"):
        data = bytes(range(100))
        s3.put_object(Bucket=b, Key="r", Body=data)
        cases = [("bytes=10-19", data[10:20], "bytes 10-19/100"),
                 ("bytes=-5", data[-5:], "bytes 95-99/100"),
                 ("bytes=95-", data[95:], "bytes 95-99/100"),
                 ("bytes=90-200", data[90:], "bytes 90-99/100"),
                 ("bytes=0-0", data[:1], "bytes 0-0/100")]
        for rng, want, cr in cases:
            g = s3.get_object(Bucket=b, Key="r", Range=rng)
            eq(status_of(g), 206, f"{b} {rng} status")
            eq(body_of(g), want, f"{b} {rng} body")
            eq(g.get("ContentRange"), cr, f"{b} {rng} Content-Range")
            eq(g["ContentLength"], len(want), f"{b} {rng} Content-Length")
        expect_client_error("InvalidRange", 416, s3.get_object, Bucket=b, Key="r", Range="bytes=200-300")


@test
def conditional_get():
    for b in both("cond"):
        r = s3.put_object(Bucket=b, Key="c", Body=b"conditional")
        etag = r["ETag"]
        past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
        future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
        eq(body_of(s3.get_object(Bucket=b, Key="c", IfMatch=etag)), b"conditional", f"{b} If-Match ok")
        eq(client_error(s3.get_object, Bucket=b, Key="c", IfNoneMatch=etag)[1], 304, f"{b} If-None-Match")
        eq(client_error(s3.get_object, Bucket=b, Key="c", IfModifiedSince=future)[1], 304,
           f"{b} If-Modified-Since future")
        eq(body_of(s3.get_object(Bucket=b, Key="c", IfModifiedSince=past)), b"conditional",
           f"{b} If-Modified-Since past")
        expect_client_error("PreconditionFailed", 412, s3.get_object, Bucket=b, Key="c", IfMatch='"0000"')
        expect_client_error("PreconditionFailed", 412, s3.get_object, Bucket=b, Key="c",
                            IfUnmodifiedSince=past)
        eq(client_error(s3.head_object, Bucket=b, Key="c", IfNoneMatch=etag)[1], 304, f"{b} HEAD 304")
        eq(client_error(s3.head_object, Bucket=b, Key="c", IfMatch='"nope"')[1], 412, f"{b} HEAD 412")
        # conditional write
        expect_client_error("PreconditionFailed", 412, s3.put_object, Bucket=b, Key="c", Body=b"x",
                            IfNoneMatch="*")
        s3.put_object(Bucket=b, Key="c-new", Body=b"x", IfNoneMatch="*")
        eq(body_of(s3.get_object(Bucket=b, Key="c")), b"conditional", f"{b} body after failed cond put")


@test
def response_overrides():
    b = make_gp("override")
    s3.put_object(Bucket=b, Key="o", Body=b"abc", ContentType="text/plain")
    g = s3.get_object(Bucket=b, Key="o", ResponseContentType="application/x-test",
                      ResponseContentDisposition='attachment; filename="x.txt"',
                      ResponseCacheControl="no-cache", ResponseContentLanguage="fr",
                      ResponseExpires=datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc))
    eq(g["ContentType"], "application/x-test", "content-type override")
    eq(g["ContentDisposition"], 'attachment; filename="x.txt"', "disposition override")
    eq(g["CacheControl"], "no-cache", "cache-control override")
    eq(g["ContentLanguage"], "fr", "content-language override")
    eq(body_of(g), b"abc", "body")
    eq(s3.head_object(Bucket=b, Key="o")["ContentType"], "text/plain", "stored type unchanged")


@test
def metadata_and_headers_round_trip():
    for b in both("meta"):
        meta = {"color": "blue", "x-long": "v" * 200, "camelcase": "MixedCase Value"}
        s3.put_object(Bucket=b, Key="m", Body=b"meta", Metadata=meta, ContentType="image/png",
                      ContentEncoding="identity", ContentDisposition="inline", ContentLanguage="en-GB",
                      CacheControl="max-age=60",
                      Expires=datetime.datetime(2031, 2, 3, 4, 5, 6, tzinfo=datetime.timezone.utc))
        for op in (s3.get_object, s3.head_object):
            r = op(Bucket=b, Key="m")
            eq(r["Metadata"], meta, f"{b} {op.__name__} metadata")
            eq(r["ContentType"], "image/png", f"{b} content-type")
            eq(r.get("ContentEncoding"), "identity", f"{b} content-encoding")
            eq(r.get("ContentDisposition"), "inline", f"{b} content-disposition")
            eq(r.get("ContentLanguage"), "en-GB", f"{b} content-language")
            eq(r.get("CacheControl"), "max-age=60", f"{b} cache-control")
            exp = r.get("Expires") or r.get("ExpiresString")
            check(exp is not None and "2031" in str(exp), f"{b} Expires {exp!r}")
        # default content type
        s3.put_object(Bucket=b, Key="plain", Body=b"x")
        eq(s3.head_object(Bucket=b, Key="plain")["ContentType"], "binary/octet-stream", f"{b} default type")


@test
def checksums():
    for b in both("cksum"):
        data = os.urandom(5000)
        want = {"CRC32": crc32_b64(data), "SHA1": b64(hashlib.sha1(data).digest()),
                "SHA256": b64(hashlib.sha256(data).digest())}
        for alg, value in want.items():
            key = f"ck-{alg}"
            r = s3.put_object(Bucket=b, Key=key, Body=data, ChecksumAlgorithm=alg)
            eq(r.get(f"Checksum{alg}"), value, f"{b} PutObject Checksum{alg}")
            g = s3.get_object(Bucket=b, Key=key, ChecksumMode="ENABLED")
            eq(g.get(f"Checksum{alg}"), value, f"{b} GetObject Checksum{alg}")
            eq(body_of(g), data, f"{b} body")
            h = s3.head_object(Bucket=b, Key=key, ChecksumMode="ENABLED")
            eq(h.get(f"Checksum{alg}"), value, f"{b} HeadObject Checksum{alg}")
            eq(h.get("ChecksumType"), "FULL_OBJECT", f"{b} ChecksumType")
        # explicit precomputed value is accepted
        s3.put_object(Bucket=b, Key="ck-explicit", Body=data, ChecksumSHA256=want["SHA256"])
        eq(s3.head_object(Bucket=b, Key="ck-explicit", ChecksumMode="ENABLED").get("ChecksumSHA256"),
           want["SHA256"], f"{b} explicit SHA256")
        # Content-MD5
        s3.put_object(Bucket=b, Key="md5", Body=data, ContentMD5=b64(hashlib.md5(data).digest()))


# ---- listing ----

WEIRD_KEYS = ["a b", "a+b", "100%", "100%25", "ünïcödé/ключ", "emoji-\U0001F600", "../up", "./dot",
              "dir//double", "/leading", "trailing/", "q?x=1&y", "hash#frag", "semi;colon",
              "tab\tkey", "quote\"s'", "<xml>&amp;", "~tilde", "a/b/c", "a/b/d", "a/e", "z", "Zed",
              "a" * 1024]


@test
def weird_keys_round_trip_and_byte_order():
    b = make_gp("weird")
    for k in WEIRD_KEYS:
        s3.put_object(Bucket=b, Key=k, Body=k.encode())
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=b)["Contents"]]
    want = sorted(WEIRD_KEYS, key=lambda k: k.encode())
    eq(listed, want, "listing (byte order, exact keys)")
    for k in WEIRD_KEYS:
        eq(body_of(s3.get_object(Bucket=b, Key=k)), k.encode(), f"body of key {k!r}")
        eq(s3.head_object(Bucket=b, Key=k)["ContentLength"], len(k.encode()), f"head of {k!r}")
    # the same without encoding-type=url handling on the client: the raw XML must be valid
    for k in ("a b", "100%", "ünïcödé/ключ", "<xml>&amp;"):
        r = s3.list_objects_v2(Bucket=b, Prefix=k)
        check(k in [o["Key"] for o in r.get("Contents", [])], f"prefix {k!r} listing")
    expect_client_error(None, 400, s3.put_object, Bucket=b, Key="x" * 1025, Body=b"")


@test
def weird_keys_directory_bucket():
    d = make_dir("weird")
    keys = ["a b", "a+b", "100%", "ünïcödé/ключ", "q?x=1&y", "hash#frag", "<xml>&amp;", "~tilde", "a/b/c"]
    for k in keys:
        s3.put_object(Bucket=d, Key=k, Body=k.encode())
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=d)["Contents"]]
    eq(sorted(listed), sorted(keys), "directory bucket keys (any order)")
    for k in keys:
        eq(body_of(s3.get_object(Bucket=d, Key=k)), k.encode(), f"body of {k!r}")


@test
def list_v2_prefix_delimiter():
    for b in both("delim"):
        keys = ["a/b/c", "a/b/d", "a/e", "a/f/g", "z", "photos/2024/x.jpg", "photos/y.jpg"]
        for k in keys:
            s3.put_object(Bucket=b, Key=k, Body=b"1")
        r = s3.list_objects_v2(Bucket=b, Prefix="a/", Delimiter="/")
        eq(sorted(o["Key"] for o in r.get("Contents", [])), ["a/e"], f"{b} contents")
        eq(sorted(p["Prefix"] for p in r.get("CommonPrefixes", [])), ["a/b/", "a/f/"], f"{b} prefixes")
        eq(r["KeyCount"], 3, f"{b} KeyCount")
        eq(r["Prefix"], "a/", f"{b} Prefix echo")
        eq(r["Delimiter"], "/", f"{b} Delimiter echo")
        r = s3.list_objects_v2(Bucket=b, Delimiter="/")
        eq(sorted(o["Key"] for o in r.get("Contents", [])), ["z"], f"{b} root contents")
        eq(sorted(p["Prefix"] for p in r.get("CommonPrefixes", [])), ["a/", "photos/"], f"{b} root prefixes")
        r = s3.list_objects_v2(Bucket=b, Prefix="photos/")
        eq(sorted(o["Key"] for o in r["Contents"]), ["photos/2024/x.jpg", "photos/y.jpg"], f"{b} prefix")
        r = s3.list_objects_v2(Bucket=b, Prefix="nothing/")
        eq(r["KeyCount"], 0, f"{b} empty KeyCount")
        check("Contents" not in r, f"{b} empty listing has Contents")
        c = r if is_dir(b) else s3.list_objects_v2(Bucket=b, Prefix="a/b")
        if not is_dir(b):
            eq([o["Key"] for o in c["Contents"]], ["a/b/c", "a/b/d"], "prefix without slash")
            o = c["Contents"][0]
            eq(o["Size"], 1, "Size")
            eq(o["ETag"], etag_md5(b"1"), "listing ETag")
            check(o.get("StorageClass") == "STANDARD", f"StorageClass {o.get('StorageClass')}")


@test
def list_v2_start_after_and_paging():
    gp = make_gp("paging")
    keys = [f"k{i:03d}" for i in range(25)]
    for k in keys:
        s3.put_object(Bucket=gp, Key=k, Body=b"")
    r = s3.list_objects_v2(Bucket=gp, StartAfter="k019")
    eq([o["Key"] for o in r["Contents"]], keys[20:], "start-after")
    got, token, pages = [], None, 0
    while True:
        kw = {"ContinuationToken": token} if token else {}
        r = s3.list_objects_v2(Bucket=gp, MaxKeys=10, **kw)
        pages += 1
        got += [o["Key"] for o in r.get("Contents", [])]
        eq(r["MaxKeys"], 10, "MaxKeys echo")
        eq(r["KeyCount"], len(r.get("Contents", [])), "KeyCount")
        if not r["IsTruncated"]:
            check("NextContinuationToken" not in r, "NextContinuationToken on last page")
            break
        token = r["NextContinuationToken"]
        check(pages < 10, "paging does not end")
    eq(got, keys, "paged keys")
    eq(pages, 3, "pages")
    r = s3.list_objects_v2(Bucket=gp, MaxKeys=0)
    eq(r["KeyCount"], 0, "max-keys 0")
    # paginator over the directory bucket: no duplicates, nothing lost
    d = make_dir("paging")
    for k in keys:
        s3.put_object(Bucket=d, Key=k, Body=b"")
    seen = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=d, PaginationConfig={"PageSize": 7}):
        seen += [o["Key"] for o in page.get("Contents", [])]
    eq(sorted(seen), keys, "directory bucket paging")
    # delimiter + paging across common prefixes on gp
    for i in range(5):
        s3.put_object(Bucket=gp, Key=f"p{i}/x", Body=b"")
    got = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=gp, Delimiter="/", Prefix="p",
                                                             PaginationConfig={"PageSize": 2}):
        got += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    eq(got, [f"p{i}/" for i in range(5)], "common prefixes across pages")


@test
def list_objects_v1():
    gp = make_gp("listv1")
    keys = ["a/1", "a/2", "b", "c/3", "d"]
    for k in keys:
        s3.put_object(Bucket=gp, Key=k, Body=b"v1")
    r = s3.list_objects(Bucket=gp)
    eq([o["Key"] for o in r["Contents"]], keys, "v1 keys")
    r = s3.list_objects(Bucket=gp, Marker="a/2")
    eq([o["Key"] for o in r["Contents"]], keys[2:], "v1 marker")
    r = s3.list_objects(Bucket=gp, MaxKeys=2, Delimiter="/")
    check(r["IsTruncated"], "v1 truncated")
    eq(r.get("NextMarker"), "b", "v1 NextMarker with delimiter")
    eq([p["Prefix"] for p in r.get("CommonPrefixes", [])], ["a/"], "v1 common prefixes")
    allk = []
    for page in s3.get_paginator("list_objects").paginate(Bucket=gp, PaginationConfig={"PageSize": 2}):
        allk += [o["Key"] for o in page.get("Contents", [])]
    eq(allk, keys, "v1 paginated")
    d = make_dir("listv1")
    s3.put_object(Bucket=d, Key="x", Body=b"")
    code, st, _ = client_error(s3.list_objects, Bucket=d)
    check(st is not None and st >= 400, f"ListObjects v1 on a directory bucket gave {code}/{st}")


# ---- copy / delete ----

@test
def copy_object():
    gp, d = both("copy")
    d2 = make_dir("copy2")
    src = os.urandom(2000)
    s3.put_object(Bucket=gp, Key="src key+%", Body=src, Metadata={"m": "1"}, ContentType="text/x-src")
    # COPY directive (default)
    r = s3.copy_object(Bucket=gp, Key="dst/ü", CopySource={"Bucket": gp, "Key": "src key+%"})
    eq(r["CopyObjectResult"]["ETag"], etag_md5(src), "copy ETag")
    h = s3.head_object(Bucket=gp, Key="dst/ü")
    eq(h["Metadata"], {"m": "1"}, "COPY keeps metadata")
    eq(h["ContentType"], "text/x-src", "COPY keeps content type")
    eq(body_of(s3.get_object(Bucket=gp, Key="dst/ü")), src, "copy body")
    # REPLACE
    s3.copy_object(Bucket=gp, Key="dst2", CopySource=f"{gp}/src key+%", MetadataDirective="REPLACE",
                   Metadata={"n": "2"}, ContentType="text/x-new")
    h = s3.head_object(Bucket=gp, Key="dst2")
    eq(h["Metadata"], {"n": "2"}, "REPLACE metadata")
    eq(h["ContentType"], "text/x-new", "REPLACE content type")
    # onto itself without a change
    expect_client_error("InvalidRequest", 400, s3.copy_object, Bucket=gp, Key="dst2",
                        CopySource={"Bucket": gp, "Key": "dst2"})
    s3.copy_object(Bucket=gp, Key="dst2", CopySource={"Bucket": gp, "Key": "dst2"},
                   MetadataDirective="REPLACE", Metadata={"n": "3"})
    eq(s3.head_object(Bucket=gp, Key="dst2")["Metadata"], {"n": "3"}, "self copy with REPLACE")
    # across bucket types
    s3.copy_object(Bucket=d, Key="from-gp", CopySource={"Bucket": gp, "Key": "src key+%"})
    eq(body_of(s3.get_object(Bucket=d, Key="from-gp")), src, "gp -> dir")
    eq(s3.head_object(Bucket=d, Key="from-gp")["Metadata"], {"m": "1"}, "gp -> dir metadata")
    s3.copy_object(Bucket=gp, Key="from-dir", CopySource={"Bucket": d, "Key": "from-gp"})
    eq(body_of(s3.get_object(Bucket=gp, Key="from-dir")), src, "dir -> gp")
    s3.copy_object(Bucket=d2, Key="from-dir", CopySource={"Bucket": d, "Key": "from-gp"})
    eq(body_of(s3.get_object(Bucket=d2, Key="from-dir")), src, "dir -> dir")
    big = os.urandom(300 * 1024)
    s3.put_object(Bucket=d, Key="big", Body=big)
    s3.copy_object(Bucket=gp, Key="big", CopySource={"Bucket": d, "Key": "big"})
    eq(body_of(s3.get_object(Bucket=gp, Key="big")), big, "blob copy")
    s3.delete_object(Bucket=d, Key="big")
    eq(body_of(s3.get_object(Bucket=gp, Key="big")), big, "copy survives source delete")
    expect_client_error("NoSuchKey", 404, s3.copy_object, Bucket=gp, Key="x",
                        CopySource={"Bucket": gp, "Key": "missing"})
    r = s3.copy_object(Bucket=gp, Key="ck", CopySource={"Bucket": gp, "Key": "src key+%"},
                       ChecksumAlgorithm="SHA256")
    eq(r["CopyObjectResult"].get("ChecksumSHA256"), b64(hashlib.sha256(src).digest()), "copy checksum")


@test
def delete_objects():
    for b in both("delmany"):
        keys = [f"d/{i}" for i in range(10)] + ["sp ace", "ü"]
        for k in keys:
            s3.put_object(Bucket=b, Key=k, Body=b"x")
        r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": k} for k in keys[:6]] +
                                                [{"Key": "missing"}], "Quiet": False})
        eq(sorted(x["Key"] for x in r.get("Deleted", [])), sorted(keys[:6] + ["missing"]), f"{b} Deleted")
        eq(r.get("Errors", []), [], f"{b} Errors")
        r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": k} for k in keys[6:]], "Quiet": True})
        eq(r.get("Deleted", []), [], f"{b} quiet Deleted")
        eq(r.get("Errors", []), [], f"{b} quiet Errors")
        left = s3.list_objects_v2(Bucket=b)
        eq(left["KeyCount"], 0, f"{b} left after DeleteObjects: {[o['Key'] for o in left.get('Contents', [])]}")
        s3.delete_bucket(Bucket=b)


# ---- tagging ----

@test
def object_tagging():
    gp, d = both("tags")
    s3.put_object(Bucket=gp, Key="t", Body=b"x", Tagging="a=1&b=two%20words")
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=gp, Key="t")["TagSet"]}
    eq(tags, {"a": "1", "b": "two words"}, "tags from PutObject")
    eq(s3.get_object(Bucket=gp, Key="t").get("TagCount"), 2, "TagCount")
    s3.put_object_tagging(Bucket=gp, Key="t", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    eq(s3.get_object_tagging(Bucket=gp, Key="t")["TagSet"], [{"Key": "k", "Value": "v"}], "replaced tags")
    s3.delete_object_tagging(Bucket=gp, Key="t")
    eq(s3.get_object_tagging(Bucket=gp, Key="t")["TagSet"], [], "deleted tags")
    expect_client_error("NoSuchKey", 404, s3.get_object_tagging, Bucket=gp, Key="missing")
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(11)]
    expect_client_error(None, 400, s3.put_object_tagging, Bucket=gp, Key="t", Tagging={"TagSet": too_many})
    s3.put_object(Bucket=d, Key="t", Body=b"x")
    code, st, _ = client_error(s3.put_object_tagging, Bucket=d, Key="t",
                               Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    check(st is not None and st >= 400, f"tagging on a directory bucket gave {code}/{st}")
    code, st, _ = client_error(s3.get_object_tagging, Bucket=d, Key="t")
    check(st is not None and st >= 400, f"get tagging on a directory bucket gave {code}/{st}")


# ---- multipart ----

def _mpu(b, key, parts_data, order):
    up = s3.create_multipart_upload(Bucket=b, Key=key, Metadata={"mp": "yes"}, ContentType="video/x-test")
    uid = up["UploadId"]
    eq(up["Key"], key, "initiate Key")
    etags = {}
    for n in order:
        r = s3.upload_part(Bucket=b, Key=key, UploadId=uid, PartNumber=n, Body=parts_data[n - 1])
        etags[n] = r["ETag"]
        if not is_dir(b):
            eq(r["ETag"], etag_md5(parts_data[n - 1]), f"part {n} ETag")
    return uid, etags


@test
def multipart_upload():
    for b in both("mpu"):
        parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1234)]
        uid, etags = _mpu(b, "mp/obj", parts, [3, 1, 2])
        lp = s3.list_parts(Bucket=b, Key="mp/obj", UploadId=uid)
        eq([p["PartNumber"] for p in lp["Parts"]], [1, 2, 3], f"{b} ListParts numbers")
        eq([p["Size"] for p in lp["Parts"]], [len(p) for p in parts], f"{b} ListParts sizes")
        eq([p["ETag"] for p in lp["Parts"]], [etags[1], etags[2], etags[3]], f"{b} ListParts ETags")
        lp2 = s3.list_parts(Bucket=b, Key="mp/obj", UploadId=uid, MaxParts=2)
        check(lp2["IsTruncated"], f"{b} ListParts MaxParts=2 truncated")
        eq(lp2.get("NextPartNumberMarker"), 2, f"{b} NextPartNumberMarker")
        ups = s3.list_multipart_uploads(Bucket=b)
        eq([(u["Key"], u["UploadId"]) for u in ups.get("Uploads", [])], [("mp/obj", uid)], f"{b} uploads")
        check("Contents" not in s3.list_objects_v2(Bucket=b), f"{b} incomplete upload listed as object")
        r = s3.complete_multipart_upload(Bucket=b, Key="mp/obj", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": etags[n]} for n in (1, 2, 3)]})
        whole = b"".join(parts)
        if not is_dir(b):
            md5s = b"".join(hashlib.md5(p).digest() for p in parts)
            eq(r["ETag"], f'"{hashlib.md5(md5s).hexdigest()}-3"', "multipart ETag")
        g = s3.get_object(Bucket=b, Key="mp/obj")
        got = body_of(g)
        check(got == whole, f"{b} multipart body differs (len {len(got)} vs {len(whole)})")
        eq(g["Metadata"], {"mp": "yes"}, f"{b} multipart metadata")
        eq(g["ContentType"], "video/x-test", f"{b} multipart content type")
        eq(body_of(s3.get_object(Bucket=b, Key="mp/obj", Range=f"bytes={5 * MiB - 2}-{5 * MiB + 1}")),
           whole[5 * MiB - 2:5 * MiB + 2], f"{b} range across parts")
        eq(s3.list_multipart_uploads(Bucket=b).get("Uploads", []), [], f"{b} uploads after complete")
        # abort
        up = s3.create_multipart_upload(Bucket=b, Key="aborted")
        s3.upload_part(Bucket=b, Key="aborted", UploadId=up["UploadId"], PartNumber=1, Body=b"x")
        eq(status_of(s3.abort_multipart_upload(Bucket=b, Key="aborted", UploadId=up["UploadId"])), 204,
           f"{b} abort status")
        expect_client_error("NoSuchUpload", 404, s3.list_parts, Bucket=b, Key="aborted", UploadId=up["UploadId"])
        expect_client_error("NoSuchKey", 404, s3.get_object, Bucket=b, Key="aborted")
    for b in both("mpupn"):
        parts = [os.urandom(5 * MiB), os.urandom(100)]
        uid, etags = _mpu(b, "pn", parts, [1, 2])
        s3.complete_multipart_upload(Bucket=b, Key="pn", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": etags[n]} for n in (1, 2)]})
        g = s3.get_object(Bucket=b, Key="pn", PartNumber=2)
        eq(body_of(g), parts[1], f"{b} GET partNumber=2")
        eq(g.get("PartsCount"), 2, f"{b} PartsCount")
        eq(s3.head_object(Bucket=b, Key="pn", PartNumber=1)["ContentLength"], 5 * MiB, f"{b} HEAD partNumber=1")


@test
def multipart_errors():
    for b in both("mpuerr"):
        small = [os.urandom(1024), os.urandom(1024), os.urandom(1024)]
        uid, etags = _mpu(b, "small", small, [1, 2, 3])
        expect_client_error("EntityTooSmall", 400, s3.complete_multipart_upload, Bucket=b, Key="small",
                            UploadId=uid, MultipartUpload={"Parts": [
                                {"PartNumber": n, "ETag": etags[n]} for n in (1, 2, 3)]})
        parts = [os.urandom(5 * MiB), os.urandom(10)]
        uid, etags = _mpu(b, "bad", parts, [1, 2])
        expect_client_error("InvalidPart", 400, s3.complete_multipart_upload, Bucket=b, Key="bad",
                            UploadId=uid, MultipartUpload={"Parts": [
                                {"PartNumber": 1, "ETag": etags[1]},
                                {"PartNumber": 2, "ETag": '"0123456789abcdef0123456789abcdef"'}]})
        expect_client_error("InvalidPart", 400, s3.complete_multipart_upload, Bucket=b, Key="bad",
                            UploadId=uid, MultipartUpload={"Parts": [
                                {"PartNumber": 1, "ETag": etags[1]}, {"PartNumber": 7, "ETag": etags[2]}]})
        expect_client_error("InvalidPartOrder", 400, s3.complete_multipart_upload, Bucket=b, Key="bad",
                            UploadId=uid, MultipartUpload={"Parts": [
                                {"PartNumber": 2, "ETag": etags[2]}, {"PartNumber": 1, "ETag": etags[1]}]})
        # the upload is still usable after rejected completes
        s3.complete_multipart_upload(Bucket=b, Key="bad", UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": etags[1]}, {"PartNumber": 2, "ETag": etags[2]}]})
        eq(body_of(s3.get_object(Bucket=b, Key="bad")), b"".join(parts), f"{b} body after retries")
        expect_client_error("NoSuchUpload", 404, s3.upload_part, Bucket=b, Key="bad", UploadId="nonexistent",
                            PartNumber=1, Body=b"x")
        up = s3.create_multipart_upload(Bucket=b, Key="pn")
        expect_client_error("InvalidArgument", 400, s3.upload_part, Bucket=b, Key="pn",
                            UploadId=up["UploadId"], PartNumber=10001, Body=b"x")
        s3.abort_multipart_upload(Bucket=b, Key="pn", UploadId=up["UploadId"])


@test
def upload_part_copy():
    gp, d = both("upc")
    src = os.urandom(6 * MiB)
    s3.put_object(Bucket=gp, Key="src", Body=src)
    s3.put_object(Bucket=gp, Key="small src", Body=b"tail-bytes")
    for b in (gp, d):
        up = s3.create_multipart_upload(Bucket=b, Key="assembled")
        uid = up["UploadId"]
        r1 = s3.upload_part_copy(Bucket=b, Key="assembled", UploadId=uid, PartNumber=1,
                                 CopySource={"Bucket": gp, "Key": "src"}, CopySourceRange=f"bytes=0-{5 * MiB - 1}")
        if not is_dir(b):
            eq(r1["CopyPartResult"]["ETag"], etag_md5(src[:5 * MiB]), "UploadPartCopy ETag")
        r2 = s3.upload_part_copy(Bucket=b, Key="assembled", UploadId=uid, PartNumber=2,
                                 CopySource={"Bucket": gp, "Key": "small src"})
        s3.complete_multipart_upload(Bucket=b, Key="assembled", UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
            {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]}]})
        got = body_of(s3.get_object(Bucket=b, Key="assembled"))
        check(got == src[:5 * MiB] + b"tail-bytes", f"{b} UploadPartCopy body differs ({len(got)} bytes)")


# ---- presigned URLs and auth ----

def curl(*args):
    r = subprocess.run(["curl", "-sS", "-g", *args], capture_output=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


@test
def presigned_get_and_put_with_curl():
    """SigV4 presigned URLs (signature_version s3v4; directory buckets sign with the session)."""
    v4 = srv.boto3_client(signature_version="s3v4")
    for b in both("presign"):
        data = os.urandom(70 * 1024)
        s3.put_object(Bucket=b, Key="p q/ü.bin", Body=data)
        url = v4.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "p q/ü.bin"}, ExpiresIn=300)
        check("X-Amz-Signature=" in url, f"not a SigV4 URL: {url}")
        with tempfile.TemporaryDirectory() as t:
            out = os.path.join(t, "out")
            rc, code, err = curl("-o", out, "-w", "%{http_code}", url)
            eq(code, b"200", f"{b} presigned GET status (curl rc {rc} {err!r})")
            eq(open(out, "rb").read(), data, f"{b} presigned GET body")
            up = os.path.join(t, "up")
            new = os.urandom(1000)
            open(up, "wb").write(new)
            purl = v4.generate_presigned_url("put_object", Params={"Bucket": b, "Key": "uploaded by curl"},
                                             ExpiresIn=300)
            rc, code, err = curl("-o", os.path.join(t, "resp"), "-w", "%{http_code}", "-T", up, purl)
            eq(code, b"200", f"{b} presigned PUT status: {open(os.path.join(t, 'resp'), 'rb').read()[:300]!r}")
            eq(body_of(s3.get_object(Bucket=b, Key="uploaded by curl")), new, f"{b} presigned PUT body")
            # tampering with the signed URL: another key
            bad = url.replace("p%20q/", "p%20r/")
            check(bad != url, "tamper did not change the URL")
            rc, body, err = curl(bad)
            check(b"SignatureDoesNotMatch" in body, f"{b} tampered URL answered {body[:300]!r}")


@test
def presigned_default_boto3_client():
    """A stock boto3 client's generate_presigned_url for a general purpose bucket on a custom
    endpoint makes a SigV2 URL (AWSAccessKeyId/Signature/Expires): what users get by default."""
    b = make_gp("presignv2")
    s3.put_object(Bucket=b, Key="v2 key", Body=b"sigv2 body")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "v2 key"}, ExpiresIn=300)
    rc, body, err = curl("-w", "\n%{http_code}", url)
    eq(body, b"sigv2 body\n200", f"default presigned GET {url}")
    purl = s3.generate_presigned_url("put_object", Params={"Bucket": b, "Key": "v2 put"}, ExpiresIn=300)
    rc, body, err = curl("-w", "\n%{http_code}", "-X", "PUT", "-H", "Content-Type:", "--data-binary", "via v2", purl)
    check(body.endswith(b"\n200"), f"default presigned PUT: {body[:300]!r}")
    eq(body_of(s3.get_object(Bucket=b, Key="v2 put")), b"via v2", "default presigned PUT body")


@test
def presigned_expired():
    b = make_gp("expired")
    s3.put_object(Bucket=b, Key="e", Body=b"x")
    url = srv.boto3_client(signature_version="s3v4").generate_presigned_url("get_object", Params={"Bucket": b, "Key": "e"}, ExpiresIn=1)
    time.sleep(2.1)
    rc, body, err = curl("-w", "\n%{http_code}", url)
    status = body.rsplit(b"\n", 1)[-1]
    eq(status, b"403", f"expired URL status; body {body[:300]!r}")
    check(b"AccessDenied" in body, f"expired URL body {body[:300]!r}")


@test
def bad_credentials():
    wrong = srv.boto3_client(secret_key="not-the-secret")
    expect_client_error("SignatureDoesNotMatch", 403, wrong.list_buckets)
    make_gp("authb")
    expect_client_error("SignatureDoesNotMatch", 403, wrong.put_object, Bucket="authb", Key="k", Body=b"x")
    unknown = srv.boto3_client(access_key="AKIAUNKNOWN00000", secret_key="whatever")
    expect_client_error("InvalidAccessKeyId", 403, unknown.list_buckets)
    expect_client_error("NoSuchKey", 404, s3.get_object, Bucket="authb", Key="k")
    # a directory bucket with a wrong secret: CreateSession itself must be refused
    d = make_dir("authd")
    wrong_d = srv.boto3_client(secret_key="not-the-secret")
    code, st, _ = client_error(wrong_d.put_object, Bucket=d, Key="k", Body=b"x")
    eq((code, st), ("SignatureDoesNotMatch", 403), "wrong secret on a directory bucket")
    expect_client_error("NoSuchKey", 404, s3.get_object, Bucket=d, Key="k")


@test
def create_session_explicit():
    d = make_dir("sess")
    r = s3.create_session(Bucket=d)
    c = r["Credentials"]
    for f in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"):
        check(c.get(f), f"session credential {f} missing")
    left = (c["Expiration"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    check(60 < left <= 3600, f"session lifetime {left}s")
    r = s3.create_session(Bucket=d, SessionMode="ReadOnly")
    check(r["Credentials"]["AccessKeyId"], "read-only session")


@test
def not_implemented():
    gp = make_gp("notimpl")
    expect_client_error("NotImplemented", 501, s3.get_bucket_analytics_configuration, Bucket=gp, Id="x")


if __name__ == "__main__":
    run(setup=setup, teardown=teardown)
