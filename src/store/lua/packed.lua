-- Mark a parcel packed (idempotent): its orders become 'packed', the wave counts it.
-- KEYS[1] parcel hash, KEYS[2] wave hash, then n order hashes, then n session hashes
-- ARGV[1] n, ARGV[2] now ms
-- Returns 'ok' | 'dup' | 'cancelled' | 'replaced' | 'no_parcel'
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'no_parcel' end
if status == 'cancelled' then return 'cancelled' end
if status == 'replaced' then return 'replaced' end
if status ~= 'open' then return 'dup' end
redis.call('HSET', KEYS[1], 'status', 'packed', 'packed_ms', ARGV[2])
local n = tonumber(ARGV[1])
-- A parcel booked before it was packed: its orders go straight to 'booked'.
local next_st = 'packed'
if redis.call('HEXISTS', KEYS[1], 'tracking') == 1 then next_st = 'booked' end
for i = 0, n - 1 do
  local st = redis.call('HGET', KEYS[3 + i], 'st')
  if st == 'waved' or st == 'picked' then
    redis.call('HSET', KEYS[3 + i], 'st', next_st)
    redis.call('HINCRBY', KEYS[3 + n + i], 'packed', 1)
  end
end
local packed = redis.call('HINCRBY', KEYS[2], 'parcels_packed', 1)
local h = redis.call('HMGET', KEYS[2], 'status', 'parcel_count', 'qty_total', 'qty_picked')
if packed >= tonumber(h[2]) and tonumber(h[4]) >= tonumber(h[3]) then
  redis.call('HSET', KEYS[2], 'status', 'done')
end
return 'ok'
