/*
 * lc_session: what a connection's messages mean. Decodes a client frame,
 * checks it against the connection's state, and calls rooms and the store.
 * Knows no libwebsockets: works on lc_conn_t through conn.h.
 */
#ifndef LC_SESSION_H
#define LC_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"

/* A request went over its bucket: close (1008) a client that keeps going
 * past --abuse-close in a row. Counting the refusal is the caller's. */
void lc_session_limited(lc_conn_t *c);

/* One complete client message (reassembled, at most LC_MAX_CLIENT_MSG). */
void lc_session_on_frame(lc_conn_t *c, const uint8_t *buf, size_t len, int binary);

#endif
