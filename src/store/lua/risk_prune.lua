-- Prune a session's risk records (keys.rs `session_risk`; store/risk.rs): orders that can
-- never be at risk again leave them. The log's start is replaced only if it is still what
-- the view read (its length and SHA-1): records appended since stay after the replacement,
-- and of two views pruning at once the second finds the start changed and leaves it. Each
-- member of the older sorted set is replaced only if it is still there (likewise). Keys keep
-- the expiry the archiver gave them.
-- KEYS[1] the log (a string of records), KEYS[2] the sorted set of records builds before
-- the log kept (`session_risk_waves`, one member per wave), KEYS[3] the sorted set builds
-- before that kept (`session_risk_zset`, one member per order)
-- ARGV[1] n, ARGV[2] the length of the log as read (0: leave the log), ARGV[3] its SHA-1,
-- ARGV[4] what replaces it, then n order ids (removed from KEYS[3]), then per changed member
-- of KEYS[2]: the member, its replacement ('' for none), the replacement's score
local n = tonumber(ARGV[1])
local len = tonumber(ARGV[2])
if len > 0 and redis.call('STRLEN', KEYS[1]) >= len
    and redis.sha1hex(redis.call('GETRANGE', KEYS[1], 0, len - 1)) == ARGV[3] then
  local log = ARGV[4] .. redis.call('GETRANGE', KEYS[1], len, -1)
  if log == '' then
    redis.call('DEL', KEYS[1])
  else
    redis.call('SET', KEYS[1], log, 'KEEPTTL')
  end
end
for i = 5, n + 4, 1000 do
  redis.call('ZREM', KEYS[3], unpack(ARGV, i, math.min(i + 999, n + 4)))
end
local ttl = redis.call('PTTL', KEYS[2])
for i = n + 5, #ARGV, 3 do
  if redis.call('ZREM', KEYS[2], ARGV[i]) == 1 and ARGV[i + 1] ~= '' then
    redis.call('ZADD', KEYS[2], ARGV[i + 2], ARGV[i + 1])
  end
end
if ttl > 0 and redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 0
