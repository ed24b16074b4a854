-- funnel: the room's figures (PROTOCOL.md "The funnel"), kept by the script of
-- each event itself (a join, a comment, a like batch, a viewer share), so
-- that a figure and its event are one step; the orders by stats.lua, from
-- the orders stream (each entry once, behind a cursor). tools/embed.c puts
-- this file in front of every script that calls a funnel_ function (the
-- orders' funnel_order lives in stats.lua, its one caller); each
-- function is given the keys it writes (the caller's KEYS or, where the
-- caller builds its names from the room prefix, those names).
-- series (lc:{R}:series) is a ring of 360 points of 10 s: slot N holds bN
-- (the point's number, ms // 10000), vN (the most viewers seen; -1: no count
-- was sent in those 10 s), oN (orders
-- that became ok), lN (likes), cN (comments). A slot is reset when a new
-- point takes it, so the hash never holds more than 1800 fields.
local function funnel_point(series, now, what, n)
  local b = math.floor(now / 10000)
  local s = tostring(b % 360)
  if redis.call('HGET', series, 'b' .. s) ~= tostring(b) then
    redis.call('HSET', series, 'b' .. s, b, 'v' .. s, -1, 'o' .. s, 0, 'l' .. s, 0, 'c' .. s, 0)
  end
  if what ~= 'v' then
    redis.call('HINCRBY', series, what .. s, n)
  elseif tonumber(redis.call('HGET', series, 'v' .. s)) < n then
    redis.call('HSET', series, 'v' .. s, n)
  end
end
-- The room's viewer total was computed (viewers.lua): the peak and the point.
local function funnel_viewers(funnel, series, now, total)
  if tonumber(redis.call('HGET', funnel, 'peak') or '0') < total then redis.call('HSET', funnel, 'peak', total) end
  funnel_point(series, now, 'v', total)
end
-- Users commented or liked (what 'c' or 'l', n of them): engaged (a
-- HyperLogLog, lc:{R}:engaged) and the point.
local function funnel_engaged(engaged, series, now, users, what, n)
  for i = 1, #users, 500 do -- (unpack is bounded by Lua's stack)
    redis.call('PFADD', engaged, unpack(users, i, math.min(i + 499, #users)))
  end
  funnel_point(series, now, what, n)
end
