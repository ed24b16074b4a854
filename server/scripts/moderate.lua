-- Moderation of a room, one op per call. Everything lives in Redis so every
-- shard agrees and a restart forgets nothing; the room hears what it must.
-- KEYS[1] lc:{R}:bans  KEYS[2] lc:{R}:mutes  KEYS[3] lc:{R}:slow  KEYS[4] lc:{R}:chat
-- ARGV: op, channel, arg
--   mute USER SECS   (SECS 0 lifts it)  ban USER   unban USER
--   delete ID        slow SECS (0 off)
-- Messages (ban, deleted, slow_mode on the channel; the answer) are built by the
-- generated prelude's pack(type, fields) (tools/embed.c, from proto/schema.c).
-- Answers reply {status: ok, or not_found (delete of no such entry)}.
local op, CH = ARGV[1], ARGV[2]
local OK = pack('reply', {status = 'ok'})
if op == 'mute' then
  local secs = tonumber(ARGV[4])
  if secs == 0 then
    redis.call('HDEL', KEYS[2], ARGV[3])
  else
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    redis.call('HSET', KEYS[2], ARGV[3], now + secs * 1000)
  end
  return OK
elseif op == 'ban' then
  redis.call('SADD', KEYS[1], ARGV[3])
  redis.call('SPUBLISH', CH, pack('ban', {user = ARGV[3]})) -- every shard closes that user's connections
  return OK
elseif op == 'unban' then
  redis.call('SREM', KEYS[1], ARGV[3])
  return OK
elseif op == 'delete' then
  if redis.call('XDEL', KEYS[4], ARGV[3]) == 0 then return pack('reply', {status = 'not_found'}) end
  redis.call('SPUBLISH', CH, pack('deleted', {id = ARGV[3]}))
  return OK
elseif op == 'slow' then
  local secs = tonumber(ARGV[3])
  if secs == 0 then redis.call('DEL', KEYS[3]) else redis.call('SET', KEYS[3], secs) end
  redis.call('SPUBLISH', CH, pack('slow_mode', {secs = secs}))
  return OK
end
return redis.error_reply('unknown op ' .. tostring(op))
