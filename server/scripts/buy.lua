-- Decides one flash-sale buy, atomically: sale open, stock >= qty, the
-- user's units + qty <= limit, and idempotency: the same (user, req) gets
-- its first answer again and never takes stock twice. On ok: stock and the
-- user's count change and the order is appended to the room's order stream,
-- the durable hand-off to the shop. Stock is not published here: the shard
-- publishes the new count once per tick (commerce.lua, op "pub").
-- KEYS[1] lc:{R}:sale:SKU  KEYS[2] lc:{R}:bought:SKU  KEYS[3] lc:{R}:reqs
-- KEYS[4] lc:{R}:orders    KEYS[5] lc:{R}:orderidx
-- ARGV: user, req, sku, qty, shard, req_ttl_s
-- Returns {status, order id or '', qty, left}
local rk = #ARGV[1] .. ':' .. ARGV[1] .. ARGV[2]
local function left() return tonumber(redis.call('HGET', KEYS[1], 'left') or '0') end
local prev = redis.call('HGET', KEYS[3], rk)
if prev then
  local a = cmsgpack.unpack(prev)
  return {a[1], a[2], a[3], left()}
end
local qty = tonumber(ARGV[4])
local s = redis.call('HMGET', KEYS[1], 'open', 'kind', 'left', 'limit', 'price')
local status, id = 'closed', ''
if s[1] == '1' and s[2] == 'sale' then
  local mine = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
  if mine + qty > tonumber(s[4]) then
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
    redis.call('HSET', KEYS[5], id, cmsgpack.pack({ARGV[1], ARGV[3], qty, now, 'open', 0}))
    status = 'ok'
  end
end
redis.call('HSET', KEYS[3], rk, cmsgpack.pack({status, id, qty}))
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[6]))
return {status, id, qty, left()}
