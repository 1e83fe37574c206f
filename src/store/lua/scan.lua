-- A hand-over scan: put one parcel on the truck (idempotent).
-- KEYS[1] parcel hash, KEYS[2] shipment hash, KEYS[3..] its orders' hashes
-- ARGV[1] now ms
-- Returns 'unknown' | 'pull' | 'already_loaded' | 'loaded' | 'loaded_unpacked' | 'closed'
-- ('loaded_unpacked': loaded, though no station marked it packed; 'closed': the shipment
-- was handed over already and this parcel was not on it).
-- The caller has checked that the parcel is on this shipment (its document's `shipment_id`,
-- which changes only when a hand-over moves a parcel left behind to the next pickup:
-- store/handover.rs `scan_parcel`).
if redis.call('EXISTS', KEYS[1]) == 0 then return 'unknown' end
local h = redis.call('HMGET', KEYS[1], 'status', 'pull', 'cstatus', 'loaded', 'book_state',
  'tracking')
-- Not for the truck: cancelled, replaced, pulled, cancelled or rejected by the carrier.
if h[1] == 'cancelled' or h[1] == 'replaced' or h[2] or h[3] == 'cancelled_by_carrier'
    or (h[5] == 'rejected' and not h[6]) then
  return 'pull'
end
-- An order of it cancelled since it was waved (the cancel answered `cancelled`): its repack
-- has not replaced it yet, but it must not leave (handover.lua refuses it the same way).
for i = 3, #KEYS do
  if redis.call('HGET', KEYS[i], 'st') == 'cancelled' then return 'pull' end
end
if h[4] == '1' then return 'already_loaded' end
if redis.call('HGET', KEYS[2], 'status') == 'handed_over' then return 'closed' end
redis.call('HSET', KEYS[1], 'loaded', '1', 'loaded_ms', ARGV[1])
if h[1] == 'open' then return 'loaded_unpacked' end
return 'loaded'
