"""Unit tests of bootstrap.py's pure pieces (handler strings, imports of real modules in
temporary dirs, error bodies, marshalling, the context object, the -S sys.path setup and
the logging hook). Runs with the image's python3: `python3 runtimes/python/test_bootstrap.py`.
The Runtime API loop itself is tested through quarry's engine (tests/integration), never
against a stand-in server. Expected values are written out literally."""

import decimal
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import quarry_runtime as b  # noqa: E402


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(textwrap.dedent(text))
    return path


class HandlerTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="qrt-py-")
        sys.path.insert(0, self.tmp)

    def tearDown(self):
        sys.path.remove(self.tmp)

    def fault(self, handler):
        with self.assertRaises(b.FaultError) as cm:
            b.load_handler(handler)
        return cm.exception.error_type, cm.exception.message, cm.exception.trace

    def test_parse(self):
        self.assertEqual(b.parse_handler("lambda_function.lambda_handler"),
                         ("lambda_function", "lambda_handler"))
        self.assertEqual(b.parse_handler("src/pkg/app.v2.handler"), ("src/pkg/app.v2", "handler"))
        with self.assertRaises(b.FaultError) as cm:
            b.parse_handler("nodot")
        self.assertEqual(cm.exception.error_type, "Runtime.MalformedHandlerName")
        self.assertEqual(cm.exception.message,
                         "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)")

    def test_load_ok_and_nested(self):
        write(self.tmp, "qrt_ok1.py", "def handler(e, c):\n    return e\n")
        write(self.tmp, "qrtpkg/__init__.py", "")
        write(self.tmp, "qrtpkg/inner.py", "def fn(e, c):\n    return 'inner'\n")
        self.assertEqual(b.load_handler("qrt_ok1.handler")(3, None), 3)
        self.assertEqual(b.load_handler("qrtpkg/inner.fn")(None, None), "inner")

    def test_import_errors(self):
        self.assertEqual(self.fault("qrt_missing_mod.handler"),
                         ("Runtime.ImportModuleError",
                          "Unable to import module 'qrt_missing_mod': No module named 'qrt_missing_mod'",
                          []))
        write(self.tmp, "qrt_dep.py", "import qrt_not_installed\n")
        self.assertEqual(self.fault("qrt_dep.handler")[:2],
                         ("Runtime.ImportModuleError",
                          "Unable to import module 'qrt_dep': No module named 'qrt_not_installed'"))
        write(self.tmp, "qrt_nofn.py", "x = 1\n")
        self.assertEqual(self.fault("qrt_nofn.handler"),
                         ("Runtime.HandlerNotFound", "Handler 'handler' missing on module 'qrt_nofn'", []))
        self.assertEqual(self.fault("sys.handler")[:2],
                         ("Runtime.BuiltInModuleConflict",
                          "Cannot use built-in module sys as a handler module"))
        path = write(self.tmp, "qrt_syntax.py", "def handler(e, c)\n    return 1\n")
        t, msg, trace = self.fault("qrt_syntax.handler")
        self.assertEqual(t, "Runtime.UserCodeSyntaxError")
        self.assertTrue(msg.startswith("Syntax error in module 'qrt_syntax': "), msg)
        self.assertEqual(trace, ['  File "%s" Line 1\n    def handler(e, c)\n' % path])

    def test_exception_body_drops_runtime_frames(self):
        path = write(self.tmp, "qrt_raise.py", """\
            def handler(event, context):
                raise ValueError("boom")
            """)
        fn = b.load_handler("qrt_raise.handler")
        import io
        import contextlib
        log = io.StringIO()
        with contextlib.redirect_stdout(log):
            payload, body = b.run_handler(fn, "req-1", {}, b"{}")
        self.assertIsNone(payload)
        self.assertEqual(log.getvalue(),
                         '[ERROR] ValueError: boom\nTraceback (most recent call last):\n'
                         '  File "%s", line 2, in handler\n    raise ValueError("boom")\n' % path)
        self.assertEqual(body, {
            "errorMessage": "boom", "errorType": "ValueError", "requestId": "req-1",
            "stackTrace": ['  File "%s", line 2, in handler\n    raise ValueError("boom")\n' % path],
        })
        self.assertEqual(list(body), ["errorMessage", "errorType", "requestId", "stackTrace"])
        ok = lambda e, c: {"got": e, "id": c.aws_request_id}  # noqa: E731
        self.assertEqual(b.run_handler(ok, "r2", {}, b'{"k": [1]}'),
                         (b'{"got": {"k": [1]}, "id": "r2"}', None))


class MarshalTests(unittest.TestCase):
    def test_result(self):
        self.assertEqual(b.marshal_result({"a": "\u00e9", "b": [1, 2.5, None, True]}),
                         b'{"a": "\xc3\xa9", "b": [1, 2.5, null, true]}')
        self.assertEqual(b.marshal_result(None), b"null")
        self.assertEqual(b.marshal_result("s\"\n"), b'"s\\"\\n"')
        self.assertEqual(b.marshal_result({"d": decimal.Decimal("2"), "f": decimal.Decimal("1.5")}),
                         b'{"d": 2, "f": 1.5}')

    def test_errors(self):
        with self.assertRaises(b.FaultError) as cm:
            b.marshal_result({1, 2})
        self.assertEqual((cm.exception.error_type, cm.exception.message),
                         ("Runtime.MarshalError",
                          "Unable to marshal response: Object of type set is not JSON serializable"))
        cyc = []
        cyc.append(cyc)
        with self.assertRaises(b.FaultError) as cm:
            b.marshal_result(cyc)
        self.assertEqual(cm.exception.message, "Unable to marshal response: Circular reference detected")

    def test_json_fast_path_matches_json(self):
        samples = ['{"k":1}', ' \n[1, 2.5e3, -0, "\\u00e9\\ud83d\\ude00", {"a": null}] \t',
                   '"x"', '123', 'true', '{"a": {"b": [[], {}]}}', 'NaN', '[Infinity, -Infinity]',
                   '{"a":1,"a":2}', '"\u00e9"']
        for s in samples:
            self.assertEqual(repr(b.json_loads(s)), repr(json.loads(s)), s)
            self.assertEqual(repr(b.json_loads(s.encode("utf-8"))), repr(json.loads(s)), s)
            v = json.loads(s)
            self.assertEqual(b.json_dumps(v), json.dumps(v, ensure_ascii=False), s)
            self.assertEqual(b.json_dumps_ascii(v), json.dumps(v), s)
        for bad in ['', '  ', '{"a":1} x', '[1,', '{"a"}', "'x'"]:
            with self.assertRaises(ValueError, msg=bad):
                b.json_loads(bad)
        with self.assertRaises(b.FaultError) as cm:
            b.unmarshal_event(b'{"a":')
        self.assertEqual(cm.exception.error_type, "Runtime.UnmarshalError")


class ContextTests(unittest.TestCase):
    ENV = {"AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/f",
           "AWS_LAMBDA_LOG_STREAM_NAME": "2024/05/01/[$LATEST]4c5bd3b0a2b14fa4a3c8e0f0f2e6d1a9"}

    def test_fields(self):
        import time
        deadline = int(time.time() * 1000) + 3000
        hdrs = {"lambda-runtime-deadline-ms": str(deadline),
                "lambda-runtime-invoked-function-arn": "arn:aws:lambda:us-east-1:123456789012:function:f:prod",
                "lambda-runtime-client-context": '{"client":{"installation_id":"i1","app_title":"t"},"custom":{"k":"v"},"env":{"e":"1"}}',
                "lambda-runtime-cognito-identity": '{"cognitoIdentityId":"cid","cognitoIdentityPoolId":"pool"}'}
        c = b.context_from_headers("rid", hdrs, self.ENV)
        self.assertEqual((c.aws_request_id, c.function_name, c.function_version, c.memory_limit_in_mb,
                          c.log_group_name, c.log_stream_name, c.invoked_function_arn),
                         ("rid", "f", "$LATEST", "128", "/aws/lambda/f",
                          "2024/05/01/[$LATEST]4c5bd3b0a2b14fa4a3c8e0f0f2e6d1a9",
                          "arn:aws:lambda:us-east-1:123456789012:function:f:prod"))
        self.assertTrue(2000 < c.get_remaining_time_in_millis() <= 3000)
        self.assertEqual((c.identity.cognito_identity_id, c.identity.cognito_identity_pool_id),
                         ("cid", "pool"))
        self.assertEqual((c.client_context.client.installation_id, c.client_context.client.app_title,
                          c.client_context.client.app_version_code, c.client_context.custom,
                          c.client_context.env), ("i1", "t", None, {"k": "v"}, {"e": "1"}))

    def test_absent_and_bad(self):
        c = b.context_from_headers("rid", {"lambda-runtime-deadline-ms": "1"}, self.ENV)
        self.assertEqual(c.get_remaining_time_in_millis(), 0)
        self.assertIsNone(c.client_context)
        self.assertIsNone(c.identity.cognito_identity_id)
        self.assertEqual(b.parse_int("12x"), 0)
        self.assertEqual(b.parse_int("-5"), 0)
        with self.assertRaises(b.FaultError) as cm:
            b.context_from_headers("rid", {"lambda-runtime-client-context": "{bad"}, self.ENV)
        self.assertEqual(cm.exception.error_type, "Runtime.LambdaContextUnmarshalError")

    def test_quote_id(self):
        self.assertEqual(b.quote_id("8476a536-e9f4-11e8-9739-2dfe598c3fcd"),
                         "8476a536-e9f4-11e8-9739-2dfe598c3fcd")
        self.assertEqual(b.quote_id("a b/c%\u00e9"), "a%20b%2Fc%25%C3%A9")


class ProcessTests(unittest.TestCase):
    """Interpreter-level behaviour: run in a child started as the engine starts the runtime."""

    def run_py(self, code, *flags):
        r = subprocess.run([sys.executable, *flags, "-c", code], capture_output=True, text=True,
                           cwd=HERE, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_no_site_finds_boto3(self):
        out = self.run_py(textwrap.dedent("""\
            import sys; sys.path.insert(0, %r)
            import quarry_runtime as bootstrap
            bootstrap.setup_sys_path("/nonexistent-task-root", %r)
            assert sys.path[0] == "/nonexistent-task-root", sys.path
            assert %r not in sys.path
            import boto3; print(boto3.__version__)
            """ % (HERE, HERE, HERE)), "-S")
        self.assertRegex(out, r"^1\.\d+\.\d+\n$")

    def test_logging_hook_formats_like_aws(self):
        out = self.run_py(textwrap.dedent("""\
            import sys; sys.path.insert(0, %r)
            import quarry_runtime as bootstrap
            bootstrap.setup_logging()
            assert "logging" not in sys.modules
            bootstrap._current_request_id = "req-9"
            import logging
            log = logging.getLogger()
            log.setLevel(logging.INFO)
            log.info("hello %%s", "world")
            logging.getLogger("x.y").warning("two\\nlines")
            """ % HERE), "-S")
        lines = out.split("\n")
        ts = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
        self.assertRegex(lines[0], r"^\[INFO\]\t%s\treq-9\thello world$" % ts)
        self.assertRegex(lines[1], r"^\[WARNING\]\t%s\treq-9\ttwo$" % ts)
        self.assertEqual(lines[2:], ["lines", ""])


if __name__ == "__main__":
    unittest.main(verbosity=1)
