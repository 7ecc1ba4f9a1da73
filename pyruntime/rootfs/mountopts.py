"""mount(8)-style options (config `mounts[].options`) → mount(2) flags,
propagation flags, the recursive attributes applied with mount_setattr(2)
and the data string passed to the filesystem."""

from __future__ import annotations

from pyruntime import syscalls as sc

# option: (clear?, flag)
FLAGS: dict[str, tuple[bool, int]] = {
    "defaults": (False, 0),
    "ro": (False, sc.MS_RDONLY), "rw": (True, sc.MS_RDONLY),
    "nosuid": (False, sc.MS_NOSUID), "suid": (True, sc.MS_NOSUID),
    "nodev": (False, sc.MS_NODEV), "dev": (True, sc.MS_NODEV),
    "noexec": (False, sc.MS_NOEXEC), "exec": (True, sc.MS_NOEXEC),
    "sync": (False, sc.MS_SYNCHRONOUS), "async": (True, sc.MS_SYNCHRONOUS),
    "remount": (False, sc.MS_REMOUNT),
    "mand": (False, sc.MS_MANDLOCK), "nomand": (True, sc.MS_MANDLOCK),
    "dirsync": (False, sc.MS_DIRSYNC),
    "noatime": (False, sc.MS_NOATIME), "atime": (True, sc.MS_NOATIME),
    "nodiratime": (False, sc.MS_NODIRATIME), "diratime": (True, sc.MS_NODIRATIME),
    "bind": (False, sc.MS_BIND), "rbind": (False, sc.MS_BIND | sc.MS_REC),
    "relatime": (False, sc.MS_RELATIME), "norelatime": (True, sc.MS_RELATIME),
    "strictatime": (False, sc.MS_STRICTATIME), "nostrictatime": (True, sc.MS_STRICTATIME),
    "lazytime": (False, sc.MS_LAZYTIME), "nolazytime": (True, sc.MS_LAZYTIME),
    "silent": (False, sc.MS_SILENT), "loud": (True, sc.MS_SILENT),
    "iversion": (False, sc.MS_I_VERSION), "noiversion": (True, sc.MS_I_VERSION),
    "nosymfollow": (False, sc.MS_NOSYMFOLLOW), "symfollow": (True, sc.MS_NOSYMFOLLOW),
}

# The options that choose the access-time behaviour of a mount.
ATIME_OPTIONS = frozenset({"noatime", "atime", "relatime", "norelatime", "strictatime", "nostrictatime"})

PROPAGATION: dict[str, int] = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}

# Recursive options (runc 1.1, crun): applied to the mount and every mount
# below it with mount_setattr(2) AT_RECURSIVE once the mount is made.
# option: (clear?, MOUNT_ATTR_* bit)
RECURSIVE: dict[str, tuple[bool, int]] = {
    "rro": (False, sc.MOUNT_ATTR_RDONLY), "rrw": (True, sc.MOUNT_ATTR_RDONLY),
    "rnosuid": (False, sc.MOUNT_ATTR_NOSUID), "rsuid": (True, sc.MOUNT_ATTR_NOSUID),
    "rnodev": (False, sc.MOUNT_ATTR_NODEV), "rdev": (True, sc.MOUNT_ATTR_NODEV),
    "rnoexec": (False, sc.MOUNT_ATTR_NOEXEC), "rexec": (True, sc.MOUNT_ATTR_NOEXEC),
    "rnodiratime": (False, sc.MOUNT_ATTR_NODIRATIME), "rdiratime": (True, sc.MOUNT_ATTR_NODIRATIME),
    "rnosymfollow": (False, sc.MOUNT_ATTR_NOSYMFOLLOW), "rsymfollow": (True, sc.MOUNT_ATTR_NOSYMFOLLOW),
}

# The access time is one value (an enum in the MOUNT_ATTR__ATIME bits), not
# flags: each option picks the value the mounts get. The kernel refuses
# atime bits in attr_set unless all of MOUNT_ATTR__ATIME is in attr_clr, so
# the "undo" options (ratime, rnostrictatime: back to the kernel default,
# relatime; rnorelatime: every access updates atime) pick a value too.
RECURSIVE_ATIME: dict[str, int] = {
    "rnoatime": sc.MOUNT_ATTR_NOATIME, "ratime": sc.MOUNT_ATTR_RELATIME,
    "rrelatime": sc.MOUNT_ATTR_RELATIME, "rnorelatime": sc.MOUNT_ATTR_STRICTATIME,
    "rstrictatime": sc.MOUNT_ATTR_STRICTATIME, "rnostrictatime": sc.MOUNT_ATTR_RELATIME,
}

# Extensions that are not mount flags.
TMPCOPYUP = "tmpcopyup"

# Options runc knows that this version does not implement: refused by name.
UNSUPPORTED = {"idmap", "ridmap"}

# Every option name understood (besides filesystem data), for `features`.
ALL_OPTIONS = sorted(set(FLAGS) | set(PROPAGATION) | set(RECURSIVE) | set(RECURSIVE_ATIME) | {TMPCOPYUP})


class ParsedOptions:
    __slots__ = ("flags", "cleared", "atime_given", "propagation", "rec_set", "rec_clr",
                 "tmpcopyup", "data")

    def __init__(self, flags: int, propagation: list[int], data: str, cleared: int = 0,
                 atime_given: bool = False, rec_set: int = 0, rec_clr: int = 0,
                 tmpcopyup: bool = False) -> None:
        self.flags = flags
        self.cleared = cleared          # flags an option explicitly turned off (rw, suid, ...)
        self.atime_given = atime_given  # an option chose the access-time behaviour
        self.propagation = propagation
        self.rec_set = rec_set          # MOUNT_ATTR_* for mount_setattr(AT_RECURSIVE)
        self.rec_clr = rec_clr
        self.tmpcopyup = tmpcopyup
        self.data = data

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & sc.MS_BIND)

    @property
    def recursive(self) -> bool:
        """Whether mount_setattr has anything to do."""
        return bool(self.rec_set or self.rec_clr)


# mount(8) options that only mount(8) and fstab readers act on (man mount,
# "FILESYSTEM-INDEPENDENT MOUNT OPTIONS"): never passed to the kernel.
# (Not user/users/owner/group: mount(8) turns those into nosuid,nodev,noexec,
# and not loop: it sets up a loop device. Those reach the kernel and fail.)
USERSPACE_ONLY = frozenset({"auto", "noauto", "nofail", "_netdev"})


def parse(options: list[str]) -> ParsedOptions:
    """Options in order; a later option overrides an earlier one."""
    flags = cleared = 0
    rec_set = rec_clr = 0
    atime: int | None = None
    atime_given = copyup = False
    prop: list[int] = []
    data: list[str] = []
    for o in options:
        if o in USERSPACE_ONLY or o.startswith(("x-", "comment=")):
            continue  # mount(8) consumes these itself; the kernel would refuse them as data
        if o in FLAGS:
            clear, f = FLAGS[o]
            if clear:
                flags &= ~f
                cleared |= f
            else:
                flags |= f
                cleared &= ~f
            atime_given = atime_given or o in ATIME_OPTIONS
        elif o in PROPAGATION:
            prop.append(PROPAGATION[o])
        elif o in RECURSIVE:
            clear, a = RECURSIVE[o]
            if clear:
                rec_set &= ~a
                rec_clr |= a
            else:
                rec_set |= a
                rec_clr &= ~a
        elif o in RECURSIVE_ATIME:
            atime = RECURSIVE_ATIME[o]
        elif o == TMPCOPYUP:
            copyup = True
        elif o in UNSUPPORTED:
            raise ValueError(f"mount option {o!r} is not supported by this version of pyruntime")
        else:
            data.append(o)
    if atime is not None:
        rec_set |= atime
        rec_clr |= sc.MOUNT_ATTR__ATIME
    return ParsedOptions(flags, prop, ",".join(data), cleared=cleared, atime_given=atime_given,
                         rec_set=rec_set, rec_clr=rec_clr, tmpcopyup=copyup)
