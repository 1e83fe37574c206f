-- Cancel an order unless it already left with the carrier.
-- KEYS[1] order hash, KEYS[2] site stream, KEYS[3] site pending hash, KEYS[4] (optional)
-- the order's session hash, whose `cancelled` count goes up by one (only while it exists)
-- ARGV[1] seller, ARGV[2] order_id, ARGV[3] reason, ARGV[4] now (ms)
-- Returns 'unknown' | 'too_late' | 'cancelled' | 'already_cancelled' (cancelled before)
local st = redis.call('HGET', KEYS[1], 'st')
if not st then return 'unknown' end
if st == 'cancelled' then return 'already_cancelled' end
if st == 'handed_over' or st == 'delivered' or st == 'returned' then return 'too_late' end
redis.call('HSET', KEYS[1], 'st', 'cancelled', 'prev_st', st, 'cancel_reason', ARGV[3], 'cancelled_ms', ARGV[4])
redis.call('HDEL', KEYS[3], ARGV[1] .. '/' .. ARGV[2])
redis.call('XADD', KEYS[2], '*', 't', 'c', 's', ARGV[1], 'id', ARGV[2])
if KEYS[4] and redis.call('EXISTS', KEYS[4]) == 1 then
  redis.call('HINCRBY', KEYS[4], 'cancelled', 1)
end
return 'cancelled'
