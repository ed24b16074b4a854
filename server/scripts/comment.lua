-- Posts a comment: append to the room's capped stream, then publish it on the
-- room's channel. One script, so the room's order is Redis's order: every
-- shard sees comments in stream-id order, and history agrees with live.
-- KEYS[1] lc:{R}:chat   ARGV: channel, user, text, cap
-- Returns the new entry's id.
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', 'u', ARGV[2], 't', ARGV[3])
local ms = tonumber(string.match(id, '^(%d+)'))
redis.call('PUBLISH', ARGV[1],
  cmsgpack.pack({type = 'comment', id = id, user = ARGV[2], text = ARGV[3], ts = ms}))
return id
