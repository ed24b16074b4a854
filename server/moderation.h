/*
 * lc_moderation: mute, ban, unban, delete, slow mode -- a feature
 * (feature.h). Role streamer or moderator; anyone else gets `forbidden`.
 * The state lives in Redis (moderate.lua; bans and mutes are enforced
 * inside the comment script), so every shard agrees and a restart forgets
 * nothing. A ban travels on the room's channel and closes that user's
 * connections on every shard; joiners who are banned are refused in the
 * same round trip as their welcome (room_state.entries).
 */
#ifndef LC_MODERATION_H
#define LC_MODERATION_H

#include "feature.h"

extern const lc_feature_t lc_moderation_feature;

#endif
