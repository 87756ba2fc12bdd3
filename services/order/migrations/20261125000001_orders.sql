-- Orders. (user_id, idempotency_key) is unique: a retried or concurrent PlaceOrder with the
-- same key finds the order the first call created.
CREATE TABLE orders (
    id                    CHAR(36)     NOT NULL PRIMARY KEY,
    user_id               CHAR(36)     NOT NULL,
    idempotency_key       VARCHAR(128) NOT NULL,
    request_hash          CHAR(64)     NOT NULL,
    status                VARCHAR(20)  NOT NULL,
    cancel_reason         VARCHAR(40)  NULL,
    cancel_note           VARCHAR(500) NOT NULL DEFAULT '',
    currency              CHAR(3)      NOT NULL,
    total_minor           BIGINT       NOT NULL,
    ship_name             VARCHAR(200) NOT NULL,
    ship_line1            VARCHAR(200) NOT NULL,
    ship_line2            VARCHAR(200) NOT NULL DEFAULT '',
    ship_city             VARCHAR(100) NOT NULL,
    ship_postal_code      VARCHAR(20)  NOT NULL,
    ship_country          CHAR(2)      NOT NULL,
    payment_method        VARCHAR(100) NOT NULL,
    payment_id            VARCHAR(64)  NULL,
    payment_client_secret VARCHAR(255) NULL,
    cart_guest_id         CHAR(36)     NULL,
    cart_user_id          CHAR(36)     NULL,
    created_at            DATETIME(6)  NOT NULL,
    updated_at            DATETIME(6)  NOT NULL,
    version               BIGINT       NOT NULL,
    CONSTRAINT orders_idempotency UNIQUE (user_id, idempotency_key),
    INDEX orders_by_user (user_id, id),
    INDEX orders_by_status (status, updated_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Lines keep the name and unit price at the time of the order: later catalog changes do
-- not rewrite history.
CREATE TABLE order_lines (
    order_id         CHAR(36)     NOT NULL,
    line_no          INT          NOT NULL,
    sku              VARCHAR(64)  NOT NULL,
    product_name     VARCHAR(200) NOT NULL,
    quantity         BIGINT       NOT NULL,
    unit_price_minor BIGINT       NOT NULL,
    PRIMARY KEY (order_id, line_no),
    CONSTRAINT order_lines_order FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
