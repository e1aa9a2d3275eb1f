/* A small blocking HTTP/1.1 client for the CLI (`lianmeng status/query/notarize`), the load
 * generator and tests: one request per connection (Connection: close) over a plain TCP
 * socket, bounded in time (the whole exchange) and in response size.
 *
 * Threads: no shared state; call from any thread. Ownership: a response owns its body;
 * release it with api_client_response_release. */
#ifndef LM_API_CLIENT_H
#define LM_API_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define API_CLIENT_HEAD_MAX 16384 /* status line + headers of a response */

struct api_client {
    char host[256]; /* numeric IPv4/IPv6 address or a name in /etc/hosts ("localhost") */
    uint16_t port;
    uint32_t timeout_ms;      /* connect + send + receive */
    size_t response_size_max; /* body bytes */
};

struct api_client_request {
    const char *method;       /* "GET", "POST" */
    const char *path;         /* "/v1/status"; sent as given */
    const char *content_type; /* NULL: no body headers unless body_size > 0 */
    const uint8_t *body;
    size_t body_size;
};

struct api_client_response {
    int status;
    char content_type[128]; /* "" when absent */
    uint8_t *body;          /* body_size bytes and a NUL after them */
    size_t body_size;
};

/* Parses "127.0.0.1:8080", "[::1]:8080" or "localhost:8080" into client->host/port and sets
 * the default limits (10 s, 16 MiB). ERR_MALFORMED for anything else. */
MUST_USE enum err api_client_init(struct api_client *client, const char *address);

/* One exchange. ERR_IO (cannot connect, reset), ERR_TIMEOUT, ERR_TOO_LARGE (response over the
 * limits), ERR_MALFORMED (not an HTTP/1.x response). Any HTTP status is ERR_OK: read it from
 * out_response->status. */
MUST_USE enum err api_client_do(const struct api_client *client,
                                const struct api_client_request *request,
                                struct api_client_response *out_response);
MUST_USE enum err api_client_get(const struct api_client *client, const char *path,
                                 struct api_client_response *out_response);
/* POST of a JSON text (NUL-terminated). */
MUST_USE enum err api_client_post_json(const struct api_client *client, const char *path,
                                       const char *json, struct api_client_response *out_response);
void api_client_response_release(struct api_client_response *response);

#endif
