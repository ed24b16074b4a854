/*
 * lc_net: libwebsockets on the server's loop (a foreign loop): the context,
 * the one callback, frame reassembly, and the transport under every
 * connection (lc_net_conn_io). With upgrade.c, listen.c and http.c, the
 * only files that include libwebsockets.h.
 */
#ifndef LC_NET_H
#define LC_NET_H

#include "conn.h"
#include "server.h"

/* The transport functions connections write through (conn.h). */
extern const lc_conn_io_t lc_net_conn_io;

/* Listens on cfg.bind:cfg.port; every other module must exist already.
 * NULL on failure (logged). */
lc_net_t *lc_net_start(lc_server_t *srv);
/* WebSocket connections lws has not freed yet (close frames in flight):
 * shutdown waits for 0. */
unsigned lc_net_alive(const lc_net_t *n);
/* Starts destroying the context (inside the loop); remaining connections
 * close now. */
void lc_net_stop(lc_net_t *n);
/* Finishes it, after the loop has stopped, and frees n. */
void lc_net_free(lc_net_t *n);

#endif
