-- Marks parcels as requested for booking (book_state = pending unless it has a state) and
-- queues them for the background booker. Booked, rejected, cancelled, replaced and pulled
-- parcels are left alone: a rejection is final.
-- KEYS[1] the site's booking queue (zset), KEYS[2..] parcel hashes
-- ARGV[1] score (ms: when the booker may take it), ARGV[2] '1' keeps an existing schedule
-- (ZADD NX), ARGV[3..] parcel ids in the order of KEYS[2..]
-- Returns the number of parcels queued.
local n = 0
for i = 2, #KEYS do
  local id = ARGV[i + 1]
  local f = redis.call('HMGET', KEYS[i], 'data', 'tracking', 'book_state', 'status', 'pull')
  local state = f[3]
  if f[1] and not f[2] and state ~= 'rejected' and state ~= 'booked'
     and f[4] ~= 'cancelled' and f[4] ~= 'replaced' and not f[5] then
    if not state or state == 'none' then
      redis.call('HSET', KEYS[i], 'book_state', 'pending')
    end
    if ARGV[2] == '1' then
      redis.call('ZADD', KEYS[1], 'NX', ARGV[1], id)
    else
      redis.call('ZADD', KEYS[1], ARGV[1], id)
    end
    n = n + 1
  end
end
return n
