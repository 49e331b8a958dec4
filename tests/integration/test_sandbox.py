#!/usr/bin/env python3
"""test_sandbox.py - hostile functions against a real quarry: what a function must not reach.

Each test uploads a function that tries an attack (lambda_fixtures/hostile_python, a Node
handler in hostile_node, a shell custom runtime in hostile_shell) and reports per attempt
whether it worked; the test asserts the attack failed and that the harmless control
(writing /tmp, calling quarry's API) worked, so a blind probe cannot pass. Every check
runs against a sandboxed server (bubblewrap) and against a --no-sandbox one, where that
mode promises it (docs/functions.md, "Threat model"). The host paths and ports a function
tries are handed to it in the event: the data directory, the server key, meta.db,
another function's code, quarry's /proc/PID/environ, a throwaway listener of this test.

Needs root (quarry confines functions as root: uids 65100-65499, network namespaces) and
bubblewrap; without them the tests say so and fail.
"""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

from harness import check, eq, expect_client_error, run, test
from quarry_server import ACCOUNT, QuarryServer, binary_path, build_zip, processes_with

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "lambda_fixtures")
ROLE = f"arn:aws:iam::{ACCOUNT}:role/hostile"
PIDS_MAX = 64
# docs/functions.md: the host uids of function processes when quarry is root, one per
# running instance
FN_UIDS = range(65100, 65500)
RUNTIME_API_PORT = 9001

servers = {}  # mode -> QuarryServer
listener = None


def started(extra):
    """A started server with the role the functions here are created with."""
    srv = QuarryServer(extra_args=extra).start()
    srv.lambda_role("hostile")
    return srv


def setup():
    global listener
    check(os.geteuid() == 0, "these tests need root (quarry confines functions as root)")
    check(shutil.which("bwrap") is not None, "these tests need bubblewrap")
    servers["sandbox"] = started(["--function-pids-max", str(PIDS_MAX)])
    servers["no-sandbox"] = started(["--no-sandbox", "--function-pids-max", str(PIDS_MAX)])
    # a host service a function must not reach
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)


def teardown():
    for s in servers.values():
        s.close()
    if listener is not None:
        listener.close()


def fixture(path):
    with open(os.path.join(FIXTURES, path), "rb") as f:
        return f.read()


class Fns:
    """Creates functions on a server and deletes them on exit."""

    def __init__(self, srv):
        self.srv = srv
        self.c = srv.lambda_client()
        self.names = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for n in self.names:
            try:
                self.c.delete_function(FunctionName=n)
            except Exception:
                pass
        return False

    def create(self, base, zip_bytes, runtime="python3.11", handler="lambda_function.lambda_handler",
               env=None):
        name = f"{base}-{uuid.uuid4().hex[:8]}"
        self.c.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
                               Code={"ZipFile": zip_bytes}, Timeout=30,
                               Environment={"Variables": env or {}})
        self.names.append(name)
        return name

    def invoke(self, name, event):
        r = self.c.invoke(FunctionName=name, Payload=json.dumps(event).encode())
        body = json.loads(r["Payload"].read() or b"null")
        check("FunctionError" not in r, f"{name} failed: {body}")
        return body


def hostile_zip():
    return build_zip({"lambda_function.py": fixture("hostile_python/lambda_function.py")})


def victim(fns):
    """Another function with a secret in its environment, warm; returns (name, code dir)."""
    z = build_zip({"lambda_function.py": "import os\n\ndef lambda_handler(e, c):\n"
                                          "    return {'pid': os.getpid(), 'uid': os.getuid()}\n"})
    secret = f"secret-{uuid.uuid4()}"
    name = fns.create("victim", z, env={"SECRET_OF_FUNCTION": secret})
    fns.victim_uid = fns.invoke(name, {})["uid"]
    code_dir = os.path.join(fns.srv.data, "functions", hashlib.sha256(z).hexdigest())
    check(os.path.isdir(code_dir), f"victim's code is not at {code_dir}: the probe would be blind")
    return name, code_dir, secret


def targets(srv, other_code):
    """The host paths a function must not read, by name."""
    key = os.path.join(srv.data, "keys", "server.key")
    meta = os.path.join(srv.data, "meta.db")
    for p in (key, meta):
        check(os.path.exists(p), f"{p} does not exist: the probe would be blind")
    return {"server_key": key, "meta_db": meta,
            "other_code": os.path.join(other_code, "lambda_function.py"),
            "quarry_environ": f"/proc/{srv.proc.pid}/environ"}


def refused(report, key, mode):
    check(key in report, f"{mode}: the report lacks {key}: {report}")
    check(report[key]["ok"] is False, f"{mode}: {key} worked: {report[key]}")


def probe_mode(mode):
    srv = servers[mode]
    port = srv.port
    with Fns(srv) as fns:
        _vname, vcode, secret = victim(fns)
        name = fns.create("hostile", hostile_zip())
        read = targets(srv, vcode)
        write = {"task": "/var/task/x", "etc": "/etc/quarry-x", "root": "/quarry-x",
                 "data": os.path.join(srv.data, "x"), "code": os.path.join(vcode, "x")}
        r = fns.invoke(name, {"op": "probe", "read": read, "write": write,
                              "connect": {"listener": listener.getsockname()[1], "api": port}})
        check(r["uid"] in FN_UIDS, f"{mode}: host uid of the function: {r['uid']}")
        eq(r["gid"], r["uid"], f"{mode}: host gid of the function")
        eq(int(r["cap_eff"], 16), 0, f"{mode}: effective capabilities")
        eq(int(r["cap_bnd"], 16), 0, f"{mode}: bounding set")
        eq(r["no_new_privs"], "1", f"{mode}: no_new_privs")
        eq(r["seccomp"], "2", f"{mode}: seccomp filter mode")
        for k in ("mount_tmpfs", "mount_proc", "mount_cmd", "unshare_user", "unshare_mnt",
                  "ptrace_pid1", "keyctl", "bpf", "packet_socket", "raw_socket"):
            refused(r, k, mode)
        for k in read:
            refused(r, "read_" + k, mode)
        for k in write:
            refused(r, "write_" + k, mode)
        check(r["write_tmp"]["ok"], f"{mode}: /tmp is not writable: the write probe is blind")
        refused(r, "connect_listener", mode)
        check(r["connect_api"]["ok"], f"{mode}: quarry's API unreachable: the connect probe is blind")
        eq(r["listening"], sorted([port, RUNTIME_API_PORT]),
           f"{mode}: listening sockets the function sees (its Runtime API and quarry's API only)")
        check(srv.data not in r["pid1_cmdline"] and "/functions/" not in r["pid1_cmdline"],
              f"{mode}: /proc/1/cmdline shows host paths: {r['pid1_cmdline']}")
        if mode == "sandbox":
            check(srv.proc.pid not in r["visible_pids"] or max(r["visible_pids"]) < 100,
                  f"{mode}: the function sees host processes: {r['visible_pids'][:20]}")
            check(len(r["visible_pids"]) < 10, f"{mode}: pid namespace: {r['visible_pids']}")
        # the victim's secret is not in anything the hostile function can read of it
        env_r = fns.invoke(name, {"op": "env"})
        check(secret not in json.dumps(env_r), f"{mode}: got the other function's secret")


@test
def python_hostile_sandbox():
    probe_mode("sandbox")


@test
def python_hostile_no_sandbox():
    probe_mode("no-sandbox")


def victim_environ_mode(mode):
    """Another function's /proc/PID/environ (its secrets): the hostile function gets the
    victim's host pid, scanned here. Without a pid namespace (--no-sandbox) only the uid
    keeps them apart: each instance has its own."""
    srv = servers[mode]
    with Fns(srv) as fns:
        _vname, _vcode, secret = victim(fns)
        pids = processes_with(secret)
        check(pids, f"{mode}: the victim's process was not found: the probe would be blind")
        name = fns.create("hostile", hostile_zip())
        read = {f"victim_{p}": f"/proc/{p}/environ" for p in pids}
        r = fns.invoke(name, {"op": "probe", "read": read, "write": {}, "connect": {}})
        for k in read:
            refused(r, "read_" + k, mode)
        check(fns.victim_uid in FN_UIDS and r["uid"] in FN_UIDS,
              f"{mode}: uids {fns.victim_uid}, {r['uid']}")
        check(fns.victim_uid != r["uid"], f"{mode}: both functions run as uid {r['uid']}")
        if mode == "no-sandbox":  # the same probe reads the function's own environ: not blind
            r = fns.invoke(name, {"op": "probe", "read": {"own": "/proc/self/environ"},
                                  "write": {}, "connect": {}})
            check(r["read_own"]["ok"], f"{mode}: a function cannot read its own environ: blind")


@test
def other_function_environment_sandbox():
    victim_environ_mode("sandbox")


@test
def other_function_environment_no_sandbox():
    victim_environ_mode("no-sandbox")


@test
def code_libraries_not_loaded_as_root():
    """Lambda's LD_LIBRARY_PATH names /var/task: a library in the zip under a name system
    tools load (libnss_systemd.so.2) must be loaded only by the function's own confined
    processes, never by root, and bwrap (which starts outside the sandbox, before the
    seccomp filter) must start without LD_LIBRARY_PATH: its dynamic loader would search
    those directories of the host. bwrap hands it to the runtime (--setenv)."""
    with tempfile.TemporaryDirectory() as tmp:
        so = os.path.join(tmp, "libnss_systemd.so.2")
        subprocess.run(["cc", "-shared", "-fPIC", "-o", so, os.path.join(FIXTURES, "preload", "preload.c")],
                       check=True)
        with open(so, "rb") as f:
            lib = f.read()
    handler = ("import ctypes, os\n\ndef lambda_handler(e, c):\n"
               "    before = open('/tmp/quarry-preload').read() if os.path.exists('/tmp/quarry-preload') else ''\n"
               "    ctypes.CDLL('/var/task/libnss_systemd.so.2')\n"
               "    return {'before': before, 'after': open('/tmp/quarry-preload').read(),\n"
               "            'llp': os.environ.get('LD_LIBRARY_PATH')}\n")
    marker = f"preload-{uuid.uuid4()}"
    with Fns(servers["sandbox"]) as fns:
        name = fns.create("preload", build_zip({"lambda_function.py": handler,
                                                "libnss_systemd.so.2": lib}), env={"MARK": marker})
        r = fns.invoke(name, {})
        check("uid=" in r["after"], f"the library's constructor did not run even when loaded: blind: {r}")
        check("uid=0\n" not in r["before"] + r["after"], f"the zip's library was loaded as root: {r}")
        eq(r["llp"], "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:"
                     "/var/task/lib:/opt/lib", "the function's LD_LIBRARY_PATH (Lambda's)")
        # the instance is still up: what each of its processes was executed with
        started_with = {}
        for pid in processes_with(marker):
            try:
                exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
                with open(f"/proc/{pid}/environ", "rb") as f:
                    started_with.setdefault(exe, []).append(b"LD_LIBRARY_PATH=" in f.read())
            except OSError:
                pass
        check(started_with.get("bwrap"), f"no bwrap process of the instance found: blind: {started_with}")
        check(not any(started_with["bwrap"]), f"bwrap was executed with LD_LIBRARY_PATH: {started_with}")
        check(any(any(v) for k, v in started_with.items() if k.startswith("python")),
              f"the runtime was not executed with LD_LIBRARY_PATH: the probe is blind: {started_with}")


def fork_mode(mode):
    with Fns(servers[mode]) as fns:
        name = fns.create("forker", hostile_zip())
        r = fns.invoke(name, {"op": "fork", "limit": PIDS_MAX * 4})
        check(r["forked"] > 0, f"{mode}: no fork worked at all: the probe is blind")
        check(r["forked"] < PIDS_MAX, f"{mode}: forked {r['forked']} >= the pids limit {PIDS_MAX}")


@test
def fork_bomb_sandbox():
    fork_mode("sandbox")


@test
def fork_bomb_no_sandbox():
    fork_mode("no-sandbox")


def daemon_mode(extra):
    """A setsid daemon started by a function is gone once quarry was killed with -9 and
    started again (pid namespace, cgroups, the sweep at start)."""
    mark = f"daemon-{uuid.uuid4()}"
    srv = started(extra)
    try:
        fns = Fns(srv)
        name = fns.create("daemon", hostile_zip())
        fns.invoke(name, {"op": "daemon", "mark": mark})
        # the grandchild carries the mark once it has exec'd: wait for that
        end = time.monotonic() + 5
        while not processes_with(mark) and time.monotonic() < end:
            time.sleep(0.05)
        check(processes_with(mark), "the daemon is not running: the test would be blind")
        srv.restart(crash=True)
        end = time.monotonic() + 5
        left = processes_with(mark)
        while left and time.monotonic() < end:
            time.sleep(0.1)
            left = processes_with(mark)
        eq(left, [], "processes of the function left after kill -9 and restart")
    finally:
        for p in processes_with(mark):
            try:
                os.kill(p, 9)
            except OSError:
                pass
        srv.close()


@test
def daemon_dies_with_quarry_sandbox():
    daemon_mode([])


@test
def daemon_dies_with_quarry_no_sandbox():
    daemon_mode(["--no-sandbox"])


def node_mode(mode):
    srv = servers[mode]
    with Fns(srv) as fns:
        _v, vcode, _s = victim(fns)
        read = targets(srv, vcode)
        z = build_zip({"index.js": fixture("hostile_node/index.js")})
        name = fns.create("hostile-node", z, runtime="nodejs20.x", handler="index.handler")
        r = fns.invoke(name, {"read": read, "write": {"etc": "/etc/quarry-x", "task": "/var/task/x",
                                                       "data": os.path.join(srv.data, "x")},
                              "connect": {"listener": listener.getsockname()[1], "api": srv.port}})
        for k in read:
            refused(r, "read_" + k, mode)
        for k in ("write_etc", "write_task", "write_data", "connect_listener", "mount_cmd"):
            refused(r, k, mode)
        check(r["write_tmp"]["ok"], f"{mode}: /tmp not writable: blind")
        check(r["connect_api"]["ok"], f"{mode}: quarry's API unreachable: blind")
        check(r["uid"] in FN_UIDS, f"{mode}: uid {r['uid']}")


@test
def node_hostile_sandbox():
    node_mode("sandbox")


@test
def node_hostile_no_sandbox():
    node_mode("no-sandbox")


def shell_mode(mode):
    srv = servers[mode]
    with Fns(srv) as fns:
        _v, vcode, _s = victim(fns)
        read = targets(srv, vcode)
        z = build_zip({"bootstrap": fixture("hostile_shell/bootstrap")}, mode_of={"bootstrap": 0o755})
        name = fns.create("hostile-sh", z, runtime="provided.al2023", handler="x")
        event = dict(read)
        event["port_listener"] = listener.getsockname()[1]
        out = fns.invoke(name, event)
        words = dict(w.split(":", 1) for w in out.split())
        for k in list(read) + ["port_listener", "mount", "write_etc"]:
            eq(words.get(k), "refused", f"{mode}: shell {k}")
        if mode == "sandbox":
            eq(words.get("write_task"), "refused", f"{mode}: shell write_task")
        eq(words.get("write_tmp"), "ok", f"{mode}: /tmp not writable: blind")
        check(int(words.get("uid", "0")) in FN_UIDS, f"{mode}: shell uid {words.get('uid')}")


@test
def shell_hostile_sandbox():
    shell_mode("sandbox")


@test
def shell_hostile_no_sandbox():
    shell_mode("no-sandbox")


@test
def runtime_bytecode_written_for_the_sandbox():
    """The sandbox mounts runtimes/ read-only, so the Python runtime cannot cache its own
    bytecode: quarry writes it at start where `make runtimes` did not, readable by the
    function's uid (quarry's umask is 077), or every cold start would compile it."""
    with tempfile.TemporaryDirectory() as tmp:
        rt = os.path.join(tmp, "runtimes")
        shutil.copytree(os.path.join(os.path.dirname(HERE), "..", "runtimes", "python"),
                        os.path.join(rt, "python"), ignore=shutil.ignore_patterns("__pycache__"))
        os.chmod(tmp, 0o755)
        cache = os.path.join(rt, "python", "__pycache__")
        check(not os.path.exists(cache), "the copied runtime already has bytecode: blind")
        with QuarryServer(env={"QUARRY_RUNTIMES_DIR": rt}) as srv:
            srv.lambda_role("hostile")
            pycs = [f for f in os.listdir(cache) if f.startswith("quarry_runtime.")] \
                if os.path.isdir(cache) else []
            check(pycs, f"no bytecode for the runtime in {cache}")
            eq(os.stat(cache).st_mode & 0o777, 0o755, "mode of the runtime's __pycache__")
            for f in pycs:
                eq(os.stat(os.path.join(cache, f)).st_mode & 0o777, 0o644, f"mode of {f}")
            handler = ("import os, sys\n\ndef lambda_handler(e, c):\n"
                       "    m = sys.modules['quarry_runtime']\n"
                       "    return {'cached': m.__spec__.cached, 'uid': os.getuid(),\n"
                       "            'readable': os.access(m.__spec__.cached, os.R_OK)}\n")
            with Fns(srv) as fns:
                r = fns.invoke(fns.create("pyc", build_zip({"lambda_function.py": handler})), {})
            check(r["uid"] in FN_UIDS, f"the function did not run as a function uid: blind: {r}")
            check(r["cached"].startswith("/var/runtime/python/__pycache__/"), f"cache path: {r}")
            check(r["readable"], f"the function's uid cannot read the runtime's bytecode: {r}")


@test
def refused_without_bubblewrap():
    """No bwrap on PATH and no --no-sandbox: quarry says so at start and CreateFunction
    refuses with the reason."""
    bindir = os.path.join(os.path.dirname(binary_path()), "nobwrap-bin")
    os.makedirs(bindir, exist_ok=True)
    for prog in ("python3", "node"):
        p = shutil.which(prog)
        if p and not os.path.exists(os.path.join(bindir, prog)):
            os.symlink(p, os.path.join(bindir, prog))
    env = {"PATH": bindir}
    with QuarryServer(env=env) as srv:
        srv.lambda_role("hostile")
        c = srv.lambda_client()
        z = build_zip({"lambda_function.py": "def lambda_handler(e, c):\n    return 1\n"})
        resp = expect_client_error(
            "InvalidParameterValueException", 400, c.create_function, FunctionName="nobwrap",
            Runtime="python3.11", Role=ROLE, Handler="lambda_function.lambda_handler",
            Code={"ZipFile": z})
        check("bubblewrap" in resp["Error"]["Message"] and "--no-sandbox" in resp["Error"]["Message"],
              f"CreateFunction's error does not say why: {resp['Error']}")
        with open(srv.log_path) as f:
            check("bubblewrap" in f.read(), "quarry did not say at start that functions are refused")


@test
def data_dir_private():
    """umask 077: DATA, meta.db, keys, blobs, logs readable by the server only; an
    existing DATA opened to others is closed with a warning."""
    srv = servers["sandbox"]
    b3 = srv.boto3_client()
    b3.create_bucket(Bucket="private-check")
    b3.put_object(Bucket="private-check", Key="k", Body=os.urandom(200000))
    eq(os.stat(srv.data).st_mode & 0o777, 0o700, "DATA mode")
    with open(srv.log_path) as f:
        check("now 0700" in f.read(), "no warning for the 0755 data dir the test made")
    code_root = os.path.join(srv.data, "functions")
    for d, dirs, files in os.walk(srv.data):
        if d.startswith(code_root + "/"):
            continue  # code trees are 0755/0644 for the function's uid, inside 0700 DATA
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            if p == os.path.join(srv.data, "fn", "etc") or d == os.path.join(srv.data, "fn", "etc"):
                continue  # the sandbox's passwd/group, under DATA/fn (0700)
            if os.path.islink(p) or p.startswith(code_root + "/"):
                continue
            eq(st.st_mode & 0o077, 0, f"{p} mode {oct(st.st_mode & 0o777)} is open to others")


def code_dir_of(srv, z):
    return os.path.join(srv.data, "functions", hashlib.sha256(z).hexdigest())


@test
def code_collected():
    """Authenticated disk fill: a 409 CreateFunction unpacks nothing; replaced and deleted
    code is removed once no version names it; shared code stays while one does."""
    srv = servers["sandbox"]
    c = srv.lambda_client()
    src = "def lambda_handler(e, c):\n    return %r\n"
    z1, z2, z3 = (build_zip({"lambda_function.py": src % i}) for i in ("one", "two", "three"))
    a, b = f"gc-a-{uuid.uuid4().hex[:8]}", f"gc-b-{uuid.uuid4().hex[:8]}"

    def create(name, z):
        c.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE,
                          Handler="lambda_function.lambda_handler", Code={"ZipFile": z})
    try:
        create(a, z1)
        check(os.path.isdir(code_dir_of(srv, z1)), "created code is not unpacked: blind")
        expect_client_error("ResourceConflictException", 409, create, a, z2)
        check(not os.path.exists(code_dir_of(srv, z2)), "a 409 CreateFunction unpacked its zip")
        c.update_function_code(FunctionName=a, ZipFile=z3)
        check(not os.path.exists(code_dir_of(srv, z1)), "replaced code was left behind")
        check(os.path.isdir(code_dir_of(srv, z3)), "new code missing")
        create(b, z3)
        c.delete_function(FunctionName=a)
        check(os.path.isdir(code_dir_of(srv, z3)), "code still named by another function was removed")
        eq(c.invoke(FunctionName=b, Payload=b"{}")["Payload"].read(), b'"three"', "b still runs")
        c.delete_function(FunctionName=b)
        check(not os.path.exists(code_dir_of(srv, z3)), "deleted code was left behind")
    finally:
        for n in (a, b):
            try:
                c.delete_function(FunctionName=n)
            except Exception:
                pass


@test
def code_storage_cap():
    """--function-code-max: code that would pass the cap is refused with AWS's
    CodeStorageExceededException; deleting code gives the room back (also after a
    restart, which counts what is on disk)."""
    with QuarryServer(extra_args=["--function-code-max", "300000"]) as srv:
        srv.lambda_role("hostile")
        c = srv.lambda_client()

        def create(name, fill):
            z = build_zip({"lambda_function.py": "def lambda_handler(e, c):\n    return 1\n",
                           "data.bin": fill * 200000})
            c.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE,
                              Handler="lambda_function.lambda_handler", Code={"ZipFile": z})
            return z
        z1 = create("cap-one", b"a")
        expect_client_error("CodeStorageExceededException", 400, create, "cap-two", b"b")
        eq(sorted(n for n in os.listdir(os.path.join(srv.data, "functions")) if len(n) == 64),
           [hashlib.sha256(z1).hexdigest()], "code dirs after the refused create")
        srv.restart()
        c = srv.lambda_client()
        expect_client_error("CodeStorageExceededException", 400, create, "cap-two", b"b")
        c.delete_function(FunctionName="cap-one")
        create("cap-two", b"b")
        c.delete_function(FunctionName="cap-two")


def log_events(srv, group, needle, deadline_s=10.0):
    """Messages of group containing needle, polled until some appear or the deadline."""
    logs = srv.logs_client()
    end = time.monotonic() + deadline_s
    while True:
        try:
            evs = [e["message"] for p in logs.get_paginator("filter_log_events").paginate(
                logGroupName=group, filterPattern=f'"{needle}"') for e in p["events"]]
        except Exception:
            evs = []
        if evs or time.monotonic() > end:
            return evs
        time.sleep(0.2)


@test
def fair_logs():
    """A function printing 24 MB at once does not push another function's lines (or its
    own START/END/REPORT) out of the shared log queue; its drops are counted in its log."""
    srv = servers["sandbox"]
    with Fns(srv) as fns:
        noisy = fns.create("noisy", hostile_zip())
        quiet = fns.create("quiet", hostile_zip())
        marker = f"quiet-line-{uuid.uuid4()}"
        r = fns.c.invoke(FunctionName=noisy, Payload=json.dumps(
            {"op": "flood", "lines": 24000, "bytes": 1000}).encode())
        check("FunctionError" not in r, "the flood failed")
        rid = r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
        fns.invoke(quiet, {"op": "say", "line": marker})
        check(log_events(srv, f"/aws/lambda/{quiet}", marker),
              "the quiet function's line is not in its log")
        reports = log_events(srv, f"/aws/lambda/{noisy}", f"REPORT RequestId: {rid}")
        check(reports, "the noisy function's REPORT line was dropped")
        check(log_events(srv, f"/aws/lambda/{noisy}", f"END RequestId: {rid}"), "END dropped")
        drops = log_events(srv, f"/aws/lambda/{noisy}", "were dropped")
        check(drops, "the noisy function's log does not say lines were dropped")


@test
def function_network_refused_without_pasta():
    """--function-network without pasta on PATH: functions are refused with the reason
    (never run without the network they were promised, nor with one left open)."""
    bindir = os.path.join(os.path.dirname(binary_path()), "nopasta-bin")
    os.makedirs(bindir, exist_ok=True)
    for prog in ("python3", "node", "bwrap"):
        p = shutil.which(prog)
        if p and not os.path.exists(os.path.join(bindir, prog)):
            os.symlink(p, os.path.join(bindir, prog))
    with QuarryServer(env={"PATH": bindir}, extra_args=["--function-network"]) as srv:
        srv.lambda_role("hostile")
        z = build_zip({"lambda_function.py": "def lambda_handler(e, c):\n    return 1\n"})
        resp = expect_client_error(
            "InvalidParameterValueException", 400, srv.lambda_client().create_function,
            FunctionName="nopasta", Runtime="python3.11", Role=ROLE,
            Handler="lambda_function.lambda_handler", Code={"ZipFile": z})
        check("pasta" in resp["Error"]["Message"], f"the error does not say why: {resp['Error']}")


def host_addresses():
    """The host's IPv4 addresses other than loopback, and its default gateway (or None)."""
    out = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True, check=True)
    addrs = [a["local"] for i in json.loads(out.stdout) for a in i.get("addr_info", [])
             if not a["local"].startswith("127.")]
    gw = None
    with open("/proc/net/route") as f:
        for line in f.read().splitlines()[1:]:
            w = line.split()
            if w[1] == "00000000":
                gw = socket.inet_ntoa(int(w[2], 16).to_bytes(4, "little"))
    return addrs, gw


def network_mode(extra, with_network):
    """With --function-network a function has a default route through a non-loopback
    interface; without it, none. Either way the host's loopback services (a listener of
    this test on 127.0.0.1) stay out of reach: directly, through the gateway address
    pasta would map to the host's loopback without --no-map-gw, and through the host's
    own addresses (a second listener on 0.0.0.0)."""
    addrs, gw = host_addresses()
    any_listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    any_listener.bind(("0.0.0.0", 0))
    any_listener.listen(16)
    lport, aport = listener.getsockname()[1], any_listener.getsockname()[1]
    srv = started(extra + (["--function-network"] if with_network else []))
    pastas = []
    try:
        fns = Fns(srv)
        name = fns.create("net", hostile_zip())
        connect = {"loopback": ["127.0.0.1", lport], "api": ["127.0.0.1", srv.port]}
        for i, a in enumerate(addrs):
            connect[f"host_{i}_lo"] = [a, lport]
            connect[f"host_{i}_any"] = [a, aport]
        if gw:
            connect["gateway_lo"] = [gw, lport]
            connect["gateway_any"] = [gw, aport]
        r = fns.invoke(name, {"op": "net", "connect": connect})
        default = [x for x in r["routes"] if x["dest"] == "00000000"]
        others = [i for i in r["ifaces"] if i != "lo"]
        if with_network:
            check(default, f"no default route with --function-network: {r['routes']}")
            check(others, f"no interface but loopback with --function-network: {r['ifaces']}")
        else:
            eq(r["routes"], [], "routes without --function-network")
            eq(others, [], "interfaces besides loopback without --function-network")
        check(r["connect_api"]["ok"], f"quarry's API unreachable: the probe is blind: {r}")
        for k in connect:
            if k != "api":
                refused(r, "connect_" + k, f"network={with_network}")
        with open(srv.log_path) as f:
            said = "--function-network" in f.read()
        eq(said, with_network, "quarry says at start that functions have a network")
        pastas = children_named(srv.proc.pid, ("pasta", "passt", "pasta.avx2", "passt.avx2"))
        eq(bool(pastas), with_network, f"pasta processes of quarry: {pastas}")
    finally:
        srv.close()
        any_listener.close()
    eq([p for p in pastas if os.path.exists(f"/proc/{p}")], [], "pastas left after quarry stopped")


def children_named(ppid, comms):
    """Children of ppid whose command name is one of comms (pasta re-executes itself as
    passt.avx2 where the CPU has AVX2)."""
    found = []
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        name = st[st.index("(") + 1:st.rindex(")")]
        if name in comms and int(st[st.rindex(")") + 2:].split()[1]) == ppid:
            found.append(int(d))
    return found


@test
def function_network_sandbox():
    network_mode([], True)


@test
def function_network_no_sandbox():
    network_mode(["--no-sandbox"], True)


@test
def no_function_network_sandbox():
    network_mode([], False)


if __name__ == "__main__":
    run(setup, teardown)
