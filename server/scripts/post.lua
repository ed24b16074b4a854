-- Posts a shop message from the publish API into the room's stream and
-- channel, in the same order and id sequence as comments (so it is in the
-- history, and resumes replay it). With an idempotency key, a retry of the
-- same post (after a lost answer) gets the first id back and posts nothing;
-- the same key with another body is refused.
-- KEYS[1] lc:{R}:chat  KEYS[2] lc:{R}:posts (idempotency key -> "id sha1(body)")
-- ARGV: channel, cap, key ('' for none), key_ttl_s, kind ('announce' | 'product'), then
--   announce: text       product: sku, title, price
-- Messages (announce or product on the channel; the answer) are built by the
-- generated prelude's pack(type, fields) (tools/embed.c, from proto/schema.c).
-- Answers reply {status: ok, replayed (id: the first post's) or key_reused (id
-- of the first post when known)}.
local key, kind = ARGV[3], ARGV[5]
local digest = redis.sha1hex(table.concat(ARGV, '\0', 5))
if key ~= '' then
  local prev = redis.call('HGET', KEYS[2], key)
  if prev then
    local id, d = string.match(prev, '^(%S+) (%x+)$')
    if d ~= digest then return pack('reply', {status = 'key_reused', id = id}) end
    return pack('reply', {status = 'replayed', id = id})
  end
end
local id, m
if kind == 'announce' then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'k', 'a', 't', ARGV[6])
  m = pack('announce', {id = id, text = ARGV[6], ts = tonumber(string.match(id, '^(%d+)'))})
elseif kind == 'product' then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'k', 'p', 's', ARGV[6], 'n', ARGV[7],
    'p', ARGV[8])
  m = pack('product', {id = id, sku = ARGV[6], title = ARGV[7], price = tonumber(ARGV[8]),
    ts = tonumber(string.match(id, '^(%d+)'))})
else
  return redis.error_reply('unknown kind ' .. tostring(kind))
end
if key ~= '' then
  redis.call('HSET', KEYS[2], key, id .. ' ' .. digest)
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
end
redis.call('SPUBLISH', ARGV[1], m)
return pack('reply', {status = 'ok', id = id})
