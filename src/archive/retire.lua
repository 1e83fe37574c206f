-- Archived orders: mark each one and let it, and the keys only finished orders still need,
-- expire after the hot period (the purge of the buyer's name, phone and address).
-- KEYS: per order, its hash then its k related keys (parcel, wave, pick ids, shipment, the
-- shipment's parcel set, session, the day's wave and shipment indexes)
-- ARGV[1] archived at (ms), then per order: k, expire at (ms)
-- A related key's expiry only ever moves later (another order may need it longer).
-- Returns the number of orders marked.
local now = ARGV[1]
local ki, ai, done = 1, 2, 0
while ai < #ARGV do
  local k, at = tonumber(ARGV[ai]), ARGV[ai + 1]
  ai = ai + 2
  local order = KEYS[ki]
  if redis.call('EXISTS', order) == 1 then
    redis.call('HSET', order, 'ar', now)
    redis.call('PEXPIREAT', order, at)
    done = done + 1
  end
  for j = ki + 1, ki + k do
    if redis.call('PEXPIREAT', KEYS[j], at, 'NX') == 0 then
      redis.call('PEXPIREAT', KEYS[j], at, 'GT')
    end
  end
  ki = ki + 1 + k
end
return done
