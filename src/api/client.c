/* Blocking HTTP/1.1 client: see client.h. */
#include "api/client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/mem.h"

#define CLIENT_TIMEOUT_MS_DEFAULT 10000u
#define CLIENT_BODY_MAX_DEFAULT   (16u << 20)

enum err
api_client_init(struct api_client *client, const char *address)
{
    ASSERT(client != NULL && address != NULL);
    const char *colon = strrchr(address, ':');
    if (colon == NULL || colon == address) {
        return ERR_MALFORMED;
    }
    const char *host = address;
    size_t host_size = (size_t)(colon - address);
    if (host[0] == '[') {
        if (host_size < 3 || host[host_size - 1] != ']') {
            return ERR_MALFORMED;
        }
        host++;
        host_size -= 2;
    }
    const char *port_text = colon + 1;
    size_t port_size = strlen(port_text);
    if (host_size >= sizeof client->host || port_size == 0 || port_size > 5) {
        return ERR_MALFORMED;
    }
    uint32_t port = 0;
    for (size_t i = 0; i < port_size; i++) {
        if (port_text[i] < '0' || port_text[i] > '9') {
            return ERR_MALFORMED;
        }
        port = port * 10u + (uint32_t)(port_text[i] - '0');
    }
    if (port == 0 || port > 65535) {
        return ERR_MALFORMED;
    }
    memset(client, 0, sizeof *client);
    memcpy(client->host, host, host_size);
    client->port = (uint16_t)port;
    client->timeout_ms = CLIENT_TIMEOUT_MS_DEFAULT;
    client->response_size_max = CLIENT_BODY_MAX_DEFAULT;
    return ERR_OK;
}

/* Milliseconds left before `deadline_ms`, 0 when passed. */
static int
remaining_ms(uint64_t deadline_ms)
{
    uint64_t now = clock_monotonic_ms(clock_system());
    if (now >= deadline_ms) {
        return 0;
    }
    uint64_t left = deadline_ms - now;
    return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

static enum err
wait_fd(int fd, short events, uint64_t deadline_ms)
{
    for (;;) {
        int left = remaining_ms(deadline_ms);
        if (left == 0) {
            return ERR_TIMEOUT;
        }
        struct pollfd p = { .fd = fd, .events = events, .revents = 0 };
        int n = poll(&p, 1, left);
        if (n > 0) {
            return ERR_OK;
        }
        if (n < 0 && errno != EINTR) {
            return ERR_IO;
        }
    }
}

static enum err
connect_to(const struct api_client *client, uint64_t deadline_ms, int *out_fd)
{
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)client->port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    struct addrinfo *ai = NULL;
    if (getaddrinfo(client->host, port, &hints, &ai) != 0 || ai == NULL) {
        return ERR_IO;
    }
    enum err rc = ERR_IO;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        goto out;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        goto out;
    }
    rc = wait_fd(fd, POLLOUT, deadline_ms);
    if (rc != ERR_OK) {
        goto out;
    }
    int so_error = 0;
    socklen_t size = sizeof so_error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &size) != 0 || so_error != 0) {
        rc = ERR_IO;
        goto out;
    }
    *out_fd = fd;
    fd = -1;
    rc = ERR_OK;
out:
    if (fd >= 0) {
        close(fd);
    }
    freeaddrinfo(ai);
    return rc;
}

static enum err
send_all(int fd, const uint8_t *data, size_t size, uint64_t deadline_ms)
{
    size_t sent = 0;
    while (sent < size) {
        ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return ERR_IO;
        }
        enum err rc = wait_fd(fd, POLLOUT, deadline_ms);
        if (rc != ERR_OK) {
            return rc;
        }
    }
    return ERR_OK;
}

/* Case-insensitive header lookup in the head (which ends with an empty line). */
static bool
head_find(const char *head, size_t head_size, const char *name, char *out, size_t out_max)
{
    size_t name_size = strlen(name);
    const char *p = memchr(head, '\n', head_size); /* skip the status line */
    const char *end = head + head_size;
    while (p != NULL && p + 1 < end) {
        const char *line = p + 1;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL) {
            break;
        }
        if ((size_t)(eol - line) > name_size && strncasecmp(line, name, name_size) == 0 &&
            line[name_size] == ':') {
            const char *v = line + name_size + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) {
                v++;
            }
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ')) {
                ve--;
            }
            size_t size = (size_t)(ve - v);
            if (size >= out_max) {
                return false;
            }
            memcpy(out, v, size);
            out[size] = '\0';
            return true;
        }
        p = eol;
    }
    return false;
}

/* Parses status and headers of `raw` (head_size bytes incl. the blank line). */
static enum err
head_parse(const char *raw, size_t head_size, struct api_client_response *r, bool *out_has_length,
           size_t *out_length)
{
    if (head_size < 12 || strncmp(raw, "HTTP/1.", 7) != 0 || raw[8] != ' ') {
        return ERR_MALFORMED;
    }
    int status = 0;
    for (size_t i = 9; i < 12; i++) {
        if (raw[i] < '0' || raw[i] > '9') {
            return ERR_MALFORMED;
        }
        status = status * 10 + (raw[i] - '0');
    }
    r->status = status;
    char value[32];
    if (head_find(raw, head_size, "Transfer-Encoding", value, sizeof value)) {
        return ERR_UNSUPPORTED; /* the node never answers chunked to an HTTP/1.1 close */
    }
    if (!head_find(raw, head_size, "Content-Type", r->content_type, sizeof r->content_type)) {
        r->content_type[0] = '\0';
    }
    *out_has_length = false;
    if (head_find(raw, head_size, "Content-Length", value, sizeof value)) {
        size_t length = 0;
        size_t digits = strlen(value);
        if (digits == 0 || digits > 15) {
            return ERR_MALFORMED;
        }
        for (size_t i = 0; i < digits; i++) {
            if (value[i] < '0' || value[i] > '9') {
                return ERR_MALFORMED;
            }
            length = length * 10u + (size_t)(value[i] - '0');
        }
        *out_has_length = true;
        *out_length = length;
    }
    return ERR_OK;
}

static size_t
head_end(const uint8_t *data, size_t size)
{
    for (size_t i = 3; i < size; i++) {
        if (data[i - 3] == '\r' && data[i - 2] == '\n' && data[i - 1] == '\r' && data[i] == '\n') {
            return i + 1;
        }
    }
    return 0;
}

/* Once the head is complete: parses it and sets *head_size; bounds head and body. */
static enum err
head_check(const struct api_client *client, const struct buf *raw, size_t *head_size,
           struct api_client_response *r, bool *has_length, size_t *length)
{
    size_t size = head_end(raw->data, raw->size);
    if (size == 0) {
        return raw->size > API_CLIENT_HEAD_MAX ? ERR_TOO_LARGE : ERR_OK;
    }
    enum err rc = head_parse((const char *)raw->data, size, r, has_length, length);
    if (rc != ERR_OK) {
        return rc;
    }
    if (*has_length && *length > client->response_size_max) {
        return ERR_TOO_LARGE;
    }
    *head_size = size;
    return ERR_OK;
}

/* Reads until the response is complete (Content-Length) or EOF. */
static enum err
receive(int fd, const struct api_client *client, uint64_t deadline_ms, struct buf *raw,
        struct api_client_response *r)
{
    size_t head_size = 0;
    bool has_length = false;
    size_t length = 0;
    for (;;) {
        if (head_size > 0 && has_length && raw->size >= head_size + length) {
            break;
        }
        size_t room = raw->size_max - raw->size;
        if (room == 0) {
            return ERR_TOO_LARGE;
        }
        room = room < 4096 ? room : 4096;
        uint8_t *space = NULL;
        if (buf_reserve(raw, room, &space) != ERR_OK) {
            return ERR_TOO_LARGE;
        }
        ssize_t n = recv(fd, space, room, 0);
        if (n == 0) {
            break;
        }
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                return ERR_IO;
            }
            enum err rc = wait_fd(fd, POLLIN, deadline_ms);
            if (rc != ERR_OK) {
                return rc;
            }
            continue;
        }
        buf_commit(raw, (size_t)n);
        if (head_size == 0) {
            enum err rc = head_check(client, raw, &head_size, r, &has_length, &length);
            if (rc != ERR_OK) {
                return rc;
            }
        }
    }
    if (head_size == 0) {
        return raw->size == 0 ? ERR_IO : ERR_MALFORMED;
    }
    size_t body_size = raw->size - head_size;
    if (has_length && body_size < length) {
        return ERR_IO; /* closed early */
    }
    if (has_length) {
        body_size = length;
    }
    r->body = mem_alloc(body_size + 1);
    memcpy(r->body, raw->data + head_size, body_size);
    r->body[body_size] = '\0';
    r->body_size = body_size;
    return ERR_OK;
}

static enum err
request_head(const struct api_client *client, const struct api_client_request *request,
             struct buf *out)
{
    enum err rc = buf_printf(out,
                             "%s %s HTTP/1.1\r\nHost: %s:%u\r\nConnection: close\r\n"
                             "Accept: application/json\r\n",
                             request->method, request->path, client->host, (unsigned)client->port);
    if (rc == ERR_OK && (request->content_type != NULL || request->body_size > 0)) {
        rc = buf_printf(out, "Content-Type: %s\r\nContent-Length: %zu\r\n",
                        request->content_type != NULL ? request->content_type
                                                      : "application/octet-stream",
                        request->body_size);
    }
    if (rc == ERR_OK) {
        rc = buf_append(out, "\r\n", 2);
    }
    return rc;
}

enum err
api_client_do(const struct api_client *client, const struct api_client_request *request,
              struct api_client_response *out_response)
{
    ASSERT(client != NULL && request != NULL && out_response != NULL);
    ASSERT(request->method != NULL && request->path != NULL);
    ASSERT(request->body != NULL || request->body_size == 0);

    uint64_t deadline_ms = clock_monotonic_ms(clock_system()) + client->timeout_ms;
    struct api_client_response r;
    memset(&r, 0, sizeof r);
    struct buf head;
    struct buf raw;
    buf_init(&head, API_CLIENT_HEAD_MAX);
    buf_init(&raw, API_CLIENT_HEAD_MAX + client->response_size_max);
    int fd = -1;
    enum err rc = request_head(client, request, &head);
    if (rc != ERR_OK) {
        goto out;
    }
    rc = connect_to(client, deadline_ms, &fd);
    if (rc != ERR_OK) {
        goto out;
    }
    rc = send_all(fd, head.data, head.size, deadline_ms);
    if (rc == ERR_OK && request->body_size > 0) {
        rc = send_all(fd, request->body, request->body_size, deadline_ms);
    }
    if (rc != ERR_OK) {
        goto out;
    }
    rc = receive(fd, client, deadline_ms, &raw, &r);
out:
    if (fd >= 0) {
        close(fd);
    }
    buf_release(&head);
    buf_release(&raw);
    if (rc != ERR_OK) {
        api_client_response_release(&r);
        return rc;
    }
    *out_response = r;
    return ERR_OK;
}

enum err
api_client_get(const struct api_client *client, const char *path,
               struct api_client_response *out_response)
{
    struct api_client_request request = { .method = "GET", .path = path };
    return api_client_do(client, &request, out_response);
}

enum err
api_client_post_json(const struct api_client *client, const char *path, const char *json,
                     struct api_client_response *out_response)
{
    ASSERT(json != NULL);
    struct api_client_request request = { .method = "POST",
                                          .path = path,
                                          .content_type = "application/json",
                                          .body = (const uint8_t *)json,
                                          .body_size = strlen(json) };
    return api_client_do(client, &request, out_response);
}

void
api_client_response_release(struct api_client_response *response)
{
    if (response == NULL) {
        return;
    }
    mem_free(response->body);
    memset(response, 0, sizeof *response);
}
