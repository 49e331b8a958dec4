"""quarry_server.py - start the real quarry binary for an integration test and always stop it.

QuarryServer runs `$BUILD/quarry serve` on 127.0.0.1 (port 0 unless told otherwise) with a
fresh mkdtemp data directory, waits for the one `quarry listening on http://...` line on
stdout (deadline, no fixed sleeps), and exposes the endpoint and root credentials. The
process is stopped by its own PID (its process group, which it was started in) from the
context manager, from an atexit hook and from SIGTERM/SIGINT/SIGHUP handlers, so a test
that fails or is interrupted never leaves a server behind. restart() keeps the data
directory (session-survives-restart and crash tests); kill9() simulates a crash.

TLS mode (QUARRY_TEST_TLS=1, tests/run-all.sh's second pass): every server also serves
HTTPS on a --tls-port of its own with one throwaway self-signed certificate (for 127.0.0.1,
localhost and ACCOUNT.localhost), `endpoint` and `control_endpoint` name the HTTPS port, and
AWS_CA_BUNDLE / SSL_CERT_FILE / CURL_CA_BUNDLE / NODE_EXTRA_CA_CERTS make boto3, the aws
CLI, urllib, curl and node
trust it, so every test that talks through an endpoint runs over TLS unchanged. Tests that
speak raw HTTP to `port` (the parser, connection limits) stay on the plain port.

Layout of the scratch directory (one per server object):
    <root>/data        the server's --data directory (nothing else is written there)
    <root>/server.log  the server's stderr (access log), kept outside the data dir so tests
                       can walk the data dir and see only what the server wrote
"""

import atexit
import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

DEFAULT_AK = "quarry"
DEFAULT_SK = "quarry-secret-key"
REGION = "us-east-1"
ACCOUNT = "123456789012"
# CreateBucketConfiguration of a directory bucket in zone use1-az4 (names end --use1-az4--x-s3)
DIR_CFG = {"Location": {"Type": "AvailabilityZone", "Name": "use1-az4"},
           "Bucket": {"DataRedundancy": "SingleAvailabilityZone", "Type": "Directory"}}
READY_RE = re.compile(rb"^quarry listening on (http://127\.0\.0\.1:(\d+))\s*$")
TLS_READY_RE = re.compile(rb"^quarry listening on (https://127\.0\.0\.1:(\d+))\s*$")
TLS = os.environ.get("QUARRY_TEST_TLS") == "1"
READY_DEADLINE_S = 10.0

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_live = set()     # servers with a running process, for the exit hooks
_created = set()  # every server object, so exit removes its scratch directory
sanitizer_reports = []  # sanitizer reports found in server logs (close() fills it)


def binary_path():
    """$BUILD/quarry, relative paths taken from the repository root."""
    build = os.environ.get("BUILD", "build")
    if not os.path.isabs(build):
        build = os.path.join(REPO, build)
    return os.path.join(build, "quarry")


def free_port():
    """A loopback port that was free a moment ago (for tests that need a fixed port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerError(Exception):
    pass


_tls_files = None


def tls_files():
    """(cert, key) of TLS mode: QUARRY_TEST_TLS_CERT/KEY when run-all made them, else a pair
    made once for this process. Points every client library of this process (and of the
    processes it starts) at the certificate."""
    global _tls_files
    if _tls_files is None:
        cert = os.environ.get("QUARRY_TEST_TLS_CERT")
        key = os.environ.get("QUARRY_TEST_TLS_KEY")
        if not cert or not key:
            d = tempfile.mkdtemp(prefix="quarry-tlscert-")
            atexit.register(shutil.rmtree, d, True)
            cert, key = make_tls_cert(d)
        for var in ("AWS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"):
            os.environ[var] = cert
        _tls_files = (cert, key)
    return _tls_files


def make_tls_cert(d):
    """A self-signed certificate for every name the tests connect to, valid one day."""
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    # S3 Control clients send to ACCOUNT.localhost (test_batch also tries another account);
    # OpenSSL matches no wildcard under a one-label name, so each is named
    san = (f"subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:{ACCOUNT}.localhost,"
           "DNS:210987654321.localhost")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", san, "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert, key


LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}


class QuarryServer:
    def __init__(self, fsync=False, log_level="info", port=0, root_keys=None, env=None,
                 extra_args=None):
        """fsync=False passes --no-fsync (fast throwaway servers); crash and durability
        tests pass fsync=True. root_keys=(ak, sk) sets QUARRY_ROOT_*; None leaves them
        unset so the server's defaults are exercised. env: extra environment (e.g.
        LD_PRELOAD for the durability shim)."""
        self.root = tempfile.mkdtemp(prefix="quarry-it-")
        self.data = os.path.join(self.root, "data")
        os.mkdir(self.data)
        self.log_path = os.path.join(self.root, "server.log")
        self.fsync = fsync
        self.log_level = log_level
        self.port = port
        self.extra_args = list(extra_args or [])
        self.env = dict(os.environ)
        self.env.pop("QUARRY_ROOT_ACCESS_KEY", None)
        self.env.pop("QUARRY_ROOT_SECRET_KEY", None)
        if root_keys is not None:
            self.env["QUARRY_ROOT_ACCESS_KEY"] = root_keys[0]
            self.env["QUARRY_ROOT_SECRET_KEY"] = root_keys[1]
            self.access_key, self.secret_key = root_keys
        else:
            self.access_key, self.secret_key = DEFAULT_AK, DEFAULT_SK
        if env:
            self.env.update(env)
        # TLS mode, unless the test configures TLS itself
        self.tls = TLS and "--tls-cert" not in self.extra_args
        self.tls_port = 0
        self.proc = None
        self.endpoint = None       # what clients use: HTTPS in TLS mode
        self.plain_endpoint = None  # always the plain HTTP listener
        self.starts = 0
        self._drain = None
        _created.add(self)

    # ---- lifecycle ----

    def start(self, port=None):
        if self.proc is not None:
            raise ServerError("already running")
        if port is not None:
            self.port = port
        exe = binary_path()
        if not os.access(exe, os.X_OK):
            raise ServerError(f"no server binary at {exe} (set BUILD)")
        argv = [exe, "serve", "--address", "127.0.0.1", "--port", str(self.port),
                "--data", self.data, "--log-level", self.log_level]
        if not self.fsync:
            argv.append("--no-fsync")
        argv += self.extra_args
        if self.tls:
            cert, key = tls_files()
            argv += ["--tls-cert", cert, "--tls-key", key, "--tls-port", str(self.tls_port)]
        log = open(self.log_path, "ab")
        log.write(f"==== start #{self.starts + 1}: {' '.join(argv)}\n".encode())
        log.flush()
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=log, env=self.env, start_new_session=True)
        finally:
            log.close()
        _live.add(self)
        self.starts += 1
        try:
            self._wait_ready()
        except BaseException:
            self.kill9()
            raise
        return self

    def _wait_ready(self):
        deadline = time.monotonic() + READY_DEADLINE_S
        out = self.proc.stdout
        sel = selectors.DefaultSelector()
        sel.register(out, selectors.EVENT_READ)
        buf = b""
        seen = []
        plain = tls = None
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServerError(f"no listening line within {READY_DEADLINE_S}s; stdout so far "
                                      f"{seen!r}; stderr tail:\n{self.log_tail()}")
                if not sel.select(timeout=left):
                    continue
                chunk = os.read(out.fileno(), 4096)
                if not chunk:
                    rc = self.proc.wait(timeout=5)
                    raise ServerError(f"server exited (rc={rc}) before listening; stdout {seen!r}; "
                                      f"stderr tail:\n{self.log_tail()}")
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    seen.append(line)
                    m = READY_RE.match(line)
                    if m:
                        plain = m.group(1).decode()
                        self.port = int(m.group(2))
                    m = TLS_READY_RE.match(line)
                    if m and self.tls:
                        tls = m.group(1).decode()
                        self.tls_port = int(m.group(2))
                    if plain and (tls or not self.tls):
                        self.plain_endpoint = plain
                        self.endpoint = tls or plain
                        self._start_drain(buf)
                        return
        finally:
            sel.close()

    def _start_drain(self, pending):
        """Keeps reading stdout after the ready line so the pipe never fills up."""
        proc = self.proc

        def drain():
            try:
                while os.read(proc.stdout.fileno(), 65536):
                    pass
            except (OSError, ValueError):
                pass

        self._drain = threading.Thread(target=drain, daemon=True)
        self._drain.start()

    def _reap(self):
        try:
            self.proc.stdout.close()
        except Exception:
            pass
        self.proc = None
        _live.discard(self)

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL after timeout. Returns the exit status (or None)."""
        if self.proc is None:
            return None
        p = self.proc
        rc = None
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._killpg9(p)
            rc = p.wait()
        # anything the server started in its group goes too
        self._killpg9(p)
        self._reap()
        return rc

    @staticmethod
    def _killpg9(p):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def kill9(self):
        """Crash: SIGKILL the server (and its process group) and reap it."""
        if self.proc is None:
            return
        p = self.proc
        self._killpg9(p)
        p.wait()
        self._reap()

    def restart(self, same_port=True, crash=False, retry_s=5.0):
        """Stops (or kill -9s) and starts again on the same data dir. same_port retries the
        old port for up to retry_s (it may still be in TIME_WAIT or held briefly)."""
        old = self.port
        if crash:
            self.kill9()
        else:
            self.stop()
        if not same_port:
            self.tls_port = 0
            return self.start(port=0)
        deadline = time.monotonic() + retry_s
        while True:
            try:
                return self.start(port=old)
            except ServerError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _scan_sanitizer_log(self):
        """Records ASan/UBSan/LSan reports the server wrote (make test SANITIZE=1)."""
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            i = text.find(marker)
            if i >= 0:
                sanitizer_reports.append(text[max(0, i - 200):i + 1500])
                return

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def close(self):
        """Stops the server and removes the scratch directory."""
        self.stop()
        self._scan_sanitizer_log()
        _created.discard(self)
        if os.environ.get("QUARRY_KEEP_DATA"):
            sys.stderr.write(f"kept {self.root}\n")
            return
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # ---- helpers for tests ----

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return "(no log)"

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    @property
    def endpoint_port(self):
        """The port `endpoint` names (the HTTPS one in TLS mode)."""
        return self.tls_port if self.tls else self.port

    def connection(self, timeout=30):
        """An http.client connection to `endpoint` (HTTPS in TLS mode), for raw requests."""
        import http.client
        if self.tls:
            return http.client.HTTPSConnection("127.0.0.1", self.tls_port, timeout=timeout)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    @property
    def control_endpoint(self):
        """The S3 Control endpoint: a host name, since its clients send to ACCOUNT.<host>."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://localhost:{self.endpoint_port}"

    def client_env(self, home):
        """Environment for the aws CLI / other processes: only our endpoint and keys."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({
            "HOME": home,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_CONFIG_FILE": os.path.join(home, "config"),
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        })
        env.update(self.tls_env())
        return env

    def tls_env(self):
        """What a client process needs to trust `endpoint`: AWS_CA_BUNDLE in TLS mode."""
        return {"AWS_CA_BUNDLE": tls_files()[0]} if self.tls else {}

    def boto3_client(self, access_key=None, secret_key=None, recorder=True, plain=False, **cfg):
        """A boto3 S3 client for this server: path-style on the IP endpoint, no retries (a
        retried 5xx would hide a server bug), every exchange recorded for failure reports.
        plain: the plain HTTP listener even in TLS mode (for what only plain HTTP shows)."""
        import boto3
        from botocore.config import Config
        conf = {"retries": {"total_max_attempts": 1}, "connect_timeout": 10,
                "read_timeout": 60, "s3": {"addressing_style": "path"}}
        conf.update(cfg)
        c = boto3.client("s3", endpoint_url=self.plain_endpoint if plain else self.endpoint,
                         region_name=REGION, aws_access_key_id=access_key or self.access_key,
                         aws_secret_access_key=secret_key or self.secret_key,
                         config=Config(**conf))
        if recorder:
            record_client(c)
        return c

    def _json_client(self, service, recorder, cfg):
        import boto3
        from botocore.config import Config
        conf = {"retries": {"total_max_attempts": 1}, "connect_timeout": 10, "read_timeout": 120}
        conf.update(cfg)
        c = boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                         aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                         config=Config(**conf))
        if recorder:
            record_client(c)
        return c

    def iam_client(self, recorder=True, **cfg):
        """A boto3 IAM client for this server, no retries."""
        return self._json_client("iam", recorder, cfg)

    def sts_client(self, recorder=True, **cfg):
        """A boto3 STS client for this server, no retries."""
        return self._json_client("sts", recorder, cfg)

    def lambda_role(self, name="lambda-ex", actions=("s3:*", "s3express:*", "logs:*"),
                    service="lambda.amazonaws.com"):
        """Creates the execution role the Lambda walkthrough creates first: trusted by
        service (lambda.amazonaws.com), with an inline policy allowing actions on every
        resource. A function's credentials act as its role, so functions need it to reach
        S3; a Batch Operations job's tasks act as its RoleArn the same way."""
        iam = self.iam_client()
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(RoleName=name, PolicyName="quarry-tests", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}))
        return f"arn:aws:iam::123456789012:role/{name}"

    def batch_role(self, name="batch-ops"):
        """The role a Batch Operations job runs as: trusted by
        batchoperations.s3.amazonaws.com, allowed S3 and lambda:InvokeFunction."""
        return self.lambda_role(name, ("s3:*", "s3express:*", "lambda:InvokeFunction"),
                                "batchoperations.s3.amazonaws.com")

    def lambda_client(self, recorder=True, **cfg):
        """A boto3 Lambda client for this server: no retries (a retried 429/5xx would hide
        what the server said), read_timeout 120 s (invokes wait for the function)."""
        return self._json_client("lambda", recorder, cfg)

    def logs_client(self, recorder=True, **cfg):
        """A boto3 CloudWatch Logs client for this server, no retries."""
        return self._json_client("logs", recorder, cfg)


# ---- Lambda helpers: deployment zips and the function processes a server started ----

def build_zip(files, mode_of=None):
    """A deployment zip in memory: files maps archive name -> bytes/str. mode_of maps names
    to Unix modes (e.g. 0o755 for `bootstrap`); others get 0o644. Fixed timestamps so the
    same files give the same bytes (and the same CodeSha256)."""
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(files):
            data = files[name]
            if isinstance(data, str):
                data = data.encode()
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = ((mode_of or {}).get(name, 0o644) | 0o100000) << 16
            z.writestr(info, data)
    return buf.getvalue()


def processes_with(marker):
    """PIDs (other than ours) whose environment or command line contains marker (bytes or
    str): the processes of a function whose Environment carried that marker."""
    if isinstance(marker, str):
        marker = marker.encode()
    found = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        for part in ("environ", "cmdline"):
            try:
                with open(f"/proc/{d}/{part}", "rb") as f:
                    if marker in f.read():
                        found.append(int(d))
                        break
            except OSError:
                pass
    return found


def children_of(pid):
    """PIDs whose parent is pid (from /proc/PID/stat)."""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rfind(b")") + 2:].split()
        if len(rest) > 1 and int(rest[1]) == pid:
            kids.append(int(d))
    return kids


# ---- exchange recorder: the last request/response of any recorded client ----

last_exchange = {"request": None, "response": None}


def _short(b, n=600):
    if b is None:
        return ""
    if hasattr(b, "read"):
        return "<stream>"
    if isinstance(b, str):
        b = b.encode()
    s = bytes(b[:n]).decode("utf-8", "replace")
    return s + ("..." if len(b) > n else "")


def record_client(client):
    def before_send(request, **kw):
        hdrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
        last_exchange["request"] = f"{request.method} {request.url}\n  headers={hdrs}\n  body={_short(request.body)!r}"
        last_exchange["response"] = None

    def received(response_dict=None, exception=None, **kw):
        if response_dict is not None:
            body = response_dict.get("body")
            last_exchange["response"] = (f"{response_dict.get('status_code')} "
                                         f"headers={dict(response_dict.get('headers', {}))}\n  body={_short(body)!r}")
        elif exception is not None:
            last_exchange["response"] = f"exception {exception!r}"

    sid = client.meta.service_model.service_id.hyphenize()  # "s3", "lambda", "cloudwatch-logs"
    client.meta.events.register(f"before-send.{sid}", before_send)
    client.meta.events.register(f"response-received.{sid}", received)


def describe_last_exchange():
    if last_exchange["request"] is None:
        return ""
    return f"\n    last request: {last_exchange['request']}\n    last response: {last_exchange['response']}"


# ---- exit hooks: never leave a server running ----

def _stop_all():
    for s in list(_live):
        try:
            s.kill9()
        except Exception:
            pass


def _cleanup_all():
    for s in list(_created):
        try:
            s.close()
        except Exception:
            pass


atexit.register(_cleanup_all)


def _on_signal(signum, frame):
    _stop_all()
    _cleanup_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    try:
        signal.signal(_sig, _on_signal)
    except (ValueError, OSError):  # not the main thread
        pass
