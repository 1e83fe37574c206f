-- Record a parcel's booking (idempotent: a parcel is booked once; a second booking of the
-- same parcel returns the first tracking code).
-- KEYS[1] parcel hash, KEYS[2..] the parcel's order hashes
-- ARGV[1] tracking code, ARGV[2] fee ('' unknown), ARGV[3] now ms
-- Returns {'ok'|'dup', tracking}
local existing = redis.call('HGET', KEYS[1], 'tracking')
if existing then
  redis.call('HSET', KEYS[1], 'book_state', 'booked')
  return {'dup', existing}
end
redis.call('HSET', KEYS[1], 'tracking', ARGV[1], 'cstatus', 'booked', 'booked_ms', ARGV[3],
  'book_state', 'booked')
-- The successful attempt counts too (`booking.attempts`: every attempt made).
redis.call('HINCRBY', KEYS[1], 'book_attempts', 1)
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'fee', ARGV[2]) end
redis.call('HDEL', KEYS[1], 'book_error', 'next_try_ms')
for i = 2, #KEYS do
  if redis.call('HGET', KEYS[i], 'st') == 'packed' then
    redis.call('HSET', KEYS[i], 'st', 'booked')
  end
end
return {'ok', ARGV[1]}
