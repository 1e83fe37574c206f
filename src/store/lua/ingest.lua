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
--
-- Cost (issue 20: close to a bare set-if-absent + XADD): one EXISTS over every tombstone
-- bucket and every order key of the call finds the usual case (nothing of it exists):
-- then each order is one HSET + one XADD. Only when something exists are the buckets and
-- the orders looked at one by one. The session hash takes one HINCRBY per call.
local seller, label, now = ARGV[1], ARGV[2], ARGV[3]
local nt = tonumber(ARGV[5])
local first = 4 + nt
local known = 0
for j = 4, #KEYS, 1000 do -- (unpack's stack limit: at most 1,000 keys a call)
  known = known + redis.call('EXISTS', unpack(KEYS, j, math.min(j + 999, #KEYS)))
end
-- The buckets that exist (looked at only when something of this call exists).
local tombs = {}
if known > 0 then
  for j = 4, first - 1 do
    if redis.call('EXISTS', KEYS[j]) == 1 then tombs[#tombs + 1] = KEYS[j] end
  end
end
local out = {}
local accepted, dup = 0, 0
-- Order keys written by this call (the same id twice in one batch: the second is a duplicate).
local mine = {}
for i = first, #KEYS do
  local a = 6 + (i - first) * 3
  local key = KEYS[i]
  local id, dg = ARGV[a], ARGV[a + 2]
  local stored = mine[key] or (known > 0 and redis.call('EXISTS', key) == 1)
  local code = nil
  if not stored then
    for _, t in ipairs(tombs) do
      local short = redis.call('HGET', t, id)
      if short then
        if short == string.sub(dg, 1, #short) then code = 2 else code = 3 end
        break
      end
    end
    if not code then
      redis.call('HSET', key, 'data', ARGV[a + 1], 'st', 'received', 'dg', dg)
      redis.call('XADD', KEYS[1], '*', 't', 'o', 's', seller, 'id', id)
      mine[key] = true
      code = 1
    end
  elseif redis.call('HGET', key, 'dg') == dg then
    code = 2
  else
    code = 3
  end
  if code == 1 then accepted = accepted + 1 else dup = dup + 1 end
  out[#out + 1] = code
end
-- The session: created live on its first frame. HINCRBY answering exactly this call's count
-- means the field was new, so only then (or when nothing was accepted) can the session be new.
local fresh = true
if accepted > 0 then
  fresh = redis.call('HINCRBY', KEYS[2], 'accepted', accepted) == accepted
end
if fresh and redis.call('HSETNX', KEYS[2], 'state', 'live') == 1 then
  redis.call('HSET', KEYS[2], 'started_ms', now)
  redis.call('SADD', KEYS[3], seller .. '/' .. label)
end
if dup > 0 then redis.call('HINCRBY', KEYS[2], 'duplicate', dup) end
local rejected = tonumber(ARGV[4])
if rejected > 0 then redis.call('HINCRBY', KEYS[2], 'rejected', rejected) end
return out
