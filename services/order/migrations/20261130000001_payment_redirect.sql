-- Where the shopper authenticates a payment that needs 3-D Secure (the issuer's page, from
-- payment.requires_action); cleared with payment_client_secret once the payment settles.
ALTER TABLE orders ADD COLUMN payment_redirect_url VARCHAR(2048) NULL AFTER payment_client_secret;
