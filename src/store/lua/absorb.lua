-- Move newly stored orders into the site's pending set, then ack their stream entries.
-- An order enters pending only while its status is still 'received' and it is not there
-- already, so a redelivered entry never brings back an order that was waved or cancelled.
-- The pending hash holds only the orders' names (value '1'): a planner that takes the site
-- over reads the orders themselves (issue 20: no second copy of each order in Redis).
-- A planner whose fencing token is stale (another instance took the site) is refused with a
-- FENCED error, and its entries stay unacked for the site's holder to claim.
-- KEYS[1] pending hash, KEYS[2] site stream, KEYS[3] fence, KEYS[4..] order hashes
-- ARGV[1] group, ARGV[2] fence token, ARGV[3] n entry ids, ARGV[4..3+n] entry ids,
-- then per order key: its pending field
-- Returns per order key 1 when the order is pending now (added, or there already), else 0
-- (no longer 'received': the planner read it earlier and must not plan it).
if redis.call('GET', KEYS[3]) ~= ARGV[2] then
  return redis.error_reply('FENCED this planner no longer holds the site')
end
local n_ids = tonumber(ARGV[3])
local pending = {}
-- The pending fields to set, as (field, '1') pairs: set with one HSET per 500 orders
-- rather than one HSETNX each (issue 20: each redis.call costs a few microseconds of its
-- own in the waving tail). A field already there gets the same '1' again (a write that is
-- propagated, but no change of value), so "not there already" needs no check.
local fields = {}
local a = 4 + n_ids
for i = 4, #KEYS do
  local field = ARGV[a]
  a = a + 1
  if redis.call('HGET', KEYS[i], 'st') == 'received' then
    fields[#fields + 1] = field
    fields[#fields + 1] = '1'
    pending[#pending + 1] = 1
  else
    pending[#pending + 1] = 0
  end
end
-- (1,000 arguments a command: unpack's stack limit)
for i = 1, #fields, 1000 do
  redis.call('HSET', KEYS[1], unpack(fields, i, math.min(i + 999, #fields)))
end
-- (1,000 ids a call: unpack's stack limit)
for i = 4, 3 + n_ids, 1000 do
  redis.call('XACK', KEYS[2], ARGV[1], unpack(ARGV, i, math.min(i + 999, 3 + n_ids)))
end
return pending
