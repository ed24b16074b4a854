/*
 * lc_http: the shard's plain HTTP side, on the same port as /live:
 * GET /healthz, and the HTTP answers that refuse an upgrade.
 */
#ifndef LC_HTTP_H
#define LC_HTTP_H

#include "httpparse.h"
#include "server.h"

struct lws;

/* Writes a complete text/plain response. Returns 0, or -1 (close). */
int lc_http_reply(struct lws *wsi, unsigned status, const char *body);

/* Serves a plain HTTP request (LWS_CALLBACK_HTTP); returns the callback's
 * return value. */
int lc_http_serve(lc_server_t *srv, struct lws *wsi, const char *path);

#endif
