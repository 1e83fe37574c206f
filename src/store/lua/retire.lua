-- Archived orders: mark each one and let it, and the keys only finished orders still need,
-- expire after the hot period (the purge of the buyer's name, phone and address); and in
-- the same step write its tombstone (order id → first 8 hex digits of its digest, after its
-- `x` when it has one: domain::order::digest) into the seller's bucket, which expires the
-- dedupe window after the order (store/tombstones.rs): the id stays known once the order is
-- gone. A cancelled order's tombstone has a mark beside it (`c:<id>` → 1).
-- KEYS: per order, its hash, its tombstone bucket, then its k related keys (parcel, wave,
-- pick ids, shipment, the shipment's parcel list and older set, session, the session's risk
-- records, the day's wave and shipment indexes)
-- ARGV[1] archived at (ms), then per order: k, expire at (ms), order id, bucket expiry (ms)
-- A related key's expiry only ever moves later (another order may need it longer). The first
-- four related keys are the order's session hash and its risk records (store/archive.rs
-- `related_keys`): the session counts its archived orders (`ar`), and they expire only once
-- every order it accepted is archived (before, the first one archived set the session to
-- expire while its other orders were still live, and its counts vanished).
-- Returns the number of orders marked.
local now = ARGV[1]
local ki, ai, done = 1, 2, 0
while ai < #ARGV do
  local k, at, id, tomb_at = tonumber(ARGV[ai]), ARGV[ai + 1], ARGV[ai + 2], ARGV[ai + 3]
  ai = ai + 4
  local order, tomb = KEYS[ki], KEYS[ki + 1]
  local session_done = true
  if redis.call('EXISTS', order) == 1 then
    if k >= 4 and redis.call('EXISTS', KEYS[ki + 2]) == 1 then
      local sk = KEYS[ki + 2]
      local ar = redis.call('HGET', sk, 'ar')
      if redis.call('HEXISTS', order, 'ar') == 0 then
        ar = redis.call('HINCRBY', sk, 'ar', 1)
      end
      session_done = tonumber(ar or 0) >= tonumber(redis.call('HGET', sk, 'accepted') or 0)
    end
    local dg = redis.call('HGET', order, 'dg') or ''
    redis.call('HSET', tomb, id, string.sub(dg, 1, string.byte(dg) == 120 and 9 or 8))
    -- A cancelled order is marked so (`c:<id>`): cancelling it again still answers
    -- `cancelled`, any other finished one `too_late` (the ingest reads only `<id>`).
    if redis.call('HGET', order, 'st') == 'cancelled' then
      redis.call('HSET', tomb, 'c:' .. id, 1)
    end
    if redis.call('PEXPIREAT', tomb, tomb_at, 'NX') == 0 then
      redis.call('PEXPIREAT', tomb, tomb_at, 'GT')
    end
    redis.call('HSET', order, 'ar', now)
    redis.call('PEXPIREAT', order, at)
    done = done + 1
  end
  for j = ki + 2, ki + 1 + k do
    if session_done or j > ki + 5 then
      if redis.call('PEXPIREAT', KEYS[j], at, 'NX') == 0 then
        redis.call('PEXPIREAT', KEYS[j], at, 'GT')
      end
    end
  end
  ki = ki + 2 + k
end
return done
