/*
 * lc_upgrade: who may open a WebSocket, decided at the HTTP upgrade with a
 * real HTTP status (400 bad room or subprotocol, 404 other paths, 426 a
 * WebSocket version other than 13, 429 too many connections from one
 * address, 503 draining or over --max-accept-rate), and the per-address
 * connection counts behind the 429. libwebsockets glue: it reads the
 * request's headers.
 */
#ifndef LC_UPGRADE_H
#define LC_UPGRADE_H

#include <stddef.h>

#include "server.h"

struct lws;

lc_upgrade_t *lc_upgrade_create(lc_server_t *srv);
void lc_upgrade_destroy(lc_upgrade_t *u);

/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: 0 to go on, else the callback's
 * return value (the refusal has been written). */
int lc_upgrade_confirm(lc_upgrade_t *u, struct lws *wsi);

/* The room of an upgraded request: its length, or -1 (checked at the
 * upgrade: does not happen). */
int lc_upgrade_room(struct lws *wsi, char *out, size_t cap);
/* The client's address (after trusted proxies) into out. */
void lc_upgrade_client_ip(lc_upgrade_t *u, struct lws *wsi, char *out, size_t cap);
/* A connection from ip opened (+1) or closed (-1). */
void lc_upgrade_count(lc_upgrade_t *u, const char *ip, int d);

#endif
