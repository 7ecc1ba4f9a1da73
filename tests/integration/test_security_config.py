"""Hostile input through the real binary: malformed and huge config.json,
invalid container ids, missing files, and a sample of hypothesis-generated
configs. Each is one clear error line (no traceback, no "internal error",
no Go panic) and leaves nothing: no state dir, cgroup, mount or process
(tests/support/config_fields.create_refused). The loader itself is fuzzed
at the unit level (tests/unit/test_security_config.py, tests/fuzz/).

RUNTIME=/usr/sbin/runc runs the same inputs through runc.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.integration.probes import cgroup_dirs, create, remove_cgroups, root_entries
from tests.support.config_fields import create_refused
from tests.support.isolation import describe
from tests.support.runc import is_runc
from tests.support.security import Observe
from tests.unit.test_schema_equivalence import _bases, mutated_configs

MakeBundle = Callable[..., Path]


def one_clear_error(rt: Any, msg: str) -> str:
    """The error text: one line, no traceback, not an internal error or a panic."""
    lines = [ln for ln in msg.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one error line, got:\n{msg}"
    for bad in ("Traceback", "internal error", "panic:", "goroutine "):
        assert bad not in msg, msg
    return lines[0]


def _observe(record_property: Observe, line: str) -> None:
    msg = line.split('msg="', 1)[-1].rstrip('"')
    record_property("observed", f"refused: {msg[:140]}")


# ---------------------------------------------------------------- malformed config.json

def _write(bundle: Path, data: bytes) -> None:
    (bundle / "config.json").write_bytes(data)


def _valid(bundle: Path) -> bytes:
    return (bundle / "config.json").read_bytes()


MALFORMED: dict[str, Callable[[bytes], bytes]] = {
    "nan": lambda v: v.replace(b'"terminal": false', b'"terminal": false, "x": NaN'),
    "deep-nesting-100k": lambda v: b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "invalid-utf8": lambda v: v.replace(b'"true"', b'"tr\xff\xfeue"'),
    "nul-in-args": lambda v: v.replace(b'"true"', b'"tr\\u0000ue"'),
    "huge-100MB": lambda v: b"{" + b" " * (100 << 20) + b"x}",
    "truncated": lambda v: v[: len(v) // 2],
    "not-an-object": lambda v: b'"config"',
    "null": lambda v: b"null",
}

RUNC_NULL_PANIC = "panic: runtime error: invalid memory address or nil pointer dereference"


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_config_is_one_clear_error(rt: Any, cid: str, make_bundle: MakeBundle, case: str,
                                             record_property: Observe) -> None:
    """malformed config.json (NaN, 100k-deep nesting, invalid UTF-8, NUL, 100 MB, truncated, not an object, null)"""
    b = make_bundle(["true"])
    _write(b, MALFORMED[case](_valid(b)))
    msg = create_refused(rt, b, cid)
    if is_runc(rt) and case == "null":
        assert RUNC_NULL_PANIC in msg and "main.loadSpec" in msg, msg
        pytest.xfail("runc 1.1.5 panics on a null config.json: json.Decode leaves the *specs.Spec nil and "
                     "loadSpec reads spec.Process (nil pointer dereference)")
    line = one_clear_error(rt, msg)
    _observe(record_property, line)


def test_duplicate_keys_the_last_one_counts(rt: Any, cid: str, make_bundle: MakeBundle,
                                            record_property: Observe) -> None:
    """duplicate keys in config.json: the runtime must read what other JSON readers (Go's) read: the last"""
    b = make_bundle(["echo", "first"])
    _write(b, _valid(b).replace(b'"args": [', b'"args": ["echo", "second"], "args": [', 1))
    p = rt("run", "--bundle", str(b), cid)
    assert p.returncode == 0, describe(p)
    assert p.stdout == "first\n", p.stdout
    record_property("observed", "the last of duplicate keys counts (as Go's encoding/json)")


# ---------------------------------------------------------------- container ids

IDS = {"dotdot-slash-x": "../x", "slash": "/", "empty": "", "1KiB": "a" * 1024, "dot": ".", "dotdot": "..",
       "a-slash-b": "a/b", "newline": "x\ny"}


@pytest.mark.parametrize("case", sorted(IDS))
def test_invalid_id_is_refused(rt: Any, make_bundle: MakeBundle, case: str, record_property: Observe) -> None:
    """invalid container ids (../x, /, empty, 1 KiB, ., .., a/b, a newline)"""
    bad = IDS[case]
    b = make_bundle(["true"])
    outside = rt.root.parent / "x"
    existed = outside.exists()
    p = create(rt, b, bad)
    assert p.returncode != 0, describe(p)
    line = one_clear_error(rt, p.stderr + p.stdout)
    assert root_entries(rt) <= set(), f"created under --root: {root_entries(rt)}"
    assert outside.exists() == existed, f"{outside} was made"
    if bad:
        assert cgroup_dirs(os.path.basename(bad) or "x") == [] or case == "dot"
    _observe(record_property, line)


# ---------------------------------------------------------------- missing files

def _no_config(b: Path, extra: list[str]) -> None:
    (b / "config.json").unlink()


def _no_bundle(b: Path, extra: list[str]) -> None:
    (b / "config.json").rename(b / "elsewhere.json")
    extra += ["--bundle", str(b / "no-such-dir")]


def _pid_file_dir_missing(b: Path, extra: list[str]) -> None:
    extra += ["--pid-file", str(b / "no-such-dir" / "pid")]


def _console_socket_missing(b: Path, extra: list[str]) -> None:
    cfg = json.loads((b / "config.json").read_text())
    cfg["process"]["terminal"] = True
    (b / "config.json").write_text(json.dumps(cfg))
    extra += ["--console-socket", str(b / "no-such.sock")]


def _hook_missing(b: Path, extra: list[str]) -> None:
    cfg = json.loads((b / "config.json").read_text())
    cfg["hooks"] = {"createRuntime": [{"path": "/no/such/hook"}]}
    (b / "config.json").write_text(json.dumps(cfg))


def _mount_source_missing(b: Path, extra: list[str]) -> None:
    cfg = json.loads((b / "config.json").read_text())
    cfg["mounts"].append({"destination": "/data", "type": "bind", "source": str(b / "no-such-src"),
                          "options": ["rbind"]})
    (b / "config.json").write_text(json.dumps(cfg))


def _console_socket_not_a_socket(b: Path, extra: list[str]) -> None:
    _console_socket_missing(b, extra)
    (b / "no-such.sock").write_text("")


MISSING: dict[str, Callable[[Path, list[str]], None]] = {
    "no-config.json": _no_config, "no-bundle-dir": _no_bundle, "pid-file-dir-missing": _pid_file_dir_missing,
    "console-socket-missing": _console_socket_missing, "console-socket-not-a-socket": _console_socket_not_a_socket,
    "hook-missing": _hook_missing, "mount-source-missing": _mount_source_missing,
}


@pytest.mark.parametrize("case", sorted(MISSING))
def test_missing_file_is_one_clear_error(rt: Any, cid: str, make_bundle: MakeBundle, case: str,
                                         record_property: Observe) -> None:
    """missing files (config.json, bundle, pid-file dir, console socket, hook, mount source)"""
    b = make_bundle(["sleep", "10"])
    extra: list[str] = []
    MISSING[case](b, extra)
    try:
        line = one_clear_error(rt, create_refused(_WithArgs(rt, extra), b, cid))
    finally:
        remove_cgroups(cid)
    _observe(record_property, line)


class _WithArgs:
    """rt, with extra flags after `create` (a later --bundle wins)."""

    def __init__(self, rt: Any, extra: list[str]) -> None:
        self.rt, self.extra, self.root, self.path, self.name = rt, extra, rt.root, rt.path, rt.name

    def cmd(self, *args: str) -> list[str]:
        if args and args[0] == "create":
            return self.rt.cmd("create", *args[1:-1], *self.extra, args[-1])
        return list(self.rt.cmd(*args))

    def __call__(self, *args: str, **kw: Any) -> Any:
        return self.rt(*args, **kw)


# ---------------------------------------------------------------- generated configs

SAMPLE = settings(max_examples=15, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _contained(doc: Any, bundle: Path) -> Any:
    """Keep a generated config to this test's own things: our rootfs, the
    default cgroup path (the id), no hooks (they would run host programs)."""
    if isinstance(doc, dict):
        doc.pop("hooks", None)
        if isinstance(doc.get("linux"), dict):
            doc["linux"].pop("cgroupsPath", None)
        if isinstance(doc.get("root"), dict):
            doc["root"]["path"] = str(bundle / "rootfs")
    return doc


def _without_mount_namespace(doc: Any) -> bool:
    linux = doc.get("linux") if isinstance(doc, dict) else None
    namespaces = linux.get("namespaces") if isinstance(linux, dict) else None
    return isinstance(doc, dict) and not (isinstance(namespaces, list) and any(
        isinstance(n, dict) and n.get("type") == "mount" for n in namespaces))


def test_generated_configs_run_or_fail_cleanly(rt: Any, make_bundle: MakeBundle,
                                                record_property: Observe) -> None:
    """hypothesis-generated configs (valid and invalid, from the schema's samples) through `create`"""
    runc_null: list[str] = []
    withheld: list[Any] = []

    @SAMPLE
    @given(doc=mutated_configs(_bases()))
    def one(doc: Any) -> None:
        if is_runc(rt) and _without_mount_namespace(doc):
            # runc 1.1.5 with no mount namespace runs its prepareRoot in the host's:
            # mount("", "/", MS_SLAVE|MS_REC) and the rootfs bound onto itself, left
            # there when create fails: not given to runc (it would change the host)
            withheld.append(doc)
            return
        cid = f"t{uuid.uuid4().hex[:12]}"
        b = make_bundle(["true"], name=f"gen-{cid}")
        (b / "config.json").write_text(json.dumps(_contained(doc, b)))
        try:
            p = create(rt, b, cid)
            if p.returncode == 0:
                assert rt("delete", "--force", cid).returncode == 0
                return
            msg = create_refused(rt, b, cid)
            if is_runc(rt) and doc is None:
                # also test_malformed_config_is_one_clear_error[null]
                assert RUNC_NULL_PANIC in msg and "main.loadSpec" in msg, msg
                runc_null.append(msg)
                return
            one_clear_error(rt, msg)
        finally:
            rt("delete", "--force", cid)
            remove_cgroups(cid)

    one()
    record_property("observed", "each created (then deleted) or refused with one line; nothing left")
    if runc_null:
        pytest.xfail("runc 1.1.5 panics on a null config.json (loadSpec reads spec.Process of a nil *specs.Spec)"
                     + (f"; {len(withheld)} configs without a mount namespace not run: runc 1.1.5 would make "
                        "the host's / rslave and leave a bind of the rootfs there" if withheld else ""))
    if withheld:
        pytest.skip(f"{len(withheld)} configs without a mount namespace not run: runc 1.1.5 would make the "
                    "host's / rslave and leave a bind of the rootfs there")


def test_control_a_socket_console_works(rt: Any, cid: str, make_bundle: MakeBundle, tmp_path: Path) -> None:
    """control for the console-socket cases: a real socket is accepted"""
    b = make_bundle(["true"])
    _console_socket_missing(b, [])
    path = tmp_path / "c.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(1)
    try:
        p = create(rt, b, cid, "--console-socket", str(path))
        assert p.returncode == 0, describe(p)
    finally:
        rt("delete", "--force", cid)
        s.close()
