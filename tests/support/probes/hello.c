/* hello [EXIT]: the whole "scratch" image of the client tests. Prints its
 * pid, uid and arguments on stdout, a line on stderr, and exits with EXIT
 * (default 0). Static: the image holds no libc, no shell, nothing else. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    printf("hello from scratch pid=%d uid=%d", (int)getpid(), (int)getuid());
    for (int i = 1; i < argc; i++)
        printf(" arg=%s", argv[i]);
    printf("\n");
    fprintf(stderr, "hello on stderr\n");
    return argc > 1 ? atoi(argv[1]) : 0;
}
