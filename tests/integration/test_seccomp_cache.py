"""Compiled seccomp filters kept between creates (pyruntime/seccomp_cache.py):
a hit gives the program libseccomp builds, anything not root's alone is not
trusted, and a container started from a cached filter is filtered the same.

In-process tests use the real libseccomp with CACHE_DIR moved into tmp_path;
the end-to-end test uses the real directory and removes its own entry.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pyruntime import seccomp, seccomp_cache
from tests.integration.test_seccomp import DATA, engine_profile, is_pyruntime
from tests.support.isolation import run_ok

MakeBundle = Callable[..., Path]
CAPS = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


@pytest.fixture(autouse=True)
def _root_only() -> None:
    if os.geteuid() != 0:
        pytest.skip("the cache is root's")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache" / "seccomp"
    monkeypatch.setattr(seccomp_cache, "CACHE_DIR", str(d))
    return d


def docker_profile() -> dict[str, Any]:
    return engine_profile(json.loads((DATA / "docker-default.json").read_text()), CAPS)


def count_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = seccomp.build

    def counting(prof: seccomp.Profile) -> seccomp.SeccompFilter:
        calls.append(1)
        return real(prof)

    monkeypatch.setattr(seccomp, "build", counting)
    return calls


def test_the_second_compile_is_the_first_ones_program(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builds = count_builds(monkeypatch)
    profile = docker_profile()
    first = seccomp.compile_filter(profile)
    second = seccomp.compile_filter(profile)
    assert len(builds) == 1, "the second compile built the filter again"
    assert second.program == first.program and second.skipped == first.skipped
    assert second.flags == first.flags
    (entry,) = cache.iterdir()
    st = entry.stat()
    assert st.st_uid == 0 and st.st_mode & 0o777 == 0o600
    assert cache.stat().st_mode & 0o777 == 0o700
    # what a fresh libseccomp build gives, byte for byte
    assert seccomp.build(seccomp.parse(profile) or seccomp.Profile(0, [], 0, [])).program == first.program


def test_another_profile_is_another_entry(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builds = count_builds(monkeypatch)
    a = docker_profile()
    b = json.loads(json.dumps(a))
    b["defaultErrnoRet"] = 38
    assert seccomp.compile_filter(a).program != seccomp.compile_filter(b).program
    assert len(builds) == 2 and len(list(cache.iterdir())) == 2
    k = seccomp_cache.key(a, seccomp.version())
    assert k is not None and k != seccomp_cache.key(a, "0.0.0"), "libseccomp's version is not in the key"


@pytest.mark.parametrize("spoil", ["group-readable", "not-root", "symlink", "truncated", "garbage"])
def test_a_doubtful_entry_is_a_miss(cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                    spoil: str) -> None:
    profile = docker_profile()
    good = seccomp.compile_filter(profile).program
    (entry,) = cache.iterdir()
    if spoil == "group-readable":
        entry.chmod(0o640)
    elif spoil == "not-root":
        os.chown(entry, 65534, 65534)
    elif spoil == "symlink":
        target = tmp_path / "elsewhere"
        target.write_bytes(entry.read_bytes())
        target.chmod(0o600)
        entry.unlink()
        entry.symlink_to(target)
    elif spoil == "truncated":
        entry.write_bytes(entry.read_bytes()[:-3])
    else:
        entry.write_bytes(b"not json\n" + b"\0" * 16)
    builds = count_builds(monkeypatch)
    assert seccomp.compile_filter(profile).program == good
    assert len(builds) == 1, f"a {spoil} entry was used"


def test_a_directory_others_may_write_is_not_used(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = docker_profile()
    seccomp.compile_filter(profile)
    cache.chmod(0o770)
    builds = count_builds(monkeypatch)
    seccomp.compile_filter(profile)
    seccomp.compile_filter(profile)
    assert len(builds) == 2


def test_a_full_cache_is_emptied_first(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seccomp_cache, "MAX_ENTRIES", 3)
    base = docker_profile()
    for errno_ret in (1, 2, 3, 4):
        p = json.loads(json.dumps(base))
        p["defaultErrnoRet"] = errno_ret
        seccomp.compile_filter(p)
    assert len(list(cache.iterdir())) == 1


def test_a_container_from_a_cached_filter_is_filtered_alike(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    """mkdir denied (EACCES): the first run writes one entry, the second run
    uses it (the same file, not rewritten) and is filtered the same."""
    if not is_pyruntime(rt):
        pytest.skip("pyruntime's cache")
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                            # a rule of this test's own, so that the entry is new
                            {"names": ["getpid"], "action": "SCMP_ACT_ALLOW",
                             "args": [{"index": 0, "value": int(uuid.uuid4().hex[:8], 16), "op": "SCMP_CMP_NE"}]}]}
    cache = Path(seccomp_cache.CACHE_DIR)

    def entries() -> dict[str, int]:
        return {e.name: e.stat().st_ino for e in cache.iterdir()} if cache.exists() else {}

    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["seccomp"] = profile

    before = entries()
    new: set[str] = set()
    try:
        for i in range(2):
            b = make_bundle(["sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?"], mutate=mutate, name=f"b{i}")
            out = run_ok(rt, b, f"{cid}-{i}")
            assert "Permission denied" in out and "rc=1" in out, out
            now = entries()
            new = set(now) - set(before)
            assert len(new) == 1, f"run {i}: new cache entries {new}"
            if i == 0:
                first = now
        assert now == first, "the second run rewrote the entry instead of using it"
    finally:
        for name in new:
            (cache / name).unlink(missing_ok=True)
