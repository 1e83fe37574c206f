-- A put-back done: units picked for orders cancelled since (`b:SKU`) are back on the shelf.
-- Counted once per put-back id; never more than is open.
-- KEYS[1] wave hash, KEYS[2] the wave's op-id set, KEYS[3] the site's audit stream
-- ARGV[1] put-back id, ARGV[2] sku, ARGV[3] qty, ARGV[4] station, ARGV[5] now ms,
-- ARGV[6] audit max length, ARGV[7] wave id
-- Returns {code, still open}: 'ok' | 'dup' | 'over' | 'unknown_sku' | 'no_wave'
if redis.call('EXISTS', KEYS[1]) == 0 then return {'no_wave', 0} end
local sku, qty = ARGV[2], tonumber(ARGV[3])
local open = tonumber(redis.call('HGET', KEYS[1], 'b:' .. sku) or '-1')
if open < 0 and redis.call('HEXISTS', KEYS[1], 'q:' .. sku) == 0 then return {'unknown_sku', 0} end
if open < 0 then open = 0 end
if redis.call('SISMEMBER', KEYS[2], 'b:' .. ARGV[1]) == 1 then return {'dup', open} end
if qty > open then return {'over', open} end
redis.call('SADD', KEYS[2], 'b:' .. ARGV[1])
open = redis.call('HINCRBY', KEYS[1], 'b:' .. sku, -qty)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'at', ARGV[5], 'station', ARGV[4],
  'action', 'put_back', 'wave', ARGV[7], 'sku', sku, 'qty', qty,
  'id', ARGV[1])
return {'ok', open}
