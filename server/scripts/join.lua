-- What a shard needs to welcome viewers, or to catch a room up after its
-- subscription came back: the like total, the viewers of the other live
-- shares, the newest stream id, and the stream's entries (the last N, or all
-- after a given id, saying whether that is really all of them); the room's
-- open sales with their current stock; which of the joining users are
-- banned; slow mode.
-- KEYS[1] lc:{R}:chat  KEYS[2] lc:{R}:likes  KEYS[3] lc:{R}:vshare  KEYS[4] lc:{R}:vexp
-- KEYS[5] lc:{R}:sales  KEYS[6] lc:{R}:bans  KEYS[7] lc:{R}:slow
-- KEYS[8] lc:{R}:paydue  KEYS[9] lc:{R}:coupons  KEYS[10] lc:{R}:lot
-- KEYS[11] lc:{R}:top:likes  KEYS[12] lc:{R}:top:buyers  KEYS[13] lc:{R}:uv (the funnel's
-- unique viewers: the joiners are added)
-- ARGV: shard, n (last N entries when no since), since ('' for none), cap,
--       then the users joining (to learn which of them are banned)
-- Answers one message, built by the generated prelude's pack(type, fields),
-- its list items by msg(type, fields) (tools/embed.c, from proto/schema.c):
--   room_state {likes, viewers (on the other live shards), last ('0-0' if none),
--     recovered (only with since), history (oldest first: comment {id, user, text, ts},
--     announce {id, text, ts}, product {id, sku, title, price, ts}; ts is the id's ms),
--     sales (sale {sku, title, price, stock, limit, total} or group_sale {sku, title,
--     price, size, stock, ttl_s, teams, total}), entries (member {user} per banned
--     joiner), secs (slow mode, when on), coupons (coupon {coupon, title, off or pct,
--     quota, left, per_user, ends, sku, min_price, used} per claimable coupon), due (the
--     earliest payment deadline, 0: none), ts (Redis's clock), lotteries (the open
--     lottery {lottery, prize, winners, ends, keyword, commit, entries}, if any), tops
--     (top {board, entries: member {user, score}} for likes and buyers)}
-- An entry someone else wrote with fields that are no valid message is still
-- listed (an empty string or -1 where a field is missing): the store's decoder
-- drops such history items instead of failing the welcome.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local others = 0
for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. now, '+inf')) do
  if s ~= ARGV[1] then others = others + tonumber(redis.call('HGET', KEYS[3], s) or '0') end
end

local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function before(a, b) -- id a < id b, numerically
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end

-- A stream entry as its message: k absent comment (u user, t text), k=a
-- announce (t), k=p product (s sku, n title, p price); another k is skipped.
local history = {}
local function push(e)
  local f = {}
  for k = 1, #e[2], 2 do f[e[2][k]] = e[2][k + 1] end
  local id, k = e[1], f.k
  local ts = tonumber(string.match(id, '^(%d+)'))
  local m
  if k == nil then
    m = msg('comment', {id = id, user = f.u or '', text = f.t or '', ts = ts})
  elseif k == 'a' then
    m = msg('announce', {id = id, text = f.t or '', ts = ts})
  elseif k == 'p' then
    m = msg('product', {id = id, sku = f.s or '', title = f.n or '', price = tonumber(f.p or '') or -1,
      ts = ts})
  end
  history[#history + 1] = m
end

local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local sales = {}
local prefix = string.sub(KEYS[1], 1, -5) -- lc:{R}:
-- (commerce.lua keeps at most 100 open; the bound here keeps a room from an
-- older version joinable: the welcome's list holds at most 1000)
for i, sku in ipairs(redis.call('SMEMBERS', KEYS[5])) do
  if i > 1000 then break end
  local f = redis.call('HMGET', prefix .. 'sale:' .. sku, 'kind', 'title', 'price', 'left', 'limit',
    'size', 'ttl_s', 'stock', 'pay_s')
  if f[1] then
    local v = {}
    for i = 3, 8 do v[i] = tonumber(f[i] or '0') or 0 end
    local total = v[8] >= v[4] and v[8] or nil -- sales opened before `stock` was kept have none
    if f[1] == 'group' then
      sales[#sales + 1] = msg('group_sale', {sku = sku, title = f[2] or '', price = v[3], stock = v[4],
        size = v[6], ttl_s = v[7], teams = redis.call('ZCARD', prefix .. 'teams:' .. sku), total = total})
    else
      sales[#sales + 1] = msg('sale', {sku = sku, title = f[2] or '', price = v[3], stock = v[4],
        limit = v[5], total = total, pay_s = tonumber(f[9] or '0') > 0 and tonumber(f[9]) or nil})
    end
  end
end
local coupons = {}
for i, id in ipairs(redis.call('SMEMBERS', KEYS[9])) do
  if i > 100 then break end
  local c = redis.call('HMGET', prefix .. 'coupon:' .. id, 'title', 'off', 'pct', 'quota', 'left', 'per_user',
    'ends', 'sku', 'min_price', 'used')
  if c[1] then
    coupons[#coupons + 1] = msg('coupon', {coupon = id, title = c[1], off = tonumber(c[2] or ''),
      pct = tonumber(c[3] or ''), quota = tonumber(c[4]), left = tonumber(c[5]), per_user = tonumber(c[6]),
      ends = tonumber(c[7]), sku = c[8] and c[8] ~= '' and c[8] or nil, min_price = tonumber(c[9] or '0') > 0 and tonumber(c[9]) or nil,
      used = tonumber(c[10] or '0')})
  end
end
local lotteries = {}
local lid = redis.call('GET', KEYS[10])
if lid then
  local L = redis.call('HMGET', prefix .. 'lot:' .. lid, 'prize', 'winners', 'ends', 'keyword', 'commit', 'state')
  -- closed: drawn but not recorded yet (its shard died between the steps): listed, so
  -- that this shard follows it and records the draw (lottery.lua)
  if L[6] == 'open' or L[6] == 'closed' then
    lotteries[1] = msg('lottery', {lottery = lid, prize = L[1], winners = tonumber(L[2]), ends = tonumber(L[3]),
      keyword = L[4] ~= '' and L[4] or nil, commit = L[5],
      entries = redis.call('ZCARD', prefix .. 'lot:' .. lid .. ':e')})
  end
end
-- boards keep the negated score, so that ZRANGE gives best first and ties by user id
local tops = {}
for i, b in ipairs({'likes', 'buyers'}) do
  local r = redis.call('ZRANGE', KEYS[10 + i], 0, 9, 'WITHSCORES')
  local entries = {}
  for j = 1, #r, 2 do entries[#entries + 1] = msg('member', {user = r[j], score = -tonumber(r[j + 1])}) end
  tops[i] = msg('top', {board = b, entries = entries})
end
local due = redis.call('ZRANGE', KEYS[8], 0, 0, 'WITHSCORES')
local banned = {}
local seen = {}
for i = 5, #ARGV do
  if redis.call('SISMEMBER', KEYS[6], ARGV[i]) == 1 then
    banned[#banned + 1] = msg('member', {user = ARGV[i]})
  else
    seen[#seen + 1] = ARGV[i]
  end
end
for i = 1, #seen, 500 do -- (unpack is bounded by Lua's stack)
  redis.call('PFADD', KEYS[13], unpack(seen, i, math.min(i + 499, #seen)))
end
local slow = tonumber(redis.call('GET', KEYS[7]) or '0')
local out = {likes = tonumber(redis.call('GET', KEYS[2]) or '0'), viewers = others,
  last = newest[1] and newest[1][1] or '0-0', history = history, sales = sales, entries = banned,
  secs = slow > 0 and slow or nil, coupons = coupons, due = due[2] and tonumber(due[2]) or 0, ts = now,
  lotteries = lotteries, tops = tops}
local n = tonumber(ARGV[2])
local low = '-'
if ARGV[3] ~= '' then
  n = tonumber(ARGV[4])
  low = '(' .. ARGV[3]
  out.recovered = true
end
-- newest first, one more than wanted to learn whether there are more
local entries = redis.call('XREVRANGE', KEYS[1], '+', low, 'COUNT', n + 1)
if ARGV[3] ~= '' then
  if #entries > n then
    out.recovered = false
  else
    -- Trimming removes the oldest entries, so entries after `since` can only
    -- be missing if `since` is older than the oldest entry still held and
    -- some entries were removed (entries-added > length). Conservative: when
    -- `since` is exactly the last trimmed id this says false although nothing
    -- is missing; it never says true over a hole. (max-deleted-entry-id would
    -- be exact, but Redis 7.0 updates it on XDEL only, not when trimming.)
    local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
    if first and before(ARGV[3], first[1]) then
      local info = redis.call('XINFO', 'STREAM', KEYS[1])
      local added, len = 0, 0
      for k = 1, #info, 2 do
        if info[k] == 'entries-added' then added = tonumber(info[k + 1]) end
        if info[k] == 'length' then len = tonumber(info[k + 1]) end
      end
      if added > len then out.recovered = false end
    end
  end
end
for i = math.min(#entries, n), 1, -1 do push(entries[i]) end
return pack('room_state', out)
