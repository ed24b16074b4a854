-- Decides one flash-sale buy, atomically: sale open, stock >= qty, the
-- user's units + qty <= limit, the buyer IP's units <= the per-IP cap, and
-- idempotency: the same (user, req) gets its first answer again and never
-- takes stock twice. On ok: stock and the counts change and the order is
-- appended to the room's order stream, the durable hand-off to the shop.
-- Suspicious buys are written to the room's audit stream for the shop to
-- review: one that succeeds less than fast_ms after the sale opened ("fast"),
-- and a buy from an IP that more than ip_users distinct users bought from
-- ("shared_ip"). Stock is not published here: the shard publishes the new
-- count once per tick (commerce.lua, op "pub").
-- KEYS[1] lc:{R}:sale:SKU  KEYS[2] lc:{R}:bought:SKU  KEYS[3] lc:{R}:reqs
-- KEYS[4] lc:{R}:orders    KEYS[5] lc:{R}:orderidx   KEYS[6] lc:{R}:ipunits:SKU
-- KEYS[7] lc:{R}:ipusers:SKU  KEYS[8] lc:{R}:audit
-- ARGV: user, req, sku, qty, shard, req_ttl_s, ip, ip_cap (0: off), fast_ms, ip_users
-- Answers one protocol message, built by the generated prelude's pack(type, fields)
-- (tools/embed.c: checks the keys against proto/schema.c, then cmsgpack.pack):
--   order {req, sku, status (ok, limit, sold_out, closed), order and qty on ok, left}
-- The record kept under (user, req) in lc:{R}:reqs is {status, order id or '', qty, sku,
-- 'buy'} (msgpack array): a retry answers it again with the current stock as left. A req
-- already used for another sku, or for a group join, is answered req_reused: one req is one
-- tap (records from before the sku was kept have 3 items and are answered as they are).
local rk = #ARGV[1] .. ':' .. ARGV[1] .. ARGV[2]
local function answer(status, id, qty)
  local ok = status == 'ok'
  return pack('order', {req = ARGV[2], sku = ARGV[3], status = status, order = ok and id or nil,
    qty = ok and qty or nil, left = tonumber(redis.call('HGET', KEYS[1], 'left') or '0')})
end
local prev = redis.call('HGET', KEYS[3], rk)
if prev then
  -- A write, though nothing changes: WAIT waits for what this connection
  -- wrote, so without one a replayed ok could be told before the first
  -- buy (made through another shard, maybe) reached the replicas.
  redis.call('EXPIRE', KEYS[3], tonumber(ARGV[6]))
  local a = cmsgpack.unpack(prev)
  if (a[5] == 'buy' and a[4] == ARGV[3]) or (#a == 3 and type(a[3]) == 'number') then
    return answer(a[1], a[2], a[3])
  end
  return answer('req_reused', '', 0)
end
local qty = tonumber(ARGV[4])
local s = redis.call('HMGET', KEYS[1], 'open', 'kind', 'left', 'limit', 'price', 'opened')
local status, id = 'closed', ''
if s[1] == '1' and s[2] == 'sale' then
  local mine = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
  local ip, ip_cap = ARGV[7], tonumber(ARGV[8])
  local ip_units = ip_cap > 0 and tonumber(redis.call('HGET', KEYS[6], ip) or '0') or 0
  if mine + qty > tonumber(s[4]) or (ip_cap > 0 and ip_units + qty > ip_cap) then
    status = 'limit'
  elseif tonumber(s[3]) < qty then
    status = 'sold_out'
  else
    redis.call('HINCRBY', KEYS[1], 'left', -qty)
    redis.call('HINCRBY', KEYS[2], ARGV[1], qty)
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    id = redis.call('XADD', KEYS[4], '*', 'kind', 'order', 'user', ARGV[1], 'sku', ARGV[3],
      'qty', qty, 'price', s[5], 'req', ARGV[2], 'shard', ARGV[5], 'ts', now)
    redis.call('HSET', KEYS[5], id, cmsgpack.pack({ARGV[1], ARGV[3], qty, now, 'open', 0, ARGV[7]}))
    redis.call('EXPIRE', KEYS[5], tonumber(ARGV[6])) -- only cancels read it: it may age out
    status = 'ok'
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
redis.call('HSET', KEYS[3], rk, cmsgpack.pack({status, id, qty, ARGV[3], 'buy'}))
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[6]))
return answer(status, id, qty)
