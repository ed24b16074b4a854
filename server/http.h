/*
 * lc_http: the shard's plain HTTP side, on the same port as /live:
 * GET /healthz and /metrics, the publish API (api.c), the web apps
 * (static.c), and the HTTP answers that refuse an upgrade.
 */
#ifndef LC_HTTP_H
#define LC_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "httpparse.h"
#include "server.h"

struct lws;

/* Every HTTP answer closes its connection (no keep-alive): lws 4.1.6 spins
 * at 100% CPU on a pipelined request that carries a body, so one request
 * per connection is what we serve. */

/* Starts the headers of an answer with Content-Length n and
 * "connection: close". Returns 0, or -1. */
int lc_http_begin(struct lws *wsi, unsigned status, const char *ctype, size_t n, uint8_t **p, uint8_t *end);

/* 1 for a HEAD request (answers carry headers only). */
int lc_http_is_head(struct lws *wsi);

/* Writes a complete response: status, content type, no-store, an optional
 * extra header (hname as "name:", or NULL), the body. Returns 0, or -1. */
int lc_http_send(struct lws *wsi, unsigned status, const char *ctype, const char *body, size_t n,
                 const char *hname, const char *hval);

/* Writes a complete text/plain response. Returns 0, or -1 (close). */
int lc_http_reply(struct lws *wsi, unsigned status, const char *body);

/* Serves a plain HTTP request (LWS_CALLBACK_HTTP); returns the callback's
 * return value. *slot is the connection's per-request pointer for answers
 * that come later (the API's), NULL between requests. */
int lc_http_serve(lc_server_t *srv, struct lws *wsi, const char *path, void **slot);

#endif
