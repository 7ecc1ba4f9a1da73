/* A dynamically linked probe for the NVIDIA hook tests and scripts/gpu-check.sh.
 *
 *   cuda_probe [DEVICE...]
 *
 * dlopen("libcuda.so.1") the way CUDA applications do, then print what the
 * driver library says: nv_fake_version (the fake driver of the tests only),
 * cuDriverGetVersion, cuInit and cuDeviceGetCount; then, for each DEVICE path,
 * the result of open(O_RDWR): "ok" or the errno name. Exit 0 when libcuda
 * loaded, 2 when it did not.
 */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *errname(int e) {
    switch (e) {
    case ENXIO: return "ENXIO";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case ENODEV: return "ENODEV";
    default: return strerror(e);
    }
}

int main(int argc, char **argv) {
    void *h = dlopen("libcuda.so.1", RTLD_NOW);
    if (!h) {
        printf("dlopen libcuda.so.1: %s\n", dlerror());
    } else {
        Dl_info info;
        const char *(*fake)(void) = (const char *(*)(void))dlsym(h, "nv_fake_version");
        int (*drv)(int *) = (int (*)(int *))dlsym(h, "cuDriverGetVersion");
        int (*init)(unsigned) = (int (*)(unsigned))dlsym(h, "cuInit");
        int (*count)(int *) = (int (*)(int *))dlsym(h, "cuDeviceGetCount");
        if (drv && dladdr((void *)drv, &info) && info.dli_fname)
            printf("libcuda: %s\n", info.dli_fname);
        if (fake)
            printf("nv_fake_version: %s\n", fake());
        if (drv) {
            int v = 0, r = drv(&v);
            printf("cuDriverGetVersion: %d (%d)\n", v, r);
        }
        if (init) {
            int r = init(0);
            printf("cuInit: %d\n", r);
            if (r == 0 && count) {
                int n = -1;
                r = count(&n);
                printf("cuDeviceGetCount: %d (%d)\n", n, r);
            }
        }
    }
    for (int i = 1; i < argc; i++) {
        int fd = open(argv[i], O_RDWR);
        if (fd >= 0) {
            printf("open %s: ok\n", argv[i]);
            close(fd);
        } else {
            printf("open %s: %s\n", argv[i], errname(errno));
        }
    }
    fflush(stdout);
    return h ? 0 : 2;
}
