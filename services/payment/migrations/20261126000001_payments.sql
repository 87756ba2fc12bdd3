-- The payments ledger: at most one row per order (order_id is unique), so however often
-- order.payment_requested arrives, every delivery finds the same row and charges under the
-- same Stripe idempotency key. Rows only move forward (see src/domain.rs).
--
-- A row that order.cancelled created before any payment was requested is a CANCELLED
-- tombstone with amount 0, currency '' and payment_method '': it makes a late
-- order.payment_requested a no-op instead of a charge.
CREATE TABLE payments (
    id                         CHAR(36)     NOT NULL PRIMARY KEY,
    order_id                   CHAR(36)     NOT NULL,
    user_id                    VARCHAR(64)  NOT NULL,
    amount_minor               BIGINT       NOT NULL,
    currency                   VARCHAR(3)   NOT NULL,
    -- PENDING, REQUIRES_ACTION, SUCCEEDED, FAILED, CANCELLED, REFUNDED
    status                     VARCHAR(20)  NOT NULL,
    provider                   VARCHAR(20)  NOT NULL,
    -- Stripe's pi_...; NULL until Stripe answered the create call.
    provider_payment_intent_id VARCHAR(255) NULL,
    failure_code               VARCHAR(100) NULL,
    failure_message            VARCHAR(500) NULL,
    refunded_minor             BIGINT       NOT NULL DEFAULT 0,
    payment_method             VARCHAR(100) NOT NULL,
    -- Set when order.cancelled arrived: whatever Stripe says from then on, the money is
    -- not kept (open intents are cancelled, captures refunded).
    cancel_requested_at        DATETIME(6)  NULL,
    created_at                 DATETIME(6)  NOT NULL,
    updated_at                 DATETIME(6)  NOT NULL,
    version                    BIGINT       NOT NULL,
    CONSTRAINT payments_one_per_order UNIQUE (order_id),
    CONSTRAINT payments_one_per_intent UNIQUE (provider_payment_intent_id),
    INDEX payments_by_user (user_id, id),
    INDEX payments_by_status (status, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
