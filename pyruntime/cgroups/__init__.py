"""cgroups: where a container's processes are accounted and limited.

This host is hybrid: v1 controllers each on their own hierarchy under
/sys/fs/cgroup/<ctrl>, plus a cgroup2 hierarchy at /sys/fs/cgroup/unified.
`hierarchies()` finds them from /proc/self/mountinfo; `Manager` places a
container in the same path on every hierarchy, as runc does.
"""
