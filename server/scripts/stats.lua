-- The room's funnel (PROTOCOL.md "The funnel"), as the streamers' `stats`
-- and GET /api/rooms/R/stats show it, and the lease that makes one shard
-- report the room in its metrics. Joins, comments, likes and viewer shares
-- keep their figures in their own scripts (funnel.lua); the orders are read
-- here, from the orders stream after the funnel's cursor (each entry once:
-- the cursor moves in this same step), so that a buy costs nothing more.
-- KEYS[1] lc:{R}:funnel  KEYS[2] lc:{R}:fbuyers  KEYS[3] lc:{R}:uv  KEYS[4] lc:{R}:engaged
-- KEYS[5] lc:{R}:series  KEYS[6] lc:{R}:vshare  KEYS[7] lc:{R}:vexp  KEYS[8] lc:{R}:reporter
-- KEYS[9] lc:{R}:orders
-- ARGV: shard ('' for none: no lease), lease_ms, series (1: with the last hour)
-- Answers stats {viewers_now (the live shares, as join.lua counts them), viewers_peak,
--   viewers_unique, engaged, buyers, orders, units, revenue, ts (Redis's clock), shard
--   (the reporting shard, if any), series (with ARGV[3] = 1: 360 points, oldest first)}
-- An order became ok at ms (d = 1: a final buy, a completed team's order, a
-- payment) or is no longer ok (d = -1: a cancel of an ok order); now is
-- Redis's clock. funnel (lc:{R}:funnel) holds orders, units, revenue;
-- buyers (lc:{R}:fbuyers) user -> their ok orders. A new ok order also
-- counts in its 10 s point, if that is still in the last hour.
local function funnel_order(funnel, buyers, series, ms, now, user, qty, cents, d)
  redis.call('HINCRBY', funnel, 'orders', d)
  redis.call('HINCRBY', funnel, 'units', d * qty)
  redis.call('HINCRBY', funnel, 'revenue', d * qty * cents)
  if redis.call('HINCRBY', buyers, user, d) <= 0 then redis.call('HDEL', buyers, user) end
  if d > 0 and math.floor(ms / 10000) > math.floor(now / 10000) - 360 then funnel_point(series, ms, 'o', 1) end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local vnow = 0
for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[7], '(' .. now, '+inf')) do
  vnow = vnow + tonumber(redis.call('HGET', KEYS[6], s) or '0')
end
-- the orders since the cursor: an ok order (final, a team's, a paid reservation) counts, a
-- cancel of one comes off; at most 5 x 1,000 entries a call (~10 ms of Redis: the next call
-- goes on, so a burst of orders shows within seconds)
local cursor = redis.call('HGET', KEYS[1], 'cursor') or '0-0'
for _ = 1, 5 do
  local batch = redis.call('XRANGE', KEYS[9], '(' .. cursor, '+', 'COUNT', 1000)
  for _, e in ipairs(batch) do
    local f = {}
    for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end
    local d = 0
    if (f.kind == 'order' and not f.pay_by) or f.kind == 'paid' then d = 1
    elseif f.kind == 'cancel' and f.ok == '1' then d = -1 end
    if d ~= 0 and f.user then
      local ms = tonumber(string.match(e[1], '^(%d+)'))
      funnel_order(KEYS[1], KEYS[2], KEYS[5], ms, now, f.user, tonumber(f.qty or '1'), tonumber(f.price or '0'), d)
    end
    cursor = e[1]
  end
  if #batch > 0 then redis.call('HSET', KEYS[1], 'cursor', cursor) end
  if #batch < 1000 then break end
end
local rep = redis.call('GET', KEYS[8])
if ARGV[1] ~= '' and (not rep or rep == ARGV[1]) then
  redis.call('SET', KEYS[8], ARGV[1], 'PX', tonumber(ARGV[2]))
  rep = ARGV[1]
end
local f = redis.call('HMGET', KEYS[1], 'orders', 'units', 'revenue', 'peak')
local function num(v) return math.max(0, tonumber(v or '0')) end -- (orders from before the funnel may cancel)
local out = {viewers_now = vnow, viewers_peak = math.max(num(f[4]), vnow),
  viewers_unique = redis.call('PFCOUNT', KEYS[3]), engaged = redis.call('PFCOUNT', KEYS[4]),
  buyers = redis.call('HLEN', KEYS[2]), orders = num(f[1]), units = num(f[2]), revenue = num(f[3]),
  ts = now, shard = rep or nil}
if ARGV[3] == '1' then
  local h = {}
  local all = redis.call('HGETALL', KEYS[5])
  for i = 1, #all, 2 do h[all[i]] = all[i + 1] end
  local series, last = {}, 0
  local newest = math.floor(now / 10000)
  for b = newest - 359, newest do
    local s = tostring(b % 360)
    local p = {t = b * 10000, viewers = last, orders = 0, likes = 0, comments = 0}
    if h['b' .. s] == tostring(b) then
      local v = tonumber(h['v' .. s])
      if v >= 0 then p.viewers = v end -- no share sent in those 10 s: the last value held
      p.orders, p.likes, p.comments = tonumber(h['o' .. s]), tonumber(h['l' .. s]), tonumber(h['c' .. s])
    end
    last = p.viewers
    series[#series + 1] = msg('point', p)
  end
  out.series = series
end
return pack('stats', out)
