#!/usr/bin/env python3
"""test_lambda_logs.py - a function's logs through CloudWatch Logs clients.

After real invokes of a Python function that prints marker lines: the image's CLI v1
`aws logs filter-log-events --log-group-name /aws/lambda/NAME` shows START/END/REPORT and
the function's own lines, each with a timestamp, ingestionTime, logStreamName and a unique
eventId; describe-log-groups / describe-log-streams / get-log-events answer in AWS's
shapes (reference/aws-lambda-iam.md, section 4); boto3's paginator pages without
looping; and Debian's CLI v2 (`/usr/bin/aws`, apt package awscli; the image's v1 comes
first on PATH, so it is called by path) runs `aws logs tail` against quarry. Log writes
are batched, as AWS's are: the tests poll with a deadline.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid

from harness import check, eq, run, test
from quarry_server import ACCOUNT, REGION, QuarryServer, build_zip

HERE = os.path.dirname(os.path.abspath(__file__))
HANDLER_SRC = os.path.join(HERE, "lambda_fixtures", "python", "lambda_function.py")
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-ex"
CLI_V2 = "/usr/bin/aws"
STREAM_RE = re.compile(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}")
DEADLINE_S = 20.0

srv = None
lam = None
work = None
env = None
FN = f"logs-fn-{uuid.uuid4().hex[:8]}"
GROUP = f"/aws/lambda/{FN}"
MARKER = f"log-marker-{uuid.uuid4().hex}"
request_ids = []
t_start_ms = 0


def setup():
    global srv, lam, work, env, t_start_ms
    srv = QuarryServer().start()
    lam = srv.lambda_client()
    srv.lambda_role()  # the walkthrough's execution role, which functions act as
    work = tempfile.mkdtemp(prefix="quarry-lt-logs-")
    home = os.path.join(work, "home")
    os.mkdir(home)
    env = srv.client_env(home)
    with open(HANDLER_SRC, "rb") as f:
        z = build_zip({"lambda_function.py": f.read()})
    lam.create_function(FunctionName=FN, Runtime="python3.11", Role=ROLE,
                        Handler="lambda_function.lambda_handler", Code={"ZipFile": z})
    lam.get_waiter("function_active_v2").wait(FunctionName=FN, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    t_start_ms = int(time.time() * 1000)
    for i in range(3):
        r = lam.invoke(FunctionName=FN, Payload=json.dumps(
            {"op": "print", "lines": [f"{MARKER} line {i}a", f"{MARKER} line {i}b"]}).encode())
        r["Payload"].read()
        request_ids.append(r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"])


def teardown():
    if lam is not None:
        try:
            lam.delete_function(FunctionName=FN)
        except Exception:
            pass
    if srv is not None:
        srv.close()
    if work is not None:
        shutil.rmtree(work, ignore_errors=True)


def aws(*args, ok=True, exe="aws"):
    p = subprocess.run([exe, *args], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    if ok and p.returncode != 0:
        raise AssertionError(f"{exe} {' '.join(args)} exited {p.returncode}\n  stdout: {p.stdout[-800:]}\n"
                             f"  stderr: {p.stderr[-800:]}")
    return p.returncode, p.stdout, p.stderr


def wanted_lines():
    want = []
    for i, rid in enumerate(request_ids):
        want += [f"START RequestId: {rid} Version: $LATEST", f"{MARKER} line {i}a", f"{MARKER} line {i}b",
                 f"END RequestId: {rid}", f"REPORT RequestId: {rid}\t"]
    return want


def missing_from(events):
    msgs = [e.get("message", "") for e in events]
    return [w for w in wanted_lines() if not any(m.startswith(w) for m in msgs)]


def filter_until_complete(*extra):
    """filter-log-events (CLI v1) polled until every expected line is there."""
    end = time.monotonic() + DEADLINE_S
    while True:
        _, out, _ = aws("logs", "filter-log-events", "--log-group-name", GROUP, *extra)
        events = json.loads(out)["events"] if out.strip() else []
        miss = missing_from(events)
        if not miss:
            return events
        if time.monotonic() > end:
            raise AssertionError(f"after {DEADLINE_S}s filter-log-events still lacks {miss[:4]}; "
                                 f"got {[e.get('message') for e in events][:12]}")
        time.sleep(0.5)


@test
def filter_log_events_cli_v1():
    events = filter_until_complete()
    now_ms = int(time.time() * 1000)
    ids = [e["eventId"] for e in events]
    eq(len(ids), len(set(ids)), "eventIds unique")
    for e in events:
        for field in ("logStreamName", "timestamp", "message", "ingestionTime", "eventId"):
            check(field in e, f"event without {field}: {e}")
        check(isinstance(e["timestamp"], int) and t_start_ms - 5000 <= e["timestamp"] <= now_ms + 1000,
              f"timestamp {e['timestamp']} outside [{t_start_ms}, {now_ms}]: {e}")
        check(isinstance(e["ingestionTime"], int) and e["ingestionTime"] >= e["timestamp"] - 1000,
              f"ingestionTime {e['ingestionTime']} vs timestamp {e['timestamp']}")
        check(STREAM_RE.fullmatch(e["logStreamName"]), f"logStreamName {e['logStreamName']!r}")
        check(isinstance(e["eventId"], str) and e["eventId"], f"eventId {e['eventId']!r}")
    msgs = [e["message"] for e in events]
    stamps = [e["timestamp"] for e in events]
    eq(stamps, sorted(stamps), "events in timestamp order")
    for i, rid in enumerate(request_ids):
        idx = [next(k for k, m in enumerate(msgs) if m.startswith(w))
               for w in (f"START RequestId: {rid}", f"{MARKER} line {i}a", f"{MARKER} line {i}b",
                         f"END RequestId: {rid}", f"REPORT RequestId: {rid}")]
        eq(idx, sorted(idx), f"START, prints, END, REPORT order for invoke {i}")
    report = next(m for m in msgs if m.startswith(f"REPORT RequestId: {request_ids[0]}"))
    check(re.match(rf"REPORT RequestId: {request_ids[0]}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
                   r"Memory Size: 128 MB\tMax Memory Used: \d+ MB", report), f"REPORT line {report!r}")
    # a filter pattern (plain term: substring match)
    _, out, _ = aws("logs", "filter-log-events", "--log-group-name", GROUP, "--filter-pattern", f'"{MARKER}"')
    got = sorted(e["message"].rstrip("\n") for e in json.loads(out)["events"])
    eq(got, sorted(f"{MARKER} line {i}{s}" for i in range(3) for s in "ab"), "filter-pattern")
    # time window: nothing after now
    _, out, _ = aws("logs", "filter-log-events", "--log-group-name", GROUP,
                    "--start-time", str(now_ms + 3_600_000))
    eq(json.loads(out)["events"], [], "events after a start time in the future")
    # unknown group
    rc, _, err = aws("logs", "filter-log-events", "--log-group-name", "/aws/lambda/no-such-fn-xyz", ok=False)
    check(rc != 0 and "ResourceNotFoundException" in err, f"unknown group: rc={rc} stderr={err}")


@test
def paging_with_boto3():
    filter_until_complete()
    logs = srv.logs_client()
    all_events = [e for page in logs.get_paginator("filter_log_events").paginate(logGroupName=GROUP)
                  for e in page["events"]]
    paged = []
    pages = 0
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=GROUP,
                                                                  PaginationConfig={"PageSize": 2}):
        pages += 1
        check(pages < 200, "filter_log_events paginator does not end")
        check(len(page["events"]) <= 2, f"page of {len(page['events'])} events with limit 2")
        paged += page["events"]
    eq([e["eventId"] for e in paged], [e["eventId"] for e in all_events], "events paged by 2")
    check(pages >= len(all_events) // 2, f"{pages} pages for {len(all_events)} events")


@test
def describe_groups_and_streams_get_events():
    filter_until_complete()
    _, out, _ = aws("logs", "describe-log-groups", "--log-group-name-prefix", GROUP)
    groups = json.loads(out)["logGroups"]
    eq([g["logGroupName"] for g in groups], [GROUP], "describe-log-groups")
    g = groups[0]
    eq(g.get("arn"), f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}:*", "log group arn")
    check(isinstance(g.get("creationTime"), int) and g["creationTime"] > 0, f"creationTime {g}")
    check(isinstance(g.get("storedBytes"), int), f"storedBytes {g}")
    _, out, _ = aws("logs", "describe-log-groups", "--log-group-name-prefix", "/aws/lambda/")
    check(GROUP in [x["logGroupName"] for x in json.loads(out)["logGroups"]], "prefix /aws/lambda/")

    _, out, _ = aws("logs", "describe-log-streams", "--log-group-name", GROUP)
    streams = json.loads(out)["logStreams"]
    check(streams, "no log streams")
    for s in streams:
        check(STREAM_RE.fullmatch(s["logStreamName"]), f"stream name {s['logStreamName']!r}")
        for field in ("creationTime", "firstEventTimestamp", "lastEventTimestamp", "lastIngestionTime"):
            check(isinstance(s.get(field), int), f"stream {field}: {s}")
        check(s["firstEventTimestamp"] <= s["lastEventTimestamp"], f"stream timestamps {s}")
        eq(s.get("arn"), f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}:log-stream:{s['logStreamName']}",
           "stream arn")
    _, out, _ = aws("logs", "describe-log-streams", "--log-group-name", GROUP, "--order-by", "LastEventTime",
                    "--descending")
    newest = json.loads(out)["logStreams"]
    last = [s["lastEventTimestamp"] for s in newest]
    eq(last, sorted(last, reverse=True), "descending by LastEventTime")

    stream = streams[0]["logStreamName"]
    _, out, _ = aws("logs", "get-log-events", "--log-group-name", GROUP, "--log-stream-name", stream,
                    "--start-from-head")
    r = json.loads(out)
    check(r["nextForwardToken"].startswith("f/") and r["nextBackwardToken"].startswith("b/"),
          f"tokens {r.get('nextForwardToken')!r} {r.get('nextBackwardToken')!r}")
    check(r["events"], "get-log-events returned nothing")
    for e in r["events"]:
        check(isinstance(e.get("timestamp"), int) and isinstance(e.get("ingestionTime"), int)
              and "message" in e, f"get-log-events event {e}")
    check(any(e["message"].startswith("START RequestId:") for e in r["events"]), "no START in the stream")
    # at the end the forward token comes back unchanged (the paginator's stop condition)
    _, out, _ = aws("logs", "get-log-events", "--log-group-name", GROUP, "--log-stream-name", stream,
                    "--next-token", r["nextForwardToken"])
    r2 = json.loads(out)
    eq(r2["events"], [], "events after the last forward token")
    eq(r2["nextForwardToken"], r["nextForwardToken"], "forward token at the end")
    rc, _, err = aws("logs", "get-log-events", "--log-group-name", GROUP, "--log-stream-name", "no/such/stream",
                     ok=False)
    check(rc != 0 and "ResourceNotFoundException" in err, f"unknown stream: rc={rc} stderr={err}")


@test
def logs_tail_cli_v2():
    # make test installs Debian's awscli (CLI v2); without it this fails, never passes
    check(os.path.exists(CLI_V2), f"{CLI_V2} not installed (make test-deps: apt-get install awscli)")
    _, ver, verr = aws("--version", exe=CLI_V2)
    version = (ver or verr).strip()
    check(version.startswith("aws-cli/2."), f"{CLI_V2} is not CLI v2: {version}")
    filter_until_complete()
    _, out, err = aws("logs", "tail", GROUP, "--endpoint-url", srv.endpoint, "--since", "10m", exe=CLI_V2)
    lines = out.splitlines()
    for want in wanted_lines():
        check(any(want.rstrip("\t") in ln for ln in lines), f"`aws logs tail` lacks {want!r}: {out[-1500:]!r}")
    pat = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00 (\S+) (.*)$")
    for ln in lines:
        m = pat.match(ln)
        check(m and STREAM_RE.fullmatch(m.group(1)), f"tail line format: {ln!r}")
    _, out, _ = aws("logs", "tail", GROUP, "--endpoint-url", srv.endpoint, "--since", "10m",
                    "--filter-pattern", f'"{MARKER}"', "--format", "short", exe=CLI_V2)
    eq(len([ln for ln in out.splitlines() if MARKER in ln]), 6, f"filtered tail: {out!r}")


if __name__ == "__main__":
    run(setup, teardown)
