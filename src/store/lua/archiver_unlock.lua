-- Releases the archiver lock if the holder still holds it.
-- KEYS[1] the lock; ARGV[1] the holder. Returns 1 when released, else 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
