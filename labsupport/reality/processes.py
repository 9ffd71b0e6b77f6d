"""Processes on 127.0.0.1: start a server, wait until it listens, stop it and its children.

Picture a lab technician's bench log: every machine she switches on is written down, so
that whatever happens she can switch them all off again. `start()` runs a command in a new
session (as the unprivileged user `nobody` when run as root, as in CI), waits until its
port accepts connections, and notes it; `stop()` ends it and its children by process id;
`stop_all()` ends everything still noted, even when a notebook cell failed halfway.
Everything listens on 127.0.0.1 only and lives in a temporary folder (`make_folder`).
"""

import os
import pwd
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

# The bench log: what this Python process started, so that `stop_all` can end it from
# anywhere, even after a cell failed halfway (the one mutable module-level state in
# labsupport, since the processes it records belong to the whole Python process).
_running = {}  # pid -> Popen, everything started and not yet stopped
ports_used = set()  # every port something was started on, to check nothing still listens
_lock = threading.Lock()


def free_port():
    """A TCP port on 127.0.0.1 that nothing is listening on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port):
    """Whether something accepts connections on 127.0.0.1:`port`."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def unprivileged():
    """Popen arguments that drop root to `nobody`; nothing when not root."""
    if os.geteuid() != 0:
        return {}
    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


def make_folder(prefix):
    """A temporary folder the started servers may write to."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(folder, nobody.pw_uid, nobody.pw_gid)
    return folder


def start(command, port=None, log=None, timeout=20.0, drop_root=True):
    """Start `command` (as `nobody` if we are root and `drop_root`); wait until `port` listens."""
    output = open(log, "ab") if log else subprocess.DEVNULL
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True,
                               **(unprivileged() if drop_root else {}))
    with _lock:
        _running[process.pid] = process
        if port is not None:
            ports_used.add(port)
    deadline = time.monotonic() + timeout
    while port is not None and not listening(port):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            tail = Path(log).read_text()[-2000:] if log and Path(log).exists() else ""
            raise RuntimeError(f"{command[0]} did not start listening on {port}: {tail}")
        time.sleep(0.02)
    return process


def stop(process, grace=5.0):
    """Stop a started process (and its children) by process id: TERM, then KILL."""
    with _lock:
        _running.pop(process.pid, None)
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass


def kill(process):
    """Kill a started process at once (SIGKILL, no chance to clean up): a crashed machine."""
    with _lock:
        _running.pop(process.pid, None)
    process.kill()
    process.wait()


def stop_all():
    """Stop everything this module started; returns the process ids it stopped."""
    with _lock:
        processes = list(_running.values())
    for process in processes:
        stop(process)
    return [process.pid for process in processes]


def running():
    """Process ids started here and still alive."""
    with _lock:
        return [pid for pid, process in _running.items() if process.poll() is None]
