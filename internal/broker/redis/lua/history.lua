-- Reads a channel's stream position and a slice of its history, creating
-- the stream (new epoch, offset 0) when there is none.
--
-- KEYS[1] history stream, KEYS[2] stream meta hash (e = epoch, s = top
-- offset).
-- ARGV[1] "1" to return publications, ARGV[2] first (XRANGE) or last
-- (XREVRANGE) stream ID to return, ARGV[3] count ("0": all), ARGV[4] "1"
-- for newest first, ARGV[5] meta TTL in ms of a created stream ("0":
-- forever), ARGV[6] epoch for a new stream, ARGV[7] epoch the caller
-- expects ("": any).
--
-- Returns {top offset, epoch[, entries]}; no entries when the expected
-- epoch differs.
local meta = redis.call("hmget", KEYS[2], "e", "s")
local epoch, top = meta[1], meta[2]
if epoch == false then
  epoch, top = ARGV[6], 0
  redis.call("hset", KEYS[2], "e", epoch, "s", 0)
  if ARGV[5] ~= "0" then
    redis.call("pexpire", KEYS[2], ARGV[5])
  end
  redis.call("del", KEYS[1])
  return {top, epoch}
end
if top == false then
  top = 0
end
if ARGV[1] ~= "1" or (ARGV[7] ~= "" and ARGV[7] ~= epoch) then
  return {top, epoch}
end

local entries
if ARGV[4] ~= "1" then
  if ARGV[3] ~= "0" then
    entries = redis.call("xrange", KEYS[1], ARGV[2], "+", "COUNT", ARGV[3])
  else
    entries = redis.call("xrange", KEYS[1], ARGV[2], "+")
  end
else
  if ARGV[3] ~= "0" then
    entries = redis.call("xrevrange", KEYS[1], ARGV[2], "-", "COUNT", ARGV[3])
  else
    entries = redis.call("xrevrange", KEYS[1], ARGV[2], "-")
  end
end
return {top, epoch, entries}
