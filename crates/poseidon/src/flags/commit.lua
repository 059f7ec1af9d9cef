-- Writes one planned change to a flag, atomically, if nobody changed it since it was read.
-- Layout: docs/feature-flags.md.
-- KEYS: 1 flag hash, 2 set of flag names, 3 audit stream, 4 mirror key after, 5 mirror key before
-- ARGV: 1 expected version ("0": absent), 2 action (create|update|delete), 3 name, 4 actor,
--       5 before JSON, 6 after JSON, 7 mirror value to write ("" = none),
--       8 "1" to delete the old mirror key, 9 audit stream length, 10.. hash field/value pairs
local current = redis.call('HGET', KEYS[1], 'version') or '0'
if current ~= ARGV[1] then
  return {'conflict', current, ''}
end
local t = redis.call('TIME')
local now = string.format('%d', t[1] * 1000 + math.floor(t[2] / 1000))
local version = string.format('%d', tonumber(ARGV[1]) + 1)
redis.call('DEL', KEYS[1])
if ARGV[2] == 'delete' then
  redis.call('SREM', KEYS[2], ARGV[3])
else
  local fields = {'version', version, 'updated_at', now, 'updated_by', ARGV[4]}
  for i = 10, #ARGV do
    fields[#fields + 1] = ARGV[i]
  end
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('SADD', KEYS[2], ARGV[3])
end
if ARGV[8] == '1' then
  redis.call('DEL', KEYS[5])
end
if ARGV[7] ~= '' then
  redis.call('SET', KEYS[4], ARGV[7])
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[9], '*',
  'action', ARGV[2], 'actor', ARGV[4], 'at', now, 'version', version,
  'before', ARGV[5], 'after', ARGV[6])
return {'ok', version, now}
