"""config `mounts` (runtime-spec config.md "Mounts"; config-linux.md
"rootfsPropagation", "maskedPaths", "readonlyPaths"): every entry in order,
bind mounts of files and directories, filesystem types and mount(8)
options, the recursive options (mount_setattr), propagation flags,
tmpcopyup, the flags a bind keeps from its source, root.readonly.

Checked from inside the container (/proc/self/mountinfo, stat, writes).
RUNTIME=/usr/sbin/runc runs the same tests against runc.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.isolation import describe, run_ok
from tests.support.runc import is_runc

MakeBundle = Callable[..., Path]


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


class MI:
    """One /proc/self/mountinfo line: options and optional fields kept."""

    def __init__(self, line: str) -> None:
        pre, _, post = line.partition(" - ")
        f = pre.split()
        self.point = f[4].replace("\\040", " ")
        self.options = set(f[5].split(","))
        self.optional = f[6:]
        p = post.split()
        self.fstype = p[0]
        self.super = set(p[2].split(",")) if len(p) > 2 else set()


def mountinfo(text: str) -> dict[str, MI]:
    """{mount point: the last (visible) mount there}, from mountinfo lines in text."""
    out: dict[str, MI] = {}
    for line in text.splitlines():
        if " - " in line and len(line.split()) > 6:
            m = MI(line)
            out[m.point] = m
    return out


def add_mount(cfg: dict[str, Any], dest: str, typ: str, source: str, options: list[str]) -> None:
    cfg["mounts"].append({"destination": dest, "type": typ, "source": source, "options": options})


@pytest.fixture
def host_dir(tmp_path: Path) -> Path:
    d = tmp_path / "hostdir"
    d.mkdir()
    (d / "from-host").write_text("hello from host\n")
    return d


@pytest.fixture
def host_tree(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """host_tree(options) → a host directory with a tmpfs mounted (with
    options) at its sub/; unmounted at teardown."""
    made: list[Path] = []

    def make(options: str) -> Path:
        d = tmp_path / f"tree-{len(made)}"
        (d / "sub").mkdir(parents=True)
        (d / "top").write_text("top\n")
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "pyrt-test", str(d / "sub")], check=True)
        made.append(d / "sub")
        return d

    yield make
    for m in made:
        subprocess.run(["umount", "-l", str(m)], check=False)


# ---------------------------------------------------------------- order, types, binds

def test_mounts_in_order_and_nested(rt: Any, cid: str, make_bundle: MakeBundle, host_dir: Path) -> None:
    def mutate(c: dict[str, Any]) -> None:
        add_mount(c, "/outer", "tmpfs", "tmpfs", ["mode=755"])
        add_mount(c, "/outer/inner", "bind", str(host_dir), ["rbind", "ro"])
        add_mount(c, "/outer/inner/sub", "tmpfs", "tmpfs", ["size=1m"])  # on a read-only bind: made in order

    host_dir.joinpath("sub").mkdir()
    out = run_ok(rt, make_bundle(sh("cat /outer/inner/from-host; cat /proc/self/mountinfo"), mutate=mutate), cid)
    assert out.startswith("hello from host\n"), out
    lines = [MI(ln) for ln in out.splitlines()[1:] if " - " in ln]
    points = [m.point for m in lines]
    i = points.index("/outer")
    assert points[i:i + 3] == ["/outer", "/outer/inner", "/outer/inner/sub"], points
    assert lines[i].fstype == "tmpfs" and lines[i + 2].fstype == "tmpfs"
    assert "ro" in lines[i + 1].options


def test_bind_file_and_directory(rt: Any, cid: str, make_bundle: MakeBundle, host_dir: Path,
                                 tmp_path: Path) -> None:
    f = tmp_path / "hostfile"
    f.write_text("file content\n")

    def mutate(c: dict[str, Any]) -> None:
        add_mount(c, "/etc/hostfile-in", "bind", str(f), ["bind", "rw"])
        add_mount(c, "/data", "none", str(host_dir), ["rbind"])  # type none + bind option

    out = run_ok(rt, make_bundle(sh("cat /etc/hostfile-in; [ -f /etc/hostfile-in ] && echo is-file; "
                                    "echo more >> /etc/hostfile-in; cat /data/from-host; "
                                    "echo c > /data/from-container"), mutate=mutate), cid)
    assert out == "file content\nis-file\nhello from host\n", out
    assert f.read_text() == "file content\nmore\n"
    assert (host_dir / "from-container").read_text() == "c\n"


def test_relative_destination(rt: Any, cid: str, make_bundle: MakeBundle, host_dir: Path) -> None:
    def mutate(c: dict[str, Any]) -> None:
        add_mount(c, "rel/data", "bind", str(host_dir), ["rbind"])

    out = run_ok(rt, make_bundle(["cat", "/rel/data/from-host"], mutate=mutate), cid)
    assert out == "hello from host\n"


def test_relative_bind_source_is_relative_to_bundle(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    def mutate(c: dict[str, Any]) -> None:
        add_mount(c, "/data", "bind", "bundle-data", ["rbind"])

    b = make_bundle(["cat", "/data/x"], mutate=mutate)
    (b / "bundle-data").mkdir()
    (b / "bundle-data" / "x").write_text("from the bundle\n")
    assert run_ok(rt, b, cid) == "from the bundle\n"


def test_mount_over_a_symlink_destination(rt: Any, cid: str, make_bundle: MakeBundle, host_dir: Path) -> None:
    def mutate(c: dict[str, Any]) -> None:
        add_mount(c, "/link", "bind", str(host_dir), ["rbind"])

    b = make_bundle(sh("readlink /link; cat /real/from-host; grep -c ' /real ' /proc/self/mountinfo"),
                    mutate=mutate)
    (b / "rootfs" / "real").mkdir()
    (b / "rootfs" / "link").symlink_to("/real")
    out = run_ok(rt, b, cid)
    assert out == "/real\nhello from host\n1\n", out


def test_tmpfs_options(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    def mutate(c: dict[str, Any]) -> None:
        add_mount(c, "/scratch", "tmpfs", "tmpfs",
                  ["nosuid", "nodev", "noexec", "noatime", "mode=1770", "size=1m", "uid=12", "gid=34"])

    out = run_ok(rt, make_bundle(sh("stat -c '%a %u %g' /scratch; cat /proc/self/mountinfo"),
                                 mutate=mutate), cid)
    first, _, rest = out.partition("\n")
    assert first == "1770 12 34", out
    m = mountinfo(rest)["/scratch"]
    assert m.fstype == "tmpfs"
    assert {"rw", "nosuid", "nodev", "noexec", "noatime"} <= m.options, m.options
    assert "size=1024k" in m.super, m.super


def test_readonly_tmpfs_and_readonly_dev(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    # a read-only /dev still gets its nodes, symlinks and the mount points of the later mounts
    def mutate(c: dict[str, Any]) -> None:
        for m in c["mounts"]:
            if m["destination"] == "/dev":
                m["options"].append("ro")
        add_mount(c, "/ro-tmp", "tmpfs", "tmpfs", ["ro"])

    script = ("echo x > /dev/null && echo null-ok; readlink /dev/fd; "
              "{ touch /dev/x || echo dev-ro; touch /ro-tmp/x || echo tmp-ro; } 2>/dev/null; "
              "grep -E ' /dev | /ro-tmp ' /proc/self/mountinfo")
    out = run_ok(rt, make_bundle(sh(script), mutate=mutate), cid)
    lines = out.splitlines()
    assert lines[:4] == ["null-ok", "/proc/self/fd", "dev-ro", "tmp-ro"], out
    mi = mountinfo("\n".join(lines[4:]))
    assert "ro" in mi["/dev"].options and "ro" in mi["/ro-tmp"].options, out


# ---------------------------------------------------------------- recursive options

RO_TOUCH = "{ touch /data/new && echo top-rw || echo top-ro; touch /data/sub/new && echo sub-rw || echo sub-ro; } 2>/dev/null; "


def test_rro_makes_submounts_readonly(rt: Any, cid: str, make_bundle: MakeBundle,
                                      host_tree: Callable[[str], Path]) -> None:
    d = host_tree("size=1m")

    def mutate(c: dict[str, Any]) -> None:
        add_mount(c, "/data", "bind", str(d), ["rbind", "rro"])

    out = run_ok(rt, make_bundle(sh(RO_TOUCH + "cat /proc/self/mountinfo"), mutate=mutate), cid)
    assert out.splitlines()[:2] == ["top-ro", "sub-ro"], out
    mi = mountinfo(out)
    assert "ro" in mi["/data"].options and "ro" in mi["/data/sub"].options, out
    assert not (d / "sub" / "new").exists()


def test_plain_ro_leaves_submounts_writable(rt: Any, cid: str, make_bundle: MakeBundle,
                                            host_tree: Callable[[str], Path]) -> None:
    d = host_tree("size=1m")

    def mutate(c: dict[str, Any]) -> None:
        add_mount(c, "/data", "bind", str(d), ["rbind", "ro"])

    out = run_ok(rt, make_bundle(sh(RO_TOUCH), mutate=mutate), cid)
    assert out.splitlines() == ["top-ro", "sub-rw"], out


# option, host options of the submount, the per-mount option the submount must (not) show
RECURSIVE_CASES = [
    ("rnosuid", "size=1m", "nosuid", True),
    ("rsuid", "nosuid", "nosuid", False),
    ("rnodev", "size=1m", "nodev", True),
    ("rdev", "nodev", "nodev", False),
    ("rnoexec", "size=1m", "noexec", True),
    ("rexec", "noexec", "noexec", False),
    ("rnodiratime", "size=1m", "nodiratime", True),
    ("rdiratime", "nodiratime", "nodiratime", False),
    ("rnoatime", "relatime", "noatime", True),
    ("ratime", "noatime", "noatime", False),
    ("rrelatime", "noatime", "relatime", True),
    ("rnorelatime", "relatime", "relatime", False),
    ("rstrictatime", "relatime", "relatime", False),
    ("rnostrictatime", "strictatime", "relatime", True),
    ("rnosymfollow", "size=1m", "nosymfollow", True),
    ("rsymfollow", "nosymfollow", "nosymfollow", False),
    ("rrw", "ro", "ro", False),
]


@pytest.mark.parametrize(("opt", "host_opts", "flag", "present"), RECURSIVE_CASES,
                         ids=[c[0] for c in RECURSIVE_CASES])
def test_recursive_option(rt: Any, cid: str, make_bundle: MakeBundle, host_tree: Callable[[str], Path],
                          opt: str, host_opts: str, flag: str, present: bool) -> None:
    d = host_tree(host_opts)

    def mutate(c: dict[str, Any]) -> None:
        add_mount(c, "/data", "bind", str(d), ["rbind", opt])

    b = make_bundle(["cat", "/proc/self/mountinfo"], mutate=mutate)
    if is_runc(rt) and opt in ("ratime", "rnostrictatime"):
        p = rt("run", "--bundle", str(b), cid, timeout=30)
        assert p.returncode != 0 and "invalid argument" in p.stderr, describe(p)
        pytest.xfail(f"runc 1.1.5 fails {opt}: it puts only MOUNT_ATTR_{'NOATIME' if opt == 'ratime' else 'STRICTATIME'} "
                     "in mount_setattr's attr_clr, and the kernel refuses (EINVAL) an atime clear that is not "
                     "the whole MOUNT_ATTR__ATIME mask")
    out = run_ok(rt, b, cid)
    if is_runc(rt) and opt == "rnorelatime":
        assert "relatime" in mountinfo(out)["/data/sub"].options, out
        pytest.xfail("runc 1.1.5 ignores rnorelatime: it clears MOUNT_ATTR_RELATIME, which is 0 (relatime is "
                     "the absence of the other atime modes), so mount_setattr changes nothing")
    mi = mountinfo(out)
    for point in ("/data", "/data/sub"):
        assert (flag in mi[point].options) == present, f"{opt}: {point} {sorted(mi[point].options)}"


def test_recursive_option_on_tmpfs(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    # the recursive options apply to any filesystem, not only binds
    def mutate(c: dict[str, Any]) -> None:
        add_mount(c, "/t", "tmpfs", "tmpfs", ["rnoexec", "rnosuid"])

    out = run_ok(rt, make_bundle(["cat", "/proc/self/mountinfo"], mutate=mutate), cid)
    if is_runc(rt):
        assert not {"noexec", "nosuid"} & mountinfo(out)["/t"].options, out
        pytest.xfail("runc 1.1.5 applies the recursive options (mount_setattr) to bind mounts only: the "
                     "tmpfs gets neither noexec nor nosuid (runtime-spec config.md: they apply to any mount)")
    assert {"noexec", "nosuid"} <= mountinfo(out)["/t"].options, out


def test_idmap_is_refused_by_name(rt: Any, cid: str, make_bundle: MakeBundle, host_dir: Path) -> None:
    # idmapped mounts (spec 1.2 idmap/ridmap) are not implemented: refused, never ignored
    def mutate(c: dict[str, Any]) -> None:
        add_mount(c, "/data", "bind", str(host_dir), ["rbind", "idmap"])

    p = rt("run", "--bundle", str(make_bundle(["true"], mutate=mutate)), cid)
    if is_runc(rt):
        assert p.returncode == 0, describe(p)
        pytest.xfail("runc 1.1.5 ignores idmap silently: it does not know the option, passes it as mount(2) "
                     "data, and the kernel ignores data on MS_BIND (the mount is not idmapped)")
    assert p.returncode != 0, describe(p)
    if rt.name == "pyruntime":
        assert "'idmap' is not supported" in p.stderr, describe(p)


# ---------------------------------------------------------------- propagation

@pytest.fixture
def shared_host_dir(host_dir: Path) -> Iterator[Path]:
    """host_dir made a shared mount point of its own on the host (so that a
    slave of it has a master)."""
    subprocess.run(["mount", "--bind", str(host_dir), str(host_dir)], check=True)
    subprocess.run(["mount", "--make-shared", str(host_dir)], check=True)
    yield host_dir
    subprocess.run(["umount", "-l", str(host_dir)], check=False)


@pytest.mark.parametrize(("opt", "want"), [("rshared", "shared:"), ("rslave", "master:"),
                                           ("rprivate", None), ("runbindable", "unbindable")])
def test_propagation_flags(rt: Any, cid: str, make_bundle: MakeBundle, shared_host_dir: Path,
                           opt: str, want: str | None) -> None:
    def mutate(c: dict[str, Any]) -> None:
        add_mount(c, "/data", "bind", str(shared_host_dir), ["rbind", opt])

    out = run_ok(rt, make_bundle(["cat", "/proc/self/mountinfo"], mutate=mutate), cid)
    optional = mountinfo(out)["/data"].optional
    if want is None:
        assert optional == [], out
    else:
        assert any(o.startswith(want) for o in optional), out


# the schema's values (runc also takes rshared, rprivate, rslave, runbindable)
@pytest.mark.parametrize(("prop", "want"), [("shared", "shared:"), ("private", None), ("slave", None),
                                            ("unbindable", "unbindable")])
def test_rootfs_propagation(rt: Any, cid: str, make_bundle: MakeBundle, prop: str, want: str | None) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["rootfsPropagation"] = prop

    b = make_bundle(["cat", "/proc/self/mountinfo"], mutate=mutate)
    if is_runc(rt) and prop == "unbindable":
        p = rt("run", "--bundle", str(b), cid, timeout=30)
        assert p.returncode != 0 and "flags: 0x5000: invalid argument" in p.stderr, describe(p)
        pytest.xfail("runc 1.1.5 fails rootfsPropagation unbindable: it makes / unbindable before it binds "
                     "the rootfs onto itself (MS_BIND|MS_REC), and the kernel refuses a bind from an "
                     "unbindable mount (EINVAL)")
    out = run_ok(rt, b, cid)
    optional = mountinfo(out)["/"].optional
    if is_runc(rt) and prop == "shared":
        assert not any(o.startswith("shared:") for o in optional), out
        pytest.xfail("runc 1.1.5 does not make the root shared: it sets / shared, then makes the rootfs's "
                     "parent mount private again (pivot_root refuses a shared parent) and never applies "
                     "rootfsPropagation after pivot_root")
    if want is None:
        assert not any(o.startswith(("shared:", "master:")) for o in optional), out
    else:
        assert any(o.startswith(want) for o in optional), out


def test_rshared_rootfs_does_not_leak_mounts_to_the_host(rt: Any, cid: str, make_bundle: MakeBundle,
                                                          host_dir: Path) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["rootfsPropagation"] = "shared"
        add_mount(c, "/data", "bind", str(host_dir), ["rbind", "rshared"])

    b = make_bundle(sh("mount -t tmpfs leak /data/from-host 2>/dev/null; mount -t tmpfs leak2 /mnt; "
                       "touch /data/ready; i=0; while [ ! -e /data/go ] && [ $i -lt 100 ]; "
                       "do sleep 0.1; i=$((i+1)); done"), mutate=mutate)
    (b / "rootfs" / "mnt").mkdir(exist_ok=True)
    cfg_path = b / "config.json"
    cfg = json.loads(cfg_path.read_text())
    for k in ("bounding", "effective", "permitted"):
        cfg["process"]["capabilities"][k].append("CAP_SYS_ADMIN")
    cfg_path.write_text(json.dumps(cfg))
    proc = subprocess.Popen(rt.cmd("run", "--bundle", str(b), cid), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if (host_dir / "ready").exists():
                break
            time.sleep(0.1)
        assert (host_dir / "ready").exists()
        host = Path("/proc/self/mountinfo").read_text()
        assert str(b / "rootfs") not in host, "the container's mounts reached the host"
        assert " leak " not in host and " leak2 " not in host
    finally:
        (host_dir / "go").write_text("")
        proc.wait(timeout=30)


# ---------------------------------------------------------------- the flags of a bind's source

def test_bind_keeps_source_nosuid_nodev_noexec(rt: Any, cid: str, make_bundle: MakeBundle,
                                               host_tree: Callable[[str], Path]) -> None:
    d = host_tree("nosuid,nodev,noexec")

    def mutate(c: dict[str, Any]) -> None:
        add_mount(c, "/data", "bind", str(d / "sub"), ["bind", "ro"])

    out = run_ok(rt, make_bundle(["cat", "/proc/self/mountinfo"], mutate=mutate), cid)
    if is_runc(rt):
        assert mountinfo(out)["/data"].options & {"nosuid", "nodev", "noexec"} == set(), out
        pytest.xfail("runc 1.1.5 drops the source's nosuid/nodev/noexec: its remount for ro passes only the "
                     "configured flags (MS_BIND|MS_REMOUNT|MS_RDONLY), and for a root caller outside a user "
                     "namespace the kernel clears the per-mount flags not given")
    assert {"ro", "nosuid", "nodev", "noexec"} <= mountinfo(out)["/data"].options, out


def test_bind_keeps_source_readonly(rt: Any, cid: str, make_bundle: MakeBundle,
                                    host_tree: Callable[[str], Path]) -> None:
    d = host_tree("ro")

    def mutate(c: dict[str, Any]) -> None:
        add_mount(c, "/data", "bind", str(d / "sub"), ["bind", "nosuid"])

    out = run_ok(rt, make_bundle(sh("touch /data/x 2>/dev/null && echo rw || echo ro; "
                                    "cat /proc/self/mountinfo"), mutate=mutate), cid)
    assert out.startswith("ro\n"), out
    if is_runc(rt):
        m = mountinfo(out)["/data"]
        assert "rw" in m.options and "ro" in m.super, out
        pytest.xfail("runc 1.1.5 drops the source's per-mount read-only flag: its remount for nosuid passes "
                     "MS_BIND|MS_REMOUNT|MS_NOSUID without MS_RDONLY (writes still fail only because the "
                     "tmpfs superblock itself is ro)")
    assert {"ro", "nosuid"} <= mountinfo(out)["/data"].options, out


def test_bind_rw_option_clears_source_readonly(rt: Any, cid: str, make_bundle: MakeBundle,
                                               host_tree: Callable[[str], Path]) -> None:
    d = host_tree("ro,nosuid")

    def mutate(c: dict[str, Any]) -> None:
        add_mount(c, "/data", "bind", str(d / "sub"), ["bind", "rw", "nodev"])

    out = run_ok(rt, make_bundle(["cat", "/proc/self/mountinfo"], mutate=mutate), cid)
    opts = mountinfo(out)["/data"].options
    assert "rw" in opts and "nodev" in opts, out


# ---------------------------------------------------------------- tmpcopyup

def test_tmpcopyup(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["root"]["readonly"] = True
        add_mount(c, "/etc", "tmpfs", "tmpfs", ["tmpcopyup", "nosuid", "size=1m"])

    b = make_bundle(sh("cat /etc/passwd | head -1; readlink /etc/sub/link; cat /etc/sub/data; "
                       "stat -c '%a' /etc/sub; stat -c '%a %u' /etc/sub/data; echo new > /etc/passwd && "
                       "echo writable; stat -f -c %T /etc"), mutate=mutate)
    etc = b / "rootfs" / "etc"
    (etc / "sub").mkdir()
    (etc / "sub" / "data").write_text("nested\n")
    os.chmod(etc / "sub", 0o750)
    os.chmod(etc / "sub" / "data", 0o604)
    os.chown(etc / "sub" / "data", 7, 7)
    (etc / "sub" / "link").symlink_to("../passwd")
    out = run_ok(rt, b, cid)
    assert out.splitlines() == ["root:x:0:0:root:/root:/bin/sh", "../passwd", "nested", "750", "604 7",
                                "writable", "tmpfs"], out
    assert (etc / "passwd").read_text().startswith("root:"), "the write reached the rootfs"


def test_tmpfs_without_tmpcopyup_is_empty(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    def mutate(c: dict[str, Any]) -> None:
        add_mount(c, "/etc", "tmpfs", "tmpfs", ["nosuid"])

    out = run_ok(rt, make_bundle(sh("ls -A /etc | wc -l"), mutate=mutate), cid)
    assert out.strip() == "0", out


# ---------------------------------------------------------------- masked, read-only, root

def test_masked_and_readonly_paths_custom(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["root"]["readonly"] = False
        c["linux"]["maskedPaths"] = ["/secret-file", "/secret-dir", "/does-not-exist"]
        c["linux"]["readonlyPaths"] = ["/ro-dir", "/also-missing"]

    b = make_bundle(sh("wc -c < /secret-file; ls -A /secret-dir | wc -l; "
                       "{ touch /secret-dir/x || echo masked-ro; touch /ro-dir/x || echo ro-dir-ro; "
                       "cat /ro-dir/kept; touch /elsewhere && echo root-rw; } 2>/dev/null"), mutate=mutate)
    r = b / "rootfs"
    (r / "secret-file").write_text("top secret\n")
    (r / "secret-dir").mkdir()
    (r / "secret-dir" / "key").write_text("k")
    (r / "ro-dir").mkdir()
    (r / "ro-dir" / "kept").write_text("kept\n")
    out = run_ok(rt, b, cid)
    assert [x.strip() for x in out.splitlines()] == ["0", "0", "masked-ro", "ro-dir-ro", "kept", "root-rw"], out


def test_readonly_root_keeps_rw_binds(rt: Any, cid: str, make_bundle: MakeBundle, host_dir: Path) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["root"]["readonly"] = True
        add_mount(c, "/data", "bind", str(host_dir), ["rbind", "rw"])

    out = run_ok(rt, make_bundle(sh("{ touch /x || echo root-ro; touch /data/x && echo data-rw; } 2>/dev/null"),
                                 mutate=mutate), cid)
    assert out.splitlines() == ["root-ro", "data-rw"], out

