-- Hand a shipment over to the driver, all or nothing: refused while any ship-able parcel
-- is neither loaded nor left behind with a reason; else loaded parcels (and their orders)
-- become handed_over, left-behind ones keep their reason, the shipment is handed_over.
-- A parcel left behind (ship-able, with a reason) goes on with its carrier's next pickup:
-- it leaves this shipment's list for that shipment's (made if new, re-opened if it was
-- fully booked), its document naming that shipment and pickup.
-- KEYS[1] shipment hash, KEYS[2] its parcel list (ids, each followed by a newline), KEYS[3]
-- its parcel set (as builds before the list wrote it), then per parcel: its hash, then its
-- n order hashes, then its wave's hash, then its orders' n session hashes (in order), then
-- (a parcel that moves on) the next shipment's hash, list and day index
-- ARGV[1] now ms, ARGV[2] p parcels, then per parcel 10: parcel id, n orders, reason ('':
-- none), then for a move ('' otherwise): its new document, the next shipment's id, carrier,
-- service, pickup ms, pickup date, and the parcel's `ver` that document was made from (a
-- parcel changed since, or a next shipment handed over meanwhile: 'stale', nothing written)
-- Returns {'ok', handed over count, left-behind parcel id…} (those listed with a reason
-- that still ship: one that no longer ships is not left behind, nor named so)
-- | {'dup', handed over count, left-behind parcel id…}
-- (a repeat: the first hand-over's answer, as the shipment hash recorded it; '' for the count
-- of a shipment handed over by builds before the thirty-eighth session, which recorded none)
-- | {'missing', parcel id…} | {'loaded', parcel id…} (nothing missing, but parcels listed
-- as left behind were scanned onto the truck: the answer names them rather than take them
-- off the truck's record) | {'pull', parcel id…} (nothing missing, but parcels that no
-- longer ship are still on the truck: scanned onto it, not yet confirmed pulled off)
-- | {'repack', parcel id…} (nothing missing, but parcels to go
-- hold an order cancelled meanwhile, whose repack has not replaced them yet) | {'stale', 0}
-- ('stale': the shipment's parcels changed since the caller read them: their number, the
-- distinct ids of the list and the set together, as store/shipments.rs reads them, is not p;
-- shipments.rs leaves out a line that is not UTF-8, which is never written: ids are ASCII).
if redis.call('HGET', KEYS[1], 'status') == 'handed_over' then
  local h = redis.call('HMGET', KEYS[1], 'handed_count', 'left_ids')
  local out = {'dup', h[1] or ''}
  for id in string.gmatch(h[2] or '', '[^\n]+') do out[#out + 1] = id end
  return out
end
local p = tonumber(ARGV[2])
local listed = redis.call('SCARD', KEYS[3])
local in_set = listed > 0
local seen = {}
for id in string.gmatch(redis.call('GET', KEYS[2]) or '', '[^\n]+') do
  if not seen[id] then
    seen[id] = true
    if not (in_set and redis.call('SISMEMBER', KEYS[3], id) == 1) then listed = listed + 1 end
  end
end
if listed ~= p then return {'stale', 0} end
-- Goes on the truck (shipping/handover.rs `shipable`): not cancelled, replaced, pulled,
-- cancelled or rejected by the carrier.
local function ships(key)
  local h = redis.call('HMGET', key, 'status', 'pull', 'cstatus', 'book_state', 'tracking')
  if not h[1] then return false end
  return h[1] ~= 'cancelled' and h[1] ~= 'replaced' and not h[2]
    and h[3] ~= 'cancelled_by_carrier' and not (h[4] == 'rejected' and not h[5])
end
-- The keys of parcel `a`'s entry after its hash, orders and wave (3 when it moves on).
local function more(a)
  if ARGV[a + 3] ~= '' then return 3 end
  return 0
end
local missing = {}
-- Ship-able parcels listed with a reason but scanned onto the truck.
local loaded_left = {}
-- Parcels on the truck that must not leave with it (replaced, cancelled, flagged pull): a
-- station confirms each pulled off (`pulled.lua` clears `loaded`) before the truck goes.
local on_truck = {}
-- Parcels going on the truck that hold an order cancelled since they were waved: the
-- planner's repack (which replaces the parcel) has not run yet; nothing may leave with them.
local repack = {}
local k, a = 4, 3
for _ = 1, p do
  local id, n, reason = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2]
  local ship = ships(KEYS[k])
  if not ship and redis.call('HGET', KEYS[k], 'loaded') == '1' then
    on_truck[#on_truck + 1] = id
  end
  if ship and reason == '' then
    if redis.call('HGET', KEYS[k], 'loaded') ~= '1' then missing[#missing + 1] = id end
    for i = k + 1, k + n do
      if redis.call('HGET', KEYS[i], 'st') == 'cancelled' then
        repack[#repack + 1] = id
        break
      end
    end
  end
  if ship and reason ~= '' and redis.call('HGET', KEYS[k], 'loaded') == '1' then
    loaded_left[#loaded_left + 1] = id
  end
  if more(a) > 0 and ship and reason ~= '' then
    if (redis.call('HGET', KEYS[k], 'ver') or '0') ~= ARGV[a + 9]
        or redis.call('HGET', KEYS[k + 2 + 2 * n], 'status') == 'handed_over' then
      return {'stale', 0}
    end
  end
  k, a = k + 2 + 2 * n + more(a), a + 10
end
if #missing > 0 then
  table.insert(missing, 1, 'missing')
  return missing
end
if #loaded_left > 0 then
  table.insert(loaded_left, 1, 'loaded')
  return loaded_left
end
if #on_truck > 0 then
  table.insert(on_truck, 1, 'pull')
  return on_truck
end
if #repack > 0 then
  table.insert(repack, 1, 'repack')
  return repack
end
local rank = { booked = 1, handed_over = 2, delivered = 3, returned = 3, cancelled_by_carrier = 3 }
local moved = 0
local gone = {}
-- The parcels listed with a reason, for a repeat's answer.
local left = {}
k, a = 4, 3
for _ = 1, p do
  local id, n, reason = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2]
  local key = KEYS[k]
  if ships(key) then
    if reason ~= '' then left[#left + 1] = id end
    if reason ~= '' then
      redis.call('HSET', key, 'left_behind', reason, 'left_behind_ms', ARGV[1])
      if ARGV[a + 3] ~= '' then
        local sk, list, day = KEYS[k + 2 + 2 * n], KEYS[k + 3 + 2 * n], KEYS[k + 4 + 2 * n]
        local sid, pickup = ARGV[a + 4], ARGV[a + 7]
        redis.call('HSET', key, 'data', ARGV[a + 3])
        redis.call('HINCRBY', key, 'ver', 1)
        redis.call('HDEL', key, 'loaded')
        -- (`sh`: the shipment as builds before issue 20's fifteenth session named it)
        if redis.call('HEXISTS', key, 'sh') == 1 then redis.call('HSET', key, 'sh', sid) end
        if redis.call('HSETNX', sk, 'status', 'open') == 1 then
          redis.call('HSET', sk, 'carrier', ARGV[a + 5], 'service', ARGV[a + 6],
            'pickup_ms', pickup, 'date', ARGV[a + 8])
        elseif redis.call('HGET', sk, 'status') == 'booked'
            and not redis.call('HGET', key, 'tracking') then
          redis.call('HSET', sk, 'status', 'open')
        end
        redis.call('APPEND', list, id .. '\n')
        redis.call('ZADD', day, pickup, sid)
        gone[id] = true
      end
    elseif (rank[redis.call('HGET', key, 'cstatus') or ''] or 0) < 2 then
      redis.call('HSET', key, 'cstatus', 'handed_over', 'handed_over_ms', ARGV[1])
      moved = moved + 1
      -- Loaded but never marked packed: it left in a box, so its wave counts it packed (its
      -- wave would otherwise stay `packing`, and the parcel at risk, for good), and its
      -- orders' sessions count them packed (as packed.lua would have).
      local wave = KEYS[k + 1 + n]
      if redis.call('HGET', key, 'status') == 'open' then
        redis.call('HSET', key, 'status', 'packed', 'packed_ms', ARGV[1])
        for i = 1, n do
          local st = redis.call('HGET', KEYS[k + i], 'st')
          if st == 'waved' or st == 'picked' then
            redis.call('HINCRBY', KEYS[k + 1 + n + i], 'packed', 1)
          end
        end
        if redis.call('EXISTS', wave) == 1 then
          local packed = redis.call('HINCRBY', wave, 'parcels_packed', 1)
          local w = redis.call('HMGET', wave, 'parcel_count', 'qty_total', 'qty_picked')
          if packed >= tonumber(w[1] or '0')
              and tonumber(w[3] or '0') >= tonumber(w[2] or '0') then
            redis.call('HSET', wave, 'status', 'done')
          end
        end
      end
      for i = k + 1, k + n do
        local st = redis.call('HGET', KEYS[i], 'st')
        if st and st ~= 'cancelled' then redis.call('HSET', KEYS[i], 'st', 'handed_over') end
      end
    end
  end
  k, a = k + 2 + 2 * n + more(a), a + 10
end
-- The parcels that moved on leave this shipment's list (and set).
if next(gone) then
  local kept = {}
  for id in string.gmatch(redis.call('GET', KEYS[2]) or '', '[^\n]+') do
    if not gone[id] then kept[#kept + 1] = id .. '\n' end
  end
  if #kept > 0 then
    redis.call('SET', KEYS[2], table.concat(kept))
  else
    redis.call('DEL', KEYS[2])
  end
  for id in pairs(gone) do redis.call('SREM', KEYS[3], id) end
end
redis.call('HSET', KEYS[1], 'status', 'handed_over', 'handed_over_ms', ARGV[1],
  'handed_count', moved, 'left_ids', table.concat(left, '\n'))
local out = {'ok', moved}
for _, id in ipairs(left) do out[#out + 1] = id end
return out
