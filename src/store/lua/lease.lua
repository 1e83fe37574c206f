-- Take or renew the site's planner lease. A new holder gets a new fencing token.
-- KEYS[1] lease, KEYS[2] fence; ARGV[1] holder id, ARGV[2] ttl ms
-- Returns the fencing token while held by ARGV[1], or false.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return redis.call('GET', KEYS[2])
end
if holder then return false end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return tostring(redis.call('INCR', KEYS[2]))
