-- Removes a client's presence entry from a channel.
--
-- KEYS[1] hash client -> ClientInfo, KEYS[2] sorted set client -> expiry.
-- ARGV[1] client.
redis.call("hdel", KEYS[1], ARGV[1])
redis.call("zrem", KEYS[2], ARGV[1])
return 1
