/* Unit tests of node/ledger_thread: jobs run in submission order but for urgent ones, which
 * pass the passable jobs queued after the last urgent or non-passable job and nothing else;
 * done callbacks follow the order the jobs ran in. */
#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "base/mem.h"
#include "node/ledger_thread.h"
#include "unit.h"

#define JOBS_MAX 16

struct order {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool gate_open; /* the first job holds the thread until the test has queued the rest */
    bool gate_entered;
    char ran[JOBS_MAX + 1];  /* names in the order run (ledger thread) */
    char done[JOBS_MAX + 1]; /* names in the order their done callbacks ran (loop) */
};

struct test_job {
    struct lt_job lt; /* first member */
    struct order *order;
    char name;
    bool gate;
};

static void
append(char *list, char name)
{
    size_t n = strlen(list);
    assert_true(n < JOBS_MAX);
    list[n] = name;
    list[n + 1] = '\0';
}

static void
job_run(struct lt_job *lt)
{
    struct test_job *j = (struct test_job *)lt;
    pthread_mutex_lock(&j->order->lock);
    if (j->gate) {
        j->order->gate_entered = true;
        pthread_cond_broadcast(&j->order->cond);
        while (!j->order->gate_open) {
            pthread_cond_wait(&j->order->cond, &j->order->lock);
        }
    }
    append(j->order->ran, j->name);
    pthread_mutex_unlock(&j->order->lock);
}

static void
job_done(struct lt_job *lt)
{
    struct test_job *j = (struct test_job *)lt;
    append(j->order->done, j->name);
}

/* Queues the jobs named by spec behind a job that holds the thread, releases it, and returns
 * the order they ran in (done callbacks checked to follow it). Spec letters: 'U' urgent,
 * 'P' passable, 'N' neither; names are the positions 'a', 'b', ... */
static void
run_spec(const char *spec, char *out_ran)
{
    struct event_base *base = event_base_new();
    assert_non_null(base);
    struct ledger_thread *t = NULL;
    assert_int_equal(ledger_thread_new(base, &t), ERR_OK);
    struct order order = { .ran = "", .done = "" };
    pthread_mutex_init(&order.lock, NULL);
    pthread_cond_init(&order.cond, NULL);
    size_t n = strlen(spec);
    assert_true(n < JOBS_MAX);
    struct test_job *jobs = mem_calloc(n + 1, sizeof *jobs);
    jobs[n] = (struct test_job){
        .lt = { .run = job_run, .done = job_done }, .order = &order, .name = '*', .gate = true
    };
    ledger_thread_submit(t, &jobs[n].lt);
    pthread_mutex_lock(&order.lock);
    while (!order.gate_entered) {
        pthread_cond_wait(&order.cond, &order.lock);
    }
    pthread_mutex_unlock(&order.lock);
    for (size_t i = 0; i < n; i++) {
        jobs[i] = (struct test_job){ .lt = { .run = job_run,
                                             .done = job_done,
                                             .urgent = spec[i] == 'U',
                                             .passable = spec[i] == 'P' },
                                     .order = &order,
                                     .name = (char)('a' + i) };
        ledger_thread_submit(t, &jobs[i].lt);
    }
    pthread_mutex_lock(&order.lock);
    order.gate_open = true;
    pthread_cond_broadcast(&order.cond);
    pthread_mutex_unlock(&order.lock);
    ledger_thread_drain(t);
    assert_int_equal(ledger_thread_pending(t), 0);
    ledger_thread_free(t);
    assert_true(order.ran[0] == '*');
    assert_string_equal(order.ran, order.done);
    size_t ran = strlen(order.ran + 1); /* < JOBS_MAX */
    memcpy(out_ran, order.ran + 1, ran + 1);
    mem_free(jobs);
    pthread_cond_destroy(&order.cond);
    pthread_mutex_destroy(&order.lock);
    event_base_free(base);
}

static void
test_fifo_without_urgent(void **state)
{
    (void)state;
    char ran[JOBS_MAX + 1];
    run_spec("PNPPN", ran);
    assert_string_equal(ran, "abcde");
}

static void
test_urgent_passes_passable_only(void **state)
{
    (void)state;
    char ran[JOBS_MAX + 1];
    /* a P, b U (passes a), c P, d N, e P, f U (passes e, not d), g U (after f), h P */
    run_spec("PUPNPUUP", ran);
    assert_string_equal(ran, "bacdfgeh");
    /* an urgent job never passes a non-passable one or an earlier urgent one */
    run_spec("NUUN", ran);
    assert_string_equal(ran, "abcd");
    /* into an empty queue, then behind nothing but passable jobs */
    run_spec("UPPU", ran);
    assert_string_equal(ran, "adbc");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_without_urgent),
        cmocka_unit_test(test_urgent_passes_passable_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
