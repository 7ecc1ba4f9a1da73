/* sdnotify MSG...: what sd_notify(3) does, for each MSG: one datagram to the
 * AF_UNIX socket named by $NOTIFY_SOCKET, then print "sent MSG" (or the
 * error, exit 1). busybox has no AF_UNIX datagram client. Build: gcc -static. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || *path == '\0') {
        fprintf(stderr, "sdnotify: NOTIFY_SOCKET is not set\n");
        return 1;
    }
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "sdnotify: %s: path too long\n", path);
        return 1;
    }
    strcpy(sa.sun_path, path);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0'; /* an abstract socket, as systemd spells it */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("sdnotify: socket");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        if (sendto(fd, argv[i], strlen(argv[i]), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            fprintf(stderr, "sdnotify: sendto %s: %s\n", path, strerror(errno));
            return 1;
        }
        printf("sent %s\n", argv[i]);
        fflush(stdout);
    }
    return 0;
}
