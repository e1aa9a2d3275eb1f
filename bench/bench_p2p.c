/* Throughput of one p2p link: 200-byte frames from one process to another over TLS 1.3 on
 * 127.0.0.1, through the real p2p API (mutual authentication, framing, coalescing,
 * back-pressure). The receiver is a forked child; when it has every frame it answers with
 * one frame, and the sender reports frames/s, MB/s (payload bytes, 10^6) and its CPU time.
 *
 * usage: bench_p2p [FRAMES] [PAYLOAD_BYTES]   (default 2000000 frames of 200 bytes) */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/log.h"
#include "base/reader.h"
#include "crypto/sign.h"
#include "p2p/p2p.h"

#define FRAMES_DEFAULT  2000000ull
#define PAYLOAD_DEFAULT 200u
#define PAYLOAD_MAX     65536u

struct side {
    struct p2p *p2p;
    struct public_key peer;
    uint64_t frames;   /* received */
    uint64_t expected; /* receiver: frames to wait for */
    bool connected;
    bool done;
    bool bad_order;
};

static double
now_s(clockid_t clock)
{
    struct timespec ts;
    ASSERT(clock_gettime(clock, &ts) == 0);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
cpu_s(int who)
{
    struct rusage ru;
    ASSERT(getrusage(who, &ru) == 0);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
on_frame(void *ctx, const struct public_key *peer, uint8_t type, const uint8_t *payload,
         size_t size)
{
    (void)peer;
    (void)type;
    struct side *s = ctx;
    if (size >= 8 && load_u64(payload) != s->frames) {
        s->bad_order = true;
    }
    s->frames++;
    if (s->expected == 0) {
        s->done = true; /* the sender gets one answer */
    }
}

static void
on_connect(void *ctx, const struct public_key *peer)
{
    (void)peer;
    struct side *s = ctx;
    s->connected = true;
}

static struct p2p *
side_start(struct event_base *base, struct side *s, const struct secret_key *key,
           uint32_t payload_max)
{
    struct p2p_options o;
    p2p_options_default(&o);
    o.listen_address = "127.0.0.1:0";
    o.identity = key;
    if (payload_max > o.frame_payload_size_max) {
        o.frame_payload_size_max = payload_max;
    }
    struct p2p_callbacks cb = { on_frame, on_connect, NULL, NULL, s };
    struct p2p *p = NULL;
    ASSERT(p2p_new(base, &o, &cb, &p) == ERR_OK);
    return p;
}

static void
allow_both(struct p2p *p, const struct secret_key *a, const struct secret_key *b)
{
    struct public_key keys[2];
    secret_key_public(a, &keys[0]);
    secret_key_public(b, &keys[1]);
    ASSERT(p2p_set_allowed_keys(p, keys, 2) == ERR_OK);
}

static int
receiver(const struct secret_key *self, const struct secret_key *other, uint64_t frames,
         uint32_t payload_size, int port_fd)
{
    struct event_base *base = event_base_new();
    struct side s = { .expected = frames };
    s.p2p = side_start(base, &s, self, payload_size);
    secret_key_public(other, &s.peer);
    allow_both(s.p2p, self, other);
    ASSERT(p2p_add_peer(s.p2p, &s.peer, NULL) == ERR_OK);
    uint16_t port = p2p_listen_port(s.p2p);
    ASSERT(write(port_fd, &port, sizeof port) == (ssize_t)sizeof port);
    while (s.frames < frames) {
        (void)event_base_loop(base, EVLOOP_ONCE);
    }
    uint8_t answer[8] = { 0 };
    ASSERT(p2p_send(s.p2p, &s.peer, FRAME_CONSENSUS, answer, sizeof answer) == ERR_OK);
    double until = now_s(CLOCK_MONOTONIC) + 1.0;
    while (now_s(CLOCK_MONOTONIC) < until) {
        (void)event_base_loop(base, EVLOOP_ONCE);
    }
    double cpu = cpu_s(RUSAGE_SELF);
    fprintf(stderr, "receiver: %llu frames, in order: %s, cpu %.2f s\n",
            (unsigned long long)s.frames, s.bad_order ? "NO" : "yes", cpu);
    p2p_free(s.p2p);
    event_base_free(base);
    return s.bad_order ? 1 : 0;
}

/* Queues up to 4096 frames (then the loop gets to write); returns 1 if the queue was full. */
static uint64_t
send_some(struct side *s, uint8_t *payload, uint32_t payload_size, uint64_t frames, uint64_t *sent)
{
    for (unsigned i = 0; i < 4096 && *sent < frames; i++) {
        store_u64(payload, *sent);
        enum err rc = p2p_send(s->p2p, &s->peer, FRAME_TX, payload, payload_size);
        if (rc == ERR_FULL) {
            return 1;
        }
        ASSERT(rc == ERR_OK);
        (*sent)++;
    }
    return 0;
}

static uint64_t
arg_u64(const char *text, uint64_t fallback, uint64_t max)
{
    if (text == NULL) {
        return fallback;
    }
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || *end != '\0' || v == 0 || v > max) {
        fprintf(stderr, "bad argument %s\n", text);
        exit(2);
    }
    return v;
}

int
main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(getenv("BENCH_DEBUG") != NULL ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
    uint64_t frames = arg_u64(argc > 1 ? argv[1] : NULL, FRAMES_DEFAULT, 1000000000ull);
    uint32_t payload_size =
        (uint32_t)arg_u64(argc > 2 ? argv[2] : NULL, PAYLOAD_DEFAULT, PAYLOAD_MAX);
    struct secret_key *ka = NULL;
    struct secret_key *kb = NULL;
    ASSERT(secret_key_generate(SIG_ED25519, &ka) == ERR_OK);
    ASSERT(secret_key_generate(SIG_ED25519, &kb) == ERR_OK);
    int fds[2];
    ASSERT(pipe(fds) == 0);
    pid_t child = fork();
    ASSERT(child >= 0);
    if (child == 0) {
        close(fds[0]);
        alarm(600);
        _exit(receiver(kb, ka, frames, payload_size, fds[1]));
    }
    close(fds[1]);
    uint16_t port = 0;
    ASSERT(read(fds[0], &port, sizeof port) == (ssize_t)sizeof port);

    struct event_base *base = event_base_new();
    struct side s = { .expected = 0 };
    s.p2p = side_start(base, &s, ka, payload_size);
    secret_key_public(kb, &s.peer);
    allow_both(s.p2p, ka, kb);
    char addr[P2P_ADDRESS_TEXT_MAX];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)port);
    ASSERT(p2p_add_peer(s.p2p, &s.peer, addr) == ERR_OK);
    double t_connect = now_s(CLOCK_MONOTONIC);
    while (!s.connected) {
        (void)event_base_loop(base, EVLOOP_ONCE);
    }
    double connect_ms = (now_s(CLOCK_MONOTONIC) - t_connect) * 1e3;

    uint8_t payload[PAYLOAD_MAX];
    memset(payload, 0x5a, payload_size);
    uint64_t sent = 0;
    uint64_t full = 0;
    double cpu0 = cpu_s(RUSAGE_SELF);
    double t0 = now_s(CLOCK_MONOTONIC);
    while (!s.done) {
        uint64_t was_full = send_some(&s, payload, payload_size, frames, &sent);
        full += was_full;
        /* Full queue or all sent: wait for the socket; otherwise just let the loop write. */
        bool wait = was_full != 0 || sent == frames;
        (void)event_base_loop(base, wait ? EVLOOP_ONCE : EVLOOP_NONBLOCK | EVLOOP_ONCE);
    }
    double wall = now_s(CLOCK_MONOTONIC) - t0;
    double cpu = cpu_s(RUSAGE_SELF) - cpu0;
    int status = 0;
    ASSERT(waitpid(child, &status, 0) == child);
    printf("bench_p2p: %llu frames of %u B over TLS 1.3 loopback, 2 processes\n",
           (unsigned long long)frames, payload_size);
    printf("  connect+handshake+hello: %.1f ms\n", connect_ms);
    printf("  %.0f frames/s, %.1f MB/s payload, wall %.2f s, sender cpu %.2f s "
           "(%.0f frames per sender cpu-s), queue full %llu times\n",
           (double)frames / wall, (double)frames * payload_size / wall / 1e6, wall, cpu,
           (double)frames / cpu, (unsigned long long)full);
    printf("  receiver exit status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    p2p_free(s.p2p);
    event_base_free(base);
    secret_key_free(ka);
    secret_key_free(kb);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
