/*
 * lc_status: what the shard says about itself over HTTP. GET /healthz for
 * load balancers, GET /metrics for Prometheus, and the hint a plain HTTP
 * request to /live gets. Handlers for lc_http_route; arg is the
 * lc_server_t (main.c registers them).
 */
#ifndef LC_STATUS_H
#define LC_STATUS_H

#include "http.h"

/* Adds the routes /healthz, /metrics and /live to srv->http. Returns 0,
 * or -1 (no room for routes). */
int lc_status_routes(lc_server_t *srv);

/* /healthz: 200 "ok" (plus a line in open mode); 503 "draining" after
 * SIGTERM; 503 "redis unavailable" while either Redis connection is down,
 * so that a load balancer stops sending viewers here. */
void lc_status_healthz(void *srv, lc_http_req_t *q);

/* /metrics: the Prometheus text exposition of the shard's counters. */
void lc_status_metrics(void *srv, lc_http_req_t *q);

/* /live without a WebSocket upgrade: 400 with how to connect. */
void lc_status_live(void *srv, lc_http_req_t *q);

#endif
