/* The node's ledger thread: block execution and persistence off the event loop (issue 5,
 * ARCHITECTURE.md "How a transaction flows").
 *
 * The loop submits jobs; the thread runs them one at a time in submission order (FIFO), with
 * one exception: an urgent job runs before the passable jobs queued after the last urgent or
 * non-passable one. The node marks executions of blocks on uncommitted parents urgent and
 * commits passable, so a proposal's execution (and the vote that waits for it) does not wait
 * for the commit its certificate just triggered (its fsyncs: ~10 ms per block on a devnet);
 * executions never pass each other or a sync, so a block's execution still runs after its
 * parent's, and a commit after the commits submitted before it. When a job has run, its done
 * callback runs on the loop thread (woken through an eventfd), in the order the jobs ran. Every
 * ledger, state-store and block-store mutation of a running node happens in a job; the loop reads
 * committed data through the thread-safe read paths (ledger.h "Threads").
 *
 * Jobs are embedded in the caller's structs (first member or container-of) and carry their
 * inputs by value: the loop does not touch a submitted job until its done callback. Jobs in
 * flight are bounded by the callers (the execution map, one commit per final block, sync one
 * block at a time); ledger_thread_pending reports the count.
 *
 * A test hook slows every job down: environment variable LM_TEST_LEDGER_DELAY_MS (0..10000)
 * read at ledger_thread_new, as if the disk were slow, so tests can check the loop still
 * answers while the ledger thread is busy: before the job runs, or where the job says
 * (delay_in_run: a commit takes it inside its LMDB write txn, holding the writer lock).
 *
 * Threads: ledger_thread_* are called on the loop thread only. */
#ifndef LM_NODE_LEDGER_THREAD_H
#define LM_NODE_LEDGER_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct event_base;
struct ledger_thread;
struct lt_job;

typedef void lt_job_fn(struct lt_job *job);

struct lt_job {
    lt_job_fn *run;  /* on the ledger thread */
    lt_job_fn *done; /* then on the loop thread; may free the job */
    struct lt_job *next;
    bool urgent;   /* runs before queued passable jobs (see above) */
    bool passable; /* an urgent job submitted later may run before it */
    /* Test hook: the job takes its delay itself (ledger_thread_pause(test_delay_ms), e.g.
     * inside its LMDB txn, where a slow disk holds it) instead of before it runs. */
    bool delay_in_run;
    unsigned test_delay_ms; /* set by ledger_thread_submit */
    /* Set by the thread (clock_monotonic_ns of clock_system()): submitted, started, finished
     * running. */
    uint64_t submit_ns;
    uint64_t start_ns;
    uint64_t end_ns;
    uint64_t cpu_ns; /* the thread's CPU time in run; measured only at DEBUG (else 0) */
};

/* Sleeps ms milliseconds (the test delay of a job with delay_in_run; 0: returns at once). */
void ledger_thread_pause(unsigned ms);
/* Starts the thread; done callbacks are delivered by an event on base. */
MUST_USE enum err ledger_thread_new(struct event_base *base, struct ledger_thread **out);
/* Queues job (run and done set by the caller). */
void ledger_thread_submit(struct ledger_thread *t, struct lt_job *job);
/* Waits until every submitted job has run and delivers the done callbacks (on this, the
 * loop thread), including those of jobs their done callbacks submit. */
void ledger_thread_drain(struct ledger_thread *t);
/* Jobs submitted whose done callback has not run yet. */
size_t ledger_thread_pending(const struct ledger_thread *t);
/* Drains, stops and joins the thread. Accepts NULL. */
void ledger_thread_free(struct ledger_thread *t);

#endif
