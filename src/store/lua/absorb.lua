-- Move newly stored orders into the site's pending set, then ack their stream entries.
-- An order enters pending only while its status is still 'received' and it is not there
-- already, so a redelivered entry never brings back an order that was waved or cancelled.
-- KEYS[1] pending hash, KEYS[2] site stream, KEYS[3..] order hashes
-- ARGV[1] group, ARGV[2] n entry ids, ARGV[3..2+n] entry ids,
-- then per order key: pending field, pending JSON
-- Returns the number of orders added.
local n_ids = tonumber(ARGV[2])
local added = 0
local a = 3 + n_ids
for i = 3, #KEYS do
  local field, json = ARGV[a], ARGV[a + 1]
  a = a + 2
  if redis.call('HGET', KEYS[i], 'st') == 'received' then
    added = added + redis.call('HSETNX', KEYS[1], field, json)
  end
end
if n_ids > 0 then
  redis.call('XACK', KEYS[2], ARGV[1], unpack(ARGV, 3, 2 + n_ids))
end
return added
