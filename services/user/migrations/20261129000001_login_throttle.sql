-- Per-account login throttle (see src/throttle.rs). Keyed by an HMAC of the normalised email,
-- never the email, so the table does not list who tried to sign in, and unknown emails get a
-- row exactly like known ones. `failures` counts attempts since the last success (each attempt
-- is counted before its password is checked; a success deletes the row).
CREATE TABLE login_attempts (
    account_key     BINARY(32)   NOT NULL PRIMARY KEY,
    failures        INT UNSIGNED NOT NULL,
    last_attempt_at DATETIME(6)  NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
