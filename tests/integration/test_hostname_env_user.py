"""Process attributes: hostname, env, cwd, user (uid, gid, additionalGids),
rlimits, capabilities, noNewPrivileges (runtime-spec config.md "Process",
"Hostname"; the masks are what runc 1.1.5 produces)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.isolation import run_ok

MakeBundle = Callable[..., Path]

SPEC_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
SPEC_MASK = (1 << 29) | (1 << 5) | (1 << 10)  # AUDIT_WRITE | KILL | NET_BIND_SERVICE
assert SPEC_MASK == 0x20000420


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def status_fields(out: str) -> dict[str, str]:
    """Parse `Key:\\tvalue` lines of /proc/self/status output."""
    fields: dict[str, str] = {}
    for line in out.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            fields[k.strip()] = v.strip()
    return fields


def caps(out: str) -> dict[str, int]:
    f = status_fields(out)
    return {k: int(f[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


# ---------------------------------------------------------------- hostname

def test_hostname_from_config(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["hostname"] = "pyrt-host-7"

    out = run_ok(rt, make_bundle(["hostname"], mutate=mutate), cid)
    assert out.strip() == "pyrt-host-7"


# ---------------------------------------------------------------- env

EXACT_ENV = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "TERM=xterm",
    "HOME=/home/somewhere",
    "WITH_SPACES=a b  c",
    "WITH_EQUALS=k=v=w",
    "EMPTY=",
]


def test_env_passed_exactly(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["process"]["env"] = list(EXACT_ENV)

    # `env` is exec'd directly (no shell adding PWD/SHLVL)
    out = run_ok(rt, make_bundle(["env"], mutate=mutate), cid)
    assert sorted(out.splitlines()) == sorted(EXACT_ENV), out


def test_env_home_defaults_from_passwd(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    # runc sets HOME from the user's /etc/passwd entry when env has none
    out = run_ok(rt, make_bundle(["env"]), cid)
    got = out.splitlines()
    spec_env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"]
    assert sorted(got) == sorted([*spec_env, "HOME=/root"]), out


# ---------------------------------------------------------------- cwd

def test_cwd_honoured(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["process"]["cwd"] = "/etc"

    out = run_ok(rt, make_bundle(sh("pwd; ls passwd"), mutate=mutate), cid)
    assert out.split() == ["/etc", "passwd"], out


# ---------------------------------------------------------------- user

def test_user_uid_gid_additional_gids(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [10, 20]}

    out = run_ok(rt, make_bundle(sh("id -u; id -g; id -G; grep -E '^(Uid|Gid|Groups):' /proc/self/status"),
                                 mutate=mutate), cid)
    lines = out.strip().splitlines()
    assert lines[0] == "1000" and lines[1] == "1001", out
    assert set(lines[2].split()) == {"1001", "10", "20"}, out
    f = status_fields("\n".join(lines[3:]))
    assert f["Uid"].split() == ["1000"] * 4, out  # real, effective, saved, fs
    assert f["Gid"].split() == ["1001"] * 4, out
    assert sorted(f["Groups"].split(), key=int) == ["10", "20"], out


def test_user_root_has_no_supplementary_groups(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    out = run_ok(rt, make_bundle(sh("grep -E '^(Uid|Gid|Groups):' /proc/self/status")), cid)
    f = status_fields(out)
    assert f["Uid"].split() == ["0"] * 4 and f["Gid"].split() == ["0"] * 4, out
    assert f["Groups"] == "", out


# ---------------------------------------------------------------- rlimits

def test_rlimit_nofile_from_spec(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    out = run_ok(rt, make_bundle(sh("ulimit -n; ulimit -Hn")), cid)
    assert out.split() == ["1024", "1024"], out


def test_rlimit_nofile_soft_hard(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 900}]

    out = run_ok(rt, make_bundle(sh("ulimit -n; ulimit -Hn"), mutate=mutate), cid)
    assert out.split() == ["512", "900"], out


# ---------------------------------------------------------------- capabilities

def test_capabilities_runc_spec_root(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    # ambient is listed but inheritable is not: the kernel refuses to raise
    # ambient caps that are not inheritable, and runc leaves CapAmb empty
    out = run_ok(rt, make_bundle(["grep", "Cap", "/proc/self/status"]), cid)
    assert caps(out) == {"CapInh": 0, "CapPrm": SPEC_MASK, "CapEff": SPEC_MASK,
                         "CapBnd": SPEC_MASK, "CapAmb": 0}, out


def test_capabilities_non_root_without_ambient(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["process"]["user"] = {"uid": 1000, "gid": 1000}

    out = run_ok(rt, make_bundle(["grep", "Cap", "/proc/self/status"], mutate=mutate), cid)
    assert caps(out) == {"CapInh": 0, "CapPrm": 0, "CapEff": 0, "CapBnd": SPEC_MASK, "CapAmb": 0}, out


@pytest.mark.parametrize("uid", [0, 1000])
def test_capabilities_with_inheritable_and_ambient(rt: Any, cid: str, make_bundle: MakeBundle,
                                                   uid: int) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["process"]["user"] = {"uid": uid, "gid": uid}
        c["process"]["capabilities"]["inheritable"] = list(SPEC_CAPS)
        c["process"]["capabilities"]["bounding"] = [*SPEC_CAPS, "CAP_CHOWN"]

    out = run_ok(rt, make_bundle(["grep", "Cap", "/proc/self/status"], mutate=mutate), cid)
    assert caps(out) == {"CapInh": SPEC_MASK, "CapPrm": SPEC_MASK, "CapEff": SPEC_MASK,
                         "CapBnd": SPEC_MASK | 1, "CapAmb": SPEC_MASK}, out


def test_capabilities_effect(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    # without CAP_CHOWN even root cannot give its file to another uid
    def mutate(c: dict[str, Any]) -> None:
        c["root"]["readonly"] = False

    out = run_ok(rt, make_bundle(sh("touch /tmp/f; chown 1000 /tmp/f 2>&1 || echo denied"), mutate=mutate), cid)
    assert "denied" in out and "Operation not permitted" in out, out


# ---------------------------------------------------------------- noNewPrivileges

@pytest.mark.parametrize("nnp", [True, False])
def test_no_new_privileges(rt: Any, cid: str, make_bundle: MakeBundle, nnp: bool) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["process"]["noNewPrivileges"] = nnp

    out = run_ok(rt, make_bundle(["grep", "NoNewPrivs", "/proc/self/status"], mutate=mutate), cid)
    assert status_fields(out)["NoNewPrivs"] == ("1" if nnp else "0"), out
