-- Posts a shop message from the publish API into the room's stream and
-- channel, in the same order and id sequence as comments (so it is in the
-- history, and resumes replay it).
-- KEYS[1] lc:{R}:chat
-- ARGV: channel, cap, kind ('announce' | 'product'), then
--   announce: text       product: sku, title, price
-- Returns the entry's id.
local kind = ARGV[3]
local id, msg
if kind == 'announce' then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'k', 'a', 't', ARGV[4])
  msg = {type = 'announce', id = id, text = ARGV[4]}
elseif kind == 'product' then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'k', 'p', 's', ARGV[4], 'n', ARGV[5],
    'p', ARGV[6])
  msg = {type = 'product', id = id, sku = ARGV[4], title = ARGV[5], price = tonumber(ARGV[6])}
else
  return redis.error_reply('unknown kind ' .. tostring(kind))
end
msg.ts = tonumber(string.match(id, '^(%d+)'))
redis.call('PUBLISH', ARGV[1], cmsgpack.pack(msg))
return id
