-- Undo picked units of a SKU (a wrong tap): counted once per unpick id; never below zero,
-- never below the units already in packed parcels (`k:SKU`: unpack those first). A wave
-- that was fully picked goes back to 'picking' and its 'picked' orders back to 'waved'.
-- KEYS[1] wave hash, KEYS[2] the wave's op-id set, KEYS[3] the site's audit stream,
-- KEYS[4..] the wave's order hashes
-- ARGV[1] unpick id, ARGV[2] sku, ARGV[3] qty, ARGV[4] station, ARGV[5] now ms,
-- ARGV[6] audit max length, ARGV[7] wave id
-- Returns {code, picked, total}: 'ok' | 'dup' | 'over' | 'packed' | 'unknown_sku' | 'no_wave'
if redis.call('EXISTS', KEYS[1]) == 0 then return {'no_wave', 0, 0} end
local sku, qty = ARGV[2], tonumber(ARGV[3])
local total = tonumber(redis.call('HGET', KEYS[1], 'q:' .. sku) or '-1')
if total < 0 then return {'unknown_sku', 0, 0} end
local picked = tonumber(redis.call('HGET', KEYS[1], 'p:' .. sku) or '0')
if redis.call('SISMEMBER', KEYS[2], 'u:' .. ARGV[1]) == 1 then return {'dup', picked, total} end
if qty > picked then return {'over', picked, total} end
local packed = tonumber(redis.call('HGET', KEYS[1], 'k:' .. sku) or '0')
if picked - qty < packed then return {'packed', picked, total} end
redis.call('SADD', KEYS[2], 'u:' .. ARGV[1])
picked = redis.call('HINCRBY', KEYS[1], 'p:' .. sku, -qty)
local all = redis.call('HINCRBY', KEYS[1], 'qty_picked', -qty)
local st = redis.call('HGET', KEYS[1], 'status')
if (st == 'packing' or st == 'done') and all < tonumber(redis.call('HGET', KEYS[1], 'qty_total')) then
  redis.call('HSET', KEYS[1], 'status', 'picking')
  for i = 4, #KEYS do
    if redis.call('HGET', KEYS[i], 'st') == 'picked' then
      redis.call('HSET', KEYS[i], 'st', 'waved')
    end
  end
end
redis.call('HSET', KEYS[1], 'station', ARGV[4])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'at', ARGV[5], 'station', ARGV[4],
  'action', 'unpick', 'wave', ARGV[7], 'sku', sku, 'qty', qty,
  'id', ARGV[1])
return {'ok', picked, total}
