-- Moderation of a room, one op per call. Everything lives in Redis so every
-- shard agrees and a restart forgets nothing; the room hears what it must.
-- KEYS[1] lc:{R}:bans  KEYS[2] lc:{R}:mutes  KEYS[3] lc:{R}:slow  KEYS[4] lc:{R}:chat
-- ARGV: op, channel, arg
--   mute USER SECS   (SECS 0 lifts it)  ban USER   unban USER
--   delete ID        slow SECS (0 off)
-- Returns {'ok'} or {'not_found'}.
local op, CH = ARGV[1], ARGV[2]
local function pub(m) redis.call('PUBLISH', CH, cmsgpack.pack(m)) end
if op == 'mute' then
  local secs = tonumber(ARGV[4])
  if secs == 0 then
    redis.call('HDEL', KEYS[2], ARGV[3])
  else
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    redis.call('HSET', KEYS[2], ARGV[3], now + secs * 1000)
  end
  return {'ok'}
elseif op == 'ban' then
  redis.call('SADD', KEYS[1], ARGV[3])
  pub({type = 'ban', user = ARGV[3]}) -- every shard closes that user's connections
  return {'ok'}
elseif op == 'unban' then
  redis.call('SREM', KEYS[1], ARGV[3])
  return {'ok'}
elseif op == 'delete' then
  if redis.call('XDEL', KEYS[4], ARGV[3]) == 0 then return {'not_found'} end
  pub({type = 'deleted', id = ARGV[3]})
  return {'ok'}
elseif op == 'slow' then
  local secs = tonumber(ARGV[3])
  if secs == 0 then redis.call('DEL', KEYS[3]) else redis.call('SET', KEYS[3], secs) end
  pub({type = 'slow_mode', secs = secs})
  return {'ok'}
end
return redis.error_reply('unknown op ' .. tostring(op))
