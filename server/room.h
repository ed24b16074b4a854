/*
 * lc_room: a room as one shard sees it: its ring, its local connections,
 * its Redis subscription and the coalesced counters. Everything a room
 * learns from other shards comes through its channel; everything it changes
 * goes through lc_store.
 */
#ifndef LC_ROOM_H
#define LC_ROOM_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "ring.h"
#include "server.h"

/* Finds or creates the room; returns it with a new reference, or NULL out
 * of memory. name must be valid (lc_room_name_valid). */
lc_room_t *lc_room_get(lc_server_t *srv, const char *name, size_t n);
void lc_room_unref(lc_room_t *r);

/* 1 if name is 1-64 chars of [A-Za-z0-9_-]. */
int lc_room_name_valid(const char *name, size_t n);

const char *lc_room_name(const lc_room_t *r, size_t *n);
lc_ring_t *lc_room_ring(lc_room_t *r);

/* A connection said hello: fetch its welcome (since: resume point or NULL).
 * The connection moves to WAITING/JOINING and gets its welcome, or an
 * error `unavailable` (back to NEW). */
void lc_room_join(lc_room_t *r, lc_conn_t *c, const lc_str_t *since);
/* A connection is closing: forget it (reader, lists, viewer count). */
void lc_room_leave(lc_room_t *r, lc_conn_t *c);
/* A joined connection caught up with the ring: park it until the next push. */
void lc_room_reader_idle(lc_room_t *r, lc_conn_t *c);
/* Queues the latest likes/viewers values to c (after a gap). */
void lc_room_send_state(lc_room_t *r, lc_conn_t *c);

lc_server_t *lc_room_server(lc_room_t *r);
void lc_room_ref(lc_room_t *r);
/* The room's sale state slot, owned by sale.c. */
struct lc_sales **lc_room_sales(lc_room_t *r);
/* Encodes m once and sends it to every joined connection of the room. */
void lc_room_broadcast(lc_room_t *r, const lc_msg_t *m);
/* Calls fn for every joined connection on this shard. fn must not close
 * or unlink connections (queueing frames is fine). */
void lc_room_foreach_joined(lc_room_t *r, void (*fn)(lc_conn_t *c, void *arg), void *arg);

/* Adds likes to the room's next batch. */
void lc_room_add_likes(lc_room_t *r, int64_t n);

/* Store events, routed to the room by name. */
void lc_rooms_on_message(lc_server_t *srv, const char *room, size_t n, const char *payload, size_t len);
void lc_rooms_on_subscribed(lc_server_t *srv, const char *room, size_t n);
void lc_rooms_on_store_state(lc_server_t *srv);

/* Once per tick: flush batches and shares, broadcast changed counters, and
 * unsubscribe and free rooms that emptied. */
void lc_rooms_tick(lc_server_t *srv);
/* Shutdown: 1 when every room has flushed its likes and removed its share. */
int lc_rooms_flushed(lc_server_t *srv);
/* Frees every room (at exit, after all connections closed). */
void lc_rooms_destroy_all(lc_server_t *srv);

#endif
