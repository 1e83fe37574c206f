-- Mark a session ended and wake the site's planner.
-- KEYS[1] session hash, KEYS[2] site stream, KEYS[3] site session index, KEYS[4] ended set
-- ARGV[1] seller, ARGV[2] label, ARGV[3] now (ms)
-- Returns 1 if it was live (or new), 0 if it had ended already.
if redis.call('HGET', KEYS[1], 'state') == 'ended' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'ended', 'ended_ms', ARGV[3])
-- A session ended before any frame reached it (a label never used, or one long expired):
-- nothing archived would ever expire it, so it expires 30 days on unless an order is
-- accepted into it (ingest.lua persists it then).
if redis.call('HSETNX', KEYS[1], 'started_ms', ARGV[3]) == 1 then
  redis.call('PEXPIRE', KEYS[1], 2592000000)
end
redis.call('SADD', KEYS[3], ARGV[1] .. '/' .. ARGV[2])
redis.call('SADD', KEYS[4], ARGV[1] .. '/' .. ARGV[2])
redis.call('XADD', KEYS[2], '*', 't', 'e', 's', ARGV[1], 'l', ARGV[2])
return 1
