"""Process settings applied inside the init, just before it becomes the
user's process: scheduler (sched_setattr), I/O priority (ioprio_set) and
execution domain (personality). Each is validated in the parent first
(`check_*`), so a bad value fails create before any container work."""

from __future__ import annotations

from pyruntime import syscalls as sc
from pyruntime.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SCHED_POLICIES = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3,
                  "SCHED_ISO": 4, "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}
SCHED_FLAGS = {"SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02,
               "SCHED_FLAG_DL_OVERRUN": 0x04, "SCHED_FLAG_KEEP_POLICY": 0x08,
               "SCHED_FLAG_KEEP_PARAMS": 0x10, "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
               "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40}
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
IOPRIO_WHO_PROCESS = 1
PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}


class Scheduler:
    __slots__ = ("policy", "flags", "nice", "priority", "runtime", "deadline", "period")

    def __init__(self, policy: int, flags: int, nice: int, priority: int, runtime: int, deadline: int,
                 period: int) -> None:
        self.policy = policy
        self.flags = flags
        self.nice = nice
        self.priority = priority
        self.runtime = runtime
        self.deadline = deadline
        self.period = period


def check_scheduler(s: dict[str, Any] | None) -> Scheduler | None:
    """process.scheduler → the sched_setattr arguments, with runc's checks."""
    if not s:
        return None
    f = "process.scheduler"
    policy = SCHED_POLICIES.get(s.get("policy", ""))
    if policy is None:
        raise ConfigError(f"{f}.policy: unknown policy {s.get('policy')!r}", field=f"{f}.policy")
    flags = 0
    for i, name in enumerate(s.get("flags") or []):
        if name not in SCHED_FLAGS:
            raise ConfigError(f"{f}.flags[{i}]: unknown flag {name!r}", field=f"{f}.flags[{i}]")
        flags |= SCHED_FLAGS[name]
    nice = int(s.get("nice", 0))
    prio = int(s.get("priority", 0))
    if not -20 <= nice <= 19:
        raise ConfigError(f"{f}.nice: {nice} is outside -20..19", field=f"{f}.nice")
    if nice and policy not in (0, 3):
        raise ConfigError(f"{f}.nice: only SCHED_OTHER and SCHED_BATCH take a nice value", field=f"{f}.nice")
    if policy in (1, 2):
        if not 1 <= prio <= 99:
            raise ConfigError(f"{f}.priority: {s.get('policy')} needs a priority in 1..99",
                              field=f"{f}.priority")
    elif prio:
        raise ConfigError(f"{f}.priority: only SCHED_FIFO and SCHED_RR take a priority", field=f"{f}.priority")
    runtime, deadline, period = (int(s.get(k, 0)) for k in ("runtime", "deadline", "period"))
    if policy != 6 and (runtime or deadline or period):
        raise ConfigError(f"{f}: runtime, deadline and period are for SCHED_DEADLINE only", field=f)
    return Scheduler(policy, flags, nice, prio, runtime, deadline, period)


def apply_scheduler(s: Scheduler) -> None:
    try:
        sc.sys().sched_setattr(0, s.policy, s.flags, s.nice, s.priority, s.runtime, s.deadline, s.period)
    except OSError as e:
        raise ConfigError(f"process.scheduler: sched_setattr: {e.strerror}", field="process.scheduler") from None


def check_io_priority(p: dict[str, Any] | None) -> int | None:
    """process.ioPriority → the ioprio value (class << 13 | level)."""
    if not p:
        return None
    f = "process.ioPriority"
    cls = IOPRIO_CLASSES.get(p.get("class", ""))
    if cls is None:
        raise ConfigError(f"{f}.class: unknown class {p.get('class')!r}", field=f"{f}.class")
    level = int(p.get("priority", 0))
    if not 0 <= level <= 7:
        raise ConfigError(f"{f}.priority: {level} is outside 0..7", field=f"{f}.priority")
    return cls << 13 | level


def apply_io_priority(ioprio: int) -> None:
    try:
        sc.sys().ioprio_set(IOPRIO_WHO_PROCESS, 0, ioprio)
    except OSError as e:
        raise ConfigError(f"process.ioPriority: ioprio_set: {e.strerror}", field="process.ioPriority") from None


def check_personality(p: dict[str, Any] | None) -> int | None:
    if not p:
        return None
    f = "linux.personality"
    domain = PERSONALITY_DOMAINS.get(p.get("domain", ""))
    if domain is None:
        raise ConfigError(f"{f}.domain: unknown domain {p.get('domain')!r} (LINUX or LINUX32)",
                          field=f"{f}.domain")
    if p.get("flags"):
        # runc (1.2+) warns and ignores them too: no flag is defined to mean anything yet.
        from pyruntime.log import log

        log.warning(f"{f}.flags: ignoring unsupported personality flags {p['flags']}")
    return domain


def apply_personality(persona: int) -> None:
    try:
        sc.sys().personality(persona)
    except OSError as e:
        raise ConfigError(f"linux.personality: {e.strerror}", field="linux.personality") from None


def set_oom_score_adj(pid: int, value: int) -> None:
    """From the parent, as runc does; lowering below the caller's value needs
    CAP_SYS_RESOURCE."""
    try:
        with open(f"/proc/{pid}/oom_score_adj", "w") as f:
            f.write(str(value))
    except OSError as e:
        raise ConfigError(f"process.oomScoreAdj: setting {value}: {e.strerror}",
                          field="process.oomScoreAdj") from None
