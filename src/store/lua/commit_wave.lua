-- Commit one wave atomically: every order moves from pending into this wave, or nothing
-- happens. A planner whose fencing token is stale (another instance took the site over)
-- is refused, and so is a commit whose wave or any parcel id exists already ('exists').
-- KEYS[1] pending, KEYS[2] fence, KEYS[3] wave hash, KEYS[4] day index (zset),
-- KEYS[5 .. 4+n] order hashes, then m parcel hashes, then n session hashes, then n
-- session risk sets (zset, keys.rs `session_risk`), then per shipment s: its hash, its
-- parcel set and its pickup day's shipments
-- ARGV[1] fence token, ARGV[2] wave id, ARGV[3] released ms, ARGV[4] n, ARGV[5] m,
-- ARGV[6] wave doc JSON, ARGV[7] pickup ms, ARGV[8] qty total, ARGV[9] k skus,
-- then k × (sku, qty), then n × (pending field, parcel id), then m × (parcel id, parcel JSON),
-- then s, then s × (shipment id, carrier, service, pickup ms, pickup date), then m × the
-- parcel's shipment (1-based index, 0 none), then n × (risk-from ms, order id). An order
-- joins its parcel's shipment.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 'fenced' end
if redis.call('EXISTS', KEYS[3]) == 1 then return 'exists' end
local n, m, k = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[9])
-- Never overwrite a parcel (ids are readable and counted per day): refuse the whole
-- commit; the planner replans with fresh numbers.
for j = 0, m - 1 do
  if redis.call('EXISTS', KEYS[5 + n + j]) == 1 then return 'exists' end
end
local a_orders = 10 + 2 * k
for i = 0, n - 1 do
  if redis.call('HEXISTS', KEYS[1], ARGV[a_orders + 2 * i]) == 0 then return 'stale' end
end
local wave_id = ARGV[2]
redis.call('HSET', KEYS[3], 'data', ARGV[6], 'status', 'picking', 'released_ms', ARGV[3],
  'pickup_ms', ARGV[7], 'order_count', n, 'parcel_count', m, 'qty_total', ARGV[8],
  'qty_picked', 0, 'parcels_packed', 0, 'ver', 1)
for j = 0, k - 1 do
  redis.call('HSET', KEYS[3], 'q:' .. ARGV[10 + 2 * j], ARGV[11 + 2 * j])
end
for i = 0, n - 1 do
  local field, parcel = ARGV[a_orders + 2 * i], ARGV[a_orders + 2 * i + 1]
  redis.call('HDEL', KEYS[1], field)
  redis.call('HSET', KEYS[5 + i], 'st', 'waved', 'w', wave_id, 'p', parcel)
  redis.call('HINCRBY', KEYS[5 + n + m + i], 'waved', 1)
end
local a_parcels = a_orders + 2 * n
local a_ship = a_parcels + 2 * m
local s = tonumber(ARGV[a_ship])
local a_idx = a_ship + 1 + 5 * s
local k_ship = 5 + 3 * n + m
local ship_of = {}
for j = 0, m - 1 do
  local pid = ARGV[a_parcels + 2 * j]
  redis.call('HSET', KEYS[5 + n + j], 'id', pid, 'wave', wave_id,
    'status', 'open', 'ver', 1, 'data', ARGV[a_parcels + 2 * j + 1])
  local x = tonumber(ARGV[a_idx + j])
  if x > 0 then
    local ship = ARGV[a_ship + 1 + 5 * (x - 1)]
    ship_of[pid] = ship
    redis.call('HSET', KEYS[5 + n + j], 'sh', ship)
    redis.call('SADD', KEYS[k_ship + 3 * (x - 1) + 1], pid)
  end
end
for x = 1, s do
  local b = a_ship + 1 + 5 * (x - 1)
  local sk = KEYS[k_ship + 3 * (x - 1)]
  if redis.call('HSETNX', sk, 'status', 'open') == 1 then
    redis.call('HSET', sk, 'carrier', ARGV[b + 1], 'service', ARGV[b + 2],
      'pickup_ms', ARGV[b + 3], 'date', ARGV[b + 4])
  end
  redis.call('ZADD', KEYS[k_ship + 3 * (x - 1) + 2], ARGV[b + 3], ARGV[b])
end
for i = 0, n - 1 do
  local ship = ship_of[ARGV[a_orders + 2 * i + 1]]
  if ship then
    redis.call('HSET', KEYS[5 + i], 'sh', ship)
  end
end
local a_risk = a_idx + m
for i = 0, n - 1 do
  redis.call('ZADD', KEYS[5 + 2 * n + m + i], ARGV[a_risk + 2 * i], ARGV[a_risk + 2 * i + 1])
end
redis.call('ZADD', KEYS[4], ARGV[3], wave_id)
return 'ok'
