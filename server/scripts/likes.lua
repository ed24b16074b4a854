-- Adds one coalesced batch of likes, exactly once. A shard numbers its
-- batches (boot id : seq); when a reply is lost and the shard retries the
-- same batch, the stored mark shows it was applied and nothing is added.
-- KEYS[1] lc:{R}:likes  KEYS[2] lc:{R}:likeseq  KEYS[3] lc:{R}:top:likes (the board:
-- negated scores, so that ZRANGE is best first, ties by user id)
-- KEYS[4] lc:{R}:engaged  KEYS[5] lc:{R}:series (the funnel: funnel.lua)
-- ARGV: channel, shard, boot, seq, count, then pairs user, likes (who sent them)
-- Publishes likes {total} (built by the generated prelude's pack, tools/embed.c).
-- Answers the room's total (an integer).
local mark = redis.call('HGET', KEYS[2], ARGV[2])
if mark then
  local boot, seq = string.match(mark, '^(.-):(%d+)$')
  if boot == ARGV[3] and tonumber(seq) >= tonumber(ARGV[4]) then
    return tonumber(redis.call('GET', KEYS[1]) or '0')
  end
end
local total = redis.call('INCRBY', KEYS[1], ARGV[5])
local users = {}
for i = 6, #ARGV - 1, 2 do
  redis.call('ZINCRBY', KEYS[3], -tonumber(ARGV[i + 1]), ARGV[i])
  users[#users + 1] = ARGV[i]
end
local t = redis.call('TIME')
funnel_engaged(KEYS[4], KEYS[5], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), users, 'l',
  tonumber(ARGV[5]))
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3] .. ':' .. ARGV[4])
redis.call('SPUBLISH', ARGV[1], pack('likes', {total = total}))
return total
