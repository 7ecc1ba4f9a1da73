"""Starting a warm server outside every caller's process tree.

Runs in a command's own process, after the command, when the launcher's
client (_warm.c) found no server and set PYRUNTIME_WARM_SPAWN=<key>:<root>
(the bootstrap in bin/pyruntime calls spawn()).

When a process's parent exits, the kernel gives it to the nearest living
ancestor that is a child subreaper (prctl PR_SET_CHILD_SUBREAPER:
containerd's shim, conmon, tini, a test harness), else to the pid
namespace's init (find_new_reaper). A server double-forked from a command
under a subreaper would become that subreaper's child and outlive the
command in the caller's tree, where runc leaves nothing but the container:
a caller that waits for all its children, or checks that none are left,
would hang or fail. Whether an ancestor is a subreaper is not shown in
/proc, so the server's process finds out once its parent (the middle
process) has exited: adopted by init (pid 1) it goes on and becomes the
server; adopted by anyone else it exits at once. The command returns only
after it has decided, so nothing of ours is left running after it; the
one that exited is a zombie its subreaper reaps. The command then records
that subreaper (a marker in WARM_DIR naming its pid and start time), and
later commands under it do not try again.
"""

from __future__ import annotations

import os
import sys

from pyruntime.launch.identity import Process, seccomp, stat

WARM_DIR = "/run/pyruntime-warm"  # root's, 0700: the subreaper markers
DEFAULT_IDLE_S = 10.0
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MARKER = "reaper."  # WARM_DIR/reaper.<pid>.<start time>: a subreaper that adopted a server
INIT = 1


def _start_time(pid: int) -> int:
    """/proc/<pid>/stat field 22 (clock ticks after boot): with the pid, names
    one process (pids are reused)."""
    fields = stat(pid)
    return int(fields[19]) if len(fields) > 19 else -1


def _ancestors() -> set[tuple[int, int]]:
    """(pid, start time) of our parent and each process above it, up to init."""
    out = set()
    pid = os.getppid()
    for _ in range(64):
        if pid <= INIT:
            break
        fields = stat(pid)
        if len(fields) <= 19:
            break
        out.add((pid, int(fields[19])))
        pid = int(fields[1])
    return out


def own_dir() -> bool:
    """WARM_DIR exists (made here if not) as root's alone: 0700, not a link."""
    try:
        os.mkdir(WARM_DIR, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return False
    st = os.lstat(WARM_DIR)
    return st.st_mode & 0o170000 == 0o040000 and st.st_uid == 0 and st.st_mode & 0o077 == 0


def known_subreapers() -> set[tuple[int, int]]:
    """The subreapers recorded in WARM_DIR that still live; the markers of
    those gone are removed."""
    out: set[tuple[int, int]] = set()
    try:
        names = os.listdir(WARM_DIR)
    except OSError:
        return out
    for name in names:
        if not name.startswith(MARKER):
            continue
        pid, _, start = name[len(MARKER):].partition(".")
        try:
            key = (int(pid), int(start))
        except ValueError:
            continue
        if _start_time(key[0]) == key[1]:
            out.add(key)
        else:
            try:
                os.unlink(os.path.join(WARM_DIR, name))
            except OSError:
                pass
    return out


def _record(subreaper: int) -> None:
    start = _start_time(subreaper)
    if start >= 0 and own_dir():
        try:
            os.close(os.open(f"{WARM_DIR}/{MARKER}{subreaper}.{start}", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC,
                             0o600))
        except OSError:
            pass


def _real_root() -> bool:
    """We are in the initial user namespace (uid_map maps all 2^32 ids to
    themselves). Root of another one (rootless Podman, `spec --rootless`)
    may not leave its caller's cgroups for init's, nor make WARM_DIR: a
    server there would stay behind in the user's cgroup, where runc leaves
    nothing. The server serves the real root only."""
    try:
        with open("/proc/self/uid_map", "rb") as f:
            return f.read().split() == [b"0", b"0", b"4294967295"]
    except OSError:
        return False


def _server_argv(key: str, root: str) -> list[str]:
    idle = os.environ.get("PYRUNTIME_WARM_IDLE") or str(DEFAULT_IDLE_S)
    here = os.path.dirname(os.path.abspath(__file__))
    package = os.path.dirname(here)
    # as the launcher's bootstrap: site-packages on sys.path without `site`,
    # which an editable install (its compiled dependencies elsewhere) needs
    script = (f"import sys\nsys.path.append({os.path.dirname(package)!r})\ntry:\n    import _cffi_backend\n"
              "except ImportError:\n    import site\n    site.main()\nfrom pyruntime.launch.server import serve\n"
              "serve(*sys.argv[1:])\n")
    argv = [sys.executable, "-I", "-S", "-c", script, key, root, idle]
    # From a sealed copy of the interpreter, as create/run/exec (launch/sealed.py):
    # a served `run` forks the container from the server.
    sealexec = os.path.join(here, "_sealexec")
    if os.access(sealexec, os.X_OK):
        argv.insert(0, sealexec)
    return argv


def _wait_exit(pid: int, timeout_ms: int) -> None:
    """Wait until process pid (not our child) has exited."""
    import select

    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return  # gone already
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll(timeout_ms)
    finally:
        os.close(fd)


def _candidate(verdict_w: int, middle: int, argv: list[str]) -> None:
    """The would-be server: once the middle process has exited, stay only if
    init adopted us. Never returns."""
    try:
        _wait_exit(middle, 5000)
        adopter = os.getppid()
        os.write(verdict_w, b"%d %d" % (adopter, os.getpid()))
        if adopter != INIT:
            os._exit(0)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, 1 << 20)
        os.chdir("/")
        os.execve(argv[0], argv, {"PATH": SYSTEM_PATH, "LC_ALL": "C"})  # no locale files: _pylocale.h
    finally:
        os._exit(0)


def spawn(spec: str) -> None:
    """Start the server for "<key>:<root>" in the background: a grandchild
    in its own session, with no fd of ours (a caller reading our stdout until
    EOF must not wait for it), adopted by init or not at all."""
    key, _, root = spec.partition(":")
    if len(key) != 16 or key.strip("0123456789abcdef") or not os.path.isdir(root):
        return
    if not sys.executable or seccomp(Process("self")) is None:
        return  # a server under our seccomp filter could serve nobody (launch/identity.py)
    if os.getppid() == INIT:
        return  # our caller is init itself: the server would be its child
    if not _real_root():
        return  # root of a user namespace (rootless Podman): see _real_root
    known = known_subreapers()
    if known and known & _ancestors():
        return  # one of them adopted a server before, and would again
    # run and exec in the foreground made this process a subreaper for their
    # container process, reaped by now: the candidate must not be ours
    from pyruntime import syscalls as sc

    sc.sys().prctl(sc.PR_SET_CHILD_SUBREAPER, 0)
    argv = _server_argv(key, root)
    sys.stdout.flush()
    sys.stderr.flush()
    r, w = os.pipe2(os.O_CLOEXEC)
    middle = os.fork()
    if middle == 0:
        try:
            os.close(r)
            os.setsid()
            me = os.getpid()
            if os.fork() == 0:
                _candidate(w, me, argv)
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(middle, 0)
    verdict = b""
    while chunk := os.read(r, 32):  # EOF: the candidate exec'd the server or exited
        verdict += chunk
    os.close(r)
    adopter, _, candidate = verdict.partition(b" ")
    if adopter.isdigit() and int(adopter) > INIT and candidate.isdigit():
        _wait_exit(int(candidate), 1000)  # a zombie for its subreaper to reap, before we return
        _record(int(adopter))
