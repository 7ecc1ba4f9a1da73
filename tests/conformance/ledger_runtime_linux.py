"""runtime-linux.md (runtime-spec v1.2; unchanged in 1.3).

"File descriptors" has no MUST/SHOULD sentence (only stdin, stdout and stderr
"are kept open" by default; the runtime MAY pass more); "Dev symbolic links"
has one MUST.
"""

from tests.conformance.ledger import S

SENTENCES = [
    S("runtime-linux-devsymlinks-1", "MUST", "While creating the container (step 2 in the lifecycle), "
      "runtimes MUST create the following symlinks if the source file exists after processing mounts: "
      "/dev/fd -> /proc/self/fd, /dev/stdin -> /proc/self/fd/0, /dev/stdout -> /proc/self/fd/1, "
      "/dev/stderr -> /proc/self/fd/2.", "Dev symbolic links"),
]
