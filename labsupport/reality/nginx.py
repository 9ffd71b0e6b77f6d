"""nginx on 127.0.0.1 in front of three small backends: the reality check's bench.

Picture a test bench on your desk: three small web servers (`backend.py`), nginx as the
load balancer in front of them, and a traffic generator (`loadgen.py`) sending requests at
random (Poisson) moments. `with Bench(...) as bench:` starts them in a temporary folder and
stops them all even when a cell fails; `nginx_config` writes the nginx.conf it runs, with
nginx's passive health checks and retries on or off.
"""

import shutil
import subprocess
import sys
from pathlib import Path

from ..core import checks
from .loadgen import load
from .processes import free_port, kill, make_folder, start, stop

BACKENDS, SERVICE = 3, 0.010  # the bench: three backends, 10 ms mean service time
POLICIES = {"round_robin": "", "least_connections": "least_conn;"}


def nginx_config(folder, port, backend_ports, policy, health_checks, retries, fail_timeout):
    """nginx.conf for a balancer on 127.0.0.1:`port` in front of `backend_ports`.

    health_checks: nginx's passive checks (a backend that fails a request is left out for
    `fail_timeout` seconds); retries: pass a failed request to the next backend."""
    checks.one_of("policy", policy, tuple(POLICIES))
    max_fails = 1 if health_checks else 0  # 0 turns the checks off
    servers = "\n".join(f"        server 127.0.0.1:{backend} max_fails={max_fails} "
                        f"fail_timeout={fail_timeout}s;" for backend in backend_ports)
    return nginx_conf(folder, f"""    upstream backends {{
        {POLICIES[policy]}
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://backends;
            proxy_next_upstream {"error timeout" if retries else "off"};
            proxy_connect_timeout 2s;
            add_header X-Upstream $upstream_addr always;
        }}
    }}""")


def nginx_conf(folder, http):
    """A whole nginx.conf for a run in `folder`: one worker process in the foreground, its
    pid, error log and temporary files in `folder`, no access log, and `http` (the server
    blocks) inside its http block."""
    temp = " ".join(f"{kind}_temp_path {folder}/{kind};"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log error;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    {temp}
{http}
}}
"""


class Bench:
    """`backends` one-at-a-time servers behind nginx, on 127.0.0.1, for one experiment."""

    def __init__(self, backends=BACKENDS, mean_service_time=SERVICE, policy="round_robin",
                 health_checks=True, retries=True, fail_timeout=1, seed=1):
        checks.count("backends", backends, minimum=1)
        checks.positive("mean_service_time", mean_service_time)
        checks.count("fail_timeout", fail_timeout, minimum=1)  # whole seconds, as nginx takes it
        checks.one_of("policy", policy, tuple(POLICIES))
        self.backends, self.mean_service_time, self.seed = backends, mean_service_time, seed
        self.settings = dict(policy=policy, health_checks=health_checks, retries=retries,
                             fail_timeout=fail_timeout)
        self.folder, self.processes = None, {}

    def __enter__(self):
        self.folder = make_folder("ztm-bench-")
        try:
            self.ports = [free_port() for _ in range(self.backends)]
            for number in range(self.backends):
                self.start_backend(number)
            self.port = free_port()
            config = self.folder / "nginx.conf"
            config.write_text(nginx_config(self.folder, self.port, self.ports,
                                           **self.settings))
            self.processes["nginx"] = start(nginx_command(self.folder, nginx_version()),
                                            self.port, log=self.folder / "nginx.out")
        except BaseException:
            self.__exit__()
            raise
        return self

    def start_backend(self, number):
        """Start (or restart) backend `number` on its port."""
        script = Path(__file__).with_name("backend.py")
        command = [sys.executable, str(script), "--port", str(self.ports[number]),
                   "--name", f"b{number + 1}", "--mean", str(self.mean_service_time),
                   "--seed", str(self.seed * 100 + number)]
        # our own Python script, run by this notebook's interpreter and user (which `nobody`
        # may not be allowed to execute); it binds 127.0.0.1 only and needs no privilege
        self.processes[number] = start(command, self.ports[number], drop_root=False)

    def kill_backend(self, number):
        """Kill backend `number` at once (SIGKILL): a crashed machine."""
        kill(self.processes.pop(number))

    def __exit__(self, *_):
        for process in list(self.processes.values()):
            stop(process)
        self.processes.clear()
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def load(self, arrival_rate, requests, seed=1, timeout=10.0, events=()):
        """Send `requests` at `arrival_rate` per second (Poisson) through nginx; see `load`."""
        return load(self.port, arrival_rate, requests, seed, timeout, events)


def nginx_binary():
    """Where nginx is: on the PATH, or Debian's /usr/sbin (often not on a user's PATH)."""
    return shutil.which("nginx") or "/usr/sbin/nginx"


def nginx_command(folder, version):
    """The command that starts nginx with `folder`'s nginx.conf, for nginx `version`.

    Before 1.19.5 nginx has no -e switch and writes its startup errors to the error log
    it was built with (/var/log/nginx/error.log, which a user may not be allowed to open:
    a warning, not a failure); from 1.19.5 on, -e keeps them in `folder` too."""
    command = [nginx_binary(), "-p", str(folder), "-c", str(Path(folder) / "nginx.conf")]
    if version >= (1, 19, 5):
        command += ["-e", str(Path(folder) / "error.log")]
    return command


def nginx_version(text=None):
    """nginx's version as a tuple, e.g. (1, 22, 1), from `nginx -v` (or from `text`, what it
    printed: "nginx version: nginx/1.18.0 (Ubuntu)")."""
    if text is None:
        text = subprocess.run([nginx_binary(), "-v"], capture_output=True, text=True).stderr
    return tuple(int(part) for part in text.split("/")[-1].split()[0].split("."))
