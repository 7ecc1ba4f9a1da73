"""Privileges a container process tries to regain: a setuid-root binary
under noNewPrivileges, a lower oom_score_adj, the content behind masked
paths, and write access to read-only paths (directly, by remounting, by
unmounting, by mounting a fresh procfs); each refused.

RUNTIME=/usr/sbin/runc runs the same attacks against runc.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.isolation import describe, run_ok, start_detached
from tests.support.security import Observe, build_static

MakeBundle = Callable[..., Path]


@pytest.fixture(scope="module")
def suidprobe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_static("suidprobe", tmp_path_factory.mktemp("suidprobe"))


def _suid_bundle(make_bundle: MakeBundle, suidprobe: Path, nnp: bool, name: str) -> Path:
    def mutate(c: dict[str, Any]) -> None:
        c["process"]["user"] = {"uid": 1000, "gid": 1000}
        c["process"]["noNewPrivileges"] = nnp

    b = make_bundle(["/bin/suidprobe"], mutate=mutate, name=name)
    dest = b / "rootfs" / "bin" / "suidprobe"
    dest.write_bytes(suidprobe.read_bytes())
    os.chown(dest, 0, 0)
    os.chmod(dest, 0o4755)  # setuid root
    secret = b / "rootfs" / "root-only"
    secret.write_text("secret\n")
    os.chmod(secret, 0o600)
    return b


def test_control_setuid_binary_gains_root_without_no_new_privileges(
        rt: Any, cid: str, make_bundle: MakeBundle, suidprobe: Path) -> None:
    """control: without noNewPrivileges the setuid-root probe does run as root (so the next test means something)"""
    out = run_ok(rt, _suid_bundle(make_bundle, suidprobe, False, "suid-off"), cid)
    assert out.strip() == "ruid=1000 euid=0 open_root_only=ok", out


def test_no_new_privileges_stops_a_setuid_binary(rt: Any, cid: str, make_bundle: MakeBundle, suidprobe: Path,
                                                 record_property: Observe) -> None:
    """noNewPrivileges: uid 1000 runs a setuid-root binary and reads a root-only file"""
    out = run_ok(rt, _suid_bundle(make_bundle, suidprobe, True, "suid-on"), cid)
    assert out.strip() == "ruid=1000 euid=1000 open_root_only=-13", out
    record_property("observed", "euid stays 1000, the root-only file EACCES")


def test_exec_no_new_privileges_stops_a_setuid_binary(rt: Any, cid: str, make_bundle: MakeBundle,
                                                      suidprobe: Path, record_property: Observe) -> None:
    """exec --no-new-privs --user 1000: the setuid-root binary"""
    b = _suid_bundle(make_bundle, suidprobe, False, "suid-exec")
    cfg = json.loads((b / "config.json").read_text())
    cfg["process"]["args"] = ["sleep", "30"]
    (b / "config.json").write_text(json.dumps(cfg))
    start_detached(rt, b, cid)
    p = rt("exec", "--no-new-privs", "--user", "1000:1000", cid, "/bin/suidprobe")
    assert p.returncode == 0, describe(p)
    assert p.stdout.strip() == "ruid=1000 euid=1000 open_root_only=-13", p.stdout
    record_property("observed", "euid stays 1000 in the exec'd process")


def test_container_cannot_lower_its_oom_score_adj(rt: Any, cid: str, make_bundle: MakeBundle,
                                                  record_property: Observe) -> None:
    """oomScoreAdj 500: the container (root) tries to make itself OOM-proof (-1000) or go below the host's level (-1)"""
    def mutate(c: dict[str, Any]) -> None:
        c["process"]["oomScoreAdj"] = 500

    script = ("cat /proc/self/oom_score_adj; for v in -1000 -1; do echo $v > /proc/self/oom_score_adj "
              "2>/dev/null && echo $v=set || echo $v=refused; done; cat /proc/self/oom_score_adj")
    out = run_ok(rt, make_bundle(["sh", "-c", script], mutate=mutate), cid)
    assert out.split() == ["500", "-1000=refused", "-1=refused", "500"], out
    record_property("observed", "500 kept; -1000 and -1 refused (no CAP_SYS_RESOURCE: not below the "
                                "level the runtime inherited)")


def attack(rt: Any, cid: str, bundle: Path, attacks: dict[str, str]) -> dict[str, tuple[int, str]]:
    """Run each shell command in the container: {name: (exit status, output)}."""
    script = "; ".join(f'out=$( {{ {cmd}; }} 2>&1 ); echo "{k}=$?:$out"' for k, cmd in attacks.items())
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["args"] = ["sh", "-c", script]
    (bundle / "config.json").write_text(json.dumps(cfg))
    out = run_ok(rt, bundle, cid)
    got = {}
    for line in out.splitlines():
        k, _, rest = line.partition("=")
        rc, _, text = rest.partition(":")
        got[k] = (int(rc), text)
    assert set(got) == set(attacks), out
    return got


def _existing(*paths: str) -> list[str]:
    return [p for p in paths if os.path.exists(p)]


def test_masked_paths_stay_masked(rt: Any, cid: str, make_bundle: MakeBundle, record_property: Observe) -> None:
    """masked paths: read them (directly, via /proc/1/root), list and write masked dirs, umount the masks, mount a fresh procfs"""
    files = _existing("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug")
    dirs = _existing("/proc/acpi", "/sys/firmware", "/proc/scsi")
    assert [f for f in files if Path(f).read_bytes()[:16]], "nothing masked has content on this host"
    attacks = {}
    for f in files:
        attacks[f"read:{f}"] = f"test $(head -c 16 {f} | wc -c) = 0"
        attacks[f"read-via-proc-1-root:{f}"] = f"test $(head -c 16 /proc/1/root{f} | wc -c) = 0"
        attacks[f"umount:{f}"] = f"! umount {f}"
    for d in dirs:
        attacks[f"list:{d}"] = f"test $(ls -A {d} | wc -l) = 0"
        attacks[f"write:{d}"] = f"! touch {d}/x"
        attacks[f"umount:{d}"] = f"! umount {d}"
    attacks["mount-fresh-procfs"] = "mkdir -p /dev/shm/p && ! mount -t proc proc /dev/shm/p"
    got = attack(rt, cid, make_bundle(["true"]), attacks)
    held = {k: v for k, v in got.items() if v[0] != 0}
    assert not held, f"attacks that got through: {held}"
    record_property("observed", f"{len(files)} masked files read 0 bytes (also via /proc/1/root), "
                                f"{len(dirs)} masked dirs empty and read-only; umount/mount: refused")


RO_ATTACKS = {
    "write-sysctl": ("echo x > /proc/sys/kernel/hostname", "Read-only file system"),
    "write-sysrq-trigger": ("echo h > /proc/sysrq-trigger", "Read-only file system"),
    "write-proc-irq": ("echo 1 > /proc/irq/default_smp_affinity", "Read-only file system"),
    "write-readonly-root": ("touch /pwned", "Read-only file system"),
    "write-sys": ("echo 1 > /sys/kernel/mm/ksm/run", "Read-only file system"),
    "remount-proc-sys-rw": ("mount -o remount,rw /proc/sys", ""),
    "umount-proc-sys": ("umount /proc/sys", ""),
    "bind-over-proc-sys": ("mount --bind /tmp /proc/sys", ""),
    "remount-root-rw": ("mount -o remount,rw /", ""),
}


def test_read_only_paths_stay_read_only(rt: Any, cid: str, make_bundle: MakeBundle,
                                        record_property: Observe) -> None:
    """read-only paths and root: write /proc/sys, /proc/sysrq-trigger, /proc/irq, /, /sys; remount rw, umount, bind over them"""
    attacks = {k: cmd for k, (cmd, _) in RO_ATTACKS.items()
               if not k.startswith("write-sysrq") or os.path.exists("/proc/sysrq-trigger")}
    got = attack(rt, cid, make_bundle(["true"]), attacks)
    for k, (rc, text) in got.items():
        assert rc != 0, f"{k} got through: {text}"
        assert RO_ATTACKS[k][1] in text, f"{k}: {text}"
    record_property("observed", "writes: EROFS; remount/umount/bind: refused (no CAP_SYS_ADMIN)")
