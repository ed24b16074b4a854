-- Posts a shop message from the publish API into the room's stream and
-- channel, in the same order and id sequence as comments (so it is in the
-- history, and resumes replay it). With an idempotency key, a retry of the
-- same post (after a lost answer) gets the first id back and posts nothing;
-- the same key with another body is refused.
-- KEYS[1] lc:{R}:chat  KEYS[2] lc:{R}:posts (idempotency key -> "id sha1(body)")
-- ARGV: channel, cap, key ('' for none), key_ttl_s, kind ('announce' | 'product'), then
--   announce: text       product: sku, title, price
-- Returns {status ('ok' | 'replayed' | 'key_reused'), id}.
local key, kind = ARGV[3], ARGV[5]
local digest = redis.sha1hex(table.concat(ARGV, '\0', 5))
if key ~= '' then
  local prev = redis.call('HGET', KEYS[2], key)
  if prev then
    local id, d = string.match(prev, '^(%S+) (%x+)$')
    if d ~= digest then return {'key_reused', id or ''} end
    return {'replayed', id}
  end
end
local id, msg
if kind == 'announce' then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'k', 'a', 't', ARGV[6])
  msg = {type = 'announce', id = id, text = ARGV[6]}
elseif kind == 'product' then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'k', 'p', 's', ARGV[6], 'n', ARGV[7],
    'p', ARGV[8])
  msg = {type = 'product', id = id, sku = ARGV[6], title = ARGV[7], price = tonumber(ARGV[8])}
else
  return redis.error_reply('unknown kind ' .. tostring(kind))
end
if key ~= '' then
  redis.call('HSET', KEYS[2], key, id .. ' ' .. digest)
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
end
msg.ts = tonumber(string.match(id, '^(%d+)'))
redis.call('PUBLISH', ARGV[1], cmsgpack.pack(msg))
return {'ok', id}
