/*
 * lc_room: the room engine -- a room as one shard sees it: its ring, its
 * local connections, its Redis subscription and the coalesced counters.
 * Everything a room learns from other shards comes through its channel;
 * everything it changes goes through lc_store.
 *
 * The engine knows no feature: features (feature.h) are handed to
 * lc_rooms_create and reached through their hooks. It knows no
 * libwebsockets: it reaches connections through conn.h.
 *
 * Files: room.c (lifetime, fan-out, the write path's room part, hooks),
 * room_join.c (joins and catching up), room_counters.c (likes, viewers,
 * the tick).
 */
#ifndef LC_ROOM_H
#define LC_ROOM_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "feature.h"
#include "server.h"

/* ---- the registry ---- */

/* The rooms of srv, with these features (NULL-terminated, static storage;
 * at most LC_FEATURES_MAX). Sets the connections' fill hook. NULL out of
 * memory. */
lc_rooms_t *lc_rooms_create(lc_server_t *srv, const lc_feature_t *const *features);
/* Frees every room (at exit, after all connections closed and the store
 * is gone), then the registry. */
void lc_rooms_destroy(lc_rooms_t *rs);
size_t lc_rooms_count(const lc_rooms_t *rs);

/* Store events, routed to the room by name. */
void lc_rooms_on_message(lc_rooms_t *rs, lc_str_t room, const char *payload, size_t len);
void lc_rooms_on_subscribed(lc_rooms_t *rs, lc_str_t room);
void lc_rooms_on_sub_lost(lc_rooms_t *rs, lc_str_t room);
void lc_rooms_on_store_state(lc_rooms_t *rs);

/* Once per tick: flush batches and shares, broadcast changed counters, run
 * the features' ticks, and unsubscribe and free rooms that emptied. Rooms
 * are freed only here, never inside a callback. */
void lc_rooms_tick(lc_rooms_t *rs);
/* Shutdown: 1 when every room has flushed its likes and removed its share
 * and no feature is busy. */
int lc_rooms_flushed(lc_rooms_t *rs);

/* ---- one room ---- */

/* 1 if name is 1-64 chars of [A-Za-z0-9_-]. */
int lc_room_name_valid(const char *name, size_t n);
/* Finds or creates the room; returns it with a new reference, or NULL out
 * of memory. name must be valid. */
lc_room_t *lc_room_get(lc_rooms_t *rs, const char *name, size_t n);
void lc_room_ref(lc_room_t *r);
void lc_room_unref(lc_room_t *r);

lc_str_t lc_room_name(const lc_room_t *r);
lc_server_t *lc_room_server(const lc_room_t *r);
/* Joined connections in the room on this shard; of them, streamers; and how
 * many streamers joined here so far (it only grows: a new one changes it). */
uint32_t lc_room_joined(const lc_room_t *r);
uint32_t lc_room_streamers(const lc_room_t *r);
uint32_t lc_room_streamer_joins(const lc_room_t *r);
/* c's role becomes role (a refreshed token may say another). */
void lc_room_set_role(lc_room_t *r, lc_conn_t *c, lc_role_t role);
/* The state slot in this room of the feature of that name (NULL until the
 * feature sets it; the call itself NULL if no such feature runs). */
void **lc_room_slot(lc_room_t *r, const char *feature);

/* A connection said hello: fetch its welcome (since: resume point or NULL).
 * The connection moves to WAITING/JOINING and gets its welcome, or an
 * error `unavailable` (back to NEW). */
void lc_room_join(lc_room_t *r, lc_conn_t *c, const lc_str_t *since);
/* A connection is closing: forget it (reader, lists, viewer count). */
void lc_room_leave(lc_room_t *r, lc_conn_t *c);

/* Encodes m once and sends it to every joined connection of the room (on
 * this shard). */
void lc_room_broadcast(lc_room_t *r, const lc_msg_t *m);
/* Calls fn for every joined connection on this shard. fn must not unlink
 * connections (queueing frames and closing are fine). */
void lc_room_foreach_joined(lc_room_t *r, void (*fn)(lc_conn_t *c, void *arg), void *arg);
/* Sends m to every joined connection of user on this shard (an answer that
 * concerns one buyer, wherever it made the request). */
void lc_room_send_to_user(lc_room_t *r, lc_str_t user, const lc_msg_t *m);

/* Adds c's likes to the room's next batch (the likes board counts c's user). */
void lc_room_add_likes(lc_room_t *r, lc_conn_t *c, int64_t n);

#endif
