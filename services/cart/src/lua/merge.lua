-- KEYS: guest cart, user cart. ARGV: max quantity, max lines, user ttl ms, now ms.
-- Guest lines are visited in their cart order: a SKU already in the user cart has the
-- quantities summed (capped at the per-line limit) and keeps its place; a new SKU is
-- appended while the user cart has room, and dropped (counted in `detail`) once it holds
-- max lines. Then the guest cart is deleted. A missing guest cart changes nothing.
local guest, user = KEYS[1], KEYS[2]
local max_quantity, max_lines = tonumber(ARGV[1]), tonumber(ARGV[2])
local fields = redis.call('HGETALL', guest)
local units, order, lines = {}, {}, {}
for i = 1, #fields, 2 do
  local kind, sku = string.sub(fields[i], 1, 2), string.sub(fields[i], 3)
  if kind == 'q:' then
    units[sku] = tonumber(fields[i + 1])
    lines[#lines + 1] = sku
  elseif kind == 'o:' then
    order[sku] = tonumber(fields[i + 1])
  end
end
if #lines == 0 then
  redis.call('DEL', guest)
  return snapshot(user, 'OK', 0)
end
table.sort(lines, function(a, b)
  local oa, ob = order[a] or 0, order[b] or 0
  if oa ~= ob then return oa < ob end
  return a < b
end)
local count, dropped = line_count(user), 0
for _, sku in ipairs(lines) do
  local current = quantity(user, sku)
  if current > 0 then
    redis.call('HSET', user, 'q:' .. sku, math.min(current + units[sku], max_quantity))
  elseif count < max_lines then
    append_line(user, sku, math.min(units[sku], max_quantity))
    count = count + 1
  else
    dropped = dropped + 1
  end
end
touch(user, ARGV[4], ARGV[3])
redis.call('DEL', guest)
return snapshot(user, 'OK', dropped)
