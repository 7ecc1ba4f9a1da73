/* keyring keyctl|add_key: one kernel keyring call, which container seccomp
 * profiles refuse (the keyring is not namespaced): Docker's profile answers
 * keyctl with EPERM, Podman's leaves add_key out (ENOSYS). Prints
 * "<call>: ok" or "<call>: <error>"; exit 0 or 1.
 * keyring session: prints "session: <id>", the serial of our session
 * keyring (without creating one). */
#include <errno.h>
#include <linux/keyctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *call = argc > 1 ? argv[1] : "keyctl";
    long r;
    if (strcmp(call, "session") == 0) {
        r = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
        if (r >= 0) {
            printf("session: %ld\n", r);
            return 0;
        }
    } else if (strcmp(call, "add_key") == 0)
        r = syscall(SYS_add_key, "user", "pyrt-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING);
    else
        r = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 1);
    if (r < 0) {
        printf("%s: %s\n", call, strerror(errno));
        return 1;
    }
    printf("%s: ok\n", call);
    return 0;
}
