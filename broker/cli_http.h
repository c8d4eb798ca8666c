/* cli_http.h - the blocking HTTP/1.1 request helper of the sluice command-line client.
 * One handle per endpoint ("http://host:port[/base]"); each request opens a fresh
 * connection, runs a private libevent loop until the reply or the deadline, and closes it.
 * A CLI makes one or two requests per run, so keep-alive would buy nothing.
 * Not for the broker: its loop must never block. Guarded by SLUICE_CLI_HTTP_H. */
#ifndef SLUICE_CLI_HTTP_H
#define SLUICE_CLI_HTTP_H

#include <stddef.h>

typedef struct sl_cli_http sl_cli_http_t;

typedef enum sl_cli_method {
    SL_CLI_GET,
    SL_CLI_POST,
    SL_CLI_DELETE,
} sl_cli_method_t;

typedef struct sl_cli_reply {
    int status;         /* HTTP status code of the reply */
    char *body;         /* NUL-terminated copy of the body; owned, freed by _deinit */
    size_t len;         /* bytes in body, not counting the NUL */
} sl_cli_reply_t;

/* Parses url ("http://host[:port][/base]"; "host:port" alone is taken as http). Returns
 * SL_OK and a new handle in *out (caller destroys), or SL_EINVAL with the reason in err
 * (NUL-terminated, truncated to errlen) for a URL that is malformed or not http. */
int sl__cli_http_create(const char *url, sl_cli_http_t **out, char *err, size_t errlen);
void sl__cli_http_destroy(sl_cli_http_t *h);                /* NULL is a no-op */

/* The endpoint as normalised for messages, e.g. "http://127.0.0.1:9324"; borrowed. */
const char *sl__cli_http_url(const sl_cli_http_t *h);

/* Sends method path (absolute, query string included, already URL-encoded; the base path
 * of the endpoint is prepended) with body (len bytes, JSON, or NULL for none), and waits at
 * most timeout_ms for the whole exchange. Tries each address the host resolves to, moving
 * on only when a connection could not be set up, so nothing is ever sent twice.
 * Returns SL_OK with any HTTP reply in *out (deinit it, whatever its status);
 * SL_ETIMEDOUT when the deadline passed; SL_EBACKEND when the host cannot be resolved or
 * reached or dropped the connection before a whole reply. On failure *out is left empty
 * and sl__cli_http_errstr() says why. */
int sl__cli_http_request(sl_cli_http_t *h, sl_cli_method_t method, const char *path,
                         const char *body, size_t len, int timeout_ms, sl_cli_reply_t *out);

/* As sl__cli_http_request(), with extra request headers: headers is NULL or a NULL-terminated
 * array of name, value pairs, e.g. { "X-Amz-Target", "AmazonSQS.ListQueues", NULL }. A
 * Content-Type among them replaces the default application/json of a body. */
int sl__cli_http_request_hdrs(sl_cli_http_t *h, sl_cli_method_t method, const char *path,
                              const char *const *headers, const char *body, size_t len,
                              int timeout_ms, sl_cli_reply_t *out);

/* Why the last request failed, e.g. "Connection refused"; borrowed, valid until the next
 * request. Empty after a request that returned SL_OK. */
const char *sl__cli_http_errstr(const sl_cli_http_t *h);

void sl__cli_reply_deinit(sl_cli_reply_t *r);               /* frees body; NULL is a no-op */

/* Percent-encodes every byte of s outside RFC 3986's unreserved set (A-Z a-z 0-9 - . _ ~),
 * for a path segment or a query value. Returns a new string; caller sl_free()s it. */
char *sl__cli_http_escape(const char *s);

#endif
