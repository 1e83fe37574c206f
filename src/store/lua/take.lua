-- Read a batch of newly stored orders and put those still 'received' into the site's
-- pending set, in one script: the planner reads what it absorbs (issue 20, thirty-fifth
-- session: each order was read back by an HMGET of its own, then absorbed by a script
-- that read its status again). Their stream entries are acked afterwards by the absorb
-- script, only those whose orders all turned out readable (an entry naming an unreadable
-- order is retried, then dead-lettered, as the absorb path does it).
-- A planner whose fencing token is stale is refused with a FENCED error.
-- KEYS[1] pending hash, KEYS[2] fence, KEYS[3..] order hashes
-- ARGV[1] fence token, then per order key: its pending field
-- Returns per order: its stored data when it is pending now (added, or there already);
-- 0 when stored but no longer 'received' (cancelled or waved: not pending); nil when its
-- data is missing (not pending).
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return redis.error_reply('FENCED this planner no longer holds the site')
end
local out, fields = {}, {}
for i = 3, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 'data', 'st')
  if not v[1] then
    out[i - 2] = false
  elseif v[2] == 'received' then
    fields[#fields + 1] = ARGV[i - 1]
    fields[#fields + 1] = '1'
    out[i - 2] = v[1]
  else
    out[i - 2] = 0
  end
end
-- As in absorb.lua: one HSET per 500 orders (1,000 arguments: unpack's stack limit).
for i = 1, #fields, 1000 do
  redis.call('HSET', KEYS[1], unpack(fields, i, math.min(i + 999, #fields)))
end
return out
