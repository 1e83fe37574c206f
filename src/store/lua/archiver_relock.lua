-- Renews the archiver lock while the holder still holds it.
-- KEYS[1] the lock; ARGV[1] the holder, ARGV[2] its time to live (ms).
-- Returns 1 when renewed, 0 when another holder (or nobody) has it.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
