/*
 * lt_http: a small non-blocking HTTP/1.1 client on the tool's libuv loop,
 * for the shop's side of a scenario (paying reservations, reading a room).
 *
 * One lt_http_t talks to one host:port through at most max_conns TCP
 * connections, one request in flight on each: livecart discards pipelined
 * requests (PROTOCOL.md, "HTTP endpoints"), so nothing is pipelined. A
 * connection is kept for the next request when the answer allows it
 * (HTTP/1.1 without "Connection: close"); livecart closes after every answer,
 * so there the client simply connects again. Requests beyond max_conns wait
 * in a FIFO queue: the concurrency is bounded, the queue is not.
 *
 * A request that was written on a kept connection and saw the connection
 * close before a single byte of answer is sent again once on a fresh one
 * (the server may have timed the idle connection out). Anything else that
 * goes wrong is answered with status 0 and the reason in the body: the
 * caller decides whether sending again is safe.
 *
 * Out of memory: the request that needed it fails (status 0, or -1 from
 * lt_http_request); nothing aborts.
 */
#ifndef LT_HTTPC_H
#define LT_HTTPC_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct lt_http lt_http_t;

/* A finished request: status is the HTTP status, or 0 when no answer came
 * (connect refused, connection lost, timeout; body then says why), or -1
 * when the client was destroyed first (lt_http_destroy). body is
 * the answer's body (de-chunked), valid during the call only, NUL-terminated;
 * lat_us is the time from queueing to the end of the answer. */
typedef void (*lt_http_cb)(void *user, int status, const char *body, size_t n, uint64_t lat_us);

/* A client for host:port (a numeric IPv4 address). timeout_ms bounds one
 * request from the moment it is written (or its connect starts). Returns
 * NULL on a bad address or no memory. */
lt_http_t *lt_http_create(uv_loop_t *loop, const char *host, int port, int max_conns, int timeout_ms);

/* Queues a request. path starts with '/'; auth is a Bearer key or NULL;
 * body may be NULL (a POST then carries Content-Length: 0, as livecart
 * requires). The strings are copied. cb is called exactly once, from the
 * loop, never from inside this call. Returns 0, or -1 (no memory, or the
 * client is being destroyed: cb is not called). */
int lt_http_request(lt_http_t *h, const char *method, const char *path, const char *auth, const char *body,
                    lt_http_cb cb, void *user);

/* Requests queued or in flight. */
size_t lt_http_pending(const lt_http_t *h);

/* Closes every connection and frees h once the loop has run their close
 * callbacks. Requests not answered yet are answered at once, from inside
 * this call, with status -1: their callbacks should only free what they own. */
void lt_http_destroy(lt_http_t *h);

/* The parsed head of an answer (lt_http_parse_head). */
typedef struct lt_http_head {
    int status;
    int minor;          /* HTTP/1.minor */
    long content_length; /* -1: none */
    int chunked;
    int close;          /* Connection: close, or HTTP/1.0 without keep-alive */
    size_t head_len;    /* bytes up to and including the blank line */
} lt_http_head_t;

/* Parses an answer's status line and headers from p[0..n). Returns 1 when
 * the head is complete (out filled), 0 when more bytes are needed, -1 when it
 * is not HTTP. */
int lt_http_parse_head(const char *p, size_t n, lt_http_head_t *out);

/* Decodes a chunked body in place: p[0..n) holds what arrived after the
 * head. Returns 1 when the last chunk is in (*out_len: the body's length,
 * moved to the front of p), 0 when more bytes are needed, -1 when malformed. */
int lt_http_dechunk(char *p, size_t n, size_t *out_len);

#endif
