-- Lucky bags (福袋), one op per call: open, enter, draw, get; and sha256 (a
-- self-test: the unit tests compare it with OpenSSL). The draw is
-- PROTOCOL.md's rule, run here so that it is one atomic step: the entrants
-- cannot change under it and no shard sees the seed before it.
-- KEYS[1] lc:{R}:lot (the open lottery's id)  KEYS[2] lc:{R}:lots (live ids -> expiry)
-- KEYS[3] lc:{R}:bans  KEYS[4] lc:{R}:mutes
-- ARGV[1] op, ARGV[2] the room's key prefix lc:{R}:, ARGV[3] its channel, then the op's.
-- A lottery's keys (built from the prefix, one slot): lot:ID (hash: prize, winners, ends,
-- keyword, commit, seed, state open|drawn, entries), lot:ID:e (entrants, a sorted set
-- with score 0: bytewise order), lot:ID:w (the winners, a list in draw order).
-- Answers, by op:
--   open:  reply {status: ok, exists (the id is live), open (another lottery is open)}
--   enter: enter {lottery, status: ok, already, closed, keyword, muted, banned}
--   draw:  lottery_result {lottery, winners (users), entries, seed, prize} once drawn (now or
--          before), or reply {status: not_yet or none, due (ends), ts (Redis's clock)}
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

-- ---- SHA-256 (FIPS 180-4) over a byte string, with Redis's bit library ----
local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local rshift, lshift, ror, tobit = bit.rshift, bit.lshift, bit.ror, bit.tobit
local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2}
for i = 1, 64 do K[i] = tobit(K[i]) end

local function sha256(msg)
  local ml = #msg
  local bits = ml * 8
  msg = msg .. '\128' .. string.rep('\0', (55 - ml) % 64) ..
    string.char(0, 0, 0, band(math.floor(bits / 2^32), 255),
      band(rshift(tobit(bits), 24), 255), band(rshift(tobit(bits), 16), 255),
      band(rshift(tobit(bits), 8), 255), band(tobit(bits), 255))
  local H = {tobit(0x6a09e667), tobit(0xbb67ae85), tobit(0x3c6ef372), tobit(0xa54ff53a),
    tobit(0x510e527f), tobit(0x9b05688c), tobit(0x1f83d9ab), tobit(0x5be0cd19)}
  local w = {}
  for c = 1, #msg, 64 do
    for i = 0, 15 do
      local b1, b2, b3, b4 = string.byte(msg, c + 4 * i, c + 4 * i + 3)
      w[i] = bor(lshift(b1, 24), lshift(b2, 16), lshift(b3, 8), b4)
    end
    for i = 16, 63 do
      local s0 = bxor(ror(w[i - 15], 7), ror(w[i - 15], 18), rshift(w[i - 15], 3))
      local s1 = bxor(ror(w[i - 2], 17), ror(w[i - 2], 19), rshift(w[i - 2], 10))
      w[i] = tobit(w[i - 16] + s0 + w[i - 7] + s1)
    end
    local a, b, cc, d, e, f, g, h = H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8]
    for i = 0, 63 do
      local S1 = bxor(ror(e, 6), ror(e, 11), ror(e, 25))
      local ch = bxor(band(e, f), band(bnot(e), g))
      local t1 = tobit(h + S1 + ch + K[i + 1] + w[i])
      local S0 = bxor(ror(a, 2), ror(a, 13), ror(a, 22))
      local maj = bxor(band(a, b), band(a, cc), band(b, cc))
      h, g, f, e, d, cc, b, a = g, f, e, tobit(d + t1), cc, b, a, tobit(t1 + tobit(S0 + maj))
    end
    H[1], H[2], H[3], H[4] = tobit(H[1] + a), tobit(H[2] + b), tobit(H[3] + cc), tobit(H[4] + d)
    H[5], H[6], H[7], H[8] = tobit(H[5] + e), tobit(H[6] + f), tobit(H[7] + g), tobit(H[8] + h)
  end
  local out = {}
  for i = 1, 8 do
    local x = H[i]
    out[i] = string.char(band(rshift(x, 24), 255), band(rshift(x, 16), 255), band(rshift(x, 8), 255), band(x, 255))
  end
  return table.concat(out)
end

local function hex(s) return (string.gsub(s, '.', function(c) return string.format('%02x', string.byte(c)) end)) end
local function unhex(h) return (string.gsub(h, '..', function(x) return string.char(tonumber(x, 16)) end)) end

-- The rule: entrants sorted bytewise; for i = 0 .. k-1, h = the first 8 bytes of
-- SHA-256(seed || decimal(i)) big-endian, j = i + h mod (n - i), swap i and j. h mod m is
-- taken 16 bits at a time, so every step stays an exact integer in a double.
local function draw(seed, entrants, k)
  local n = #entrants
  for i = 0, k - 1 do
    local d = sha256(seed .. string.format('%d', i))
    local m, r = n - i, 0
    for l = 0, 3 do
      local hi, lo = string.byte(d, 2 * l + 1, 2 * l + 2)
      r = (r * 65536 + hi * 256 + lo) % m
    end
    local j = i + r
    entrants[i + 1], entrants[j + 1] = entrants[j + 1], entrants[i + 1]
  end
  local w = {}
  for i = 1, k do w[i] = entrants[i] end
  return w
end

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
  if cur and redis.call('HGET', lkey(cur), 'state') == 'open' then return pack('reply', {status = 'open'}) end
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
  local now = now_ms()
  if now < tonumber(L[4]) then return pack('reply', {status = 'not_yet', due = tonumber(L[4]), ts = now}) end
  local entrants = redis.call('ZRANGE', k .. ':e', 0, -1)
  local n = #entrants
  local w = draw(unhex(L[2]), entrants, math.min(tonumber(L[6]), n))
  if #w > 0 then
    redis.call('RPUSH', k .. ':w', unpack(w))
    redis.call('PEXPIREAT', k .. ':w', tonumber(L[4]) + KEEP_MS)
  end
  redis.call('HSET', k, 'state', 'drawn', 'entries', n)
  if redis.call('GET', KEYS[1]) == id then redis.call('DEL', KEYS[1]) end
  L[5] = n
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
  return pack('lottery_state', {lottery = id, prize = L[1], count = tonumber(L[2]), ends = tonumber(L[3]),
    keyword = L[4] ~= '' and L[4] or nil, commit = L[5], status = L[6],
    entries = redis.call('ZCARD', k .. ':e'), seed = drawn and L[7] or nil,
    winners = drawn and redis.call('LRANGE', k .. ':w', 0, -1) or nil,
    users = drawn and redis.call('ZRANGE', k .. ':e', 0, -1) or nil})

elseif op == 'sha256' then
  return hex(sha256(ARGV[4]))
end
return redis.error_reply('unknown op ' .. tostring(op))
