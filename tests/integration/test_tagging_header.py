#!/usr/bin/env python3
"""test_tagging_header.py - x-amz-tagging on PutObject, CreateMultipartUpload and CopyObject
(TaggingDirective REPLACE) is held to PutObjectTagging's rules through stock boto3 against a
real quarry: a reserved `aws:` key, a repeated key, an over-long key or value and more than 10
tags are refused with PutObjectTagging's codes and messages, and nothing is stored; a valid
tag set is stored as PutObjectTagging would store it.
"""

import uuid

from harness import eq, expect_client_error, run, test
from quarry_server import QuarryServer

srv = s3 = None
BAD = [
    ("aws:cost=1", "InvalidTag", "Your TagKey cannot be prefixed with aws:"),
    ("a=1&a=2", "InvalidTag", "Cannot provide multiple Tags with the same key"),
    ("k" * 129 + "=v", "InvalidTag", "The TagKey you have provided is invalid"),
    ("k=" + "v" * 257, "InvalidTag", "The TagValue you have provided is invalid"),
    ("&".join(f"k{i}=v" for i in range(11)), "BadRequest",
     "Object tags cannot be greater than 10"),
]


def setup():
    global srv, s3
    srv = QuarryServer().start()
    s3 = srv.boto3_client()


def teardown():
    if srv is not None:
        srv.close()


def bucket():
    b = f"tg-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=b)
    return b


def refused(fn, tagging, code, msg, **kw):
    r = expect_client_error(code, 400, fn, Tagging=tagging, **kw)
    eq(r["Error"]["Message"], msg, f"message for {tagging[:40]!r}")


@test
def put_object_header_refused_like_put_object_tagging():
    b = bucket()
    for tagging, code, msg in BAD:
        refused(s3.put_object, tagging, code, msg, Bucket=b, Key="k", Body=b"x")
        # PutObjectTagging says the same about the same tags.
        s3.put_object(Bucket=b, Key="plain", Body=b"x")
        pairs = [p.split("=", 1) for p in tagging.split("&")]
        r = expect_client_error(code, 400, s3.put_object_tagging, Bucket=b, Key="plain",
                                Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in pairs]})
        eq(r["Error"]["Message"], msg, "PutObjectTagging's message")
    eq(s3.list_objects_v2(Bucket=b)["KeyCount"], 1, "no object stored by a refused PUT")


@test
def multipart_and_copy_headers_refused():
    b = bucket()
    s3.put_object(Bucket=b, Key="src", Body=b"x")
    for tagging, code, msg in BAD:
        refused(s3.create_multipart_upload, tagging, code, msg, Bucket=b, Key="m")
        refused(s3.copy_object, tagging, code, msg, Bucket=b, Key="dst",
                CopySource={"Bucket": b, "Key": "src"}, TaggingDirective="REPLACE")
    eq(s3.list_multipart_uploads(Bucket=b).get("Uploads", []), [], "no upload created")
    eq([o["Key"] for o in s3.list_objects_v2(Bucket=b)["Contents"]], ["src"], "no copy")


@test
def valid_header_stored_like_put_object_tagging():
    b = bucket()
    s3.put_object(Bucket=b, Key="k", Body=b"x", Tagging="a%20b=c%26d&e=&f=%C3%A9")
    eq(s3.get_object_tagging(Bucket=b, Key="k")["TagSet"],
       [{"Key": "a b", "Value": "c&d"}, {"Key": "e", "Value": ""}, {"Key": "f", "Value": "é"}],
       "tags")
    eq(s3.get_object(Bucket=b, Key="k")["TagCount"], 3, "GET's x-amz-tagging-count")


if __name__ == "__main__":
    run(setup=setup, teardown=teardown)
