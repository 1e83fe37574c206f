-- Records which site keeps each seller's orders, and the configured sites, unless the config
-- moves a seller that Redis already knows at another site (store/bindings.rs). One script:
-- two instances starting at once with different configs cannot both pass.
-- KEYS[1] the bindings hash
-- ARGV[1] n, then n pairs (seller, site), then the configured site ids
-- Returns the refused moves as pairs (seller, site recorded); nothing is written then.
local n = tonumber(ARGV[1])
local out = {}
for i = 0, n - 1 do
  local seller, site = ARGV[2 + 2 * i], ARGV[3 + 2 * i]
  local was = redis.call('HGET', KEYS[1], 'seller:' .. seller)
  if was and was ~= site then
    out[#out + 1] = seller
    out[#out + 1] = was
  end
end
if #out > 0 then return out end
for i = 0, n - 1 do
  redis.call('HSET', KEYS[1], 'seller:' .. ARGV[2 + 2 * i], ARGV[3 + 2 * i])
end
for j = 2 + 2 * n, #ARGV do
  redis.call('HSET', KEYS[1], 'site:' .. ARGV[j], '1')
end
return out
