#!/usr/bin/env python3
"""test_s3_versioning.py - S3 Versioning and Object Lock on general purpose buckets, with
stock boto3 and the aws CLI v1 against a real quarry: bucket versioning states, version
ids on every write, reads/deletes/copies/tagging of one version, delete markers,
ListObjectVersions (order, markers, prefix, delimiter), null versions of a suspended
bucket, blobs shared across versions, and Object Lock (retention, GOVERNANCE bypass,
COMPLIANCE, legal hold). Expected values are computed here, never read from the server.
"""

import datetime
import json
import os
import re
import shutil
import subprocess
import tempfile

from harness import check, client_error, eq, expect_client_error, run, test
from quarry_server import DIR_CFG, QuarryServer

srv = None
s3 = None
MiB = 1024 * 1024
VID = re.compile(r"^[A-Za-z0-9._]{32}$")


def setup():
    global srv, s3
    srv = QuarryServer().start()
    s3 = srv.boto3_client()


def teardown():
    if srv is not None:
        srv.close()


def versioned(name, status="Enabled"):
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status})
    return name


def body(b, key, **kw):
    return s3.get_object(Bucket=b, Key=key, **kw)["Body"].read()


def versions(b, **kw):
    r = s3.list_object_versions(Bucket=b, **kw)
    return r, [(v["Key"], v["VersionId"], v["IsLatest"]) for v in r.get("Versions", [])], \
        [(d["Key"], d["VersionId"], d["IsLatest"]) for d in r.get("DeleteMarkers", [])]


def in_days(n):
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=n)


@test
def bucket_versioning_states():
    s3.create_bucket(Bucket="vstate")
    r = s3.get_bucket_versioning(Bucket="vstate")
    check("Status" not in r, f"never-versioned bucket has a status: {r}")
    s3.put_object(Bucket="vstate", Key="k", Body=b"x")
    check("VersionId" not in s3.head_object(Bucket="vstate", Key="k"),
          "a never-versioned bucket's object has a version id")
    s3.put_bucket_versioning(Bucket="vstate", VersioningConfiguration={"Status": "Enabled"})
    eq(s3.get_bucket_versioning(Bucket="vstate")["Status"], "Enabled", "status")
    s3.put_bucket_versioning(Bucket="vstate", VersioningConfiguration={"Status": "Suspended"})
    eq(s3.get_bucket_versioning(Bucket="vstate")["Status"], "Suspended", "status")
    # MFA delete needs an MFA device quarry does not have: refused, state unchanged
    expect_client_error("InvalidRequest", 400, s3.put_bucket_versioning, Bucket="vstate",
                        VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"})
    eq(s3.get_bucket_versioning(Bucket="vstate")["Status"], "Suspended", "status after MFA")
    # directory buckets have no versioning
    d = "vstate--use1-az4--x-s3"
    s3.create_bucket(Bucket=d, CreateBucketConfiguration=DIR_CFG)
    expect_client_error("NotImplemented", 501, s3.put_bucket_versioning, Bucket=d,
                        VersioningConfiguration={"Status": "Enabled"})


@test
def version_ids_on_every_write():
    b = versioned("vids")
    ids = set()
    for i in range(3):
        r = s3.put_object(Bucket=b, Key="k", Body=b"v%d" % i)
        check(VID.match(r["VersionId"]), f"bad version id {r['VersionId']!r}")
        ids.add(r["VersionId"])
    c = s3.copy_object(Bucket=b, Key="copy", CopySource={"Bucket": b, "Key": "k"})
    check(VID.match(c["VersionId"]), "copy has no version id")
    eq(c["CopySourceVersionId"] in ids, True, "copy source version id")
    ids.add(c["VersionId"])
    up = s3.create_multipart_upload(Bucket=b, Key="mp")["UploadId"]
    p = s3.upload_part(Bucket=b, Key="mp", UploadId=up, PartNumber=1, Body=b"m" * 100)
    m = s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]})
    check(VID.match(m["VersionId"]), "multipart has no version id")
    ids.add(m["VersionId"])
    # a retried completion (SDKs retry after a lost answer) names the same version
    again = s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]})
    eq((again["VersionId"], again["ETag"]), (m["VersionId"], m["ETag"]), "retried completion")
    eq(len(ids), 5, "distinct version ids")


@test
def read_and_delete_one_version():
    b = versioned("vread")
    big = os.urandom(300 * 1024)  # lives in a blob, not inline
    v1 = s3.put_object(Bucket=b, Key="k", Body=big)["VersionId"]
    v2 = s3.put_object(Bucket=b, Key="k", Body=b"second")["VersionId"]
    eq(body(b, "k"), b"second", "current")
    eq(body(b, "k", VersionId=v1), big, "old version bytes")
    h = s3.head_object(Bucket=b, Key="k", VersionId=v1)
    eq((h["ContentLength"], h["VersionId"]), (len(big), v1), "head of a version")
    eq(s3.get_object(Bucket=b, Key="k", VersionId=v1, Range="bytes=10-19")["Body"].read(),
       big[10:20], "range of a version")
    # an id of S3's form that names nothing: 404 NoSuchVersion, and it never touches k
    ghost = "A" * 32
    expect_client_error("NoSuchVersion", 404, s3.get_object, Bucket=b, Key="k", VersionId=ghost)
    r = s3.delete_object(Bucket=b, Key="k", VersionId=ghost)
    eq(r["ResponseMetadata"]["HTTPStatusCode"], 204, "delete of a missing version")
    eq(body(b, "k"), b"second", "current after deleting a missing version")
    expect_client_error("InvalidArgument", 400, s3.get_object, Bucket=b, Key="k", VersionId="abc")
    # deleting the current version makes the previous one current
    r = s3.delete_object(Bucket=b, Key="k", VersionId=v2)
    eq(r.get("VersionId"), v2, "deleted version id")
    check(not r.get("DeleteMarker"), "deleting a version is not a marker")
    eq(body(b, "k"), big, "previous version is current again")
    _, vs, _ = versions(b)
    eq(vs, [("k", v1, True)], "versions after delete")


@test
def delete_markers():
    b = versioned("vmark")
    v1 = s3.put_object(Bucket=b, Key="k", Body=b"data")["VersionId"]
    r = s3.delete_object(Bucket=b, Key="k")
    eq(r.get("DeleteMarker"), True, "x-amz-delete-marker")
    mk = r["VersionId"]
    check(VID.match(mk) and mk != v1, "marker version id")
    code, status, resp = client_error(s3.get_object, Bucket=b, Key="k")
    eq((code, status), ("NoSuchKey", 404), "get of a deleted key")
    hdrs = resp["ResponseMetadata"]["HTTPHeaders"]
    eq(hdrs.get("x-amz-delete-marker"), "true", "404 says delete marker")
    eq(hdrs.get("x-amz-version-id"), mk, "404 names the marker")
    code, status, _ = client_error(s3.get_object, Bucket=b, Key="k", VersionId=mk)
    eq((code, status), ("MethodNotAllowed", 405), "get of a marker by id")
    eq(body(b, "k", VersionId=v1), b"data", "old version survives the marker")
    check("Contents" not in s3.list_objects_v2(Bucket=b), "listing shows a deleted key")
    eq(s3.list_objects(Bucket=b).get("Contents"), None, "v1 listing shows a deleted key")
    _, vs, ms = versions(b)
    eq((vs, ms), ([("k", v1, False)], [("k", mk, True)]), "versions and markers")
    # deleting the marker undeletes
    r = s3.delete_object(Bucket=b, Key="k", VersionId=mk)
    eq(r.get("DeleteMarker"), True, "deleted a marker")
    eq(body(b, "k"), b"data", "undeleted")
    # the bucket is not empty while versions remain
    s3.delete_object(Bucket=b, Key="k")
    expect_client_error("BucketNotEmpty", 409, s3.delete_bucket, Bucket=b)


@test
def delete_current_version_among_many():
    # the next newest version (or delete marker) becomes current, whatever the count,
    # and a neighbour key's newer versions never stand in for it
    b = versioned("vmany")
    ids = []
    for i in range(300):
        ids.append(s3.put_object(Bucket=b, Key="k", Body=b"v%03d" % i)["VersionId"])
        if i % 100 == 0:
            s3.put_object(Bucket=b, Key="l", Body=b"neighbour")
    r = s3.delete_object(Bucket=b, Key="k", VersionId=ids[-1])
    eq((r.get("VersionId"), r.get("DeleteMarker")), (ids[-1], None), "current version deleted")
    g = s3.get_object(Bucket=b, Key="k")
    eq((g["VersionId"], g["Body"].read()), (ids[-2], b"v298"), "next newest is current")
    eq(body(b, "l"), b"neighbour", "neighbour untouched")
    # a marker on top, then a version deleted from above it: the marker is current again
    mk = s3.delete_object(Bucket=b, Key="k")["VersionId"]
    new = s3.put_object(Bucket=b, Key="k", Body=b"new")["VersionId"]
    s3.delete_object(Bucket=b, Key="k", VersionId=new)
    code, status, resp = client_error(s3.get_object, Bucket=b, Key="k")
    eq((code, status), ("NoSuchKey", 404), "the marker is current again")
    eq(resp["ResponseMetadata"]["HTTPHeaders"].get("x-amz-version-id"), mk, "names the marker")
    # the marker goes: the newest version is back
    r = s3.delete_object(Bucket=b, Key="k", VersionId=mk)
    eq((r.get("VersionId"), r.get("DeleteMarker")), (mk, True), "marker deleted")
    g = s3.get_object(Bucket=b, Key="k")
    eq((g["VersionId"], g["Body"].read()), (ids[-2], b"v298"), "newest version back")
    # every version listed once, newest first, in pages; exactly one is latest
    seen, kw = [], {"Bucket": b, "Prefix": "k", "MaxKeys": 70}
    while True:
        page = s3.list_object_versions(**kw)
        seen += [(v["VersionId"], v["IsLatest"]) for v in page.get("Versions", [])]
        check("DeleteMarkers" not in page, "no markers left")
        if not page["IsTruncated"]:
            break
        kw.update(KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"])
    eq(seen, [(v, v == ids[-2]) for v in reversed(ids[:-1])], "versions newest first")


@test
def list_object_versions_order_and_pages():
    b = versioned("vlist")
    want = []
    for key in ["a", "b/x", "b/y", "c"]:
        ids = [s3.put_object(Bucket=b, Key=key, Body=key.encode() * n)["VersionId"]
               for n in (1, 2)]
        want += [(key, ids[1], True), (key, ids[0], False)]
    _, vs, _ = versions(b)
    eq(vs, want, "key order, newest first")
    got, marker = [], {}
    while True:
        r = s3.list_object_versions(Bucket=b, MaxKeys=3, **marker)
        got += [(v["Key"], v["VersionId"], v["IsLatest"]) for v in r.get("Versions", [])]
        if not r["IsTruncated"]:
            break
        marker = {"KeyMarker": r["NextKeyMarker"], "VersionIdMarker": r["NextVersionIdMarker"]}
    eq(got, want, "paged listing")
    r, vs, _ = versions(b, Prefix="b/")
    eq(vs, [w for w in want if w[0].startswith("b/")], "prefix")
    r, vs, _ = versions(b, Delimiter="/")
    eq([p["Prefix"] for p in r.get("CommonPrefixes", [])], ["b/"], "common prefixes")
    eq(vs, [w for w in want if "/" not in w[0]], "delimiter")
    r = s3.list_object_versions(Bucket=b, EncodingType="url", Prefix="b/")
    eq(r.get("EncodingType"), "url", "encoding type")


@test
def suspended_bucket_null_versions():
    b = versioned("vsusp")
    v1 = s3.put_object(Bucket=b, Key="k", Body=b"one")["VersionId"]
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})
    eq(s3.put_object(Bucket=b, Key="k", Body=b"two").get("VersionId"), "null", "null version")
    eq(s3.put_object(Bucket=b, Key="k", Body=b"three").get("VersionId"), "null", "replaced")
    _, vs, _ = versions(b)
    eq(vs, [("k", "null", True), ("k", v1, False)], "null replaces null")
    eq(body(b, "k", VersionId="null"), b"three", "null version bytes")
    r = s3.delete_object(Bucket=b, Key="k")
    eq((r.get("DeleteMarker"), r.get("VersionId")), (True, "null"), "null marker")
    _, vs, ms = versions(b)
    eq((vs, ms), ([("k", v1, False)], [("k", "null", True)]), "null marker replaced null")
    eq(body(b, "k", VersionId=v1), b"one", "older version kept")


@test
def delete_objects_with_versions():
    b = versioned("vmulti")
    v1 = s3.put_object(Bucket=b, Key="a", Body=b"1")["VersionId"]
    v2 = s3.put_object(Bucket=b, Key="a", Body=b"2")["VersionId"]
    s3.put_object(Bucket=b, Key="b", Body=b"b")
    r = s3.delete_objects(Bucket=b, Delete={"Objects": [
        {"Key": "a", "VersionId": v1}, {"Key": "b"}, {"Key": "a", "VersionId": "B" * 32}]})
    got = {(d["Key"], d.get("VersionId")): d for d in r["Deleted"]}
    eq(set(got), {("a", "B" * 32), ("a", v1), ("b", None)}, "deleted entries")
    eq(got[("b", None)].get("DeleteMarker"), True, "marker for b")
    check(VID.match(got[("b", None)]["DeleteMarkerVersionId"]), "marker id for b")
    _, vs, ms = versions(b)
    eq([v[:3:2] for v in vs], [("a", True), ("b", False)], "versions left (b's under a marker)")
    eq(vs[0][1], v2, "a's current version")
    eq([m[0] for m in ms], ["b"], "markers")


@test
def copy_and_part_copy_from_a_version():
    b = versioned("vcopy")
    big = os.urandom(6 * MiB)
    v1 = s3.put_object(Bucket=b, Key="src", Body=big)["VersionId"]
    s3.put_object(Bucket=b, Key="src", Body=b"newer")
    c = s3.copy_object(Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src", "VersionId": v1})
    eq(c["CopySourceVersionId"], v1, "copy source version")
    eq(body(b, "dst"), big, "copy of the old version")
    expect_client_error("NoSuchVersion", 404, s3.copy_object, Bucket=b, Key="d2",
                        CopySource={"Bucket": b, "Key": "src", "VersionId": "C" * 32})
    up = s3.create_multipart_upload(Bucket=b, Key="mp")["UploadId"]
    p = s3.upload_part_copy(Bucket=b, Key="mp", UploadId=up, PartNumber=1,
                            CopySource={"Bucket": b, "Key": "src", "VersionId": v1},
                            CopySourceRange="bytes=0-5242879")
    eq(p["CopySourceVersionId"], v1, "part copy source version")
    q = s3.upload_part(Bucket=b, Key="mp", UploadId=up, PartNumber=2, Body=b"end")
    s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=up, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": p["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": q["ETag"]}]})
    eq(body(b, "mp"), big[:5 * MiB] + b"end", "multipart from a version")
    # blobs are shared: deleting the source version leaves the copies whole
    s3.delete_object(Bucket=b, Key="src", VersionId=v1)
    eq(body(b, "dst"), big, "copy after its source version is gone")
    eq(body(b, "mp"), big[:5 * MiB] + b"end", "part copy after its source version is gone")


@test
def tagging_per_version():
    b = versioned("vtag")
    v1 = s3.put_object(Bucket=b, Key="k", Body=b"1", Tagging="a=1")["VersionId"]
    v2 = s3.put_object(Bucket=b, Key="k", Body=b"2", Tagging="b=2")["VersionId"]
    eq(s3.get_object_tagging(Bucket=b, Key="k", VersionId=v1)["TagSet"],
       [{"Key": "a", "Value": "1"}], "v1 tags")
    s3.put_object_tagging(Bucket=b, Key="k", VersionId=v1,
                          Tagging={"TagSet": [{"Key": "z", "Value": "9"}]})
    eq(s3.get_object_tagging(Bucket=b, Key="k", VersionId=v1)["TagSet"],
       [{"Key": "z", "Value": "9"}], "v1 tags replaced")
    eq(s3.get_object_tagging(Bucket=b, Key="k")["TagSet"], [{"Key": "b", "Value": "2"}],
       "current tags untouched")
    s3.delete_object_tagging(Bucket=b, Key="k", VersionId=v1)
    eq(s3.get_object_tagging(Bucket=b, Key="k", VersionId=v1)["TagSet"], [], "v1 tags deleted")
    eq(s3.get_object_tagging(Bucket=b, Key="k", VersionId=v2)["TagSet"],
       [{"Key": "b", "Value": "2"}], "v2 tags")
    expect_client_error("NoSuchVersion", 404, s3.put_object_tagging, Bucket=b, Key="k",
                        VersionId="D" * 32, Tagging={"TagSet": []})


@test
def object_lock_configuration():
    b = "locked"
    s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    eq(s3.get_bucket_versioning(Bucket=b)["Status"], "Enabled", "lock turns versioning on")
    expect_client_error("InvalidBucketState", 409, s3.put_bucket_versioning, Bucket=b,
                        VersioningConfiguration={"Status": "Suspended"})
    r = s3.get_object_lock_configuration(Bucket=b)["ObjectLockConfiguration"]
    eq(r, {"ObjectLockEnabled": "Enabled"}, "no default retention")
    s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    r = s3.get_object_lock_configuration(Bucket=b)["ObjectLockConfiguration"]
    eq(r["Rule"]["DefaultRetention"], {"Mode": "GOVERNANCE", "Days": 1}, "default retention")
    v = s3.put_object(Bucket=b, Key="d", Body=b"x")["VersionId"]
    h = s3.head_object(Bucket=b, Key="d", VersionId=v)
    eq(h["ObjectLockMode"], "GOVERNANCE", "default mode applied")
    check(h["ObjectLockRetainUntilDate"] > in_days(0.9), "default period applied")
    expect_client_error("AccessDenied", 403, s3.delete_object, Bucket=b, Key="d", VersionId=v)
    s3.delete_object(Bucket=b, Key="d", VersionId=v, BypassGovernanceRetention=True)
    plain = "notlocked"
    s3.create_bucket(Bucket=plain)
    expect_client_error("ObjectLockConfigurationNotFoundError", 404,
                        s3.get_object_lock_configuration, Bucket=plain)
    expect_client_error("InvalidRequest", 400, s3.put_object, Bucket=plain, Key="k", Body=b"x",
                        ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=in_days(1))
    check("Contents" not in s3.list_objects_v2(Bucket=plain), "refused put stored something")
    expect_client_error("InvalidRequest", 400, s3.put_object_retention, Bucket=plain, Key="k",
                        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": in_days(1)})


@test
def retention_governance_and_compliance():
    b = "retain"
    s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    g = s3.put_object(Bucket=b, Key="g", Body=b"g", ObjectLockMode="GOVERNANCE",
                      ObjectLockRetainUntilDate=in_days(2))["VersionId"]
    c = s3.put_object(Bucket=b, Key="c", Body=b"c", ObjectLockMode="COMPLIANCE",
                      ObjectLockRetainUntilDate=in_days(2))["VersionId"]
    eq(s3.get_object_retention(Bucket=b, Key="c", VersionId=c)["Retention"]["Mode"], "COMPLIANCE",
       "retention mode")
    # a plain delete only adds a marker; the locked versions stay
    s3.delete_object(Bucket=b, Key="g")
    eq(body(b, "g", VersionId=g), b"g", "locked version after a marker")
    for bypass in (False, True):
        expect_client_error("AccessDenied", 403, s3.delete_object, Bucket=b, Key="c", VersionId=c,
                            BypassGovernanceRetention=bypass)
    r = s3.delete_objects(Bucket=b, BypassGovernanceRetention=True,
                          Delete={"Objects": [{"Key": "c", "VersionId": c}]})
    eq([e["Code"] for e in r.get("Errors", [])], ["AccessDenied"], "DeleteObjects on COMPLIANCE")
    # COMPLIANCE cannot be shortened, not even with bypass; it can be extended
    expect_client_error("AccessDenied", 403, s3.put_object_retention, Bucket=b, Key="c",
                        VersionId=c, BypassGovernanceRetention=True,
                        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": in_days(1)})
    s3.put_object_retention(Bucket=b, Key="c", VersionId=c,
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": in_days(3)})
    # GOVERNANCE: shortening needs bypass
    expect_client_error("AccessDenied", 403, s3.put_object_retention, Bucket=b, Key="g",
                        VersionId=g,
                        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": in_days(1)})
    s3.put_object_retention(Bucket=b, Key="g", VersionId=g, BypassGovernanceRetention=True,
                            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": in_days(1)})
    s3.delete_object(Bucket=b, Key="g", VersionId=g, BypassGovernanceRetention=True)
    expect_client_error("NoSuchVersion", 404, s3.get_object, Bucket=b, Key="g", VersionId=g)
    eq(body(b, "c", VersionId=c), b"c", "compliance version intact")


@test
def multipart_upload_keeps_its_lock():
    b = "mplock"
    s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    up = s3.create_multipart_upload(Bucket=b, Key="m", ObjectLockMode="COMPLIANCE",
                                    ObjectLockRetainUntilDate=in_days(1),
                                    ObjectLockLegalHoldStatus="ON")["UploadId"]
    p = s3.upload_part(Bucket=b, Key="m", UploadId=up, PartNumber=1, Body=b"part")
    v = s3.complete_multipart_upload(Bucket=b, Key="m", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]})["VersionId"]
    h = s3.head_object(Bucket=b, Key="m", VersionId=v)
    eq((h["ObjectLockMode"], h["ObjectLockLegalHoldStatus"]), ("COMPLIANCE", "ON"), "lock kept")
    expect_client_error("AccessDenied", 403, s3.delete_object, Bucket=b, Key="m", VersionId=v,
                        BypassGovernanceRetention=True)
    r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "m", "VersionId": v}]})
    eq([e["Code"] for e in r.get("Errors", [])], ["AccessDenied"], "DeleteObjects")
    eq(body(b, "m", VersionId=v), b"part", "locked multipart object")


@test
def legal_hold_blocks_deletion():
    b = "hold"
    s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    v = s3.put_object(Bucket=b, Key="k", Body=b"k", ObjectLockLegalHoldStatus="ON")["VersionId"]
    eq(s3.get_object_legal_hold(Bucket=b, Key="k", VersionId=v)["LegalHold"]["Status"], "ON",
       "legal hold")
    expect_client_error("AccessDenied", 403, s3.delete_object, Bucket=b, Key="k", VersionId=v,
                        BypassGovernanceRetention=True)
    s3.put_object_legal_hold(Bucket=b, Key="k", VersionId=v, LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=b, Key="k", VersionId=v)
    expect_client_error("NoSuchKey", 404, s3.get_object, Bucket=b, Key="k")


def user_client(actions):
    """An IAM user allowed exactly actions on everything, and an S3 client for it."""
    iam = srv.iam_client()
    name = "u" + os.urandom(4).hex()
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return srv.boto3_client(access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])


@test
def version_operations_need_their_own_permissions():
    b = versioned("vperm")
    v1 = s3.put_object(Bucket=b, Key="k", Body=b"old")["VersionId"]
    s3.put_object(Bucket=b, Key="k", Body=b"new")
    # s3:GetObject and s3:DeleteObject do not reach one named version
    u = user_client(["s3:GetObject", "s3:DeleteObject", "s3:PutObject"])
    eq(u.get_object(Bucket=b, Key="k")["Body"].read(), b"new", "current version")
    expect_client_error("AccessDenied", 403, u.get_object, Bucket=b, Key="k", VersionId=v1)
    expect_client_error("AccessDenied", 403, u.delete_object, Bucket=b, Key="k", VersionId=v1)
    expect_client_error("AccessDenied", 403, u.copy_object, Bucket=b, Key="c",
                        CopySource={"Bucket": b, "Key": "k", "VersionId": v1})
    r = u.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "k", "VersionId": v1}]})
    eq([e["Code"] for e in r.get("Errors", [])], ["AccessDenied"], "DeleteObjects of a version")
    eq(body(b, "k", VersionId=v1), b"old", "version untouched")
    v = user_client(["s3:GetObjectVersion", "s3:DeleteObjectVersion"])
    eq(v.get_object(Bucket=b, Key="k", VersionId=v1)["Body"].read(), b"old", "with GetObjectVersion")
    # bypassing GOVERNANCE needs s3:BypassGovernanceRetention as well
    lb = "vperm-locked"
    s3.create_bucket(Bucket=lb, ObjectLockEnabledForBucket=True)
    g = s3.put_object(Bucket=lb, Key="g", Body=b"g", ObjectLockMode="GOVERNANCE",
                      ObjectLockRetainUntilDate=in_days(1))["VersionId"]
    expect_client_error("AccessDenied", 403, v.delete_object, Bucket=lb, Key="g", VersionId=g,
                        BypassGovernanceRetention=True)
    eq(body(lb, "g", VersionId=g), b"g", "governance version kept")
    w = user_client(["s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"])
    w.delete_object(Bucket=lb, Key="g", VersionId=g, BypassGovernanceRetention=True)
    expect_client_error("NoSuchVersion", 404, s3.get_object, Bucket=lb, Key="g", VersionId=g)


@test
def aws_cli_versioning_and_rb_force():
    home = tempfile.mkdtemp(prefix="quarry-cli-")
    try:
        env = srv.client_env(home)

        def aws(*args, ok=True):
            r = subprocess.run(["aws", *args], env=env, capture_output=True, timeout=300)
            if (r.returncode == 0) != ok:
                raise AssertionError(f"aws {' '.join(args)} exited {r.returncode}: "
                                     f"{r.stderr.decode()[-400:]}")
            return r.stdout.decode() + r.stderr.decode()

        aws("s3api", "create-bucket", "--bucket", "clivers")
        aws("s3api", "put-bucket-versioning", "--bucket", "clivers",
            "--versioning-configuration", "Status=Enabled")
        eq(json.loads(aws("s3api", "get-bucket-versioning", "--bucket", "clivers"))["Status"],
           "Enabled", "cli versioning")
        path = os.path.join(home, "f.txt")
        for i in range(3):
            with open(path, "wb") as f:
                f.write(b"rev %d" % i)
            aws("s3", "cp", path, "s3://clivers/dir/f.txt")
        aws("s3", "rm", "s3://clivers/dir/f.txt")
        out = json.loads(aws("s3api", "list-object-versions", "--bucket", "clivers"))
        eq(len(out["Versions"]), 3, "cli versions")
        eq(len(out["DeleteMarkers"]), 1, "cli markers")
        # CLI v1's rb --force only runs `rm --recursive` (current objects), so on a
        # bucket holding versions it fails as it does against S3, and changes nothing
        err = aws("s3", "rb", "s3://clivers", "--force", ok=False)
        check("BucketNotEmpty" in err, f"rb --force on a versioned bucket: {err[-300:]}")
        # emptied through ListObjectVersions, as the S3 docs tell CLI users
        objs = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in out["Versions"] + out["DeleteMarkers"]]
        aws("s3api", "delete-objects", "--bucket", "clivers",
            "--delete", json.dumps({"Objects": objs}))
        eq(json.loads(aws("s3api", "list-object-versions", "--bucket", "clivers") or "{}")
           .get("Versions"), None, "emptied")
        aws("s3", "rb", "s3://clivers", "--force")
        expect_client_error("NoSuchBucket", 404, s3.get_bucket_versioning, Bucket="clivers")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    run(setup, teardown)
