-- A pull done: the parcel flagged `pull` (packed or booked, then an order of it was
-- cancelled) was taken off the floor, or off the truck if it had been scanned onto it
-- (`loaded` is cleared). Idempotent.
-- KEYS[1] parcel hash, KEYS[2] the site's audit stream, KEYS[3] its wave hash (`pulls_open`)
-- ARGV[1] station, ARGV[2] now ms, ARGV[3] audit max length
-- Returns 'pulled' | 'already' | 'nothing' | 'no_parcel'
if redis.call('EXISTS', KEYS[1]) == 0 then return 'no_parcel' end
if redis.call('HEXISTS', KEYS[1], 'pull') == 0 then return 'nothing' end
if redis.call('HEXISTS', KEYS[1], 'pulled_ms') == 1 then return 'already' end
redis.call('HSET', KEYS[1], 'pulled_ms', ARGV[2], 'pulled_by', ARGV[1])
-- Scanned onto the truck before it had to be pulled: it is off the truck now.
redis.call('HDEL', KEYS[1], 'loaded', 'loaded_ms')
if redis.call('HINCRBY', KEYS[3], 'pulls_open', -1) < 0 then redis.call('HSET', KEYS[3], 'pulls_open', 0) end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'at', ARGV[2], 'station', ARGV[1],
  'action', 'pull', 'wave', redis.call('HGET', KEYS[1], 'wave') or '',
  'parcel', string.match(KEYS[1], '}:p:(.+)$'))
return 'pulled'
