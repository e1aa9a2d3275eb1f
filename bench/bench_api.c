/* HTTP API throughput on 127.0.0.1: the server on a loop thread with a backend that admits
 * every transaction (hash only), driven by the blocking client from this thread, one request
 * per connection (as the CLI does). Usage: bench_api [requests=2000] [batch=100] */
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/client.h"
#include "base/assert.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/text.h"

static enum err
b_status(void *ctx, struct api_status *out)
{
    (void)ctx;
    memset(out, 0, sizeof *out);
    snprintf(out->chain_id, sizeof out->chain_id, "bench");
    out->hash_alg = HASH_SHA256;
    snprintf(out->node_name, sizeof out->node_name, "node");
    return ERR_OK;
}

static enum err
b_block_get(void *ctx, const struct api_block_query *q, json_t **out)
{
    (void)ctx;
    *out = json_pack("{s:I}", "height", (json_int_t)q->height);
    return ERR_OK;
}

static void
b_txs_submit(void *ctx, const struct api_tx_in *txs, size_t count, struct api_tx_result *out)
{
    (void)ctx;
    for (size_t i = 0; i < count; i++) {
        out[i].rc = ERR_OK;
        out[i].has_hash = true;
        hash_bytes(HASH_SHA256, txs[i].bytes, txs[i].size, &out[i].hash);
    }
}

static enum err
b_tx_get(void *ctx, const struct hash *h, struct api_tx_status *out)
{
    (void)ctx;
    (void)h;
    memset(out, 0, sizeof *out);
    out->state = API_TX_PENDING;
    return ERR_OK;
}

static enum err
b_tx_wait(void *ctx, const struct hash *h, api_tx_final_fn *cb, void *cb_ctx)
{
    (void)ctx;
    (void)h;
    (void)cb;
    (void)cb_ctx;
    return ERR_FULL;
}

static void
b_tx_wait_cancel(void *ctx, const struct hash *h, const void *cb_ctx)
{
    (void)ctx;
    (void)h;
    (void)cb_ctx;
}

static void *
loop_main(void *arg)
{
    event_base_dispatch(arg);
    return NULL;
}

static void
noop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static double
run(const struct api_client *client, int requests, const char *path, const char *json)
{
    uint64_t t0 = clock_monotonic_ns(clock_system());
    for (int i = 0; i < requests; i++) {
        struct api_client_response r;
        enum err rc = json != NULL ? api_client_post_json(client, path, json, &r)
                                   : api_client_get(client, path, &r);
        ASSERT(rc == ERR_OK && r.status == 200);
        api_client_response_release(&r);
    }
    uint64_t ns = clock_monotonic_ns(clock_system()) - t0;
    return (double)requests * 1e9 / (double)ns;
}

static enum err
b_tx_inclusion(void *ctx, uint64_t height, uint32_t index, json_t **out_proof)
{
    (void)ctx;
    *out_proof = json_pack("{s:I,s:I}", "height", (json_int_t)height, "index", (json_int_t)index);
    return ERR_OK;
}

static enum err
b_account_get(void *ctx, const uint8_t *address, json_t **out_account)
{
    (void)ctx;
    (void)address;
    (void)out_account;
    return ERR_NOT_FOUND;
}

static enum err
b_notary_get(void *ctx, const struct hash *document, json_t **out_anchors)
{
    (void)ctx;
    (void)document;
    (void)out_anchors;
    return ERR_NOT_FOUND;
}

static enum err
b_validators(void *ctx, bool has_epoch, uint64_t epoch, json_t **out_set)
{
    (void)ctx;
    (void)has_epoch;
    (void)epoch;
    (void)out_set;
    return ERR_NOT_FOUND;
}

int
main(int argc, char **argv)
{
    int requests = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 2000;
    int batch = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 100;
    ASSERT(requests > 0 && batch > 0 && batch <= 1000);
    log_set_level(LOG_LEVEL_WARN);
    ASSERT(evthread_use_pthreads() == 0);
    struct event_base *base = event_base_new();
    struct event *keep = event_new(base, -1, EV_PERSIST, noop_cb, NULL);
    struct timeval hour = { 3600, 0 };
    event_add(keep, &hour);
    struct api_backend backend = { NULL,          b_status,     b_block_get,      b_txs_submit,
                                   b_tx_get,      b_tx_wait,    b_tx_wait_cancel, b_tx_inclusion,
                                   b_account_get, b_validators, b_notary_get };
    struct api_options o;
    api_options_default(&o);
    o.bind_address = "127.0.0.1:0";
    struct api_server *server = NULL;
    ASSERT(api_server_new(base, &o, &backend, &server) == ERR_OK);
    struct api_client client;
    ASSERT(api_client_init(&client, "127.0.0.1:1") == ERR_OK);
    client.port = api_server_port(server);
    pthread_t thread;
    ASSERT(pthread_create(&thread, NULL, loop_main, base) == 0);

    /* A batch of `batch` 200-byte transactions in hex. */
    struct buf body;
    buf_init(&body, 1u << 20);
    ASSERT(buf_printf(&body, "{\"txs\":[") == ERR_OK);
    uint8_t tx[200];
    char hex[2 * sizeof tx + 1];
    for (int i = 0; i < batch; i++) {
        memset(tx, i, sizeof tx);
        hex_encode(tx, sizeof tx, hex);
        ASSERT(buf_printf(&body, "%s\"%s\"", i > 0 ? "," : "", hex) == ERR_OK);
    }
    ASSERT(buf_printf(&body, "]}") == ERR_OK);
    ASSERT(buf_append_byte(&body, 0) == ERR_OK);

    double status_rps = run(&client, requests, "/v1/status", NULL);
    double block_rps = run(&client, requests, "/v1/blocks/7", NULL);
    double batch_rps = run(&client, requests / 10, "/v1/txs", (const char *)body.data);
    printf("GET /v1/status      %8.0f req/s (new connection each)\n", status_rps);
    printf("GET /v1/blocks/7    %8.0f req/s\n", block_rps);
    printf("POST /v1/txs batch  %8.0f req/s = %.0f tx/s (%d x 200-byte txs, hex)\n", batch_rps,
           batch_rps * batch, batch);

    event_base_loopbreak(base);
    pthread_join(thread, NULL);
    api_server_free(server);
    buf_release(&body);
    event_free(keep);
    event_base_free(base);
    return 0;
}
