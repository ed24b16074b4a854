-- Decides one flash-sale buy, atomically: sale open, stock >= qty, the
-- user's units + qty <= limit, the buyer IP's units <= the per-IP cap, a
-- coupon (if named) held unused by the user and valid for the sku and price,
-- and idempotency: the same (user, req) gets its first answer again and never
-- takes stock twice. On ok: stock and the counts change and the order is
-- appended to the room's order stream, the durable hand-off to the shop. A
-- sale opened with pay_s reserves instead: the same changes, the order's state
-- is 'reserved' until paid, and its deadline goes into lc:{R}:paydue for the
-- sweep (checkout.lua) to expire it if it is not paid in time.
-- Suspicious buys are written to the room's audit stream for the shop to
-- review: one that succeeds less than fast_ms after the sale opened ("fast"),
-- and a buy from an IP that more than ip_users distinct users bought from
-- ("shared_ip"). Stock is not published here: the shard publishes the new
-- count once per tick (commerce.lua, op "pub").
-- KEYS[1] lc:{R}:sale:SKU  KEYS[2] lc:{R}:bought:SKU  KEYS[3] lc:{R}:reqs
-- KEYS[4] lc:{R}:orders    KEYS[5] lc:{R}:orderidx   KEYS[6] lc:{R}:ipunits:SKU
-- KEYS[7] lc:{R}:ipusers:SKU  KEYS[8] lc:{R}:audit  KEYS[9] lc:{R}:coupon:C
-- KEYS[10] lc:{R}:cclaim:C  KEYS[11] lc:{R}:cused:C  KEYS[12] lc:{R}:paydue
-- KEYS[13] lc:{R}:top:buyers (units per user, negated: board.lua)  KEYS[14] lc:{R}:recent
-- (the last 10 s of orders: "id user" -> ms, for the buying ticker)
-- ARGV: user, req, sku, qty, shard, req_ttl_s, ip, ip_cap (0: off), fast_ms, ip_users,
-- coupon ('' for none), the room's channel
-- Answers one protocol message, built by the generated prelude's pack(type, fields)
-- (tools/embed.c: checks the keys against proto/schema.c, then cmsgpack.pack):
--   order {req, sku, status (ok, reserved, limit, sold_out, closed, coupon_invalid), order,
--   qty, price and (reserved) pay_by, (with a coupon) coupon on success; left; count 1 when
--   this call (not a replay) redeemed the coupon: the shard counts it and strips it}
-- The record kept under (user, req) in lc:{R}:reqs is {status, order id or '', qty, sku,
-- 'buy', pay_by, price, coupon} (msgpack array): a retry answers it again with the current
-- stock as left. A req already used for another sku, or for a group join, is answered
-- req_reused: one req is one tap (records from before the sku was kept have 3 items and are
-- answered as they are).
local rk = #ARGV[1] .. ':' .. ARGV[1] .. ARGV[2]
local function answer(status, id, qty, pay_by, price, coupon, first)
  local ok = status == 'ok' or status == 'reserved'
  local used = ok and coupon and coupon ~= '' and coupon or nil
  return pack('order', {req = ARGV[2], sku = ARGV[3], status = status, order = ok and id or nil,
    qty = ok and qty or nil, left = tonumber(redis.call('HGET', KEYS[1], 'left') or '0'),
    pay_by = ok and pay_by and pay_by > 0 and pay_by or nil, price = ok and price or nil,
    coupon = used, count = first and used and 1 or nil})
end
local prev = redis.call('HGET', KEYS[3], rk)
if prev then
  -- A write, though nothing changes: WAIT waits for what this connection
  -- wrote, so without one a replayed ok could be told before the first
  -- buy (made through another shard, maybe) reached the replicas.
  redis.call('EXPIRE', KEYS[3], tonumber(ARGV[6]))
  local a = cmsgpack.unpack(prev)
  if (a[5] == 'buy' and a[4] == ARGV[3]) or (#a == 3 and type(a[3]) == 'number') then
    return answer(a[1], a[2], a[3], a[6], a[7], a[8])
  end
  return answer('req_reused', '', 0)
end
local qty = tonumber(ARGV[4])
local s = redis.call('HMGET', KEYS[1], 'open', 'kind', 'left', 'limit', 'price', 'opened', 'pay_s')
local status, id, pay_by, price, coupon = 'closed', '', 0, nil, ARGV[11]
-- The price per unit with the coupon, or nil when the user holds none unused
-- that applies: a coupon names a sku or any, and a least list price.
-- Also the coupon's ends: the order keeps it, so that a return after the id
-- was dropped again (a new coupon) does not credit the new one.
local coupon_ends = 0
local function redeem_price(list)
  local c = redis.call('HMGET', KEYS[9], 'off', 'pct', 'sku', 'min_price', 'ends')
  if not c[1] and not c[2] then return nil end
  if c[3] and c[3] ~= '' and c[3] ~= ARGV[3] then return nil end
  if list < tonumber(c[4] or '0') then return nil end
  local held = tonumber(redis.call('HGET', KEYS[10], ARGV[1]) or '0')
  if held - tonumber(redis.call('HGET', KEYS[11], ARGV[1]) or '0') < 1 then return nil end
  coupon_ends = tonumber(c[5] or '0')
  if c[1] then return math.max(0, list - tonumber(c[1])) end
  return math.floor(list * (100 - tonumber(c[2])) / 100)
end
if s[1] == '1' and s[2] == 'sale' then
  local mine = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
  local ip, ip_cap = ARGV[7], tonumber(ARGV[8])
  local ip_units = ip_cap > 0 and tonumber(redis.call('HGET', KEYS[6], ip) or '0') or 0
  local list = tonumber(s[5])
  price = list
  if coupon ~= '' then price = redeem_price(list) end
  if mine + qty > tonumber(s[4]) or (ip_cap > 0 and ip_units + qty > ip_cap) then
    status = 'limit'
  elseif not price then
    status = 'coupon_invalid'
  elseif tonumber(s[3]) < qty then
    status = 'sold_out'
  else
    redis.call('HINCRBY', KEYS[1], 'left', -qty)
    redis.call('HINCRBY', KEYS[2], ARGV[1], qty)
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local pay_s = tonumber(s[7] or '0')
    local state = 'open'
    if pay_s > 0 then
      pay_by, state = now + 1000 * pay_s, 'reserved'
    end
    local f = {'kind', 'order', 'user', ARGV[1], 'sku', ARGV[3], 'qty', qty, 'price', price, 'req', ARGV[2],
      'shard', ARGV[5], 'ts', now}
    if pay_by > 0 then f[#f + 1] = 'pay_by'; f[#f + 1] = pay_by end
    if coupon ~= '' then
      f[#f + 1] = 'list_price'; f[#f + 1] = list; f[#f + 1] = 'coupon'; f[#f + 1] = coupon
      redis.call('HINCRBY', KEYS[11], ARGV[1], 1)
      local ttl = redis.call('PTTL', KEYS[9])
      if ttl > 0 then redis.call('PEXPIRE', KEYS[11], ttl) end
      -- the room's used count: on the bus at once (the shards coalesce what the
      -- viewers see, once per tick), so the streamer's console stays exact
      local used = redis.call('HINCRBY', KEYS[9], 'used', 1)
      local cleft = redis.call('HGET', KEYS[9], 'left')
      redis.call('HSET', KEYS[9], 'pub_used', used, 'pub_left', cleft)
      redis.call('SPUBLISH', ARGV[12], pack('coupon_left', {coupon = coupon, left = tonumber(cleft), used = used}))
    end
    id = redis.call('XADD', KEYS[4], '*', unpack(f))
    -- the record: {user, sku, qty, ts, state, group, ip, pay_by, coupon, price, list_price,
    -- paid_ts, the sale's opened (which run of the sku), the coupon's ends}
    redis.call('HSET', KEYS[5], id, cmsgpack.pack({ARGV[1], ARGV[3], qty, now, state, 0, ARGV[7], pay_by,
      coupon, price, list, 0, tonumber(s[6] or '0'), coupon_ends}))
    -- only cancels, payments and the sweep read it: it may age out, but not
    -- before a reservation is settled
    local ttl = math.max(tonumber(ARGV[6]), pay_s + 86400)
    if redis.call('TTL', KEYS[5]) < ttl then redis.call('EXPIRE', KEYS[5], ttl) end
    if pay_by > 0 then
      -- the room's first pending deadline: the shards that did not sell it must
      -- learn it now (the coalesced stock could cancel out and never carry it)
      local first = redis.call('ZCARD', KEYS[12]) == 0
      redis.call('ZADD', KEYS[12], pay_by, id)
      if first then
        local left = tonumber(redis.call('HGET', KEYS[1], 'left'))
        redis.call('HSET', KEYS[1], 'pub_left', left)
        redis.call('SPUBLISH', ARGV[12], pack('stock', {sku = ARGV[3], left = left, due = pay_by}))
      end
    end
    status = state == 'reserved' and 'reserved' or 'ok'
    redis.call('ZINCRBY', KEYS[13], -qty, ARGV[1])
    redis.call('ZADD', KEYS[14], now, id .. ' ' .. ARGV[1])
    redis.call('ZREMRANGEBYSCORE', KEYS[14], '-inf', now - 10000)
    redis.call('PEXPIRE', KEYS[14], 11000) -- a quiet room keeps no ticker
    if ip ~= '' then
      redis.call('HINCRBY', KEYS[6], ip, qty)
      local key = #ip .. ':' .. ip .. ARGV[1]
      local users = tonumber(redis.call('HGET', KEYS[7], ip) or '0')
      if redis.call('HSETNX', KEYS[7], key, 1) == 1 then
        users = redis.call('HINCRBY', KEYS[7], ip, 1)
      end
      local after = now - tonumber(s[6] or now)
      local function audit(rule)
        redis.call('XADD', KEYS[8], 'MAXLEN', '~', 100000, '*', 'rule', rule, 'user', ARGV[1],
          'ip', ip, 'sku', ARGV[3], 'req', ARGV[2], 'qty', qty, 'order', id,
          'ms_after_open', after, 'users_on_ip', users, 'shard', ARGV[5], 'ts', now)
      end
      if after < tonumber(ARGV[9]) then audit('fast') end
      if users > tonumber(ARGV[10]) then audit('shared_ip') end
    end
  end
end
redis.call('HSET', KEYS[3], rk, cmsgpack.pack({status, id, qty, ARGV[3], 'buy', pay_by, price or 0, coupon}))
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[6]))
return answer(status, id, qty, pay_by, price, coupon, true)
