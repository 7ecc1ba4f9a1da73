/* pyruntime.syscalls._kernel: the system calls Python's os module lacks (in
 * 3.11), as a plain CPython extension.
 *
 * Why not cffi, which still binds libseccomp (_seccomp_build.py): every
 * `create` loads this module, and a cffi module also loads _cffi_backend,
 * ~0.4 ms and ~290 KiB of resident pages per process (measured with -X
 * importtime and /proc/self/smaps), a third of what stood between create's
 * peak RSS and runc's. The socket, fcntl, struct and select modules cost
 * another ~150 KiB together, so the few calls create needs from them are here
 * too (the sync channel's SCM_RIGHTS messages, flock, bringing up lo).
 *
 * Convention: every function returns the call's result, or -errno when it
 * failed; it never raises for a failed system call. pyruntime/syscalls/
 * __init__.py turns a negative result into OSError(errno, "call: reason",
 * path), as before. Strings are passed as str (UTF-8) or None.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

/* A call's result as a Python int: the result, or -errno. A function, not a
   macro: its argument (the system call) must be evaluated once. */
static PyObject *RESULT(long r)
{
    return PyLong_FromLong(r < 0 ? -(long)errno : r);
}

static PyObject *k_mount(PyObject *self, PyObject *args)
{
    const char *source, *target, *fstype, *data;
    unsigned long flags;
    if (!PyArg_ParseTuple(args, "zszkz", &source, &target, &fstype, &flags, &data))
        return NULL;
    int r;
    Py_BEGIN_ALLOW_THREADS r = mount(source, target, fstype, flags, data);
    Py_END_ALLOW_THREADS return RESULT(r);
}

static PyObject *k_umount2(PyObject *self, PyObject *args)
{
    const char *target;
    int flags;
    if (!PyArg_ParseTuple(args, "si", &target, &flags))
        return NULL;
    return RESULT(umount2(target, flags));
}

/* glibc has no wrapper for pivot_root(2). */
static PyObject *k_pivot_root(PyObject *self, PyObject *args)
{
    const char *new_root, *put_old;
    if (!PyArg_ParseTuple(args, "ss", &new_root, &put_old))
        return NULL;
    return RESULT(syscall(SYS_pivot_root, new_root, put_old));
}

static PyObject *k_unshare(PyObject *self, PyObject *args)
{
    int flags;
    if (!PyArg_ParseTuple(args, "i", &flags))
        return NULL;
    return RESULT(unshare(flags));
}

static PyObject *k_setns(PyObject *self, PyObject *args)
{
    int fd, nstype;
    if (!PyArg_ParseTuple(args, "ii", &fd, &nstype))
        return NULL;
    return RESULT(setns(fd, nstype));
}

static PyObject *k_prctl(PyObject *self, PyObject *args)
{
    int option;
    unsigned long a2, a3, a4, a5;
    if (!PyArg_ParseTuple(args, "ikkkk", &option, &a2, &a3, &a4, &a5))
        return NULL;
    return RESULT(prctl(option, a2, a3, a4, a5));
}

/* prctl(PR_SET_NAME): the comm ps shows; the kernel keeps 15 bytes. */
static PyObject *k_set_name(PyObject *self, PyObject *args)
{
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name))
        return NULL;
    char buf[16] = {0};
    strncpy(buf, name, sizeof(buf) - 1);
    return RESULT(prctl(PR_SET_NAME, (unsigned long)buf, 0, 0, 0));
}

/* Version 3 capability sets: two 32-bit words per set (caps 0-31, 32-63). */
static PyObject *k_capset(PyObject *self, PyObject *args)
{
    unsigned int e0, e1, p0, p1, i0, i1;
    if (!PyArg_ParseTuple(args, "IIIIII", &e0, &e1, &p0, &p1, &i0, &i1))
        return NULL;
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2] = {{e0, p0, i0}, {e1, p1, i1}};
    return RESULT(syscall(SYS_capset, &h, d));
}

/* (effective, permitted, inheritable) of pid as 64-bit masks, or -errno. */
static PyObject *k_capget(PyObject *self, PyObject *args)
{
    int pid;
    if (!PyArg_ParseTuple(args, "i", &pid))
        return NULL;
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, pid};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) < 0)
        return PyLong_FromLong(-(long)errno);
    return Py_BuildValue("(KKK)", (unsigned long long)d[1].effective << 32 | d[0].effective,
                         (unsigned long long)d[1].permitted << 32 | d[0].permitted,
                         (unsigned long long)d[1].inheritable << 32 | d[0].inheritable);
}

static PyObject *k_sethostname(PyObject *self, PyObject *args)
{
    const char *name;
    Py_ssize_t len;
    if (!PyArg_ParseTuple(args, "s#", &name, &len))
        return NULL;
    return RESULT(sethostname(name, (size_t)len));
}

static PyObject *k_setdomainname(PyObject *self, PyObject *args)
{
    const char *name;
    Py_ssize_t len;
    if (!PyArg_ParseTuple(args, "s#", &name, &len))
        return NULL;
    return RESULT(setdomainname(name, (size_t)len));
}

/* keyctl(KEYCTL_JOIN_SESSION_KEYRING, name): a new session keyring, so
   containers do not share the caller's keys. */
/* keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0): the session
   keyring's serial (a process without one gets the user session keyring
   installed as its session keyring: the kernel's lookup_user_key). */
static PyObject *k_session_keyring(PyObject *self, PyObject *args)
{
    (void)args;
    return RESULT(syscall(SYS_keyctl, 0, -3, 0, 0, 0));
}

static PyObject *k_join_session_keyring(PyObject *self, PyObject *args)
{
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name))
        return NULL;
    return RESULT(syscall(SYS_keyctl, 1, name, 0, 0, 0));
}

/* mount_setattr(2) (Linux 5.12): change flags of a whole mount tree at once
   (AT_RECURSIVE), which mount(2) cannot do: the recursive options rro,
   rnosuid, ... Own struct: older headers lack struct mount_attr. */
struct pyrt_mount_attr {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
};

static PyObject *k_mount_setattr(PyObject *self, PyObject *args)
{
    int dirfd;
    const char *path;
    unsigned int flags;
    unsigned long long set, clr, propagation;
    if (!PyArg_ParseTuple(args, "isIKKK", &dirfd, &path, &flags, &set, &clr, &propagation))
        return NULL;
    struct pyrt_mount_attr a = {set, clr, propagation, 0};
    return RESULT(syscall(442 /* SYS_mount_setattr */, dirfd, path, flags, &a, sizeof a));
}

/* sched_setattr(2): glibc has no wrapper. SCHED_ATTR_SIZE_VER0 layout. */
struct pyrt_sched_attr {
    uint32_t size, policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime, deadline, period;
};

static PyObject *k_sched_setattr(PyObject *self, PyObject *args)
{
    int pid, nice;
    unsigned int policy, priority;
    unsigned long long flags, runtime, deadline, period;
    if (!PyArg_ParseTuple(args, "iIKiIKKK", &pid, &policy, &flags, &nice, &priority, &runtime, &deadline,
                          &period))
        return NULL;
    struct pyrt_sched_attr a = {sizeof a, policy, flags, nice, priority, runtime, deadline, period};
    return RESULT(syscall(SYS_sched_setattr, pid, &a, 0));
}

static PyObject *k_ioprio_set(PyObject *self, PyObject *args)
{
    int which, who, ioprio;
    if (!PyArg_ParseTuple(args, "iii", &which, &who, &ioprio))
        return NULL;
    return RESULT(syscall(SYS_ioprio_set, which, who, ioprio));
}

static PyObject *k_ioprio_get(PyObject *self, PyObject *args)
{
    int which, who;
    if (!PyArg_ParseTuple(args, "ii", &which, &who))
        return NULL;
    return RESULT(syscall(SYS_ioprio_get, which, who));
}

static PyObject *k_personality(PyObject *self, PyObject *args)
{
    unsigned long persona;
    if (!PyArg_ParseTuple(args, "k", &persona))
        return NULL;
    return RESULT(personality(persona));
}

/* prlimit(2) setting both limits (the resource module is one more shared
   library to load on every create). RLIM_INFINITY is 2**64-1. */
static PyObject *k_prlimit(PyObject *self, PyObject *args)
{
    int pid, resource;
    unsigned long long soft, hard;
    if (!PyArg_ParseTuple(args, "iiKK", &pid, &resource, &soft, &hard))
        return NULL;
    struct rlimit64 rl = {.rlim_cur = soft, .rlim_max = hard};
    return RESULT(prlimit64(pid, resource, &rl, NULL));
}

/* bpf(2), raw: callers build `union bpf_attr` in a bytearray, which the
   kernel may update in place (cgroup v2 device programs). */
static PyObject *k_bpf(PyObject *self, PyObject *args)
{
    int cmd;
    Py_buffer attr;
    if (!PyArg_ParseTuple(args, "iw*", &cmd, &attr))
        return NULL;
    long r = syscall(SYS_bpf, cmd, attr.buf, (unsigned int)attr.len);
    long result = r < 0 ? -(long)errno : r;
    PyBuffer_Release(&attr);
    return PyLong_FromLong(result);
}

/* Retries EINTR (a wait for another command's lock), as fcntl.flock does. */
static PyObject *k_flock(PyObject *self, PyObject *args)
{
    int fd, op, r;
    if (!PyArg_ParseTuple(args, "ii", &fd, &op))
        return NULL;
    do {
        Py_BEGIN_ALLOW_THREADS r = flock(fd, op);
        Py_END_ALLOW_THREADS
    } while (r < 0 && errno == EINTR && !PyErr_CheckSignals());
    if (r < 0 && PyErr_Occurred())
        return NULL;
    return RESULT(r);
}

/* fcntl(fd, cmd, arg) and ioctl(fd, request, arg) with an integer argument
   (F_GET_SEALS, NS_GET_NSTYPE): the fcntl module is one more shared library. */
static PyObject *k_fcntl(PyObject *self, PyObject *args)
{
    int fd, cmd;
    long arg;
    if (!PyArg_ParseTuple(args, "iil", &fd, &cmd, &arg))
        return NULL;
    return RESULT(fcntl(fd, cmd, arg));
}

static PyObject *k_ioctl(PyObject *self, PyObject *args)
{
    int fd;
    unsigned long request, arg;
    if (!PyArg_ParseTuple(args, "ikk", &fd, &request, &arg))
        return NULL;
    return RESULT(ioctl(fd, request, arg));
}

/* Mark every fd >= first close-on-exec: execve then closes them, and no close
   is left to run after a seccomp filter is in. close_range(2) with
   CLOSE_RANGE_CLOEXEC (Linux 5.11) is one call; before it (ENOSYS, or EINVAL
   for the flag) each fd listed in /proc/self/fd gets FD_CLOEXEC: only the
   open ones, never a loop over every possible fd number. */
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
static PyObject *k_cloexec_from(PyObject *self, PyObject *args)
{
    int first;
    if (!PyArg_ParseTuple(args, "i", &first))
        return NULL;
    if (syscall(SYS_close_range, (unsigned int)first, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return PyLong_FromLong(0);
    if (errno != ENOSYS && errno != EINVAL)
        return PyLong_FromLong(-(long)errno);
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return PyLong_FromLong(-(long)errno);
    int own = dirfd(d), err = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end != '\0' || end == e->d_name || fd < first || fd == own)
            continue;
        int flags = fcntl((int)fd, F_GETFD);
        if (flags >= 0 && !(flags & FD_CLOEXEC) && fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC) < 0)
            err = errno;
    }
    closedir(d);
    return PyLong_FromLong(err ? -(long)err : 0);
}

/* --- the sync channel (pyruntime/process/sync.py) ------------------------- */

/* A close-on-exec SOCK_SEQPACKET pair: (fd, fd), or -errno. */
static PyObject *k_seqpacket_pair(PyObject *self, PyObject *noargs)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return PyLong_FromLong(-(long)errno);
    return Py_BuildValue("(ii)", sv[0], sv[1]);
}

#define MAX_FDS 16

/* One message with fds (SCM_RIGHTS): bytes sent, or -errno. MSG_NOSIGNAL:
   a peer that went away is EPIPE, not a SIGPIPE. */
static PyObject *k_send_fds(PyObject *self, PyObject *args)
{
    int fd;
    Py_buffer data;
    PyObject *seq;
    if (!PyArg_ParseTuple(args, "iy*O", &fd, &data, &seq))
        return NULL;
    int fds[MAX_FDS];
    Py_ssize_t n = PySequence_Size(seq);
    if (n < 0 || n > MAX_FDS) {
        PyBuffer_Release(&data);
        if (n >= 0)
            PyErr_SetString(PyExc_ValueError, "too many fds for one message");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_GetItem(seq, i);
        fds[i] = item ? (int)PyLong_AsLong(item) : -1;
        Py_XDECREF(item);
        if (PyErr_Occurred()) {
            PyBuffer_Release(&data);
            return NULL;
        }
    }
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(fds))];
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct iovec iov = {.iov_base = data.buf, .iov_len = (size_t)data.len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (n > 0) {
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
    }
    ssize_t r;
    do {
        Py_BEGIN_ALLOW_THREADS r = sendmsg(fd, &mh, MSG_NOSIGNAL);
        Py_END_ALLOW_THREADS
    } while (r < 0 && errno == EINTR && !PyErr_CheckSignals());
    long result = r < 0 ? -(long)errno : (long)r;
    PyBuffer_Release(&data);
    if (r < 0 && PyErr_Occurred())
        return NULL;
    return PyLong_FromLong(result);
}

/* One message of at most maxlen bytes and the fds that came with it (as
   socket.recvmsg gives them: not close-on-exec): (bytes, [fd, ...]), or
   -errno. b"" is EOF. Retries EINTR, as Python's own calls do. */
static PyObject *k_recv_fds(PyObject *self, PyObject *args)
{
    int fd;
    Py_ssize_t maxlen;
    if (!PyArg_ParseTuple(args, "in", &fd, &maxlen))
        return NULL;
    PyObject *data = PyBytes_FromStringAndSize(NULL, maxlen);
    if (!data)
        return NULL;
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
    } ctl;
    struct iovec iov = {.iov_base = PyBytes_AS_STRING(data), .iov_len = (size_t)maxlen};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
    ssize_t r;
    do {
        Py_BEGIN_ALLOW_THREADS r = recvmsg(fd, &mh, 0);
        Py_END_ALLOW_THREADS
    } while (r < 0 && errno == EINTR && !PyErr_CheckSignals());
    if (r < 0) {
        Py_DECREF(data);
        return PyErr_Occurred() ? NULL : PyLong_FromLong(-(long)errno);
    }
    PyObject *fds = PyList_New(0);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); fds && c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int got;
            memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            PyObject *v = PyLong_FromLong(got);
            if (!v || PyList_Append(fds, v) < 0) {
                Py_XDECREF(v);
                Py_CLEAR(fds);
                break;
            }
            Py_DECREF(v);
        }
    }
    if (!fds || _PyBytes_Resize(&data, r) < 0) {
        Py_XDECREF(fds);
        Py_XDECREF(data);
        return NULL;
    }
    PyObject *out = PyTuple_Pack(2, data, fds);
    Py_DECREF(data);
    Py_DECREF(fds);
    return out;
}

/* Bring network interface `name` up (SIOCGIFFLAGS, SIOCSIFFLAGS | IFF_UP)
   in this process's network namespace: lo in a new one. */
static PyObject *k_link_up(PyObject *self, PyObject *args)
{
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name))
        return NULL;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return PyLong_FromLong(-(long)errno);
    long r = 0;
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
        r = -(long)errno;
    } else {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
            r = -(long)errno;
    }
    close(s);
    return PyLong_FromLong(r);
}

/* fork(2) as os.fork does it (the interpreter's before/after-fork steps),
 * through clone3(CLONE_INTO_CGROUP) (Linux 5.7): the child is born in the
 * cgroup2 directory cgroup_fd. Moving a process in later through
 * cgroup.procs takes cgroup_threadgroup_rwsem for writing, whose
 * rcu_sync_enter waits an RCU grace period; clone3 takes it for reading.
 * The caller is single-threaded (no malloc lock can be held meanwhile).
 * Returns the child's pid, 0 in the child, or -errno (no child). */
struct k_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
        set_tid, set_tid_size, cgroup;
};

static PyObject *k_fork_into_cgroup(PyObject *self, PyObject *args)
{
    int cgroup_fd;
    if (!PyArg_ParseTuple(args, "i", &cgroup_fd))
        return NULL;
    struct k_clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.flags = 0x200000000ULL; /* CLONE_INTO_CGROUP */
    ca.exit_signal = SIGCHLD;
    ca.cgroup = (uint64_t)cgroup_fd;
    PyOS_BeforeFork();
    long pid = syscall(SYS_clone3, &ca, sizeof ca);
    int saved = errno;
    if (pid == 0) {
        PyOS_AfterFork_Child();
        return PyLong_FromLong(0);
    }
    PyOS_AfterFork_Parent();
    return PyLong_FromLong(pid < 0 ? -(long)saved : pid);
}

static PyMethodDef methods[] = {
    {"fork_into_cgroup", k_fork_into_cgroup, METH_VARARGS, "clone3(CLONE_INTO_CGROUP, cgroup_fd) as fork"},
    {"mount", k_mount, METH_VARARGS, "mount(source|None, target, fstype|None, flags, data|None)"},
    {"umount2", k_umount2, METH_VARARGS, "umount2(target, flags)"},
    {"pivot_root", k_pivot_root, METH_VARARGS, "pivot_root(new_root, put_old)"},
    {"unshare", k_unshare, METH_VARARGS, "unshare(flags)"},
    {"setns", k_setns, METH_VARARGS, "setns(fd, nstype)"},
    {"prctl", k_prctl, METH_VARARGS, "prctl(option, a2, a3, a4, a5)"},
    {"set_name", k_set_name, METH_VARARGS, "prctl(PR_SET_NAME, name)"},
    {"capset", k_capset, METH_VARARGS, "capset(e0, e1, p0, p1, i0, i1)"},
    {"capget", k_capget, METH_VARARGS, "capget(pid) -> (effective, permitted, inheritable)"},
    {"sethostname", k_sethostname, METH_VARARGS, "sethostname(name)"},
    {"setdomainname", k_setdomainname, METH_VARARGS, "setdomainname(name)"},
    {"join_session_keyring", k_join_session_keyring, METH_VARARGS, "keyctl(KEYCTL_JOIN_SESSION_KEYRING, name)"},
    {"session_keyring", k_session_keyring, METH_NOARGS, "keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING)"},
    {"mount_setattr", k_mount_setattr, METH_VARARGS, "mount_setattr(dirfd, path, flags, set, clr, propagation)"},
    {"sched_setattr", k_sched_setattr, METH_VARARGS, "sched_setattr(pid, policy, flags, nice, prio, rt, dl, per)"},
    {"ioprio_set", k_ioprio_set, METH_VARARGS, "ioprio_set(which, who, ioprio)"},
    {"ioprio_get", k_ioprio_get, METH_VARARGS, "ioprio_get(which, who)"},
    {"personality", k_personality, METH_VARARGS, "personality(persona)"},
    {"prlimit", k_prlimit, METH_VARARGS, "prlimit(pid, resource, soft, hard)"},
    {"bpf", k_bpf, METH_VARARGS, "bpf(cmd, attr: bytearray)"},
    {"flock", k_flock, METH_VARARGS, "flock(fd, operation)"},
    {"fcntl", k_fcntl, METH_VARARGS, "fcntl(fd, cmd, arg: int)"},
    {"cloexec_from", k_cloexec_from, METH_VARARGS, "mark every fd >= first close-on-exec"},
    {"ioctl", k_ioctl, METH_VARARGS, "ioctl(fd, request, arg: int)"},
    {"seqpacket_pair", k_seqpacket_pair, METH_NOARGS, "socketpair(AF_UNIX, SOCK_SEQPACKET|SOCK_CLOEXEC)"},
    {"send_fds", k_send_fds, METH_VARARGS, "send_fds(fd, data, fds) -> bytes sent"},
    {"recv_fds", k_recv_fds, METH_VARARGS, "recv_fds(fd, maxlen) -> (data, fds)"},
    {"link_up", k_link_up, METH_VARARGS, "link_up(ifname)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_kernel", .m_size = -1, .m_methods = methods,
};

PyMODINIT_FUNC PyInit__kernel(void)
{
    return PyModule_Create(&module);
}
