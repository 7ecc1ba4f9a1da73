"""state/procfs.py parsers, on lines recorded from a real /proc."""

from __future__ import annotations

import os

import pytest

from pyruntime.state.procfs import (
    parse_mountinfo_line,
    parse_proc_cgroup,
    parse_stat,
    process_alive,
    read_stat,
)
from tests.unit.conftest import DATA


def test_parse_stat_recorded_plain_comm() -> None:
    text = (DATA / "proc_pid_stat_cat.txt").read_text()
    assert parse_stat(text) == ("R", 94328)


def test_parse_stat_recorded_comm_with_spaces_and_parens() -> None:
    # comm is "we ir)d (x": spaces, a ')' and a '(' inside the parentheses.
    text = (DATA / "proc_pid_stat_paren.txt").read_text()
    assert "(we ir)d (x)" in text
    assert parse_stat(text) == ("S", 103744)


@pytest.mark.parametrize("comm", ["a b", ") S 1 2 3", "((", "x)", " ", ")"])
def test_parse_stat_synthetic_comms(comm: str) -> None:
    fields = ["Z", "1", "1", "0", "0", "-1", "4194304"] + ["0"] * 12 + ["123456", "0", "0"]
    text = f"42 ({comm}) " + " ".join(fields) + "\n"
    assert parse_stat(text) == ("Z", 123456)


def test_parse_stat_of_this_process() -> None:
    with open("/proc/self/stat") as f:
        state, start = parse_stat(f.read())
    assert state in ("R", "S")
    assert start > 0


def test_read_stat_and_process_alive() -> None:
    st = read_stat(os.getpid())
    assert st is not None
    start = st[1]
    assert process_alive(os.getpid(), start)
    assert not process_alive(os.getpid(), start + 1)  # a reused pid has another start time
    assert not process_alive(0, start)
    assert not process_alive(-1, start)


def test_read_stat_missing_pid() -> None:
    assert read_stat(2**22 + 12345) is None  # above pid_max's ceiling


def test_parse_mountinfo_line_with_optional_fields() -> None:
    line = ("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:2 - ext3 /dev/root "
            "rw,errors=continue")
    assert parse_mountinfo_line(line) == ("/mnt1", "/mnt2", "ext3", "rw,errors=continue")


def test_parse_mountinfo_line_octal_escapes() -> None:
    line = r"40 31 0:50 /a\040b /mnt/with\040space\011tab\012nl\134bs rw - tmpfs none rw,size=4k"
    root, mnt, fstype, opts = parse_mountinfo_line(line)
    assert root == "/a b"
    assert mnt == "/mnt/with space\ttab\nnl\\bs"
    assert fstype == "tmpfs"
    assert opts == "rw,size=4k"


def test_parse_mountinfo_line_escape_at_end() -> None:
    line = r"40 31 0:50 / /mnt/x\040 rw - tmpfs none rw"
    assert parse_mountinfo_line(line)[1] == "/mnt/x "


def test_parse_mountinfo_line_without_super_options() -> None:
    assert parse_mountinfo_line("1 2 0:1 / /x rw - tmpfs none") == ("/", "/x", "tmpfs", "")


def test_parse_mountinfo_recorded_file() -> None:
    lines = (DATA / "proc_self_mountinfo.txt").read_text().splitlines()
    parsed = [parse_mountinfo_line(ln) for ln in lines]
    assert ("/", "/proc", "proc", "rw") in parsed
    assert ("/", "/sys/fs/cgroup/cpu", "cgroup", "rw,cpu") in parsed
    assert ("/", "/sys/fs/cgroup/unified", "cgroup2", "rw") in parsed
    assert all(p[1].startswith("/") for p in parsed)


def test_parse_proc_cgroup_recorded_hybrid() -> None:
    d = parse_proc_cgroup((DATA / "proc_self_cgroup.txt").read_text())
    assert d[""] == "/"
    assert d["name=systemd"] == "/"
    assert d["memory"] == "/process_api/064cf5b84549d9295d1dc54fdd48ffe0"
    for c in ("cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio", "pids"):
        assert d[c] == "/"
    assert len(d) == 10


def test_parse_proc_cgroup_comounted_and_colons() -> None:
    text = "4:cpu,cpuacct:/a/b\n2:net_cls,net_prio:/\n1:name=systemd:/user.slice/x:y\n\n0::/v2\n"
    d = parse_proc_cgroup(text)
    assert d == {"cpu": "/a/b", "cpuacct": "/a/b", "net_cls": "/", "net_prio": "/",
                 "name=systemd": "/user.slice/x:y", "": "/v2"}


def test_parse_proc_cgroup_pure_v2() -> None:
    assert parse_proc_cgroup("0::/user.slice/session-1.scope\n") == {"": "/user.slice/session-1.scope"}
