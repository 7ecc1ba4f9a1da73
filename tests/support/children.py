"""Source text for the caller scripts tests run as a subreaper (python -c):
CHILDREN defines children(), this process's children as [pid, comm, state,
cmdline] from /proc (a subreaper sees what it adopted there)."""

CHILDREN = '''
import os

def children():
    found = []
    for e in os.listdir("/proc"):
        try:
            stat = open(f"/proc/{e}/stat").read()
            cmdline = open(f"/proc/{e}/cmdline").read()[:200]
        except (OSError, ValueError):
            continue
        comm, _, rest = stat.partition("(")[2].rpartition(")")
        if int(rest.split()[1]) == os.getpid():
            found.append([int(e), comm, rest.split()[0], cmdline])
    return found
'''
