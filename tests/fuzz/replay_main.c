/* Replays a libFuzzer corpus through a fuzz target without libFuzzer, so CTest runs every
 * corpus file on every build (normal and sanitizer). Usage: fuzz_x DIR_OR_FILE... */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    uint8_t *data = mem_alloc(1 << 20);
    size_t size = fread(data, 1, 1 << 20, f);
    fclose(f);
    LLVMFuzzerTestOneInput(data, size);
    mem_free(data);
    return 0;
}

static int
replay_dir(const char *dir, unsigned *count)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return replay_file(dir) == 0 ? (++*count, 0) : -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (replay_file(path) != 0) {
            closedir(d);
            return -1;
        }
        ++*count;
    }
    closedir(d);
    return 0;
}

int
main(int argc, char **argv)
{
    unsigned count = 0;
    for (int i = 1; i < argc; i++) {
        if (replay_dir(argv[i], &count) != 0) {
            return 1;
        }
    }
    /* Also the empty input, so a target with no corpus yet still runs once. */
    LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
    printf("replayed %u inputs\n", count);
    return 0;
}
