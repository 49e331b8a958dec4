/* A library a function ships in its zip under a name system tools load
 * (libnss_systemd.so.2: any user lookup opens it): its constructor records the uid of
 * every process that loads it in /tmp/quarry-preload. test_sandbox.py asserts root never
 * did. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

__attribute__((constructor)) static void record(void)
{
    char line[64];
    int n = snprintf(line, sizeof(line), "uid=%u\n", (unsigned)getuid());
    int fd = open("/tmp/quarry-preload", O_WRONLY | O_CREAT | O_APPEND, 0666);
    if (fd >= 0) {
        (void)!write(fd, line, (size_t)n);
        close(fd);
    }
}
