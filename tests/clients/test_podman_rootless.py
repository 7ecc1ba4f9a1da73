"""Rootless Podman: `podman --runtime runc|pyruntime` run by an unprivileged
user made for the test (rootless_lab.py: its own user namespace through
newuidmap/newgidmap, its own storage, cgroups as rootless Podman sets them
up on this host: none, cgroupfs on a v1/hybrid host). Each scenario is a
function of the runtime name returning what was observed; `both()` runs it
with runc and with pyruntime and requires the same observations, and each
test then checks what the user should see.

Seen before the fix (runc 1.1.5 beside): test_cgroup_view failed on
pyruntime (/sys/fs/cgroup an empty tmpfs: rootless, no cgroup of the
container's is writable, and the mount showed only the container's own
cgroups; runc binds each v1 hierarchy at the cgroup the init is in); every
other scenario passed on both.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients.lab import cgroup_roots, processes, wait_for
from tests.clients.rootless_lab import BUSYBOX, RANGE, SCRATCH, RootlessLab, missing_tools
from tests.conftest import find_runtime

RUNTIMES = ("runc", "pyruntime")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="module")
def rl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RootlessLab]:
    if os.geteuid() != 0:
        pytest.skip("needs root: the test makes an unprivileged user of its own")
    missing = missing_tools()
    if missing:
        print("rootless Podman tests skipped, missing: " + ", ".join(missing))
        pytest.skip("rootless Podman tests need: " + ", ".join(missing))
    import signal

    lab = RootlessLab(find_runtime())
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a killed run still tears down
    try:
        lab.start(tmp_path_factory.mktemp("rootless-images"))
        yield lab
    finally:
        lab.close()
        signal.signal(signal.SIGTERM, previous)


def both(scenario: Callable[[str], Any]) -> dict[str, Any]:
    seen = {rt: scenario(rt) for rt in RUNTIMES}
    assert seen["pyruntime"] == seen["runc"], f"runc and pyruntime differ: {seen}"
    return seen


def check(p: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    if p.returncode != 0:
        raise AssertionError(f"{p.args[-8:]} failed rc={p.returncode}\nstdout={p.stdout}\nstderr={p.stderr}")
    return p


def run(rl: RootlessLab, rt: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return rl.podman("run", *rl.run_flags(rt), *args, timeout=timeout)


def unique(prefix: str) -> str:
    return f"{prefix}-{os.urandom(4).hex()}"


def host_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


def leftovers(rl: RootlessLab, cid: str) -> list[str]:
    """What the host still holds of a removed container: processes, files
    under the lab (the runtimes' state under XDG_RUNTIME_DIR, Podman's
    storage), cgroup directories anywhere."""
    found = [f"process {pid}: {cmd}" for pid, cmd in processes() if cid in cmd]
    for dirpath, dirnames, filenames in os.walk(rl.base):
        found += [f"file {dirpath}/{n}" for n in dirnames + filenames if cid in n]
    for root in cgroup_roots():
        for dirpath, dirnames, _ in os.walk(root):
            found += [f"cgroup {dirpath}/{n}" for n in dirnames if cid in n]
    return found


def pty(rl: RootlessLab, *args: str, stdin: str = "") -> tuple[str, int]:
    """Podman under `script`: a real pty as its stdin and stdout, as a
    user's terminal; `stdin` is typed into it. What the terminal showed, rc."""
    cmd = " ".join(f"'{a}'" for a in [*rl.podman_argv(), *args])
    p = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True, timeout=120,
                       input=stdin, cwd=rl.home)
    return p.stdout.replace("\r", ""), p.returncode


def lines(out: str) -> list[str]:
    # "^@": a NUL the client writes to the terminal, echoed by the pty (runc alike)
    out = out.replace("^@", "")
    return [line for line in out.splitlines() if line.strip() and "is not a shared mount" not in line]


# ---------------------------------------------------------------- one-shot


def test_oneshot_output_and_exit_codes(rl: RootlessLab) -> None:
    def scenario(rt: str) -> tuple[str, str, int, int, bool]:
        p = run(rl, rt, "--rm", BUSYBOX, "sh", "-c", "echo to-out; echo to-err >&2; exit 3")
        missing = run(rl, rt, "--rm", BUSYBOX, "/no/such/binary")
        return p.stdout, p.stderr, p.returncode, missing.returncode, "/no/such/binary" in missing.stderr

    assert both(scenario)["pyruntime"] == ("to-out\n", "to-err\n", 3, 127, True)


def test_scratch_image(rl: RootlessLab) -> None:
    def scenario(rt: str) -> tuple[str, str, int]:
        p = run(rl, rt, "--rm", SCRATCH, "/hello", "7")
        return p.stdout, p.stderr, p.returncode

    assert both(scenario)["pyruntime"] == ("hello from scratch pid=1 uid=0 arg=7\n", "hello on stderr\n", 7)


def test_volumes(rl: RootlessLab) -> None:
    """-v both ways: root in the container is the user on the host (its
    files are the user's), uid 1000 is the user's subordinate id 999 after
    the first; a :ro volume refuses writes."""
    def scenario(rt: str) -> tuple[str, str, int, int, str]:
        d = rl.user_dir(f"vol-{rt}")
        (d / "from-host").write_text("written by the host\n")
        shared = d / "shared"
        shared.mkdir(mode=0o777)
        shared.chmod(0o777)
        p = check(run(rl, rt, "--rm", "-v", f"{d}:/data", "-v", f"{d}:/ro:ro", BUSYBOX, "sh", "-c",
                      "cat /data/from-host; echo by the container > /data/from-ctr; "
                      "touch /ro/nope 2>&1 | sed 's/.*: //'"))
        check(run(rl, rt, "--rm", "--user", "1000:1000", "-v", f"{shared}:/shared", BUSYBOX,
                  "sh", "-c", "echo by 1000 > /shared/by-1000"))
        return (p.stdout, (d / "from-ctr").read_text(), (d / "from-ctr").stat().st_uid - rl.uid,
                (shared / "by-1000").stat().st_uid - rl.subid, str((d / "nope").exists()))

    assert both(scenario)["pyruntime"] == ("written by the host\nRead-only file system\n",
                                           "by the container\n", 0, 999, "False")


# ---------------------------------------------------------------- detached


def test_detached_top_logs_stop_rm(rl: RootlessLab) -> None:
    """A detached service: `top` shows its processes by their host pids, run
    by the user on the host; the container stays in conmon's cgroups (rootless
    on v1: none of its own); `logs`; `stop` of a shell ignoring TERM kills it
    (137), of one trapping TERM ends it (its own code); `rm` leaves nothing."""
    def scenario(rt: str) -> tuple[Any, ...]:
        name = unique(f"top-{rt}")
        check(run(rl, rt, "-d", "--name", name, BUSYBOX, "sh", "-c",
                  'echo started; trap "" TERM; sleep 1000 & wait'))
        cid = check(rl.podman("inspect", "-f", "{{.Id}}", name)).stdout.strip()
        pid = int(check(rl.podman("inspect", "-f", "{{.State.Pid}}", name)).stdout)
        conmon = int(check(rl.podman("inspect", "-f", "{{.State.ConmonPid}}", name)).stdout)
        top = check(rl.podman("top", name, "hpid", "pid", "args"))
        rows = [line.split(None, 2) for line in top.stdout.splitlines()[1:] if line.strip()]
        host = {int(hpid): Path(f"/proc/{hpid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                for hpid, _pid, _args in rows}
        shows = (sorted(host.values()) == ['sh -c echo started; trap "" TERM; sleep 1000 & wait', "sleep 1000"]
                 and pid in host and sorted(int(p) for _h, p, _a in rows)[0] == 1)
        as_user = all(host_uid(h) == rl.uid for h in host)
        same_cgroups = Path(f"/proc/{pid}/cgroup").read_text() == Path(f"/proc/{conmon}/cgroup").read_text()
        logs = check(rl.podman("logs", name)).stdout
        check(rl.podman("stop", "-t", "1", name))
        code = int(check(rl.podman("inspect", "-f", "{{.State.ExitCode}}", name)).stdout)
        check(rl.podman("rm", name))

        name2 = unique(f"term-{rt}")
        check(run(rl, rt, "-d", "--name", name2, BUSYBOX, "sh", "-c", 'trap "exit 42" TERM; sleep 1000 & wait'))
        check(rl.podman("stop", "-t", "20", name2))
        code2 = int(check(rl.podman("inspect", "-f", "{{.State.ExitCode}}", name2)).stdout)
        cid2 = check(rl.podman("inspect", "-f", "{{.Id}}", name2)).stdout.strip()
        check(rl.podman("rm", name2))
        return shows, as_user, same_cgroups, logs, code, code2, leftovers(rl, cid) + leftovers(rl, cid2)

    assert both(scenario)["pyruntime"] == (True, True, True, "started\n", 137, 42, [])


def test_exec(rl: RootlessLab) -> None:
    """exec: output, exit code, another user, a tty (-t), and -it through a
    real pty with typed input."""
    def scenario(rt: str) -> tuple[Any, ...]:
        name = unique(f"exec-{rt}")
        check(run(rl, rt, "-d", "--name", name, "--hostname", "box", BUSYBOX, "sleep", "1000"))
        try:
            plain = check(rl.podman("exec", name, "sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '"))
            failing = rl.podman("exec", name, "sh", "-c", "exit 5")
            other = check(rl.podman("exec", "--user", "1000", name, "id"))
            tty = check(rl.podman("exec", "-t", name, "tty"))
            out, rc = pty(rl, "exec", "-it", name, "sh", stdin="tty; echo typed-$((6*7)); exit 6\n")
        finally:
            rl.podman("rm", "-f", "-t", "0", name)
        typed = [line for line in lines(out) if line in ("/dev/pts/0", "typed-42")]
        return (plain.stdout, plain.stderr, failing.returncode, other.stdout,
                tty.stdout.replace("^@", "").strip()[:9], typed, rc)

    assert both(scenario)["pyruntime"] == ("box\nsleep 1000 ", "", 5, "uid=1000(user) gid=1000(user)\n",
                                           "/dev/pts/", ["/dev/pts/0", "typed-42"], 6)


# ---------------------------------------------------------------- terminals


def test_run_it_through_a_pty(rl: RootlessLab) -> None:
    """run -it under `script`: the process's stdin and stdout are the
    container's pty, TERM is set, typed input reaches it, its code is ours.
    The sleep: Podman 4.3 attaches after starting the container and loses
    what a process already gone wrote (runc alike, test_docker_podman)."""
    def scenario(rt: str) -> tuple[list[str], int, list[str], int]:
        out, rc = pty(rl, "run", "--rm", "-it", *rl.run_flags(rt), BUSYBOX, "sh", "-c",
                      "sleep 0.5; tty; [ -t 0 ] && echo stdin-is-a-tty; echo TERM=$TERM; sleep 0.5; exit 4")
        typed_out, typed_rc = pty(rl, "run", "--rm", "-it", *rl.run_flags(rt), BUSYBOX, "sh",
                                  stdin="echo typed-$((6*7)); exit 9\n")
        return (lines(out), rc, [line for line in lines(typed_out) if line == "typed-42"], typed_rc)

    assert both(scenario)["pyruntime"] == (["/dev/pts/0", "stdin-is-a-tty", "TERM=xterm"], 4, ["typed-42"], 9)


# ---------------------------------------------------------------- isolation


def test_isolation(rl: RootlessLab) -> None:
    """Its own pid, uts, net, mount, ipc and user namespaces; root inside
    is the user outside (the uid map is Podman's: 0 the user, 1.. its range);
    the host's hostname unchanged; the host's files out of view."""
    host_ns = {k: os.readlink(f"/proc/self/ns/{k}") for k in ("pid", "uts", "net", "mnt", "ipc", "user")}
    host_name = socket.gethostname()
    marker = rl.base / f"host-only-{os.urandom(4).hex()}"
    marker.write_text("the host's\n")

    def scenario(rt: str) -> tuple[Any, ...]:
        p = check(run(rl, rt, "--rm", "--hostname", "isolated", BUSYBOX, "sh", "-c",
                      "hostname; echo $$; for p in /proc/[0-9]*; do echo ${p#/proc/}; done; id -u; "
                      f"cat /proc/self/uid_map; ls /sys/class/net; test -e {marker} || echo no-host-file; "
                      "test -e /root/.pyenv || echo no-host-root; "
                      "for n in pid uts net mnt ipc user; do readlink /proc/self/ns/$n; done"))
        out = p.stdout.split()
        ns = out[-6:]
        distinct = all(ns[i] != host_ns[k] for i, k in enumerate(host_ns))
        return (*out[:-6], distinct, socket.gethostname() == host_name)

    uid_map = ["0", str(rl.uid), "1", "1", str(rl.subid), str(RANGE)]
    assert both(scenario)["pyruntime"] == ("isolated", "1", "1", "0", *uid_map, "lo", "no-host-file",
                                           "no-host-root", True, True)


# ---------------------------------------------------------------- cgroups


def host_v1_hierarchies() -> list[str]:
    """The names of the host's cgroup v1 mounts under /sys/fs/cgroup."""
    names = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        parts = line.split()
        mnt, fstype = Path(parts[4]), parts[parts.index("-") + 1]
        if fstype == "cgroup" and mnt.parent == Path("/sys/fs/cgroup") and parts[3] == "/":
            names.append(mnt.name)
    return sorted(set(names))


def test_cgroup_view(rl: RootlessLab) -> None:
    """/sys/fs/cgroup in a rootless container on a v1/hybrid host: every v1
    hierarchy of the host (not the cgroup2 one), each a read-only view of the
    cgroup the container is in (conmon's: rootless Podman makes none here),
    so a JVM or systemd finds memory.limit_in_bytes; with a cgroup namespace
    the same, rooted there. pyruntime showed an empty tmpfs before its fix."""
    expected = host_v1_hierarchies()
    if not expected:
        pytest.skip("no cgroup v1 hierarchy on this host (a cgroup2-only host: a cgroup2 mount)")
    own = dict(line.split(":", 2)[1:] for line in Path("/proc/self/cgroup").read_text().splitlines())
    mem_root = own.get("memory", "/")
    show = ("ls /sys/fs/cgroup; awk '$5 ~ \"^/sys/fs/cgroup/\" {print $5, $4, substr($6, 1, 2)}' "
            "/proc/self/mountinfo | sort; test -r /sys/fs/cgroup/memory/memory.limit_in_bytes && echo mem-ok")

    def scenario(rt: str) -> tuple[list[str], list[str]]:
        host_ns = run(rl, rt, "--rm", BUSYBOX, "sh", "-c", show).stdout.splitlines()
        private = run(rl, rt, "--rm", "--cgroupns", "private", BUSYBOX, "sh", "-c", show).stdout.splitlines()
        return host_ns, private

    seen = both(scenario)["pyruntime"]
    for view, memory in zip(seen, (mem_root, "/"), strict=True):
        listed = view[:len(expected)]
        mounts = {line.split()[0]: line.split()[1:] for line in view[len(expected):] if line.startswith("/")}
        assert listed == expected, view
        assert sorted(mounts) == [f"/sys/fs/cgroup/{h}" for h in expected], view
        assert all(opts == "ro" for _root, opts in mounts.values()), view
        if "memory" in expected:
            assert mounts["/sys/fs/cgroup/memory"][0] == memory and view[-1] == "mem-ok", view


def test_no_process_left(rl: RootlessLab) -> None:
    """After the scenarios: only Podman's pause process (the user namespace
    it keeps) runs as the user or its range."""
    def ours() -> list[str]:
        from tests.clients.rootless_lab import _proc_uids
        return [cmd for pid, cmd in processes() if any(rl.ours(u) for u in _proc_uids(pid))]

    wait_for(lambda: len(ours()) <= 1, 10, "the user's processes to end")
    assert all("podman" in cmd for cmd in ours()), ours()
