/* memhog MIB: allocate MIB mebibytes, touching every page, then print
 * "survived MIB". Built statically so it runs in a busybox rootfs.
 * Used by tests/integration/test_cgroups.py to trip a memory limit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long mib = argc > 1 ? atol(argv[1]) : 64;
    long page = sysconf(_SC_PAGESIZE);
    for (long i = 0; i < mib; i++) {
        char *p = malloc(1 << 20);
        if (p == NULL) {
            printf("malloc failed at %ld MiB\n", i);
            return 2;
        }
        for (long off = 0; off < (1 << 20); off += page)
            p[off] = (char)off | 1;
    }
    printf("survived %ld\n", mib);
    return 0;
}
