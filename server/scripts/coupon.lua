-- Coupon drops (抢券), one op per call: drop (the streamer's), claim (a
-- viewer grabs one), pub (publish a coupon's changed counts, coalesced by
-- the shards like stock), close (end the claim windows that are over) and
-- mine (the caller's coupons). Redeeming is decided by the buy (buy.lua);
-- returns by cancels and expiries (checkout.lua).
-- KEYS[1] lc:{R}:coupons (claimable)  KEYS[2] lc:{R}:couponids (live: id -> expiry ms)
-- KEYS[3] lc:{R}:reqs
-- ARGV[1] op, ARGV[2] the room's key prefix lc:{R}:, ARGV[3] its channel, then the
-- op's arguments. Coupon keys are built from the prefix (one slot: the room's).
-- A coupon's hash lc:{R}:coupon:ID: title, off or pct, quota, left, per_user, ends,
-- sku, min_price, open, used, pub_left, pub_used; it, cclaim:ID and cused:ID expire a
-- day after the window ends (claimed coupons are redeemable until then).
-- Answers, by op:
--   drop:  reply {status: ok, exists (the id is live), too_many}
--   claim: claim {req, coupon, status (ok, gone, limit, closed, req_reused), left; count 1 when
--          this call (not a replay) took the coupon: the shard counts it and strips it}
--   pub:   reply {status: ok, none}
--   close: reply {status ok, count (windows ended), due (the next end, 0: none), ts}
--   mine:  my_coupons {coupons: coupon {coupon, title, off|pct, sku, min_price, ends,
--          claimed, used}}
local op, P, CH = ARGV[1], ARGV[2], ARGV[3]
local KEEP_MS = 86400000
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function pub(packed) redis.call('SPUBLISH', CH, packed) end
local function ckey(id) return P .. 'coupon:' .. id end
local function req_key(user, req) return #user .. ':' .. user .. req end
local function num(v) return v and tonumber(v) or nil end

-- The window closes: once (open goes 0 here and nowhere else).
local function gone(id)
  -- (a hash that aged out is not made again: it would have no expiry)
  if redis.call('EXISTS', ckey(id)) == 1 then redis.call('HSET', ckey(id), 'open', '0') end
  redis.call('SREM', KEYS[1], id)
  pub(pack('coupon_gone', {coupon = id}))
end

if op == 'drop' then
  -- ARGV: 4 coupon, 5 title, 6 off (0: pct), 7 pct, 8 quota, 9 per_user, 10 secs,
  -- 11 sku ('' any), 12 min_price, 13 most claimable at once, 14 most live
  local id = ARGV[4]
  local now = now_ms()
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  -- windows over but not swept yet do not count as claimable
  for _, c in ipairs(redis.call('SMEMBERS', KEYS[1])) do
    if tonumber(redis.call('HGET', ckey(c), 'ends') or '0') <= now then gone(c) end
  end
  if redis.call('EXISTS', ckey(id)) == 1 or redis.call('ZSCORE', KEYS[2], id) then
    return pack('reply', {status = 'exists'})
  end
  if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[13]) or redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[14]) then
    return pack('reply', {status = 'too_many'})
  end
  local ends = now + 1000 * tonumber(ARGV[10])
  local off, pct = tonumber(ARGV[6]), tonumber(ARGV[7])
  local k = ckey(id)
  redis.call('HSET', k, 'title', ARGV[5], 'quota', ARGV[8], 'left', ARGV[8], 'per_user', ARGV[9], 'ends', ends,
    'sku', ARGV[11], 'min_price', ARGV[12], 'open', '1', 'used', 0, 'pub_left', ARGV[8], 'pub_used', 0)
  if off > 0 then redis.call('HSET', k, 'off', off) else redis.call('HSET', k, 'pct', pct) end
  redis.call('PEXPIREAT', k, ends + KEEP_MS)
  redis.call('DEL', P .. 'cclaim:' .. id, P .. 'cused:' .. id)
  redis.call('SADD', KEYS[1], id)
  redis.call('ZADD', KEYS[2], ends + KEEP_MS, id)
  local pct_or_nil = nil -- (off > 0 and nil or pct is always pct in Lua)
  if off == 0 then pct_or_nil = pct end
  pub(pack('coupon', {coupon = id, title = ARGV[5], off = off > 0 and off or nil, pct = pct_or_nil,
    quota = tonumber(ARGV[8]), left = tonumber(ARGV[8]), per_user = tonumber(ARGV[9]), ends = ends,
    sku = ARGV[11] ~= '' and ARGV[11] or nil, min_price = tonumber(ARGV[12]) > 0 and tonumber(ARGV[12]) or nil}))
  return pack('reply', {status = 'ok'})

elseif op == 'claim' then
  -- ARGV: 4 user, 5 req, 6 coupon, 7 req_ttl_s. The record kept under (user, req)
  -- in reqs is {status, '', 0, coupon, 'claim'}: a retry answers it again.
  local user, req, id = ARGV[4], ARGV[5], ARGV[6]
  local k = ckey(id)
  local function answer(status, first)
    return pack('claim', {req = req, coupon = id, status = status,
      left = tonumber(redis.call('HGET', k, 'left') or '0'), count = first and status == 'ok' and 1 or nil})
  end
  local rk = req_key(user, req)
  local prev = redis.call('HGET', KEYS[3], rk)
  if prev then
    redis.call('EXPIRE', KEYS[3], tonumber(ARGV[7])) -- a write: the WAIT covers the first answer (buy.lua)
    local a = cmsgpack.unpack(prev)
    if a[5] == 'claim' and a[4] == id then return answer(a[1]) end
    return answer('req_reused')
  end
  local c = redis.call('HMGET', k, 'open', 'left', 'per_user', 'ends')
  local status = 'closed'
  if c[2] then
    local cl = P .. 'cclaim:' .. id
    local mine, left = tonumber(redis.call('HGET', cl, user) or '0'), tonumber(c[2])
    if mine >= tonumber(c[3]) then
      status = 'limit'
    elseif left <= 0 then
      status = 'gone'
    elseif c[1] == '1' and now_ms() < tonumber(c[4]) then
      redis.call('HINCRBY', k, 'left', -1)
      redis.call('HINCRBY', cl, user, 1)
      redis.call('PEXPIREAT', cl, tonumber(c[4]) + KEEP_MS)
      if left == 1 then
        -- the last one: the final count first (the shards' coalescing would send
        -- it after the end), then the end, once
        local used = tonumber(redis.call('HGET', k, 'used') or '0')
        redis.call('HSET', k, 'pub_left', 0, 'pub_used', used)
        pub(pack('coupon_left', {coupon = id, left = 0, used = used}))
        gone(id)
      end
      status = 'ok'
    end
  end
  redis.call('HSET', KEYS[3], rk, cmsgpack.pack({status, '', 0, id, 'claim'}))
  redis.call('EXPIRE', KEYS[3], tonumber(ARGV[7]))
  return answer(status, true)

elseif op == 'pub' then
  -- ARGV: 4 coupon
  local id = ARGV[4]
  local c = redis.call('HMGET', ckey(id), 'left', 'used', 'pub_left', 'pub_used')
  if not c[1] then return pack('reply', {status = 'none'}) end
  if c[1] ~= c[3] or c[2] ~= c[4] then
    redis.call('HSET', ckey(id), 'pub_left', c[1], 'pub_used', c[2])
    pub(pack('coupon_left', {coupon = id, left = tonumber(c[1]), used = tonumber(c[2])}))
  end
  return pack('reply', {status = 'ok'})

elseif op == 'close' then
  local now, n, due = now_ms(), 0, 0
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
    local ends = tonumber(redis.call('HGET', ckey(id), 'ends') or '0')
    if ends <= now then
      gone(id)
      n = n + 1
    elseif due == 0 or ends < due then
      due = ends
    end
  end
  return pack('reply', {status = 'ok', count = n, due = due, ts = now})

elseif op == 'mine' then
  -- ARGV: 4 user
  local user, items = ARGV[4], {}
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms())
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, 99)) do
    local claimed = tonumber(redis.call('HGET', P .. 'cclaim:' .. id, user) or '0')
    local c = claimed > 0 and redis.call('HMGET', ckey(id), 'title', 'off', 'pct', 'sku', 'min_price', 'ends')
    if c and c[1] then
      items[#items + 1] = msg('coupon', {coupon = id, title = c[1], off = num(c[2]), pct = num(c[3]),
        sku = c[4] and c[4] ~= '' and c[4] or nil, min_price = num(c[5]) ~= 0 and num(c[5]) or nil,
        ends = tonumber(c[6]), claimed = claimed,
        used = tonumber(redis.call('HGET', P .. 'cused:' .. id, user) or '0')})
    end
  end
  return pack('my_coupons', {coupons = items})
end
return redis.error_reply('unknown op ' .. tostring(op))
