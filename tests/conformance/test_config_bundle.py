"""config.md: specification version, root, mounts (and the Linux mount
options), annotations, extensibility and valid values. Effects are read from
inside the container (/proc/self/mountinfo, files) and from the runtime's
exit status; refused configs must leave nothing behind."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.util import known_gap
from tests.conftest import Runtime
from tests.integration.probes import edit_config
from tests.integration.test_namespaces import HOST_ID, ID_SIZE, _chown_tree, userns_dir  # noqa: F401
from tests.support.bundle import base_config, write_bundle
from tests.support.config_fields import create_refused
from tests.support.isolation import describe, last_mount_at, parse_mountinfo, run_ok

MakeBundle = Callable[..., Path]


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def add_mount(cfg: dict[str, Any], dest: str, typ: str, source: str, options: list[str],
              **extra: Any) -> None:
    cfg["mounts"].append({"destination": dest, "type": typ, "source": source, "options": options, **extra})


def mountinfo_of(out: str) -> str:
    return out.split("--mountinfo--\n", 1)[1]


# ---------------------------------------------------------------- specification version

@pytest.mark.spec("config-version-1")
@pytest.mark.parametrize("version", ["one.two", "1.2", "1.2.x", "1.2.0.1", "1.02.0", "1.2.0-", "1.2.0 "])
def test_oci_version_not_semver_is_refused(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                           version: str) -> None:
    """Not SemVer 2.0.0: words, too few or too many numbers, a leading zero,
    an empty pre-release, trailing blank (all but the first begin with "1.",
    so a runtime that checks only the major version passes none of them)."""
    def bad(cfg: dict[str, Any]) -> None:
        cfg["ociVersion"] = version

    msg = create_refused(rt, make_bundle(["true"], mutate=bad), cid)
    assert "ociVersion" in msg, msg


@pytest.mark.spec("config-version-1")
def test_oci_version_semver_with_prerelease_and_build_is_taken(rt: Runtime, cid: str,
                                                               make_bundle: MakeBundle) -> None:
    """The other side: a SemVer with pre-release and build metadata is valid."""
    def ok(cfg: dict[str, Any]) -> None:
        cfg["ociVersion"] = "1.1.0-rc.1+build.5"

    assert run_ok(rt, make_bundle(sh("echo ran"), mutate=ok), cid).strip() == "ran"


# ---------------------------------------------------------------- root

@pytest.mark.spec("config-root-3")
def test_root_required(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    bundle = make_bundle(["true"])
    edit_config(bundle, lambda cfg: cfg.pop("root"))
    create_refused(rt, bundle, cid)


@pytest.mark.spec("config-root-path-3")
@pytest.mark.parametrize("what", ["missing", "file"])
def test_root_path_must_be_a_directory(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                       tmp_path: Path, what: str) -> None:
    target = tmp_path / "not-a-rootfs"
    if what == "file":
        target.write_text("x")

    bundle = make_bundle(["true"])  # (make_bundle would create the rootfs at the path)
    edit_config(bundle, lambda cfg: cfg["root"].__setitem__("path", str(target)))
    create_refused(rt, bundle, cid)


@pytest.mark.spec("config-root-readonly-1")
@pytest.mark.parametrize("readonly", [True, False, None])
def test_root_readonly(rt: Runtime, cid: str, make_bundle: MakeBundle, readonly: bool | None) -> None:
    def set_ro(cfg: dict[str, Any]) -> None:
        if readonly is None:
            cfg["root"].pop("readonly", None)
        else:
            cfg["root"]["readonly"] = readonly

    out = run_ok(rt, make_bundle(sh("touch /probe-rw 2>/dev/null && echo WRITABLE || echo READONLY; "
                                     "echo --mountinfo--; cat /proc/self/mountinfo"), mutate=set_ro), cid)
    root = last_mount_at(parse_mountinfo(mountinfo_of(out)), "/")
    assert root is not None
    if readonly:
        assert out.startswith("READONLY"), out
        assert "ro" in root.options
    else:  # false, and the default
        assert out.startswith("WRITABLE"), out
        assert "rw" in root.options


# ---------------------------------------------------------------- mounts

@pytest.mark.spec("config-mounts-1")
def test_mounts_in_listed_order(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    def mounts(cfg: dict[str, Any]) -> None:
        # nested: /m then /m/inner (reversed, /m would hide /m/inner)
        add_mount(cfg, "/m", "tmpfs", "tmpfs", ["size=1m"])
        add_mount(cfg, "/m/inner", "tmpfs", "tmpfs", ["size=2m"])
        # stacked: the last one listed is the one seen
        add_mount(cfg, "/s", "tmpfs", "first", ["size=1m"])
        add_mount(cfg, "/s", "tmpfs", "second", ["size=3m"])

    out = run_ok(rt, make_bundle(sh("echo --mountinfo--; cat /proc/self/mountinfo"), mutate=mounts), cid)
    ms = parse_mountinfo(mountinfo_of(out))
    points = [m.mount_point for m in ms]
    assert "/m/inner" in points and "/m" in points
    assert points.index("/m") < points.index("/m/inner")
    stacked = [m.source for m in ms if m.mount_point == "/s"]
    assert stacked == ["first", "second"], stacked
    inner = last_mount_at(ms, "/m/inner")
    assert inner is not None and inner.fstype == "tmpfs"


@pytest.mark.spec("config-mounts-dest-2")
def test_relative_destination_is_relative_to_root(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    def mounts(cfg: dict[str, Any]) -> None:
        cfg["process"]["cwd"] = "/tmp"  # a relative destination is not relative to cwd
        add_mount(cfg, "reldest/x", "tmpfs", "reltmpfs", ["size=1m"])

    out = run_ok(rt, make_bundle(sh("echo --mountinfo--; cat /proc/self/mountinfo"), mutate=mounts), cid)
    m = last_mount_at(parse_mountinfo(mountinfo_of(out)), "/reldest/x")
    assert m is not None and m.source == "reltmpfs", out


@pytest.mark.spec("config-mounts-linux-options-1")
def test_must_mount_options(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    def mounts(cfg: dict[str, Any]) -> None:
        add_mount(cfg, "/a", "tmpfs", "tmpfs", ["ro", "nosuid", "nodev", "noexec", "noatime"])
        add_mount(cfg, "/b", "tmpfs", "tmpfs", ["rw", "suid", "dev", "exec", "strictatime", "sync",
                                                "dirsync", "nodiratime", "lazytime", "iversion", "silent"])
        add_mount(cfg, "/c", "tmpfs", "tmpfs", ["ro", "relatime", "async", "nosuid", "loud"])
        add_mount(cfg, "/d", "tmpfs", "tmpfs", ["atime", "diratime", "norelatime", "nostrictatime",
                                                "nolazytime", "noiversion", "nodev"])

    script = ("touch /a/f 2>/dev/null && echo A-WRITABLE; "
              "echo --mountinfo--; cat /proc/self/mountinfo")
    out = run_ok(rt, make_bundle(sh(script), mutate=mounts), cid)
    assert "A-WRITABLE" not in out
    ms = parse_mountinfo(mountinfo_of(out))
    a, b, c, d = (last_mount_at(ms, p) for p in ("/a", "/b", "/c", "/d"))
    assert a and b and c and d
    assert {"ro", "nosuid", "nodev", "noexec", "noatime"} <= a.options, a
    assert "rw" in b.options and not {"nosuid", "nodev", "noexec", "noatime", "relatime"} & b.options, b
    assert "nodiratime" in b.options, b
    assert {"sync", "dirsync", "lazytime"} <= b.super_options, b
    assert {"ro", "nosuid", "relatime"} <= c.options, c
    # norelatime clears relatime, after which the kernel's default is relatime again
    assert "nodev" in d.options and not {"noatime", "nodiratime"} & d.options, d
    assert "lazytime" not in d.super_options, d


@pytest.mark.spec("config-mounts-linux-options-1")
def test_defaults_mount_option(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    """`defaults` is a mount(8) flag option (a no-op there), never filesystem data."""
    def mounts(cfg: dict[str, Any]) -> None:
        add_mount(cfg, "/def", "tmpfs", "tmpfs", ["nosuid", "noexec", "defaults", "size=1m"])

    out = run_ok(rt, make_bundle(sh("cat /proc/self/mountinfo"), mutate=mounts), cid)
    m = last_mount_at(parse_mountinfo(out), "/def")
    assert m is not None and {"nosuid", "noexec"} <= m.options, out


@pytest.mark.spec("config-mounts-linux-options-1")
def test_remount_option(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    """`remount` (MS_REMOUNT) changes the mount already at the destination
    (here: read-only, a new size) instead of stacking a second one on it."""
    def mounts(cfg: dict[str, Any]) -> None:
        add_mount(cfg, "/rm", "tmpfs", "rmtmpfs", ["size=1m"])
        add_mount(cfg, "/rm", "tmpfs", "rmtmpfs", ["remount", "ro", "size=2m"])

    out = run_ok(rt, make_bundle(sh("touch /rm/f 2>/dev/null && echo RM-WRITABLE; "
                                    "echo --mountinfo--; cat /proc/self/mountinfo"), mutate=mounts), cid)
    assert "RM-WRITABLE" not in out, out
    at = [m for m in parse_mountinfo(mountinfo_of(out)) if m.mount_point == "/rm"]
    assert len(at) == 1, at
    assert "ro" in at[0].options and "size=2048k" in at[0].super_options, at[0]


@pytest.fixture
def host_tree(tmp_path: Path) -> Iterator[Path]:
    """A host directory with a file and a tmpfs submount (holding a file)."""
    top = tmp_path / "tree"
    (top / "sub").mkdir(parents=True)
    (top / "top.txt").write_text("top\n")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "treesub", str(top / "sub")], check=True)
    (top / "sub" / "sub.txt").write_text("sub\n")
    yield top
    subprocess.run(["umount", "-l", str(top / "sub")], check=False)


@pytest.mark.spec("config-mounts-linux-options-2")
def test_bind_and_rbind(rt: Runtime, cid: str, make_bundle: MakeBundle, host_tree: Path) -> None:
    def mounts(cfg: dict[str, Any]) -> None:
        add_mount(cfg, "/plain", "none", str(host_tree), ["bind"])
        add_mount(cfg, "/recursive", "none", str(host_tree), ["rbind"])

    script = ("cat /plain/top.txt /recursive/top.txt /recursive/sub/sub.txt; "
              "ls /plain/sub | wc -l")
    out = run_ok(rt, make_bundle(sh(script), mutate=mounts), cid)
    assert out.split() == ["top", "top", "sub", "0"], out


@pytest.fixture
def shared_src(tmp_path: Path) -> Iterator[Path]:
    """A host tmpfs that is a shared mount (the master of the container's slave binds)."""
    d = tmp_path / "shared"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "sharedsrc", str(d)], check=True)
    subprocess.run(["mount", "--make-shared", str(d)], check=True)
    yield d
    subprocess.run(["umount", "-l", str(d)], check=False)


@pytest.mark.spec("config-mounts-linux-options-3")
def test_propagation_options(rt: Runtime, cid: str, make_bundle: MakeBundle, shared_src: Path) -> None:
    def mounts(cfg: dict[str, Any]) -> None:
        cfg["linux"]["rootfsPropagation"] = "shared"  # a shared parent, so `shared` can stick
        add_mount(cfg, "/shared", "tmpfs", "tmpfs", ["size=1m", "shared"])
        add_mount(cfg, "/rshared", "tmpfs", "tmpfs", ["size=1m", "rshared"])
        add_mount(cfg, "/private", "tmpfs", "tmpfs", ["size=1m", "private"])
        add_mount(cfg, "/rprivate", "tmpfs", "tmpfs", ["size=1m", "rprivate"])
        add_mount(cfg, "/unbindable", "tmpfs", "tmpfs", ["size=1m", "unbindable"])
        add_mount(cfg, "/runbindable", "tmpfs", "tmpfs", ["size=1m", "runbindable"])
        add_mount(cfg, "/slave", "none", str(shared_src), ["bind", "slave"])
        add_mount(cfg, "/rslave", "none", str(shared_src), ["rbind", "rslave"])

    out = run_ok(rt, make_bundle(sh("cat /proc/self/mountinfo"), mutate=mounts), cid)
    fields: dict[str, list[str]] = {}
    for line in out.splitlines():
        pre = line.split(" - ")[0].split()
        fields[pre[4]] = pre[6:]  # the last mount at each point wins
    assert any(f.startswith("shared:") for f in fields["/shared"]), fields["/shared"]
    assert any(f.startswith("shared:") for f in fields["/rshared"]), fields["/rshared"]
    assert fields["/private"] == [] and fields["/rprivate"] == [], fields
    assert fields["/unbindable"] == ["unbindable"] and fields["/runbindable"] == ["unbindable"], fields
    for p in ("/slave", "/rslave"):
        assert any(f.startswith("master:") for f in fields[p]), (p, fields[p])
        assert not any(f.startswith("shared:") for f in fields[p]), (p, fields[p])


@pytest.mark.spec("config-mounts-linux-options-4")
def test_recursive_mount_attributes(rt: Runtime, cid: str, make_bundle: MakeBundle, host_tree: Path) -> None:
    # the host's submount: read-only, nosuid, nodev, noexec at the mount level (rrw & co. must clear that)
    subprocess.run(["mount", "-o", "remount,bind,ro,nosuid,nodev,noexec", str(host_tree / "sub")], check=True)
    def mounts(cfg: dict[str, Any]) -> None:
        # (the table has no rnodev: the recursive options it lists)
        add_mount(cfg, "/rro", "none", str(host_tree), ["rbind", "rro", "rnosuid", "rnoexec",
                                                        "rnoatime", "rnodiratime", "rnosymfollow"])
        add_mount(cfg, "/rrw", "none", str(host_tree), ["rbind", "rrw", "rsuid", "rdev", "rexec",
                                                        "rstrictatime"])

    script = ("touch /rro/sub/x 2>/dev/null && echo RRO-SUB-WRITABLE; touch /rrw/sub/y && echo RRW-SUB-OK; "
              "echo --mountinfo--; cat /proc/self/mountinfo")
    out = run_ok(rt, make_bundle(sh(script), mutate=mounts), cid)
    assert "RRO-SUB-WRITABLE" not in out and "RRW-SUB-OK" in out, out
    ms = parse_mountinfo(mountinfo_of(out))
    for point in ("/rro", "/rro/sub"):
        m = last_mount_at(ms, point)
        assert m is not None, point
        assert {"ro", "nosuid", "noexec", "noatime", "nodiratime", "nosymfollow"} <= m.options, (point, m.options)
    for point in ("/rrw", "/rrw/sub"):
        m = last_mount_at(ms, point)
        assert m is not None, point
        assert "rw" in m.options, m.options
        assert not {"nosuid", "nodev", "noexec", "noatime", "relatime"} & m.options, m.options


@pytest.mark.spec("config-mounts-linux-options-5")
def test_nosymfollow(rt: Runtime, cid: str, make_bundle: MakeBundle, tmp_path: Path) -> None:
    src = tmp_path / "links"
    src.mkdir()
    (src / "target").write_text("followed\n")
    (src / "link").symlink_to("target")

    def mounts(cfg: dict[str, Any]) -> None:
        add_mount(cfg, "/nosym", "none", str(src), ["bind", "nosymfollow"])
        add_mount(cfg, "/sym", "none", str(src), ["bind", "nosymfollow", "symfollow"])  # the last wins

    script = "cat /nosym/link 2>/dev/null || echo REFUSED; cat /sym/link"
    out = run_ok(rt, make_bundle(sh(script), mutate=mounts), cid)
    assert out.split() == ["REFUSED", "followed"], out


@pytest.mark.spec("config-mounts-linux-options-7")
def test_mount8_userspace_options(request: pytest.FixtureRequest, rt: Runtime, cid: str,
                                  make_bundle: MakeBundle) -> None:
    """mount(8) keeps nofail, noauto, _netdev and x-* options to itself (fstab
    and userspace hints): the mount is made as if they were not there."""
    known_gap(request, rt, "runc 1.1.5 passes them to mount(2) as data", runtime="runc")

    def mounts(cfg: dict[str, Any]) -> None:
        add_mount(cfg, "/m8", "tmpfs", "tmpfs", ["nosuid", "nofail", "noauto", "_netdev",
                                                  "x-example.comment=1", "size=1m"])

    p = rt("run", "--bundle", str(make_bundle(sh("cat /proc/self/mountinfo"), mutate=mounts)), cid)
    assert p.returncode == 0, describe(p)
    m = last_mount_at(parse_mountinfo(p.stdout), "/m8")
    assert m is not None and "nosuid" in m.options, p.stdout
    assert not {"nofail", "noauto", "_netdev"} & m.super_options, m.super_options


@pytest.mark.spec("config-mounts-linux-options-8")
def test_unknown_options_are_filesystem_data(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    def mounts(cfg: dict[str, Any]) -> None:
        add_mount(cfg, "/fsdata", "tmpfs", "tmpfs", ["nodev", "size=2m", "mode=711", "nr_inodes=77"])

    out = run_ok(rt, make_bundle(sh("stat -c %a /fsdata; echo --mountinfo--; cat /proc/self/mountinfo"),
                                 mutate=mounts), cid)
    assert out.split()[0] == "711", out
    m = last_mount_at(parse_mountinfo(mountinfo_of(out)), "/fsdata")
    assert m is not None and "nodev" in m.options, out
    assert {"size=2048k", "nr_inodes=77", "mode=711"} <= m.super_options, m.super_options


def idmap_gaps(request: pytest.FixtureRequest, rt: Runtime) -> None:
    known_gap(request, rt, "idmapped mounts are refused by name (README: a later issue)")
    known_gap(request, rt, "runc 1.1.5 predates idmapped mounts", runtime="runc")


@pytest.mark.spec("config-mounts-linux-options-6", "config-mounts-linux-idmap-1",
                  "config-mounts-linux-idmap-4")
def test_idmap_mount(request: pytest.FixtureRequest, rt: Runtime, cid: str, make_bundle: MakeBundle,
                     tmp_path: Path) -> None:
    known_gap(request, rt, "idmapped mounts are refused by name (README: a later issue)")
    known_gap(request, rt, "runc 1.1.5 predates idmapped mounts", runtime="runc")
    src = tmp_path / "owned"
    src.mkdir()
    (src / "f").write_text("x")
    os.chown(src / "f", 1000, 1000)

    def mounts(cfg: dict[str, Any]) -> None:
        maps = [{"containerID": 0, "hostID": 1000, "size": 1}]
        add_mount(cfg, "/idm", "none", str(src), ["bind", "idmap"], uidMappings=maps, gidMappings=maps)

    p = rt("run", "--bundle", str(make_bundle(sh("stat -c %u:%g /idm/f"), mutate=mounts)), cid)
    assert p.returncode == 0, describe(p)
    assert p.stdout.strip() == "0:0", p.stdout


@pytest.mark.spec("config-mounts-linux-idmap-2", "config-mounts-linux-idmap-4")
def test_ridmap_mount(request: pytest.FixtureRequest, rt: Runtime, cid: str, make_bundle: MakeBundle,
                      host_tree: Path) -> None:
    """ridmap on an rbind: the submount is idmapped too."""
    idmap_gaps(request, rt)
    for f in (host_tree / "top.txt", host_tree / "sub" / "sub.txt"):
        os.chown(f, 1000, 1000)

    def mounts(cfg: dict[str, Any]) -> None:
        maps = [{"containerID": 0, "hostID": 1000, "size": 1}]
        add_mount(cfg, "/ridm", "none", str(host_tree), ["rbind", "ridmap"], uidMappings=maps,
                  gidMappings=maps)

    p = rt("run", "--bundle", str(make_bundle(sh("stat -c %u:%g /ridm/top.txt /ridm/sub/sub.txt"),
                                              mutate=mounts)), cid)
    assert p.returncode == 0, describe(p)
    assert p.stdout.split() == ["0:0", "0:0"], p.stdout


@pytest.mark.spec("config-mounts-linux-idmap-3", "config-mounts-linux-idmap-7", "config-mounts-posix-idmap-2")
def test_idmap_is_mount_setattr_not_mount_data(request: pytest.FixtureRequest, rt: Runtime, cid: str,
                                               make_bundle: MakeBundle, tmp_path: Path) -> None:
    """The mount is idmapped (mountinfo's `idmapped`: MOUNT_ATTR_IDMAP), and
    `idmap` reached no filesystem as data."""
    idmap_gaps(request, rt)
    src = tmp_path / "idsrc"
    src.mkdir()

    def mounts(cfg: dict[str, Any]) -> None:
        maps = [{"containerID": 0, "hostID": 1000, "size": 1}]
        add_mount(cfg, "/idm", "none", str(src), ["bind", "idmap"], uidMappings=maps, gidMappings=maps)

    p = rt("run", "--bundle", str(make_bundle(sh("cat /proc/self/mountinfo"), mutate=mounts)), cid)
    assert p.returncode == 0, describe(p)
    m = last_mount_at(parse_mountinfo(p.stdout), "/idm")
    assert m is not None, p.stdout
    assert "idmapped" in m.options, m.options
    assert "idmap" not in m.super_options, m.super_options


@pytest.mark.spec("config-mounts-linux-idmap-6")
@pytest.mark.parametrize("option", ["idmap", "ridmap"])
def test_idmap_without_mappings_or_userns_refused(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                  tmp_path: Path, option: str) -> None:
    src = tmp_path / "idsrc"
    src.mkdir()

    def mounts(cfg: dict[str, Any]) -> None:
        add_mount(cfg, "/idm", "none", str(src), ["rbind", option])

    create_refused(rt, make_bundle(["true"], mutate=mounts), cid)


@pytest.mark.spec("config-mounts-linux-idmap-5")
def test_idmap_without_mappings_uses_userns_or_errors(rt: Runtime, cid: str, busybox_rootfs: Path,
                                                      userns_dir: Path) -> None:  # noqa: F811
    """idmap with no mappings, in a user namespace (0 -> HOST_ID): either the
    mount is idmapped with the user namespace's mapping (a host-root file is
    root's inside) or the runtime refuses; a plain bind shows it as nobody."""
    src = userns_dir / "idsrc"
    src.mkdir()
    (src / "f").write_text("x")
    os.chmod(src, 0o755)
    cfg = base_config(sh("stat -c %u:%g /idm/f"))
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": ID_SIZE}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": ID_SIZE}]
    add_mount(cfg, "/idm", "none", str(src), ["bind", "idmap"])
    bundle = write_bundle(userns_dir / "bundle", cfg, rootfs_src=busybox_rootfs)
    os.chmod(bundle, 0o755)
    _chown_tree(bundle / "rootfs", HOST_ID, HOST_ID)
    p = rt("run", "--bundle", str(bundle), cid)
    if p.returncode != 0:
        assert (p.stderr + p.stdout).strip(), "no error message"
        return
    assert p.stdout.strip() == "0:0", p.stdout


@pytest.mark.spec("config-mounts-posix-idmap-3", "config-mounts-posix-idmap-4")
@pytest.mark.parametrize("given", ["uidMappings", "gidMappings"])
def test_mount_mappings_come_in_pairs(rt: Runtime, cid: str, make_bundle: MakeBundle, tmp_path: Path,
                                      given: str) -> None:
    src = tmp_path / "idsrc"
    src.mkdir()

    def mounts(cfg: dict[str, Any]) -> None:
        add_mount(cfg, "/idm", "none", str(src), ["bind", "idmap"],
                  **{given: [{"containerID": 0, "hostID": 1000, "size": 1}]})

    create_refused(rt, make_bundle(["true"], mutate=mounts), cid)


# ---------------------------------------------------------------- annotations

@pytest.mark.spec("config-annotations-1")
def test_annotations_not_a_map_refused(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    def bad(cfg: dict[str, Any]) -> None:
        cfg["annotations"] = ["com.example.key=value"]

    create_refused(rt, make_bundle(["true"], mutate=bad), cid)


@pytest.mark.spec("config-annotations-3")
def test_annotation_empty_key_refused(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    def bad(cfg: dict[str, Any]) -> None:
        cfg["annotations"] = {"": "empty key"}

    create_refused(rt, make_bundle(["true"], mutate=bad), cid)


@pytest.mark.spec("config-annotations-6")
def test_unknown_annotation_keys_accepted(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    def annotate(cfg: dict[str, Any]) -> None:
        cfg["annotations"] = {"com.example.never-heard-of-it": "1", "org.opencontainers.future": "",
                              "no-reverse-domain": "x y z"}

    assert run_ok(rt, make_bundle(sh("echo ran"), mutate=annotate), cid).strip() == "ran"


@pytest.mark.spec("config-annotations-7")
@pytest.mark.parametrize("value", [2, True, None, {"nested": "x"}])
def test_annotation_values_must_be_strings(rt: Runtime, cid: str, make_bundle: MakeBundle, value: Any) -> None:
    def bad(cfg: dict[str, Any]) -> None:
        cfg["annotations"] = {"com.example.key": value}

    create_refused(rt, make_bundle(["true"], mutate=bad), cid)


# ---------------------------------------------------------------- extensibility, valid values

@pytest.mark.spec("config-ext-1", "config-ext-2")
def test_unknown_properties_are_ignored(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    def extend(cfg: dict[str, Any]) -> None:
        cfg["org.example.topLevel"] = {"anything": [1, 2, 3]}
        cfg["process"]["org.example.processField"] = True
        cfg["process"]["user"]["org.example.userField"] = "x"
        cfg["root"]["org.example.rootField"] = 1
        cfg["linux"]["org.example.linuxField"] = {"k": "v"}
        add_mount(cfg, "/ext", "tmpfs", "tmpfs", ["size=1m"], **{"org.example.mountField": "y"})
        cfg["process"]["rlimits"][0]["org.example.rlimitField"] = 0

    out = run_ok(rt, make_bundle(sh("test -d /ext && ulimit -n"), mutate=extend), cid)
    assert out.strip() == "1024", out  # the known fields next to the unknown ones still apply


INVALID: dict[str, Callable[[dict[str, Any]], None]] = {
    "terminal-not-bool": lambda c: c["process"].__setitem__("terminal", "yes"),
    "uid-negative": lambda c: c["process"]["user"].__setitem__("uid", -1),
    "rlimit-soft-not-int": lambda c: c["process"]["rlimits"][0].__setitem__("soft", "many"),
    "mount-options-not-array": lambda c: c["mounts"][0].__setitem__("options", "ro"),
    "root-not-object": lambda c: c.__setitem__("root", "rootfs"),
}


@pytest.mark.spec("config-valid-1")
@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_values_refused(rt: Runtime, cid: str, make_bundle: MakeBundle, case: str) -> None:
    bundle = make_bundle(["true"])
    edit_config(bundle, INVALID[case])
    create_refused(rt, bundle, cid)
