/*
 * lc_static: the web apps (web/) served as static files on the shard's
 * port. Owner of the path checks: nothing outside the web root is ever
 * served.
 */
#ifndef LC_STATIC_H
#define LC_STATIC_H

#include "http.h"

/* Adds the catch-all route "/" to srv->http: call it after every other
 * module's routes (the first match wins). Returns 0, or -1. */
int lc_static_routes(lc_server_t *srv);

/* The catch-all route's handler (arg: the lc_server_t, for --web-root):
 * GET or HEAD of a file under the web root ("/" and any ".../" are its
 * index.html), else 404; other methods 405 with Allow: GET, HEAD. */
void lc_static_handle(void *srv, lc_http_req_t *q);

#endif
