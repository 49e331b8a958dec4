#!/usr/bin/env python3
"""test_iam.py - IAM, STS and authorization with the stock clients (boto3 and aws CLI v1).

The walkthrough's three IAM commands through the aws CLI; a read-only user
(AmazonS3ReadOnlyAccess) that reads and is denied PUT, DELETE, CreateSession ReadWrite and
IAM; AssumeRole refused by one trust policy and allowed by another, with a session policy
that narrows; a presigned URL of a user whose key is then deactivated; expired session
credentials; a bucket policy denying one prefix on both bucket types; a function whose role
cannot write the destination bucket (the walkthrough's function reports PermanentFailure,
in a job's report too); a job whose role lacks lambda:InvokeFunction; malformed policy
documents refused with the parser's reason and nothing stored; the access log naming
principal, action and decision; access key last-used saved on a timer and at a clean stop.
Each of those items has a cli_* test driving the aws CLI as well.
"""

import base64
import hashlib
import hmac
import json
import os
import sqlite3
import struct
import subprocess
import tempfile
import time
import urllib.request
import uuid

import boto3
from botocore.config import Config

from harness import check, client_error, eq, run, test
from quarry_server import DIR_CFG, REGION, QuarryServer, build_zip

ACCOUNT = "123456789012"
srv = None
iam = None
s3 = None
GP = "iam-gp"
DIR = "iamdir--use1-az4--x-s3"
TRUST_LAMBDA = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}


def setup():
    global srv, iam, s3
    srv = QuarryServer().start()
    iam = srv.iam_client()
    s3 = srv.boto3_client()
    s3.create_bucket(Bucket=GP)
    s3.create_bucket(Bucket=DIR, CreateBucketConfiguration=DIR_CFG)
    s3.put_object(Bucket=GP, Key="public/a", Body=b"public a")
    s3.put_object(Bucket=GP, Key="secret/b", Body=b"secret b")
    s3.put_object(Bucket=DIR, Key="public/a", Body=b"dir public a")
    s3.put_object(Bucket=DIR, Key="secret/b", Body=b"dir secret b")


def teardown():
    if srv is not None:
        srv.close()


def client(service, key, **kw):
    cfg = Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"},
                 **kw.pop("config", {}))
    return boto3.client(service, endpoint_url=srv.endpoint, region_name=REGION,
                        aws_access_key_id=key["AccessKeyId"],
                        aws_secret_access_key=key["SecretAccessKey"],
                        aws_session_token=key.get("SessionToken"), config=cfg)


def new_user(policy_arns=(), inline=None):
    name = f"u-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    for arn in policy_arns:
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    if inline:
        iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=json.dumps(inline))
    return name, iam.create_access_key(UserName=name)["AccessKey"]


def aws(*args, key=None, cwd=None, endpoint=None):
    home = tempfile.mkdtemp(prefix="quarry-iam-cli-")
    env = srv.client_env(home)
    if key:
        env["AWS_ACCESS_KEY_ID"] = key["AccessKeyId"]
        env["AWS_SECRET_ACCESS_KEY"] = key["SecretAccessKey"]
        if key.get("SessionToken"):
            env["AWS_SESSION_TOKEN"] = key["SessionToken"]
    p = subprocess.run(["aws", "--endpoint-url", endpoint or srv.endpoint, *args], env=env,
                       cwd=cwd, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def write_json(d, name, doc):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(doc if isinstance(doc, str) else json.dumps(doc))
    return f"file://{path}"


# ---- the walkthrough ----

@test
def walkthrough_iam_commands_cli():
    d = tempfile.mkdtemp(prefix="quarry-walk-")
    with open(os.path.join(d, "trust-policy.json"), "w") as f:
        json.dump(TRUST_LAMBDA, f)
    express = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["s3express:CreateSession"],
        "Resource": f"arn:aws:s3express:{REGION}:{ACCOUNT}:bucket/{DIR}"}]}
    with open(os.path.join(d, "s3express-policy-for-lambda.json"), "w") as f:
        json.dump(express, f)
    rc, out, err = aws("iam", "create-role", "--role-name", "lambda-ex",
                       "--assume-role-policy-document", "file://trust-policy.json", cwd=d)
    eq(rc, 0, f"create-role: {err}")
    role = json.loads(out)["Role"]
    eq(role["Arn"], f"arn:aws:iam::{ACCOUNT}:role/lambda-ex", "role ARN")
    check(role["RoleId"].startswith("AROA") and len(role["RoleId"]) == 21, role["RoleId"])
    rc, out, err = aws("iam", "attach-role-policy", "--role-name", "lambda-ex", "--policy-arn",
                       "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole", cwd=d)
    eq(rc, 0, f"attach-role-policy: {err}")
    rc, out, err = aws("iam", "put-role-policy", "--role-name", "lambda-ex", "--policy-name",
                       "s3express-policy-for-lambda", "--policy-document",
                       "file://s3express-policy-for-lambda.json", cwd=d)
    eq(rc, 0, f"put-role-policy: {err}")
    got = iam.get_role(RoleName="lambda-ex")["Role"]
    eq(got["AssumeRolePolicyDocument"], TRUST_LAMBDA, "trust policy round trip")
    att = iam.list_attached_role_policies(RoleName="lambda-ex")["AttachedPolicies"]
    eq([a["PolicyName"] for a in att], ["AWSLambdaBasicExecutionRole"], "attached")
    eq(iam.get_role_policy(RoleName="lambda-ex", PolicyName="s3express-policy-for-lambda")
       ["PolicyDocument"], express, "inline policy round trip")
    rc, _, err = aws("iam", "create-role", "--role-name", "lambda-ex",
                     "--assume-role-policy-document", "file://trust-policy.json", cwd=d)
    check(rc != 0 and "EntityAlreadyExists" in err, f"second create-role: {err}")


# ---- a read-only user ----

@test
def read_only_user():
    name, key = new_user(["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"])
    c = client("s3", key)
    eq(c.get_object(Bucket=GP, Key="public/a")["Body"].read(), b"public a", "GET allowed")
    eq([o["Key"] for o in c.list_objects_v2(Bucket=GP)["Contents"]], ["public/a", "secret/b"],
       "LIST allowed")
    code, st, r = client_error(c.put_object, Bucket=GP, Key="new", Body=b"x")
    eq((code, st), ("AccessDenied", 403), "PUT denied")
    msg = r["Error"]["Message"]
    eq(msg, f"User: arn:aws:iam::{ACCOUNT}:user/{name} is not authorized to perform: "
            f"s3:PutObject on resource: arn:aws:s3:::{GP}/new because no identity-based policy "
            f"allows the s3:PutObject action", "AWS's message")
    code, st, _ = client_error(c.delete_object, Bucket=GP, Key="public/a")
    eq((code, st), ("AccessDenied", 403), "DELETE denied")
    code, st, _ = client_error(c.create_session, Bucket=DIR, SessionMode="ReadWrite")
    eq((code, st), ("AccessDenied", 403), "CreateSession ReadWrite denied")
    code, st, _ = client_error(client("iam", key).create_user, UserName="evil")
    eq((code, st), ("AccessDenied", 403), "CreateUser denied")
    code, _, _ = client_error(iam.get_user, UserName="evil")
    eq(code, "NoSuchEntity", "no user was created")
    code, _, _ = client_error(iam.create_user, UserName=name.upper())
    eq(code, "EntityAlreadyExists", "names are unique regardless of case")
    eq(s3.get_object(Bucket=GP, Key="public/a")["Body"].read(), b"public a", "object intact")
    who = client("sts", key).get_caller_identity()
    eq(who["Arn"], f"arn:aws:iam::{ACCOUNT}:user/{name}", "GetCallerIdentity")
    # the access log names principal, action and decision
    log = open(srv.log_path, "rb").read().decode(errors="replace")
    check(f"arn:aws:iam::{ACCOUNT}:user/{name} s3:PutObject ImplicitDeny" in log,
          "access log line of the denied PUT")


@test
def cli_user_denied():
    name, key = new_user(["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"])
    rc, out, err = aws("s3api", "get-object", "--bucket", GP, "--key", "public/a",
                       os.path.join(tempfile.mkdtemp(), "o"), key=key)
    eq(rc, 0, f"aws s3api get-object as the read-only user: {err}")
    rc, out, err = aws("s3api", "delete-object", "--bucket", GP, "--key", "public/a", key=key)
    check(rc != 0 and "AccessDenied" in err, f"delete-object: {err}")
    d = tempfile.mkdtemp(prefix="quarry-cli-put-")
    with open(os.path.join(d, "body"), "wb") as f:
        f.write(b"cli")
    rc, out, err = aws("s3api", "put-object", "--bucket", GP, "--key", "cli-new", "--body",
                       os.path.join(d, "body"), key=key)
    check(rc != 0 and "AccessDenied" in err and "s3:PutObject" in err, f"put-object: {err}")
    rc, out, err = aws("s3api", "create-session", "--bucket", DIR, "--session-mode", "ReadWrite",
                       key=key)
    check(rc != 0 and "AccessDenied" in err, f"create-session ReadWrite: {err}")
    code, _, _ = client_error(s3.head_object, Bucket=GP, Key="cli-new")
    check(code in ("404", "NoSuchKey"), "nothing written")
    eq(s3.get_object(Bucket=GP, Key="public/a")["Body"].read(), b"public a", "nothing deleted")


# ---- AssumeRole ----

@test
def assume_role_trust():
    name, key = new_user(inline={"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    iam.create_role(RoleName="only-lambda", AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))
    iam.create_role(RoleName="reader", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                                               "Principal": {"AWS": user_arn},
                                               "Action": "sts:AssumeRole"}]}),
                    MaxSessionDuration=7200)
    iam.attach_role_policy(RoleName="reader",
                           PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    sts = client("sts", key)
    code, st, _ = client_error(sts.assume_role, RoleArn=f"arn:aws:iam::{ACCOUNT}:role/only-lambda",
                               RoleSessionName="s1")
    eq((code, st), ("AccessDenied", 403), "trust policy refuses")
    iam.tag_role(RoleName="reader", Tags=[{"Key": "team", "Value": "a"}, {"Key": "x", "Value": "1"}])
    iam.untag_role(RoleName="reader", TagKeys=["x"])
    eq(iam.list_role_tags(RoleName="reader")["Tags"], [{"Key": "team", "Value": "a"}], "tags")
    iam.update_role(RoleName="reader", MaxSessionDuration=7200, Description="reads")
    eq(iam.get_role(RoleName="reader")["Role"]["MaxSessionDuration"], 7200, "UpdateRole")
    code, st, _ = client_error(sts.assume_role, RoleArn=f"arn:aws:iam::{ACCOUNT}:role/reader",
                               RoleSessionName="s1", DurationSeconds=7201)
    eq((code, st), ("ValidationError", 400), "beyond MaxSessionDuration")
    r = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/reader", RoleSessionName="s1",
                        DurationSeconds=900)
    creds = r["Credentials"]
    check(creds["AccessKeyId"].startswith("ASIA"), creds["AccessKeyId"])
    eq(r["AssumedRoleUser"]["Arn"], f"arn:aws:sts::{ACCOUNT}:assumed-role/reader/s1", "ARN")
    sess = client("s3", creds)
    eq(sess.get_object(Bucket=GP, Key="public/a")["Body"].read(), b"public a", "role reads")
    code, _, _ = client_error(sess.put_object, Bucket=GP, Key="x", Body=b"x")
    eq(code, "AccessDenied", "role cannot write")
    who = client("sts", creds).get_caller_identity()
    eq(who["Arn"], f"arn:aws:sts::{ACCOUNT}:assumed-role/reader/s1", "caller identity")
    check(who["UserId"].endswith(":s1") and who["UserId"].startswith("AROA"), who["UserId"])
    # a session policy narrows: only public/*
    narrow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                      "Resource": f"arn:aws:s3:::{GP}/public/*"}]}
    r = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/reader", RoleSessionName="narrow",
                        Policy=json.dumps(narrow))
    check(0 < r["PackedPolicySize"] <= 100, f"PackedPolicySize {r.get('PackedPolicySize')}")
    n = client("s3", r["Credentials"])
    eq(n.get_object(Bucket=GP, Key="public/a")["Body"].read(), b"public a", "narrowed reads public")
    code, _, _ = client_error(n.get_object, Bucket=GP, Key="secret/b")
    eq(code, "AccessDenied", "session policy narrows")
    # a session policy never widens
    wide = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*",
                                                    "Resource": "*"}]}
    r = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/reader", RoleSessionName="wide",
                        Policy=json.dumps(wide))
    code, _, _ = client_error(client("s3", r["Credentials"]).put_object, Bucket=GP, Key="w",
                              Body=b"w")
    eq(code, "AccessDenied", "session policy does not widen")
    # a managed policy as session policy (PolicyArns) narrows the same way
    arn = iam.create_policy(PolicyName="public-only", PolicyDocument=json.dumps(narrow))["Policy"]["Arn"]
    r = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/reader", RoleSessionName="arns",
                        PolicyArns=[{"arn": arn}])
    m = client("s3", r["Credentials"])
    eq(m.get_object(Bucket=GP, Key="public/a")["Body"].read(), b"public a", "PolicyArns allow")
    code, _, _ = client_error(m.get_object, Bucket=GP, Key="secret/b")
    eq(code, "AccessDenied", "PolicyArns narrow")
    code, _, _ = client_error(sts.assume_role, RoleArn=f"arn:aws:iam::{ACCOUNT}:role/reader",
                              RoleSessionName="arns",
                              PolicyArns=[{"arn": f"arn:aws:iam::{ACCOUNT}:policy/missing"}])
    eq(code, "MalformedPolicyDocument", "an unknown PolicyArn")
    # presigned URL with session credentials
    url = client("s3", creds, config={"signature_version": "s3v4"}).generate_presigned_url(
        "get_object", Params={"Bucket": GP, "Key": "public/a"})
    eq(urllib.request.urlopen(url).read(), b"public a", "presigned URL with STS credentials")


@test
def external_id_condition():
    iam.create_role(RoleName="ext", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "s3cr3t"}}}]}))
    sts = srv.sts_client()
    code, _, _ = client_error(sts.assume_role, RoleArn=f"arn:aws:iam::{ACCOUNT}:role/ext",
                              RoleSessionName="ext-s", ExternalId="wrong")
    eq(code, "AccessDenied", "wrong external id")
    sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/ext", RoleSessionName="ext-s",
                    ExternalId="s3cr3t")
    code, _, _ = client_error(sts.assume_role, RoleArn=f"arn:aws:iam::{ACCOUNT}:role/ext",
                              RoleSessionName="ext-s")
    eq(code, "AccessDenied", "no external id")


@test
def cli_assume_role_trust():
    name, key = new_user(inline={"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})
    iam.create_role(RoleName="cli-only-lambda",
                    AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))
    iam.create_role(RoleName="cli-reader", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/{name}"},
            "Action": "sts:AssumeRole"}]}))
    iam.attach_role_policy(RoleName="cli-reader",
                           PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    rc, out, err = aws("sts", "assume-role", "--role-arn",
                       f"arn:aws:iam::{ACCOUNT}:role/cli-only-lambda", "--role-session-name",
                       "cli", key=key)
    check(rc != 0 and "AccessDenied" in err, f"assume-role refused by the trust policy: {err}")
    rc, out, err = aws("sts", "assume-role", "--role-arn",
                       f"arn:aws:iam::{ACCOUNT}:role/cli-reader", "--role-session-name", "cli",
                       key=key)
    eq(rc, 0, f"assume-role allowed by the trust policy: {err}")
    r = json.loads(out)
    eq(r["AssumedRoleUser"]["Arn"], f"arn:aws:sts::{ACCOUNT}:assumed-role/cli-reader/cli", "ARN")
    rc, out, err = aws("sts", "get-caller-identity", key=r["Credentials"])
    eq((rc, json.loads(out)["Arn"] if rc == 0 else err),
       (0, f"arn:aws:sts::{ACCOUNT}:assumed-role/cli-reader/cli"), "the session's identity")
    rc, out, err = aws("s3api", "delete-object", "--bucket", GP, "--key", "public/a",
                       key=r["Credentials"])
    check(rc != 0 and "AccessDenied" in err, f"the read-only role cannot delete: {err}")


# ---- keys ----

def refused_as_inactive(url):
    """A presigned URL of an Inactive key: 403 InvalidAccessKeyId."""
    try:
        urllib.request.urlopen(url)
        check(False, "URL of an Inactive key still works")
    except urllib.error.HTTPError as e:
        eq(e.code, 403, "status")
        check(b"InvalidAccessKeyId" in e.read(), "InvalidAccessKeyId")


@test
def presigned_url_of_deactivated_key():
    name, key = new_user(["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"])
    url = client("s3", key, config={"signature_version": "s3v4"}).generate_presigned_url(
        "get_object", Params={"Bucket": GP, "Key": "public/a"}, ExpiresIn=600)
    eq(urllib.request.urlopen(url).read(), b"public a", "works while Active")
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    refused_as_inactive(url)
    keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    eq([k["Status"] for k in keys], ["Inactive"], "listed Inactive")
    check("SecretAccessKey" not in keys[0], "secret never listed")
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Active")
    eq(urllib.request.urlopen(url).read(), b"public a", "Active again")
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    code, _, _ = client_error(client("s3", key).get_object, Bucket=GP, Key="public/a")
    eq(code, "InvalidAccessKeyId", "deleted key")
    code, _, _ = client_error(iam.delete_user, UserName=name)
    eq(code, "DeleteConflict", "attached policy blocks DeleteUser")


@test
def cli_presigned_url_of_deactivated_key():
    name, key = new_user(["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"])
    rc, out, err = aws("s3", "presign", f"s3://{GP}/public/a", "--expires-in", "600", key=key)
    eq(rc, 0, f"aws s3 presign: {err}")
    url = out.strip()
    eq(urllib.request.urlopen(url).read(), b"public a", "works while Active")
    rc, out, err = aws("iam", "update-access-key", "--user-name", name, "--access-key-id",
                       key["AccessKeyId"], "--status", "Inactive")
    eq(rc, 0, f"aws iam update-access-key: {err}")
    refused_as_inactive(url)


def _forge_user_session(user_arn, expires_ms):
    """Session credentials exactly as GetSessionToken mints them, with a chosen expiry
    (the server's own key): the only way to hold credentials that expire within a test."""
    with open(os.path.join(srv.data, "keys", "server.key"), "rb") as f:
        key = f.read()
    mac = lambda k, a, b: hmac.new(k, a + b"\0" + b, hashlib.sha256).digest()  # noqa: E731
    k_akid, k_token = mac(key, b"quarry creds akid", b"v1"), mac(key, b"quarry creds token", b"v1")
    k_secret = mac(key, b"quarry creds secret", b"v1")
    raw = bytes([2, 4, 0]) + struct.pack(">q", expires_ms) + os.urandom(4)
    raw += mac(k_akid, raw, b"akid")[:10]
    akid = "ASIA" + base64.b32encode(raw).decode().rstrip("=")
    pr = user_arn.encode()
    payload = struct.pack(">q", int(time.time() * 1000)) + b"\0" + struct.pack(">H", len(pr)) + pr \
        + struct.pack(">H", 0)
    b64 = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")  # noqa: E731
    return {"AccessKeyId": akid,
            "SecretAccessKey": base64.b64encode(mac(k_secret, akid.encode(), payload)[:30]).decode(),
            "SessionToken": b64(payload) + "." + b64(mac(k_token, akid.encode(), payload))}


@test
def expired_session_credentials():
    name, key = new_user(["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"])
    tok = client("sts", key).get_session_token(DurationSeconds=900)["Credentials"]
    eq(client("s3", tok).get_object(Bucket=GP, Key="public/a")["Body"].read(), b"public a",
       "GetSessionToken credentials work")
    code, _, _ = client_error(client("iam", tok).get_user, UserName=name)
    eq(code, "AccessDenied", "no IAM with GetSessionToken credentials (no MFA)")
    creds = _forge_user_session(f"arn:aws:iam::{ACCOUNT}:user/{name}",
                                int(time.time() * 1000) + 1500)
    c = client("s3", creds)
    eq(c.get_object(Bucket=GP, Key="public/a")["Body"].read(), b"public a", "before expiry")
    time.sleep(max(0.0, 1.6 - 0))  # the credentials' lifetime, not a synchronisation
    code, st, _ = client_error(c.get_object, Bucket=GP, Key="public/a")
    eq((code, st), ("ExpiredToken", 400), "after expiry (S3)")
    code, st, _ = client_error(client("sts", creds).get_caller_identity)
    eq((code, st), ("ExpiredToken", 403), "after expiry (STS)")


@test
def cli_expired_session_credentials():
    name, key = new_user(["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"])
    creds = _forge_user_session(f"arn:aws:iam::{ACCOUNT}:user/{name}",
                                int(time.time() * 1000) - 1000)  # expired a second ago
    out = os.path.join(tempfile.mkdtemp(), "o")
    rc, _, err = aws("s3api", "get-object", "--bucket", GP, "--key", "public/a", out, key=creds)
    check(rc != 0 and "ExpiredToken" in err, f"get-object with expired credentials: {err}")
    check(not os.path.exists(out), "nothing downloaded")
    rc, _, err = aws("sts", "get-caller-identity", key=creds)
    check(rc != 0 and "ExpiredToken" in err, f"get-caller-identity: {err}")


# ---- bucket policies ----

def _deny_prefix(bucket, directory):
    if directory:
        return {"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Principal": "*", "Action": "s3express:CreateSession",
            "Resource": f"arn:aws:s3express:{REGION}:{ACCOUNT}:bucket/{bucket}",
            "Condition": {"StringEquals": {"s3express:SessionMode": "ReadWrite"}}}]}
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": f"arn:aws:s3:::{bucket}/secret/*"}]}


@test
def bucket_policy_denies_prefix():
    name, key = new_user(["arn:aws:iam::aws:policy/AmazonS3FullAccess"], inline={
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                                               "Action": "s3express:CreateSession",
                                               "Resource": "*"}]})
    c = client("s3", key)
    code, _, _ = client_error(s3.get_bucket_policy, Bucket=GP)
    eq(code, "NoSuchBucketPolicy", "none yet")
    pol = _deny_prefix(GP, False)
    s3.put_bucket_policy(Bucket=GP, Policy=json.dumps(pol))
    eq(json.loads(s3.get_bucket_policy(Bucket=GP)["Policy"]), pol, "GetBucketPolicy")
    eq(c.get_object(Bucket=GP, Key="public/a")["Body"].read(), b"public a", "other prefix")
    code, _, r = client_error(c.get_object, Bucket=GP, Key="secret/b")
    eq(code, "AccessDenied", "denied prefix")
    check("explicit deny in a resource-based policy" in r["Error"]["Message"], r["Error"]["Message"])
    code, _, _ = client_error(c.put_object, Bucket=GP, Key="secret/new", Body=b"x")
    eq(code, "AccessDenied", "denied prefix PUT")
    code, _, _ = client_error(s3.get_object, Bucket=GP, Key="secret/b")
    eq(code, "AccessDenied", "an explicit deny binds root too")
    code, _, _ = client_error(s3.put_bucket_policy, Bucket=GP, Policy='{"Version":"2012-10-17"}')
    eq(code, "MalformedPolicy", "malformed bucket policy")
    s3.delete_bucket_policy(Bucket=GP)
    eq(c.get_object(Bucket=GP, Key="secret/b")["Body"].read(), b"secret b", "policy deleted")
    # directory bucket: a policy denying ReadWrite sessions
    dpol = _deny_prefix(DIR, True)
    s3.put_bucket_policy(Bucket=DIR, Policy=json.dumps(dpol))
    eq(json.loads(s3.get_bucket_policy(Bucket=DIR)["Policy"]), dpol, "directory GetBucketPolicy")
    code, _, _ = client_error(c.create_session, Bucket=DIR, SessionMode="ReadWrite")
    eq(code, "AccessDenied", "ReadWrite session denied by the bucket policy")
    c.create_session(Bucket=DIR, SessionMode="ReadOnly")
    s3.delete_bucket_policy(Bucket=DIR)
    c.create_session(Bucket=DIR, SessionMode="ReadWrite")


@test
def cli_bucket_policy_denies_prefix():
    b = f"cli-bp-{uuid.uuid4().hex[:6]}"
    s3.create_bucket(Bucket=b)
    s3.put_object(Bucket=b, Key="public/a", Body=b"public a")
    s3.put_object(Bucket=b, Key="secret/b", Body=b"secret b")
    name, key = new_user(["arn:aws:iam::aws:policy/AmazonS3FullAccess"])
    d = tempfile.mkdtemp(prefix="quarry-cli-bp-")
    rc, _, err = aws("s3api", "put-bucket-policy", "--bucket", b, "--policy",
                     write_json(d, "policy.json", _deny_prefix(b, False)))
    eq(rc, 0, f"put-bucket-policy: {err}")
    rc, _, err = aws("s3api", "get-object", "--bucket", b, "--key", "public/a",
                     os.path.join(d, "a"), key=key)
    eq(rc, 0, f"another prefix: {err}")
    rc, _, err = aws("s3api", "get-object", "--bucket", b, "--key", "secret/b",
                     os.path.join(d, "b"), key=key)
    check(rc != 0 and "AccessDenied" in err and "explicit deny" in err, f"denied prefix: {err}")
    rc, _, err = aws("s3api", "delete-object", "--bucket", b, "--key", "secret/b", key=key)
    check(rc != 0 and "AccessDenied" in err, f"denied prefix delete: {err}")
    eq(s3.list_objects_v2(Bucket=b)["KeyCount"], 2, "nothing deleted")


@test
def root_escapes_a_lockout_bucket_policy():
    # A bucket policy that denies everything to everyone: root still reads, replaces and
    # deletes it (AWS's lock-out escape), and nothing else.
    for bucket, vendor in ((GP, "s3"), (DIR, "s3express")):
        res = (f"arn:aws:s3:::{bucket}" if vendor == "s3"
               else f"arn:aws:s3express:{REGION}:{ACCOUNT}:bucket/{bucket}")
        pol = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Principal": "*", "Action": f"{vendor}:*",
            "Resource": [res, res + "/*"] if vendor == "s3" else res}]}
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(pol))
        if vendor == "s3":
            code, _, _ = client_error(s3.get_object, Bucket=bucket, Key="public/a")
        else:
            code, _, _ = client_error(s3.create_session, Bucket=bucket)
        eq(code, "AccessDenied", f"{vendor}: the policy denies root the data")
        eq(json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]), pol,
           f"{vendor}: root reads the policy")
        pol2 = dict(pol, Id="replaced")
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(pol2))
        eq(json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]), pol2,
           f"{vendor}: root replaces it")
        name, key = new_user(["arn:aws:iam::aws:policy/AmazonS3FullAccess",
                              "arn:aws:iam::aws:policy/AmazonS3ExpressFullAccess"])
        code, _, _ = client_error(client("s3", key).delete_bucket_policy, Bucket=bucket)
        eq(code, "AccessDenied", f"{vendor}: a user is still locked out")
        s3.delete_bucket_policy(Bucket=bucket)
        code, _, _ = client_error(s3.get_bucket_policy, Bucket=bucket)
        eq(code, "NoSuchBucketPolicy", f"{vendor}: root deleted it")


@test
def list_directory_buckets_action():
    both = {"ListAllMyBuckets": "s3:ListAllMyBuckets",
            "ListAllMyDirectoryBuckets": "s3express:ListAllMyDirectoryBuckets"}
    for allowed, action in both.items():
        name, key = new_user(inline={"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": action, "Resource": "*"}]})
        c = client("s3", key)
        if allowed == "ListAllMyBuckets":
            check(GP in [b["Name"] for b in c.list_buckets()["Buckets"]], "ListBuckets allowed")
            code, _, r = client_error(c.list_directory_buckets)
            eq(code, "AccessDenied", "ListDirectoryBuckets needs its own action")
            check("s3express:ListAllMyDirectoryBuckets" in r["Error"]["Message"],
                  r["Error"]["Message"])
        else:
            eq([b["Name"] for b in c.list_directory_buckets()["Buckets"]], [DIR],
               "ListDirectoryBuckets allowed")
            code, _, r = client_error(c.list_buckets)
            eq(code, "AccessDenied", "ListBuckets needs s3:ListAllMyBuckets")
            check("s3:ListAllMyBuckets" in r["Error"]["Message"], r["Error"]["Message"])


@test
def delete_objects_decided_per_key():
    name, key = new_user(inline={"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::{GP}/tmp/*"}]})
    s3.put_object(Bucket=GP, Key="tmp/x", Body=b"x")
    r = client("s3", key).delete_objects(Bucket=GP, Delete={"Objects": [
        {"Key": "tmp/x"}, {"Key": "secret/b"}]})
    eq([d["Key"] for d in r.get("Deleted", [])], ["tmp/x"], "allowed key deleted")
    eq([(e["Key"], e["Code"]) for e in r.get("Errors", [])], [("secret/b", "AccessDenied")],
       "denied key reported")
    eq(s3.get_object(Bucket=GP, Key="secret/b")["Body"].read(), b"secret b", "denied key kept")


# ---- functions act as their role ----

FN_SRC = """
import boto3
def handler(event, context):
    boto3.client("s3").copy_object(Bucket=event["dst"], Key="copied",
                                   CopySource={"Bucket": event["src"], "Key": "public/a"})
    return "copied"
"""


@test
def function_role_cannot_write_destination():
    dst = "iam-dst"
    s3.create_bucket(Bucket=dst)
    iam.create_role(RoleName="fn-reader", AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))
    iam.attach_role_policy(RoleName="fn-reader",
                           PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    lam = srv.lambda_client()
    code, _, _ = client_error(lam.create_function, FunctionName="no-role", Runtime="python3.11",
                              Role=f"arn:aws:iam::{ACCOUNT}:role/missing", Handler="f.handler",
                              Code={"ZipFile": build_zip({"f.py": FN_SRC})})
    eq(code, "InvalidParameterValueException", "a role that does not exist")
    name = f"copier-{uuid.uuid4().hex[:6]}"
    lam.create_function(FunctionName=name, Runtime="python3.11",
                        Role=f"arn:aws:iam::{ACCOUNT}:role/fn-reader", Handler="f.handler",
                        Code={"ZipFile": build_zip({"f.py": FN_SRC})}, Timeout=30)
    lam.get_waiter("function_active_v2").wait(FunctionName=name,
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    r = lam.invoke(FunctionName=name, Payload=json.dumps({"src": GP, "dst": dst}).encode())
    body = json.loads(r["Payload"].read())
    eq(r.get("FunctionError"), "Unhandled", f"function error {body}")
    check("AccessDenied" in json.dumps(body), f"the copy was denied: {body}")
    code, _, _ = client_error(s3.head_object, Bucket=dst, Key="copied")
    check(code in ("404", "NoSuchKey"), "nothing copied")
    # granting the role write access makes the same function succeed
    iam.put_role_policy(RoleName="fn-reader", PolicyName="write-dst", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject",
                                               "Resource": f"arn:aws:s3:::{dst}/*"}]}))
    r = lam.invoke(FunctionName=name, Payload=json.dumps({"src": GP, "dst": dst}).encode())
    eq(json.loads(r["Payload"].read()), "copied", "allowed after the role changed")
    # a function whose role is deleted fails, as on AWS: its credentials act for nobody
    iam.delete_role_policy(RoleName="fn-reader", PolicyName="write-dst")
    iam.detach_role_policy(RoleName="fn-reader",
                           PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    iam.delete_role(RoleName="fn-reader")
    r = lam.invoke(FunctionName=name, Payload=json.dumps({"src": GP, "dst": dst}).encode())
    body = json.loads(r["Payload"].read())
    check(r.get("FunctionError") and "AccessDenied" in json.dumps(body), f"role deleted: {body}")
    lam.delete_function(FunctionName=name)


WALKTHROUGH_FN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lambda_fixtures",
                              "batch_walkthrough", "lambda_function.py")
TRUST_BATCH = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "batchoperations.s3.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}


def _role(name, trust, statements):
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": statements}))
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def _walkthrough_function(role_arn):
    """AWS's walkthrough function (copies each task's object to MyDestinationBucket and
    reports a resultCode per task), running as role_arn."""
    lam = srv.lambda_client()
    name = f"s3batchops-function-{uuid.uuid4().hex[:6]}"
    with open(WALKTHROUGH_FN, "rb") as f:
        code = build_zip({"lambda_function.py": f.read()})
    arn = lam.create_function(FunctionName=name, Runtime="python3.11", Role=role_arn,
                              Handler="lambda_function.lambda_handler", Timeout=30,
                              Code={"ZipFile": code})["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name,
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return name, arn


def _copy_denied_setup():
    """A source bucket with one object, an empty destination, and the walkthrough function
    whose role may read the source and nothing else."""
    src, dst = f"wt-src-{uuid.uuid4().hex[:6]}", f"wt-dst-{uuid.uuid4().hex[:6]}"
    s3.create_bucket(Bucket=src)
    s3.create_bucket(Bucket=dst)
    s3.put_object(Bucket=src, Key="photo.jpg", Body=b"jpeg")
    role_name = f"wt-readonly-{uuid.uuid4().hex[:6]}"
    role_arn = _role(role_name, TRUST_LAMBDA, [{"Effect": "Allow", "Action": "s3:GetObject",
                                                "Resource": f"arn:aws:s3:::{src}/*"}])
    fn, fn_arn = _walkthrough_function(role_arn)
    return src, dst, role_name, fn, fn_arn


def _denied_copy_message(role_name, fn, dst, key):
    return (f"AccessDenied: User: arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{fn} is not "
            f"authorized to perform: s3:PutObject on resource: arn:aws:s3:::{dst}/{key} because "
            f"no identity-based policy allows the s3:PutObject action")


def _control(key=None):
    return boto3.client("s3control", endpoint_url=srv.control_endpoint,
                        region_name=REGION, aws_access_key_id=srv.access_key,
                        aws_secret_access_key=srv.secret_key,
                        config=Config(retries={"total_max_attempts": 1}))


def _job_request(src, man, etag, fn_arn, dst, rep, role_arn):
    return {
        "AccountId": ACCOUNT, "ConfirmationRequired": False, "Priority": 10,
        "RoleArn": role_arn, "ClientRequestToken": str(uuid.uuid4()),
        "Operation": {"LambdaInvoke": {
            "FunctionArn": fn_arn, "InvocationSchemaVersion": "2.0",
            "UserArguments": {"MyDestinationBucket": dst, "MyDestinationBucketRegion": REGION,
                              "MyDestinationPrefix": "copied/",
                              "MyDestinationObjectKeySuffix": "_new"}}},
        "Manifest": {"Spec": {"Format": "S3BatchOperations_CSV_20180820",
                              "Fields": ["Bucket", "Key"]},
                     "Location": {"ObjectArn": f"arn:aws:s3:::{man}/m.csv", "ETag": etag}},
        "Report": {"Bucket": f"arn:aws:s3:::{rep}", "Format": "Report_CSV_20180820",
                   "Enabled": True, "Prefix": "r", "ReportScope": "AllTasks"},
    }


def _job_buckets(src):
    man, rep = f"wt-man-{uuid.uuid4().hex[:6]}", f"wt-rep-{uuid.uuid4().hex[:6]}"
    s3.create_bucket(Bucket=man)
    s3.create_bucket(Bucket=rep)
    etag = s3.put_object(Bucket=man, Key="m.csv", Body=f"{src},photo.jpg\n".encode())["ETag"]
    return man, rep, etag


def _wait_job(ctl, jid):
    end = time.monotonic() + 120
    while True:
        job = ctl.describe_job(AccountId=ACCOUNT, JobId=jid)["Job"]
        if job["Status"] in ("Complete", "Failed", "Cancelled"):
            return job
        check(time.monotonic() < end, f"job {jid} still {job['Status']}")
        time.sleep(0.05)  # polling the job's observable state, with a deadline


def _failed_rows(rep, jid):
    import csv
    import io
    m = json.loads(s3.get_object(Bucket=rep, Key=f"r/job-{jid}/manifest.json")["Body"].read())
    rows = []
    for r in m["Results"]:
        if r["TaskExecutionStatus"] == "failed":
            data = s3.get_object(Bucket=rep, Key=r["Key"])["Body"].read().decode()
            rows += list(csv.reader(io.StringIO(data)))
    return rows


@test
def walkthrough_function_reports_permanent_failure():
    # The function's role cannot write the destination: its CopyObject gets AccessDenied,
    # which the walkthrough's function reports as PermanentFailure, and the job's report
    # carries it; nothing is written.
    src, dst, role_name, fn, fn_arn = _copy_denied_setup()
    man, rep, etag = _job_buckets(src)
    job_role = _role(f"wt-job-{uuid.uuid4().hex[:6]}", TRUST_BATCH, [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": fn_arn},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{man}/*"},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{rep}/*"}])
    ctl = _control()
    jid = ctl.create_job(**_job_request(src, man, etag, fn_arn, dst, rep, job_role))["JobId"]
    job = _wait_job(ctl, jid)
    eq((job["Status"], job["ProgressSummary"]["NumberOfTasksFailed"]), ("Complete", 1), "job")
    rows = _failed_rows(rep, jid)
    eq(len(rows), 1, f"one failed row: {rows}")
    eq((rows[0][1], rows[0][5]), ("photo.jpg", "PermanentFailure"), f"row {rows[0]}")
    eq(rows[0][6], _denied_copy_message(role_name, fn, dst, "copied/photo.jpg_new"),
       "the function's AccessDenied, as it reported it")
    eq(s3.list_objects_v2(Bucket=dst)["KeyCount"], 0, "nothing written")


@test
def cli_walkthrough_function_reports_permanent_failure():
    src, dst, role_name, fn, fn_arn = _copy_denied_setup()
    event = {"invocationSchemaVersion": "2.0", "invocationId": "cli-inv",
             "job": {"id": "cli-job", "userArguments": {
                 "MyDestinationBucket": dst, "MyDestinationBucketRegion": REGION,
                 "MyDestinationPrefix": "copied/", "MyDestinationObjectKeySuffix": "_new"}},
             "tasks": [{"taskId": "t1", "s3Bucket": src, "s3Key": "photo.jpg",
                        "s3VersionId": None}]}
    d = tempfile.mkdtemp(prefix="quarry-cli-wt-")
    out = os.path.join(d, "out.json")
    rc, _, err = aws("lambda", "invoke", "--function-name", fn, "--payload",
                     write_json(d, "event.json", event), out)
    eq(rc, 0, f"aws lambda invoke: {err}")
    with open(out) as f:
        res = json.load(f)
    eq([(r["taskId"], r["resultCode"]) for r in res["results"]], [("t1", "PermanentFailure")],
       f"results {res}")
    eq(res["results"][0]["resultString"],
       _denied_copy_message(role_name, fn, dst, "copied/photo.jpg_new"), "resultString")
    eq(s3.list_objects_v2(Bucket=dst)["KeyCount"], 0, "nothing written")


@test
def cli_job_role_without_invoke():
    # CreateJob through the aws CLI with a role that may read the manifest and write the
    # report but not invoke the function: every task AccessDenied, the function never ran.
    src, dst = f"wt-src-{uuid.uuid4().hex[:6]}", f"wt-dst-{uuid.uuid4().hex[:6]}"
    s3.create_bucket(Bucket=src)
    s3.create_bucket(Bucket=dst)
    s3.put_object(Bucket=src, Key="photo.jpg", Body=b"jpeg")
    fn, fn_arn = _walkthrough_function(_role(f"wt-fn-{uuid.uuid4().hex[:6]}", TRUST_LAMBDA, [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]))
    man, rep, etag = _job_buckets(src)
    job_role_name = f"wt-noinvoke-{uuid.uuid4().hex[:6]}"
    job_role = _role(job_role_name, TRUST_BATCH, [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{man}/*"},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{rep}/*"}])
    req = _job_request(src, man, etag, fn_arn, dst, rep, job_role)
    d = tempfile.mkdtemp(prefix="quarry-cli-job-")
    control = srv.control_endpoint
    rc, out, err = aws("s3control", "create-job", "--cli-input-json",
                       write_json(d, "job.json", req), endpoint=control)
    eq(rc, 0, f"aws s3control create-job: {err}")
    jid = json.loads(out)["JobId"]
    end = time.monotonic() + 120
    while True:
        rc, out, err = aws("s3control", "describe-job", "--account-id", ACCOUNT, "--job-id", jid,
                           endpoint=control)
        eq(rc, 0, f"describe-job: {err}")
        job = json.loads(out)["Job"]
        if job["Status"] in ("Complete", "Failed", "Cancelled"):
            break
        check(time.monotonic() < end, f"job {jid} still {job['Status']}")
        time.sleep(0.2)  # polling the job's observable state, with a deadline
    eq((job["Status"], job["ProgressSummary"]["NumberOfTasksFailed"]), ("Complete", 1), "job")
    rows = _failed_rows(rep, jid)
    eq([(r[4], r[5]) for r in rows], [("403", "AccessDenied")], f"rows {rows}")
    check(f"assumed-role/{job_role_name}/s3-batch-operations-{jid} is not authorized to "
          f"perform: lambda:InvokeFunction on resource: {fn_arn}" in rows[0][6], rows[0][6])
    eq(s3.list_objects_v2(Bucket=dst)["KeyCount"], 0, "the function never ran")


RENEW_SRC = """
import os, boto3
def handler(event, context):
    body = boto3.client("s3").get_object(Bucket=event["bucket"], Key="public/a")["Body"].read()
    return {"akid": os.environ["AWS_ACCESS_KEY_ID"], "secret": os.environ["AWS_SECRET_ACCESS_KEY"],
            "token": os.environ["AWS_SESSION_TOKEN"], "body": body.decode()}
"""


@test
def function_credentials_renewed_before_expiry():
    # A server whose function credentials last 20 s (the test flag): a warm function keeps
    # working across their expiry because its instance is retired before they run out and
    # the next one gets new credentials; the old ones are then refused.
    ttl = 20
    with QuarryServer(extra_args=["--function-credentials-ttl", str(ttl)]) as s2:
        role = s2.lambda_role("renew", actions=("s3:GetObject",))
        s2.boto3_client().create_bucket(Bucket="renew")
        s2.boto3_client().put_object(Bucket="renew", Key="public/a", Body=b"renew a")
        lam = s2.lambda_client()
        lam.create_function(FunctionName="renew", Runtime="python3.11", Role=role,
                            Handler="f.handler", Code={"ZipFile": build_zip({"f.py": RENEW_SRC})},
                            Timeout=5)
        lam.get_waiter("function_active_v2").wait(FunctionName="renew",
                                                  WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        seen, first, t_first = [], None, None
        while True:
            r = lam.invoke(FunctionName="renew", Payload=b'{"bucket": "renew"}')
            out = json.loads(r["Payload"].read())
            eq(r.get("FunctionError"), None, f"invocation fails: {out}")
            eq(out["body"], "renew a", "the function's S3 call")
            if first is None:
                first, t_first = out, time.time()
            if not seen or seen[-1] != out["akid"]:
                seen.append(out["akid"])
            # run until well past the first credentials' expiry (minted before t_first)
            if time.time() > t_first + ttl + 2:
                break
            time.sleep(0.5)  # pacing of the invocations, not a synchronisation
        check(len(seen) >= 2, f"new credentials after the renewal: {len(seen)}")
        old = {"AccessKeyId": first["akid"], "SecretAccessKey": first["secret"],
               "SessionToken": first["token"]}
        c = boto3.client("s3", endpoint_url=s2.endpoint, region_name=REGION,
                         aws_access_key_id=old["AccessKeyId"],
                         aws_secret_access_key=old["SecretAccessKey"],
                         aws_session_token=old["SessionToken"],
                         config=Config(retries={"total_max_attempts": 1},
                                       s3={"addressing_style": "path"}))
        code, st, _ = client_error(c.get_object, Bucket="renew", Key="public/a")
        eq((code, st), ("ExpiredToken", 400), "the first instance's credentials expired")


@test
def create_function_checks_passrole_and_code():
    iam.create_role(RoleName="fn-code", AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))
    role = f"arn:aws:iam::{ACCOUNT}:role/fn-code"
    s3.put_object(Bucket=GP, Key="code/f.zip", Body=build_zip({"f.py": "def handler(e, c): return 1\n"}))
    name, key = new_user(inline={"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "lambda:CreateFunction", "Resource": "*"}]})
    lam = client("lambda", key)
    args = dict(Runtime="python3.11", Role=role, Handler="f.handler",
                Code={"S3Bucket": GP, "S3Key": "code/f.zip"})
    code, _, r = client_error(lam.create_function, FunctionName="c1", **args)
    eq(code, "AccessDeniedException", "no iam:PassRole")
    check("iam:PassRole" in r["Error"]["Message"], r["Error"]["Message"])
    iam.put_user_policy(UserName=name, PolicyName="pass", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:PassRole",
                                               "Resource": role}]}))
    code, _, r = client_error(lam.create_function, FunctionName="c1", **args)
    eq(code, "AccessDeniedException", "cannot read the code's object")
    check("s3:GetObject" in r["Error"]["Message"], r["Error"]["Message"])
    iam.put_user_policy(UserName=name, PolicyName="code", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                               "Resource": f"arn:aws:s3:::{GP}/code/*"}]}))
    lam.create_function(FunctionName="c1", **args)
    srv.lambda_client().delete_function(FunctionName="c1")


@test
def function_resource_policy():
    lam = srv.lambda_client()
    iam.create_role(RoleName="fn-plain", AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))
    name = f"perm-{uuid.uuid4().hex[:6]}"
    lam.create_function(FunctionName=name, Runtime="python3.11",
                        Role=f"arn:aws:iam::{ACCOUNT}:role/fn-plain", Handler="f.handler",
                        Code={"ZipFile": build_zip({"f.py": "def handler(e, c):\n    return 7\n"})})
    lam.get_waiter("function_active_v2").wait(FunctionName=name,
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    user, key = new_user()
    caller = client("lambda", key)
    code, _, r = client_error(caller.invoke, FunctionName=name, Payload=b"{}")
    eq(code, "AccessDeniedException", "no policy grants it yet")
    check("lambda:InvokeFunction" in r["Error"]["Message"], r["Error"]["Message"])
    code, _, _ = client_error(lam.get_policy, FunctionName=name)
    eq(code, "ResourceNotFoundException", "no policy yet")
    lam.add_permission(FunctionName=name, StatementId="let-user", Action="lambda:InvokeFunction",
                       Principal=f"arn:aws:iam::{ACCOUNT}:user/{user}")
    lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceAccount=ACCOUNT)
    code, _, _ = client_error(lam.add_permission, FunctionName=name, StatementId="s3",
                              Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")
    eq(code, "ResourceConflictException", "duplicate statement id")
    pol = json.loads(lam.get_policy(FunctionName=name)["Policy"])
    eq([s["Sid"] for s in pol["Statement"]], ["let-user", "s3"], "GetPolicy")
    r = caller.invoke(FunctionName=name, Payload=b"{}")
    eq(json.loads(r["Payload"].read()), 7, "the function's policy alone grants Invoke")
    code, _, _ = client_error(caller.get_function, FunctionName=name)
    eq(code, "AccessDeniedException", "only what the statement says")
    lam.remove_permission(FunctionName=name, StatementId="let-user")
    code, _, _ = client_error(caller.invoke, FunctionName=name, Payload=b"{}")
    eq(code, "AccessDeniedException", "removed")
    lam.delete_function(FunctionName=name)


@test
def logs_decided_per_log_group():
    name, key = new_user(inline={"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "logs:CreateLogGroup",
        "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:team-*"}]})
    logs = client("logs", key)
    logs.create_log_group(logGroupName="team-a")
    code, st, r = client_error(logs.create_log_group, logGroupName="other")
    eq((code, st), ("AccessDeniedException", 400), "another group")
    check(f"log-group:other" in r["Error"]["Message"], r["Error"]["Message"])
    code, _, _ = client_error(logs.describe_log_groups)
    eq(code, "AccessDeniedException", "not allowed to describe")
    names = [g["logGroupName"] for g in srv.logs_client().describe_log_groups()["logGroups"]]
    check("team-a" in names and "other" not in names, f"groups {names}")


# ---- malformed policies ----

@test
def malformed_policy_documents():
    iam.create_role(RoleName="target", AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))
    bad = {
        "bad JSON": '{"Version": "2012-10-17", "Statement": [',
        "unknown Effect": json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Perhaps", "Action": "s3:*", "Resource": "*"}]}),
        "bad ARN": json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws"}]}),
        "wrong Version": json.dumps({"Version": "2020-01-01", "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}),
    }
    for what, doc in bad.items():
        code, st, r = client_error(iam.put_role_policy, RoleName="target", PolicyName="p",
                                   PolicyDocument=doc)
        eq((code, st), ("MalformedPolicyDocument", 400), what)
        check(len(r["Error"]["Message"]) > 5, f"{what}: a reason: {r['Error']['Message']!r}")
    big = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": f"s{i}", "Effect": "Allow", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::bucket-{i:06d}/" + "k" * 100} for i in range(60)]})
    code, st, r = client_error(iam.put_role_policy, RoleName="target", PolicyName="p",
                               PolicyDocument=big)
    eq((code, st), ("LimitExceeded", 409), "over the 10240-character quota of role policies")
    check("PolicySize" in r["Error"]["Message"], r["Error"]["Message"])
    deny = '{"Effect": "Deny", "Action": "s3:x", "Resource": "*"},'
    huge = big.replace('"Statement": [', '"Statement": [' + deny * 3000, 1)
    check(len(huge) > 131072, "huge is huge")
    code, st, _ = client_error(iam.put_role_policy, RoleName="target", PolicyName="p",
                               PolicyDocument=huge)
    eq((code, st), ("ValidationError", 400), "beyond the model's 131072 characters")
    eq(iam.list_role_policies(RoleName="target")["PolicyNames"], [], "nothing stored")
    code, _, _ = client_error(iam.create_policy, PolicyName="bad", PolicyDocument=bad["unknown Effect"])
    eq(code, "MalformedPolicyDocument", "CreatePolicy")
    code, _, _ = client_error(iam.get_policy, PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/bad")
    eq(code, "NoSuchEntity", "no policy stored")


@test
def cli_malformed_policy_documents():
    iam.create_role(RoleName="cli-target", AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))
    d = tempfile.mkdtemp(prefix="quarry-cli-bad-")
    bad = {
        "bad JSON": ('{"Version": "2012-10-17", "Statement": [', "MalformedPolicyDocument"),
        "unknown Effect": (json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Perhaps", "Action": "s3:*", "Resource": "*"}]}), "MalformedPolicyDocument"),
        "bad ARN": (json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws"}]}),
            "MalformedPolicyDocument"),
        "wrong Version": (json.dumps({"Version": "2020-01-01", "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}), "MalformedPolicyDocument"),
        "oversized": (json.dumps({"Version": "2012-10-17", "Statement": [
            {"Sid": f"s{i}", "Effect": "Allow", "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::bucket-{i:06d}/" + "k" * 100} for i in range(60)]}),
            "LimitExceeded"),
    }
    for i, (what, (doc, want)) in enumerate(bad.items()):
        rc, _, err = aws("iam", "put-role-policy", "--role-name", "cli-target", "--policy-name",
                         "p", "--policy-document", write_json(d, f"p{i}.json", doc))
        check(rc != 0 and f"({want})" in err, f"{what}: {err}")
        reason = err.split(":", 1)[-1].strip()
        check(len(reason) > 5, f"{what}: a reason: {err!r}")
        rc, _, err = aws("iam", "create-policy", "--policy-name", f"cli-bad-{i}",
                         "--policy-document", write_json(d, f"p{i}.json", doc))
        check(rc != 0 and f"({want})" in err, f"{what} CreatePolicy: {err}")
    eq(iam.list_role_policies(RoleName="cli-target")["PolicyNames"], [], "nothing stored")
    names = [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]]
    eq([n for n in names if n.startswith("cli-bad-")], [], "no customer policy stored")


# ---- managed policies, groups ----

@test
def managed_policy_versions_and_groups():
    doc1 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                    "Resource": f"arn:aws:s3:::{GP}/public/*"}]}
    doc2 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                    "Resource": f"arn:aws:s3:::{GP}/*"}]}
    arn = iam.create_policy(PolicyName="readers", PolicyDocument=json.dumps(doc1))["Policy"]["Arn"]
    eq(arn, f"arn:aws:iam::{ACCOUNT}:policy/readers", "policy ARN")
    iam.create_group(GroupName="team")
    iam.attach_group_policy(GroupName="team", PolicyArn=arn)
    name, key = new_user()
    c = client("s3", key)
    code, _, _ = client_error(c.get_object, Bucket=GP, Key="public/a")
    eq(code, "AccessDenied", "not in the group yet")
    iam.add_user_to_group(GroupName="team", UserName=name)
    eq(c.get_object(Bucket=GP, Key="public/a")["Body"].read(), b"public a", "through the group")
    code, _, _ = client_error(c.get_object, Bucket=GP, Key="secret/b")
    eq(code, "AccessDenied", "v1 covers public/ only")
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(doc2), SetAsDefault=True)
    eq(iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"], "v2", "default version")
    eq(c.get_object(Bucket=GP, Key="secret/b")["Body"].read(), b"secret b", "v2 applies at once")
    eq(iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]["Document"], doc1,
       "v1 kept")
    eq([v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]],
       ["v1", "v2"], "ListPolicyVersions")
    code, _, _ = client_error(iam.delete_policy_version, PolicyArn=arn, VersionId="v2")
    eq(code, "DeleteConflict", "the default version stays")
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    code, _, _ = client_error(c.get_object, Bucket=GP, Key="secret/b")
    eq(code, "AccessDenied", "back to v1 at once")
    iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    eq([v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]], ["v1"],
       "v2 deleted")
    code, _, _ = client_error(iam.delete_group, GroupName="team")
    eq(code, "DeleteConflict", "group with members")
    details = iam.get_account_authorization_details()
    check(any(g["GroupName"] == "team" for g in details["GroupDetailList"]), "details list groups")
    aws_pol = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")["Policy"]
    eq(aws_pol["PolicyName"], "AmazonS3ReadOnlyAccess", "AWS managed policy by ARN")


@test
def update_user_and_tags():
    name, key = new_user(["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"], inline={
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListUserTags",
                                               "Resource": "*"}]})
    grp = f"g-{uuid.uuid4().hex[:6]}"
    iam.create_group(GroupName=grp)
    iam.add_user_to_group(GroupName=grp, UserName=name)
    iam.tag_user(UserName=name, Tags=[{"Key": "team", "Value": "a"}, {"Key": "x", "Value": "1"}])
    iam.tag_user(UserName=name, Tags=[{"Key": "team", "Value": "b"}])
    eq(sorted((t["Key"], t["Value"]) for t in iam.list_user_tags(UserName=name)["Tags"]),
       [("team", "b"), ("x", "1")], "TagUser replaces a key's value")
    iam.untag_user(UserName=name, TagKeys=["x"])
    eq([t["Key"] for t in client("iam", key).list_user_tags(UserName=name)["Tags"]], ["team"],
       "UntagUser; ListUserTags by the user itself")
    code, _, _ = client_error(iam.tag_user, UserName="nobody-here", Tags=[{"Key": "k", "Value": "v"}])
    eq(code, "NoSuchEntity", "TagUser of a missing user")
    code, _, _ = client_error(client("iam", key).tag_user, UserName=name,
                              Tags=[{"Key": "k", "Value": "v"}])
    eq(code, "AccessDenied", "TagUser needs iam:TagUser")
    # rename and move: the key, the group, the policies and the tags follow the user
    new = name + "-r"
    code, _, _ = client_error(client("iam", key).update_user, UserName=name, NewUserName=new)
    eq(code, "AccessDenied", "UpdateUser needs iam:UpdateUser")
    iam.put_user_policy(UserName=name, PolicyName="rename-self", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:UpdateUser",
                                               "Resource": f"arn:aws:iam::{ACCOUNT}:user/{name}"}]}))
    code, _, r = client_error(client("iam", key).update_user, UserName=name, NewUserName=new)
    eq(code, "AccessDenied", "UpdateUser needs iam:UpdateUser on the new name too")
    check(f"user/{new}" in r["Error"]["Message"], r["Error"]["Message"])
    iam.delete_user_policy(UserName=name, PolicyName="rename-self")
    iam.update_user(UserName=name, NewUserName=new, NewPath="/moved/")
    code, _, _ = client_error(iam.get_user, UserName=name)
    eq(code, "NoSuchEntity", "the old name is gone")
    u = iam.get_user(UserName=new)["User"]
    eq((u["Path"], u["Arn"]), ("/moved/", f"arn:aws:iam::{ACCOUNT}:user/moved/{new}"), "new path")
    eq(client("sts", key).get_caller_identity()["Arn"], u["Arn"], "the key acts as the new name")
    eq([k["AccessKeyId"] for k in iam.list_access_keys(UserName=new)["AccessKeyMetadata"]],
       [key["AccessKeyId"]], "the key moved")
    eq([g["GroupName"] for g in iam.list_groups_for_user(UserName=new)["Groups"]], [grp],
       "the membership moved")
    eq(iam.list_user_policies(UserName=new)["PolicyNames"], ["inline"], "the inline policy moved")
    eq([p["PolicyName"] for p in iam.list_attached_user_policies(UserName=new)["AttachedPolicies"]],
       ["AmazonS3ReadOnlyAccess"], "the attachment moved")
    eq(client("s3", key).get_object(Bucket=GP, Key="public/a")["Body"].read(), b"public a",
       "its policies still apply")
    eq([t["Key"] for t in iam.list_user_tags(UserName=new)["Tags"]], ["team"], "the tags moved")
    eq(u.get("Tags"), [{"Key": "team", "Value": "b"}], "GetUser shows the tags")
    code, _, _ = client_error(iam.tag_user, UserName=new, Tags=[{"Key": "k" * 129, "Value": "v"}])
    eq(code, "ValidationError", "a tag key over 128 characters")
    code, _, _ = client_error(iam.tag_user, UserName=new, Tags=[{"Key": "k", "Value": "<v>"}])
    eq(code, "ValidationError", "a tag value with characters IAM refuses")
    code, _, _ = client_error(iam.tag_user, UserName=new,
                              Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    eq(code, "ValidationError", "51 tags in one request")
    code, _, _ = client_error(iam.tag_user, UserName=new,
                              Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    eq(code, "LimitExceeded", "more than 50 tags in all")
    eq([t["Key"] for t in iam.list_user_tags(UserName=new)["Tags"]], ["team"], "nothing stored")
    u3 = iam.create_user(UserName=new + "-t", Tags=[{"Key": "a", "Value": "1"}])["User"]
    eq(u3.get("Tags"), [{"Key": "a", "Value": "1"}], "CreateUser with Tags")
    eq(iam.list_user_tags(UserName=new + "-t")["Tags"], [{"Key": "a", "Value": "1"}],
       "CreateUser's tags stored")
    code, _, _ = client_error(iam.update_user, UserName=new, NewUserName=GP + "!")
    eq(code, "ValidationError", "a bad new name")
    other, _ = new_user()
    code, _, _ = client_error(iam.update_user, UserName=new, NewUserName=other.upper())
    eq(code, "EntityAlreadyExists", "a name taken (case-insensitively)")
    code, _, _ = client_error(iam.update_user, UserName="nobody-here", NewUserName="x1")
    eq(code, "NoSuchEntity", "UpdateUser of a missing user")


@test
def access_key_last_used():
    with QuarryServer() as s2:
        i2 = s2.iam_client()
        s2.boto3_client().create_bucket(Bucket="lu-bucket")
        i2.create_user(UserName="lu")
        i2.attach_user_policy(UserName="lu",
                              PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
        key = i2.create_access_key(UserName="lu")["AccessKey"]
        r = i2.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
        eq(r["UserName"], "lu", "UserName")
        eq((r["AccessKeyLastUsed"]["ServiceName"], r["AccessKeyLastUsed"]["Region"],
            "LastUsedDate" in r["AccessKeyLastUsed"]), ("N/A", "N/A", False), "never used")
        before = time.time()
        c = s2.boto3_client(key["AccessKeyId"], key["SecretAccessKey"])
        c.list_objects_v2(Bucket="lu-bucket")
        code, _, _ = client_error(c.put_object, Bucket="lu-bucket", Key="k", Body=b"x")
        eq(code, "AccessDenied", "a denied request is a use too")
        u = i2.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
        eq((u["ServiceName"], u["Region"]), ("s3", REGION), "recorded on use")
        when = u["LastUsedDate"].timestamp()
        check(before - 2 <= when <= time.time() + 1, f"LastUsedDate {when} vs {before}")
        # saved through the store (the IAM request above flushed it): survives a restart
        s2.restart()
        u2 = s2.iam_client().get_access_key_last_used(
            AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
        eq((u2["ServiceName"], u2["Region"], int(u2["LastUsedDate"].timestamp())),
           ("s3", REGION, int(when)), "after a restart")
        code, _, _ = client_error(i2.get_access_key_last_used, AccessKeyId="AKIANOSUCHKEY0000000")
        eq(code, "NoSuchEntity", "an unknown key")


def _saved_key_use(server, akid):
    """The keyuse row the server saved for akid, read from its store file (no request)."""
    db = sqlite3.connect(f"file:{os.path.join(server.data, 'meta.db')}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT doc FROM iam WHERE kind = 'keyuse' AND name = ?",
                         (akid,)).fetchone()
    finally:
        db.close()
    return json.loads(row[0]) if row else None


def _user_key_used_once(server):
    """A read-only user's key used once through S3 after every IAM request made so far."""
    i2 = server.iam_client()
    server.boto3_client().create_bucket(Bucket="lu-bucket")
    i2.create_user(UserName="lu")
    i2.attach_user_policy(UserName="lu",
                          PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    key = i2.create_access_key(UserName="lu")["AccessKey"]
    before = time.time()
    c = server.boto3_client(key["AccessKeyId"], key["SecretAccessKey"])
    c.list_objects_v2(Bucket="lu-bucket")
    return key["AccessKeyId"], before


def _check_last_used(server, akid, before, what):
    u = server.iam_client().get_access_key_last_used(AccessKeyId=akid)["AccessKeyLastUsed"]
    eq((u.get("ServiceName"), u.get("Region")), ("s3", REGION), what)
    when = u["LastUsedDate"].timestamp()
    check(before - 2 <= when <= time.time() + 1, f"{what}: LastUsedDate {when} vs {before}")


@test
def access_key_last_used_saved_at_clean_stop():
    # the timer never fires here: only the stop can save the use
    with QuarryServer(extra_args=["--key-use-flush-interval", "3600000"]) as s2:
        akid, before = _user_key_used_once(s2)
        eq(_saved_key_use(s2, akid), None, "not saved while running (no IAM request, no timer)")
        eq(s2.stop(), 0, "clean stop")
        check(_saved_key_use(s2, akid) is not None, "saved by the stop")
        s2.start()
        _check_last_used(s2, akid, before, "after a clean stop and start")


@test
def access_key_last_used_saved_on_timer():
    with QuarryServer(extra_args=["--key-use-flush-interval", "200"]) as s2:
        akid, before = _user_key_used_once(s2)
        deadline = time.monotonic() + 15
        row = None
        while row is None and time.monotonic() < deadline:
            row = _saved_key_use(s2, akid)
            if row is None:
                time.sleep(0.05)  # polling the store file for the timer's write
        check(row is not None, "the timer saved the use without any IAM request")
        eq(row.get("service"), "s3", "saved service")
        # a crash now loses nothing: the row is in the store already
        s2.restart(crash=True)
        _check_last_used(s2, akid, before, "after a crash following the timer's save")


@test
def pagination():
    for i in range(5):
        iam.create_user(UserName=f"page-{i}", Path="/paged/")
    pages = list(iam.get_paginator("list_users").paginate(PathPrefix="/paged/",
                                                          PaginationConfig={"PageSize": 2}))
    eq([len(p["Users"]) for p in pages], [2, 2, 1], "pages of 2")
    eq([u["UserName"] for p in pages for u in p["Users"]], [f"page-{i}" for i in range(5)],
       "every user once, in order")
    check(pages[0]["IsTruncated"] and not pages[-1]["IsTruncated"], "IsTruncated")
    all_aws = [p["Arn"] for p in iam.list_policies(Scope="AWS", MaxItems=1000)["Policies"]]
    paged = [p["Arn"] for pg in iam.get_paginator("list_policies").paginate(
        Scope="AWS", PaginationConfig={"PageSize": 3}) for p in pg["Policies"]]
    eq(paged, all_aws, "managed policies paged")
    code, _, _ = client_error(iam.list_users, MaxItems=1, Marker="not-a-marker")
    eq(code, "ValidationError", "a bad marker")


# ---- beyond AWS: quarry iam explain; secrets ----

def explain(principal, action, resource):
    from quarry_server import binary_path
    p = subprocess.run([binary_path(), "iam", "explain", "--data", srv.data, "--principal",
                        principal, "--action", action, "--resource", resource],
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


@test
def iam_explain_names_the_statement():
    name, key = new_user(["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"])
    arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    rc, out = explain(arn, "s3:GetObject", f"arn:aws:s3:::{GP}/public/a")
    eq(rc, 0, out)
    check("decision  Allow" in out and "AmazonS3ReadOnlyAccess: Allow (statement" in out, out)
    rc, out = explain(arn, "s3:PutObject", f"arn:aws:s3:::{GP}/public/a")
    eq(rc, 1, out)
    check("ImplicitDeny" in out and "no identity-based policy allows the s3:PutObject" in out, out)
    s3.put_bucket_policy(Bucket=GP, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Sid": "NoSecrets", "Effect": "Deny",
                                               "Principal": "*", "Action": "s3:GetObject",
                                               "Resource": f"arn:aws:s3:::{GP}/secret/*"}]}))
    iam.create_role(RoleName="explained", AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))
    iam.attach_role_policy(RoleName="explained",
                           PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    rc, out = explain(f"arn:aws:sts::{ACCOUNT}:assumed-role/explained/fn", "s3:GetObject",
                      f"arn:aws:s3:::{GP}/public/a")
    eq(rc, 0, out)
    check("assumed-role/explained/fn" in out and "AmazonS3ReadOnlyAccess: Allow" in out, out)
    try:
        rc, out = explain(arn, "s3:GetObject", f"arn:aws:s3:::{GP}/secret/b")
        eq(rc, 1, out)
        check("ExplicitDeny" in out and "Sid NoSecrets" in out and "resource-based" in out, out)
    finally:
        s3.delete_bucket_policy(Bucket=GP)


@test
def simulate_policies():
    name, key = new_user(["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"])
    r = iam.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/{name}",
        ActionNames=["s3:GetObject", "s3:PutObject"], ResourceArns=[f"arn:aws:s3:::{GP}/k"])
    eq([(e["EvalActionName"], e["EvalDecision"]) for e in r["EvaluationResults"]],
       [("s3:GetObject", "allowed"), ("s3:PutObject", "implicitDeny")], "principal")
    deny = {"Version": "2012-10-17", "Statement": [{"Sid": "NoGet", "Effect": "Deny",
                                                    "Action": "s3:GetObject", "Resource": "*"}]}
    r = iam.simulate_custom_policy(PolicyInputList=[json.dumps(deny)],
                                   ActionNames=["s3:GetObject"])
    e = r["EvaluationResults"][0]
    eq(e["EvalDecision"], "explicitDeny", "custom")
    eq(e["MatchedStatements"][0]["SourcePolicyId"], "NoGet", "statement")
    code, _, _ = client_error(iam.simulate_custom_policy, PolicyInputList=["{"],
                              ActionNames=["s3:GetObject"])
    eq(code, "MalformedPolicyDocument", "bad input policy")


@test
def default_keys_refused_off_loopback():
    from quarry_server import binary_path
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARRY_ROOT_")}
    p = subprocess.run([binary_path(), "serve", "--address", "0.0.0.0", "--port", "0", "--data",
                        tempfile.mkdtemp(prefix="quarry-keys-")], env=env, capture_output=True,
                       text=True, timeout=30)
    eq(p.returncode, 2, p.stderr)
    check("built-in root keys" in p.stderr, p.stderr)


if __name__ == "__main__":
    run(setup, teardown)
