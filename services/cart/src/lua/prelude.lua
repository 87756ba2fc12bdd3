-- Helpers shared by every script. Each script returns `snapshot(...)`:
-- `{status, detail, pttl, field1, value1, ...}` of the cart hash after the change.
local function snapshot(key, status, detail)
  local out = {status, detail, redis.call('PTTL', key)}
  local fields = redis.call('HGETALL', key)
  for i = 1, #fields do out[#out + 1] = fields[i] end
  return out
end

local function line_count(key)
  local n = 0
  for _, field in ipairs(redis.call('HKEYS', key)) do
    if string.sub(field, 1, 2) == 'q:' then n = n + 1 end
  end
  return n
end

local function quantity(key, sku)
  return tonumber(redis.call('HGET', key, 'q:' .. sku) or '0')
end

local function append_line(key, sku, units)
  local seq = redis.call('HINCRBY', key, 'seq', 1)
  redis.call('HSET', key, 'q:' .. sku, units, 'o:' .. sku, seq)
end

local function touch(key, now, ttl)
  redis.call('HSET', key, 'updated_at', now)
  redis.call('PEXPIRE', key, ttl)
end
