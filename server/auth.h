/*
 * lc_auth: who a connection is. With --jwt-key-file, hello must carry an
 * HS256 token whose claims (sub, role, room) decide the user and role; a
 * token's expiry is kept per connection, extended by in-band refresh, and
 * enforced once a second. Without a key the server runs in open mode:
 * roles as declared, for local development, said loudly at start and in
 * /healthz.
 */
#ifndef LC_AUTH_H
#define LC_AUTH_H

#include "config.h"
#include "conn.h"

typedef struct lc_auth lc_auth_t;

/* Loads the key (if configured). NULL when it cannot be read (logged). */
lc_auth_t *lc_auth_create(const lc_config_t *cfg);
void lc_auth_destroy(lc_auth_t *a);
int lc_auth_open_mode(const lc_auth_t *a);

/* Decides the user and role of a hello. Returns 0 (c->user, role, exp
 * set), or -1: the error is sent and the connection closed. */
int lc_auth_hello(const lc_auth_t *a, lc_conn_t *c, const lc_msg_t *hello);

/* An in-band refresh: a new token for the same user extends the
 * connection. */
void lc_auth_refresh(const lc_auth_t *a, lc_conn_t *c, const lc_msg_t *m);

/* Closes connections whose token expired (token_expired, 4003). */
void lc_auth_sweep(const lc_auth_t *a, lc_conns_t *conns);

#endif
