-- Record what a carrier reported about one parcel's money (a status webhook or a row of a
-- settlement file). Idempotent: the same report twice leaves the same hash; a status never
-- goes backwards (the caller passes the parcel's own carrier status, itself monotonic).
-- KEYS[1] cod hash, KEYS[2] the seller's statement index, KEYS[3] the carrier's unpaid index,
-- KEYS[4] the site's returns of the event's business day
-- ARGV[1] parcel id, ARGV[2] seller, ARGV[3] carrier, ARGV[4] tracking, ARGV[5] day
-- (YYYY-MM-DD), ARGV[6] day score, ARGV[7] expected COD, ARGV[8] parcel carrier status
-- ('' unknown), ARGV[9] event ms, ARGV[10] reported COD (''), ARGV[11] fee (''),
-- ARGV[12] transfer date (''), ARGV[13] partial return '1'|'', ARGV[14] settled amount (''),
-- ARGV[15] settled fee (''), ARGV[16] settled date (''), ARGV[17] keep ms,
-- ARGV[18] the parcel's order ids (space-separated), ARGV[19] '1' when the settled date is
-- the upload's (the file names none): then it does not replace a date already recorded
-- Returns the stored status ('' when none yet)
local h = KEYS[1]
redis.call('HSET', h, 'parcel', ARGV[1], 'seller', ARGV[2], 'carrier', ARGV[3],
  'tracking', ARGV[4], 'day', ARGV[5], 'expected', ARGV[7], 'orders', ARGV[18])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1])
local status = ARGV[8]
if status ~= '' then
  redis.call('HSET', h, 'status', status)
  if status == 'delivered' then redis.call('HSETNX', h, 'delivered_ms', ARGV[9]) end
  if status == 'returned' then
    if redis.call('HSETNX', h, 'returned_ms', ARGV[9]) == 1 then
      redis.call('SADD', KEYS[4], ARGV[1])
      redis.call('PEXPIRE', KEYS[4], ARGV[17])
    end
  end
end
if ARGV[10] ~= '' then redis.call('HSET', h, 'reported', ARGV[10]) end
if ARGV[11] ~= '' then redis.call('HSET', h, 'fee', ARGV[11]) end
if ARGV[12] ~= '' then redis.call('HSET', h, 'transfer_date', ARGV[12]) end
if ARGV[13] == '1' then
  redis.call('HSET', h, 'partial', '1')
  -- Part of it came back: listed with the day's returns for restocking (once).
  if redis.call('HSETNX', h, 'partial_ms', ARGV[9]) == 1 then
    redis.call('SADD', KEYS[4], ARGV[1])
    redis.call('PEXPIRE', KEYS[4], ARGV[17])
  end
end
if ARGV[14] ~= '' then redis.call('HSET', h, 'settled', ARGV[14]) end
if ARGV[15] ~= '' then redis.call('HSET', h, 'settled_fee', ARGV[15]) end
if ARGV[16] ~= '' then
  if ARGV[19] == '1' then
    redis.call('HSETNX', h, 'settled_date', ARGV[16])
  else
    redis.call('HSET', h, 'settled_date', ARGV[16])
  end
end
-- Delivered and not paid yet: watched by the overdue gauge until a transfer is known.
local st = redis.call('HGET', h, 'status')
local paid = redis.call('HEXISTS', h, 'settled') == 1 or redis.call('HEXISTS', h, 'transfer_date') == 1
local delivered_ms = redis.call('HGET', h, 'delivered_ms')
if st == 'delivered' and not paid and delivered_ms then
  redis.call('ZADD', KEYS[3], delivered_ms, ARGV[1])
else
  redis.call('ZREM', KEYS[3], ARGV[1])
end
redis.call('PEXPIRE', h, ARGV[17])
redis.call('PEXPIRE', KEYS[2], ARGV[17])
return st or ''
