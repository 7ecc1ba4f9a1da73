"""Everything the container's processes need, prepared by `create` (P1)
before it forks, so that the children never import or look up anything from
the host after they have changed namespaces."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyruntime.cgroups.manager import Manager
    from pyruntime.process.settings import Scheduler
    from pyruntime.seccomp import SeccompFilter
    from pyruntime.seccomp_notify import Agent
    from pyruntime.spec.load import Config


class InitPlan:
    def __init__(self, cid: str, cfg: Config, cgroup: Manager, cgroup_mounts: dict[str, str],
                 fifo_fd: int, ns_fds: list[tuple[str, int]], caps: dict[str, int],
                 console_socket: str | None, console_to_parent: bool, no_pivot: bool,
                 preserve_fds: int, new_keyring: bool = True) -> None:
        self.cid = cid
        self.cfg = cfg
        self.rootfs = cfg.rootfs
        self.cgroup = cgroup
        self.cgroup_mounts = cgroup_mounts
        self.fifo_fd = fifo_fd
        self.ns_fds = ns_fds              # namespaces to join: (type, open fd)
        self.new_ns = {n["type"] for n in cfg.namespaces if not n.get("path")}
        self.caps = caps
        self.console_socket = console_socket
        self.console_to_parent = console_to_parent  # `run` in the foreground with a terminal
        self.no_pivot = no_pivot
        self.preserve_fds = preserve_fds
        self.new_keyring = new_keyring
        self.close_in_child: list[int] = []  # e.g. the state dir's lock: not for the container
        self.seccomp: SeccompFilter | None = None  # linux.seccomp, compiled by create before fork
        self.seccomp_agent: Agent | None = None    # SCMP_ACT_NOTIFY: where P1 sends the listener fd
        self.pidfd_sock = -1  # --pidfd-socket, connected by P1: the init sends a pidfd of itself
        # Process settings checked by create (pyruntime.process.settings, pyruntime.sysctl).
        self.sysctl: dict[str, str] = {}
        self.scheduler: Scheduler | None = None
        self.ioprio: int | None = None
        self.personality: int | None = None

    @property
    def userns(self) -> bool:
        return self.has_ns("user")

    def has_ns(self, ns_type: str) -> bool:
        """A namespace of this type, new or joined by path."""
        return ns_type in self.new_ns or any(t == ns_type for t, _ in self.ns_fds)
