-- Records a business day as the last one whose orders are all archived; only ever moves
-- forward (dates as YYYY-MM-DD compare as strings).
-- KEYS[1] the site's archived_through key; ARGV[1] the day. Returns 0.
local at = redis.call('GET', KEYS[1])
if not at or at < ARGV[1] then redis.call('SET', KEYS[1], ARGV[1]) end
return 0
