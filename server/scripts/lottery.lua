-- Lucky bags (福袋), one op per call: open, enter, draw, record, get. The
-- draw is two steps, so that nothing long runs inside Redis: "draw" closes
-- the lottery (from then on its entrants cannot change) and tells the seed
-- and n; the shard computes the k winners' positions in the sorted entrants
-- (PROTOCOL.md's rule, server/draw.c: the seed never leaves Redis before the
-- close); "record" looks up those k and publishes the result, once. Any shard
-- may do either step, again: both are idempotent, and every shard computes
-- the same positions from the same seed and n.
-- KEYS[1] lc:{R}:lot (the open lottery's id)  KEYS[2] lc:{R}:lots (live ids -> expiry)
-- KEYS[3] lc:{R}:bans  KEYS[4] lc:{R}:mutes
-- ARGV[1] op, ARGV[2] the room's key prefix lc:{R}:, ARGV[3] its channel, then the op's.
-- A lottery's keys (built from the prefix, one slot): lot:ID (hash: prize, winners, ends,
-- keyword, commit, seed, state open|closed|drawn, entries), lot:ID:e (entrants, a sorted set
-- with score 0: bytewise order), lot:ID:w (the winners, a list in draw order).
-- Answers, by op:
--   open:  reply {status: ok, exists (the id is live), open (another lottery is open)}
--   enter: enter {lottery, status: ok, already, closed, keyword, muted, banned}
--   draw:  lottery_state {lottery, status closed, seed, count (K), entries (n)} to compute the
--          positions from; lottery_result {lottery, winners (users), entries, seed, prize} once
--          recorded (now or before); or reply {status: not_yet or none, due (ends), ts}
--   record: lottery_result as above, or reply none
--   get:   lottery_state {lottery, prize, count (K), ends, keyword, commit, status, entries,
--          and once drawn seed, winners, users (the entrants, sorted)}, or status none
local op, P, CH = ARGV[1], ARGV[2], ARGV[3]
local KEEP_MS = 30 * 86400000
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function pub(packed) redis.call('SPUBLISH', CH, packed) end
local function lkey(id) return P .. 'lot:' .. id end

local function result(id, L)
  return pack('lottery_result', {lottery = id, winners = redis.call('LRANGE', lkey(id) .. ':w', 0, -1),
    entries = tonumber(L[5] or '0'), seed = L[2], prize = L[1]})
end

if op == 'open' then
  -- ARGV: 4 id, 5 prize, 6 winners K, 7 secs, 8 keyword ('' none), 9 seed (hex), 10 commit (hex)
  local id = ARGV[4]
  local now = now_ms()
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  local cur = redis.call('GET', KEYS[1])
  local cst = cur and redis.call('HGET', lkey(cur), 'state')
  if cst == 'open' or cst == 'closed' then return pack('reply', {status = 'open'}) end -- closed: its result is due
  if redis.call('ZSCORE', KEYS[2], id) or redis.call('EXISTS', lkey(id)) == 1 then
    return pack('reply', {status = 'exists'})
  end
  local ends = now + 1000 * tonumber(ARGV[7])
  local k = lkey(id)
  redis.call('HSET', k, 'prize', ARGV[5], 'winners', ARGV[6], 'ends', ends, 'keyword', ARGV[8],
    'commit', ARGV[10], 'seed', ARGV[9], 'state', 'open', 'entries', 0)
  redis.call('PEXPIREAT', k, ends + KEEP_MS)
  redis.call('SET', KEYS[1], id)
  redis.call('ZADD', KEYS[2], ends + KEEP_MS, id)
  pub(pack('lottery', {lottery = id, prize = ARGV[5], winners = tonumber(ARGV[6]), ends = ends,
    keyword = ARGV[8] ~= '' and ARGV[8] or nil, commit = ARGV[10], entries = 0}))
  return pack('reply', {status = 'ok'})

elseif op == 'enter' then
  -- ARGV: 4 user, 5 id
  local user, id = ARGV[4], ARGV[5]
  local function answer(st) return pack('enter', {lottery = id, status = st}) end
  local L = redis.call('HMGET', lkey(id), 'state', 'ends', 'keyword')
  if L[1] ~= 'open' or now_ms() >= tonumber(L[2]) then return answer('closed') end
  if L[3] and L[3] ~= '' then return answer('keyword') end
  if redis.call('SISMEMBER', KEYS[3], user) == 1 then return answer('banned') end
  if tonumber(redis.call('HGET', KEYS[4], user) or '0') > now_ms() then return answer('muted') end
  if redis.call('ZADD', lkey(id) .. ':e', 'NX', 0, user) == 0 then return answer('already') end
  redis.call('HINCRBY', lkey(id), 'entries', 1)
  redis.call('PEXPIREAT', lkey(id) .. ':e', tonumber(L[2]) + KEEP_MS)
  pub(pack('entered', {lottery = id, user = user}))
  return answer('ok')

elseif op == 'draw' then
  -- ARGV: 4 id
  local id = ARGV[4]
  local k = lkey(id)
  local L = redis.call('HMGET', k, 'prize', 'seed', 'state', 'ends', 'entries', 'winners')
  if not L[3] then return pack('reply', {status = 'none'}) end
  if L[3] == 'drawn' then return result(id, L) end
  if L[3] == 'open' then
    local now = now_ms()
    if now < tonumber(L[4]) then return pack('reply', {status = 'not_yet', due = tonumber(L[4]), ts = now}) end
    -- banned since they entered: out of the draw (O(bans) for the room's ban list)
    for _, u in ipairs(redis.call('SMEMBERS', KEYS[3])) do redis.call('ZREM', k .. ':e', u) end
    L[5] = redis.call('ZCARD', k .. ':e')
    redis.call('HSET', k, 'state', 'closed', 'entries', L[5]) -- no entry after this
  end
  return pack('lottery_state', {lottery = id, status = 'closed', seed = L[2], count = tonumber(L[6]),
    entries = tonumber(L[5])})

elseif op == 'record' then
  -- ARGV: 4 id, then the winners' positions (0-based) in the sorted entrants, in draw order
  local id = ARGV[4]
  local k = lkey(id)
  local L = redis.call('HMGET', k, 'prize', 'seed', 'state', 'ends', 'entries', 'winners')
  if L[3] == 'drawn' then return result(id, L) end
  if L[3] ~= 'closed' then return pack('reply', {status = 'none'}) end
  local n = tonumber(L[5])
  if #ARGV - 4 ~= math.min(tonumber(L[6]), n) then return redis.error_reply('record: wrong number of winners') end
  local w, seen = {}, {}
  for i = 5, #ARGV do
    local p = tonumber(ARGV[i])
    if not p or p < 0 or p >= n or seen[p] then return redis.error_reply('record: bad position') end
    seen[p] = true
    w[#w + 1] = redis.call('ZRANGE', k .. ':e', p, p)[1]
  end
  if #w > 0 then
    redis.call('RPUSH', k .. ':w', unpack(w))
    redis.call('PEXPIREAT', k .. ':w', tonumber(L[4]) + KEEP_MS)
  end
  redis.call('HSET', k, 'state', 'drawn')
  if redis.call('GET', KEYS[1]) == id then redis.call('DEL', KEYS[1]) end
  local out = result(id, L)
  pub(out)
  return out

elseif op == 'get' then
  -- ARGV: 4 id
  local id = ARGV[4]
  local k = lkey(id)
  local L = redis.call('HMGET', k, 'prize', 'winners', 'ends', 'keyword', 'commit', 'state', 'seed')
  if not L[6] then return pack('lottery_state', {lottery = id, status = 'none'}) end
  local drawn = L[6] == 'drawn'
  local hidden = L[6] == 'open' -- the seed is told from the close on
  return pack('lottery_state', {lottery = id, prize = L[1], count = tonumber(L[2]), ends = tonumber(L[3]),
    keyword = L[4] ~= '' and L[4] or nil, commit = L[5], status = L[6],
    entries = redis.call('ZCARD', k .. ':e'), seed = not hidden and L[7] or nil,
    winners = drawn and redis.call('LRANGE', k .. ':w', 0, -1) or nil,
    users = drawn and redis.call('ZRANGE', k .. ':e', 0, -1) or nil})

end
return redis.error_reply('unknown op ' .. tostring(op))
