"""AppArmor and SELinux on a host without them (this one): a profile or
label is never silently dropped. The config fields process.apparmorProfile
and process.selinuxLabel are in test_process_fields.py; here linux.mountLabel,
`exec --apparmor` and `exec --process-label`, and empty values (which ask
for nothing and must run). runc 1.1.5 fails the same configs: the profile
write to /proc/self/attr/exec gets EINVAL, the SELinux label is refused up
front, the mount label makes the /dev tmpfs mount fail (docs/SECURITY.md).

RUNTIME=/usr/sbin/runc runs the same tests against runc.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pyruntime import lsm
from tests.support.config_fields import create_refused
from tests.support.isolation import describe, run_ok, start_detached
from tests.support.security import Observe

MakeBundle = Callable[..., Path]

needs_no_lsm = pytest.mark.skipif(lsm.apparmor_enabled() or lsm.selinux_enabled(),
                                  reason="AppArmor or SELinux is enabled on this host")


def _msg(text: str) -> str:
    return text.strip().splitlines()[-1].split('msg="', 1)[-1].rstrip('"')[:130]


@needs_no_lsm
def test_mount_label_without_selinux_is_refused(rt: Any, cid: str, make_bundle: MakeBundle,
                                                record_property: Observe) -> None:
    """linux.mountLabel on a host without SELinux"""
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["mountLabel"] = "system_u:object_r:container_file_t:s0"

    msg = create_refused(rt, make_bundle(["true"], mutate=mutate), cid)
    assert re.search(r"selinux|context|invalid argument", msg, re.I), msg
    record_property("observed", f"refused: {_msg(msg)}")


@needs_no_lsm
@pytest.mark.parametrize("flag", ["--apparmor", "--process-label"])
def test_exec_label_without_the_lsm_is_refused(rt: Any, cid: str, make_bundle: MakeBundle, flag: str,
                                               record_property: Observe) -> None:
    """exec --apparmor PROFILE / --process-label LABEL on a host without the LSM"""
    start_detached(rt, make_bundle(["sleep", "30"]), cid)
    value = "pyrt-test-profile" if flag == "--apparmor" else "system_u:system_r:container_t:s0"
    p = rt("exec", flag, value, cid, "echo", "ran")
    assert p.returncode != 0 and "ran" not in p.stdout, describe(p)
    assert re.search(r"apparmor|selinux", p.stderr, re.I), describe(p)
    record_property("observed", f"exit {p.returncode}: {_msg(p.stderr)}")


def test_empty_labels_ask_for_nothing(rt: Any, cid: str, make_bundle: MakeBundle,
                                      record_property: Observe) -> None:
    """apparmorProfile, selinuxLabel and mountLabel set to "": nothing is asked, the container runs"""
    def mutate(c: dict[str, Any]) -> None:
        c["process"]["apparmorProfile"] = ""
        c["process"]["selinuxLabel"] = ""
        c["linux"]["mountLabel"] = ""

    assert run_ok(rt, make_bundle(["echo", "ran"], mutate=mutate), cid) == "ran\n"
    record_property("observed", "runs")
