/*
 * lc_http: the shard's plain HTTP side, on the same port as /live:
 * GET /healthz, and the HTTP answers that refuse an upgrade.
 */
#ifndef LC_HTTP_H
#define LC_HTTP_H

#include "server.h"

struct lws;

/* Writes a complete text/plain response. Returns 0, or -1 (close). */
int lc_http_reply(struct lws *wsi, unsigned status, const char *body);

/* The client's address: the socket peer, or -- when the peer is one of the
 * trusted proxies -- the rightmost X-Forwarded-For entry that is not a
 * trusted proxy (entries left of it are the client's word, not ours).
 * Writes at most cap bytes to out; returns 0. Pure: fuzzed. */
int lc_http_client_ip(const char *peer, const char *xff, char trusted[][48], int ntrusted, char *out,
                      size_t cap);

/* Serves a plain HTTP request (LWS_CALLBACK_HTTP); returns the callback's
 * return value. */
int lc_http_serve(lc_server_t *srv, struct lws *wsi, const char *path);

#endif
