-- Count one station sign-in attempt of a client at a site, BEFORE its PIN is judged (so
-- parallel guesses from one client cannot all slip past the back-off check).
-- KEYS[1] hash client -> "attempts:last_ms" of the site, KEYS[2] the site's attempts in
-- the current minute.
-- ARGV[1] client, ARGV[2] now ms, ARGV[3] free attempts, ARGV[4] back-off base ms,
-- ARGV[5] back-off cap ms, ARGV[6] ttl of a client's count (s).
-- Returns {attempts of this client (0: refused), wait ms left, site attempts this minute}.
local v = redis.call('HGET', KEYS[1], ARGV[1])
local n, last = 0, 0
if v then
  local sep = string.find(v, ':', 1, true)
  n = tonumber(string.sub(v, 1, sep - 1)) or 0
  last = tonumber(string.sub(v, sep + 1)) or 0
end
local now = tonumber(ARGV[2])
local free = tonumber(ARGV[3])
if n >= free then
  local wait = math.min(tonumber(ARGV[4]) * (2 ^ (n - free)), tonumber(ARGV[5]))
  if now < last + wait then
    return {0, math.floor(last + wait - now), tonumber(redis.call('GET', KEYS[2]) or '0')}
  end
end
redis.call('HSET', KEYS[1], ARGV[1], (n + 1) .. ':' .. now)
redis.call('EXPIRE', KEYS[1], ARGV[6])
local s = redis.call('INCR', KEYS[2])
if s == 1 then redis.call('EXPIRE', KEYS[2], 60) end
return {n + 1, 0, s}
