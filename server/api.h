/*
 * lc_api: the publish API for the shop backend, on the shard's port:
 * POST /api/rooms/ROOM/messages and GET /api/rooms/ROOM, enabled only when
 * a key is configured, Bearer key compared in constant time.
 */
#ifndef LC_API_H
#define LC_API_H

#include <stddef.h>

#include "server.h"

struct lws;

/* Loads the key (--api-key-file, else env LIVECART_API_KEY). Returns 0,
 * or -1 with the reason logged (a key file that cannot be read). */
int lc_api_init(lc_server_t *srv);

/* The HTTP callbacks of one API request. *slot is the connection's
 * per-request pointer (kept by net.c), NULL between requests; each returns
 * the lws callback's return value. */
int lc_api_serve(lc_server_t *srv, struct lws *wsi, const char *path, void **slot);
int lc_api_body(lc_server_t *srv, struct lws *wsi, void **slot, const void *in, size_t len);
int lc_api_body_done(lc_server_t *srv, struct lws *wsi, void **slot);
/* HTTP_WRITEABLE: writes an answer that came back from Redis. */
int lc_api_writeable(lc_server_t *srv, struct lws *wsi, void **slot);
/* CLOSED_HTTP: the client went away. */
void lc_api_closed(void **slot);

#endif
