/*
 * lc_moderation: mute, ban, unban, delete, slow mode. Role streamer or
 * moderator; anyone else gets `forbidden`. The state lives in Redis
 * (moderate.lua), so every shard agrees and a restart forgets nothing.
 */
#ifndef LC_MODERATION_H
#define LC_MODERATION_H

#include "conn.h"

/* A moderation request from a joined connection. */
void lc_moderation_handle(lc_conn_t *c, const lc_msg_t *m);
/* A moderation message from the room's channel; 1 if it was one. */
int lc_moderation_on_bus(lc_room_t *r, const lc_msg_t *m);
/* Sends `banned` and closes c (4003). */
void lc_moderation_close_banned(lc_conn_t *c);

#endif
