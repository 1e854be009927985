-- Publishes a publication, first adding it to the channel's history stream
-- when asked, all in one step so that PUB/SUB order is offset order.
--
-- KEYS[1] history stream, KEYS[2] stream meta hash (e = epoch, s = top
-- offset), KEYS[3] idempotent result hash (e, s).
-- ARGV[1] publication (protobuf), ARGV[2] history size ("0": no history),
-- ARGV[3] history TTL in ms, ARGV[4] meta TTL in ms ("0": forever),
-- ARGV[5] epoch for a new stream, ARGV[6] PUB/SUB channel, ARGV[7] result
-- TTL in ms ("": no idempotency key).
--
-- Returns {offset, epoch, cached}: cached is 1 when an earlier publish with
-- the same idempotency key answered and nothing was published.
local result_ttl = ARGV[7]
if result_ttl ~= "" then
  local cached = redis.call("hmget", KEYS[3], "e", "s")
  if cached[1] ~= false then
    return {cached[2], cached[1], 1}
  end
end

local offset, epoch = 0, ""
if ARGV[2] ~= "0" then
  epoch = redis.call("hget", KEYS[2], "e")
  if epoch == false then
    -- A new epoch: whatever an old stream held belongs to the old one.
    epoch = ARGV[5]
    redis.call("hset", KEYS[2], "e", epoch)
    redis.call("del", KEYS[1])
  end
  offset = redis.call("hincrby", KEYS[2], "s", 1)
  if ARGV[4] ~= "0" then
    redis.call("pexpire", KEYS[2], ARGV[4])
  else
    redis.call("persist", KEYS[2])
  end
  redis.call("xadd", KEYS[1], "MAXLEN", ARGV[2], offset, "d", ARGV[1])
  redis.call("pexpire", KEYS[1], ARGV[3])
end

redis.call("publish", ARGV[6], "__p1:" .. offset .. ":" .. epoch .. "__" .. ARGV[1])

if result_ttl ~= "" then
  redis.call("hset", KEYS[3], "e", epoch, "s", offset)
  redis.call("pexpire", KEYS[3], result_ttl)
end
return {offset, epoch, 0}
