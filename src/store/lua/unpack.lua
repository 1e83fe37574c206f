-- Undo a packed parcel (a wrong "packed"): back to 'open', its orders back to 'picked', the
-- wave and sessions count it no more, its units leave `k:SKU`. A parcel already booked
-- with the carrier (a tracking code) needs the supervisor's PIN, checked by the caller
-- (ARGV[5] = '1'). Handed-over, cancelled and replaced parcels cannot be unpacked.
-- KEYS[1] parcel hash, KEYS[2] wave hash, KEYS[3] the wave's op-id set, KEYS[4] the site's
-- audit stream, then n order hashes, then n session hashes
-- ARGV[1] n, ARGV[2] now ms, ARGV[3] unpack id ('' none), ARGV[4] station,
-- ARGV[5] supervisor ok '1'|'0', ARGV[6] audit max length, ARGV[7] m, m × (sku, qty)
-- Returns 'unpacked' | 'already_open' | 'duplicate' | 'cancelled' | 'replaced' |
-- 'handed_over' | 'need_pin' | 'no_parcel'
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'no_parcel' end
if ARGV[3] ~= '' and redis.call('SISMEMBER', KEYS[3], 'x:' .. ARGV[3]) == 1 then return 'duplicate' end
if status == 'cancelled' then return 'cancelled' end
if status == 'replaced' then return 'replaced' end
local cst = redis.call('HGET', KEYS[1], 'cstatus')
if cst == 'handed_over' or cst == 'delivered' or cst == 'returned' then return 'handed_over' end
if status == 'open' then return 'already_open' end
local booked = redis.call('HEXISTS', KEYS[1], 'tracking') == 1 or cst == 'booked'
if booked and ARGV[5] ~= '1' then return 'need_pin' end
local n, m = tonumber(ARGV[1]), tonumber(ARGV[7])
redis.call('HSET', KEYS[1], 'status', 'open', 'unpacked_ms', ARGV[2])
redis.call('HDEL', KEYS[1], 'packed_ms')
for i = 0, n - 1 do
  local st = redis.call('HGET', KEYS[5 + i], 'st')
  if st == 'packed' or st == 'booked' then
    redis.call('HSET', KEYS[5 + i], 'st', 'picked')
    redis.call('HINCRBY', KEYS[5 + n + i], 'packed', -1)
  end
end
for j = 0, m - 1 do
  local sku, qty = ARGV[8 + 2 * j], tonumber(ARGV[9 + 2 * j])
  local k = redis.call('HINCRBY', KEYS[2], 'k:' .. sku, -qty)
  if k < 0 then redis.call('HSET', KEYS[2], 'k:' .. sku, 0) end
end
local packed = redis.call('HINCRBY', KEYS[2], 'parcels_packed', -1)
if packed < 0 then redis.call('HSET', KEYS[2], 'parcels_packed', 0) end
local h = redis.call('HMGET', KEYS[2], 'status', 'qty_total', 'qty_picked')
if h[1] == 'done' then
  if tonumber(h[3]) >= tonumber(h[2]) then
    redis.call('HSET', KEYS[2], 'status', 'packing')
  else
    redis.call('HSET', KEYS[2], 'status', 'picking')
  end
end
if ARGV[3] ~= '' then redis.call('SADD', KEYS[3], 'x:' .. ARGV[3]) end
redis.call('HSET', KEYS[2], 'station', ARGV[4])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], '*', 'at', ARGV[2], 'station', ARGV[4],
  'action', 'unpack', 'wave', redis.call('HGET', KEYS[1], 'wave') or '',
  'parcel', string.match(KEYS[1], '}:p:(.+)$'), 'id', ARGV[3], 'booked', booked and '1' or '0')
return 'unpacked'
