"""The docker/podman command line the scenarios share, and small helpers."""

from __future__ import annotations

import os
import subprocess
from typing import Any

from tests.clients.lab import Lab

BUSYBOX = "localhost/pyrt-busybox:test"
SCRATCH = "localhost/pyrt-scratch:test"
CTR_BUSYBOX = "docker.io/pyrt/busybox:test"
CTR_SCRATCH = "docker.io/pyrt/scratch:test"
RUNTIMES = ("runc", "pyruntime")



def check(p: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    if p.returncode != 0:
        raise AssertionError(f"{p.args} failed rc={p.returncode}\nstdout={p.stdout}\nstderr={p.stderr}")
    return p


class Client:
    """docker or podman: the same command line, with each one's extras.
    `run_flags(runtime)` selects the runtime; Podman also needs rlimits this
    host allows (no CAP_SYS_RESOURCE: its defaults are above the hard limit)
    and a cgroup parent of the lab's."""

    def __init__(self, name: str, lab: Lab, json_log: bool = True) -> None:
        self.name = name
        self.lab = lab
        self.json_log = json_log

    def __call__(self, *args: str, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
        if self.name == "docker":
            return self.lab.docker(*args, timeout=timeout, **kw)
        return self.lab.podman(*args, json_log=self.json_log, timeout=timeout, **kw)

    def argv(self) -> list[str]:
        """The full command line prefix, for running under `script` (a pty)."""
        if self.name == "docker":
            return ["/usr/bin/docker", "-H", f"unix://{self.lab.docker_sock}"]
        return ["nsenter", f"--net={self.lab.netns_path}", *self.lab.podman_argv()]

    def env(self) -> dict[str, str] | None:
        return None if self.name == "docker" else self.lab.podman_env(self.json_log)

    def run_flags(self, runtime: str) -> list[str]:
        if self.name == "docker":
            return ["--runtime", runtime]
        return ["--runtime", runtime, "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                "--cgroup-parent", self.lab.podman_cgroup_parent]

    def run(self, runtime: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self("run", *self.run_flags(runtime), *args, timeout=timeout)

    def remove(self, ref: str) -> subprocess.CompletedProcess[str]:
        """rm -f; Podman's first sends TERM and waits 10 s, which a shell or
        sleep as PID 1 ignores: -t 0 kills at once, as docker rm -f does."""
        if self.name == "docker":
            return self("rm", "-f", ref)
        return self("rm", "-f", "-t", "0", ref)

    def inspect(self, ref: str, fmt: str) -> str:
        return check(self("inspect", "-f", fmt, ref)).stdout.strip()

    def full_id(self, ref: str) -> str:
        return self.inspect(ref, "{{.Id}}")

    def host_pid(self, ref: str) -> int:
        return int(self.inspect(ref, "{{.State.Pid}}"))


def unique(prefix: str) -> str:
    return f"{prefix}-{os.urandom(4).hex()}"
