"""A hostile function: tries what a function must not be able to do and reports, for each
attempt, whether it worked. test_sandbox.py asserts that none did. The event names the
host paths and ports to try (the function cannot know them otherwise)."""

import ctypes
import errno
import os
import socket
import subprocess
import time

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER = 0x10000000
CLONE_NEWNS = 0x00020000


def attempt(fn):
    """{"ok": True, "got": ...} when fn worked, {"ok": False, "err": "..."} when refused."""
    try:
        got = fn()
        return {"ok": True, "got": got if isinstance(got, (int, str, bool)) else repr(got)[:200]}
    except OSError as e:
        return {"ok": False, "err": errno.errorcode.get(e.errno, str(e.errno))}
    except Exception as e:  # noqa: BLE001 - the report says what happened
        return {"ok": False, "err": f"{type(e).__name__}: {e}"[:200]}


def libc_call(name, *args):
    def call():
        r = getattr(libc, name)(*args)
        if r == -1:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        return r
    return call


def read(path):
    return lambda: len(open(path, "rb").read(4096))


def write(path):
    def w():
        with open(path, "wb") as f:
            f.write(b"x")
        return True
    return w


def connect(port):
    def c():
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.close()
        return True
    return c


def connect_to(host, port):
    def c():
        s = socket.create_connection((host, port), timeout=1)
        s.close()
        return True
    return c


def network(ev):
    """The namespace's routes and interfaces, and connections to the given hosts/ports."""
    routes, ifaces = [], []
    with open("/proc/net/route") as f:
        for line in f.read().splitlines()[1:]:
            w = line.split()
            gw = socket.inet_ntoa(int(w[2], 16).to_bytes(4, "little"))
            routes.append({"iface": w[0], "dest": w[1], "gateway": gw})
    with open("/proc/net/dev") as f:
        for line in f.read().splitlines()[2:]:
            ifaces.append(line.split(":")[0].strip())
    r = {"routes": routes, "ifaces": ifaces}
    for name, (host, port) in ev.get("connect", {}).items():
        r["connect_" + name] = attempt(connect_to(host, port))
    return r


def listening_ports():
    """Ports listening on this network namespace (what /proc/net/tcp shows)."""
    ports = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                for line in f.readlines()[1:]:
                    cols = line.split()
                    if cols[3] == "0A":  # LISTEN
                        ports.add(int(cols[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return sorted(ports)


def fork_many(limit):
    """Forks children that wait, until fork fails or limit is reached; returns how many."""
    kids = []
    try:
        for _ in range(limit):
            pid = os.fork()
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            kids.append(pid)
    except OSError:
        pass
    n = len(kids)
    for k in kids:
        try:
            os.kill(k, 9)
            os.waitpid(k, 0)
        except OSError:
            pass
    return n


def daemon(mark):
    """A daemon that leaves the process group and session: double fork + setsid, exec'd
    as sleep with the mark in its environment."""
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            devnull = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            env = dict(os.environ, QUARRY_DAEMON_MARK=mark)
            os.execve("/bin/sleep", ["sleep", "600"], env)
        os._exit(0)
    os.waitpid(pid, 0)
    return True


def probe(ev):
    r = {}
    r["uid"] = os.getuid()
    r["gid"] = os.getgid()
    with open("/proc/self/status") as f:
        st = dict(line.split(":", 1) for line in f if ":" in line)
    r["cap_eff"] = st["CapEff"].strip()
    r["cap_bnd"] = st["CapBnd"].strip()
    r["no_new_privs"] = st.get("NoNewPrivs", "").strip()
    r["seccomp"] = st.get("Seccomp", "").strip()
    os.makedirs("/tmp/mnt", exist_ok=True)
    r["mount_tmpfs"] = attempt(libc_call("mount", b"none", b"/tmp/mnt", b"tmpfs", 0, None))
    r["mount_proc"] = attempt(libc_call("mount", b"proc", b"/tmp/mnt", b"proc", 0, None))
    r["mount_cmd"] = attempt(lambda: subprocess.run(
        ["mount", "-t", "tmpfs", "none", "/tmp/mnt"], capture_output=True).returncode == 0 or
        (_ for _ in ()).throw(OSError(errno.EPERM, "mount(8) failed")))
    r["unshare_user"] = attempt(libc_call("unshare", CLONE_NEWUSER))
    r["unshare_mnt"] = attempt(libc_call("unshare", CLONE_NEWNS))
    r["ptrace_pid1"] = attempt(libc_call("ptrace", 16, 1, None, None))  # PTRACE_ATTACH
    r["keyctl"] = attempt(libc_call("syscall", 250, 0, 0, 0, 0))  # keyctl(GET_KEYRING_ID) x86-64
    r["bpf"] = attempt(libc_call("syscall", 321, 0, None, 0))  # bpf(MAP_CREATE, NULL) x86-64
    r["packet_socket"] = attempt(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0x0300).close())
    r["raw_socket"] = attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close())
    for name, path in ev.get("read", {}).items():
        r["read_" + name] = attempt(read(path))
    for name, path in ev.get("write", {}).items():
        r["write_" + name] = attempt(write(path))
    r["write_tmp"] = attempt(write("/tmp/allowed"))
    for name, port in ev.get("connect", {}).items():
        r["connect_" + name] = attempt(connect(port))
    r["listening"] = listening_ports()
    with open("/proc/1/cmdline", "rb") as f:
        r["pid1_cmdline"] = f.read().replace(b"\0", b" ").decode(errors="replace")
    r["visible_pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    return r


def lambda_handler(event, context):
    op = event.get("op")
    if op == "probe":
        return probe(event)
    if op == "net":
        return network(event)
    if op == "fork":
        return {"forked": fork_many(event["limit"])}
    if op == "daemon":
        return {"daemon": daemon(event["mark"])}
    if op == "flood":
        line = "x" * (event["bytes"] - 1)
        for _ in range(event["lines"]):
            print(line)
        return {"flooded": event["lines"]}
    if op == "say":
        print(event["line"])
        return {"said": True}
    if op == "env":
        return {"secret": os.environ.get("SECRET_OF_FUNCTION", "")}
    raise ValueError(f"unknown op {op!r}")
