/*
 * lc_net: libwebsockets on the server's loop. The only file besides http.c
 * that includes libwebsockets.h.
 */
#ifndef LC_NET_H
#define LC_NET_H

#include "server.h"

/* Listens on cfg.bind:cfg.port. Returns 0, or -1 (logged). */
int lc_net_start(lc_server_t *srv);
/* Pings silent connections and drops those that stay silent (once a
 * second). */
void lc_net_keepalive(lc_server_t *srv);
/* Starts the drain: a reconnect hint to every joined connection, and a
 * close time spread over --drain-ms. */
void lc_net_drain(lc_server_t *srv);
/* Closes (1001) the connections whose time has come; returns how many are
 * still open. Called every few ms while draining. */
unsigned lc_net_drain_step(lc_server_t *srv);
/* Starts destroying the context (inside the loop); remaining connections
 * close now. */
void lc_net_stop(lc_server_t *srv);
/* Finishes it, after the loop has stopped. */
void lc_net_free(lc_server_t *srv);

#endif
