-- KEYS: cart. ARGV: sku, ttl ms, now ms. Removing the last line deletes the cart; removing
-- an absent line changes nothing but the TTL of an existing cart.
local cart, sku = KEYS[1], ARGV[1]
if redis.call('HDEL', cart, 'q:' .. sku, 'o:' .. sku) > 0 then
  if line_count(cart) == 0 then
    redis.call('DEL', cart)
  else
    touch(cart, ARGV[3], ARGV[2])
  end
else
  redis.call('PEXPIRE', cart, ARGV[2])
end
return snapshot(cart, 'OK', 0)
