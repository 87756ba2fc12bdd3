-- Accounts. Emails are stored normalised (trimmed, lower-case), so the unique index is the
-- single source of truth for "email already taken", also under concurrent registrations.
CREATE TABLE users (
    id            CHAR(36)     NOT NULL PRIMARY KEY,
    email         VARCHAR(254) NOT NULL,
    name          VARCHAR(100) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    role          VARCHAR(16)  NOT NULL,
    created_at    DATETIME(6)  NOT NULL,
    updated_at    DATETIME(6)  NOT NULL,
    CONSTRAINT users_email_unique UNIQUE (email)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Refresh tokens, stored as SHA-256 hashes (a database leak yields no usable token).
-- A family is one sign-in; each rotation adds a row and marks its parent used. Presenting a
-- used token again means it was stolen, so the whole family is revoked.
CREATE TABLE refresh_tokens (
    id          CHAR(36)    NOT NULL PRIMARY KEY,
    family_id   CHAR(36)    NOT NULL,
    user_id     CHAR(36)    NOT NULL,
    token_hash  BINARY(32)  NOT NULL,
    created_at  DATETIME(6) NOT NULL,
    expires_at  DATETIME(6) NOT NULL,
    used_at     DATETIME(6) NULL,
    revoked_at  DATETIME(6) NULL,
    CONSTRAINT refresh_tokens_hash_unique UNIQUE (token_hash),
    INDEX refresh_tokens_family (family_id),
    CONSTRAINT refresh_tokens_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
