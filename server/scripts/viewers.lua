-- Sets this shard's viewer share of a room and recomputes the room's total
-- over live shares. A share expires unless refreshed, so a shard that died
-- without cleaning up drops out by itself (expiry uses Redis's clock, so
-- shard clocks do not matter). Publishes the total when it changed.
-- KEYS[1] lc:{R}:vshare  KEYS[2] lc:{R}:vexp  KEYS[3] lc:{R}:viewers
-- KEYS[4] lc:{R}:funnel  KEYS[5] lc:{R}:series (the peak and the 10 s points: funnel.lua)
-- ARGV: channel, shard, count, ttl_ms
-- Publishes viewers {count} (built by the generated prelude's pack, tools/embed.c).
-- Answers the room's total (an integer).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(ARGV[3]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[2])
else
  redis.call('HDEL', KEYS[1], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
end
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, s in ipairs(dead) do
  redis.call('HDEL', KEYS[1], s)
  redis.call('ZREM', KEYS[2], s)
end
local total = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do total = total + tonumber(v) end
funnel_viewers(KEYS[4], KEYS[5], now, total)
local old = tonumber(redis.call('GET', KEYS[3]) or '-1')
if total ~= old then
  redis.call('SET', KEYS[3], total)
  redis.call('SPUBLISH', ARGV[1], pack('viewers', {count = total}))
end
return total
