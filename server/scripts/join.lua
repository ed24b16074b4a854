-- What a shard needs to welcome viewers, or to catch a room up after its
-- subscription came back: the like total, the viewers of the other live
-- shares, the newest comment id, and comments (the last N, or all after a
-- given id, saying whether that is really all of them).
-- It also lists the room's open sales with their current stock.
-- KEYS[1] lc:{R}:chat  KEYS[2] lc:{R}:likes  KEYS[3] lc:{R}:vshare  KEYS[4] lc:{R}:vexp
-- KEYS[5] lc:{R}:sales  KEYS[6] lc:{R}:bans  KEYS[7] lc:{R}:slow
-- ARGV: shard, n (last N comments when no since), since ('' for none), cap,
--       then the users joining (to learn which of them are banned)
-- Returns {likes, others, last, recovered (1/0), sales, banned users, slow mode secs,
--          then 5 fields per stream entry (see push)}
-- with comments oldest first; sales is a flat array of 10 fields per sale:
-- kind, sku, title, price, left, limit, size, ttl_s, open teams, opening stock.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local others = 0
for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. now, '+inf')) do
  if s ~= ARGV[1] then others = others + tonumber(redis.call('HGET', KEYS[3], s) or '0') end
end
local out
local likes = tonumber(redis.call('GET', KEYS[2]) or '0')

local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function before(a, b) -- id a < id b, numerically
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end

-- every entry as 5 fields: id, kind (c comment, a announce, p product), then
-- comment: user, text, ''   announce: '', text, ''   product: sku, title, price
local function push(e)
  local f = {}
  for k = 1, #e[2], 2 do f[e[2][k]] = e[2][k + 1] end
  local k = f.k or 'c'
  out[#out + 1] = e[1]; out[#out + 1] = k
  if k == 'p' then
    out[#out + 1] = f.s or ''; out[#out + 1] = f.n or ''; out[#out + 1] = f.p or '0'
  else
    out[#out + 1] = f.u or ''; out[#out + 1] = f.t or ''; out[#out + 1] = ''
  end
end

local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local sales = {}
local prefix = string.sub(KEYS[1], 1, -5) -- lc:{R}:
for _, sku in ipairs(redis.call('SMEMBERS', KEYS[5])) do
  local f = redis.call('HMGET', prefix .. 'sale:' .. sku, 'kind', 'title', 'price', 'left', 'limit',
    'size', 'ttl_s', 'stock')
  if f[1] then
    sales[#sales + 1] = f[1]; sales[#sales + 1] = sku; sales[#sales + 1] = f[2]
    for i = 3, 7 do sales[#sales + 1] = tonumber(f[i] or '0') end
    sales[#sales + 1] = redis.call('ZCARD', prefix .. 'teams:' .. sku)
    sales[#sales + 1] = tonumber(f[8] or '0')
  end
end
local banned = {}
for i = 5, #ARGV do
  if redis.call('SISMEMBER', KEYS[6], ARGV[i]) == 1 then banned[#banned + 1] = ARGV[i] end
end
out = {likes, others, newest[1] and newest[1][1] or '0-0', 1, sales, banned,
  tonumber(redis.call('GET', KEYS[7]) or '0')}
local n = tonumber(ARGV[2])
local low = '-'
if ARGV[3] ~= '' then
  n = tonumber(ARGV[4])
  low = '(' .. ARGV[3]
end
-- newest first, one more than wanted to learn whether there are more
local entries = redis.call('XREVRANGE', KEYS[1], '+', low, 'COUNT', n + 1)
if ARGV[3] ~= '' then
  if #entries > n then
    out[4] = 0
  else
    -- Trimming removes the oldest entries, so comments after `since` can only
    -- be missing if `since` is older than the oldest entry still held and
    -- some entries were removed (entries-added > length). Conservative: when
    -- `since` is exactly the last trimmed id this says 0 although nothing is
    -- missing; it never says 1 over a hole. (max-deleted-entry-id would be
    -- exact, but Redis 7.0 updates it on XDEL only, not when trimming.)
    local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
    if first and before(ARGV[3], first[1]) then
      local info = redis.call('XINFO', 'STREAM', KEYS[1])
      local added, len = 0, 0
      for k = 1, #info, 2 do
        if info[k] == 'entries-added' then added = tonumber(info[k + 1]) end
        if info[k] == 'length' then len = tonumber(info[k + 1]) end
      end
      if added > len then out[4] = 0 end
    end
  end
end
for i = math.min(#entries, n), 1, -1 do push(entries[i]) end
return out
