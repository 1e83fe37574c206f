-- Commit one wave atomically: every order moves from pending into this wave, or nothing
-- happens. A planner whose fencing token is stale (another instance took the site over)
-- is refused, and so is a commit whose wave or any parcel id exists already ('exists'), or
-- one whose parcels would join a shipment already handed over ('departed').
-- KEYS[1] pending, KEYS[2] fence, KEYS[3] wave hash, KEYS[4] day index (zset),
-- KEYS[5 .. 4+n] order hashes, then m parcel hashes, then per session g of the wave's
-- orders: its hash and its risk log (a string, keys.rs `session_risk`), then per shipment
-- s: its hash, its parcel list (a string, keys.rs `shipment_parcels`) and its pickup day's
-- shipments
-- ARGV[1] fence token, ARGV[2] wave id, ARGV[3] released ms, ARGV[4] n, ARGV[5] m,
-- ARGV[6] wave doc JSON, ARGV[7] pickup ms, ARGV[8] qty total, ARGV[9] k skus,
-- then k × (sku, qty), then n × (pending field, parcel id), then m × (parcel id, parcel JSON),
-- then s, then s × (shipment id, carrier, service, pickup ms, pickup date), then m × the
-- parcel's shipment (1-based index, 0 none), then g, then g × (the session's orders in this
-- wave, its risk record), then r, then r × (note, ids) of the r parcels released before for
-- a buyer of this wave at the same pickup (their keys follow the shipments' in KEYS: their
-- hash field `sr` becomes the note, or gains `, ids` if it has one, and its `ver` grows by one;
-- planner/released.rs). An order names only its parcel (`p`): its wave
-- is the parcel's `wave`, its shipment the parcel document's; a parcel's id is its key's
-- last part (issue 20: no field repeats what another holds).
--
-- Cost (issue 20): a wave of 200 orders is a few hundred commands, not one per order per
-- step: the checks are one EXISTS over the parcels and one HMGET over pending; pending
-- loses its fields in one HDEL; sessions, risk logs and shipment parcel lists take one
-- command per distinct key. Each order and parcel is still one HSET. What can be worked
-- out before the call is (the sessions' counts and risk records: store/risk.rs `of_wave`):
-- an order is three arguments here, and a 200-order wave takes about a sixth less of
-- Redis' time than when the script grouped them itself (load-tests/bench-commit-script.py).
local CHUNK = 1000 -- (unpack's stack limit)
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 'fenced' end
if redis.call('EXISTS', KEYS[3]) == 1 then return 'exists' end
local n, m, k = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[9])

-- Calls `cmd key` with the items of `list` (a flat array) appended, `per` items at a time
-- (`per` even for pairs).
local function batched(cmd, key, list, per)
  local total = 0
  for i = 1, #list, per do
    total = total + redis.call(cmd, key, unpack(list, i, math.min(i + per - 1, #list)))
  end
  return total
end

-- Never overwrite a parcel (ids are readable and counted per day): refuse the whole
-- commit; the planner replans with fresh numbers.
for j = 0, m - 1, CHUNK do
  local last = math.min(j + CHUNK - 1, m - 1)
  if redis.call('EXISTS', unpack(KEYS, 5 + n + j, 5 + n + last)) > 0 then return 'exists' end
end
local a_orders = 10 + 2 * k
local fields = {}
for i = 0, n - 1 do fields[i + 1] = ARGV[a_orders + 2 * i] end
for i = 1, n, CHUNK do
  local got = redis.call('HMGET', KEYS[1], unpack(fields, i, math.min(i + CHUNK - 1, n)))
  for j = 1, #got do
    if not got[j] then return 'stale' end
  end
end

local a_parcels = a_orders + 2 * n
local a_ship = a_parcels + 2 * m
local s = tonumber(ARGV[a_ship])
local a_idx = a_ship + 1 + 5 * s
local a_risk = a_idx + m
local g = tonumber(ARGV[a_risk])
local k_ship = 5 + n + m + 2 * g
-- A shipment handed over (its truck left, perhaps before its pickup time) takes no more
-- parcels: they could never be loaded. The planner moves them to the carrier's next pickup.
for x = 1, s do
  if redis.call('HGET', KEYS[k_ship + 3 * (x - 1)], 'status') == 'handed_over' then
    return 'departed'
  end
end

local wave_id = ARGV[2]
redis.call('HSET', KEYS[3], 'data', ARGV[6], 'status', 'picking', 'released_ms', ARGV[3],
  'pickup_ms', ARGV[7], 'order_count', n, 'parcel_count', m, 'qty_total', ARGV[8],
  'qty_picked', 0, 'parcels_packed', 0, 'ver', 1)
local qty = {}
for j = 0, k - 1 do
  qty[#qty + 1] = 'q:' .. ARGV[10 + 2 * j]
  qty[#qty + 1] = ARGV[11 + 2 * j]
end
batched('HSET', KEYS[3], qty, CHUNK)
if n > 0 then batched('HDEL', KEYS[1], fields, CHUNK) end

-- Parcels, and the shipments they join.
local ship_parcels = {}
for j = 0, m - 1 do
  local pid = ARGV[a_parcels + 2 * j]
  local x = tonumber(ARGV[a_idx + j])
  if x > 0 then
    ship_parcels[x] = ship_parcels[x] or {}
    table.insert(ship_parcels[x], pid)
  end
  redis.call('HSET', KEYS[5 + n + j], 'wave', wave_id,
    'status', 'open', 'ver', '1', 'data', ARGV[a_parcels + 2 * j + 1])
end
for x = 1, s do
  local b = a_ship + 1 + 5 * (x - 1)
  local sk = KEYS[k_ship + 3 * (x - 1)]
  if redis.call('HSETNX', sk, 'status', 'open') == 1 then
    redis.call('HSET', sk, 'carrier', ARGV[b + 1], 'service', ARGV[b + 2],
      'pickup_ms', ARGV[b + 3], 'date', ARGV[b + 4])
  end
  -- The shipment's parcels: ids appended, each followed by a newline (an APPEND costs
  -- Redis about a quarter of the time of a set's SADD of the same ids).
  if ship_parcels[x] then
    redis.call('APPEND', KEYS[k_ship + 3 * (x - 1) + 1],
      table.concat(ship_parcels[x], '\n') .. '\n')
  end
  redis.call('ZADD', KEYS[k_ship + 3 * (x - 1) + 2], ARGV[b + 3], ARGV[b])
end

-- Orders, then per session its waved count and its risk record of this wave, appended to its
-- log: `wave|ms id,id…;ms id…` and a newline (store/risk.rs reads it). An APPEND costs Redis
-- less than the sorted-set member builds before issue 20's twenty-second session wrote
-- (load-tests/results/tail-2026-12-05-twentysecond.md).
for i = 0, n - 1 do
  redis.call('HSET', KEYS[5 + i], 'st', 'waved', 'p', ARGV[a_orders + 2 * i + 1])
end
for x = 0, g - 1 do
  local b = a_risk + 1 + 2 * x
  redis.call('HINCRBY', KEYS[5 + n + m + 2 * x], 'waved', ARGV[b])
  redis.call('APPEND', KEYS[6 + n + m + 2 * x], ARGV[b + 1])
end
-- Parcels released before for a buyer of this wave at the same pickup: why the buyer's
-- orders now span parcels (never creating a parcel that left Redis).
local a_marks = a_risk + 1 + 2 * g
local k_marks = k_ship + 3 * s
for x = 0, tonumber(ARGV[a_marks] or '0') - 1 do
  local key = KEYS[k_marks + x]
  if redis.call('EXISTS', key) == 1 then
    local old = redis.call('HGET', key, 'sr')
    local note = old and (old .. ', ' .. ARGV[a_marks + 2 + 2 * x]) or ARGV[a_marks + 1 + 2 * x]
    -- A new version: a repack computed from the parcel before its note is redone.
    redis.call('HSET', key, 'sr', note)
    redis.call('HINCRBY', key, 'ver', 1)
  end
end
redis.call('ZADD', KEYS[4], ARGV[3], wave_id)
return 'ok'
