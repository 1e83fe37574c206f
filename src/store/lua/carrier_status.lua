-- Move a booked parcel (and its orders) forward in the carrier's hands; never backwards:
-- booked < handed_over < delivered | returned | cancelled_by_carrier (final).
-- Webhooks arrive late, twice and out of order; applying one twice changes nothing.
-- KEYS[1] parcel hash, KEYS[2..] the parcel's order hashes
-- ARGV[1] new status, ARGV[2] carrier code, ARGV[3] carrier status text, ARGV[4] now ms,
-- ARGV[5] the parcel's id: an order that a repack moved to another parcel (its `p` names
-- that one) is left alone: a late webhook for the replaced parcel is not its news.
-- Returns 'ok' | 'unchanged' | 'not_booked'
local rank = { booked = 1, handed_over = 2, delivered = 3, returned = 3, cancelled_by_carrier = 3 }
local cur = redis.call('HGET', KEYS[1], 'cstatus')
if not cur then return 'not_booked' end
local new = ARGV[1]
if (rank[new] or 0) <= (rank[cur] or 0) then
  if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'carrier_code', ARGV[2], 'carrier_status', ARGV[3]) end
  return 'unchanged'
end
redis.call('HSET', KEYS[1], 'cstatus', new, new .. '_ms', ARGV[4])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'carrier_code', ARGV[2], 'carrier_status', ARGV[3]) end
local order_status = new
if new == 'cancelled_by_carrier' then order_status = nil end
if order_status then
  for i = 2, #KEYS do
    local st = redis.call('HGET', KEYS[i], 'st')
    local p = redis.call('HGET', KEYS[i], 'p')
    if st and st ~= 'cancelled' and (not p or p == ARGV[5]) then
      redis.call('HSET', KEYS[i], 'st', order_status)
    end
  end
end
return 'ok'
