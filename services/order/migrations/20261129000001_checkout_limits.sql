-- One row per user who ever checked out: PlaceOrder locks it (INSERT .. ON DUPLICATE KEY
-- UPDATE) before counting the user's open orders, so concurrent checkouts of one user count
-- and insert one after another and cannot all pass the open-order cap together.
CREATE TABLE checkout_locks (
    user_id   CHAR(36)    NOT NULL PRIMARY KEY,
    locked_at DATETIME(6) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Serves the count of a user's open (PENDING or AWAITING_PAYMENT) orders.
CREATE INDEX orders_by_user_status ON orders (user_id, status);
