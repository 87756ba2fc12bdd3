-- KEYS: cart. A consistent snapshot (lines, order, updated_at and TTL from one instant).
return snapshot(KEYS[1], 'OK', 0)
