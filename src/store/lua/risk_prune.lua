-- Prune a session's risk entries (keys.rs `session_risk`; store/risk.rs): orders that can
-- never be at risk again leave them. Each wave member is replaced only if it is still there
-- (two views pruning at once: the second finds it gone and adds nothing), and the key keeps
-- the expiry the archiver gave it.
-- KEYS[1] the risk entries (zset, one member per wave), KEYS[2] the sorted set builds before
-- it kept (`session_risk_zset`, one member per order)
-- ARGV[1] n, then n order ids (removed from KEYS[2]), then per changed member: the member,
-- its replacement ('' for none), the replacement's score
local n = tonumber(ARGV[1])
for i = 2, n + 1, 1000 do
  redis.call('ZREM', KEYS[2], unpack(ARGV, i, math.min(i + 999, n + 1)))
end
local ttl = redis.call('PTTL', KEYS[1])
for i = n + 2, #ARGV, 3 do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 and ARGV[i + 1] ~= '' then
    redis.call('ZADD', KEYS[1], ARGV[i + 2], ARGV[i + 1])
  end
end
if ttl > 0 and redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ttl) end
return 0
