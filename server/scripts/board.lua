-- Publishes the room's leaderboards and its buying ticker, each at most once
-- a second whichever shard asks (Redis keeps when each was last published),
-- a board only when its top 10 changed, the ticker only while orders
-- happened in the last 10 s. Shards ask once a second while they heard of a
-- change (a likes total, a stock count), so the last change is always
-- published.
-- KEYS[1] lc:{R}:boards (last published: likes, buyers; and when: at_likes, at_buyers,
-- at_buying)  KEYS[2] lc:{R}:top:likes  KEYS[3] lc:{R}:top:buyers  KEYS[4] lc:{R}:recent
-- Scores are negated in the sorted sets, so that ZRANGE gives best first and ties by user
-- id, bytewise.
-- ARGV: channel
-- Answers reply {status ok, count: how many were held back by the once-a-second rule (ask
-- again a second later)}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = 0
local function due(what)
  if now - tonumber(redis.call('HGET', KEYS[1], 'at_' .. what) or '0') >= 1000 then return true end
  held = held + 1
  return false
end
for i, b in ipairs({'likes', 'buyers'}) do
  if due(b) then
    local r = redis.call('ZRANGE', KEYS[1 + i], 0, 9, 'WITHSCORES')
    local sig = table.concat(r, '\n')
    if sig ~= (redis.call('HGET', KEYS[1], b) or '') then
      local entries = {}
      for j = 1, #r, 2 do entries[#entries + 1] = msg('member', {user = r[j], score = -tonumber(r[j + 1])}) end
      redis.call('HSET', KEYS[1], b, sig, 'at_' .. b, now)
      redis.call('SPUBLISH', ARGV[1], pack('top', {board = b, entries = entries}))
    end
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - 10000)
local n = redis.call('ZCARD', KEYS[4])
if n > 0 and due('buying') then
  local users = {}
  for _, m in ipairs(redis.call('ZREVRANGE', KEYS[4], 0, 2)) do users[#users + 1] = string.match(m, '^[^ ]+ (.*)$') end
  redis.call('HSET', KEYS[1], 'at_buying', now)
  redis.call('SPUBLISH', ARGV[1], pack('buying', {count = n, users = users}))
end
return pack('reply', {status = 'ok', count = held})
