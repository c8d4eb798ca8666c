/* c_runtime.c - a minimal Lambda runtime in C: one kept-alive connection to
 * $AWS_LAMBDA_RUNTIME_API, GET next, POST the response, repeat. It exists to
 * measure sluice's Runtime API path without the runtime being the bottleneck
 * (the shell runtime forks curl twice per invocation; the Node RIC spends its
 * own milliseconds). Blocking sockets are fine here: this is the function's
 * process, not the broker.
 *
 * usage: c_runtime [echo|null]   echo (default) responds with the event,
 *                                null responds with `null` like a handler
 *                                returning nothing. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_MAX (8u * 1024 * 1024)

static char *buf;               /* received, not yet consumed: buf[off, len) */
static size_t off, len;

static void
die(const char *what)
{
    fprintf(stderr, "c_runtime: %s: %s\n", what, errno ? strerror(errno) : "protocol error");
    exit(2);
}

static void
send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            die("send");
        }
        p += w;
        n -= (size_t)w;
    }
}

static void
fill(int fd)
{
    ssize_t r;

    if (off > 0) {
        memmove(buf, buf + off, len - off);
        len -= off;
        off = 0;
    }
    if (len == BUF_MAX)
        die("response too large");
    do {
        r = recv(fd, buf + len, BUF_MAX - len, 0);
    } while (r < 0 && errno == EINTR);
    if (r <= 0) {
        if (r == 0)
            errno = 0;
        die("recv");
    }
    len += (size_t)r;
}

/* Reads one response; returns its body (in buf, valid until the next read) and
 * copies the request id header when asked. */
static const char *
read_response(int fd, size_t *body_len, char *request_id, size_t idlen)
{
    char *hdr_end, *line, *body;
    size_t clen = 0;

    while ((hdr_end = memmem(buf + off, len - off, "\r\n\r\n", 4)) == NULL)
        fill(fd);
    *hdr_end = '\0';
    for (line = strstr(buf + off, "\r\n"); line && line < hdr_end; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            clen = strtoul(line + 15, NULL, 10);
        else if (request_id && strncasecmp(line, "Lambda-Runtime-Aws-Request-Id:", 30) == 0)
            sscanf(line + 30, " %63[^\r\n]", request_id);
    }
    (void)idlen;
    {
        size_t body_off = (size_t)(hdr_end + 4 - buf);

        while (len < body_off + clen) {
            size_t keep = body_off - off;

            fill(fd);           /* moves the data to the front */
            body_off = keep;
        }
        body = buf + body_off;
        off = body_off + clen;
    }
    *body_len = clen;
    return body;
}

int
main(int argc, char **argv)
{
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    int echo = !(argc > 1 && strcmp(argv[1], "null") == 0);
    struct sockaddr_in sin;
    char host[64], head[256], id[64];
    char *colon;
    int fd, one = 1;

    if (api == NULL || strlen(api) >= sizeof(host))
        die("AWS_LAMBDA_RUNTIME_API");
    snprintf(host, sizeof(host), "%s", api);
    if ((colon = strchr(host, ':')) == NULL)
        die("AWS_LAMBDA_RUNTIME_API has no port");
    *colon = '\0';
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
        die("AWS_LAMBDA_RUNTIME_API host");
    if ((buf = malloc(BUF_MAX)) == NULL)
        die("malloc");
    if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
        die("socket");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
        die("connect");
    for (;;) {
        static const char next[] = "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n"
                                   "Host: runtime\r\n\r\n";
        const char *event;
        size_t elen, rlen;
        int n;

        send_all(fd, next, sizeof(next) - 1);
        id[0] = '\0';
        event = read_response(fd, &elen, id, sizeof(id));
        if (id[0] == '\0')
            die("no request id");
        rlen = echo ? elen : 4;
        n = snprintf(head, sizeof(head),
                     "POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\n"
                     "Host: runtime\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n", id, rlen);
        send_all(fd, head, (size_t)n);
        send_all(fd, echo ? event : "null", rlen);
        read_response(fd, &rlen, NULL, 0);
    }
}
