"""cffi builder for pyruntime.syscalls._native, compiled at install time
(API mode: loading the compiled module costs ~1 ms, against 50-100 ms for a
run-time `cdef` in ABI mode).

Only syscalls that Python's os module lacks (in 3.11) live here.
"""

from cffi import FFI

ffibuilder = FFI()

ffibuilder.cdef(
    """
    int pyrt_mount(const char *source, const char *target, const char *fstype,
                   unsigned long flags, const char *data);
    int pyrt_umount2(const char *target, int flags);
    int pyrt_pivot_root(const char *new_root, const char *put_old);
    int pyrt_unshare(int flags);
    int pyrt_setns(int fd, int nstype);
    int pyrt_prctl(int option, unsigned long a2, unsigned long a3,
                   unsigned long a4, unsigned long a5);
    int pyrt_capset(uint32_t e0, uint32_t e1, uint32_t p0, uint32_t p1,
                    uint32_t i0, uint32_t i1);
    int pyrt_capget(int pid, uint32_t out[6]);
    int pyrt_setdomainname(const char *name, size_t len);
    long pyrt_join_session_keyring(const char *name);
    int pyrt_mount_setattr(int dirfd, const char *path, unsigned int flags, uint64_t attr_set,
                           uint64_t attr_clr, uint64_t propagation);
    int pyrt_sched_setattr(int pid, uint32_t policy, uint64_t flags, int32_t nice,
                           uint32_t priority, uint64_t runtime, uint64_t deadline, uint64_t period);
    int pyrt_ioprio_set(int which, int who, int ioprio);
    int pyrt_ioprio_get(int which, int who);
    int pyrt_personality(unsigned long persona);
    int pyrt_prlimit(int pid, int resource, uint64_t soft, uint64_t hard);
    long pyrt_bpf(int cmd, void *attr, unsigned int size);
    """
)

ffibuilder.set_source(
    "pyruntime.syscalls._native",
    r"""
    #ifndef _GNU_SOURCE
    #define _GNU_SOURCE
    #endif
    #include <sched.h>
    #include <stdint.h>
    #include <unistd.h>
    #include <sys/mount.h>
    #include <sys/personality.h>
    #include <sys/resource.h>
    #include <sys/prctl.h>
    #include <sys/syscall.h>
    #include <linux/capability.h>

    static int pyrt_mount(const char *source, const char *target, const char *fstype,
                          unsigned long flags, const char *data) {
        return mount(source, target, fstype, flags, data);
    }
    static int pyrt_umount2(const char *target, int flags) { return umount2(target, flags); }
    /* glibc has no wrapper for pivot_root(2). */
    static int pyrt_pivot_root(const char *new_root, const char *put_old) {
        return (int)syscall(SYS_pivot_root, new_root, put_old);
    }
    static int pyrt_unshare(int flags) { return unshare(flags); }
    static int pyrt_setns(int fd, int nstype) { return setns(fd, nstype); }
    static int pyrt_prctl(int option, unsigned long a2, unsigned long a3,
                          unsigned long a4, unsigned long a5) {
        return prctl(option, a2, a3, a4, a5);
    }
    /* Version 3 capability sets: two 32-bit words per set (caps 0-31, 32-63). */
    static int pyrt_capset(uint32_t e0, uint32_t e1, uint32_t p0, uint32_t p1,
                           uint32_t i0, uint32_t i1) {
        struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct d[2] = {{e0, p0, i0}, {e1, p1, i1}};
        return (int)syscall(SYS_capset, &h, d);
    }
    static int pyrt_capget(int pid, uint32_t out[6]) {
        struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, pid};
        struct __user_cap_data_struct d[2];
        int r = (int)syscall(SYS_capget, &h, d);
        if (r == 0) {
            out[0] = d[0].effective; out[1] = d[1].effective;
            out[2] = d[0].permitted; out[3] = d[1].permitted;
            out[4] = d[0].inheritable; out[5] = d[1].inheritable;
        }
        return r;
    }
    static int pyrt_setdomainname(const char *name, size_t len) { return setdomainname(name, len); }
    /* keyctl(KEYCTL_JOIN_SESSION_KEYRING, name): a new session keyring, so
       containers do not share the caller's keys. */
    static long pyrt_join_session_keyring(const char *name) {
        return syscall(SYS_keyctl, 1, name, 0, 0, 0);
    }
    /* mount_setattr(2) (Linux 5.12): change flags of a whole mount tree at
       once (AT_RECURSIVE), which mount(2) cannot do: the recursive options
       rro, rnosuid, ... Own struct: older headers lack struct mount_attr. */
    struct pyrt_mount_attr { uint64_t attr_set, attr_clr, propagation, userns_fd; };
    static int pyrt_mount_setattr(int dirfd, const char *path, unsigned int flags, uint64_t attr_set,
                                  uint64_t attr_clr, uint64_t propagation) {
        struct pyrt_mount_attr a = {attr_set, attr_clr, propagation, 0};
        return (int)syscall(442 /* SYS_mount_setattr */, dirfd, path, flags, &a, sizeof a);
    }
    /* sched_setattr(2): glibc has no wrapper. SCHED_ATTR_SIZE_VER0 layout. */
    struct pyrt_sched_attr { uint32_t size, policy; uint64_t flags; int32_t nice; uint32_t priority;
                             uint64_t runtime, deadline, period; };
    static int pyrt_sched_setattr(int pid, uint32_t policy, uint64_t flags, int32_t nice,
                                  uint32_t priority, uint64_t runtime, uint64_t deadline, uint64_t period) {
        struct pyrt_sched_attr a = {sizeof a, policy, flags, nice, priority, runtime, deadline, period};
        return (int)syscall(SYS_sched_setattr, pid, &a, 0);
    }
    static int pyrt_ioprio_set(int which, int who, int ioprio) {
        return (int)syscall(SYS_ioprio_set, which, who, ioprio);
    }
    static int pyrt_ioprio_get(int which, int who) {
        return (int)syscall(SYS_ioprio_get, which, who);
    }
    static int pyrt_personality(unsigned long persona) { return personality(persona); }
    /* prlimit(2) setting both limits: Python's own is in the resource module,
       a shared library that costs ~0.7 ms to load on every create. */
    static int pyrt_prlimit(int pid, int resource, uint64_t soft, uint64_t hard) {
        struct rlimit64 rl = {.rlim_cur = soft, .rlim_max = hard};
        return prlimit64(pid, resource, &rl, NULL);
    }
    /* bpf(2), raw: callers build `union bpf_attr` as bytes (cgroup v2
       device programs: BPF_PROG_LOAD, BPF_PROG_ATTACH, BPF_PROG_QUERY). */
    static long pyrt_bpf(int cmd, void *attr, unsigned int size) {
        return syscall(SYS_bpf, cmd, attr, size);
    }
    """,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
