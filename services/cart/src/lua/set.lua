-- KEYS: cart. ARGV: sku, quantity (≥ 1), max lines, ttl ms, now ms.
local cart, sku, units, max_lines = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if quantity(cart, sku) > 0 then
  redis.call('HSET', cart, 'q:' .. sku, units)
else
  if line_count(cart) >= max_lines then return snapshot(cart, 'TOO_MANY_LINES', max_lines) end
  append_line(cart, sku, units)
end
touch(cart, ARGV[5], ARGV[4])
return snapshot(cart, 'OK', units)
