"""config.md (runtime-spec v1.2, plus 1.3 changes), Linux platform.

Source: config.md as of runtime-spec v1.2.1 (it has execCPUAffinity, zos and
the idmap/ridmap rows of the mount option table; it has neither the `freebsd`
platform object nor the 1.3 wording of execCPUAffinity.final), from the
search tool's store (read_file id 3484626256). Every MUST, MUST NOT, SHOULD,
SHOULD NOT and normative REQUIRED sentence of it is here with its wording
(context before "..." where the sentence alone does not say what it is
about). The (type, REQUIRED) markers of single fields are the schema's; a
config that breaks them is an invalid value (config-valid-1).
runtime-spec 1.3 added to config.md the `freebsd` platform object (a MAY) and
the SHOULD NOT of execCPUAffinity.final (since="1.3.0").

Sentences about the config's author rather than the runtime are listed too,
with the reason no runtime test can check them; where a config constraint
makes a config invalid, the runtime's duty is "Valid values" (config-valid-1)
and the test checks that the runtime refuses such a config.
"""

from tests.conformance.ledger import S

WINDOWS = "applies to Windows only"
_RUNC_UNGRANTABLE = ("runc 1.1.5 run with a bounding set that lacks a requested capability (a restricted "
                     "environment: setpriv --bounding-set) fails capset (\"unable to apply caps: operation "
                     "not permitted\"); the test follows the spec: a warning, the container runs without it")
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
    S("config-root-2", "MUST",
      "On Windows, for Windows Server Containers, this field is REQUIRED.", "Root", untestable=WINDOWS),
    S("config-root-3", "MUST",
      "On all other platforms, this field is REQUIRED.", "Root"),
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
      "Windows: ... One mount destination MUST NOT be nested within another mount (e.g., c:\\foo and "
      "c:\\foo\\bar).", "Mounts", untestable=WINDOWS),
    S("config-mounts-dest-5", "MUST",
      "Solaris: This value MUST be an absolute path.", "Mounts", untestable=SOLARIS),
    S("config-mounts-dest-6", "MUST",
      "For all other platforms: This value MUST be an absolute path.", "Mounts",
      untestable="applies to platforms other than Linux, Windows and Solaris only (Linux's own rule "
                 "is config-mounts-dest-1 and config-mounts-dest-2)"),
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
      "Linux mount options: the recursive options ratime, rdev, rdiratime, rexec, rnoatime, "
      "rnodiratime, rnoexec, rnorelatime, rnostrictatime, rnosuid, rnosymfollow, rrelatime, rro, "
      "rrw, rstrictatime, rsuid, rsymfollow are SHOULD (\"These AT_RECURSIVE options need kernel "
      "5.12 or later\"; the table has no rnodev).", "Mounts / Linux mount options"),
    S("config-mounts-linux-options-5", "SHOULD",
      "Linux mount options: nosymfollow and symfollow are SHOULD (Linux 5.10).",
      "Mounts / Linux mount options"),
    S("config-mounts-linux-options-6", "SHOULD",
      "Linux mount options: idmap and ridmap are SHOULD: the mount is idmapped with the mount's "
      "uidMappings and gidMappings (recursively for ridmap).", "Mounts / Linux mount options",
      spec_vs_runc="runc 1.1.5 predates idmapped mounts (runc 1.2): it passes idmap to mount(2) as "
                   "data, which a bind mount ignores, so the mount is not idmapped"),
    S("config-mounts-linux-idmap-1", "MUST",
      "idmap ... Indicates that the mount MUST have an idmapping applied.",
      "Mounts / Linux mount options",
      spec_vs_runc="runc 1.1.5 predates idmapped mounts (runc 1.2): the bind mount is made "
                   "without an idmapping"),
    S("config-mounts-linux-idmap-2", "MUST",
      "ridmap ... Indicates that the mount MUST have an idmapping applied, and the mapping is "
      "applied recursively.", "Mounts / Linux mount options",
      spec_vs_runc="runc 1.1.5 predates idmapped mounts (runc 1.2): the bind mount is made "
                   "without an idmapping"),
    S("config-mounts-linux-idmap-3", "SHOULD NOT",
      "idmap, ridmap ... This option SHOULD NOT be passed to the underlying mount(2) call.",
      "Mounts / Linux mount options",
      spec_vs_runc="runc 1.1.5 passes idmap to mount(2) as filesystem data (a bind mount ignores "
                   "it) and makes no idmapped mount"),
    S("config-mounts-linux-idmap-4", "MUST",
      "idmap, ridmap ... If uidMappings or gidMappings are specified for the mount, the runtime "
      "MUST use those values for the mount's mapping.", "Mounts / Linux mount options",
      spec_vs_runc="runc 1.1.5 ignores the mount's uidMappings and gidMappings"),
    S("config-mounts-linux-idmap-5", "MUST",
      "idmap, ridmap ... If they are not specified, the runtime MAY use the container's user "
      "namespace mapping, otherwise an error MUST be returned.", "Mounts / Linux mount options",
      spec_vs_runc="runc 1.1.5 neither idmaps the mount with the user namespace's mapping nor "
                   "refuses it: the mount is made without an idmapping"),
    S("config-mounts-linux-idmap-6", "MUST",
      "idmap, ridmap ... If there are no uidMappings and gidMappings specified and the container "
      "isn't using user namespaces, an error MUST be returned.", "Mounts / Linux mount options",
      spec_vs_runc="runc 1.1.5 makes the mount (idmap becomes mount(2) data that a bind mount "
                   "ignores) and runs the container"),
    S("config-mounts-linux-idmap-7", "SHOULD",
      "idmap, ridmap ... This SHOULD be implemented using mount_setattr(MOUNT_ATTR_IDMAP), "
      "available since Linux 5.12.", "Mounts / Linux mount options",
      spec_vs_runc="runc 1.1.5 predates idmapped mounts (runc 1.2)"),
    S("config-mounts-linux-options-7", "SHOULD",
      "If a custom option string is already recognized by mount(8), the runtime SHOULD follow the "
      "behavior of mount(8).", "Mounts / Linux mount options",
      spec_vs_runc="runc 1.1.5 passes mount(8)'s userspace-only options (nofail, noauto, _netdev, "
                   "x-*) to mount(2) as filesystem data, where tmpfs refuses them"),
    S("config-mounts-linux-options-8", "SHOULD",
      "Runtimes SHOULD treat unknown options as filesystem-specific ones and pass those as a "
      "comma-separated string to the fifth (const void *data) argument of mount(2).",
      "Mounts / Linux mount options"),
    S("config-mounts-posix-idmap-1", "SHOULD",
      "uidMappings/gidMappings (POSIX-platform Mounts) ... If specified, the options field of the "
      "mounts structure SHOULD contain either idmap or ridmap to specify whether the mapping should "
      "be applied recursively for rbind mounts, as well as to ensure that older runtimes will not "
      "silently ignore this field.", "Mounts / POSIX-platform Mounts",
      untestable="a duty of the config's author (which option to write next to the mappings); the "
                 "runtime's handling of idmap is config-mounts-linux-options-6"),
    S("config-mounts-posix-idmap-2", "SHOULD",
      "uidMappings, gidMappings ... This SHOULD be implemented using mount_setattr(MOUNT_ATTR_IDMAP), "
      "available since Linux 5.12.", "Mounts / POSIX-platform Mounts",
      spec_vs_runc="runc 1.1.5 ignores the mount's uidMappings and gidMappings"),
    S("config-mounts-posix-idmap-3", "MUST",
      "uidMappings ... If specified, it MUST be specified along with gidMappings.",
      "Mounts / POSIX-platform Mounts",
      spec_vs_runc="runc 1.1.5 does not know the mount's uidMappings (runtime-spec 1.1): it "
                   "ignores them and runs the container. The test follows the spec with \"Valid "
                   "values\": the config is invalid and must be refused."),
    S("config-mounts-posix-idmap-4", "MUST",
      "gidMappings ... If specified, it MUST be specified along with uidMappings.",
      "Mounts / POSIX-platform Mounts",
      spec_vs_runc="runc 1.1.5 does not know the mount's gidMappings (runtime-spec 1.1): it "
                   "ignores them and runs the container. The test follows the spec with \"Valid "
                   "values\": the config is invalid and must be refused."),

    # ------------------------------------------------------------ Process
    S("config-process-1", "MUST",
      "process (object, OPTIONAL) specifies the container process. This property is REQUIRED when "
      "start is called.", "Process",
      spec_vs_runc="runc 1.1.5 refuses to create a config without process (\"process property must "
                   "not be empty\"); the test follows the spec: created, and `start` is the error"),
    S("config-process-consolesize-1", "MUST",
      "consoleSize ... Runtimes MUST ignore consoleSize if terminal is false or unset.", "Process"),
    S("config-process-cwd-1", "MUST",
      "cwd (string, REQUIRED) is the working directory that will be set for the executable. This "
      "value MUST be an absolute path.", "Process"),
    S("config-process-args-1", "MUST",
      "args ... This specification extends the IEEE standard in that at least one entry is REQUIRED "
      "(non-Windows), and that entry is used with the same semantics as execvp's file.", "Process"),
    S("config-process-args-2", "MUST",
      "This field is OPTIONAL on Windows, and commandLine is REQUIRED if this field is omitted.",
      "Process", untestable=WINDOWS),
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
      "granted otherwise MUST be logged as a warning by the runtime.", "Linux Process",
      spec_vs_runc=_RUNC_UNGRANTABLE),
    S("config-process-caps-2", "SHOULD NOT",
      "Runtimes SHOULD NOT fail if the container configuration requests capabilities that cannot be "
      "granted, for example, if the runtime operates in a restricted environment with a limited set "
      "of capabilities.", "Linux Process", spec_vs_runc=_RUNC_UNGRANTABLE),
    S("config-process-oom-1", "MUST",
      "If oomScoreAdj is set, the runtime MUST set oom_score_adj to the given value.", "Linux Process"),
    S("config-process-oom-2", "MUST NOT",
      "If oomScoreAdj is not set, the runtime MUST NOT change the value of oom_score_adj.",
      "Linux Process"),
    S("config-process-execcpuaffinity-1", "SHOULD NOT",
      "execCPUAffinity final ... If omitted or empty, runtime SHOULD NOT change process' CPU affinity "
      "after the process is moved to container's cgroup, and the final affinity is determined by "
      "the Linux kernel.", "Linux Process", since="1.3.0"),

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
      "appropriate to the current state of the container.", "POSIX-platform Hooks",
      spec_vs_runc="runc 1.1.5 runs poststart hooks during `create`, so they get status `created` "
      "(the test follows the spec: `running`, the program has started); its createContainer and "
      "startContainer hooks get pid 1, the pid as seen by the container, as the spec says"),
    S("config-hooks-prestart-1", "MUST",
      "The prestart hooks MUST be called as part of the create operation after the runtime "
      "environment has been created (according to the configuration in config.json) but before the "
      "pivot_root or any equivalent operation has been executed.", "Prestart"),
    S("config-hooks-prestart-2", "MUST",
      "The prestart hooks MUST be called before the createRuntime hooks.", "Prestart"),
    S("config-hooks-prestart-3", "MUST",
      "The prestart hooks' path MUST resolve in the runtime namespace. (hooks.prestart: The value of path MUST resolve in the runtime namespace.)", "Prestart"),
    S("config-hooks-prestart-4", "MUST",
      "The prestart hooks MUST be executed in the runtime namespace.", "Prestart"),
    S("config-hooks-createruntime-1", "MUST",
      "The createRuntime hooks MUST be called as part of the create operation after the runtime "
      "environment has been created (according to the configuration in config.json) but before the "
      "pivot_root or any equivalent operation has been executed.", "CreateRuntime Hooks"),
    S("config-hooks-createruntime-2", "MUST",
      "The createRuntime hooks' path MUST resolve in the runtime namespace. (hooks.createRuntime: The value of path MUST resolve in the runtime namespace.)", "CreateRuntime Hooks"),
    S("config-hooks-createruntime-3", "MUST",
      "The createRuntime hooks MUST be executed in the runtime namespace.", "CreateRuntime Hooks"),
    S("config-hooks-createcontainer-1", "MUST",
      "The createContainer hooks MUST be called as part of the create operation after the runtime "
      "environment has been created (according to the configuration in config.json) but before the "
      "pivot_root or any equivalent operation has been executed.", "CreateContainer Hooks"),
    S("config-hooks-createcontainer-2", "MUST",
      "The createContainer hooks MUST be called after the createRuntime hooks.", "CreateContainer Hooks"),
    S("config-hooks-createcontainer-3", "MUST",
      "The createContainer hooks' path MUST resolve in the runtime namespace. (hooks.createContainer: The value of path MUST resolve in the runtime namespace.)", "CreateContainer Hooks"),
    S("config-hooks-createcontainer-4", "MUST",
      "The createContainer hooks MUST be executed in the container namespace.", "CreateContainer Hooks"),
    S("config-hooks-startcontainer-1", "MUST",
      "The startContainer hooks MUST be called before the user-specified process is executed as part "
      "of the start operation.", "StartContainer Hooks"),
    S("config-hooks-startcontainer-2", "MUST",
      "The startContainer hooks' path MUST resolve in the container namespace. (hooks.startContainer: The value of path MUST resolve in the container namespace.)", "StartContainer Hooks"),
    S("config-hooks-startcontainer-3", "MUST",
      "The startContainer hooks MUST be executed in the container namespace.", "StartContainer Hooks"),
    S("config-hooks-poststart-1", "MUST",
      "The poststart hooks MUST be called after the user-specified process is executed but before the "
      "start operation returns.", "Poststart",
      spec_vs_runc="runc 1.1.5 runs poststart hooks at the end of `create`, before `start` and "
                   "before the user-specified process is executed (fixed in runc 1.2)"),
    S("config-hooks-poststart-2", "MUST",
      "The poststart hooks' path MUST resolve in the runtime namespace. (hooks.poststart: The value of path MUST resolve in the runtime namespace.)", "Poststart"),
    S("config-hooks-poststart-3", "MUST",
      "The poststart hooks MUST be executed in the runtime namespace.", "Poststart"),
    S("config-hooks-poststop-1", "MUST",
      "The poststop hooks MUST be called after the container is deleted but before the delete "
      "operation returns.", "Poststop"),
    S("config-hooks-poststop-2", "MUST",
      "The poststop hooks' path MUST resolve in the runtime namespace. (hooks.poststop: The value of path MUST resolve in the runtime namespace.)", "Poststop"),
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
      "All other keys in the org.opencontainers namespace not specified in this above table are "
      "reserved and MUST NOT be used by subsequent specifications.", "Annotations",
      untestable="binds future specification documents, not a runtime"),
    S("config-annotations-6", "MUST",
      "Runtimes MUST handle unknown annotation keys like any other unknown property.", "Annotations"),
    S("config-annotations-7", "MUST",
      "Values MUST be strings.", "Annotations",
      spec_vs_runc="runc 1.1.5 takes a null value (Go decodes it to \"\"); numbers, booleans and "
                   "objects it refuses"),
    S("config-annotations-8", "MUST",
      "The org.opencontainers namespace for keys is reserved for use by this specification, "
      "annotations using keys in this namespace MUST be as described in this section.", "Annotations",
      untestable="binds the config's author (and this specification); a runtime must take unknown "
                 "keys in the namespace like any other (config-annotations-6)"),
    S("config-annotations-9", "MUST",
      "org.opencontainers.image.{os, os.version, os.features, architecture, variant, author, created, "
      "stopSignal}: The annotation value MUST have a valid value for the <property> property as "
      "defined in the OCI image specification.", "Annotations",
      untestable="binds the config's author (the values come from an image's config by the image "
                 "spec's conversion); the runtime spec gives a runtime nothing to do with them"),
    S("config-annotations-10", "SHOULD",
      "org.opencontainers.image.*: This annotation SHOULD only be used in accordance with the OCI "
      "image specification's runtime conversion specification.", "Annotations",
      untestable="binds the config's author (whoever converts an image to a bundle)"),
    S("config-annotations-11", "SHOULD",
      "org.opencontainers.image.stopSignal: Indicates signal that SHOULD be sent by the container "
      "runtimes to kill the container.", "Annotations",
      untestable="binds the caller of kill: the runtime.md kill operation sends the signal its "
                 "caller names (runtime-kill), so which signal stops the container is the caller's "
                 "(a higher-level runtime's) choice"),

    # ------------------------------------------------------------ Extensibility, valid values
    S("config-ext-1", "MUST NOT",
      "Runtimes MAY log unknown properties but MUST otherwise ignore them. That includes not "
      "generating errors if they encounter an unknown property.", "Extensibility"),
    S("config-ext-2", "MUST",
      "Runtimes MAY log unknown properties but MUST otherwise ignore them.", "Extensibility"),
    S("config-valid-1", "MUST",
      "Runtimes MUST generate an error when invalid or unsupported values are encountered.",
      "Valid values",
      spec_vs_runc="runc 1.1.5 runs a config with a capability name that is not one (CAP_TEST: "
                   "\"Valid values are defined in the capabilities(7) man page\"), with a warning; "
                   "the test follows the spec, as runtime-tools' validation does: an error"),
]
