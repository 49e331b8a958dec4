#!/usr/bin/env python3
"""test_session_restart.py - S3 Express sessions minted before a restart still work after it.

boto3 caches the CreateSession credentials per bucket; after the server restarts on the
same data directory (same port, chosen up front with --port N so the client can stay the
same), requests signed with the cached session must succeed without a new CreateSession.
Checked after a clean SIGTERM restart and after kill -9 (fsync on). A session is bound to
its bucket and its token: using it on another bucket or with a forged token is refused.
"""

import datetime
import urllib.parse

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
import http.client

from harness import check, eq, run, test
from quarry_server import DIR_CFG, REGION, QuarryServer, free_port

srv = None
A = "sessa--use1-az4--x-s3"
B = "sessb--use1-az4--x-s3"


def setup():
    global srv
    srv = QuarryServer(fsync=True, port=free_port()).start()


def teardown():
    if srv is not None:
        srv.close()


class Spy:
    """Counts CreateSession calls and remembers the access key id of each PutObject/GetObject."""
    def __init__(self, client):
        self.sessions = 0
        self.akids = []
        client.meta.events.register("before-send.s3", self.before_send)

    def before_send(self, request, event_name="", **kw):
        op = event_name.rsplit(".", 1)[-1]
        if op == "CreateSession":
            self.sessions += 1
        auth = request.headers.get("Authorization", b"")
        auth = auth.decode() if isinstance(auth, bytes) else auth
        if op in ("PutObject", "GetObject") and "Credential=" in auth:
            self.akids.append(auth.split("Credential=")[1].split("/")[0])


def raw_session_get(creds, bucket, key, service="s3express"):
    """GET signed with explicit session credentials (token in x-amz-s3session-token)."""
    url = f"{srv.endpoint}/{bucket}/{urllib.parse.quote(key)}"
    req = AWSRequest(method="GET", url=url, headers={"x-amz-s3session-token": creds["SessionToken"]})
    S3SigV4Auth(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"]), service, REGION).add_auth(req)
    p = req.prepare()
    conn = srv.connection(10)
    try:
        split = urllib.parse.urlsplit(p.url)
        conn.request("GET", split.path, headers=dict(p.headers))
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def restart_round(crash):
    c = srv.boto3_client()
    spy = Spy(c)
    for b in (A, B):
        try:
            c.create_bucket(Bucket=b, CreateBucketConfiguration=DIR_CFG)
        except c.exceptions.ClientError as e:
            if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
    c.put_object(Bucket=A, Key="before", Body=b"written before restart")
    explicit = c.create_session(Bucket=A)["Credentials"]
    eq(raw_session_get(explicit, A, "before")[0], 200, "explicit session before restart")
    sessions_before = spy.sessions
    akid_before = spy.akids[-1]
    check(akid_before != srv.access_key, f"PutObject was not session-signed ({akid_before})")
    old_port = srv.port
    srv.restart(same_port=True, crash=crash)
    eq(srv.port, old_port, "restarted on the same port")
    # the same client, its cached session
    c.put_object(Bucket=A, Key="after", Body=b"written after restart")
    eq(c.get_object(Bucket=A, Key="before")["Body"].read(), b"written before restart", "object before restart")
    eq(c.get_object(Bucket=A, Key="after")["Body"].read(), b"written after restart", "object after restart")
    eq(spy.sessions, sessions_before, "CreateSession calls after the restart")
    eq(spy.akids[-1], akid_before, "session key id used after the restart")
    st, body = raw_session_get(explicit, A, "after")
    eq(st, 200, f"explicit session after restart: {body[:300]!r}")
    st, body = raw_session_get(explicit, A, "after", service="s3")
    eq(st, 200, f"explicit session, scope s3 (SDK v3 style): {body[:300]!r}")
    # bound to its bucket and its token
    c.put_object(Bucket=B, Key="b", Body=b"b")
    st, body = raw_session_get(explicit, B, "b")
    check(st == 403, f"session of {A} used on {B}: {st} {body[:300]!r}")
    forged = dict(explicit, SessionToken=explicit["SessionToken"][:-4] + "AAAA")
    st, body = raw_session_get(forged, A, "after")
    check(st in (400, 403), f"forged token: {st} {body[:300]!r}")
    c.delete_object(Bucket=A, Key="after")
    c.delete_object(Bucket=A, Key="before")


@test
def session_survives_clean_restart():
    restart_round(crash=False)


@test
def session_survives_kill9():
    restart_round(crash=True)


@test
def session_lifetime_long_enough():
    c = srv.boto3_client()
    creds = c.create_session(Bucket=A)["Credentials"]
    left = (creds["Expiration"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    check(left > 45, f"session expires in {left:.0f}s: boto3 refreshes sessions with < 45 s left")


if __name__ == "__main__":
    run(setup=setup, teardown=teardown)
