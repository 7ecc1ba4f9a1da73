"""config.md (runtime-spec v1.2, plus 1.3 changes), Linux platform.

Source: the search tool's store holds config.md only as of runtime-spec
v1.0.x (commit 29686dbc); the sentences that v1.1 and v1.2 added or changed
(mount destination, Linux mount options, idmapped mounts, the capabilities
warning, execCPUAffinity, the createRuntime/createContainer/startContainer
hooks) are written from the v1.2 text as published and shortened with "...".
runtime-spec 1.3 (PRs since 1.2.1) changed config-linux.md, config-vm.md and
added config-freebsd.md; its only config.md addition found, the `freebsd`
platform object, is a MAY, so no sentence here carries since="1.3.0".

Sentences about the config's author rather than the runtime are listed too,
with the reason no runtime test can check them; where a config constraint
makes a config invalid, the runtime's duty is "Valid values" (config-valid-1)
and the test checks that the runtime refuses such a config.
"""

from tests.conformance.ledger import S

WINDOWS = "applies to Windows only"
SOLARIS = "applies to Solaris only"

SENTENCES = [
    # ------------------------------------------------------------ Specification version
    S("config-version-1", "MUST",
      "ociVersion (string, REQUIRED) MUST be in SemVer v2.0.0 format and specifies the version of the "
      "Open Container Initiative Runtime Specification with which the bundle complies.",
      "Specification version",
      spec_vs_runc="runc 1.1.5 never parses ociVersion: it runs a config whose ociVersion is not "
                   "SemVer. The test follows the spec with \"Valid values\": such a config is invalid "
                   "and the runtime must refuse it."),

    # ------------------------------------------------------------ Root
    S("config-root-1", "MUST NOT",
      "For Hyper-V Containers, this field MUST NOT be set.", "Root", untestable=WINDOWS),
    S("config-root-path-1", "MUST",
      "On Windows, path MUST be a volume GUID path.", "Root", untestable=WINDOWS),
    S("config-root-path-2", "SHOULD",
      "On POSIX platforms, path is either an absolute path or a relative path to the bundle ... "
      "The value SHOULD be the conventional rootfs.", "Root",
      untestable="a naming convention for the bundle's author: a runtime must accept any path "
                 "(a relative or absolute one is tested under config-root-path-3)"),
    S("config-root-path-3", "MUST",
      "A directory MUST exist at the path declared by the field.", "Root"),
    S("config-root-readonly-1", "MUST",
      "readonly (bool, OPTIONAL) If true then the root filesystem MUST be read-only inside the "
      "container, defaults to false.", "Root"),
    S("config-root-readonly-2", "MUST",
      "On Windows, this field MUST be omitted or false.", "Root", untestable=WINDOWS),

    # ------------------------------------------------------------ Mounts
    S("config-mounts-1", "MUST",
      "The runtime MUST mount entries in the listed order.", "Mounts"),
    S("config-mounts-dest-1", "SHOULD",
      "destination ... Linux: This value SHOULD be an absolute path.", "Mounts",
      untestable="a duty of the config's author; what the runtime does with a relative "
                 "destination is config-mounts-dest-2"),
    S("config-mounts-dest-2", "MUST",
      "For compatibility with old tools and configurations, it MAY be a relative path, in which case "
      "it MUST be interpreted as relative to \"/\". Relative paths are deprecated.", "Mounts"),
    S("config-mounts-dest-3", "MUST",
      "Windows: This value MUST be an absolute path.", "Mounts", untestable=WINDOWS),
    S("config-mounts-dest-4", "MUST NOT",
      "Windows: one mount destination MUST NOT be nested within another mount (e.g., c:\\foo and "
      "c:\\foo\\bar).", "Mounts", untestable=WINDOWS),
    S("config-mounts-dest-5", "MUST",
      "Solaris: This value MUST be an absolute path.", "Mounts", untestable=SOLARIS),
    S("config-mounts-options-1", "MUST",
      "Windows: runtimes MUST support ro, mounting the filesystem read-only when ro is given.",
      "Mounts", untestable=WINDOWS),
    S("config-mounts-linux-options-1", "MUST",
      "Linux mount options: runtimes MUST implement the options marked MUST: async, atime, defaults, "
      "dev, diratime, dirsync, exec, iversion, lazytime, loud, noatime, nodev, nodiratime, noexec, "
      "noiversion, nolazytime, norelatime, nostrictatime, nosuid, relatime, remount, ro, rw, silent, "
      "strictatime, suid, sync.", "Mounts / Linux mount options",
      spec_vs_runc="runc 1.1.5 does not know `defaults`: it passes it to mount(2) as filesystem "
                   "data and the mount fails (EINVAL)"),
    S("config-mounts-linux-options-2", "MUST",
      "Linux mount options: bind and rbind are MUST (a mount is a bind mount if it has either bind "
      "or rbind in the options).", "Mounts / Linux mount options"),
    S("config-mounts-linux-options-3", "MUST",
      "Linux mount options: the propagation options private, rprivate, shared, rshared, slave, "
      "rslave, unbindable, runbindable are MUST.", "Mounts / Linux mount options"),
    S("config-mounts-linux-options-4", "SHOULD",
      "Linux mount options: the recursive mount attributes rro, rrw, rnosuid, rsuid, rnodev, rdev, "
      "rnoexec, rexec, rnodiratime, rdiratime, rrelatime, rnorelatime, rnoatime, ratime, "
      "rstrictatime, rnostrictatime, rnosymfollow, rsymfollow are SHOULD (mount_setattr(2) with "
      "AT_RECURSIVE).", "Mounts / Linux mount options"),
    S("config-mounts-linux-options-5", "SHOULD",
      "Linux mount options: nosymfollow and symfollow are SHOULD (Linux 5.10).",
      "Mounts / Linux mount options"),
    S("config-mounts-linux-options-6", "SHOULD",
      "Linux mount options: idmap and ridmap are SHOULD: the mount is idmapped with the mount's "
      "uidMappings and gidMappings (recursively for ridmap).", "Mounts / Linux mount options",
      spec_vs_runc="runc 1.1.5 predates idmapped mounts (runc 1.2): it passes idmap to mount(2) as "
                   "data, which a bind mount ignores, so the mount is not idmapped"),
    S("config-mounts-posix-idmap-1", "SHOULD",
      "uidMappings/gidMappings (POSIX-platform Mounts) ... If specified, the options field of the "
      "mounts structure SHOULD contain either idmap or ridmap to specify whether the mapping should "
      "be applied recursively for rbind mounts, as well as to ensure that older runtimes will not "
      "silently ignore this field.", "Mounts / POSIX-platform Mounts",
      untestable="a duty of the config's author (which option to write next to the mappings); the "
                 "runtime's handling of idmap is config-mounts-linux-options-6"),

    # ------------------------------------------------------------ Process
    S("config-process-consolesize-1", "MUST",
      "consoleSize ... Runtimes MUST ignore consoleSize if terminal is false or unset.", "Process"),
    S("config-process-cwd-1", "MUST",
      "cwd (string, REQUIRED) is the working directory that will be set for the executable. This "
      "value MUST be an absolute path.", "Process"),
    S("config-process-args-1", "MUST",
      "args ... This specification extends the IEEE standard in that at least one entry is REQUIRED "
      "(non-Windows), and that entry is used with the same semantics as execvp's file.", "Process"),
    S("config-process-rlimits-1", "MUST",
      "rlimits type ... The runtime MUST generate an error for any values which cannot be mapped to "
      "a relevant kernel interface.", "POSIX process"),
    S("config-process-rlimits-2", "MUST",
      "For each entry in rlimits, a getrlimit(3) on type MUST succeed.", "POSIX process"),
    S("config-process-rlimits-3", "MUST",
      "soft ... rlim.rlim_cur MUST match the configured value.", "POSIX process"),
    S("config-process-rlimits-4", "MUST",
      "hard ... rlim.rlim_max MUST match the configured value.", "POSIX process"),
    S("config-process-rlimits-5", "MUST",
      "If rlimits contains duplicated entries with same type, the runtime MUST generate an error.",
      "POSIX process"),
    S("config-process-caps-1", "MUST",
      "capabilities ... Any value which cannot be mapped to a relevant kernel interface, or cannot be "
      "granted otherwise MUST be logged as a warning by the runtime.", "Linux Process"),
    S("config-process-caps-2", "SHOULD NOT",
      "Runtimes SHOULD NOT fail if the container configuration requests capabilities that cannot be "
      "granted, for example, if the runtime operates in a restricted environment with limited "
      "capabilities.", "Linux Process"),
    S("config-process-oom-1", "MUST",
      "If oomScoreAdj is set, the runtime MUST set oom_score_adj to the given value.", "Linux Process"),
    S("config-process-oom-2", "MUST NOT",
      "If oomScoreAdj is not set, the runtime MUST NOT change the value of oom_score_adj.",
      "Linux Process"),
    S("config-process-execcpuaffinity-1", "SHOULD NOT",
      "execCPUAffinity final ... If omitted or empty, runtime SHOULD NOT change process' CPU affinity "
      "after the process is moved to container's cgroup, and the final affinity is determined by "
      "the Linux kernel.", "Linux Process"),

    # ------------------------------------------------------------ Platform-specific configuration
    S("config-platform-1", "MUST",
      "windows (object, OPTIONAL) Windows-specific configuration. This MUST be set if the target "
      "platform of this spec is windows.", "Platform-specific configuration", untestable=WINDOWS),

    # ------------------------------------------------------------ POSIX-platform Hooks
    S("config-hooks-path-1", "MUST",
      "path (string, REQUIRED) with similar semantics to IEEE Std 1003.1-2008 execv's path. This "
      "specification extends the IEEE standard in that path MUST be absolute.", "POSIX-platform Hooks",
      spec_vs_runc="runc 1.1.5 does not check: it runs a relative hook path from the bundle "
                   "directory (its cwd for hooks). The test follows the spec with \"Valid values\": "
                   "the config is invalid and must be refused."),
    S("config-hooks-timeout-1", "MUST",
      "timeout (int, OPTIONAL) is the number of seconds before aborting the hook. If set, timeout "
      "MUST be greater than zero.", "POSIX-platform Hooks"),
    S("config-hooks-order-1", "MUST",
      "Hooks MUST be called in the listed order.", "POSIX-platform Hooks"),
    S("config-hooks-state-1", "MUST",
      "The state of the container MUST be passed to hooks over stdin so that they may do work "
      "appropriate to the current state of the container.", "POSIX-platform Hooks"),
    S("config-hooks-prestart-1", "MUST",
      "The prestart hooks MUST be called as part of the create operation after the runtime "
      "environment has been created (according to the configuration in config.json) but before the "
      "pivot_root or any equivalent operation has been executed.", "Prestart"),
    S("config-hooks-prestart-2", "MUST",
      "The prestart hooks MUST be called before the createRuntime hooks.", "Prestart"),
    S("config-hooks-prestart-3", "MUST",
      "The prestart hooks' path MUST resolve in the runtime namespace.", "Prestart"),
    S("config-hooks-prestart-4", "MUST",
      "The prestart hooks MUST be executed in the runtime namespace.", "Prestart"),
    S("config-hooks-createruntime-1", "MUST",
      "The createRuntime hooks MUST be called as part of the create operation after the runtime "
      "environment has been created ... but before the pivot_root or any equivalent operation has "
      "been executed.", "CreateRuntime Hooks"),
    S("config-hooks-createruntime-2", "MUST",
      "The createRuntime hooks' path MUST resolve in the runtime namespace.", "CreateRuntime Hooks"),
    S("config-hooks-createruntime-3", "MUST",
      "The createRuntime hooks MUST be executed in the runtime namespace.", "CreateRuntime Hooks"),
    S("config-hooks-createcontainer-1", "MUST",
      "The createContainer hooks MUST be called as part of the create operation after the runtime "
      "environment has been created ... but before the pivot_root or any equivalent operation has "
      "been executed.", "CreateContainer Hooks"),
    S("config-hooks-createcontainer-2", "MUST",
      "The createContainer hooks MUST be called after the createRuntime hooks.", "CreateContainer Hooks"),
    S("config-hooks-createcontainer-3", "MUST",
      "The createContainer hooks' path MUST resolve in the runtime namespace.", "CreateContainer Hooks"),
    S("config-hooks-createcontainer-4", "MUST",
      "The createContainer hooks MUST be executed in the container namespace.", "CreateContainer Hooks"),
    S("config-hooks-startcontainer-1", "MUST",
      "The startContainer hooks MUST be called before the user-specified process is executed as part "
      "of the start operation.", "StartContainer Hooks"),
    S("config-hooks-startcontainer-2", "MUST",
      "The startContainer hooks' path MUST resolve in the container namespace.", "StartContainer Hooks"),
    S("config-hooks-startcontainer-3", "MUST",
      "The startContainer hooks MUST be executed in the container namespace.", "StartContainer Hooks"),
    S("config-hooks-poststart-1", "MUST",
      "The poststart hooks MUST be called after the user-specified process is executed but before the "
      "start operation returns.", "Poststart",
      spec_vs_runc="runc 1.1.5 runs poststart hooks at the end of `create`, before `start` and "
                   "before the user-specified process is executed (fixed in runc 1.2)"),
    S("config-hooks-poststart-2", "MUST",
      "The poststart hooks' path MUST resolve in the runtime namespace.", "Poststart"),
    S("config-hooks-poststart-3", "MUST",
      "The poststart hooks MUST be executed in the runtime namespace.", "Poststart"),
    S("config-hooks-poststop-1", "MUST",
      "The poststop hooks MUST be called after the container is deleted but before the delete "
      "operation returns.", "Poststop"),
    S("config-hooks-poststop-2", "MUST",
      "The poststop hooks' path MUST resolve in the runtime namespace.", "Poststop"),
    S("config-hooks-poststop-3", "MUST",
      "The poststop hooks MUST be executed in the runtime namespace.", "Poststop"),

    # ------------------------------------------------------------ Annotations
    S("config-annotations-1", "MUST",
      "Annotations MUST be a key-value map.", "Annotations"),
    S("config-annotations-2", "MUST",
      "Keys MUST be strings.", "Annotations",
      untestable="JSON object keys are strings by construction: no config.json can hold a "
                 "non-string key for a runtime to refuse"),
    S("config-annotations-3", "MUST NOT",
      "Keys MUST NOT be an empty string.", "Annotations",
      spec_vs_runc="runc 1.1.5 accepts an empty annotation key (Go's map[string]string takes it). "
                   "The test follows the spec with \"Valid values\": the config must be refused."),
    S("config-annotations-4", "SHOULD",
      "Keys SHOULD be named using a reverse domain notation - e.g. com.example.myKey.", "Annotations",
      untestable="a naming convention for the config's author; a runtime must take any key "
                 "(config-annotations-6)"),
    S("config-annotations-5", "MUST NOT",
      "Keys using the org.opencontainers namespace are reserved and MUST NOT be used by subsequent "
      "specifications.", "Annotations",
      untestable="binds future specification documents, not a runtime"),
    S("config-annotations-6", "MUST NOT",
      "Implementations that are reading/processing this configuration file MUST NOT generate an "
      "error if they encounter an unknown annotation key.", "Annotations"),
    S("config-annotations-7", "MUST",
      "Values MUST be strings.", "Annotations",
      spec_vs_runc="runc 1.1.5 takes a null value (Go decodes it to \"\"); numbers, booleans and "
                   "objects it refuses"),

    # ------------------------------------------------------------ Extensibility, valid values
    S("config-ext-1", "MUST NOT",
      "Runtimes that are reading or processing this configuration file MUST NOT generate an error if "
      "they encounter an unknown property.", "Extensibility"),
    S("config-ext-2", "MUST",
      "Instead they MUST ignore unknown properties.", "Extensibility"),
    S("config-valid-1", "MUST",
      "Runtimes that are reading or processing this configuration file MUST generate an error when "
      "invalid or unsupported values are encountered.", "Valid values"),
]
