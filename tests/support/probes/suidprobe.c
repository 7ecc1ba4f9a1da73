/* suidprobe: installed setuid-root in a test rootfs. Prints the real and
 * effective uid it runs with, and whether it could use root's power:
 * "ruid=1000 euid=0 open_root_only=ok" when the setuid bit gave it root,
 * "ruid=1000 euid=1000 open_root_only=-13" when noNewPrivileges stopped it.
 * open_root_only: opening /root-only (a 0600 root file in the rootfs) for reading. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    int fd = open("/root-only", O_RDONLY);
    int err = fd < 0 ? -errno : 0;
    if (fd >= 0)
        close(fd);
    printf("ruid=%d euid=%d open_root_only=", (int)getuid(), (int)geteuid());
    if (err)
        printf("%d\n", err);
    else
        printf("ok\n");
    return 0;
}
