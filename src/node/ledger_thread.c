/* node/ledger_thread.c - see ledger_thread.h. */
#include "node/ledger_thread.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/thread.h"

#define DELAY_MS_MAX 10000u

static uint64_t
thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct lt_queue {
    struct lt_job *head;
    struct lt_job *tail;
};

struct ledger_thread {
    pthread_t thread;
    bool started;
    int wake_fd; /* eventfd: the thread signals the loop that jobs are done */
    struct event *wake_ev;
    unsigned delay_ms;
    size_t pending; /* loop only */
    /* Guarded by lock: */
    pthread_mutex_t lock;
    pthread_cond_t cond;  /* runq grew, or stop */
    struct lt_queue runq; /* to run */
    struct lt_queue done;
    bool stop;
};

static void
queue_push(struct lt_queue *q, struct lt_job *job)
{
    job->next = NULL;
    if (q->tail != NULL) {
        q->tail->next = job;
    } else {
        q->head = job;
    }
    q->tail = job;
}

/* Queues an urgent job after the last queued job that is urgent or not passable (at the head
 * if there is none): before the passable jobs behind it. */
static void
queue_push_urgent(struct lt_queue *q, struct lt_job *job)
{
    struct lt_job *after = NULL;
    for (struct lt_job *j = q->head; j != NULL; j = j->next) {
        if (j->urgent || !j->passable) {
            after = j;
        }
    }
    if (after == NULL) {
        job->next = q->head;
        q->head = job;
    } else {
        job->next = after->next;
        after->next = job;
    }
    if (job->next == NULL) {
        q->tail = job;
    }
}

static struct lt_job *
queue_take_all(struct lt_queue *q)
{
    struct lt_job *all = q->head;
    q->head = NULL;
    q->tail = NULL;
    return all;
}

static void
wake_loop(struct ledger_thread *t)
{
    uint64_t one = 1;
    while (write(t->wake_fd, &one, sizeof one) < 0 && errno == EINTR) {
    }
}

/* The next job to run (NULL: stop), waiting for one; called and returns with the lock held. */
static struct lt_job *
next_job(struct ledger_thread *t)
{
    while (t->runq.head == NULL && !t->stop) {
        ASSERT(pthread_cond_wait(&t->cond, &t->lock) == 0);
    }
    struct lt_job *job = t->runq.head;
    if (job != NULL) {
        t->runq.head = job->next;
        if (t->runq.head == NULL) {
            t->runq.tail = NULL;
        }
    }
    return job;
}

void
ledger_thread_pause(unsigned ms)
{
    struct timespec ts = { (time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void *
thread_main(void *arg)
{
    struct ledger_thread *t = arg;
    thread_set_name("lm-ledger");
    ASSERT(pthread_mutex_lock(&t->lock) == 0);
    struct lt_job *job;
    while ((job = next_job(t)) != NULL) { /* NULL: stop, and nothing left */
        ASSERT(pthread_mutex_unlock(&t->lock) == 0);
        if (t->delay_ms > 0 && !job->delay_in_run) {
            ledger_thread_pause(t->delay_ms);
        }
        /* The thread's CPU time costs a system call: only for the DEBUG timing lines. */
        bool cpu = log_is_enabled(LOG_LEVEL_DEBUG);
        job->start_ns = clock_monotonic_ns(clock_system());
        uint64_t cpu0 = cpu ? thread_cpu_ns() : 0;
        job->run(job);
        job->cpu_ns = cpu ? thread_cpu_ns() - cpu0 : 0;
        job->end_ns = clock_monotonic_ns(clock_system());
        ASSERT(pthread_mutex_lock(&t->lock) == 0);
        queue_push(&t->done, job);
        wake_loop(t);
    }
    ASSERT(pthread_mutex_unlock(&t->lock) == 0);
    return NULL;
}

/* Runs the done callbacks of the finished jobs, in order. */
static void
deliver(struct ledger_thread *t)
{
    uint64_t count = 0;
    while (read(t->wake_fd, &count, sizeof count) < 0 && errno == EINTR) {
    }
    ASSERT(pthread_mutex_lock(&t->lock) == 0);
    struct lt_job *job = queue_take_all(&t->done);
    ASSERT(pthread_mutex_unlock(&t->lock) == 0);
    while (job != NULL) {
        struct lt_job *next = job->next;
        ASSERT(t->pending > 0);
        t->pending--;
        job->done(job); /* may free job */
        job = next;
    }
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    deliver(arg);
}

static unsigned
delay_from_env(void)
{
    const char *v = getenv("LM_TEST_LEDGER_DELAY_MS");
    if (v == NULL || *v < '0' || *v > '9') {
        return 0;
    }
    char *end = NULL;
    unsigned long long ms = strtoull(v, &end, 10);
    if (*end != '\0' || ms == 0 || ms > DELAY_MS_MAX) {
        return 0;
    }
    log_warn(LOG_NODE, "test hook: every ledger job is delayed delay_ms=%llu",
             (unsigned long long)ms);
    return (unsigned)ms;
}

enum err
ledger_thread_new(struct event_base *base, struct ledger_thread **out)
{
    struct ledger_thread *t = mem_calloc(1, sizeof *t);
    ASSERT(pthread_mutex_init(&t->lock, NULL) == 0);
    ASSERT(pthread_cond_init(&t->cond, NULL) == 0);
    t->delay_ms = delay_from_env();
    t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    enum err rc = t->wake_fd >= 0 ? ERR_OK : ERR_IO;
    if (rc == ERR_OK) {
        t->wake_ev = event_new(base, t->wake_fd, EV_READ | EV_PERSIST, on_wake, t);
        rc = t->wake_ev != NULL && event_add(t->wake_ev, NULL) == 0 ? ERR_OK : ERR_IO;
    }
    if (rc == ERR_OK) {
        rc = pthread_create(&t->thread, NULL, thread_main, t) == 0 ? ERR_OK : ERR_IO;
        t->started = rc == ERR_OK;
    }
    if (rc != ERR_OK) {
        log_error(LOG_NODE, "cannot start the ledger thread");
        ledger_thread_free(t);
        return rc;
    }
    *out = t;
    return ERR_OK;
}

void
ledger_thread_submit(struct ledger_thread *t, struct lt_job *job)
{
    ASSERT(job->run != NULL && job->done != NULL);
    t->pending++;
    job->submit_ns = clock_monotonic_ns(clock_system());
    job->test_delay_ms = job->delay_in_run ? t->delay_ms : 0;
    ASSERT(pthread_mutex_lock(&t->lock) == 0);
    if (job->urgent) {
        queue_push_urgent(&t->runq, job);
    } else {
        queue_push(&t->runq, job);
    }
    ASSERT(pthread_cond_signal(&t->cond) == 0);
    ASSERT(pthread_mutex_unlock(&t->lock) == 0);
}

void
ledger_thread_drain(struct ledger_thread *t)
{
    while (t->started && t->pending > 0) {
        ASSERT(pthread_mutex_lock(&t->lock) == 0);
        bool any = t->done.head != NULL;
        ASSERT(pthread_mutex_unlock(&t->lock) == 0);
        if (any) {
            deliver(t);
        } else {
            struct timespec ts = { 0, 200000L };
            nanosleep(&ts, NULL);
        }
    }
}

size_t
ledger_thread_pending(const struct ledger_thread *t)
{
    return t->pending;
}

void
ledger_thread_free(struct ledger_thread *t)
{
    if (t == NULL) {
        return;
    }
    if (t->started) {
        ledger_thread_drain(t);
        ASSERT(pthread_mutex_lock(&t->lock) == 0);
        t->stop = true;
        ASSERT(pthread_cond_signal(&t->cond) == 0);
        ASSERT(pthread_mutex_unlock(&t->lock) == 0);
        ASSERT(pthread_join(t->thread, NULL) == 0);
    }
    if (t->wake_ev != NULL) {
        event_free(t->wake_ev);
    }
    if (t->wake_fd >= 0) {
        close(t->wake_fd);
    }
    ASSERT(pthread_cond_destroy(&t->cond) == 0);
    ASSERT(pthread_mutex_destroy(&t->lock) == 0);
    mem_free(t);
}
