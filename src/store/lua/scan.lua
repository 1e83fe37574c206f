-- A hand-over scan: put one parcel on the truck (idempotent).
-- KEYS[1] parcel hash, KEYS[2] shipment hash, KEYS[3] the shipment's parcel set
-- ARGV[1] parcel id, ARGV[2] now ms
-- Returns 'unknown' | 'not_in_shipment' | 'pull' | 'already_loaded' | 'loaded' | 'closed'
-- ('closed': the shipment was handed over already and this parcel was not on it).
if redis.call('EXISTS', KEYS[1]) == 0 then return 'unknown' end
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0 then return 'not_in_shipment' end
local h = redis.call('HMGET', KEYS[1], 'status', 'pull', 'cstatus', 'loaded')
if h[1] == 'cancelled' or h[1] == 'replaced' or h[2] or h[3] == 'cancelled_by_carrier' then
  return 'pull'
end
if h[4] == '1' then return 'already_loaded' end
if redis.call('HGET', KEYS[2], 'status') == 'handed_over' then return 'closed' end
redis.call('HSET', KEYS[1], 'loaded', '1', 'loaded_ms', ARGV[2])
return 'loaded'
