/*
 * lc_session: what a connection's messages mean. Decodes a client frame,
 * checks it against the connection's state, and hands it to its handler:
 * the core's (hello, ping, comment, like, refresh) or a feature's, from one
 * table built at start out of the features' message lists -- no dispatch
 * by enum order. Knows no libwebsockets: works on lc_conn_t through conn.h.
 */
#ifndef LC_SESSION_H
#define LC_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "feature.h"

/* The handler table for these features (NULL-terminated). NULL out of
 * memory, or when two handlers claim one message type (logged). */
lc_session_t *lc_session_create(lc_server_t *srv, const lc_feature_t *const *features);
void lc_session_destroy(lc_session_t *s);

/* A WebSocket was established for room (a valid name): its connection, in
 * the room, with one reference owned by the caller. NULL out of memory. */
lc_conn_t *lc_session_open(lc_server_t *srv, void *transport, lc_fmt_t fmt, const char *room, size_t n);
/* Its socket closed: the room forgets it and the connection is released. */
void lc_session_closed(lc_conn_t *c);

/* One complete client message (reassembled, at most LC_MAX_CLIENT_MSG). */
void lc_session_on_frame(lc_conn_t *c, const uint8_t *buf, size_t len, int binary);

#endif
