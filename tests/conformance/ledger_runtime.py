"""runtime.md (runtime-spec v1.2, plus 1.3 changes).

Text as in v1.2.0/v1.2.1 unless `since` says otherwise. One sentence that holds
two requirements joined by "and"/"while" is one entry; where the halves are
checked apart (lifecycle step 2) it is two. Lifecycle step numbers are those
of v1.2 (13 steps). 1.3.0 changed one sentence: step 9, a failing poststart
hook (1.2: "MUST log a warning, but the remaining hooks and lifecycle continue
as if the hook had succeeded"); the ledger holds both, the 1.2 one with
until="1.2.1": pyruntime applies the rule of the version a bundle declares
(pyruntime/spec/versions.py).
"""

from tests.conformance.ledger import S

_RUNC_POSTSTART = ("runc 1.1.5 runs poststart hooks inside `create` (status `created`), before "
                   "`start` and before the user program runs (fixed in runc 1.2); the test follows "
                   "the spec: invoked by `start`, after the program started")

SENTENCES = [
    # ------------------------------------------------------------ Scope of a Container
    S("runtime-scope-1", "MUST", "The entity using a runtime to create a container MUST be able to use the "
      "operations defined in this specification against that same container.", "Scope of a Container"),

    # ------------------------------------------------------------ State
    S("runtime-state-1", "MUST", "id (string, REQUIRED) is the container's ID. This MUST be unique across all "
      "containers on this host.", "State"),
    S("runtime-state-2", "MUST", "ociVersion (string, REQUIRED) is version of the Open Container Initiative "
      "Runtime Specification with which the state complies.", "State"),
    S("runtime-state-3", "MUST", "status (string, REQUIRED) is the runtime state of the container. The value "
      "MAY be one of: creating, created (...the container process has neither exited nor executed the "
      "user-specified program), running (...executed the user-specified program but has not exited), "
      "stopped (the container process has exited).", "State"),
    S("runtime-state-4", "MUST", "Additional values MAY be defined by the runtime, however, they MUST be used "
      "to represent new runtime states not defined above.", "State"),
    S("runtime-state-5", "MUST", "pid (int, REQUIRED when status is created or running on Linux, OPTIONAL on "
      "other platforms) is the ID of the container process. For hooks executed in the runtime namespace, "
      "it is the pid as seen by the runtime...", "State"),
    S("runtime-state-6", "MUST", "bundle (string, REQUIRED) is the absolute path to the container's bundle "
      "directory.", "State"),
    S("runtime-state-7", "MUST", "When serialized in JSON, the format MUST adhere to the state pattern "
      "(schema/state-schema.json): ociVersion, id, status, pid, bundle, annotations.", "State"),

    # ------------------------------------------------------------ Lifecycle
    S("runtime-lifecycle-1", "MUST", "The container's runtime environment MUST be created according to the "
      "configuration in config.json.", "Lifecycle (step 2)"),
    S("runtime-lifecycle-2", "MUST", "If the runtime is unable to create the environment specified in the "
      "config.json, it MUST generate an error.", "Lifecycle (step 2)"),
    S("runtime-lifecycle-3", "MUST", "While the resources requested in the config.json MUST be created, ...",
      "Lifecycle (step 2)"),
    S("runtime-lifecycle-4", "MUST NOT", "... the user-specified program (from process) MUST NOT be run at "
      "this time.", "Lifecycle (step 2)"),
    S("runtime-lifecycle-5", "MUST NOT", "Any updates to config.json after this step MUST NOT affect the "
      "container.", "Lifecycle (step 2)"),
    S("runtime-lifecycle-6", "MUST", "The prestart hooks MUST be invoked by the runtime.",
      "Lifecycle (step 3)"),
    S("runtime-lifecycle-7", "MUST", "If any prestart hook fails, the runtime MUST generate an error, stop "
      "the container, and continue the lifecycle at step 12.", "Lifecycle (step 3)"),
    S("runtime-lifecycle-8", "MUST", "The createRuntime hooks MUST be invoked by the runtime.",
      "Lifecycle (step 4)"),
    S("runtime-lifecycle-9", "MUST", "If any createRuntime hook fails, the runtime MUST generate an error, "
      "stop the container, and continue the lifecycle at step 12.", "Lifecycle (step 4)"),
    S("runtime-lifecycle-10", "MUST", "The createContainer hooks MUST be invoked by the runtime.",
      "Lifecycle (step 5)"),
    S("runtime-lifecycle-11", "MUST", "If any createContainer hook fails, the runtime MUST generate an error, "
      "stop the container, and continue the lifecycle at step 12.", "Lifecycle (step 5)"),
    S("runtime-lifecycle-12", "MUST", "The startContainer hooks MUST be invoked by the runtime.",
      "Lifecycle (step 7)"),
    S("runtime-lifecycle-13", "MUST", "If any startContainer hook fails, the runtime MUST generate an error, "
      "stop the container, and continue the lifecycle at step 12.", "Lifecycle (step 7)",
      spec_vs_runc="runc 1.1.5 runs startContainer hooks in the init after `start` has released it: a "
      "failure ends the init, but `start` exits 0; the test follows the spec (`start` fails)"),
    S("runtime-lifecycle-14", "MUST", "The runtime MUST run the user-specified program, as specified by "
      "process.", "Lifecycle (step 8)"),
    S("runtime-lifecycle-15", "MUST", "The poststart hooks MUST be invoked by the runtime.",
      "Lifecycle (step 9)", spec_vs_runc=_RUNC_POSTSTART),
    S("runtime-lifecycle-16", "MUST", "If any poststart hook fails, the runtime MUST generate an error, stop "
      "the container, and continue the lifecycle at step 12.", "Lifecycle (step 9)", since="1.3.0",
      spec_vs_runc=_RUNC_POSTSTART + "; so its poststart failure fails `create`, not `start`"),
    S("runtime-lifecycle-16-v1.2", "MUST", "If any poststart hook fails, the runtime MUST log a warning, "
      "but the remaining hooks and lifecycle continue as if the hook had succeeded.", "Lifecycle (step 9)",
      until="1.2.1",
      spec_vs_runc=_RUNC_POSTSTART + "; so its poststart failure fails `create` and kills the container, "
      "whatever the bundle's ociVersion"),
    S("runtime-lifecycle-17", "MUST", "The container MUST be destroyed by undoing the steps performed during "
      "create phase (step 2).", "Lifecycle (step 12)"),
    S("runtime-lifecycle-18", "MUST", "The poststop hooks MUST be invoked by the runtime.",
      "Lifecycle (step 13)"),
    S("runtime-lifecycle-19", "MUST", "If any poststop hook fails, the runtime MUST log a warning, but the "
      "remaining hooks and lifecycle continue as if the hook had succeeded.", "Lifecycle (step 13)",
      spec_vs_runc="runc 1.1.5 stops at the first failing poststop hook (the remaining ones do not run) "
      "and logs it at error level; the test follows the spec"),

    # ------------------------------------------------------------ Errors, Warnings
    S("runtime-errors-1", "MUST", "Unless otherwise stated, generating an error MUST leave the state of the "
      "environment as if the operation were never attempted - modulo any possible trivial ancillary "
      "changes such as logging.", "Errors",
      spec_vs_runc="runc 1.1.5 `delete` of a `created` container is not an error: it kills and removes "
      "it (see runtime-delete-2); its other errors leave nothing behind"),
    S("runtime-warnings-1", "MUST", "Unless otherwise stated, logging a warning does not change the flow of "
      "the operation; it MUST continue as if the warning had not been logged.", "Warnings",
      spec_vs_runc="runc 1.1.5's one warning case, a failing poststop hook, ends the poststop hooks "
      "(see runtime-lifecycle-19)"),

    # ------------------------------------------------------------ Operations
    S("runtime-operations-1", "MUST", "Unless otherwise stated, runtimes MUST support the following "
      "operations.", "Operations"),
    S("runtime-query-1", "MUST", "This operation MUST generate an error if it is not provided the ID of a "
      "container.", "Operations: Query State"),
    S("runtime-query-2", "MUST", "Attempting to query a container that does not exist MUST generate an "
      "error.", "Operations: Query State"),
    S("runtime-query-3", "MUST", "This operation MUST return the state of a container as specified in the "
      "State section.", "Operations: Query State"),
    S("runtime-create-1", "MUST", "This operation MUST generate an error if it is not provided a path to the "
      "bundle and the container ID to associate with the container.", "Operations: Create"),
    S("runtime-create-2", "MUST", "If the ID provided is not unique across all containers within the scope "
      "of the runtime, or is not valid in any other way, the implementation MUST generate an error and a "
      "new container MUST NOT be created.", "Operations: Create"),
    S("runtime-create-3", "MUST", "This operation MUST create a new container.", "Operations: Create"),
    S("runtime-create-4", "MUST", "All of the properties configured in config.json except for process MUST "
      "be applied.", "Operations: Create"),
    S("runtime-create-5", "MUST NOT", "process.args MUST NOT be applied until triggered by the start "
      "operation.", "Operations: Create"),
    S("runtime-create-6", "MUST", "If the runtime cannot apply a property as specified in the configuration, "
      "it MUST generate an error and a new container MUST NOT be created.", "Operations: Create"),
    S("runtime-start-1", "MUST", "This operation MUST generate an error if it is not provided the container "
      "ID.", "Operations: Start"),
    S("runtime-start-2", "MUST", "Attempting to start a container that is not created MUST have no effect on "
      "the container and MUST generate an error.", "Operations: Start"),
    S("runtime-start-3", "MUST", "This operation MUST run the user-specified program as specified by "
      "process.", "Operations: Start"),
    S("runtime-start-4", "MUST", "This operation MUST generate an error if process was not set.",
      "Operations: Start",
      spec_vs_runc="runc 1.1.5 refuses to create a config without process (\"process property must "
      "not be empty\"), so its `start` is never reached; the test follows the spec (process is "
      "OPTIONAL at create, config-process-1): created, and `start` is the error"),
    S("runtime-kill-1", "MUST", "This operation MUST generate an error if it is not provided the container "
      "ID.", "Operations: Kill"),
    S("runtime-kill-2", "MUST", "Attempting to send a signal to a container that is neither created nor "
      "running MUST have no effect on the container and MUST generate an error.", "Operations: Kill"),
    S("runtime-kill-3", "MUST", "This operation MUST send the specified signal to the container process.",
      "Operations: Kill"),
    S("runtime-delete-1", "MUST", "This operation MUST generate an error if it is not provided the container "
      "ID.", "Operations: Delete"),
    S("runtime-delete-2", "MUST", "Attempting to delete a container that is not stopped MUST have no effect "
      "on the container and MUST generate an error.", "Operations: Delete",
      spec_vs_runc="runc 1.1.5 `delete` (without --force) of a `created` container kills and deletes it "
      "with exit 0; the test follows the spec (running and created containers both refused)"),
    S("runtime-delete-3", "MUST", "Deleting a container MUST delete the resources that were created during "
      "the create step.", "Operations: Delete"),
    S("runtime-delete-4", "MUST NOT", "Note that resources associated with the container, but not created by "
      "this container, MUST NOT be deleted.", "Operations: Delete"),
]
