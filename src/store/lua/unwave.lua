-- Take a cancelled order out of its wave: its lines leave the pick list (what was picked
-- beyond the new total is to be put back), it leaves its parcel (the caller computed the
-- parcel's new JSON from version ARGV[2]). A packed parcel is flagged to be pulled instead.
-- KEYS[1] wave hash, KEYS[2] parcel hash, KEYS[3] order hash, KEYS[4] session hash
-- ARGV[1] order id, ARGV[2] parcel version the JSON was computed from, ARGV[3] new parcel
-- JSON ('' when the parcel is now empty), ARGV[4] k, then k × (sku, qty)
-- Returns 'removed' | 'pull' | 'done' (already handled) | 'retry' (parcel changed) | 'not_waved'
if redis.call('HGET', KEYS[3], 'unwaved') then return 'done' end
local st = redis.call('HGET', KEYS[3], 'st')
local prev = redis.call('HGET', KEYS[3], 'prev_st')
if st ~= 'cancelled' or not (prev == 'waved' or prev == 'picked' or prev == 'packed' or prev == 'booked') then
  return 'not_waved'
end
local pstatus = redis.call('HGET', KEYS[2], 'status')
if pstatus ~= 'open' then
  redis.call('HSET', KEYS[2], 'pull', 1)
  redis.call('HINCRBY', KEYS[2], 'pull_count', 1)
  redis.call('HSET', KEYS[3], 'unwaved', 1)
  return 'pull'
end
if (redis.call('HGET', KEYS[2], 'ver') or '0') ~= ARGV[2] then return 'retry' end
local k = tonumber(ARGV[4])
for j = 0, k - 1 do
  local sku, qty = ARGV[5 + 2 * j], tonumber(ARGV[6 + 2 * j])
  local total = redis.call('HINCRBY', KEYS[1], 'q:' .. sku, -qty)
  redis.call('HINCRBY', KEYS[1], 'qty_total', -qty)
  local picked = tonumber(redis.call('HGET', KEYS[1], 'p:' .. sku) or '0')
  if picked > total then
    redis.call('HINCRBY', KEYS[1], 'b:' .. sku, picked - total)
    redis.call('HSET', KEYS[1], 'p:' .. sku, total)
    redis.call('HINCRBY', KEYS[1], 'qty_picked', total - picked)
  end
end
redis.call('HINCRBY', KEYS[1], 'order_count', -1)
if ARGV[3] == '' then
  redis.call('HSET', KEYS[2], 'status', 'cancelled')
  redis.call('HINCRBY', KEYS[1], 'parcel_count', -1)
else
  redis.call('HSET', KEYS[2], 'data', ARGV[3])
end
redis.call('HINCRBY', KEYS[2], 'ver', 1)
redis.call('HINCRBY', KEYS[4], 'waved', -1)
redis.call('HSET', KEYS[3], 'unwaved', 1)
-- The wave may be complete now.
local h = redis.call('HMGET', KEYS[1], 'status', 'qty_total', 'qty_picked', 'parcel_count', 'parcels_packed')
if h[1] == 'picking' and tonumber(h[3]) >= tonumber(h[2]) then
  redis.call('HSET', KEYS[1], 'status', 'packing')
  h[1] = 'packing'
end
if h[1] == 'packing' and tonumber(h[5]) >= tonumber(h[4]) then
  redis.call('HSET', KEYS[1], 'status', 'done')
end
return 'removed'
