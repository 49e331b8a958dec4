"""harness.py - a tiny test runner for quarry's Python integration tests (no pytest here).

Usage in a test file:
    from harness import test, run, check, eq, expect_client_error
    @test
    def put_get(): ...
    if __name__ == "__main__": run()

Each registered function runs in registration order inside try/except with a per-test
alarm; the runner prints `ok NAME` or `FAIL NAME: reason` (plus the last recorded HTTP
exchange, when there is one), then exactly one summary line `N passed, N failed`, and
exits 1 if anything failed. Command-line arguments select tests by name.
tests/run-all.sh reads only that summary line.
"""

import os
import signal
import sys
import time
import traceback

_tests = []
TEST_TIMEOUT_S = int(os.environ.get("QUARRY_TEST_TIMEOUT", "180"))


class TestTimeout(Exception):
    pass


def test(fn):
    _tests.append(fn)
    return fn


class CheckFailed(AssertionError):
    pass


class Skipped(Exception):
    """Raised by a test that cannot run here; counted as skipped, never as passed."""


def check(cond, msg="check failed"):
    if not cond:
        raise CheckFailed(msg)


def eq(got, want, what="value"):
    if got != want:
        g, w = repr(got), repr(want)
        if len(g) > 400:
            g = g[:400] + "..."
        if len(w) > 400:
            w = w[:400] + "..."
        raise CheckFailed(f"{what}: got {g}, want {w}")


def client_error(fn, *a, **kw):
    """Runs fn and returns (code, http_status, response) of the botocore ClientError it
    raises; fails the test if it succeeds."""
    from botocore.exceptions import ClientError
    try:
        r = fn(*a, **kw)
    except ClientError as e:
        err = e.response.get("Error", {})
        return err.get("Code"), e.response.get("ResponseMetadata", {}).get("HTTPStatusCode"), e.response
    raise CheckFailed(f"expected an error, call succeeded: {str(r)[:300]}")


def expect_client_error(code, status, fn, *a, **kw):
    got_code, got_status, resp = client_error(fn, *a, **kw)
    if (code is not None and got_code != code) or (status is not None and got_status != status):
        raise CheckFailed(f"expected {code}/{status}, got {got_code}/{got_status}: {resp.get('Error')}")
    return resp


def _alarm(signum, frame):
    raise TestTimeout(f"test exceeded {TEST_TIMEOUT_S}s")


def _exchange():
    try:
        import quarry_server
        return quarry_server.describe_last_exchange()
    except Exception:
        return ""


def run(setup=None, teardown=None):
    """Runs the registered tests. setup() runs first; if it raises, every test counts as
    failed (so a server that does not start is visible in the totals). teardown() always
    runs."""
    want = set(sys.argv[1:])
    tests = [t for t in _tests if not want or t.__name__ in want]
    passed = failed = skipped = 0
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        if setup is not None:
            try:
                setup()
            except Exception as e:  # noqa: BLE001 - every error is a failure here
                for t in tests:
                    print(f"FAIL {t.__name__}: setup failed: {type(e).__name__}: {e}", flush=True)
                print(f"{passed} passed, {len(tests)} failed, 0 skipped", flush=True)
                sys.exit(1)
        for t in tests:
            import quarry_server
            quarry_server.last_exchange.update(request=None, response=None)
            t0 = time.monotonic()
            signal.alarm(TEST_TIMEOUT_S)
            try:
                t()
                signal.alarm(0)
                passed += 1
                print(f"ok {t.__name__} ({time.monotonic() - t0:.2f}s)", flush=True)
            except Skipped as e:
                signal.alarm(0)
                skipped += 1
                print(f"skip {t.__name__}: {e}", flush=True)
            except BaseException as e:  # noqa: BLE001
                signal.alarm(0)
                if isinstance(e, KeyboardInterrupt):
                    raise
                failed += 1
                reason = f"{type(e).__name__}: {e}" if not isinstance(e, CheckFailed) else str(e)
                where = ""
                tb = traceback.extract_tb(e.__traceback__)
                mine = [f for f in tb if os.path.basename(f.filename).startswith("test_")]
                if mine:
                    where = f" [{os.path.basename(mine[-1].filename)}:{mine[-1].lineno}]"
                reason = reason.replace("\n", "\n    ")
                print(f"FAIL {t.__name__}: {reason}{where}{_exchange()}", flush=True)
                if os.environ.get("QUARRY_TEST_VERBOSE"):
                    traceback.print_exc()
    finally:
        signal.signal(signal.SIGALRM, old)
        if teardown is not None:
            try:
                teardown()
            except Exception as e:  # noqa: BLE001
                print(f"teardown error: {e}", file=sys.stderr)
    # A sanitizer report from any server this program ran is a failure of its own, even
    # when every request happened to get the right answer.
    import quarry_server
    for report in quarry_server.sanitizer_reports:
        failed += 1
        print(f"FAIL sanitizer: {report}", flush=True)
    print(f"{passed} passed, {failed} failed, {skipped} skipped", flush=True)
    sys.exit(1 if failed else 0)
