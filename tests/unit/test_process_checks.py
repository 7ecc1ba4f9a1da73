"""Checks create makes before forking: sysctl namespaces, LSM fields on a
host without AppArmor/SELinux, scheduler, I/O priority, personality."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pyruntime import lsm, sysctl
from pyruntime.errors import ConfigError
from pyruntime.process import settings
from pyruntime.spec.load import load
from tests.support.bundle import base_config


def _cfg(tmp_path: Path, **linux: Any) -> Any:
    cfg = base_config(["true"])
    cfg["linux"].update(linux)
    (tmp_path / "rootfs").mkdir(exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return load(str(tmp_path))


@pytest.mark.parametrize("key", ["net.ipv4.ip_forward", "kernel.shmmax", "fs.mqueue.msg_max", "kernel.sem"])
def test_namespaced_sysctls_are_accepted(tmp_path: Path, key: str) -> None:
    assert sysctl.check(_cfg(tmp_path, sysctl={key: "1"})) == {key: "1"}


@pytest.mark.parametrize("key", ["kernel.panic", "vm.swappiness", "kernel.domainname/../x", "net..x"])
def test_host_sysctls_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError) as e:
        sysctl.check(_cfg(tmp_path, sysctl={key: "1"}))
    assert e.value.field == f"linux.sysctl.{key}"


def test_net_sysctl_needs_a_network_namespace(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, sysctl={"net.ipv4.ip_forward": "1"},
               namespaces=[{"type": t} for t in ("pid", "ipc", "uts", "mount")])
    with pytest.raises(ConfigError, match="not allowed in host network namespace"):
        sysctl.check(cfg)


def test_kernel_hostname_sysctl_conflicts_with_hostname(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="conflicts with the config's hostname field"):
        sysctl.check(_cfg(tmp_path, sysctl={"kernel.hostname": "x"}))


def test_lsm_fields_refused_without_the_lsm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lsm, "apparmor_enabled", lambda: False)
    monkeypatch.setattr(lsm, "selinux_enabled", lambda: False)
    cfg = _cfg(tmp_path)
    cfg.data["process"]["apparmorProfile"] = "docker-default"
    with pytest.raises(ConfigError, match="AppArmor is not enabled on this host") as e:
        lsm.check(cfg)
    assert e.value.field == "process.apparmorProfile"
    del cfg.data["process"]["apparmorProfile"]
    cfg.data["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0"
    with pytest.raises(ConfigError, match="selinux is disabled") as e:
        lsm.check(cfg)
    assert e.value.field == "process.selinuxLabel"


def test_scheduler_checks() -> None:
    s = settings.check_scheduler({"policy": "SCHED_BATCH", "nice": 5, "flags": ["SCHED_FLAG_RESET_ON_FORK"]})
    assert s is not None and (s.policy, s.nice, s.flags) == (3, 5, 1)
    fifo = settings.check_scheduler({"policy": "SCHED_FIFO", "priority": 10})
    assert fifo is not None and (fifo.policy, fifo.priority) == (1, 10)
    for bad, field in [({"policy": "SCHED_NOPE"}, "process.scheduler.policy"),
                       ({"policy": "SCHED_FIFO"}, "process.scheduler.priority"),
                       ({"policy": "SCHED_FIFO", "priority": 5, "nice": 3}, "process.scheduler.nice"),
                       ({"policy": "SCHED_OTHER", "nice": 30}, "process.scheduler.nice"),
                       ({"policy": "SCHED_OTHER", "runtime": 5}, "process.scheduler"),
                       ({"policy": "SCHED_OTHER", "flags": ["X"]}, "process.scheduler.flags[0]")]:
        with pytest.raises(ConfigError) as e:
            settings.check_scheduler(bad)
        assert e.value.field == field


def test_io_priority_and_personality() -> None:
    assert settings.check_io_priority({"class": "IOPRIO_CLASS_BE", "priority": 4}) == (2 << 13) | 4
    assert settings.check_io_priority(None) is None
    with pytest.raises(ConfigError, match="outside 0..7"):
        settings.check_io_priority({"class": "IOPRIO_CLASS_RT", "priority": 8})
    assert settings.check_personality({"domain": "LINUX32"}) == 8
    # runc warns about personality flags and ignores them; so does pyruntime.
    assert settings.check_personality({"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}) == 0


def test_unapplied_resources_are_refused_by_name() -> None:
    from pyruntime.cgroups.support import check_resources

    check_resources({"memory": {"limit": 1 << 26, "swap": 1 << 27, "swappiness": 10}, "pids": {"limit": 10},
                     "devices": [{"allow": False, "access": "rwm"}], "cpu": {"shares": 512},
                     "blockIO": {"weight": 100}, "unified": {"memory.high": "1G"}})
    check_resources({"memory": {"checkBeforeUpdate": True}})
    with pytest.raises(ConfigError) as e:
        check_resources({"bogus": {"x": 1}})
    assert e.value.field == "linux.resources.bogus"
