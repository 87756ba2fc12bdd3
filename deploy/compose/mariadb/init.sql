-- Runs once, on the first start of an empty MariaDB volume (docker-entrypoint-initdb.d).
-- The services connect as `shop`, which may create and migrate only shop_* databases:
-- shop-user, shop-order and shop-payment each create their own database (shop_user,
-- shop_order, shop_payment) and apply their embedded sqlx migrations at start-up.
CREATE USER IF NOT EXISTS 'shop'@'%' IDENTIFIED BY 'shop';
GRANT ALL PRIVILEGES ON `shop\_%`.* TO 'shop'@'%';
FLUSH PRIVILEGES;
