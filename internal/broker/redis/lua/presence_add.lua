-- Adds or refreshes a client's presence entry in a channel.
--
-- KEYS[1] hash client -> ClientInfo, KEYS[2] sorted set client -> expiry
-- (Unix ms).
-- ARGV[1] client, ARGV[2] ClientInfo (protobuf), ARGV[3] expiry ("+inf":
-- never), ARGV[4] entry TTL in ms ("0": never).
--
-- The keys live at least as long as their longest-lived entry, so a
-- channel nobody refreshes disappears by itself.
local key_ttl = redis.call("pttl", KEYS[1])
redis.call("zadd", KEYS[2], ARGV[3], ARGV[1])
redis.call("hset", KEYS[1], ARGV[1], ARGV[2])
local ttl = tonumber(ARGV[4])
if ttl == 0 then
  redis.call("persist", KEYS[1])
  redis.call("persist", KEYS[2])
elseif key_ttl == -2 or (key_ttl >= 0 and key_ttl < ttl) then
  redis.call("pexpire", KEYS[1], ttl)
  redis.call("pexpire", KEYS[2], ttl)
end
return 1
