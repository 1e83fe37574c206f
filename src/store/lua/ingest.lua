-- Store a frame's orders atomically: set-if-absent per order + append to the site's
-- stream + session counters. One call per frame (one round trip), also usable with one
-- order (what the redis-benchmark comparison runs).
-- An order id is new only if neither its order hash nor a tombstone of it (the order left
-- Redis within the dedupe window, see store/tombstones.rs) exists.
-- KEYS[1] site stream, KEYS[2] session hash, KEYS[3] site session index,
-- KEYS[4..3+n] the seller's tombstone buckets that can be live (n = ARGV[5]),
-- then the order hashes (one per order, in frame order)
-- ARGV[1] seller, ARGV[2] session label, ARGV[3] now (ms), ARGV[4] rejected count,
-- ARGV[5] n, then per order 3 args: order_id, data (the record as stored: packed, or JSON), digest;
-- an empty data is an order the service rejected, its id only checked (contract §1: a resend
-- of a stored order is a duplicate whatever its content)
-- Returns per order: 1 accepted, 2 duplicate (same content), 3 duplicate (different content),
-- 4 rejected (a checked id not known: counted with ARGV[4])
-- The accepted orders go to the site stream in the order accepted, ten to an entry
-- (`t o s <seller> ids "<id> <id> …"`; an entry of one order, `t o s <seller> id <id>`, is
-- the form of builds before issue 20's twenty-fifth session): one XADD per ten orders of a
-- frame, not one per order (an XADD was about a quarter of the script's work per order).
--
-- Cost (issue 20: close to a bare set-if-absent + XADD): one EXISTS over every tombstone
-- bucket and every order key of the call finds the usual case for a new seller (nothing of
-- it exists): then each order is one HSET, and every ten accepted one XADD. Otherwise (a
-- seller whose orders left Redis has live buckets, or a resend) the call looks once more:
-- one EXISTS over the order keys (then one EXISTS per order only if some exist), and,
-- only if some bucket exists, one HMGET per bucket of the ids not stored (per 1,000 ids):
-- a fixed number of lookups per call for new orders, not one per order per bucket. The
-- session hash takes one HINCRBY per call.
-- Ids per stream entry: store::stream::ORDERS_PER_ENTRY (a unit test keeps them equal).
local per_entry = 10
local seller, label, now = ARGV[1], ARGV[2], ARGV[3]
local nt = tonumber(ARGV[5])
local first = 4 + nt
local n = #KEYS - first + 1
-- EXISTS/HMGET over at most 1,000 keys or ids a command (unpack's stack limit).
local function exists(from, to)
  local c = 0
  for j = from, to, 1000 do
    c = c + redis.call('EXISTS', unpack(KEYS, j, math.min(j + 999, to)))
  end
  return c
end
local known = exists(4, #KEYS)
-- Per order: whether its order hash exists (`live`), else the short digest of its
-- tombstone (the first bucket holding it), if any.
local short, live = {}, {}
if known > 0 then
  local stored_any = exists(first, #KEYS)
  local ids, at = {}, {}
  for i = 1, n do
    if stored_any > 0 and redis.call('EXISTS', KEYS[first + i - 1]) == 1 then
      live[i] = true
    else
      ids[#ids + 1] = ARGV[3 + i * 3]
      at[#ids] = i
    end
  end
  -- Both counts include the same order keys: the difference is the buckets that exist.
  local m = #ids
  if known > stored_any and m > 0 then
    for j = 4, first - 1 do
      for k = 1, m, 1000 do
        local got = redis.call('HMGET', KEYS[j], unpack(ids, k, math.min(k + 999, m)))
        for x, v in ipairs(got) do
          local i = at[k + x - 1]
          if v and not short[i] then short[i] = v end
        end
      end
    end
  end
end
-- A resend's code: 2 when its digest is the stored one (`whole`: a live order's), or starts
-- with it (a tombstone's short one), 3 when it differs. Digests are of two kinds: since
-- issue 20's thirty-second session `x` and an XXH3's hex digits, before that a SHA-256's (a
-- hex digit first). Digests of different kinds cannot tell a change: such a resend counts
-- as unchanged (2).
local function same(stored, dg, whole)
  if not stored then return 3 end
  if stored == (whole and dg or string.sub(dg, 1, #stored)) then return 2 end
  if stored ~= '' and (string.byte(stored) == 120) ~= (string.byte(dg) == 120) then
    return 2
  end
  return 3
end
local out = {}
local accepted, dup, unknown = 0, 0, 0
-- Order keys written by this call (the same id twice in one batch: the second is a duplicate).
local mine = {}
-- The ids accepted, for the stream.
local fresh_ids = {}
for i = 1, n do
  local a = 3 + i * 3
  local key = KEYS[first + i - 1]
  local id, dg = ARGV[a], ARGV[a + 2]
  local stored = mine[key] or live[i]
  local code
  if ARGV[a + 1] == '' then
    if stored or short[i] then code = 3 else code = 4 end
  elseif stored then
    code = same(redis.call('HGET', key, 'dg'), dg, true)
  elseif short[i] then
    code = same(short[i], dg)
  else
    redis.call('HSET', key, 'data', ARGV[a + 1], 'st', 'received', 'dg', dg)
    fresh_ids[accepted + 1] = id
    mine[key] = true
    code = 1
  end
  if code == 1 then
    accepted = accepted + 1
  elseif code == 4 then
    unknown = unknown + 1
  else
    dup = dup + 1
  end
  out[i] = code
end
for j = 1, accepted, per_entry do
  if j == accepted then
    redis.call('XADD', KEYS[1], '*', 't', 'o', 's', seller, 'id', fresh_ids[j])
  else
    local ids = table.concat(fresh_ids, ' ', j, math.min(j + per_entry - 1, accepted))
    redis.call('XADD', KEYS[1], '*', 't', 'o', 's', seller, 'ids', ids)
  end
end
-- The session: created live on its first frame. HINCRBY answering exactly this call's count
-- means the field was new, so only then (or when nothing was accepted) can the session be new.
local fresh = true
if accepted > 0 then
  fresh = redis.call('HINCRBY', KEYS[2], 'accepted', accepted) == accepted
  -- Its first accepted orders: the session now lives until they are archived (retire.lua).
  if fresh then redis.call('PERSIST', KEYS[2]) end
end
if fresh and redis.call('HSETNX', KEYS[2], 'state', 'live') == 1 then
  redis.call('HSET', KEYS[2], 'started_ms', now)
  redis.call('SADD', KEYS[3], seller .. '/' .. label)
  -- Begun with no order accepted (all rejected, or resends of orders gone from Redis):
  -- nothing archived would ever expire it, so it expires 30 days on unless one is.
  if accepted == 0 then redis.call('PEXPIRE', KEYS[2], 2592000000) end
end
if dup > 0 then redis.call('HINCRBY', KEYS[2], 'duplicate', dup) end
local rejected = tonumber(ARGV[4]) + unknown
if rejected > 0 then redis.call('HINCRBY', KEYS[2], 'rejected', rejected) end
return out
