-- Count a pick once (by the tablet's pick id); refuse picking more than the wave needs.
-- KEYS[1] wave hash, KEYS[2] wave pick-id set, KEYS[3..] the wave's order hashes
-- ARGV[1] pick id, ARGV[2] sku, ARGV[3] qty, ARGV[4] station name, ARGV[5] now ms
-- A counted pick marks the wave started (`started_ms`, once) and worked by that station.
-- Returns {code, picked, total}: code 'ok' | 'dup' | 'over' | 'unknown_sku' | 'no_wave'
if redis.call('EXISTS', KEYS[1]) == 0 then return {'no_wave', 0, 0} end
local total = tonumber(redis.call('HGET', KEYS[1], 'q:' .. ARGV[2]) or '-1')
if total < 0 then return {'unknown_sku', 0, 0} end
local picked = tonumber(redis.call('HGET', KEYS[1], 'p:' .. ARGV[2]) or '0')
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return {'dup', picked, total} end
local qty = tonumber(ARGV[3])
if picked + qty > total then return {'over', picked, total} end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSETNX', KEYS[1], 'started_ms', ARGV[5])
redis.call('HSET', KEYS[1], 'station', ARGV[4])
picked = redis.call('HINCRBY', KEYS[1], 'p:' .. ARGV[2], qty)
local all = redis.call('HINCRBY', KEYS[1], 'qty_picked', qty)
if redis.call('HGET', KEYS[1], 'status') == 'picking'
   and all >= tonumber(redis.call('HGET', KEYS[1], 'qty_total')) then
  local h = redis.call('HMGET', KEYS[1], 'parcels_packed', 'parcel_count')
  if tonumber(h[1]) >= tonumber(h[2]) then
    redis.call('HSET', KEYS[1], 'status', 'done')
  else
    redis.call('HSET', KEYS[1], 'status', 'packing')
  end
  for i = 3, #KEYS do
    if redis.call('HGET', KEYS[i], 'st') == 'waved' then
      redis.call('HSET', KEYS[i], 'st', 'picked')
    end
  end
end
return {'ok', picked, total}
