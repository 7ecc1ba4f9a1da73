"""config-linux.md "Control groups" and its subsections (runtime-spec v1.2,
plus the 1.3 changes): cgroupsPath, cgroup ownership, the allowed device
list, memory, cpu, blockIO, hugepage limits, network, pids, rdma, unified.

Most resource fields carry no RFC 2119 keyword of their own; they are
normative through runtime.md's create operation ("All of the properties
configured in config.json except for process MUST be applied"), so each
field (or group of fields written together) has an entry at MUST with the
field's own description as its text."""

from tests.conformance.ledger import S

CG = "Control groups"
PATH = "Cgroups Path"
OWN = "Cgroup ownership"
DEV = "Allowed Device list"
MEM = "Memory"
CPU = "CPU"
BLK = "Block IO"
HUGE = "Huge page limits"
NET = "Network"
PIDS = "PIDs"
RDMA = "RDMA"
UNI = "Unified"
APPLIED = " [normative through runtime.md create: all properties except process MUST be applied]"


SENTENCES = [
    S("config-linux-cgroups-1", "MUST",
      "A runtime MAY, during a particular container operation, such as create, start, or exec, check if the "
      "container cgroup is fit for purpose, and MUST generate an error if such a check fails. For example, a "
      "frozen cgroup or (for create operation) a non-empty cgroup.", CG),

    # ------------------------------------------------------------ cgroupsPath
    S("config-linux-cgroups-path-1", "MUST",
      "The value of cgroupsPath MUST be either an absolute path or a relative path.", PATH,
      untestable="a requirement on the config's author; every non-empty string is one or the other"),
    S("config-linux-cgroups-path-2", "MUST",
      "In the case of an absolute path (starting with /), the runtime MUST take the path to be relative to "
      "the cgroups mount point.", PATH),
    S("config-linux-cgroups-path-3", "MUST",
      "If the value is specified, the runtime MUST consistently attach to the same place in the cgroups "
      "hierarchy given the same value of cgroupsPath.", PATH),
    S("config-linux-cgroups-path-4", "MUST",
      "Runtimes MAY consider certain cgroupsPath values to be invalid, and MUST generate an error if this is "
      "the case.", PATH),

    # ------------------------------------------------------------ ownership
    S("config-linux-cgroups-ownership-1", "SHOULD NOT",
      "Runtimes SHOULD NOT change the ownership of container cgroups when cgroups v1 is in use.", OWN),
    S("config-linux-cgroups-ownership-2", "SHOULD NOT",
      "A runtime SHOULD NOT change the ownership of a container cgroup unless it will also create a new "
      "cgroup namespace for the container.", OWN),
    S("config-linux-cgroups-ownership-3", "SHOULD",
      "Runtimes SHOULD change the cgroup ownership if and only if the cgroup filesystem is to be mounted "
      "read/write; that is, when the configuration's mounts array contains an object where source is "
      "\"cgroup\", destination is \"/sys/fs/cgroup\" and options does not contain \"ro\".", OWN),
    S("config-linux-cgroups-ownership-4", "SHOULD NOT",
      "If the configuration does not specify such a mount, the runtime SHOULD NOT change the cgroup "
      "ownership.", OWN),
    S("config-linux-cgroups-ownership-5", "SHOULD",
      "A runtime that changes the cgroup ownership SHOULD only change the ownership of the container's cgroup "
      "directory and files within that directory that are listed in /sys/kernel/cgroup/delegate.", OWN),
    S("config-linux-cgroups-ownership-6", "MUST NOT",
      "Note that not all files listed in /sys/kernel/cgroup/delegate necessarily exist in every cgroup. "
      "Runtimes MUST NOT fail in this scenario, ...", OWN),
    S("config-linux-cgroups-ownership-7", "SHOULD",
      "... and SHOULD change the ownership of the listed files that do exist in the cgroup.", OWN),
    S("config-linux-cgroups-ownership-8", "MUST",
      "If the /sys/kernel/cgroup/delegate file does not exist, the runtime MUST fall back to using the "
      "following list of files: cgroup.procs, cgroup.subtree_control, cgroup.threads", OWN),
    S("config-linux-cgroups-ownership-9", "SHOULD NOT",
      "The runtime SHOULD NOT change the ownership of any other files.", OWN),

    # ------------------------------------------------------------ devices
    S("config-linux-cgroups-devices-1", "MUST",
      "devices (array of objects, OPTIONAL) configures the allowed device list. The runtime MUST apply "
      "entries in the listed order.", DEV),

    # ------------------------------------------------------------ memory
    S("config-linux-cgroups-memory-1", "MUST",
      "checkBeforeUpdate: If enabled (true), runtime MAY check if a new memory limit is lower than the "
      "current usage, and MUST reject the new limit.", MEM,
      untestable="about updating the limits of a running container, an operation the runtime spec does not "
      "define (runc's `update` is an extension); create sets the first limit, there is no 'new' one"),
    S("config-linux-cgroups-memory-2", "MUST", "limit (int64, OPTIONAL) - sets limit of memory usage" + APPLIED, MEM),
    S("config-linux-cgroups-memory-3", "MUST",
      "reservation (int64, OPTIONAL) - sets soft limit of memory usage" + APPLIED, MEM),
    S("config-linux-cgroups-memory-4", "MUST",
      "swap (int64, OPTIONAL) - sets limit of memory+Swap usage" + APPLIED, MEM),
    S("config-linux-cgroups-memory-5", "MUST",
      "kernel (int64, OPTIONAL, NOT RECOMMENDED) - sets hard limit for kernel memory" + APPLIED, MEM),
    S("config-linux-cgroups-memory-6", "MUST",
      "kernelTCP (int64, OPTIONAL, NOT RECOMMENDED) - sets hard limit for kernel TCP buffer memory" + APPLIED,
      MEM, spec_vs_runc="runc 1.1.5 leaves memory.kmem.tcp.limit_in_bytes unlimited although the kernel "
      "accepts the value; the test follows the spec"),
    S("config-linux-cgroups-memory-7", "MUST",
      "swappiness (uint64, OPTIONAL) - sets swappiness parameter of vmscan" + APPLIED, MEM),
    S("config-linux-cgroups-memory-8", "MUST",
      "disableOOMKiller (bool, OPTIONAL) - enables or disables the OOM killer. ... To disable it, specify a "
      "value of true." + APPLIED, MEM),
    S("config-linux-cgroups-memory-9", "MUST",
      "useHierarchy (bool, OPTIONAL) - enables or disables hierarchical memory accounting." + APPLIED, MEM,
      spec_vs_runc="runc 1.1.5 ignores useHierarchy: with false it runs the container with hierarchical "
      "accounting on (this kernel refuses to turn it off, so the field cannot be applied); the test follows "
      "the spec: applied, or an error"),
    S("config-linux-cgroups-memory-10", "MUST",
      "Values for memory specify the limit in bytes, or -1 for unlimited memory." + APPLIED, MEM),

    # ------------------------------------------------------------ cpu
    S("config-linux-cgroups-cpu-1", "MUST",
      "quota: If specified with any (valid) positive value, it MUST be no smaller than burst (runtimes MAY "
      "generate an error).", CPU,
      untestable="a requirement on the config's author: for a config that breaks it a runtime MAY generate "
      "an error and nothing else is required; a config that keeps it is checked by "
      "config-linux-cgroups-cpu-5"),
    S("config-linux-cgroups-cpu-2", "MUST",
      "burst: If specified, this value MUST be no larger than any positive quota (runtimes MAY generate an "
      "error).", CPU,
      untestable="a requirement on the config's author (see config-linux-cgroups-cpu-1)"),
    S("config-linux-cgroups-cpu-3", "MUST",
      "shares (uint64, OPTIONAL) - specifies a relative share of CPU time available to the tasks in a "
      "cgroup" + APPLIED, CPU),
    S("config-linux-cgroups-cpu-4", "MUST",
      "quota (int64, OPTIONAL) ... during one period; period (uint64, OPTIONAL) - specifies a period of time "
      "in microseconds for how regularly a cgroup's access to CPU resources should be reallocated" + APPLIED,
      CPU),
    S("config-linux-cgroups-cpu-5", "MUST",
      "burst (uint64, OPTIONAL) - specifies the maximum amount of accumulated time in microseconds for which "
      "all tasks in a cgroup can run additionally for burst during one period" + APPLIED, CPU,
      spec_vs_runc="runc 1.1.5 predates burst (added in runc 1.2) and ignores it: cpu.cfs_burst_us stays 0"),
    S("config-linux-cgroups-cpu-6", "MUST",
      "realtimeRuntime (int64, OPTIONAL) ...; realtimePeriod (uint64, OPTIONAL) - same as period but applies "
      "to realtime scheduler only" + APPLIED, CPU),
    S("config-linux-cgroups-cpu-7", "MUST",
      "cpus (string, OPTIONAL) - list of CPUs the container will run on." + APPLIED, CPU),
    S("config-linux-cgroups-cpu-8", "MUST",
      "mems (string, OPTIONAL) - list of memory nodes the container will run on." + APPLIED, CPU),
    S("config-linux-cgroups-cpu-9", "MUST",
      "idle (int64, OPTIONAL) - cgroups are configured with minimum weight, 0: default behavior, 1: "
      "SCHED_IDLE." + APPLIED, CPU,
      spec_vs_runc="runc 1.1.5 writes cpu.idle on cgroup v2 only; on v1 it leaves cpu.idle at 0"),

    # ------------------------------------------------------------ blockIO
    S("config-linux-cgroups-blockio-1", "MUST",
      "weightDevice: You MUST specify at least one of weight or leafWeight in a given entry, and MAY specify "
      "both.", BLK,
      untestable="a requirement on the config's author; the spec does not say what a runtime does with an "
      "entry that has neither"),
    S("config-linux-cgroups-blockio-2", "MUST",
      "weight (uint16, OPTIONAL) - specifies per-cgroup weight; leafWeight (uint16, OPTIONAL)" + APPLIED, BLK),
    S("config-linux-cgroups-blockio-3", "MUST",
      "weightDevice (array of objects, OPTIONAL) - an array of per-device bandwidth weights" + APPLIED, BLK),
    S("config-linux-cgroups-blockio-4", "MUST",
      "throttleReadBpsDevice, throttleWriteBpsDevice (array of objects, OPTIONAL) - an array of per-device "
      "bandwidth rate limits" + APPLIED, BLK),
    S("config-linux-cgroups-blockio-5", "MUST",
      "throttleReadIOPSDevice, throttleWriteIOPSDevice (array of objects, OPTIONAL) - an array of per-device "
      "IO rate limits" + APPLIED, BLK),

    # ------------------------------------------------------------ hugetlb
    S("config-linux-cgroups-hugepage-1", "MUST",
      "hugepageLimits (array of objects, OPTIONAL) represents the hugetlb controller which allows to limit "
      "the HugeTLB reservations (if supported) or usage (page fault)." + APPLIED, HUGE),

    # ------------------------------------------------------------ network
    S("config-linux-cgroups-network-1", "MUST",
      "classID (uint32, OPTIONAL) - is the network class identifier the cgroup's network packets will be "
      "tagged with" + APPLIED, NET),
    S("config-linux-cgroups-network-2", "MUST",
      "priorities (array of objects, OPTIONAL) - specifies a list of objects of the priorities assigned to "
      "traffic originating from processes in the group and egressing the system on various interfaces"
      + APPLIED, NET),

    # ------------------------------------------------------------ pids
    S("config-linux-cgroups-pids-1", "MUST",
      "limit (int64, OPTIONAL) - specifies the maximum number of tasks in the cgroup, with -1 indicating no "
      "limit (max)." + APPLIED, PIDS),
    S("config-linux-cgroups-pids-2", "SHOULD",
      "Note: Even though it may superficially seem redundant, 0 is a valid limit value for the pids cgroup "
      "controller from the kernel's perspective and SHOULD be treated as such by runtimes.", PIDS,
      since="1.3.0",
      spec_vs_runc="runc 1.1.5 (like the pre-1.3 reading of the spec) takes limit 0 as 'no limit' and leaves "
      "pids.max at max; runc 1.4 follows 1.3"),

    # ------------------------------------------------------------ rdma
    S("config-linux-cgroups-rdma-1", "MUST",
      "You MUST specify at least one of the hcaHandles or hcaObjects in a given entry, and MAY specify both.",
      RDMA, untestable="a requirement on the config's author; the spec does not say what a runtime does with "
      "an entry that has neither"),
    S("config-linux-cgroups-rdma-2", "MUST",
      "hcaHandles (uint32, OPTIONAL) - specifies the maximum number of hca_handles in the cgroup; hcaObjects "
      "(uint32, OPTIONAL) - the maximum number of hca_objects" + APPLIED, RDMA),

    # ------------------------------------------------------------ unified
    S("config-linux-cgroups-unified-1", "MUST",
      "The OCI runtime MUST ensure that the needed cgroup controllers are enabled for the cgroup.", UNI,
      spec_vs_runc="runc 1.1.5 refuses linux.resources.unified on a hybrid host ('cannot use unified on "
      "cgroup v1') although its cgroup2 hierarchy has controllers (hugetlb here)"),
    S("config-linux-cgroups-unified-2", "MUST",
      "Configuration unknown to the runtime MUST still be written to the relevant file.", UNI,
      spec_vs_runc="runc 1.1.5 refuses linux.resources.unified on a hybrid host"),
    S("config-linux-cgroups-unified-3", "MUST",
      "The runtime MUST generate an error when the configuration refers to a cgroup controller that is not "
      "present or that cannot be enabled.", UNI,
      spec_vs_runc="runc 1.1.5 refuses every linux.resources.unified entry on a hybrid host ('cannot use "
      "unified on cgroup v1'), so its refusal of a missing controller shows nothing: the test requires an "
      "entry for a core cgroup2 file to be accepted first, as the spec does"),
    S("config-linux-cgroups-unified-4", "MUST",
      "If a controller is enabled on the cgroup v2 hierarchy but the configuration is provided for the cgroup "
      "v1 equivalent controller, the runtime MAY attempt a conversion. If the conversion is not possible the "
      "runtime MUST generate an error.", UNI),
]
