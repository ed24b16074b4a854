-- The life of an order after its buy, one op per call: cancel (by its
-- buyer), paid (the shop confirms a reservation's payment), sweep (expire
-- the room's reservations past their deadline) and order (its state, for the
-- shop's GET). An order moves reserved -> paid | expired | cancelled, or
-- paid | ok -> cancelled, in exactly one of these scripts: two racing moves
-- are decided by Redis's order, and the loser is told what happened.
-- KEYS[1] lc:{R}:orderidx  KEYS[2] lc:{R}:paydue  KEYS[3] lc:{R}:orders
-- ARGV[1] op, ARGV[2] the room's key prefix lc:{R}:, ARGV[3] its channel,
-- then the op's arguments. Sku and coupon keys are built from the prefix
-- (all carry the room's hash tag: one slot).
-- The order hash's record: {user, sku, qty, ts, state, group (0/1), ip, pay_by,
-- coupon, price, list_price, paid_ts, the sale's opened, the coupon's ends};
-- records from before reservations have the first 7 (state 'open': a final order).
-- Answers, by op:
--   cancel: cancelled {order, status (ok, already, expired, not_found), sku, qty, left, and on ok
--           pay_by (it was a reservation) and coupon (given back)}
--   paid:   reply {status: paid, expired, cancelled, ok (not a reservation), not_found; count 1
--           when this call made the move (paid or expired)}
--   sweep:  reply {status ok, count (reservations expired), due (the next deadline, 0:
--           none), ts (Redis's clock)}
--   order:  order_state {order, user, sku, qty, status (ok, reserved, paid, expired,
--           cancelled, or not_found alone), price, ts, pay_by, paid_ts, list_price, coupon}
local op, P, CH = ARGV[1], ARGV[2], ARGV[3]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function pub(packed) redis.call('SPUBLISH', CH, packed) end
local function sale_key(sku) return P .. 'sale:' .. sku end

local function next_due()
  local d = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return d[2] and tonumber(d[2]) or 0
end

-- The sku's count to the room (the shards coalesce it), with the room's next
-- deadline for the shards that sweep; not for a sale no longer open.
local function pub_stock(sku)
  local k = sale_key(sku)
  local s = redis.call('HMGET', k, 'open', 'left')
  if s[1] ~= '1' then return end
  redis.call('HSET', k, 'pub_left', s[2])
  pub(pack('stock', {sku = sku, left = tonumber(s[2]), due = next_due()}))
end

-- Puts an order's units back: stock, the user's and the IP's counts, a coupon
-- back to its holder unused; the order becomes state, and kind goes to the
-- stream. Returns the stock left.
local function release(id, o, state, kind, shard, now)
  -- Only to the run of the sale the order came from: a sku closed and opened
  -- again starts with fresh stock and counts (records without o[13]: older
  -- than runs were kept, taken as the current one).
  local k = sale_key(o[2])
  local left
  if not o[13] or o[13] == 0 or o[13] == tonumber(redis.call('HGET', k, 'opened') or '0') then
    left = redis.call('HINCRBY', k, 'left', o[3])
    if o[6] == 0 then redis.call('HINCRBY', P .. 'bought:' .. o[2], o[1], -o[3]) end
    if o[7] and o[7] ~= '' then redis.call('HINCRBY', P .. 'ipunits:' .. o[2], o[7], -o[3]) end
  else
    left = tonumber(redis.call('HGET', k, 'left') or '0')
  end
  local c = o[9]
  -- likewise the coupon: only to the one it was (an id dropped again is another)
  if c and c ~= '' and redis.call('EXISTS', P .. 'coupon:' .. c) == 1 and
      (not o[14] or o[14] == tonumber(redis.call('HGET', P .. 'coupon:' .. c, 'ends') or '0')) then
    local k = P .. 'coupon:' .. c
    redis.call('HINCRBY', P .. 'cused:' .. c, o[1], -1)
    local used = redis.call('HINCRBY', k, 'used', -1)
    local cleft = redis.call('HGET', k, 'left')
    redis.call('HSET', k, 'pub_used', used, 'pub_left', cleft)
    pub(pack('coupon_left', {coupon = c, left = tonumber(cleft), used = used}))
  end
  -- off the buyers board (negated scores); nothing left: off it entirely
  if tonumber(redis.call('ZINCRBY', P .. 'top:buyers', o[3], o[1])) >= 0 then
    redis.call('ZREM', P .. 'top:buyers', o[1])
  end
  redis.call('ZREM', P .. 'recent', id .. ' ' .. o[1]) -- off the buying ticker, if still on it
  -- the stream says whether an ok order (final or paid) went: the funnel reads it (stats.lua)
  local was_ok = (o[5] == 'open' or o[5] == 'paid') and 1 or 0
  o[5] = state
  redis.call('HSET', KEYS[1], id, cmsgpack.pack(o))
  redis.call('ZREM', KEYS[2], id)
  redis.call('XADD', KEYS[3], '*', 'kind', kind, 'order', id, 'user', o[1], 'sku', o[2], 'qty', o[3],
    'price', o[10] or 0, 'ok', was_ok, 'shard', shard, 'ts', now)
  return left
end

-- A reservation past its deadline expires: once, whichever script finds it.
local function expire(id, o, shard, now)
  release(id, o, 'expired', 'expire', shard, now)
  pub(pack('expired', {order = id, user = o[1], sku = o[2], qty = o[3]}))
end

local function overdue(o, now) return o[5] == 'reserved' and now > (o[8] or 0) end

local function load(id)
  local raw = redis.call('HGET', KEYS[1], id)
  return raw and cmsgpack.unpack(raw), raw
end

if op == 'cancel' then
  -- ARGV: 4 user, 5 order, 6 window_ms, 7 shard. A reservation can be
  -- cancelled until its deadline; a paid order within the window after its
  -- payment; a final ('open') order within the window after the buy.
  local user, id = ARGV[4], ARGV[5]
  local was_reserved = false
  local function answer(status, o, left)
    local back = status == 'ok' and o[9] and o[9] ~= '' and o[9] or nil
    return pack('cancelled', {order = id, status = status, sku = o and o[2], qty = o and o[3],
      left = o and (left or tonumber(redis.call('HGET', sale_key(o[2]), 'left') or '0')),
      pay_by = was_reserved and status == 'ok' and o[8] or nil, coupon = back})
  end
  local o, raw = load(id)
  if not o or o[1] ~= user then return answer('not_found') end
  if o[5] == 'cancelled' then
    -- a write (the same record again), so the WAIT after this script covers
    -- the first cancel too: 'already' is told only once that one is durable
    redis.call('HSET', KEYS[1], id, raw)
    return answer('already', o)
  end
  local now = now_ms()
  if o[5] == 'expired' then
    redis.call('HSET', KEYS[1], id, raw)
    return answer('expired', o)
  end
  if overdue(o, now) then return answer('expired', o) end -- too late: the sweep expires it
  was_reserved = o[5] == 'reserved'
  local from = o[5] == 'paid' and o[12] or o[4]
  if o[5] ~= 'reserved' and now - from > tonumber(ARGV[6]) then return answer('expired', o) end
  local left = release(id, o, 'cancelled', 'cancel', ARGV[7], now)
  return answer('ok', o, left)

elseif op == 'paid' then
  -- ARGV: 4 order, 5 shard
  local id = ARGV[4]
  local o, raw = load(id)
  if not o then return pack('reply', {status = 'not_found'}) end
  local now = now_ms()
  if o[5] == 'reserved' and not overdue(o, now) then
    o[5], o[12] = 'paid', now
    redis.call('HSET', KEYS[1], id, cmsgpack.pack(o))
    redis.call('ZREM', KEYS[2], id)
    redis.call('XADD', KEYS[3], '*', 'kind', 'paid', 'order', id, 'user', o[1], 'sku', o[2], 'qty', o[3],
      'price', o[10] or 0, 'shard', ARGV[5], 'ts', now)
    pub(pack('paid', {order = id, user = o[1], sku = o[2], qty = o[3]}))
    return pack('reply', {status = 'paid', count = 1}) -- count: this call made the move
  end
  if overdue(o, now) then -- too late: expired here if no sweep did it yet (count 1)
    expire(id, o, ARGV[5], now)
    pub_stock(o[2])
    return pack('reply', {status = 'expired', count = 1})
  end
  redis.call('HSET', KEYS[1], id, raw) -- a write: the WAIT covers the first decision
  return pack('reply', {status = o[5] == 'open' and 'ok' or o[5]})

elseif op == 'sweep' then
  -- ARGV: 4 shard, 5 the most orders one sweep expires (the rest: the next)
  local now = now_ms()
  local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. now, 'LIMIT', 0, tonumber(ARGV[5]))
  local skus, n = {}, 0
  for _, id in ipairs(due) do
    local o = load(id)
    if o and overdue(o, now) then
      expire(id, o, ARGV[4], now)
      skus[o[2]] = true
      n = n + 1
    else
      redis.call('ZREM', KEYS[2], id) -- settled already, or aged out
    end
  end
  for sku in pairs(skus) do pub_stock(sku) end
  return pack('reply', {status = 'ok', count = n, due = next_due(), ts = now})

elseif op == 'order' then
  -- ARGV: 4 order, 5 shard
  local id = ARGV[4]
  local o = load(id)
  if not o then return pack('order_state', {order = id, status = 'not_found'}) end
  -- an overdue reservation is expired, whether or not a sweep moved it yet
  local st = overdue(o, now_ms()) and 'expired' or o[5] == 'open' and 'ok' or o[5]
  local c = o[9] ~= nil and o[9] ~= '' and o[9] or nil
  return pack('order_state', {order = id, user = o[1], sku = o[2], qty = o[3],
    status = st, ts = o[4], price = o[10],
    pay_by = (o[8] or 0) > 0 and o[8] or nil, paid_ts = (o[12] or 0) > 0 and o[12] or nil,
    list_price = c and o[11] or nil, coupon = c})
end
return redis.error_reply('unknown op ' .. tostring(op))
