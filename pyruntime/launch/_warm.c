/* _warm: the launchers' C part, in the command's own process. It offers a
 * command the table calls served (launch/commands.py SERVED, through the
 * generated _commands.h) to a warm pyruntime server instead of starting an
 * interpreter (launch/server.py, which alone decides whether it takes it),
 * and otherwise starts the interpreter: from a sealed copy for the SEALED
 * commands (_sealexec.c), as is for the others.
 *
 *   _warm PYTHON -I -S -c SCRIPT ARG...
 *
 * bin/pyruntime (the sh launcher) execs this with the argv it would
 * otherwise exec; the installed C launcher (_launcher.c) includes it and
 * calls warm_main() with that argv. Starting Python costs ~7 ms before any of our code runs;
 * runc answers `state` in ~5 ms. A server that has imported the CLI once
 * forks a worker per command instead (~1 ms).
 *
 * The server for this caller listens on the abstract unix socket
 * "\0pyruntime-warm/<key>" (of our network namespace; it vanishes with the
 * server), where the key hashes the --root and this binary's identity (an
 * upgrade gets a new server). The server checks the rest (uid, namespaces,
 * capabilities, seccomp, LSM label, rlimits: pyruntime/launch/identity.py)
 * against /proc/<our pid> and what we report (securebits, session keyring),
 * lends the worker our cgroups
 * (pyruntime/launch/placement.py). The server says
 *   "H"            on accepting the connection: then we send the request
 *                  and our stdio and cwd (SCM_RIGHTS), and it answers
 *   "A"            accepted: a worker runs the command; then
 *   "S<status>"    its wait status: we exit the same way
 * and while a RELAYED command (run, exec) waits, we send "K<sig>" for each signal we get (the
 * worker forwards it to the container, as `run` does).
 *   "L"            run it yourself
 * Anything unexpected before "A": we run the interpreter as bin/pyruntime
 * would have (PYTHON ARG... as given), with PYRUNTIME_WARM_SPAWN=<key>:<root>
 * when no server answered, so that the command starts one when it is done
 * (launch/spawn.py).
 * After "A" the command may have run: a lost server is an error, not a retry.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "_commands.h" /* SEALED_, SERVED_, RELAYED_COMMANDS, VALUE_FLAGS, SWITCH_FLAGS */
#include "_pylocale.h"

#define WARM_NAME "pyruntime-warm/" /* + key: the server's abstract socket name */
#define MAX_MSG (192 * 1024) /* under the default unix socket send buffer */
#define USER_ARGS 6          /* argv: _warm PYTHON -I -S -c SCRIPT ARG... */

extern char **environ;

static char msg[MAX_MSG];
static int sealed; /* a SEALED command: the interpreter must start from a sealed copy */

/* Run the command the ordinary way: the interpreter, with the argv we got
 * (a SEALED command's through _sealexec beside us). */
static void local(char **argv, const char *spawn)
{
    if (spawn)
        setenv("PYRUNTIME_WARM_SPAWN", spawn, 1);
    python_c_locale();
    if (sealed) {
#ifdef PYRT_LAUNCHER
        exec_sealed(argv + 1); /* _sealexec.c, included before us */
#endif
        static char helper[4096];
        ssize_t n = readlink("/proc/self/exe", helper, sizeof(helper) - 16);
        char *slash = n > 0 ? memrchr(helper, '/', (size_t)n) : NULL;
        if (slash) {
            strcpy(slash + 1, "_sealexec");
            argv[0] = helper;
            execv(helper, argv);
        }
    }
    execvp(argv[1], argv + 1); /* a path, or "python3" from $PATH */
    perror("pyruntime: exec python");
    _exit(127);
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Whether name[0..len) is one of the NULL-terminated list. */
static int listed_n(const char *const *list, const char *name, size_t len)
{
    for (; *list; list++)
        if (strlen(*list) == len && !strncmp(*list, name, len))
            return 1;
    return 0;
}

static int listed(const char *const *list, const char *name)
{
    return name && listed_n(list, name, strlen(name));
}

/* The --root the CLI will use, absolute, or NULL where we would not guess
 * right (a path main()'s abspath would rewrite, an unknown global flag). */
static const char *find_root(int argc, char **argv, const char **command)
{
    static char abs[4096];
    const char *root = NULL;
    int i = USER_ARGS;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-')
            break;
        const char *name = a + (a[1] == '-' ? 2 : 1);
        size_t len = strcspn(name, "=");
        const char *value = name[len] == '=' ? name + len + 1 : NULL;
        if (len == 4 && !strncmp(name, "root", 4)) {
            root = value ? value : (i + 1 < argc ? argv[++i] : NULL);
            if (!root)
                return NULL;
        } else if (listed_n(VALUE_FLAGS, name, len)) {
            if (!value && ++i >= argc)
                return NULL;
        } else if (!listed_n(SWITCH_FLAGS, name, len) || value) {
            return NULL; /* --version, --help, --x...: not ours to serve */
        }
    }
    if (i >= argc)
        return NULL;
    *command = argv[i];
    if (!root)
        root = getenv("PYRUNTIME_ROOT");
    if (!root || !*root)
        root = "/run/pyruntime";
    if (root[0] == '/') {
        if (strlen(root) >= sizeof(abs))
            return NULL;
        strcpy(abs, root);
    } else {
        if (!getcwd(abs, sizeof(abs)) || strlen(abs) + strlen(root) + 2 >= sizeof(abs))
            return NULL;
        if (strcmp(abs, "/"))
            strcat(abs, "/");
        strcat(abs, root);
    }
    size_t n = strlen(abs);
    if (strstr(abs, "//") || strstr(abs, "/./") || strstr(abs, "/../") || (n > 1 && abs[n - 1] == '/') ||
        (n >= 2 && !strcmp(abs + n - 2, "/.")) || (n >= 3 && !strcmp(abs + n - 3, "/..")))
        return NULL;
    return abs;
}

/* Signals a foreground `run` or `exec` forwards to its process (lifecycle/run.py):
 * we catch them and pass them on to the worker through the server. Not the
 * ones that report our own faults, nor glibc's internal 32 and 33. */
static int sigpipe_w = -1;

static void on_signal(int sig)
{
    unsigned char b = (unsigned char)sig;
    int saved = errno;
    (void)!write(sigpipe_w, &b, 1);
    errno = saved;
}

static int forwarded(int sig)
{
    return !(sig == SIGKILL || sig == SIGSTOP || sig == SIGCHLD || sig == SIGSEGV || sig == SIGBUS ||
             sig == SIGFPE || sig == SIGILL || sig == SIGSYS || sig == SIGTRAP || sig == SIGABRT || sig == 32 ||
             sig == 33);
}

/* Wait for the worker's status, forwarding our signals meanwhile ("K<sig>"). */
static ssize_t relay_signals(int s, char *reply, size_t size)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    sigpipe_w = p[1];
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigset_t take;
    sigemptyset(&take);
    for (int sig = 1; sig < NSIG; sig++)
        if (forwarded(sig)) {
            sigaction(sig, &sa, NULL);
            sigaddset(&take, sig);
        }
    /* As runc's `run` (Go unblocks every signal it is notified of): a signal
       our caller blocks is still forwarded. The server read our mask before
       its "A" (the worker and the container derive theirs from it). */
    sigprocmask(SIG_UNBLOCK, &take, NULL);
    for (;;) {
        struct pollfd pf[2] = {{.fd = s, .events = POLLIN}, {.fd = p[0], .events = POLLIN}};
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        unsigned char sigs[64];
        ssize_t k = pf[1].revents ? read(p[0], sigs, sizeof(sigs)) : 0;
        for (ssize_t i = 0; i < k; i++) {
            char m[16];
            int n = snprintf(m, sizeof(m), "K%d", sigs[i]);
            send(s, m, (size_t)n, MSG_NOSIGNAL);
        }
        if (pf[0].revents)
            return recv(s, reply, size, 0);
    }
}

/* Any argument naming a SEALED command (as the bootstrap decides it,
 * launch/boot.py): conservative, where the global flags do not parse. */
static int any_sealed(int argc, char **argv, int first)
{
    for (int i = first; i < argc; i++)
        if (listed(SEALED_COMMANDS, argv[i]))
            return 1;
    return 0;
}

/* A container id as state/ids.py allows it: [A-Za-z0-9_+-.], not "." or
 * "..", at most 255 bytes (a directory name under --root). */
static int valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 255 || !strcmp(id, ".") || !strcmp(id, ".."))
        return 0;
    return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.") == n;
}

/* `delete --force ID` of a container that is not there: nothing to do, rc 0
 * (runc's answer too), decided here as cli/cmd_delete.py decides it, without
 * the interpreter (~50 ms). containerd runs it last for every container, from
 * its `containerd-shim-runc-v2 delete` cleanup process, a subreaper that
 * starts no server and is served only where one was started outside it.
 * Only the plain forms (the global flags containerd passes, `--force`/`-f`
 * and the id); anything else goes on. */
static int deleted_already(int argc, char **argv, const char *root, const char *command)
{
    int at = USER_ARGS;
    while (at < argc && argv[at] != command)
        at++;
    const char *log = NULL;
    /* without --root or PYRUNTIME_ROOT the default may be $XDG_RUNTIME_DIR's (rootless.py) */
    int rooted = getenv("PYRUNTIME_ROOT") && *getenv("PYRUNTIME_ROOT");
    for (int i = USER_ARGS; i < at; i++) {
        const char *a = argv[i], *name = a + (a[1] == '-' ? 2 : 1);
        size_t len = strcspn(name, "=");
        int inline_value = name[len] == '=';
        const char *value = inline_value ? name + len + 1 : (i + 1 < at ? argv[i + 1] : NULL);
        if (len == 14 && !strncmp(name, "systemd-cgroup", 14) && !inline_value)
            continue;
        if (!value)
            return 0;
        if (len == 3 && !strncmp(name, "log", 3))
            log = value;
        else if (len == 10 && !strncmp(name, "log-format", 10)) {
            if (strcmp(value, "text") && strcmp(value, "json"))
                return 0; /* the interpreter says what is wrong with it */
        } else if (len == 4 && !strncmp(name, "root", 4))
            rooted = 1;
        else
            return 0; /* --debug, --rootless, --criu: the interpreter's */
        i += !inline_value;
    }
    int force = 0;
    const char *id = NULL;
    for (int i = at + 1; i < argc; i++) {
        if (!strcmp(argv[i], "--force") || !strcmp(argv[i], "-f"))
            force = 1;
        else if (argv[i][0] == '-' || id)
            return 0;
        else
            id = argv[i];
    }
    char path[4096 + 256 + 2];
    struct stat st;
    if (!rooted || !force || !id || !valid_id(id) || (size_t)snprintf(path, sizeof(path), "%s/%s", root, id) >= sizeof(path))
        return 0;
    if (lstat(path, &st) == 0 || errno != ENOENT)
        return 0;
    if (log) { /* created, as the interpreter's log.check_path (and runc) would */
        int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return 0; /* the interpreter reports it */
        close(fd);
    }
    return 1;
}

/* Append s and its NUL to msg at *at; 0 when it does not fit. */
static int put(size_t *at, const char *s)
{
    size_t n = strlen(s) + 1;
    if (*at + n > sizeof(msg))
        return 0;
    memcpy(msg + *at, s, n);
    *at += n;
    return 1;
}

static int warm_main(int argc, char **argv)
{
    if (argc < USER_ARGS + 1)
        return argc >= 2 ? (local(argv, NULL), 127) : 127;
    sealed = any_sealed(argc, argv, USER_ARGS);
    if (geteuid() != 0) /* find_root knows root's default --root only */
        local(argv, NULL);
    const char *command = NULL;
    const char *root = find_root(argc, argv, &command);
    if (root && !strcmp(command, "delete") && deleted_already(argc, argv, root, command))
        return 0;
    const char *off = getenv("PYRUNTIME_WARM");
    if (off && !strcmp(off, "0"))
        local(argv, NULL);
    if (!root || !listed(SERVED_COMMANDS, command)) /* the server decides the rest */
        local(argv, NULL);
    for (int fd = 0; fd <= 2; fd++) /* a closed stdio: too odd to hand over */
        if (fcntl(fd, F_GETFD) < 0)
            local(argv, NULL);

    /* The key: root and this binary. */
    uint64_t key = fnv1a(0xcbf29ce484222325ULL, root, strlen(root) + 1);
    struct stat self;
    if (stat("/proc/self/exe", &self) < 0)
        local(argv, NULL);
    char ident[96];
    snprintf(ident, sizeof(ident), "%lu:%lu:%ld.%09ld", (unsigned long)self.st_dev, (unsigned long)self.st_ino,
             (long)self.st_mtim.tv_sec, (long)self.st_mtim.tv_nsec);
    key = fnv1a(key, ident, strlen(ident));
    /* An abstract name ("\0" first): gone with the server, however it dies. */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int len = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, WARM_NAME "%016llx", (unsigned long long)key);
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
    static char spawn[64 + 4096]; /* "<key>:<root>" for launch/spawn.py */
    snprintf(spawn, sizeof(spawn), "%016llx:%s", (unsigned long long)key, root);

    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0)
        local(argv, NULL);
    /* Until the server says "A" nothing has run: a server that does not
     * answer (stopped, stuck, its backlog full) is left for the local path. */
    struct timeval patience = {.tv_sec = 2};
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &patience, sizeof(patience));
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof(patience));
    if (connect(s, (struct sockaddr *)&sa, salen) < 0)
        local(argv, spawn); /* none yet: start one */
    struct ucred cred;
    socklen_t cl = sizeof(cred);
    if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || cred.uid != 0)
        local(argv, NULL); /* anyone may bind an abstract name: only root's server is ours */
    /* Our stdio goes over only once the server has taken the connection
     * ("H"): fds queued on a socket nobody accepts stay open as long as it
     * lives, and a caller reading our stdout until EOF would wait for it. */
    char hello;
    if (recv(s, &hello, 1, 0) != 1 || hello != 'H')
        local(argv, NULL);

    /* "PYRTW2" umask securebits keyring argc args... env...: securebits and
     * the session keyring are what /proc does not show of us (the server
     * compares them with its own: launch/identity.py). Asking for the
     * session keyring installs the user session keyring as ours when we
     * have none (the kernel's lookup_user_key), as any use of it would. */
    size_t at = 0;
    char num[32];
    mode_t um = umask(022);
    umask(um);
    int ok = put(&at, "PYRTW2");
    snprintf(num, sizeof(num), "%o", (unsigned)um);
    ok = ok && put(&at, num);
    snprintf(num, sizeof(num), "%d", prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
    ok = ok && put(&at, num);
    long keyring = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* KEY_SPEC_SESSION_KEYRING */, 0);
    snprintf(num, sizeof(num), "%ld", keyring < 0 ? -(long)errno : keyring);
    ok = ok && put(&at, num);
    snprintf(num, sizeof(num), "%d", argc - USER_ARGS);
    ok = ok && put(&at, num);
    for (int i = USER_ARGS; ok && i < argc; i++)
        ok = put(&at, argv[i]);
    for (char **e = environ; ok && *e; e++)
        if (strncmp(*e, "PYRUNTIME_WARM_SPAWN=", 21))
            ok = put(&at, *e);
    int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (!ok || cwd < 0)
        local(argv, NULL);

    int fds[4] = {0, 1, 2, cwd};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(fds))];
    } ctl;
    struct iovec iov = {.iov_base = msg, .iov_len = at};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(fds));
    memcpy(CMSG_DATA(c), fds, sizeof(fds));
    if (sendmsg(s, &mh, MSG_NOSIGNAL) != (ssize_t)at)
        local(argv, NULL);
    close(cwd);

    char reply[32];
    ssize_t n = recv(s, reply, sizeof(reply) - 1, 0);
    if (n != 1 || reply[0] != 'A') /* refused ("L"), silent, or gone before running anything */
        local(argv, NULL);
    struct timeval forever = {0}; /* the command runs as long as it runs */
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &forever, sizeof(forever));
    if (listed(RELAYED_COMMANDS, command))
        n = relay_signals(s, reply, sizeof(reply) - 1);
    else
        n = recv(s, reply, sizeof(reply) - 1, 0);
    if (n < 2 || reply[0] != 'S') {
        fprintf(stderr, "pyruntime: the warm server went away while running %s\n", command);
        return 1;
    }
    reply[n] = 0;
    int status = atoi(reply + 1);
    if (WIFSIGNALED(status)) { /* as the command's own process would have ended */
        int sig = WTERMSIG(status);
        signal(sig, SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, sig);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        raise(sig);
        return 128 + sig;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

#ifndef PYRT_LAUNCHER /* the launcher (_launcher.c) includes this file */
int main(int argc, char **argv)
{
    return warm_main(argc, argv);
}
#endif
