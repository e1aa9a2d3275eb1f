"""Helpers for the integration tests: free ports, HTTP, bounded waits, process cleanup."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


FAILED = []


def fail(msg):
    print("FAIL: " + msg, flush=True)
    FAILED.append(msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def ports_free(ports):
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


# Below Linux's default ephemeral range (ip_local_port_range 32768-60999): a port picked there
# can be taken by any outgoing connection between the check and the node's bind, or while a
# test has a node stopped (a restarted node then cannot listen).
PORTS_LOW = 20000
PORTS_HIGH = 32768


def free_port_range(count, p2p_offset):
    """A base port such that base..base+count-1 and base+p2p_offset.. are free, all of them
    below the ephemeral range."""
    seed = os.getpid() * 7919
    span = PORTS_HIGH - PORTS_LOW - p2p_offset - count
    check(span > 0, "no port range for %d nodes at offset %d" % (count, p2p_offset))
    for attempt in range(200):
        base = PORTS_LOW + (seed + attempt * 97) % span
        if ports_free(range(base, base + count)) and ports_free(
                range(base + p2p_offset, base + p2p_offset + count)):
            return base
    fail("no free port range")


def http(method, url, body=None, timeout=5, content_type="application/json"):
    """(status, parsed JSON or None). Status 0 when the connection fails."""
    data = None
    headers = {}
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = content_type
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"null")
        except ValueError:
            return e.code, None
    except (urllib.error.URLError, ConnectionError, socket.timeout, OSError):
        return 0, None



def read_devnet(path):
    """The devnet's devnet.json, or None while it is missing or half written."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def status_of(url):
    """GET /v1/status of the node at url, or None if it does not answer 200."""
    code, body = http("GET", url + "/v1/status")
    return body if code == 200 else None


def final_height(url):
    """The node's latest final height, or -1 if it does not answer."""
    st = status_of(url)
    return st["final"]["height"] if st is not None else -1


def wait_for(what, fn, timeout_s, poll_s=0.1, proc=None):
    """Polls fn until it returns a true value; fails after timeout_s, or at once if proc (a
    process the wait depends on) has exited."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        if proc is not None and proc.poll() is not None:
            fail("waiting for %s: the process exited with %d" % (what, proc.returncode))
        time.sleep(poll_s)
    fail("timed out after %d s waiting for %s" % (timeout_s, what))


def wait_slow(what, fn, timeout_s, proc=None):
    """wait_for polling every 0.5 s: fewer API connections while the nodes are busy."""
    return wait_for(what, fn, timeout_s, 0.5, proc)


def read_text(path):
    """A file's text, or "" while it is missing."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def block_id(url, height):
    """The id of the final block at height, or None (5 tries)."""
    for _ in range(5):
        code, body = http("GET", "%s/v1/blocks/%d" % (url, height))
        if code == 200:
            return body["id"]
        time.sleep(0.2)
    return None


def same_chains(urls, upto):
    """Fails unless every node answers the same block id at every height 1..upto."""
    for h in range(1, upto + 1):
        ids = {block_id(u, h) for u in urls}
        check(len(ids) == 1 and None not in ids, "block ids differ at height %d: %r" % (h, ids))


def start_node(procs, binary, home):
    """`lianmeng node --home HOME` with its output appended to HOME/node.log."""
    out = open(os.path.join(home, "node.log"), "a")
    return procs.start([binary, "node", "--home", home], stdout=out, stderr=subprocess.STDOUT)


def print_log_tails(tmp, lines=40):
    """The last lines of every node log under tmp: what CI shows of a failed run."""
    for root, _, files in sorted(os.walk(tmp)):
        for name in sorted(files):
            if name.startswith("node.log"):
                path = os.path.join(root, name)
                tail = read_text(path).splitlines()[-lines:]
                print("--- last %d lines of %s ---" % (len(tail), path))
                print("\n".join(tail), flush=True)


def finish(procs, tmp):
    """Test teardown: kills what the test started, removes tmp (kept and printed if LM_KEEP).
    After a failure the node logs' tails are printed first."""
    procs.cleanup()
    if FAILED:
        print_log_tails(tmp)
    if os.environ.get("LM_KEEP"):
        print("kept", tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


class Procs:
    """Processes started by a test; all are killed at exit, whatever happens."""

    def __init__(self):
        self.procs = []
        self.pids = []

    def start(self, args, **kw):
        p = subprocess.Popen(args, **kw)
        self.procs.append(p)
        return p

    def adopt(self, pid):
        self.pids.append(pid)

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for pid in self.pids:
            if pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
