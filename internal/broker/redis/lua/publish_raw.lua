-- Publishes a message to a PUB/SUB channel. On a Redis Cluster a plain
-- PUBLISH may go to any node and overtake, on the way to another node, a
-- publication that the Lua scripts of the same channel sent earlier from
-- the channel's node; run as a script with one of the channel's keys, the
-- PUBLISH leaves from that node too and keeps its place.
--
-- KEYS[1] any key of the channel (for routing only).
-- ARGV[1] PUB/SUB channel, ARGV[2] message.
return redis.call("publish", ARGV[1], ARGV[2])
