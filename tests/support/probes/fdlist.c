/* fdlist [PID]: the open file descriptors of PID (default: itself) as
 * "fd N -> TARGET" lines, then "end". Its own directory stream on
 * /proc/self/fd is left out, so the list is exactly what the process
 * was given at execve (the fd-leak tests). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char dir[64];
    int self = argc < 2;
    snprintf(dir, sizeof dir, "/proc/%s/fd", self ? "self" : argv[1]);
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return 1;
    }
    int own = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (self && fd == own)
            continue;
        char path[400], target[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        target[n < 0 ? 0 : n] = 0;
        printf("fd %d -> %s\n", fd, target);
    }
    closedir(d);
    printf("end\n");
    return 0;
}
