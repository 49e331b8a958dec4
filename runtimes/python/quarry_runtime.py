"""quarry's Python runtime: a Lambda Runtime API client (2018-06-01) for python3.x functions.

The engine (src/fn) starts it as `<python3> -S <this file>` in the function's code dir with
AWS_LAMBDA_RUNTIME_API, _HANDLER, LAMBDA_TASK_ROOT and the AWS_* variables set. It imports
the handler once, then loops: GET .../invocation/next (long poll), call handler(event,
context), POST .../response or .../error. Init failures go to /runtime/init/error and the
process exits 1. Error bodies and messages follow the shapes AWS's Python runtime produces
(docs/runtimes.md lists them) because clients and tests compare them.

Why not http.client: importing it pulls email.*, ssl and friends (25-45 ms of a ~20 ms
interpreter start). The Runtime API server is quarry's own and always frames bodies with
Content-Length, so a small HTTP/1.1 client over one keep-alive socket is enough; chunked
replies are still accepted. Why -S: site processing (.pth files) costs ~50 ms here; the
interpreter's site-packages dirs are added explicitly below so boto3 still imports.
Everything not needed on the hot path (traceback, logging setup) is imported lazily,
and JSON goes straight through the C accelerator `_json` (the `json` package imports `re`,
another ~19 ms), falling back to `json` where `_json` is missing or differs.
"""

import os
import sys
import time

try:
    import _socket as _sock  # the C module: socket.py would add enum/selectors imports
except ImportError:  # pragma: no cover - every CPython has it
    import socket as _sock

API_PREFIX = "/2018-06-01/runtime"
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024  # events are <= 6 MB; anything larger is a broken server

# Request id of the invocation in progress, read by the logging handler.
_current_request_id = ""


# ---------------------------------------------------------------------------------------
# JSON: the same scanner/encoder objects json.loads/json.dumps build, minus `import re`.

_WS = " \t\n\r"


def _parse_constant(name):
    return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


class _ScanContext(object):
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_parse_constant)
    memo = None


def _json_default(obj):
    # AWS's runtime encodes Decimal (what boto3's DynamoDB layer returns) as a number.
    import decimal
    if isinstance(obj, decimal.Decimal):
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    raise TypeError("Object of type %s is not JSON serializable" % type(obj).__name__)


def _make_json():
    try:
        import _json
        scan = _json.make_scanner(_ScanContext())

        def encoder(quote):
            # A fresh markers dict per call, as json.dumps does: it detects cycles.
            return _json.make_encoder({}, _json_default, quote, None, ": ", ", ",
                                      False, False, True)
        encoder(_json.encode_basestring)  # signature check: fall back if it changed
    except (ImportError, TypeError, AttributeError):
        import json
        return (json.loads, lambda o: json.dumps(o, ensure_ascii=False, default=_json_default),
                lambda o: json.dumps(o, default=_json_default))

    def loads(s):
        if isinstance(s, (bytes, bytearray)):
            s = s.decode("utf-8")
        n = len(s)
        i = 0
        while i < n and s[i] in _WS:
            i += 1
        try:
            obj, end = scan(s, i)
        except StopIteration as e:
            import json
            raise json.JSONDecodeError("Expecting value", s, e.value) from None
        while end < n and s[end] in _WS:
            end += 1
        if end != n:
            import json
            raise json.JSONDecodeError("Extra data", s, end)
        return obj

    def dumps(o):
        return "".join(encoder(_json.encode_basestring)(o, 0))

    def dumps_ascii(o):
        return "".join(encoder(_json.encode_basestring_ascii)(o, 0))

    return loads, dumps, dumps_ascii


# json_loads(str|bytes), json_dumps(obj) -> str keeping non-ASCII, json_dumps_ascii(obj)
json_loads, json_dumps, json_dumps_ascii = _make_json()


# ---------------------------------------------------------------------------------------
# sys.path


def setup_sys_path(task_root, script_dir):
    """Puts LAMBDA_TASK_ROOT first, drops our own directory (a user module named like one
    of ours must win), and under -S appends the interpreter's site-packages dirs."""
    path = [p for p in sys.path if p and os.path.abspath(p) != script_dir]
    if sys.flags.no_site:
        import site  # with -S importing site runs nothing; it only computes paths
        for d in site.getsitepackages():
            if d not in path and os.path.isdir(d):
                path.append(d)
    if task_root:
        path = [p for p in path if p != task_root]
        path.insert(0, task_root)
    sys.path[:] = path


# ---------------------------------------------------------------------------------------
# Errors, shaped as AWS's Python runtime shapes them


class FaultError(Exception):
    """An error of the runtime itself (bad handler, marshalling), not of user code."""

    def __init__(self, error_type, message, trace=None):
        Exception.__init__(self, message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


def error_body(message, error_type, request_id, stack_trace):
    """The JSON object posted to /error and /init/error (key order as AWS sends it)."""
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": stack_trace,
    }


def exception_body(exc, request_id):
    """Error body of an exception raised by user code. AWS leaves the runtime's own frames
    (and the import machinery's) out of stackTrace."""
    if isinstance(exc, FaultError):
        return error_body(exc.message, exc.error_type, request_id, exc.trace)
    import traceback
    me = os.path.abspath(__file__)
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename != me and not f.filename.startswith("<frozen ")]
    return error_body(str(exc), type(exc).__name__, request_id, traceback.format_list(frames))


def log_error(body):
    """Logs an uncaught error as AWS's runtime does: `[ERROR] Type: message` + traceback."""
    lines = ["[ERROR] %s: %s" % (body["errorType"], body["errorMessage"])]
    if body["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        lines.extend(s.rstrip("\n") for s in body["stackTrace"])
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------
# Handler


def parse_handler(handler):
    """Splits `path/mod.func` at the last dot -> ("path/mod", "func"), or raises
    FaultError(Runtime.MalformedHandlerName) with the message AWS uses."""
    parts = handler.rsplit(".", 1)
    if len(parts) != 2:
        raise FaultError(
            "Runtime.MalformedHandlerName",
            "Bad handler '%s': not enough values to unpack (expected 2, got 1)" % handler)
    return parts[0], parts[1]


def load_handler(handler):
    """Imports the handler's module and returns the function. Raises FaultError with
    Runtime.MalformedHandlerName, BuiltInModuleConflict, ImportModuleError,
    UserCodeSyntaxError or HandlerNotFound."""
    modname, fname = parse_handler(handler)
    if modname.split(".")[0] in sys.builtin_module_names:
        raise FaultError("Runtime.BuiltInModuleConflict",
                         "Cannot use built-in module %s as a handler module" % modname)
    import importlib
    try:
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise FaultError("Runtime.ImportModuleError",
                         "Unable to import module '%s': %s" % (modname, e)) from None
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s\n' % (e.filename, e.lineno, (e.text or "").strip())]
        raise FaultError("Runtime.UserCodeSyntaxError",
                         "Syntax error in module '%s': %s" % (modname, e), trace) from None
    fn = getattr(module, fname, None)
    if fn is None:
        raise FaultError("Runtime.HandlerNotFound",
                         "Handler '%s' missing on module '%s'" % (fname, modname))
    return fn


# ---------------------------------------------------------------------------------------
# Context object (attribute names of AWS's Python runtime)


class CognitoIdentity(object):
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __repr__(self):
        return "CognitoIdentity([cognito_identity_id=%s,cognito_identity_pool_id=%s])" % (
            self.cognito_identity_id, self.cognito_identity_pool_id)


class Client(object):
    __slots__ = ("installation_id", "app_title", "app_version_name", "app_version_code",
                 "app_package_name")

    def __repr__(self):
        return ("Client([installation_id=%s,app_title=%s,app_version_name=%s,"
                "app_version_code=%s,app_package_name=%s])") % (
                    self.installation_id, self.app_title, self.app_version_name,
                    self.app_version_code, self.app_package_name)


class ClientContext(object):
    __slots__ = ("client", "custom", "env")

    def __repr__(self):
        return "ClientContext([client=%s,custom=%s,env=%s])" % (self.client, self.custom, self.env)


def make_identity(d):
    ident = CognitoIdentity()
    d = d if isinstance(d, dict) else {}
    ident.cognito_identity_id = d.get("cognitoIdentityId")
    ident.cognito_identity_pool_id = d.get("cognitoIdentityPoolId")
    return ident


def make_client_context(d):
    if d is None:
        return None
    cc = ClientContext()
    client = d.get("client")
    if client is not None:
        c = Client()
        c.installation_id = client.get("installation_id")
        c.app_title = client.get("app_title")
        c.app_version_name = client.get("app_version_name")
        c.app_version_code = client.get("app_version_code")
        c.app_package_name = client.get("app_package_name")
        client = c
    cc.client = client
    cc.custom = d.get("custom")
    cc.env = d.get("env")
    return cc


class LambdaContext(object):
    """The `context` argument. Environment-derived fields are strings, as in AWS
    (memory_limit_in_mb included)."""

    def __init__(self, request_id, deadline_ms, function_arn, identity=None,
                 client_context=None, tenant_id=None, env=os.environ):
        self.aws_request_id = request_id
        self.invoked_function_arn = function_arn
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.tenant_id = tenant_id
        self.identity = make_identity(identity)
        self.client_context = make_client_context(client_context)
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
        return ("LambdaContext([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,"
                "function_name=%s,memory_limit_in_mb=%s,function_version=%s,"
                "invoked_function_arn=%s,client_context=%s,identity=%s,tenant_id=%s])") % (
                    self.aws_request_id, self.log_group_name, self.log_stream_name,
                    self.function_name, self.memory_limit_in_mb, self.function_version,
                    self.invoked_function_arn, self.client_context, self.identity,
                    self.tenant_id)


def parse_int(s, default=0):
    """Deadline header: a decimal string of epoch ms; anything else -> default."""
    if s and s.isdigit() and s.isascii() and len(s) <= 19:
        return int(s)
    return default


def context_from_headers(request_id, headers, env=os.environ):
    """Builds the context from /next's (lower-cased) headers. Raises FaultError
    Runtime.LambdaContextUnmarshalError on a malformed client context or identity."""
    def load(name):
        v = headers.get(name)
        if not v:
            return None
        try:
            return json_loads(v)
        except ValueError as e:
            raise FaultError("Runtime.LambdaContextUnmarshalError",
                             "Unable to parse %s JSON: %s" % (name, e)) from None

    client_context = load("lambda-runtime-client-context")
    if client_context is not None and not isinstance(client_context, dict):
        client_context = None
    return LambdaContext(request_id,
                         parse_int(headers.get("lambda-runtime-deadline-ms")),
                         headers.get("lambda-runtime-invoked-function-arn"),
                         load("lambda-runtime-cognito-identity"),
                         client_context,
                         headers.get("lambda-runtime-aws-tenant-id"),
                         env)


# ---------------------------------------------------------------------------------------
# Marshalling


def marshal_result(result):
    """Handler result -> response bytes (UTF-8 JSON, non-ASCII kept as is, as AWS does).
    Raises FaultError(Runtime.MarshalError)."""
    try:
        return json_dumps(result).encode("utf-8")
    except Exception as e:
        raise FaultError("Runtime.MarshalError", "Unable to marshal response: %s" % e) from None


def unmarshal_event(body):
    try:
        return json_loads(body)
    except ValueError as e:
        raise FaultError("Runtime.UnmarshalError", "Unable to unmarshal input: %s" % e) from None


# ---------------------------------------------------------------------------------------
# Logging: AWS installs a handler on the root logger that prints
# "[LEVEL]\t<UTC ts>\t<request id>\t<message>". Importing logging costs ~5 ms, so it is
# set up only when user code imports it (most boto3 handlers do, at init).


def _install_log_handler(logging):
    class LambdaLogHandler(logging.Handler):
        def emit(self, record):
            try:
                msg = self.format(record)
                sys.stdout.write(msg + "\n")
                sys.stdout.flush()
            except Exception:
                self.handleError(record)

    class RequestIdFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = _current_request_id
            return True

    fmt = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S")
    fmt.converter = time.gmtime
    h = LambdaLogHandler()
    h.setFormatter(fmt)
    h.addFilter(RequestIdFilter())
    logging.getLogger().addHandler(h)


class _LoggingHook(object):
    """sys.meta_path finder: when `logging` is first imported, lets the normal finders
    load it, then installs the Lambda log handler."""

    def find_spec(self, name, path=None, target=None):
        if name != "logging":
            return None
        sys.meta_path.remove(self)
        import importlib.util
        spec = importlib.util.find_spec("logging")
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader

        class Loader(object):
            def create_module(self, s):
                return loader.create_module(s)

            def exec_module(self, module):
                loader.exec_module(module)
                _install_log_handler(module)

        spec.loader = Loader()
        return spec


def setup_logging():
    if "logging" in sys.modules:
        _install_log_handler(sys.modules["logging"])
    else:
        sys.meta_path.insert(0, _LoggingHook())


# ---------------------------------------------------------------------------------------
# HTTP/1.1 over one keep-alive connection


class HttpError(Exception):
    pass


class RuntimeClient(object):
    """Minimal HTTP/1.1 client for the Runtime API: one persistent connection, no
    timeout (the /next long poll blocks for as long as the environment is idle)."""

    def __init__(self, address):
        host, sep, port = address.rpartition(":")
        if not sep or not port.isdigit():
            raise HttpError("bad AWS_LAMBDA_RUNTIME_API %r" % address)
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        self.host = host
        self.port = int(port)
        self.hostport = address
        self.sock = None
        self.rbuf = b""

    def _connect(self):
        family = _sock.AF_INET6 if ":" in self.host else _sock.AF_INET
        s = _sock.socket(family, _sock.SOCK_STREAM)
        try:
            s.setsockopt(_sock.IPPROTO_TCP, _sock.TCP_NODELAY, 1)
            s.connect((self.host, self.port))
        except OSError:
            s.close()
            raise
        self.sock = s
        self.rbuf = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def request(self, method, path, body=b"", headers=None):
        """Returns (status, lower-cased header dict, body bytes). Retries once on a fresh
        connection when a reused one turns out to be closed by the server."""
        for attempt in (0, 1):
            fresh = self.sock is None
            try:
                if fresh:
                    self._connect()
                return self._exchange(method, path, body, headers)
            except (OSError, HttpError):
                self.close()
                if fresh or attempt == 1:
                    raise
        raise HttpError("unreachable")

    def _exchange(self, method, path, body, headers):
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: " + self.hostport,
                 "User-Agent: quarry-python-runtime/1"]
        if method != "GET":
            lines.append("Content-Length: %d" % len(body))
        if headers:
            for k, v in headers.items():
                lines.append("%s: %s" % (k, v))
        req = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.sock.sendall(req + body if body else req)
        head = self._read_head()
        status_line, _, rest = head.partition(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise HttpError("bad status line %r" % status_line[:100])
        status = int(parts[1])
        hdrs = {}
        for line in rest.split(b"\r\n"):
            name, sep, value = line.partition(b":")
            if sep:
                hdrs[name.strip().lower().decode("latin-1")] = value.strip().decode("utf-8", "replace")
        close = hdrs.get("connection", "").lower() == "close" or parts[0] == b"HTTP/1.0"
        if hdrs.get("transfer-encoding", "").lower() == "chunked":
            data = self._read_chunked()
        elif "content-length" in hdrs:
            n = parse_int(hdrs["content-length"], -1)
            if n < 0 or n > MAX_BODY_BYTES:
                raise HttpError("bad Content-Length")
            data = self._read_exact(n)
        elif status in (204, 304):
            data = b""
        else:
            data = self._read_to_eof()
            close = True
        if close:
            self.close()
        return status, hdrs, data

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise HttpError("connection closed by the Runtime API")
        self.rbuf += chunk

    def _read_head(self):
        while True:
            i = self.rbuf.find(b"\r\n\r\n")
            if i >= 0:
                head, self.rbuf = self.rbuf[:i], self.rbuf[i + 4:]
                return head
            if len(self.rbuf) > MAX_HEADER_BYTES:
                raise HttpError("response header too large")
            self._fill()

    def _read_exact(self, n):
        if len(self.rbuf) < n:
            parts = [self.rbuf]
            have = len(self.rbuf)
            self.rbuf = b""
            while have < n:
                chunk = self.sock.recv(min(n - have, 1 << 20))
                if not chunk:
                    raise HttpError("connection closed mid-body")
                parts.append(chunk)
                have += len(chunk)
            self.rbuf = b"".join(parts)
        data, self.rbuf = self.rbuf[:n], self.rbuf[n:]
        return data

    def _read_line(self):
        while True:
            i = self.rbuf.find(b"\r\n")
            if i >= 0:
                line, self.rbuf = self.rbuf[:i], self.rbuf[i + 2:]
                return line
            if len(self.rbuf) > MAX_HEADER_BYTES:
                raise HttpError("chunk line too long")
            self._fill()

    def _read_chunked(self):
        out = []
        total = 0
        while True:
            size_s = self._read_line().split(b";", 1)[0].strip()
            try:
                size = int(size_s, 16)
            except ValueError:
                raise HttpError("bad chunk size") from None
            if size < 0 or total + size > MAX_BODY_BYTES:
                raise HttpError("chunked body too large")
            if size == 0:
                while self._read_line():  # trailers
                    pass
                return b"".join(out)
            out.append(self._read_exact(size))
            total += size
            if self._read_line():
                raise HttpError("bad chunk terminator")

    def _read_to_eof(self):
        parts = [self.rbuf]
        self.rbuf = b""
        total = len(parts[0])
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                return b"".join(parts)
            total += len(chunk)
            if total > MAX_BODY_BYTES:
                raise HttpError("body too large")
            parts.append(chunk)

    # Runtime API calls --------------------------------------------------------------

    def next_invocation(self):
        status, hdrs, body = self.request("GET", API_PREFIX + "/invocation/next")
        if status != 200:
            raise HttpError("/next returned %d: %r" % (status, body[:200]))
        if not hdrs.get("lambda-runtime-aws-request-id"):
            raise HttpError("/next response without Lambda-Runtime-Aws-Request-Id")
        return hdrs, body

    def post(self, path, payload, headers):
        status, _, body = self.request("POST", path, payload, headers)
        if status != 202:
            raise HttpError("POST %s returned %d: %r" % (path, status, body[:200]))

    def post_response(self, request_id, payload):
        self.post("%s/invocation/%s/response" % (API_PREFIX, quote_id(request_id)), payload,
                  {"Content-Type": "application/json"})

    def post_error(self, request_id, body):
        self.post("%s/invocation/%s/error" % (API_PREFIX, quote_id(request_id)),
                  json_dumps_ascii(body).encode("utf-8"),
                  {"Content-Type": "application/json",
                   "Lambda-Runtime-Function-Error-Type": "Unhandled"})

    def post_init_error(self, body):
        self.post(API_PREFIX + "/init/error", json_dumps_ascii(body).encode("utf-8"),
                  {"Content-Type": "application/json",
                   "Lambda-Runtime-Function-Error-Type": body["errorType"]})


_ID_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def quote_id(request_id):
    """Request ids are opaque: percent-encode anything outside the unreserved set."""
    raw = request_id.encode("utf-8")
    if all(b in _ID_SAFE for b in raw):
        return request_id
    return "".join(chr(b) if b in _ID_SAFE else "%%%02X" % b for b in raw)


# ---------------------------------------------------------------------------------------
# Main loop


def run_handler(handler, request_id, hdrs, body):
    """Runs one invocation: (response bytes, None) or (None, error body). Logs the error."""
    try:
        context = context_from_headers(request_id, hdrs)
        event = unmarshal_event(body)
        return marshal_result(handler(event, context)), None
    except Exception as e:
        err = exception_body(e, request_id)
        log_error(err)
        return None, err
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def invoke_once(client, handler, hdrs, body):
    """Runs one invocation and posts its outcome."""
    global _current_request_id
    request_id = hdrs["lambda-runtime-aws-request-id"]
    _current_request_id = request_id
    trace_id = hdrs.get("lambda-runtime-trace-id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    payload, err = run_handler(handler, request_id, hdrs, body)
    if err is not None:
        client.post_error(request_id, err)
    else:
        client.post_response(request_id, payload)


def main():
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)
    env = os.environ
    task_root = env.get("LAMBDA_TASK_ROOT") or os.getcwd()
    setup_sys_path(task_root, os.path.dirname(os.path.abspath(__file__)))
    address = env.get("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
    try:
        client = RuntimeClient(address)
    except HttpError as e:
        sys.stderr.write("quarry runtime: %s\n" % e)
        return 1
    setup_logging()
    try:
        handler = load_handler(env.get("_HANDLER", ""))
    except FaultError as e:
        err = error_body(e.message, e.error_type, "", e.trace)
        log_error(err)
        try:
            client.post_init_error(err)
        except (OSError, HttpError) as pe:
            sys.stderr.write("quarry runtime: init error not delivered: %s\n" % pe)
        return 1
    except Exception as e:  # an exception raised by the module's top-level code
        err = exception_body(e, "")
        log_error(err)
        try:
            client.post_init_error(err)
        except (OSError, HttpError) as pe:
            sys.stderr.write("quarry runtime: init error not delivered: %s\n" % pe)
        return 1
    while True:
        try:
            hdrs, body = client.next_invocation()
            invoke_once(client, handler, hdrs, body)
        except (OSError, HttpError) as e:
            # The Runtime API is gone or refused a post: AWS's clients exit here too.
            sys.stderr.write("quarry runtime: %s\n" % e)
            return 1


if __name__ == "__main__":
    sys.exit(main())
