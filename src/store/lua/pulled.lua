-- A pull done: the parcel flagged `pull` (packed or booked, then an order of it was
-- cancelled) was taken off the floor, or off the truck if it had been scanned onto it
-- (`loaded` is cleared). Also a box still to go, scanned onto the truck and taken off again
-- before the truck left (it does not fit, it is damaged): off the truck's record, so the
-- hand-over can leave it behind. Idempotent.
-- KEYS[1] parcel hash, KEYS[2] the site's audit stream, KEYS[3] its wave hash (`pulls_open`)
-- ARGV[1] station, ARGV[2] now ms, ARGV[3] audit max length
-- Returns 'pulled' | 'already' | 'nothing' | 'no_parcel'
if redis.call('EXISTS', KEYS[1]) == 0 then return 'no_parcel' end
-- The audit entry of this pull (`action`: pull or unload).
local function audit(action)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'at', ARGV[2], 'station', ARGV[1],
    'action', action, 'wave', redis.call('HGET', KEYS[1], 'wave') or '',
    'parcel', string.match(KEYS[1], '}:p:(.+)$'))
end
if redis.call('HEXISTS', KEYS[1], 'pull') == 0 then
  -- Not flagged, but scanned onto the truck: still to go and taken off before the truck
  -- left ('unload'), or no longer to go (cancelled or refused by the carrier since) and
  -- taken off as the hand-over asks (`pull_pending`); a repeat answers 'already'
  -- (`off_truck_ms`).
  local h = redis.call('HMGET', KEYS[1], 'loaded', 'status', 'cstatus', 'book_state', 'tracking')
  local gone = h[2] == 'cancelled' or h[2] == 'replaced' or h[3] == 'cancelled_by_carrier'
    or (h[4] == 'rejected' and not h[5])
  local left = h[3] == 'handed_over' or h[3] == 'delivered' or h[3] == 'returned'
  local unload = h[1] == '1' and not gone and not left
  if not unload and redis.call('HEXISTS', KEYS[1], 'off_truck_ms') == 1 then return 'already' end
  if h[1] == '1' and (gone or unload) then
    redis.call('HDEL', KEYS[1], 'loaded', 'loaded_ms')
    redis.call('HSET', KEYS[1], 'off_truck_ms', ARGV[2])
    audit(unload and 'unload' or 'pull')
    return 'pulled'
  end
  return 'nothing'
end
if redis.call('HEXISTS', KEYS[1], 'pulled_ms') == 1 then return 'already' end
redis.call('HSET', KEYS[1], 'pulled_ms', ARGV[2], 'pulled_by', ARGV[1])
-- Scanned onto the truck before it had to be pulled: it is off the truck now.
redis.call('HDEL', KEYS[1], 'loaded', 'loaded_ms')
if redis.call('HINCRBY', KEYS[3], 'pulls_open', -1) < 0 then redis.call('HSET', KEYS[3], 'pulls_open', 0) end
audit('pull')
return 'pulled'
