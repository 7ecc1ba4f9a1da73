"""User namespaces: root inside is nobody outside. A container whose root is
mapped to an unprivileged host id range keeps every capability inside its
user namespace, yet cannot touch host root's files: they show as nobody
(65534), and writing them is refused even with CAP_DAC_OVERRIDE and after
remounting their bind mount read-write. The mappings themselves are in
test_namespaces.py (test_user_namespace_mappings); rootless mode in
test_security_rootless.py.

RUNTIME=/usr/sbin/runc runs the same attack against runc.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.integration.test_namespaces import HOST_ID, ID_SIZE, _chown_tree, userns_dir  # noqa: F401
from tests.support.bundle import base_config, write_bundle
from tests.support.isolation import run_ok, set_namespace
from tests.support.security import Observe

ALL_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
            "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_MKNOD",
            "CAP_SYS_CHROOT", "CAP_NET_ADMIN", "CAP_AUDIT_WRITE"]


def test_root_in_a_user_namespace_cannot_touch_host_root_files(
        rt: Any, cid: str, busybox_rootfs: Path, userns_dir: Path,  # noqa: F811
        record_property: Observe) -> None:
    """root with every capability in a user namespace (mapped to 100000+) attacks host root's files bound into it"""
    data = userns_dir / "data"
    data.mkdir()
    (data / "root-file").write_text("host root's\n")  # root:root 0644
    (data / "root-secret").write_text("secret\n")
    os.chmod(data / "root-secret", 0o600)
    script = ("stat -c %u:%g /data/root-file; "
              "{ echo x >> /data/root-file; } 2>/dev/null && echo write=done || echo write=refused; "
              "cat /data/root-secret >/dev/null 2>&1 && echo read-secret=done || echo read-secret=refused; "
              "chown 0:0 /data/root-file 2>/dev/null && echo chown=done || echo chown=refused; "
              "mount -o remount,bind,rw /data 2>/dev/null; "
              "{ echo x >> /data/root-file; } 2>/dev/null && echo write-after-remount=done "
              "|| echo write-after-remount=refused; "
              "mknod /tmp/mem c 1 1 2>/dev/null && echo mknod=done || echo mknod=refused")
    cfg = base_config(["sh", "-c", script])
    set_namespace(cfg, "user")
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": ID_SIZE}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": ID_SIZE}]
    cfg["process"]["capabilities"] = {s: list(ALL_CAPS) for s in ("bounding", "effective", "permitted")}
    cfg["root"]["readonly"] = False
    cfg["mounts"].append({"destination": "/data", "type": "bind", "source": str(data), "options": ["rbind", "ro"]})
    bundle = write_bundle(userns_dir / "bundle", cfg, rootfs_src=busybox_rootfs)
    os.chmod(bundle, 0o755)
    _chown_tree(bundle / "rootfs", HOST_ID, HOST_ID)
    out = run_ok(rt, bundle, cid)
    lines = out.split()
    assert lines[0] == "65534:65534", out  # unmapped: nobody inside
    got = dict(ln.split("=") for ln in lines[1:])
    assert got == {"write": "refused", "read-secret": "refused", "chown": "refused",
                   "write-after-remount": "refused", "mknod": "refused"}, out
    assert (data / "root-file").read_text() == "host root's\n"
    record_property("observed", "host root's files are 65534 inside; write, read 0600, chown, write after "
                                "remount rw, mknod: all refused despite every capability")
