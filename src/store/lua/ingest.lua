-- Store a frame's orders atomically: set-if-absent per order + append to the site's
-- stream + session counters. One call per frame (one round trip), also usable with one
-- order (what the redis-benchmark comparison runs).
-- An order id is new only if neither its order hash nor a tombstone of it (the order left
-- Redis within the dedupe window, see store/tombstones.rs) exists.
-- KEYS[1] site stream, KEYS[2] session hash, KEYS[3] site session index,
-- KEYS[4..3+n] the seller's tombstone buckets that can be live (n = ARGV[5]),
-- then the order hashes (one per order, in frame order)
-- ARGV[1] seller, ARGV[2] session label, ARGV[3] now (ms), ARGV[4] rejected count,
-- ARGV[5] n, then per order 3 args: order_id, data (JSON), digest
-- Returns per order: 1 accepted, 2 duplicate (same content), 3 duplicate (different content)
local seller, label, now = ARGV[1], ARGV[2], ARGV[3]
local nt = tonumber(ARGV[5])
local tombs = {}
for j = 4, 3 + nt do
  if redis.call('EXISTS', KEYS[j]) == 1 then tombs[#tombs + 1] = KEYS[j] end
end
local out = {}
local accepted, dup = 0, 0
for i = 4 + nt, #KEYS do
  local a = 6 + (i - 4 - nt) * 3
  local key = KEYS[i]
  local id, dg = ARGV[a], ARGV[a + 2]
  local seen = false
  if redis.call('EXISTS', key) == 0 then
    for _, t in ipairs(tombs) do
      local short = redis.call('HGET', t, id)
      if short then
        seen = true
        dup = dup + 1
        if short == string.sub(dg, 1, #short) then
          out[#out + 1] = 2
        else
          out[#out + 1] = 3
        end
        break
      end
    end
  end
  if seen then
    -- known from its tombstone: answered above, nothing stored
  elseif redis.call('HSETNX', key, 'data', ARGV[a + 1]) == 1 then
    redis.call('HSET', key, 'st', 'received', 'dg', dg)
    redis.call('XADD', KEYS[1], '*', 't', 'o', 's', seller, 'id', id)
    accepted = accepted + 1
    out[#out + 1] = 1
  else
    dup = dup + 1
    if redis.call('HGET', key, 'dg') == dg then
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
