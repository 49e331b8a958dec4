"""durability_check.py - checks the order of durability events in a qr_durability_shim log.

The log (see qr_durability_shim.c) holds one line per fsync/fdatasync/rename/socket write,
in the order they happened, plus MARK lines the test writes itself around each PUT:
    MARK begin <label>   before the client sends the PUT
    MARK end <label>     after the client has read the whole response
PUTs are sequential, so every event between a begin/end pair belongs to that PUT.

For a PUT whose body goes to a blob file the required order is
    fsync(tmp file) < rename(tmp -> final under objects/) < fsync(dir of final)
        < fsync/fdatasync(meta.db-wal) < first write of the final response on the socket
and for a small (inline) PUT
    fsync/fdatasync(meta.db-wal) < response write.
check() returns a list of human-readable problems; empty means the log is fine.
"""

import os
import urllib.parse

SYNC = ("fsync", "fdatasync")
RENAME = ("rename", "renameat", "renameat2")
SOCK = ("sockwrite", "sockwritev", "send", "sendto", "sendmsg")


class Event:
    __slots__ = ("idx", "ns", "pid", "tid", "kind", "fd", "ret", "path", "path2", "data")

    def __init__(self, idx, fields):
        self.idx = idx
        self.ns, self.pid, self.tid, self.kind, self.fd, self.ret = fields[:6]
        self.ret = int(self.ret) if self.ret.lstrip("-").isdigit() else self.ret
        self.path = urllib.parse.unquote(fields[6]) if len(fields) > 6 else ""
        self.path2 = urllib.parse.unquote(fields[7]) if len(fields) > 7 else ""
        self.data = urllib.parse.unquote(fields[8]) if len(fields) > 8 else ""

    def __repr__(self):
        extra = f" -> {self.path2}" if self.path2 else ""
        data = f" data={self.data!r}" if self.data else ""
        return f"#{self.idx} tid={self.tid} {self.kind} fd={self.fd} ret={self.ret} {self.path}{extra}{data}"


def parse(text):
    events = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 6:
            continue
        events.append(Event(len(events), fields))
    return events


def mark_line(pid, tid, what, label):
    """The line the test appends for a MARK (same layout as the shim's lines)."""
    return f"0\t{pid}\t{tid}\tMARK\t-1\t0\t{what}\t{label}\t\n"


def is_final_response(e):
    """A socket write that starts an HTTP response other than 1xx (100 Continue)."""
    if e.kind not in SOCK:
        return False
    d = e.data
    return d.startswith("HTTP/1.") and len(d) >= 10 and d[9] in "2345"


def under(path, root):
    return path == root or path.startswith(root.rstrip("/") + "/")


def segments(events):
    """{label: list of events between MARK begin and MARK end} and any structural errors."""
    segs, errs = {}, []
    cur = None
    for e in events:
        if e.kind == "MARK":
            if e.path == "begin":
                if cur is not None:
                    errs.append(f"MARK begin {e.path2} inside segment {cur}")
                cur = e.path2
                segs[cur] = []
            elif e.path == "end":
                if cur != e.path2:
                    errs.append(f"MARK end {e.path2} does not close {cur}")
                cur = None
            continue
        if cur is not None:
            segs[cur].append(e)
    if cur is not None:
        errs.append(f"segment {cur} never ended")
    return segs, errs


def check_segment(label, kind, evs, data_dir):
    """Problems with one PUT's events (kind 'blob' or 'small')."""
    data_dir = os.path.realpath(data_dir)
    objects = os.path.join(data_dir, "objects")
    resp = next((e for e in evs if is_final_response(e)), None)
    if resp is None:
        return [f"{label}: no HTTP response write seen on a socket"]
    pre = [e for e in evs if e.idx < resp.idx]
    # 2xx: a DeleteObject that makes a delete marker answers 204
    if not resp.data.startswith("HTTP/1.1 2") and not resp.data.startswith("HTTP/1.0 2"):
        return [f"{label}: response was not a success: {resp.data!r}"]
    wal_syncs = [e for e in pre if e.kind in SYNC and e.ret == 0 and e.path.endswith("/meta.db-wal")
                 and under(e.path, data_dir)]
    if kind == "small":
        if not wal_syncs:
            return [f"{label}: response {resp!r} written before any sync of meta.db-wal"
                    f" (events before it: {pre!r})"]
        return []

    renames = [e for e in pre if e.kind in RENAME and e.ret == 0 and under(e.path2, objects)]
    if not renames:
        after = [e for e in evs if e.idx > resp.idx and e.kind in RENAME]
        why = " (a rename came only after the response)" if after else ""
        return [f"{label}: no rename into {objects} before the response{why}; events before it: {pre!r}"]
    problems = []
    for r in renames:
        tmp_sync = [e for e in pre if e.kind in SYNC and e.ret == 0 and e.path == r.path and e.idx < r.idx]
        if not tmp_sync:
            problems.append(f"{label}: {r!r} not preceded by a sync of {r.path}")
            continue
        d = os.path.dirname(r.path2)
        dir_sync = [e for e in pre if e.kind in SYNC and e.ret == 0 and e.path == d and e.idx > r.idx]
        if not dir_sync:
            problems.append(f"{label}: no sync of directory {d} between {r!r} and the response")
            continue
        wal = [e for e in wal_syncs if e.idx > dir_sync[0].idx]
        if not wal:
            problems.append(f"{label}: no meta.db-wal sync between the directory sync {dir_sync[0]!r} "
                            f"and the response {resp!r}")
            continue
        return []  # this rename satisfies the whole chain
    return problems


def check(events, puts, data_dir):
    """puts: list of (label, kind). Returns a list of problems."""
    segs, problems = segments(events)
    for label, kind in puts:
        if label not in segs:
            problems.append(f"{label}: no MARK segment in the log")
            continue
        problems += check_segment(label, kind, segs[label], data_dir)
    return problems
