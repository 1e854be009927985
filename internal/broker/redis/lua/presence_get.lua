-- Drops a channel's expired presence entries and returns the live ones.
--
-- KEYS[1] hash client -> ClientInfo, KEYS[2] sorted set client -> expiry
-- (Unix ms).
-- ARGV[1] now (Unix ms), ARGV[2] "all" for {client, info, ...} or "values"
-- for {info, ...}.
local expired = redis.call("zrangebyscore", KEYS[2], "-inf", ARGV[1])
if #expired > 0 then
  local batch = 500
  for i = 1, #expired, batch do
    local j = math.min(i + batch - 1, #expired)
    redis.call("hdel", KEYS[1], unpack(expired, i, j))
  end
  redis.call("zremrangebyscore", KEYS[2], "-inf", ARGV[1])
end
if ARGV[2] == "values" then
  return redis.call("hvals", KEYS[1])
end
return redis.call("hgetall", KEYS[1])
