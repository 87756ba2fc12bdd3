-- KEYS: cart, marker. ARGV: marker ttl ms, now ms, then `sku, units` pairs. Takes what an
-- order bought out of the cart (lines added since checkout stay) once per event: the
-- marker (SET NX) makes a redelivered `order.confirmed` a no-op.
local cart, marker = KEYS[1], KEYS[2]
if not redis.call('SET', marker, '1', 'NX', 'PX', ARGV[1]) then
  return snapshot(cart, 'REPLAYED', 0)
end
local changed = false
for i = 3, #ARGV, 2 do
  local sku, units = ARGV[i], tonumber(ARGV[i + 1])
  local current = quantity(cart, sku)
  if current > 0 then
    changed = true
    if current <= units then
      redis.call('HDEL', cart, 'q:' .. sku, 'o:' .. sku)
    else
      redis.call('HINCRBY', cart, 'q:' .. sku, -units)
    end
  end
end
if changed then
  if line_count(cart) == 0 then
    redis.call('DEL', cart)
  else
    redis.call('HSET', cart, 'updated_at', ARGV[2])
  end
end
return snapshot(cart, 'OK', 0)
