"""config-linux.md (runtime-spec v1.2, plus the 1.3 changes), all but the
"Control groups" section and its subsections (ledger_config_linux_cgroups.py).

Sections here without a MUST, MUST NOT, SHOULD or SHOULD NOT sentence, and so
without rows: "Offset for Time Namespace" (timeOffsets: checked by the time
namespace test), "Memory policy" (1.3), "Sysctl", "Rootfs Mount Propagation",
"Mount Label" and "Personality". "Containers MAY NOT access any device node
..." (Devices) is a MAY NOT, not one of the four levels. "REQUIRED"/"OPTIONAL"
field markers are schema rules, not sentences of this ledger.

Where 1.3 changed a v1.2 sentence (intelRdt: the combined l3CacheSchema and
memBwSchema, schemata as an array), the 1.3 wording is kept.
"""

from tests.conformance.ledger import S

_AUTHOR_RULE = ("a rule for the config's author, not the runtime: the spec gives the runtime no required "
                "reaction to a config that breaks it, so no runtime behaviour can pass or fail it")
_NO_RDT_REFUSAL = ("a rule for the config's author (the runtime's only possible reaction, refusing the "
                   "value, is not required); a test could not even tell such a refusal apart from the "
                   "required refusal of any intelRdt on a host without resctrl")

_NS = "Namespaces"
_DEV = "Devices"
_NET = "Network Devices"
_RDT = "IntelRdt"
_SC = "Seccomp"
_CPS = "The Container Process State"

_NS_TYPES = {
    "pid": "processes inside the container will only be able to see other processes inside the same "
           "container or inside the same pid namespace.",
    "network": "the container will have its own network stack.",
    "mount": "the container will have an isolated mount table.",
    "ipc": "processes inside the container will only be able to communicate to other processes inside the "
           "same container via system level IPC.",
    "uts": "the container will be able to have its own hostname and domain name.",
    "user": "the container will be able to remap user and group IDs from the host to local users and groups "
            "within the container.",
    "cgroup": "the container will have an isolated view of the cgroup hierarchy.",
    "time": "the container will be able to have its own clocks.",
}

_RUNC_NO_TIMENS = ("runc 1.1.5 does not know the time namespace type (runc 1.2 added it) and refuses "
                   "the config; the test follows the spec")
_RUNC_ERRNO = ("runc 1.1.5 ignores errnoRet/defaultErrnoRet on an action that takes no errno (ALLOW, LOG, "
               "KILL, KILL_PROCESS, KILL_THREAD, TRAP) and runs the container; the test follows the spec")
_RUNC_NO_NETDEV = ("runc 1.1.5 predates runtime-spec 1.3 and ignores linux.netDevices (runc 1.3 applies "
                   "it); the test follows the spec")

SENTENCES = [
    # ------------------------------------------------------------ Default Filesystems
    S("config-linux-filesystems-1", "SHOULD",
      "The following filesystems SHOULD be made available in each container's filesystem: /proc (proc), "
      "/sys (sysfs), /dev/pts (devpts), /dev/shm (tmpfs).", "Default Filesystems"),

    # ------------------------------------------------------------ Namespaces
    *[S(f"config-linux-namespaces-type-{t}", "SHOULD",
        f"The following namespace types SHOULD be supported: ... {t}: {what}", _NS,
        spec_vs_runc=_RUNC_NO_TIMENS if t == "time" else None)
      for t, what in _NS_TYPES.items()],
    S("config-linux-namespaces-path-1", "MUST",
      "path (string, OPTIONAL) - namespace file. This value MUST be an absolute path in the runtime mount "
      "namespace.", _NS, untestable=_AUTHOR_RULE),
    S("config-linux-namespaces-path-2", "MUST",
      "The runtime MUST place the container process in the namespace associated with that path.", _NS,
      spec_vs_runc=_RUNC_NO_TIMENS + " (a time namespace joined by path; every other type is joined)"),
    S("config-linux-namespaces-path-3", "MUST",
      "The runtime MUST generate an error if path is not associated with a namespace of type type.", _NS),
    S("config-linux-namespaces-new-1", "MUST",
      "If path is not specified, the runtime MUST create a new container namespace of type type.", _NS,
      spec_vs_runc=_RUNC_NO_TIMENS),
    S("config-linux-namespaces-inherit-1", "MUST",
      "If a namespace type is not specified in the namespaces array, the container MUST inherit the runtime "
      "namespace of that type.", _NS),
    S("config-linux-namespaces-dup-1", "MUST",
      "If a namespaces field contains duplicated namespaces with same type, the runtime MUST generate an "
      "error.", _NS),

    # ------------------------------------------------------------ User namespace mappings
    S("config-linux-userns-1", "SHOULD NOT",
      "The runtime SHOULD NOT modify the ownership of referenced filesystems to realize the mapping.",
      "User namespace mappings"),

    # ------------------------------------------------------------ Devices
    S("config-linux-devices-1", "MUST",
      "devices (array of objects, OPTIONAL) lists devices that MUST be available in the container.", _DEV),
    S("config-linux-devices-2", "MUST",
      "If a file already exists at path that does not match the requested device, the runtime MUST generate "
      "an error.", _DEV,
      spec_vs_runc="runc 1.1.5 ignores EEXIST from mknod: a regular file, or a node of another device, "
                   "already at path is kept and the container runs; the test follows the spec"),
    S("config-linux-devices-3", "SHOULD NOT",
      "The same type, major and minor SHOULD NOT be used for multiple devices.", _DEV,
      untestable=_AUTHOR_RULE),
    S("config-linux-default-devices-1", "MUST",
      "In addition to any devices configured with this setting, the runtime MUST also supply: /dev/null, "
      "/dev/zero, /dev/full, /dev/random, /dev/urandom, /dev/tty ...", "Default Devices"),
    S("config-linux-default-devices-2", "MUST",
      "(the runtime MUST also supply:) /dev/console is set up if terminal is enabled in the config by bind "
      "mounting the pseudoterminal pty to /dev/console.", "Default Devices"),
    S("config-linux-default-devices-3", "MUST",
      "(the runtime MUST also supply:) /dev/ptmx. A bind-mount or symlink of the container's /dev/pts/ptmx.",
      "Default Devices"),

    # ------------------------------------------------------------ Network Devices (1.3)
    S("config-linux-netdevices-1", "MUST",
      "netDevices (object, OPTIONAL) - A set of network devices that MUST be made available in the "
      "container.", _NET, since="1.3.0", spec_vs_runc=_RUNC_NO_NETDEV),
    S("config-linux-netdevices-2", "MUST",
      "The runtime MUST check if moving the network interface to the container namespace is possible.",
      _NET, since="1.3.0", spec_vs_runc=_RUNC_NO_NETDEV),
    S("config-linux-netdevices-3", "MUST",
      "If a network device with the specified name already exists in the container namespace, the runtime "
      "MUST generate an error, unless the user has provided a template by appending %d to the new name.",
      _NET, since="1.3.0", spec_vs_runc=_RUNC_NO_NETDEV),
    S("config-linux-netdevices-4", "MUST",
      "In that case (a %d template), the runtime MUST allow the move, and the kernel will generate a unique "
      "name for the interface within the container's network namespace.", _NET, since="1.3.0",
      spec_vs_runc=_RUNC_NO_NETDEV),
    S("config-linux-netdevices-5", "MUST",
      "The runtime MUST preserve existing network interface attributes, including all permanent IP addresses "
      "(IFA_F_PERMANENT flag) of any family with global scope (RT_SCOPE_UNIVERSE value) ...", _NET,
      since="1.3.0", spec_vs_runc=_RUNC_NO_NETDEV),
    S("config-linux-netdevices-6", "MUST",
      "The runtime MUST set the network device state to \"up\" after moving it to the network namespace to "
      "allow the container to send and receive network traffic through that device.", _NET, since="1.3.0",
      spec_vs_runc=_RUNC_NO_NETDEV),
    S("config-linux-netdevices-7", "MUST NOT",
      "The runtime MUST NOT actively manage the interface's lifecycle and configuration within the "
      "container's network namespace.", "Namespace Lifecycle and Container Termination", since="1.3.0",
      untestable="a negative over the container's whole life: whatever the runtime might do to the interface "
                 "later (a re-address, a down/up) has no defined moment to look at, and what the runtime "
                 "must do at create (move, rename, up) is itself a change; the one concrete case, moving it "
                 "out at delete, is config-linux-netdevices-8"),
    S("config-linux-netdevices-8", "MUST NOT",
      "The runtime MUST NOT attempt to move the interface out of the namespace before deletion.",
      "Namespace Lifecycle and Container Termination", since="1.3.0", spec_vs_runc=_RUNC_NO_NETDEV),

    # ------------------------------------------------------------ IntelRdt
    S("config-linux-intelrdt-1", "MUST",
      "If intelRdt is set, the runtime MUST write the container process ID to the tasks file in a proper "
      "sub-directory in a mounted resctrl pseudo-filesystem.", _RDT),
    S("config-linux-intelrdt-2", "MUST",
      "If no mounted resctrl pseudo-filesystem is available in the runtime mount namespace, the runtime MUST "
      "generate an error.", _RDT,
      spec_vs_runc="runc 1.1.5 checks for resctrl only when l3CacheSchema or memBwSchema is set: an intelRdt "
                   "with just a closID is accepted on a host without resctrl; the test follows the spec"),
    S("config-linux-intelrdt-3", "MUST NOT",
      "If intelRdt is not set, the runtime MUST NOT manipulate any resctrl pseudo-filesystems.", _RDT),
    S("config-linux-intelrdt-4", "MUST",
      "closID: As a special case, value / means that the container MUST be assigned to the default CLOS (the "
      "root of the resctrl filesystem).", _RDT, since="1.3.0"),
    S("config-linux-intelrdt-5", "SHOULD",
      "l3CacheSchema: The value SHOULD start with L3: ...", _RDT, untestable=_NO_RDT_REFUSAL),
    S("config-linux-intelrdt-6", "SHOULD NOT",
      "l3CacheSchema: ... and SHOULD NOT contain newlines.", _RDT, untestable=_NO_RDT_REFUSAL),
    S("config-linux-intelrdt-7", "MUST",
      "memBwSchema: The value MUST start with MB: ...", _RDT, untestable=_NO_RDT_REFUSAL),
    S("config-linux-intelrdt-8", "MUST NOT",
      "memBwSchema: ... and MUST NOT contain newlines.", _RDT, untestable=_NO_RDT_REFUSAL),
    S("config-linux-intelrdt-9", "MUST NOT",
      "schemata (array of strings): Each element represents one line in the schemata file. The value MUST NOT "
      "contain newlines.", _RDT, since="1.3.0", untestable=_NO_RDT_REFUSAL),
    S("config-linux-intelrdt-10", "MUST",
      "If both l3CacheSchema and memBwSchema are set, runtimes MUST write the values to the schemata file in "
      "that sub-directory discussed in closID. The runtimes MUST write l3CacheSchema first and memBwSchema "
      "last.", _RDT),
    S("config-linux-intelrdt-11", "MUST",
      "If either l3CacheSchema or memBwSchema is set, runtimes MUST write the value to the schemata file in "
      "the that sub-directory discussed in closID.", _RDT),
    S("config-linux-intelrdt-12", "MUST",
      "If schemata field is set, runtimes MUST write the value to the schemata file in the that sub-directory "
      "discussed in closID. (... written last, after l3CacheSchema and memBwSchema.)", _RDT, since="1.3.0"),
    S("config-linux-intelrdt-13", "MUST NOT",
      "If none of l3CacheSchema, memBwSchema or schemata is set, runtimes MUST NOT write to schemata files in "
      "any resctrl pseudo-filesystems.", _RDT),
    S("config-linux-intelrdt-14", "MUST",
      "If closID is not set, runtimes MUST use the container ID from start and create the <container-id> "
      "directory.", _RDT),
    S("config-linux-intelrdt-15", "MUST",
      "If closID is set, l3CacheSchema and/or memBwSchema and/or schemata is set: if closID directory in a "
      "mounted resctrl pseudo-filesystem doesn't exist, the runtimes MUST create it.", _RDT),
    S("config-linux-intelrdt-16", "MUST",
      "... if closID directory in a mounted resctrl pseudo-filesystem exists, runtimes MUST compare "
      "l3CacheSchema and/or memBwSchema value with schemata file, and generate an error if doesn't match.",
      _RDT),
    S("config-linux-intelrdt-17", "MUST",
      "If closID is set, and none of l3CacheSchema, memBwSchema or schemata are set, runtime MUST check if "
      "corresponding pre-configured directory closID is present in mounted resctrl. If such pre-configured "
      "directory closID exists, runtime MUST assign container to this closID and generate an error if "
      "directory does not exist.", _RDT),
    S("config-linux-intelrdt-18", "MUST",
      "If closID is not set and the runtime has created the sub-directory, the runtime MUST remove the "
      "sub-directory when the container is deleted.", _RDT, since="1.3.0"),
    S("config-linux-intelrdt-19", "MUST NOT",
      "If closID is set or the runtime has not created the sub-directory, the runtime MUST NOT remove the "
      "sub-directory when the container is deleted.", _RDT, since="1.3.0"),
    S("config-linux-intelrdt-20", "MUST",
      "If enableMonitoring is set, the runtime MUST create a dedicated MON group for the container. The "
      "runtime MUST use the container ID from start as the name of the MON group, i.e. create "
      "mon_groups/<container-id>/ ...", _RDT, since="1.3.0"),
    S("config-linux-intelrdt-21", "MUST",
      "The runtime MUST delete the MON group after the container is deleted.", _RDT, since="1.3.0"),
    S("config-linux-intelrdt-22", "MUST",
      "If creation of the MON group fails (e.g. the maximum number of MON groups is reached) the runtime MUST "
      "return an error.", _RDT, since="1.3.0",
      untestable="needs the kernel to refuse a MON group: exhausting the hardware's RMIDs (tens to hundreds, "
                 "shared with the whole host) from a test would disturb every other monitored group; and "
                 "this machine has no resctrl at all"),

    # ------------------------------------------------------------ Seccomp
    S("config-linux-seccomp-1", "MUST",
      "defaultErrnoRet: ... When the action doesn't support an errno, the runtime MUST print and error and "
      "fail.", _SC, spec_vs_runc=_RUNC_ERRNO),
    S("config-linux-seccomp-2", "MUST",
      "listenerPath: This socket MUST use AF_UNIX domain and SOCK_STREAM type.", _SC),
    S("config-linux-seccomp-3", "MUST",
      "The runtime MUST send exactly one container process state per connection.", _SC),
    S("config-linux-seccomp-4", "MUST NOT",
      "The connection MUST NOT be reused ...", _SC),
    S("config-linux-seccomp-5", "MUST",
      "... and it MUST be closed after sending a seccomp state.", _SC),
    S("config-linux-seccomp-6", "MUST",
      "If sending to this socket fails, the runtime MUST generate an error.", _SC),
    S("config-linux-seccomp-7", "MUST NOT",
      "listenerMetadata: This field MUST NOT be set if listenerPath is not set.", _SC,
      untestable=_AUTHOR_RULE),
    S("config-linux-seccomp-8", "MUST",
      "syscalls[].names: names MUST contain at least one entry.", _SC, untestable=_AUTHOR_RULE),
    S("config-linux-seccomp-9", "MUST",
      "syscalls[].errnoRet: ... When the action doesn't support an errno, the runtime MUST print and error "
      "and fail.", _SC, spec_vs_runc=_RUNC_ERRNO),
    S("config-linux-seccomp-10", "MUST",
      "The container runtime MUST send the container process state over the UNIX socket as regular payload "
      "serialized in JSON ...", _CPS),
    S("config-linux-seccomp-11", "MUST",
      "... and file descriptors MUST be sent using SCM_RIGHTS.", _CPS),
    S("config-linux-seccomp-12", "MUST",
      "If more than one sendmsg(2) is used, the file descriptors MUST be sent only in the first call.", _CPS),

    # ------------------------------------------------------------ Masked / Readonly Paths
    S("config-linux-masked-paths-1", "MUST",
      "maskedPaths ... will mask over the provided paths inside the container so that they cannot be read. "
      "The values MUST be absolute paths in the container namespace.", "Masked Paths"),
    S("config-linux-readonly-paths-1", "MUST",
      "readonlyPaths ... will set the provided paths as readonly inside the container. The values MUST be "
      "absolute paths in the container namespace.", "Readonly Paths"),
]
