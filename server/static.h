/*
 * lc_static: the web apps (web/) served as static files on the shard's
 * port. Owner of the path checks: nothing outside the web root is ever
 * served.
 */
#ifndef LC_STATIC_H
#define LC_STATIC_H

#include "server.h"

struct lws;

/* Serves GET PATH from the web root, or answers 404. Returns the HTTP
 * callback's return value (0 to keep the connection, -1 to close). */
int lc_static_serve(lc_server_t *srv, struct lws *wsi, const char *path);

#endif
