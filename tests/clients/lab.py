"""A private set of container clients for one test session: containerd,
dockerd (on that containerd), Podman and ctr, all keeping their state under
one directory and living in their own network namespace.

Why a network namespace: dockerd makes a `docker0` bridge and iptables rules,
Podman's CNI makes `cni-podman0`. Started with `nsenter --net=` (not `ip netns
exec`, which also remounts /sys and would hide /sys/fs/cgroup) they change
only that namespace, which `close()` deletes. A published port is reached
from inside it (`Lab.in_netns`).

Everything else is private too: containerd's root/state/socket, dockerd's
data-root/exec-root/socket/pidfile and `--cgroup-parent`, Podman's
--root/--runroot/--tmpdir/containers.conf and `--cgroup-parent`, ctr's
namespace (its cgroup parent) and --runc-root. `close()` removes only those.

Both runtimes are registered with each client, so a test runs the same
scenario with runc and with pyruntime:
  docker --runtime runc|pyruntime       (dockerd's config file `runtimes`, DOCS)
  podman --runtime runc|pyruntime       (containers.conf [engine.runtimes])
  ctr run --runc-binary PATH            (the runc v2 shim's BinaryName)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

RUNC = shutil.which("runc") or "/usr/sbin/runc"
DOCKER = "/usr/bin/docker"  # Debian's docker.io client, matching its dockerd


def missing_tools() -> list[str]:
    need = {"containerd": "containerd", "dockerd": "docker.io", "podman": "podman",
            "conmon": "conmon", "ctr": "containerd", "containerd-shim-runc-v2": "containerd",
            "nsenter": "util-linux", "ip": "iproute2"}
    out = [f"{tool} (apt-get install {pkg})" for tool, pkg in need.items() if shutil.which(tool) is None]
    if not os.path.exists(DOCKER):
        out.append(f"{DOCKER} (apt-get install docker.io)")
    if not os.path.exists(RUNC):
        out.append("runc (apt-get install runc)")
    return out


def wait_for(pred: Any, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_pid(proc: subprocess.Popen[bytes], what: str, grace: float = 20) -> None:
    """TERM the daemon we started (by pid), KILL it after `grace` seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


class Lab:
    def __init__(self, pyruntime: str, base: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.tag = f"pyrt-cl-{uuid.uuid4().hex[:8]}"
        self.env = env  # the daemons' environment (None: ours); the NVIDIA tests set PATH and hook settings
        self.base = base or Path("/tmp") / self.tag
        self.pyruntime = pyruntime
        self.runtimes = {"runc": RUNC, "pyruntime": pyruntime}
        self.netns = self.tag
        self.netns_path = f"/run/netns/{self.netns}"
        self.containerd_sock = self.base / "containerd.sock"
        self.docker_sock = self.base / "docker.sock"
        self.ctr_ns = self.tag  # containerd namespace; also ctr's cgroup parent /<ns>/<id>
        self.docker_cgroup_parent = f"/{self.tag}-docker"
        self.podman_cgroup_parent = f"/{self.tag}-podman"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}

    # ------------------------------------------------------------ start / stop

    def start(self) -> None:
        self.base.mkdir(parents=True)
        subprocess.run(["ip", "netns", "add", self.netns], check=True, capture_output=True)
        subprocess.run(["ip", "netns", "exec", self.netns, "ip", "link", "set", "lo", "up"], check=True)
        self._start_containerd()
        self._start_dockerd()
        self._write_podman_conf(json_log=True)
        self._write_podman_conf(json_log=False)

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = self.base / f"{name}.log"
        self.logs[name] = log
        with open(log, "wb") as f:
            p = subprocess.Popen(["nsenter", f"--net={self.netns_path}", *argv], stdout=f,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env)
        self.procs[name] = p
        # for `python -m tests.clients.lab --reclaim DIR` after a test run was killed
        pids = self.base / "pids"
        with open(pids, "a") as f:
            f.write(f"{name} {p.pid}\n")
        return p

    def _check_alive(self, name: str) -> bool:
        p = self.procs[name]
        if p.poll() is not None:
            raise RuntimeError(f"{name} exited with {p.returncode}:\n{self.logs[name].read_text()[-3000:]}")
        return True

    def _start_containerd(self) -> None:
        cfg = self.base / "containerd.toml"
        # The CRI plugin is left out: nothing here speaks CRI, and it wants CNI config.
        cfg.write_text(
            'version = 2\n'
            f'root = "{self.base}/containerd/root"\n'
            f'state = "{self.base}/containerd/state"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            '[grpc]\n'
            f'  address = "{self.containerd_sock}"\n'
            '[ttrpc]\n'
            f'  address = "{self.base}/containerd.sock.ttrpc"\n'
        )
        self._spawn("containerd", ["containerd", "--config", str(cfg)])
        wait_for(lambda: self._check_alive("containerd") and self.containerd_sock.exists()
                 and self.ctr("version").returncode == 0, 30, "containerd")

    def docker_daemon_json(self) -> dict[str, Any]:
        """The daemon.json recipe of docs/CLIENTS.md, with this lab's paths;
        pyruntime is also the default runtime (the tests name the runtime of
        every container they run but one, which checks the default)."""
        return {"runtimes": {"pyruntime": {"path": self.pyruntime}}, "default-runtime": "pyruntime"}

    def _start_dockerd(self) -> None:
        daemon_json = self.base / "daemon.json"
        daemon_json.write_text(json.dumps(self.docker_daemon_json(), indent=2))
        self._spawn("dockerd", [
            "dockerd", "--config-file", str(daemon_json),
            # the other recipe: the same binary under a second name, from the command line
            "--add-runtime", f"pyruntime-flag={self.pyruntime}",
            "--containerd", str(self.containerd_sock),
            "--data-root", f"{self.base}/docker", "--exec-root", f"{self.base}/exec",
            "-H", f"unix://{self.docker_sock}", "--pidfile", f"{self.base}/docker.pid",
            "--cgroup-parent", self.docker_cgroup_parent, "--storage-driver", "overlay2",
        ])
        wait_for(lambda: self._check_alive("dockerd") and self.docker_sock.exists()
                 and self.docker("version").returncode == 0, 60, "dockerd")

    def _write_podman_conf(self, json_log: bool) -> Path:
        """containers.conf registering pyruntime; with json_log, pyruntime is in
        runtime_supports_json, so Podman passes it --log-format=json."""
        names = ["crun", "runc", "kata", "runsc", "youki", "krun"] + (["pyruntime"] if json_log else [])
        d = self.base / ("podman-conf-json" if json_log else "podman-conf-text")
        d.mkdir(exist_ok=True)
        conf = d / "containers.conf"
        conf.write_text(
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{self.base}/podman-events.log"\n'
            f"runtime_supports_json = {json.dumps(names)}\n"
            "[engine.runtimes]\n"
            f'pyruntime = ["{self.pyruntime}"]\n'
            f'runc = ["{RUNC}"]\n'
            "[network]\n"
            f'network_config_dir = "{self.base}/podman-cni"\n'
        )
        return conf

    @classmethod
    def reclaim(cls, base: Path) -> None:
        """Clean up the lab of a killed test run: containers, daemons (by the
        pids it recorded, checked to still be ours), mounts, netns, cgroups, dir."""
        lab = cls("/nonexistent", base)
        lab.tag = lab.netns = lab.ctr_ns = base.name
        lab.netns_path = f"/run/netns/{lab.netns}"
        lab.docker_cgroup_parent = f"/{lab.tag}-docker"
        lab.podman_cgroup_parent = f"/{lab.tag}-podman"
        lab.containerd_sock = base / "containerd.sock"
        lab.docker_sock = base / "docker.sock"
        lab._remove_containers()
        stop_recorded_daemons(base)
        lab.close()

    def _remove_containers(self) -> None:
        for name in ("docker", "podman", "ctr"):
            try:
                getattr(self, f"_remove_all_{name}")()
            except Exception:  # noqa: BLE001 - best effort, the checks below still run
                pass

    def start_shim_server(self) -> int:
        """README's "A warm server for a shim's --root", for the --root dockerd
        gives the runc shim (<exec-root>/runtime-runc/moby): started from here,
        no subreaper, in the daemons' network namespace. Its pid; it goes when
        close() removes the root."""
        from tests.support.warm import start_server_for

        return start_server_for(self.pyruntime, self.base / "exec" / "runtime-runc" / "moby", self.netns_path,
                                self.env)

    def close(self) -> None:
        self._remove_containers()
        for name in ("dockerd", "containerd"):
            if name in self.procs:
                stop_pid(self.procs[name], name)
        self._unmount_all()
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
        for parent in (self.docker_cgroup_parent, self.podman_cgroup_parent, "/" + self.ctr_ns):
            remove_cgroup_everywhere(parent)
        shutil.rmtree(self.base, ignore_errors=True)

    def _remove_all_docker(self) -> None:
        ids = self.docker("ps", "-aq").stdout.split()
        if ids:
            self.docker("rm", "-f", *ids, timeout=120)

    def _remove_all_podman(self) -> None:
        self.podman("rm", "-af", "-t", "0", timeout=120)
        self.podman("system", "reset", "-f", timeout=120)

    def _remove_all_ctr(self) -> None:
        for line in self.ctr("tasks", "ls", "-q").stdout.split():
            self.ctr("tasks", "kill", "-s", "KILL", line)
            self.ctr("tasks", "delete", "-f", line)
        for line in self.ctr("containers", "ls", "-q").stdout.split():
            self.ctr("containers", "delete", line)

    def _unmount_all(self) -> None:
        prefix = str(self.base) + "/"
        points = [m for m in mountpoints() if m.startswith(prefix)]
        for m in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)

    # ------------------------------------------------------------ the clients

    def docker(self, *args: str, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
        return run([DOCKER, "-H", f"unix://{self.docker_sock}", *args], timeout=timeout, **kw)

    def podman_argv(self) -> list[str]:
        return ["podman", "--root", f"{self.base}/podman/root", "--runroot", f"{self.base}/podman/run",
                "--tmpdir", f"{self.base}/podman/tmp", "--storage-driver", "overlay"]

    def podman_env(self, json_log: bool = True) -> dict[str, str]:
        conf = self.base / ("podman-conf-json" if json_log else "podman-conf-text") / "containers.conf"
        return {**os.environ, "CONTAINERS_CONF": str(conf)}

    def podman(self, *args: str, json_log: bool = True, timeout: float = 120,
               **kw: Any) -> subprocess.CompletedProcess[str]:
        # In the lab's network namespace: Podman's CNI bridge and port forwards stay there.
        argv = ["nsenter", f"--net={self.netns_path}", *self.podman_argv(), *args]
        # conmon writes an `oom` file into its working directory when the
        # container is OOM-killed: there, not into the test's.
        kw.setdefault("cwd", self.base)
        return run(argv, timeout=timeout, env=self.podman_env(json_log), **kw)

    def ctr(self, *args: str, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
        return run(["ctr", "-a", str(self.containerd_sock), "-n", self.ctr_ns, *args], timeout=timeout, **kw)

    def ctr_runc_root(self) -> str:
        return f"{self.base}/ctr-runc-root"

    def in_netns(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return run(["nsenter", f"--net={self.netns_path}", *argv], timeout=timeout)

    # ------------------------------------------------------------ leftovers

    def leftovers(self, ident: str) -> list[str]:
        """Every trace of a removed container `ident` (its id or name) that the
        host still holds: mounts, cgroup directories, processes, files and
        directories under the lab (runtime state dirs, bundles, logs)."""
        found = [f"mount {m}" for m in mountpoints() if ident in m]
        for parent in (self.docker_cgroup_parent, self.podman_cgroup_parent, "/" + self.ctr_ns):
            for d in cgroup_dirs(parent):
                if ident in d.name:
                    found.append(f"cgroup {d}")
        for pid, cmdline in processes():
            if ident in cmdline:
                found.append(f"process {pid}: {cmdline}")
        for dirpath, dirnames, filenames in os.walk(self.base):
            for n in dirnames + filenames:
                if ident in n:
                    found.append(f"file {dirpath}/{n}")
        return found


def stop_recorded_daemons(base: Path) -> None:
    """TERM the daemons a lab under `base` recorded in base/pids (a killed test
    run left them), each only if its command line still names `base` (the pid
    may have been reused), and wait for each to exit."""
    pids = base / "pids"
    for line in pids.read_text().splitlines() if pids.exists() else []:
        name, pid = line.split()
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if str(base).encode() in cmdline:
            os.kill(int(pid), signal.SIGTERM)
            wait_for(lambda p=int(pid): not pid_alive(p), 30, f"{name} ({pid}) to exit")


def run(argv: list[str], timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def mountpoints() -> list[str]:
    out: list[str] = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            out.append(mp.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
                       .replace("\\134", "\\"))
    return out


def cgroup_roots() -> list[Path]:
    roots: list[Path] = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            fstype = parts[parts.index("-") + 1]
            if fstype in ("cgroup", "cgroup2"):
                roots.append(Path(parts[4]))
    return roots


def cgroup_dirs(parent: str) -> list[Path]:
    """Every directory below `parent` in every mounted cgroup hierarchy."""
    out: list[Path] = []
    for root in cgroup_roots():
        top = root / parent.lstrip("/")
        if top.is_dir():
            out.extend(Path(dp) for dp, _dn, _fn in os.walk(top) if Path(dp) != top)
    return out


def remove_cgroup_everywhere(parent: str) -> None:
    for root in cgroup_roots():
        top = root / parent.lstrip("/")
        if not top.is_dir():
            continue
        for dp, _dn, _fn in sorted(os.walk(top), key=lambda t: len(t[0]), reverse=True):
            try:
                os.rmdir(dp)
            except OSError:
                pass


def processes() -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if cmd:
            out.append((int(entry), cmd))
    return out


if __name__ == "__main__":  # python -m tests.clients.lab --reclaim /tmp/pyrt-cl-XXXX
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "--reclaim":
        sys.exit("usage: python -m tests.clients.lab --reclaim LAB_DIR")
    Lab.reclaim(Path(sys.argv[2]))
