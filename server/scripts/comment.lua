-- Posts a comment: append to the room's capped stream, then publish it on the
-- room's channel. One script, so the room's order is Redis's order: every
-- shard sees comments in stream-id order, and history agrees with live.
-- Moderation is checked in the same step, so every shard agrees: a banned or
-- muted user, or a second comment inside slow mode, is refused here.
-- A comment with a req (the client's id for it) is posted once: the same
-- (user, req) again -- a client re-sending what it could not see confirmed
-- after a reconnect -- answers 'dup' with the first id and posts nothing.
-- KEYS[1] lc:{R}:chat  KEYS[2] lc:{R}:bans  KEYS[3] lc:{R}:mutes
-- KEYS[4] lc:{R}:slow  KEYS[5] lc:{R}:lastc  KEYS[6] lc:{R}:creqs  KEYS[7] lc:{R}:lot
-- KEYS[8] lc:{R}:engaged  KEYS[9] lc:{R}:series (the funnel: funnel.lua)
-- A posted comment whose text holds the open lottery's keyword (ASCII letters in either
-- case) enters its author, once, in this same step (lottery.lua keeps the rest).
-- ARGV: channel, user, text, cap, exempt (1: streamer/moderator, no slow mode),
--       req ('' for none), req_ttl_s
-- Messages (the published comment and the answer) are built by the generated
-- prelude's pack(type, fields) (tools/embed.c: keys checked against proto/schema.c).
-- Answers reply {status: ok, dup, banned, muted or rate_limited; id on ok and dup}.
local user = ARGV[2]
local rk = ARGV[6] ~= '' and (#user .. ':' .. user .. ARGV[6]) or nil
if rk then
  local prev = redis.call('HGET', KEYS[6], rk)
  if prev then return pack('reply', {status = 'dup', id = prev}) end
end
if redis.call('SISMEMBER', KEYS[2], user) == 1 then return pack('reply', {status = 'banned'}) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = tonumber(redis.call('HGET', KEYS[3], user) or '0')
if until_ms > now then return pack('reply', {status = 'muted'}) end
local slow = tonumber(redis.call('GET', KEYS[4]) or '0')
if slow > 0 and ARGV[5] ~= '1' then
  local last = tonumber(redis.call('HGET', KEYS[5], user) or '0')
  if now - last < slow * 1000 then return pack('reply', {status = 'rate_limited'}) end
  redis.call('HSET', KEYS[5], user, now)
  redis.call('EXPIRE', KEYS[5], slow + 60)
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', 'u', user, 't', ARGV[3])
if rk then
  redis.call('HSET', KEYS[6], rk, id)
  redis.call('EXPIRE', KEYS[6], tonumber(ARGV[7]))
end
local ms = tonumber(string.match(id, '^(%d+)'))
redis.call('SPUBLISH', ARGV[1], pack('comment', {id = id, user = user, text = ARGV[3], ts = ms}))
funnel_engaged(KEYS[8], KEYS[9], now, {user}, 'c', 1)
local lid = redis.call('GET', KEYS[7])
if lid then
  local lk = string.sub(KEYS[1], 1, -5) .. 'lot:' .. lid -- lc:{R}:lot:ID
  local L = redis.call('HMGET', lk, 'state', 'ends', 'keyword')
  if L[1] == 'open' and L[3] and L[3] ~= '' and now < tonumber(L[2]) and
      string.find(string.lower(ARGV[3]), string.lower(L[3]), 1, true) and
      redis.call('ZADD', lk .. ':e', 'NX', 0, user) == 1 then
    redis.call('HINCRBY', lk, 'entries', 1)
    redis.call('PEXPIREAT', lk .. ':e', tonumber(L[2]) + 30 * 86400000)
    redis.call('SPUBLISH', ARGV[1], pack('entered', {lottery = lid, user = user}))
  end
end
return pack('reply', {status = 'ok', id = id})
