"""containerd's own client, ctr, through the runc v2 shim
(io.containerd.runc.v2) with `--runc-binary` (the shim's BinaryName option:
the same recipe a CRI runtime handler uses), once with runc and once with
pyruntime in the same test. The runtime's --root is `--runc-root`, under the
lab, so the leftover checks see its state directories."""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.clients.client import CTR_BUSYBOX, CTR_SCRATCH, RUNTIMES, check, unique
from tests.clients.lab import Lab, processes, wait_for
from tests.clients.test_docker_podman import host_cgroup_file


def both(scenario: Callable[[str], Any]) -> Any:
    seen = {rt: scenario(rt) for rt in RUNTIMES}
    assert seen["pyruntime"] == seen["runc"], f"runc and pyruntime differ: {seen}"
    return seen["pyruntime"]


def run_flags(lab: Lab, rt: str) -> list[str]:
    return ["--runc-binary", lab.runtimes[rt], "--runc-root", lab.ctr_runc_root()]


def ctr_run(lab: Lab, rt: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return lab.ctr("run", *run_flags(lab, rt), *args, timeout=timeout)


def task_status(lab: Lab, cid: str) -> str:
    for line in check(lab.ctr("tasks", "ls")).stdout.splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == cid:
            return fields[-1]
    return "absent"


def remove(lab: Lab, cid: str) -> None:
    lab.ctr("tasks", "kill", "-s", "KILL", cid)
    wait_for(lambda: task_status(lab, cid) in ("STOPPED", "absent"), 20, f"{cid} to stop")
    lab.ctr("tasks", "delete", cid)
    lab.ctr("containers", "delete", cid)


def test_oneshot_stdout_stderr_exit_code(lab: Lab) -> None:
    def scenario(rt: str) -> tuple[str, str, int]:
        p = ctr_run(lab, rt, "--rm", CTR_BUSYBOX, unique(f"one-{rt}"),
                    "sh", "-c", "echo to-out; echo to-err >&2; exit 3")
        return p.stdout, p.stderr, p.returncode

    assert both(scenario) == ("to-out\n", "to-err\n", 3)


def test_bind_mount_both_ways(lab: Lab, tmp_path: Path) -> None:
    def scenario(rt: str) -> tuple[str, str]:
        d = tmp_path / rt
        d.mkdir()
        (d / "from-host").write_text("written by the host\n")
        p = check(ctr_run(lab, rt, "--rm", "--mount", f"type=bind,src={d},dst=/data,options=rbind:rw",
                          CTR_BUSYBOX, unique(f"vol-{rt}"), "sh", "-c",
                          "cat /data/from-host; echo written by the container > /data/from-ctr"))
        return p.stdout, (d / "from-ctr").read_text()

    assert both(scenario) == ("written by the host\n", "written by the container\n")


def test_scratch_image(lab: Lab) -> None:
    def scenario(rt: str) -> tuple[str, str, int]:
        p = ctr_run(lab, rt, "--rm", CTR_SCRATCH, unique(f"scratch-{rt}"), "/hello", "7")
        return p.stdout, p.stderr, p.returncode

    assert both(scenario) == ("hello from scratch pid=1 uid=0 arg=7\n", "hello on stderr\n", 7)


def test_service_ps_kill_leaves_nothing(lab: Lab) -> None:
    """A long-running task: `ctr task ps` lists host PIDs; TERM is ignored by
    the shell, KILL ends it and `ctr run` (which waits for the task) exits
    137; with --rm nothing is left behind."""
    def scenario(rt: str) -> tuple[bool, str, int, list[str]]:
        cid = unique(f"svc-{rt}")
        waiter = subprocess.Popen(["ctr", "-a", str(lab.containerd_sock), "-n", lab.ctr_ns, "run", "--rm",
                                   *run_flags(lab, rt), CTR_BUSYBOX, cid, "sh", "-c",
                                   'trap "" TERM; sleep 1000 & wait'],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: task_status(lab, cid) == "RUNNING" and len(task_pids(lab, cid)) == 2, 30,
                     f"{cid} to run its sleep")
            cmds = {Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                    for p in task_pids(lab, cid)}
            check(lab.ctr("tasks", "kill", cid))
            time.sleep(1)
            after_term = task_status(lab, cid)
            check(lab.ctr("tasks", "kill", "-s", "KILL", cid))
            code = waiter.wait(30)
        finally:
            if waiter.poll() is None:
                remove(lab, cid)
                waiter.wait(30)
        wait_for(lambda: not lab.leftovers(cid), 10, f"{cid} to leave nothing")
        return "sleep 1000" in cmds, after_term, code, lab.leftovers(cid)

    assert both(scenario) == (True, "RUNNING", 137, [])


def task_pids(lab: Lab, cid: str) -> list[int]:
    ps = check(lab.ctr("tasks", "ps", cid)).stdout.splitlines()[1:]
    return [int(line.split()[0]) for line in ps if line.strip()]


def test_exec_and_exec_tty(lab: Lab) -> None:
    def scenario(rt: str) -> tuple[str, int, str]:
        cid = unique(f"exec-{rt}")
        check(ctr_run(lab, rt, "-d", CTR_BUSYBOX, cid, "sleep", "1000"))
        try:
            plain = check(lab.ctr("tasks", "exec", "--exec-id", "e1", cid, "sh", "-c",
                                  "cat /proc/1/cmdline | tr '\\0' ' '; echo; id -u"))
            failing = lab.ctr("tasks", "exec", "--exec-id", "e2", cid, "sh", "-c", "exit 5")
            tty = subprocess.run(["script", "-qec", shlex.join(
                ["ctr", "-a", str(lab.containerd_sock), "-n", lab.ctr_ns, "tasks", "exec", "-t",
                 "--exec-id", "e3", cid, "sh", "-c", "tty; sleep 1"]), "/dev/null"],
                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        finally:
            remove(lab, cid)
        # ctr resizes the exec's terminal after starting it: a process that has
        # already exited makes that fail ("failed to resize tty"), hence the
        # sleep. "^@": a NUL the client writes to the terminal, echoed by the pty.
        out = tty.stdout.replace("\r", "").replace("^@", "").strip()
        return plain.stdout, failing.returncode, out[:9] if out.startswith("/dev/pts/") else out

    assert both(scenario) == ("sleep 1000 \n0\n", 5, "/dev/pts/")


def test_run_tty(lab: Lab) -> None:
    def scenario(rt: str) -> list[str]:
        argv = ["ctr", "-a", str(lab.containerd_sock), "-n", lab.ctr_ns, "run", "--rm", "-t",
                *run_flags(lab, rt), CTR_BUSYBOX, unique(f"tty-{rt}"), "sh", "-c",
                "tty; [ -t 0 ] && echo stdin-is-a-tty; sleep 1"]  # sleep: see test_exec_and_exec_tty
        p = subprocess.run(["script", "-qec", shlex.join(argv), "/dev/null"], capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        # "^@": a NUL the client writes to the terminal, echoed by the pty (runc alike)
        return p.stdout.replace("\r", "").replace("^@", "").split()

    assert both(scenario) == ["/dev/pts/0", "stdin-is-a-tty"]


def test_pause_resume(lab: Lab) -> None:
    def scenario(rt: str) -> tuple[str, str, str, str]:
        cid = unique(f"pause-{rt}")
        check(ctr_run(lab, rt, "-d", CTR_BUSYBOX, cid, "sleep", "1000"))
        try:
            pid = int(check(lab.ctr("tasks", "ps", cid)).stdout.splitlines()[1].split()[0])
            check(lab.ctr("tasks", "pause", cid))
            paused = task_status(lab, cid), host_cgroup_file(pid, "freezer", "freezer.state")
            check(lab.ctr("tasks", "resume", cid))
            running = task_status(lab, cid), host_cgroup_file(pid, "freezer", "freezer.state")
        finally:
            remove(lab, cid)
        return (*paused, *running)

    assert both(scenario) == ("PAUSED", "FROZEN", "RUNNING", "THAWED")


def test_limits(lab: Lab) -> None:
    def scenario(rt: str) -> tuple[str, str, str, int]:
        cid = unique(f"lim-{rt}")
        check(ctr_run(lab, rt, "-d", "--memory-limit", str(32 << 20), "--cpus", "0.5", "--cpu-shares", "512",
                      CTR_BUSYBOX, cid, "sleep", "1000"))
        try:
            pid = int(check(lab.ctr("tasks", "ps", cid)).stdout.splitlines()[1].split()[0])
            limits = (host_cgroup_file(pid, "memory", "memory.limit_in_bytes"),
                      host_cgroup_file(pid, "cpu", "cpu.cfs_quota_us"),
                      host_cgroup_file(pid, "cpu", "cpu.shares"))
        finally:
            remove(lab, cid)
        hog = ctr_run(lab, rt, "--rm", "--memory-limit", str(32 << 20), CTR_BUSYBOX, unique(f"hog-{rt}"),
                      "memhog", "200")
        return (*limits, hog.returncode)

    assert both(scenario) == (str(32 << 20), "50000", "512", 137)


def test_same_id_twenty_times_leaves_nothing(lab: Lab) -> None:
    def scenario(rt: str) -> list[str]:
        cid = unique(f"again-{rt}")
        for _ in range(20):
            check(ctr_run(lab, rt, "-d", CTR_BUSYBOX, cid, "sleep", "1000"))
            remove(lab, cid)
        return lab.leftovers(cid) + [f"process {pid}" for pid, cmd in processes() if cid in cmd]

    assert both(scenario) == []
