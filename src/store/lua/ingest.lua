-- Store a frame's orders atomically: set-if-absent per order + append to the site's
-- stream + session counters. One call per frame (one round trip), also usable with one
-- order (what the redis-benchmark comparison runs).
-- KEYS[1] site stream, KEYS[2] session hash, KEYS[3] site session index,
-- KEYS[4..] order hashes (one per order, in frame order)
-- ARGV[1] seller, ARGV[2] session label, ARGV[3] now (ms), ARGV[4] rejected count,
-- then per order 3 args: order_id, data (JSON), digest
-- Returns per order: 1 accepted, 2 duplicate (same content), 3 duplicate (different content)
local seller, label, now = ARGV[1], ARGV[2], ARGV[3]
local out = {}
local accepted, dup = 0, 0
for i = 4, #KEYS do
  local a = 5 + (i - 4) * 3
  local key = KEYS[i]
  if redis.call('HSETNX', key, 'data', ARGV[a + 1]) == 1 then
    redis.call('HSET', key, 'st', 'received', 'dg', ARGV[a + 2])
    redis.call('XADD', KEYS[1], '*', 't', 'o', 's', seller, 'id', ARGV[a])
    accepted = accepted + 1
    out[#out + 1] = 1
  else
    dup = dup + 1
    if redis.call('HGET', key, 'dg') == ARGV[a + 2] then
      out[#out + 1] = 2
    else
      out[#out + 1] = 3
    end
  end
end
if redis.call('HSETNX', KEYS[2], 'state', 'live') == 1 then
  redis.call('HSET', KEYS[2], 'started_ms', now)
  redis.call('SADD', KEYS[3], seller .. '/' .. label)
end
redis.call('HSET', KEYS[2], 'last_ms', now)
if accepted > 0 then redis.call('HINCRBY', KEYS[2], 'accepted', accepted) end
if dup > 0 then redis.call('HINCRBY', KEYS[2], 'duplicate', dup) end
local rejected = tonumber(ARGV[4])
if rejected > 0 then redis.call('HINCRBY', KEYS[2], 'rejected', rejected) end
return out
