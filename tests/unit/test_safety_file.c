/* Unit tests of node/safety_file: round trip, reopen, limits, corruption detection, torn
 * writes, and a crash test: a forked writer SIGKILLed at random points must leave the last
 * acknowledged record or the next one, never garbage. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/mem.h"
#include "base/reader.h"
#include "node/safety_file.h"
#include "unit.h"

struct fixture {
    char dir[64];
    char path[128];
};

static int
setup(void **state)
{
    struct fixture *fx = mem_calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/lm_safety_XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        return -1;
    }
    snprintf(fx->path, sizeof fx->path, "%s/safety.rec", fx->dir);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fx = *state;
    unlink(fx->path);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", fx->path);
    unlink(tmp);
    rmdir(fx->dir);
    mem_free(fx);
    return 0;
}

/* A record whose bytes all derive from n, of a size that varies with n. */
static size_t
make_record(uint64_t n, uint8_t *out)
{
    size_t size = 8 + (size_t)(n * 37 % 2000);
    store_u64(out, n);
    for (size_t i = 8; i < size; i++) {
        out[i] = (uint8_t)(n * 31 + i);
    }
    return size;
}

/* The counter of a record made by make_record, or UINT64_MAX if it is not one. */
static uint64_t
check_record(const uint8_t *data, size_t size)
{
    if (size < 8) {
        return UINT64_MAX;
    }
    uint8_t expect[SAFETY_FILE_RECORD_MAX];
    uint64_t n = load_u64(data);
    if (make_record(n, expect) != size || memcmp(expect, data, size) != 0) {
        return UINT64_MAX;
    }
    return n;
}

static void
flip_byte(const char *path, off_t offset)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b = 0;
    assert_int_equal(pread(fd, &b, 1, offset), 1);
    b ^= 0x40;
    assert_int_equal(pwrite(fd, &b, 1, offset), 1);
    close(fd);
}

static void
test_round_trip(void **state)
{
    struct fixture *fx = *state;
    struct safety_file *f = NULL;
    assert_int_equal(safety_file_open(fx->path, &f), ERR_OK);
    uint8_t buf[SAFETY_FILE_RECORD_MAX];
    size_t size = 99;
    assert_int_equal(safety_file_read(f, buf, sizeof buf, &size), ERR_OK);
    assert_int_equal(size, 0); /* fresh */
    assert_int_equal(safety_file_sequence(f), 1);
    struct stat st;
    assert_int_equal(stat(fx->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, SAFETY_FILE_SIZE);

    uint8_t rec[SAFETY_FILE_RECORD_MAX];
    for (uint64_t n = 1; n <= 5; n++) {
        size_t rec_size = make_record(n, rec);
        assert_int_equal(safety_file_write(f, rec, rec_size), ERR_OK);
        assert_int_equal(safety_file_read(f, buf, sizeof buf, &size), ERR_OK);
        assert_int_equal(check_record(buf, size), n);
    }
    assert_int_equal(safety_file_sequence(f), 6);
    uint8_t small[4];
    assert_int_equal(safety_file_read(f, small, sizeof small, &size), ERR_TOO_LARGE);
    memset(rec, 0xab, sizeof rec);
    assert_int_equal(safety_file_write(f, rec, SAFETY_FILE_RECORD_MAX), ERR_OK);
    safety_file_close(f);

    assert_int_equal(safety_file_open(fx->path, &f), ERR_OK);
    assert_int_equal(safety_file_sequence(f), 7);
    assert_int_equal(safety_file_read(f, buf, sizeof buf, &size), ERR_OK);
    assert_int_equal(size, SAFETY_FILE_RECORD_MAX);
    assert_memory_equal(buf, rec, size);
    size_t rec_size = make_record(42, rec);
    assert_int_equal(safety_file_write(f, rec, rec_size), ERR_OK);
    safety_file_close(f);
    assert_int_equal(safety_file_open(fx->path, &f), ERR_OK);
    assert_int_equal(safety_file_read(f, buf, sizeof buf, &size), ERR_OK);
    assert_int_equal(check_record(buf, size), 42);
    safety_file_close(f);
    safety_file_close(NULL);
}

static void
test_corruption(void **state)
{
    struct fixture *fx = *state;
    struct safety_file *f = NULL;
    assert_int_equal(safety_file_open(fx->path, &f), ERR_OK);
    uint8_t rec[SAFETY_FILE_RECORD_MAX];
    assert_int_equal(safety_file_write(f, rec, make_record(1, rec)), ERR_OK); /* slot 1 */
    assert_int_equal(safety_file_write(f, rec, make_record(2, rec)), ERR_OK); /* slot 0 */
    safety_file_close(f);

    /* A bit flip in the newest record's data: the previous record is what remains valid. */
    flip_byte(fx->path, SAFETY_FILE_HEADER_SIZE + 9);
    assert_int_equal(safety_file_open(fx->path, &f), ERR_OK);
    uint8_t buf[SAFETY_FILE_RECORD_MAX];
    size_t size = 0;
    assert_int_equal(safety_file_read(f, buf, sizeof buf, &size), ERR_OK);
    assert_int_equal(check_record(buf, size), 1);
    safety_file_close(f);

    /* Both slots damaged: corrupt, never a silent fresh start. */
    flip_byte(fx->path, SAFETY_FILE_SLOT_SIZE + 8);
    struct safety_file *g = (struct safety_file *)0x1;
    assert_int_equal(safety_file_open(fx->path, &g), ERR_CORRUPT);
    assert_ptr_equal(g, (struct safety_file *)0x1);

    /* Wrong size. */
    assert_int_equal(truncate(fx->path, SAFETY_FILE_SIZE - 1), 0);
    assert_int_equal(safety_file_open(fx->path, &g), ERR_CORRUPT);
    assert_int_equal(truncate(fx->path, 0), 0);
    assert_int_equal(safety_file_open(fx->path, &g), ERR_CORRUPT);
}

/* A torn write (the new slot only partly on disk, at any length) reads as the old record. */
static void
test_torn_write(void **state)
{
    struct fixture *fx = *state;
    struct safety_file *f = NULL;
    assert_int_equal(safety_file_open(fx->path, &f), ERR_OK);
    uint8_t rec[SAFETY_FILE_RECORD_MAX];
    assert_int_equal(safety_file_write(f, rec, make_record(7, rec)), ERR_OK); /* slot 1 */
    safety_file_close(f);
    /* The next write goes to slot 0; write its image partially, at many lengths. */
    uint8_t image[SAFETY_FILE_SLOT_SIZE];
    memset(image, 0, sizeof image);
    size_t rec_size = make_record(8, rec);
    static const uint8_t magic[8] = { 'L', 'M', 'S', 'A', 'F', 'E', '1', '\n' };
    memcpy(image, magic, sizeof magic);
    store_u64(image + 8, 3);
    store_u32(image + 16, (uint32_t)rec_size);
    memcpy(image + SAFETY_FILE_HEADER_SIZE, rec, rec_size);
    static const size_t cuts[] = { 1, 8, 16, 20, 24, 33, 512, 1000, 2047 };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        int fd = open(fx->path, O_RDWR);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, image, cuts[i], 0), (ssize_t)cuts[i]);
        close(fd);
        assert_int_equal(safety_file_open(fx->path, &f), ERR_OK);
        uint8_t buf[SAFETY_FILE_RECORD_MAX];
        size_t size = 0;
        assert_int_equal(safety_file_read(f, buf, sizeof buf, &size), ERR_OK);
        assert_int_equal(check_record(buf, size), 7);
        safety_file_close(f);
    }
}

static void
test_creation_errors(void **state)
{
    struct fixture *fx = *state;
    struct safety_file *f = NULL;
    assert_int_equal(safety_file_open("/nonexistent-dir-lm/safety.rec", &f), ERR_NOT_FOUND);
    assert_null(f);
    (void)fx;
}

/* The child writes records 1, 2, 3, ... and reports each after safety_file_write returned. */
static void
crash_child(const char *path, int report_fd)
{
    struct safety_file *f = NULL;
    if (safety_file_open(path, &f) != ERR_OK) {
        _exit(3);
    }
    uint8_t buf[SAFETY_FILE_RECORD_MAX];
    size_t size = 0;
    if (safety_file_read(f, buf, sizeof buf, &size) != ERR_OK) {
        _exit(4);
    }
    uint64_t n = size == 0 ? 0 : check_record(buf, size);
    if (n == UINT64_MAX) {
        _exit(5);
    }
    for (;;) {
        n++;
        uint8_t rec[SAFETY_FILE_RECORD_MAX];
        size_t rec_size = make_record(n, rec);
        if (safety_file_write(f, rec, rec_size) != ERR_OK) {
            _exit(6);
        }
        uint8_t ack[8];
        store_u64(ack, n);
        if (write(report_fd, ack, sizeof ack) != (ssize_t)sizeof ack) {
            _exit(7);
        }
    }
}

static void
test_crash_sigkill(void **state)
{
    struct fixture *fx = *state;
    uint64_t acked = 0;
    uint32_t seed = 20261125;
    for (int round = 0; round < 40; round++) {
        int pipefd[2];
        assert_int_equal(pipe(pipefd), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(pipefd[0]);
            crash_child(fx->path, pipefd[1]);
        }
        close(pipefd[1]);
        seed = seed * 1103515245u + 12345u;
        struct timespec delay = { 0, (long)(1000000 + (seed >> 8) % 20000000) };
        nanosleep(&delay, NULL);
        assert_int_equal(kill(pid, SIGKILL), 0);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status)); /* it was writing, not failing */
        uint8_t ack[8];
        while (read(pipefd[0], ack, sizeof ack) == (ssize_t)sizeof ack) {
            acked = load_u64(ack);
        }
        close(pipefd[0]);
        /* Power-loss model: in half the rounds, also tear the slot the next write would
         * use (it holds the older record) at a random length. */
        struct safety_file *f = NULL;
        assert_int_equal(safety_file_open(fx->path, &f), ERR_OK);
        uint8_t buf[SAFETY_FILE_RECORD_MAX];
        size_t size = 0;
        assert_int_equal(safety_file_read(f, buf, sizeof buf, &size), ERR_OK);
        uint64_t found = size == 0 ? 0 : check_record(buf, size); /* 0: killed before any */
        if (found != acked && found != acked + 1) {
            fail_msg("round %d: found record %llu, last acknowledged %llu", round,
                     (unsigned long long)found, (unsigned long long)acked);
        }
        acked = found;
        uint64_t sequence = safety_file_sequence(f);
        safety_file_close(f);
        if (round % 2 == 1) {
            /* Sequence 1 is in slot 0 and writes alternate, so the newest record is in slot
             * (sequence - 1) % 2; tear the other one, slot sequence % 2. */
            int fd = open(fx->path, O_RDWR);
            assert_true(fd >= 0);
            uint8_t garbage[SAFETY_FILE_SLOT_SIZE];
            for (size_t i = 0; i < sizeof garbage; i++) {
                seed = seed * 1103515245u + 12345u;
                garbage[i] = (uint8_t)(seed >> 16);
            }
            size_t cut = 1 + (seed >> 4) % (SAFETY_FILE_SLOT_SIZE - 1);
            off_t other = (off_t)(sequence % 2) * (off_t)SAFETY_FILE_SLOT_SIZE;
            assert_int_equal(pwrite(fd, garbage, cut, other), (ssize_t)cut);
            close(fd);
            assert_int_equal(safety_file_open(fx->path, &f), ERR_OK);
            assert_int_equal(safety_file_read(f, buf, sizeof buf, &size), ERR_OK);
            assert_int_equal(size == 0 ? 0 : check_record(buf, size), acked);
            safety_file_close(f);
        }
    }
    assert_true(acked > 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corruption, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_creation_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_sigkill, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
