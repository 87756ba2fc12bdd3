-- KEYS: cart [, idempotency key]. ARGV: sku, units, max quantity, max lines, ttl ms,
-- now ms, idempotency ttl ms, request fingerprint.
local cart, sku, units = KEYS[1], ARGV[1], tonumber(ARGV[2])
local max_quantity, max_lines = tonumber(ARGV[3]), tonumber(ARGV[4])
local idem = KEYS[2]
if idem then
  local seen = redis.call('GET', idem)
  if seen then
    if seen == ARGV[8] then return snapshot(cart, 'REPLAYED', 0) end
    return snapshot(cart, 'KEY_REUSED', 0)
  end
end
local current = quantity(cart, sku)
if current == 0 then
  if line_count(cart) >= max_lines then return snapshot(cart, 'TOO_MANY_LINES', max_lines) end
  append_line(cart, sku, units)
else
  if current + units > max_quantity then return snapshot(cart, 'LINE_LIMIT', current) end
  redis.call('HINCRBY', cart, 'q:' .. sku, units)
end
touch(cart, ARGV[6], ARGV[5])
if idem then redis.call('SET', idem, ARGV[8], 'PX', ARGV[7]) end
return snapshot(cart, 'OK', current + units)
