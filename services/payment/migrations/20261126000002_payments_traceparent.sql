-- The W3C traceparent of the order.payment_requested delivery that created the payment.
-- Stripe's webhooks carry no trace context, so the events a webhook makes Payment emit
-- (payment.succeeded after 3-D Secure, say) are published in this trace: the checkout stays
-- one trace however its payment ends. NULL for tombstones and rows from before this column.
ALTER TABLE payments ADD COLUMN traceparent VARCHAR(128) NULL;
