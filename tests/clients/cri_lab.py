"""A private containerd with its CRI plugin enabled, for test_cri.py: what a
Kubernetes node's containerd is, with pyruntime registered as a CRI runtime
handler (the name a RuntimeClass's `handler` selects) next to runc.

Like lab.py's Lab (whose helpers it uses) it keeps everything under one
directory /tmp/pyrt-cri-XXXXXXXX and lives in its own network namespace:
containerd's root/state/socket, the CRI plugin's CNI conf and bin dirs (empty:
the pods use the node's network, NamespaceMode NODE, for which containerd 1.6
calls no CNI plugin; a missing CNI config only makes the runtime condition
NetworkReady false), each handler's runtime --root (the runc v2 shim's `Root`
option), the pods' log directories, and the pods' cgroup parent /<tag>.
"Node network" here is that namespace: the shim and runtime run in it.

The sandbox ("pause") image and busybox are built here (no registry is
reachable) and imported into containerd's k8s.io namespace, the CRI plugin's.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

from tests.clients import images
from tests.clients.lab import (
    RUNC,
    cgroup_dirs,
    mountpoints,
    pid_alive,
    processes,
    remove_cgroup_everywhere,
    run,
    stop_pid,
    stop_recorded_daemons,
    wait_for,
)
from tests.support.bundle import make_busybox_rootfs
from tests.support.isolation import build_probe

CRI_NAMESPACE = "k8s.io"
PAUSE_IMAGE = "docker.io/pyrt/pause:test"
BUSYBOX_IMAGE = "docker.io/pyrt/busybox:test"


def missing_tools() -> list[str]:
    need = {"containerd": "containerd", "ctr": "containerd", "containerd-shim-runc-v2": "containerd",
            "nsenter": "util-linux", "ip": "iproute2", "gcc": "gcc"}
    out = [f"{tool} (apt-get install {pkg})" for tool, pkg in need.items() if shutil.which(tool) is None]
    if not os.path.exists(RUNC):
        out.append("runc (apt-get install runc)")
    return out


class CriContainerd:
    def __init__(self, pyruntime: str, base: Path | None = None) -> None:
        self.tag = f"pyrt-cri-{uuid.uuid4().hex[:8]}"
        self.base = base or Path("/tmp") / self.tag
        self.runtimes = {"runc": RUNC, "pyruntime": pyruntime}  # CRI runtime handler -> BinaryName
        self.netns = self.tag
        self.netns_path = f"/run/netns/{self.netns}"
        self.sock = self.base / "containerd.sock"
        self.cgroup_parent = f"/{self.tag}"  # every pod's LinuxPodSandboxConfig.cgroup_parent
        self.log_root = self.base / "pod-logs"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.base / "containerd.log"

    def runtime_root(self, handler: str) -> Path:
        """The handler's `Root` option; the shim runs `<binary> --root <Root>/k8s.io`."""
        return self.base / "runtime-root" / handler

    def config(self) -> str:
        """containerd's config.toml (version 2): the recipe of docs/CLIENTS.md
        with this lab's paths."""
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        lines = [
            "version = 2",
            f'root = "{self.base}/containerd/root"',
            f'state = "{self.base}/containerd/state"',
            "[grpc]",
            f'  address = "{self.sock}"',
            "[ttrpc]",
            f'  address = "{self.sock}.ttrpc"',
            f"[{cri}]",
            f'  sandbox_image = "{PAUSE_IMAGE}"',
            "  disable_cgroup = false",
            # This host grants no CAP_SYS_RESOURCE, so the sandbox's oom_score_adj
            # of -998 cannot be written (runc: "failed to update
            # /proc/self/oom_score_adj: Permission denied"); this clamps it to
            # containerd's own. Not part of the recipe: a real node needs no such line.
            "  restrict_oom_score_adj = true",
            '  stream_server_address = "127.0.0.1"',
            '  stream_server_port = "0"',
            f"[{cri}.cni]",
            f'  bin_dir = "{self.base}/cni/bin"',
            f'  conf_dir = "{self.base}/cni/net.d"',
            f"[{cri}.containerd]",
            '  default_runtime_name = "runc"',
        ]
        for handler, binary in self.runtimes.items():
            lines += [
                f"[{cri}.containerd.runtimes.{handler}]",
                '  runtime_type = "io.containerd.runc.v2"',
                f"[{cri}.containerd.runtimes.{handler}.options]",
                f'  BinaryName = "{binary}"',
                f'  Root = "{self.runtime_root(handler)}"',
            ]
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------ start / stop

    def start(self) -> None:
        self.base.mkdir(parents=True)
        for d in ("cni/bin", "cni/net.d", "pod-logs"):
            (self.base / d).mkdir(parents=True)
        subprocess.run(["ip", "netns", "add", self.netns], check=True, capture_output=True)
        subprocess.run(["ip", "netns", "exec", self.netns, "ip", "link", "set", "lo", "up"], check=True)
        cfg = self.base / "containerd.toml"
        cfg.write_text(self.config())
        with open(self.log, "wb") as f:
            self.proc = subprocess.Popen(["nsenter", f"--net={self.netns_path}", "containerd", "--config", str(cfg)],
                                         stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        # for `python -m tests.clients.cri_lab --reclaim DIR` after a killed run
        (self.base / "pids").write_text(f"containerd {self.proc.pid}\n")
        wait_for(lambda: self._alive() and self.sock.exists() and self.ctr("version").returncode == 0,
                 30, "containerd")

    def _alive(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"containerd exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
        return True

    def import_images(self, work: Path) -> None:
        """Build the pause and busybox images as OCI archives and import them
        into the CRI plugin's namespace."""
        pause_root = work / "pause-rootfs"
        pause_root.mkdir(parents=True)
        shutil.copy2(build_probe("pause", work), pause_root / "pause")
        bb_root = make_busybox_rootfs(work / "busybox-rootfs")
        for root, ref, cmd in ((pause_root, PAUSE_IMAGE, ["/pause"]), (bb_root, BUSYBOX_IMAGE, ["/bin/sh"])):
            name = ref.rsplit("/", 1)[-1].replace(":", "-")
            layer = images.rootfs_tar(root, work / f"{name}.tar")
            archive = images.oci_archive(layer, work / f"{name}-oci.tar", ref, cmd)
            p = self.ctr("images", "import", str(archive))
            if p.returncode != 0:
                raise RuntimeError(f"ctr images import {ref}: {p.stderr}")

    def ctr(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run(["ctr", "-a", str(self.sock), "-n", CRI_NAMESPACE, *args], timeout=timeout)

    def close(self) -> None:
        """Stop containerd (by pid), then remove whatever the test's own CRI
        teardown could not: containers left in a handler's runtime root,
        shims still running for this containerd, mounts under the lab, the
        netns, the cgroup parent, the directory."""
        if self.proc is not None:
            stop_pid(self.proc, "containerd")
        self._remove_stray_containers()
        self._unmount_all()
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
        remove_cgroup_everywhere(self.cgroup_parent)
        shutil.rmtree(self.base, ignore_errors=True)

    def _remove_stray_containers(self) -> None:
        for handler, binary in self.runtimes.items():
            root = self.runtime_root(handler) / CRI_NAMESPACE
            if root.is_dir():
                for entry in root.iterdir():
                    if entry.is_dir():
                        run([binary, "--root", str(root), "delete", "--force", entry.name], timeout=60)
        # the shims of this containerd: `-address <base>/containerd.sock` in their command line
        mine = [pid for pid, cmd in processes() if "containerd-shim" in cmd and str(self.sock) in cmd]
        for pid in mine:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in mine:
            wait_for(lambda p=pid: not pid_alive(p), 10, f"shim {pid} to exit")

    def _unmount_all(self) -> None:
        prefix = str(self.base) + "/"
        points = [m for m in mountpoints() if m.startswith(prefix)]
        for m in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)

    @classmethod
    def reclaim(cls, base: Path) -> None:
        """Clean up after a killed test run: containerd (by the pid it
        recorded, checked to still be ours), then close()."""
        lab = cls("/nonexistent", base)
        lab.tag = lab.netns = base.name
        lab.netns_path = f"/run/netns/{lab.netns}"
        lab.cgroup_parent = f"/{lab.tag}"
        stop_recorded_daemons(base)
        from tests.conftest import find_runtime  # for `delete --force` of what is left in its root

        lab.runtimes["pyruntime"] = find_runtime()
        lab.close()

    # ------------------------------------------------------------ leftovers

    def leftovers(self, ident: str) -> list[str]:
        """Every trace of a removed pod or container `ident` (its id) that the
        host still holds: mounts, cgroup directories, processes (shims,
        container processes), and files or directories under the lab
        (runtime state dirs, bundles, the CRI plugin's sandbox/container dirs)."""
        found = [f"mount {m}" for m in mountpoints() if ident in m]
        found += [f"cgroup {d}" for d in cgroup_dirs(self.cgroup_parent) if ident in d.name]
        found += [f"process {pid}: {cmd}" for pid, cmd in processes() if ident in cmd]
        for dirpath, dirnames, filenames in os.walk(self.base):
            found += [f"file {dirpath}/{n}" for n in dirnames + filenames if ident in n]
        return found


if __name__ == "__main__":  # python -m tests.clients.cri_lab --reclaim /tmp/pyrt-cri-XXXX
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "--reclaim":
        sys.exit("usage: python -m tests.clients.cri_lab --reclaim LAB_DIR")
    CriContainerd.reclaim(Path(sys.argv[2]))
