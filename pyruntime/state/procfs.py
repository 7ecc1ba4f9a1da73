"""Parsers for /proc files, kept pure so unit tests run them on recorded samples."""

from __future__ import annotations


def parse_stat(text: str) -> tuple[str, int]:
    """From /proc/<pid>/stat: (state letter, starttime in clock ticks).

    The comm field (2) may hold spaces and parentheses, so split after the
    last ')'; state is then field 3 and starttime field 22."""
    rest = text[text.rindex(")") + 2:].split()
    return rest[0], int(rest[19])


def read_stat(pid: int) -> tuple[str, int] | None:
    """(state, starttime) of a live pid, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return parse_stat(f.read())
    except (FileNotFoundError, ProcessLookupError):
        return None


# The init's name until it execs the user's program (process/init.py sets it
# with PR_SET_NAME; the kernel then replaces it with the program's at execve).
INIT_COMM = "pyrt:[2:INIT]"


def parse_stat_comm(text: str) -> tuple[str, int, str]:
    """(state, starttime, comm): comm is what lies between the first '(' and the last ')'."""
    state, start = parse_stat(text)
    return state, start, text[text.index("(") + 1:text.rindex(")")]


def read_proc(pid: int) -> tuple[str, int, str] | None:
    """(state, starttime, comm) of pid, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return parse_stat_comm(f.read())
    except (FileNotFoundError, ProcessLookupError):
        return None


def process_alive(pid: int, start_time: int) -> bool:
    """True when pid runs and is the same process we started (its start time
    matches: a reused PID has a later one), and is not a zombie."""
    if pid <= 0:
        return False
    st = read_stat(pid)
    if st is None:
        return False
    state, start = st
    return start == start_time and state not in ("Z", "X", "x")


def parse_mountinfo_line(line: str) -> tuple[str, str, str, str]:
    """(root, mount point, fs type, super options) of one /proc/<pid>/mountinfo line."""
    left, right = line.split(" - ", 1)
    lf = left.split()
    rf = right.split()
    return unescape_mountinfo(lf[3]), unescape_mountinfo(lf[4]), rf[0], rf[2] if len(rf) > 2 else ""


def unescape_mountinfo(s: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    if "\\" not in s:
        return s
    out = []
    i = 0
    while i < len(s):
        if s[i] == "\\" and i + 3 < len(s) and s[i + 1:i + 4].isdigit():
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """/proc/<pid>/cgroup → {controller or 'name=x' or '' (cgroup2): path}.
    A line `4:cpu,cpuacct:/a` gives both cpu and cpuacct."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line:
            continue
        _, ctrls, path = line.split(":", 2)
        if ctrls == "":
            out[""] = path
        for c in ctrls.split(","):
            if c:
                out[c] = path
    return out
