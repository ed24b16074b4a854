/*
 * lc_api: the publish API for the shop backend, on the shard's port:
 * POST /api/rooms/ROOM/messages and GET /api/rooms/ROOM (PROTOCOL.md, "HTTP
 * API"), enabled only when a key is configured, the Bearer key compared in
 * constant time. It speaks HTTP through lc_http's request abstraction and
 * Redis through lc_store; it includes neither libwebsockets nor hiredis.
 */
#ifndef LC_API_H
#define LC_API_H

#include "config.h"
#include "http.h"

/* Reads the key: --api-key-file (its content, one trailing newline
 * stripped), else the environment variable LIVECART_API_KEY. Without
 * either the API is off (every /api/ path answers 404), said in the log.
 * Returns the API's state (the caller owns it: lc_api_destroy), or NULL
 * with the reason logged (a key file that cannot be read, a key too long,
 * out of memory). Only a digest of the key is kept. */
lc_api_t *lc_api_create(const lc_config_t *cfg);
void lc_api_destroy(lc_api_t *api);

/* Adds the route "/api/" (every path under it, also with the API off: then
 * 404) to srv->http; api is srv->api. Returns 0, or -1. */
int lc_api_routes(lc_api_t *api, lc_server_t *srv);

/* The handler of the "/api/" route; arg is the lc_server_t (its api,
 * store, cfg and counters are used). */
void lc_api_handle(void *srv, lc_http_req_t *q);

#endif
