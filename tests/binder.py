"""A Binder-like environment: a new user without root, Python 3.12, the pinned packages.

Picture what mybinder.org does with this repository. repo2docker installs the packages of
`apt.txt` as root; then, as an ordinary user with no way to become root (jovyan), it takes
the Python of `runtime.txt`, installs `requirements.txt` into a fresh environment in a copy
of the repository, and starts JupyterLab there. `BinderUser` does the same on this machine
with what it has: a new user `ztm-binder` whose home is a temporary folder, the Python of
`runtime.txt` (copied where that user can read it, when it lives in root's home, as
pyenv's does here), a venv with the pinned requirements from PyPI, and a copy of the
repository's files. Everything it runs runs as that user, and `close()` removes the user,
its home and the copies.

It stands for: the labs run for a user who owns nothing outside their home, with Binder's
Python and the exact pins, and the reality lab starts nginx, Redis and PostgreSQL itself,
every file in a temporary folder, leaving nothing behind. It cannot stand for Binder's own
build (repo2docker, Docker, its image's JupyterLab) or its operating system: repo2docker's
image is Ubuntu (24.04 since January 2026, 22.04 before), whose nginx, Redis and PostgreSQL
are not Debian's; the code paths that differ by version are tested as units.
"""

import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
NAME = "ztm-binder"
JUPYTERLAB_LAB = "single-server"  # the lab test_jupyterlab.py runs in JupyterLab
PREFIX = "ztm-binder-"  # the temporary folder holding the user's home and the copies


def all_labs():
    """Every lab's name (labs/NAME.ipynb), sorted."""
    return sorted(path.stem for path in (ROOT / "labs").glob("*.ipynb"))


def python_version():
    """The Python version Binder uses, from runtime.txt ("python-3.12" gives "3.12")."""
    return (ROOT / "runtime.txt").read_text().strip().removeprefix("python-")


def find_python(version):
    """The interpreter of a Python `version` here (found through a pyenv shim too), or None."""
    candidates = [shutil.which(f"python{version}"), f"/usr/bin/python{version}",
                  f"/usr/local/bin/python{version}",
                  *sorted(Path("/root/.pyenv/versions").glob(f"{version}.*/bin/python{version}"),
                          reverse=True)]
    for candidate in filter(None, candidates):
        try:
            done = subprocess.run([str(candidate), "-c", "import sys; print(sys.executable, "
                                   "'%d.%d' % sys.version_info[:2])"],
                                  capture_output=True, text=True, timeout=30)
        except OSError:
            continue
        found = done.stdout.split()
        if done.returncode == 0 and len(found) == 2 and found[1] == version:
            return Path(found[0])
    return None


def why_not():
    """Why a Binder-like environment cannot be built here, or None when it can."""
    if os.geteuid() != 0:
        return "it creates a user, so it needs root (CI runs it)"
    if not shutil.which("useradd") or not shutil.which("userdel"):
        return "useradd and userdel are missing"
    if find_python(python_version()) is None:
        return f"no Python {python_version()} (runtime.txt) on this machine"
    missing = [package for package in apt_packages() if not installed(package)]
    if missing:
        return (f"the packages of apt.txt are not all installed ({', '.join(missing)}): "
                "bash scripts/install-reality-packages.sh")
    return None


def apt_packages():
    return [line.strip() for line in (ROOT / "apt.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def installed(package):
    done = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                          capture_output=True, text=True)
    return done.returncode == 0 and "install ok installed" in done.stdout


def readable_by_all(path):
    """Whether every folder above `path` lets other users through (pyenv's, under /root,
    does not)."""
    return all(Path(folder).stat().st_mode & stat.S_IXOTH for folder in Path(path).parents)


def repository_files():
    """The repository's files as a commit would hold them: tracked, and new but not ignored."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True)
    if listed.returncode != 0:  # not a git checkout: everything but what is built
        return [path.relative_to(ROOT) for path in ROOT.rglob("*") if path.is_file()
                and not {".venv", "_build", ".git"} & set(path.relative_to(ROOT).parts)]
    return [Path(name) for name in listed.stdout.decode().split("\0")
            if name and (ROOT / name).is_file()]


def forkserver_socket_folder(path):
    """Whether `path` is multiprocessing's temporary folder holding only forkserver sockets."""
    return (path.name.startswith("pymp-") and path.is_dir()
            and all(entry.name.startswith("listener-") for entry in path.iterdir()))


class BinderUser:
    """The user, its Python, its venv and its copy of the repository (`repo`)."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix=PREFIX))
        self.folder.chmod(0o755)
        self.home = self.folder / "home"
        self.repo, self.venv = self.home / "repo", self.home / "venv"
        self.library = None  # LD_LIBRARY_PATH for a copied Python with a shared libpython
        self.user = None
        self.timings = {}

    def __enter__(self):
        try:
            self._create_user()
            began = time.monotonic()
            python = self._python()
            for relative in repository_files():
                (self.repo / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / relative, self.repo / relative)
            shutil.chown(self.repo, NAME, NAME)
            subprocess.run(["chown", "-R", f"{NAME}:{NAME}", str(self.home)], check=True)
            self.timings["copies"] = time.monotonic() - began
            began = time.monotonic()
            self.run([str(python), "-m", "venv", str(self.venv)], check=True)
            self.run([str(self.venv / "bin" / "pip"), "install", "--quiet",
                      "--disable-pip-version-check", "-r", "requirements.txt"],
                     check=True, timeout=900)
            self.timings["install"] = time.monotonic() - began
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_):
        self.close()

    def _create_user(self):
        try:
            existing = pwd.getpwnam(NAME)
        except KeyError:
            existing = None
        if existing is not None:  # left by a run that was killed: only ever one of ours
            if PREFIX not in existing.pw_dir:
                raise RuntimeError(f"a user {NAME} exists and is not one this test made")
            self._remove_user()
        subprocess.run(["useradd", "--create-home", "--home-dir", str(self.home), "--shell",
                        "/bin/bash", "--user-group", NAME], check=True, capture_output=True)
        self.user = pwd.getpwnam(NAME)

    def _python(self):
        """The Python of runtime.txt, copied into the folder if the user could not read it."""
        python = find_python(python_version())
        if readable_by_all(python.resolve()):
            return python
        prefix = python.resolve().parent.parent
        copy = self.folder / "python"
        shutil.copytree(prefix, copy, symlinks=True,
                        ignore=shutil.ignore_patterns("test", "idle_test", "__pycache__"))
        self.library = str(copy / "lib")  # its libpython, where its RUNPATH points at root's
        return copy / "bin" / python.name

    def environment(self, extra=None):
        """The environment the user's commands run in: nothing of root's."""
        env = {"HOME": str(self.home), "USER": NAME, "LOGNAME": NAME, "LANG": "C.UTF-8",
               "PATH": f"{self.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
               "PIP_NO_CACHE_DIR": "1"}
        if self.library:
            env["LD_LIBRARY_PATH"] = self.library
        return {**env, **(extra or {})}

    def _as_user(self, cwd, env):
        return dict(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[],
                    cwd=str(cwd or self.repo), env=self.environment(env),
                    start_new_session=True)

    def run(self, command, cwd=None, env=None, check=False, timeout=600):
        """Run `command` as the user in the repository copy; returns the CompletedProcess."""
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              **self._as_user(cwd, env))
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed as {NAME}:\n"
                               f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    def popen(self, command, cwd=None, env=None, output=subprocess.DEVNULL):
        """Start `command` as the user in the background; returns the Popen. `output`: a
        file its standard output and error go to."""
        return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                **self._as_user(cwd, env))

    def leftovers(self, wait=5.0):
        """What the user left behind: running processes, and files in /tmp and /dev/shm
        (waiting up to `wait` seconds for processes that are on their way out)."""
        deadline = time.monotonic() + wait
        while self._leftovers()[0] and time.monotonic() < deadline:
            time.sleep(0.2)
        return self._leftovers()

    def _leftovers(self):
        """(processes, files) of the user's still there. One kind of folder is let go:
        /tmp/pymp-* holding only a forkserver's socket (listener-*). Python removes it at a
        clean exit, which a kernel that used multiprocessing does not reach: ipykernel 7
        waits on the resource tracker, which ignores SIGTERM, until jupyter_client's own
        SIGTERM ends the kernel. Empty, and not ours to fix."""
        uid = self.user.pw_uid
        processes = [f"{process.info['pid']} {process.info['name']}"
                     for process in psutil.process_iter(["pid", "name", "uids"])
                     if process.info["uids"] and process.info["uids"].real == uid]
        files = [str(path) for folder in (Path("/tmp"), Path("/dev/shm"))
                 for path in folder.iterdir() if path.lstat().st_uid == uid
                 and not forkserver_socket_folder(path)]
        return processes, files

    def close(self):
        """Stop everything the user runs, remove the user, its home and the copies."""
        if self.user is not None:
            for process in psutil.process_iter(["uids"]):
                if process.info["uids"] and process.info["uids"].real == self.user.pw_uid:
                    try:
                        process.send_signal(signal.SIGKILL)
                    except psutil.NoSuchProcess:
                        pass
            for folder in (Path("/tmp"), Path("/dev/shm")):
                for path in folder.iterdir():
                    if path.lstat().st_uid == self.user.pw_uid:
                        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
            self._remove_user()
            self.user = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def _remove_user(self):
        subprocess.run(["userdel", "--force", "--remove", NAME], capture_output=True)


class LabRuns:
    """Labs executed by nbval as the user, each once: `runs[lab]` is the CompletedProcess.

    The reality lab, which spends most of its two minutes waiting on real software,
    starts in the background at once and the others run meanwhile (its live checks are
    built to hold with a busy CPU beside them). It saves what it measured."""

    def __init__(self, user, background=("reality",)):
        self.user, self.done, self.seconds = user, {}, {}
        self.measured = user.home / "reality-measured.json"
        self.running = {lab: self._start(lab) for lab in background}

    def _command(self, lab):
        return [str(self.user.venv / "bin" / "python"), "-m", "pytest", "--nbval",
                f"labs/{lab}.ipynb", "-q"]

    def _environment(self):
        return {"ZTM_REALITY": "live", "ZTM_REALITY_FILE": str(self.measured)}

    def _start(self, lab):
        output = open(self.user.folder / f"{lab}.log", "w+")
        return (time.monotonic(), output,
                self.user.popen(self._command(lab), env=self._environment(), output=output))

    def __getitem__(self, lab):
        if lab not in self.done:
            if lab in self.running:
                began, output, process = self.running.pop(lab)
                process.wait(timeout=900)
                output.seek(0)
                self.done[lab] = subprocess.CompletedProcess(
                    process.args, process.returncode, output.read(), "")
                output.close()
            else:
                began = time.monotonic()
                self.done[lab] = self.user.run(self._command(lab), env=self._environment(),
                                               timeout=900)
            self.seconds[lab] = time.monotonic() - began
        return self.done[lab]

    def reality(self):
        """The reality lab's live measurement (the path of its saved results)."""
        run = self["reality"]
        if run.returncode != 0 or not self.measured.exists():
            raise RuntimeError(f"the reality lab did not measure live as {NAME}:\n"
                               f"{run.stdout[-3000:]}")
        return self.measured
