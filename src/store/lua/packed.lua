-- Mark a parcel packed (idempotent): its orders become 'packed', the wave counts it.
-- Packing is tied to picking: the wave's picked units not yet in packed parcels
-- (`p:SKU` − `k:SKU`) must cover the parcel's lines, unless the packer confirmed packing
-- anyway (ARGV[3] = '1', written to the audit stream). Packed units are counted in `k:SKU`.
-- KEYS[1] parcel hash, KEYS[2] wave hash, then n order hashes, then n session hashes, then
-- the site's audit stream
-- ARGV[1] n, ARGV[2] now ms, ARGV[3] confirm_unpicked '1'|'0', ARGV[4] station name,
-- ARGV[5] audit max length, ARGV[6] m, then m × (sku, qty): the parcel's lines, then the
-- parcel's `ver` the packer's view was read from ('' or absent: not checked)
-- Returns 'ok' | 'dup' | 'cancelled' | 'replaced' | 'no_parcel' | 'changed' (an order of it
-- cancelled since that view: the box holds what it no longer ships) |
-- 'unpicked' .. (TAB sku ':' need ':' available)…
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'no_parcel' end
if status == 'cancelled' then return 'cancelled' end
if status == 'replaced' then return 'replaced' end
if status ~= 'open' then return 'dup' end
local n = tonumber(ARGV[1])
local m = tonumber(ARGV[6])
local seen = ARGV[7 + 2 * m]
if seen and seen ~= '' and (redis.call('HGET', KEYS[1], 'ver') or '0') ~= seen then
  return 'changed'
end
local missing = ''
for j = 0, m - 1 do
  local sku, qty = ARGV[7 + 2 * j], tonumber(ARGV[8 + 2 * j])
  local avail = tonumber(redis.call('HGET', KEYS[2], 'p:' .. sku) or '0')
    - tonumber(redis.call('HGET', KEYS[2], 'k:' .. sku) or '0')
  if avail < qty then
    if avail < 0 then avail = 0 end
    missing = missing .. '\t' .. sku .. ':' .. qty .. ':' .. avail
  end
end
if missing ~= '' and ARGV[3] ~= '1' then return 'unpicked' .. missing end
redis.call('HSET', KEYS[1], 'status', 'packed', 'packed_ms', ARGV[2])
for j = 0, m - 1 do
  redis.call('HINCRBY', KEYS[2], 'k:' .. ARGV[7 + 2 * j], tonumber(ARGV[8 + 2 * j]))
end
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
redis.call('HSETNX', KEYS[2], 'started_ms', ARGV[2])
redis.call('HSET', KEYS[2], 'station', ARGV[4])
if missing ~= '' then
  redis.call('XADD', KEYS[3 + 2 * n], 'MAXLEN', '~', ARGV[5], '*', 'at', ARGV[2],
    'station', ARGV[4], 'action', 'pack_unpicked', 'wave', redis.call('HGET', KEYS[1], 'wave') or '',
    'parcel', string.match(KEYS[1], '}:p:(.+)$'))
end
local packed = redis.call('HINCRBY', KEYS[2], 'parcels_packed', 1)
local h = redis.call('HMGET', KEYS[2], 'status', 'parcel_count', 'qty_total', 'qty_picked')
if packed >= tonumber(h[2]) and tonumber(h[4]) >= tonumber(h[3]) then
  redis.call('HSET', KEYS[2], 'status', 'done')
end
return 'ok'
