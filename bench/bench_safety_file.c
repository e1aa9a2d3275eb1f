/* Durable safety-record writes (node/safety_file.h): the cost a validator pays before each
 * vote or timeout leaves it. usage: bench_safety_file [DIR=.] [WRITES=2000] [SIZE=400] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "node/safety_file.h"

static double
now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

int
main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    unsigned long writes = argc > 2 ? strtoul(argv[2], NULL, 10) : 2000;
    unsigned long size = argc > 3 ? strtoul(argv[3], NULL, 10) : 400;
    if (writes == 0 || size > SAFETY_FILE_RECORD_MAX) {
        fprintf(stderr, "bad arguments\n");
        return 1;
    }
    log_set_level(LOG_LEVEL_WARN);
    char path[1024];
    snprintf(path, sizeof path, "%s/bench_safety.rec", dir);
    unlink(path);
    struct safety_file *f = NULL;
    if (safety_file_open(path, &f) != ERR_OK) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    static uint8_t record[SAFETY_FILE_RECORD_MAX];
    double worst = 0;
    double start = now_us();
    for (unsigned long i = 0; i < writes; i++) {
        memset(record, (int)(i & 0xff), size);
        double t0 = now_us();
        if (safety_file_write(f, record, size) != ERR_OK) {
            fprintf(stderr, "write failed\n");
            return 1;
        }
        double dt = now_us() - t0;
        worst = dt > worst ? dt : worst;
    }
    double total = now_us() - start;
    printf("%lu writes of %lu bytes: %.1f us/write (fdatasync included), worst %.0f us\n", writes,
           size, total / (double)writes, worst);
    safety_file_close(f);
    unlink(path);
    return 0;
}
