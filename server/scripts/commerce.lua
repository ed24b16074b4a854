-- Every other commerce change of a room, one op per call, sharing helpers:
-- open/close a sale or group-buy, join a group-buy team (cancels: checkout.lua),
-- dissolve overdue teams, publish changed stock and team counts.
-- All keys are the room's (prefix lc:{R}:), so they live in one hash slot;
-- sku-specific keys are built here because the client names only the order
-- (cancel) or the sku. KEYS[1] is the room's sale index lc:{R}:sales.
-- ARGV[1] op, ARGV[2] prefix, ARGV[3] channel, then the op's arguments.
-- Every message (published on the channel, or the answer) is built by the
-- generated prelude's pack(type, fields), and list items by msg(type, fields)
-- (tools/embed.c: keys checked against proto/schema.c). Answers, by op:
--   open, close: reply {status: ok, exists (open), closed (close)}
--   join: group {req, sku, status, team if any, members and size when > 0, left}
--   expire: reply {status ok, count (teams dissolved)}   pub: reply {status: ok, none}
local op, P, CH = ARGV[1], ARGV[2], ARGV[3]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function pub(packed) redis.call('SPUBLISH', CH, packed) end
local function reply(status) return pack('reply', {status = status}) end
local function sale_key(sku) return P .. 'sale:' .. sku end

-- A team that can no longer complete (expired, sale closed, or too little
-- stock left) dissolves: no stock was taken, its members are free again.
local function dissolve(id)
  local tk = P .. 'team:' .. id
  local sku = redis.call('HGET', tk, 'sku')
  if not sku then return end
  local members = redis.call('LRANGE', tk .. ':m', 0, -1)
  local entries = {}
  for _, u in ipairs(members) do
    redis.call('HDEL', P .. 'inteam:' .. sku, u)
    entries[#entries + 1] = msg('member', {user = u})
  end
  redis.call('DEL', tk, tk .. ':m', tk .. ':r')
  redis.call('ZREM', P .. 'teams:' .. sku, id)
  redis.call('ZREM', P .. 'tdead', id)
  pub(pack('team_failed', {team = id, sku = sku, entries = entries}))
end

local function dissolve_all(sku)
  for _, id in ipairs(redis.call('ZRANGE', P .. 'teams:' .. sku, 0, -1)) do dissolve(id) end
end

local function expire_due()
  local due = redis.call('ZRANGEBYSCORE', P .. 'tdead', '-inf', now_ms())
  for _, id in ipairs(due) do dissolve(id) end
  return #due
end

local function req_key(user, req) return #user .. ':' .. user .. req end

if op == 'open' then
  -- ARGV: 4 sku, 5 kind (sale|group), 6 title, 7 price, 8 stock, 9 limit, 10 size, 11 ttl_s,
  -- 12 the most sales open at once in a room, 13 pay_s (0: an ok buy is final)
  local sku, kind = ARGV[4], ARGV[5]
  local k = sale_key(sku)
  if redis.call('HGET', k, 'open') == '1' then return reply('exists') end
  -- a room shows its open sales in every welcome: bounded, so a join stays cheap
  if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[12]) then return reply('too_many') end
  redis.call('DEL', k, P .. 'bought:' .. sku)
  redis.call('HSET', k, 'kind', kind, 'title', ARGV[6], 'price', ARGV[7], 'stock', ARGV[8],
    'left', ARGV[8], 'limit', ARGV[9], 'size', ARGV[10], 'ttl_s', ARGV[11], 'open', '1',
    'pub_left', ARGV[8], 'pub_teams', '0', 'pub_waiting', '0', 'opened', now_ms(), 'pay_s', ARGV[13])
  redis.call('DEL', P .. 'ipunits:' .. sku, P .. 'ipusers:' .. sku)
  redis.call('SADD', KEYS[1], sku)
  if kind == 'group' then
    pub(pack('group_sale', {sku = sku, title = ARGV[6], price = tonumber(ARGV[7]),
      size = tonumber(ARGV[10]), stock = tonumber(ARGV[8]), ttl_s = tonumber(ARGV[11]), teams = 0}))
  else
    pub(pack('sale', {sku = sku, title = ARGV[6], price = tonumber(ARGV[7]),
      stock = tonumber(ARGV[8]), limit = tonumber(ARGV[9]),
      pay_s = tonumber(ARGV[13]) > 0 and tonumber(ARGV[13]) or nil}))
  end
  return reply('ok')

elseif op == 'close' then
  -- ARGV: 4 sku
  local sku = ARGV[4]
  local k = sale_key(sku)
  if redis.call('HGET', k, 'open') ~= '1' then return reply('closed') end
  redis.call('HSET', k, 'open', '0')
  redis.call('SREM', KEYS[1], sku)
  if redis.call('HGET', k, 'kind') == 'group' then dissolve_all(sku) end
  pub(pack('sale_closed', {sku = sku}))
  return reply('ok')

elseif op == 'join' then
  -- ARGV: 4 user, 5 req, 6 sku, 7 team ('' for any), 8 shard, 9 req_ttl_s
  -- The record kept under (user, req) in P..'reqs' is the array
  -- {status, team, members, size, left, sku, 'group'}: a retry answers it
  -- again as it was. A req already used for a buy, or for another sku, is
  -- answered req_reused (records from before the sku was kept have 5 items).
  local user, req, sku, want = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
  local function answer(a)
    return pack('group', {req = req, sku = sku, status = a[1], team = a[2] ~= '' and a[2] or nil,
      members = a[3] > 0 and a[3] or nil, size = a[4] > 0 and a[4] or nil, left = a[5]})
  end
  local rk = req_key(user, req)
  local prev = redis.call('HGET', P .. 'reqs', rk)
  if prev then
    redis.call('EXPIRE', P .. 'reqs', tonumber(ARGV[9])) -- a write: the WAIT covers the first answer (buy.lua)
    local a = cmsgpack.unpack(prev)
    if (a[7] == 'group' and a[6] == sku) or (#a == 5 and type(a[4]) == 'number') then return answer(a) end
    return answer({'req_reused', '', 0, 0, tonumber(redis.call('HGET', sale_key(sku), 'left') or '0')})
  end
  expire_due()
  local k = sale_key(sku)
  local s = redis.call('HMGET', k, 'open', 'kind', 'left', 'size', 'ttl_s', 'price', 'opened')
  local size, left = tonumber(s[4] or '0'), tonumber(s[3] or '0')
  local ans
  local mine = redis.call('HGET', P .. 'inteam:' .. sku, user)
  if s[1] ~= '1' or s[2] ~= 'group' then
    ans = {'closed', '', 0, size, left}
  elseif mine then
    ans = {'already', mine, tonumber(redis.call('LLEN', P .. 'team:' .. mine .. ':m')), size, left}
  elseif left < size then
    ans = {'sold_out', '', 0, size, left}
  else
    local teams = P .. 'teams:' .. sku
    local id = want
    if id ~= '' then
      if not redis.call('ZSCORE', teams, id) then ans = {'not_found', '', 0, size, left} end
    else
      id = redis.call('ZRANGE', teams, 0, 0)[1]
      if not id then
        id = 'T' .. redis.call('INCR', P .. 'teamseq')
        local now = now_ms()
        redis.call('HSET', P .. 'team:' .. id, 'sku', sku, 'created', now)
        redis.call('ZADD', teams, now, id)
        redis.call('ZADD', P .. 'tdead', now + 1000 * tonumber(s[5]), id)
      end
    end
    if not ans then
      local tk = P .. 'team:' .. id
      local m = redis.call('RPUSH', tk .. ':m', user)
      redis.call('HSET', tk .. ':r', user, req)
      redis.call('HSET', P .. 'inteam:' .. sku, user, id)
      if m >= size then
        -- Complete: size units leave the stock and one order per member goes
        -- to the stream, in this one step. An open team always has stock
        -- behind it: teams that could no longer complete were dissolved.
        left = redis.call('HINCRBY', k, 'left', -size)
        local now = now_ms()
        local entries = {}
        for _, u in ipairs(redis.call('LRANGE', tk .. ':m', 0, -1)) do
          local r = redis.call('HGET', tk .. ':r', u)
          local oid = redis.call('XADD', P .. 'orders', '*', 'kind', 'order', 'user', u, 'sku', sku,
            'qty', 1, 'price', s[6], 'req', r, 'shard', ARGV[8], 'ts', now, 'team', id)
          local price = tonumber(s[6])
          redis.call('HSET', P .. 'orderidx', oid, cmsgpack.pack({u, sku, 1, now, 'open', 1, '', 0, '', price,
            price, 0, tonumber(s[7] or '0'), 0})) -- the record of checkout.lua
          -- extend only: reservations keep their hash a day past their deadline (buy.lua)
          local ttl = tonumber(ARGV[9])
          if redis.call('TTL', P .. 'orderidx') < ttl then redis.call('EXPIRE', P .. 'orderidx', ttl) end
          redis.call('HDEL', P .. 'inteam:' .. sku, u)
          redis.call('ZINCRBY', P .. 'top:buyers', -1, u) -- the boards (board.lua)
          redis.call('ZADD', P .. 'recent', now, oid .. ' ' .. u)
          redis.call('PEXPIRE', P .. 'recent', 11000)
          entries[#entries + 1] = msg('member', {user = u, order = oid})
        end
        redis.call('DEL', tk, tk .. ':m', tk .. ':r')
        redis.call('ZREM', teams, id)
        redis.call('ZREM', P .. 'tdead', id)
        pub(pack('team_done', {team = id, sku = sku, entries = entries}))
        if left < size then dissolve_all(sku) end
      end
      ans = {'joined', id, m, size, left}
    end
  end
  redis.call('HSET', P .. 'reqs', rk, cmsgpack.pack({ans[1], ans[2], ans[3], ans[4], ans[5], sku, 'group'}))
  redis.call('EXPIRE', P .. 'reqs', tonumber(ARGV[9]))
  return answer(ans)

elseif op == 'expire' then
  return pack('reply', {status = 'ok', count = expire_due()})

elseif op == 'pub' then
  -- ARGV: 4 sku. Publishes the sku's stock (and team counts) if they
  -- changed since the last publish: shards call this once per tick after
  -- changing stock, so a burst of buys costs one message, not one per buy.
  -- The stock message carries the room's earliest payment deadline (due), so
  -- that every shard with viewers sweeps the room on time (checkout.lua).
  local sku = ARGV[4]
  local k = sale_key(sku)
  local s = redis.call('HMGET', k, 'left', 'pub_left', 'kind', 'pub_teams', 'pub_waiting')
  if not s[1] then return reply('none') end
  if s[1] ~= s[2] then
    redis.call('HSET', k, 'pub_left', s[1])
    local d = redis.call('ZRANGE', P .. 'paydue', 0, 0, 'WITHSCORES')
    pub(pack('stock', {sku = sku, left = tonumber(s[1]), due = d[2] and tonumber(d[2]) or 0}))
  end
  if s[3] == 'group' then
    local teams = redis.call('ZCARD', P .. 'teams:' .. sku)
    local waiting = redis.call('HLEN', P .. 'inteam:' .. sku)
    if tostring(teams) ~= s[4] or tostring(waiting) ~= s[5] then
      redis.call('HSET', k, 'pub_teams', teams, 'pub_waiting', waiting)
      pub(pack('teams', {sku = sku, teams = teams, waiting = waiting}))
    end
  end
  return reply('ok')
end
return redis.error_reply('unknown op ' .. tostring(op))
