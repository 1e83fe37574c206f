-- Take a cancelled order out of its wave, atomically. Its lines leave the pick list (units
-- picked beyond the new total are to be put back, `b:SKU`; of a box to pull, also counted
-- on the parcel, `pb:SKU`). Then, by its parcel's state:
-- * open, not booked (no tracking code, no booking in flight, no create call sent whose
--   answer never came) and not scanned onto the truck:
--   the parcel loses the order (the caller computed its JSON from version ARGV[2]); empty →
--   `cancelled`.
-- * packed, booked, or loaded (a box on the truck that no station marked packed): the parcel becomes `replaced` (`replaced_by`) and its surviving orders
--   go into a NEW open parcel ARGV[5] (`replaces`), same wave (inserted after it in the pack
--   list), same shipment; the orders' `p` moves to it, packed ones go back to `picked`
--   (to be repacked). No survivor → the parcel is `cancelled`. Either way it is flagged
--   `pull` and queued for the carrier canceller (which cancels a booked carrier order, or
--   drops the entry when the parcel never got a tracking code).
-- Idempotent: an order already taken out answers 'done'.
-- KEYS[1] wave hash, KEYS[2] parcel hash, KEYS[3] order hash, KEYS[4] its session hash,
-- KEYS[5] the parcel's booking lock, KEYS[6] new parcel hash (KEYS[2] again when none yet),
-- KEYS[7] shipment hash, KEYS[8] shipment parcel list (KEYS[1] twice when no shipment),
-- KEYS[9] the site's carrier-cancel queue (zset), then n surviving order hashes, then their
-- n session hashes
-- ARGV[1] order id, ARGV[2] parcel version the JSONs were computed from, ARGV[3] wave
-- version, ARGV[4] the parcel's JSON without the order ('' when none is left), ARGV[5] new
-- parcel id ('' → answers 'need_id' when a repack needs one), ARGV[6] new parcel JSON,
-- ARGV[7] wave JSON with the new parcel listed, ARGV[8] now ms, ARGV[9] shipment id ('' none),
-- ARGV[10] n, ARGV[11] k, then k × (sku, qty), then m and m × (sku, qty): every line of the
-- parcel (a packed parcel's units leave the wave's packed-unit counters `k:SKU`)
-- Returns 'removed' | 'replaced' | 'cancelled' | 'need_id' | 'done' | 'retry' | 'not_waved'
if redis.call('HGET', KEYS[3], 'unwaved') then return 'done' end
-- A parcel's id is its key's last part (`lp:{site}:p:{id}`, keys.rs); no field repeats it.
local parcel_id = string.match(KEYS[2], '}:p:(.+)$')
local st = redis.call('HGET', KEYS[3], 'st')
local prev = redis.call('HGET', KEYS[3], 'prev_st')
if st ~= 'cancelled' or not (prev == 'waved' or prev == 'picked' or prev == 'packed' or prev == 'booked') then
  return 'not_waved'
end
local pstatus = redis.call('HGET', KEYS[2], 'status')
if not pstatus then return 'not_waved' end
if pstatus == 'replaced' or pstatus == 'cancelled' then
  -- Already taken care of with its parcel.
  redis.call('HSET', KEYS[3], 'unwaved', 1)
  return 'done'
end
if (redis.call('HGET', KEYS[2], 'ver') or '0') ~= ARGV[2] then return 'retry' end
local tracking = redis.call('HGET', KEYS[2], 'tracking')
-- A create call was sent and its answer never came (`book_sent`, no code, not rejected):
-- the carrier may hold an order under this parcel's id, with its content: booked as far as
-- a repack goes (the canceller asks the carrier for it, shipping/cancel.rs).
local sent = redis.call('HEXISTS', KEYS[2], 'book_sent') == 1
  and redis.call('HGET', KEYS[2], 'book_state') ~= 'rejected'
local booking = tracking or redis.call('EXISTS', KEYS[5]) == 1 or sent
-- A box is made: marked packed, or scanned onto the truck without that.
local boxed = pstatus ~= 'open' or redis.call('HGET', KEYS[2], 'loaded') == '1'
local repack = boxed or booking
local survivors = ARGV[4] ~= ''
if repack and survivors then
  if ARGV[5] == '' then return 'need_id' end
  if (redis.call('HGET', KEYS[1], 'ver') or '0') ~= ARGV[3] then return 'retry' end
  -- The id is taken (it must never overwrite a parcel): the caller draws another.
  if redis.call('EXISTS', KEYS[6]) == 1 then return 'need_id' end
end

-- The pick list: the cancelled order's units leave it.
local n, k = tonumber(ARGV[10]), tonumber(ARGV[11])
-- A box to pull: per SKU of it, its units `q`, the cancelled order's `c`, and the wave's
-- picked (`p:`) and packed (`k:`) counters before this cancel (for `px:` below).
local box = {}
if repack and boxed then
  local m = tonumber(ARGV[12 + 2 * k] or '0')
  for j = 0, m - 1 do
    local sku, q = ARGV[13 + 2 * k + 2 * j], tonumber(ARGV[14 + 2 * k + 2 * j])
    if box[sku] then
      box[sku].q = box[sku].q + q
    else
      box[sku] = { q = q, c = 0,
        p = tonumber(redis.call('HGET', KEYS[1], 'p:' .. sku) or '0'),
        k = tonumber(redis.call('HGET', KEYS[1], 'k:' .. sku) or '0') }
    end
  end
  for j = 0, k - 1 do
    local b = box[ARGV[12 + 2 * j]]
    if b then b.c = b.c + tonumber(ARGV[13 + 2 * j]) end
  end
end
for j = 0, k - 1 do
  local sku, qty = ARGV[12 + 2 * j], tonumber(ARGV[13 + 2 * j])
  local total = redis.call('HINCRBY', KEYS[1], 'q:' .. sku, -qty)
  redis.call('HINCRBY', KEYS[1], 'qty_total', -qty)
  local picked = tonumber(redis.call('HGET', KEYS[1], 'p:' .. sku) or '0')
  if picked > total then
    redis.call('HINCRBY', KEYS[1], 'b:' .. sku, picked - total)
    redis.call('HSET', KEYS[1], 'p:' .. sku, total)
    redis.call('HINCRBY', KEYS[1], 'qty_picked', total - picked)
    -- A box to pull: the units its put-back card sends to the shelf (`pb:SKU`), which its
    -- pull card then leaves out (`px:` below; http/waves.rs: each unit asked back once).
    -- An open parcel that replaced a box (its units still in that box until it is
    -- repacked): counted on it (`pbr:SKU`), for the pull card of a box replaced by builds
    -- before `px:`.
    local back = math.min(qty, picked - total)
    if repack then
      redis.call('HINCRBY', KEYS[2], 'pb:' .. sku, back)
    elseif redis.call('HEXISTS', KEYS[2], 'replaces') == 1 then
      redis.call('HINCRBY', KEYS[2], 'pbr:' .. sku, back)
    end
  end
end
redis.call('HINCRBY', KEYS[1], 'order_count', -1)
redis.call('HINCRBY', KEYS[4], 'waved', -1)
if prev == 'packed' or prev == 'booked' then redis.call('HINCRBY', KEYS[4], 'packed', -1) end
redis.call('HSET', KEYS[3], 'unwaved', 1)
redis.call('HINCRBY', KEYS[2], 'ver', 1)

local out
if not repack then
  if survivors then
    redis.call('HSET', KEYS[2], 'data', ARGV[4])
  else
    redis.call('HSET', KEYS[2], 'status', 'cancelled', 'cancelled_ms', ARGV[8])
    redis.call('HINCRBY', KEYS[1], 'parcel_count', -1)
  end
  out = 'removed'
else
  if pstatus == 'packed' then
    redis.call('HINCRBY', KEYS[1], 'parcels_packed', -1)
    local m = tonumber(ARGV[12 + 2 * k] or '0')
    for j = 0, m - 1 do
      local sku = ARGV[13 + 2 * k + 2 * j]
      local left = redis.call('HINCRBY', KEYS[1], 'k:' .. sku, -tonumber(ARGV[14 + 2 * k + 2 * j]))
      if left < 0 then redis.call('HSET', KEYS[1], 'k:' .. sku, 0) end
    end
  end
  redis.call('HSET', KEYS[2], 'pull', 1)
  -- Booked but never packed (nor loaded): no box, so its pull card asks back no unit.
  if not boxed then redis.call('HSET', KEYS[2], 'pull_empty', 1) end
  -- Where a box's units go once it is pulled (`px:SKU`: its pull card's units to the
  -- shelf). Its put-back cards send `pb:` back. Of the rest, the table must end up with
  -- what the wave counts picked and not packed (`p:` − `k:`, now) and what the replacement
  -- needs (its units, picked or not): the table held `p:` − `k:` before (less this box's
  -- units when it was never marked packed: they were in it, on the truck; a box packed
  -- without picks while picked units lay on the table makes that an undercount), so what
  -- this box adds beyond that goes to the shelf. (Before, a pull card sent every unit the
  -- replacement did not keep to the shelf, also those the wave still counted picked for
  -- its other parcels.)
  for sku, b in pairs(box) do
    local pb = tonumber(redis.call('HGET', KEYS[2], 'pb:' .. sku) or '0')
    local before = b.p - b.k
    if pstatus ~= 'packed' then before = before - b.q end
    if before < 0 then before = 0 end
    local after = tonumber(redis.call('HGET', KEYS[1], 'p:' .. sku) or '0')
      - tonumber(redis.call('HGET', KEYS[1], 'k:' .. sku) or '0')
    if after < 0 then after = 0 end
    local kept = 0
    if survivors then kept = b.q - b.c end
    if kept < after then kept = after end
    local free = b.q - pb
    local shelf = before + free - kept
    if shelf > free then shelf = free end
    if shelf < 0 then shelf = 0 end
    redis.call('HSET', KEYS[2], 'px:' .. sku, shelf)
    -- Units now on the table beyond what the wave counts picked (boxed without a pick:
    -- packed anyway, or scanned onto the truck unpacked, and kept for the replacement):
    -- they count as picked from now on, so the pick list does not send anyone for them.
    local on_table = before + free - shelf
    local room = tonumber(redis.call('HGET', KEYS[1], 'q:' .. sku) or '0')
      - tonumber(redis.call('HGET', KEYS[1], 'p:' .. sku) or '0')
    local raise = math.min(on_table - after, room)
    if raise > 0 then
      redis.call('HINCRBY', KEYS[1], 'p:' .. sku, raise)
      redis.call('HINCRBY', KEYS[1], 'qty_picked', raise)
    end
  end
  if boxed then redis.call('HSET', KEYS[2], 'px', 1) end
  redis.call('HINCRBY', KEYS[1], 'pulls_open', 1)
  redis.call('HINCRBY', KEYS[2], 'pull_count', 1)
  if survivors then
    local new_id = ARGV[5]
    redis.call('HSET', KEYS[2], 'status', 'replaced', 'replaced_by', new_id, 'replaced_ms', ARGV[8])
    redis.call('HSET', KEYS[6], 'wave', redis.call('HGET', KEYS[2], 'wave'),
      'status', 'open', 'ver', 1, 'data', ARGV[6], 'replaces', parcel_id,
      'created_ms', ARGV[8])
    redis.call('HSET', KEYS[1], 'data', ARGV[7])
    redis.call('HINCRBY', KEYS[1], 'ver', 1)
    if ARGV[9] ~= '' then
      redis.call('APPEND', KEYS[8], new_id .. '\n')
      -- A new parcel to book: the shipment is not fully booked any more.
      if redis.call('HGET', KEYS[7], 'status') == 'booked' then
        redis.call('HSET', KEYS[7], 'status', 'open')
      end
    end
    for i = 0, n - 1 do
      local o = KEYS[10 + i]
      redis.call('HSET', o, 'p', new_id)
      local ost = redis.call('HGET', o, 'st')
      if ost == 'packed' or ost == 'booked' then
        redis.call('HSET', o, 'st', 'picked')
        redis.call('HINCRBY', KEYS[10 + n + i], 'packed', -1)
      end
    end
    out = 'replaced'
  else
    redis.call('HSET', KEYS[2], 'status', 'cancelled', 'cancelled_ms', ARGV[8])
    redis.call('HINCRBY', KEYS[1], 'parcel_count', -1)
    out = 'cancelled'
  end
  -- The carrier canceller looks at every parcel that left the floor after packing or
  -- booking: a booked carrier order is cancelled; one whose answer was lost is asked of the
  -- carrier, then cancelled; none (ever) → the entry is dropped.
  if tracking then redis.call('HSET', KEYS[2], 'cancel_state', 'pending') end
  redis.call('ZADD', KEYS[9], ARGV[8], parcel_id)
end

-- The wave's status follows its counts (a repack reopens a finished wave).
local h = redis.call('HMGET', KEYS[1], 'status', 'qty_total', 'qty_picked', 'parcel_count', 'parcels_packed')
if h[1] == 'picking' and tonumber(h[3]) >= tonumber(h[2]) then
  redis.call('HSET', KEYS[1], 'status', 'packing')
  h[1] = 'packing'
end
if h[1] == 'packing' and tonumber(h[5]) >= tonumber(h[4]) then
  redis.call('HSET', KEYS[1], 'status', 'done')
elseif h[1] == 'done' and tonumber(h[5]) < tonumber(h[4]) then
  redis.call('HSET', KEYS[1], 'status', 'packing')
end
return out
