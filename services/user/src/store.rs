//! MySQL persistence for users and refresh tokens (sqlx). No business rules live here: the
//! api module decides, this module reads and writes.

use chrono::{DateTime, SubsecRound as _, Utc};
use shop_kit::auth::Role;
use sqlx::MySqlPool;
use uuid::Uuid;

/// The schema this module reads and writes (`services/user/migrations`), applied at start-up.
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// MySQL's "duplicate entry" error code.
const ER_DUP_ENTRY: &str = "23000";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("email already registered")]
    EmailTaken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
}

fn is_duplicate(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some(ER_DUP_ENTRY)
        || db.message().contains("Duplicate entry"))
}

pub async fn insert_user(pool: &MySqlPool, user: NewUser<'_>) -> Result<UserRow, StoreError> {
    // DATETIME(6) keeps microseconds; truncate so the reply equals what a later read returns.
    let now = Utc::now().trunc_subsecs(6);
    let id = Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO users (id, email, name, password_hash, role, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(user.email)
    .bind(user.name)
    .bind(user.password_hash)
    .bind(user.role)
    .bind(now)
    .bind(now)
    .execute(pool)
    .await
    .map_err(|error| {
        if is_duplicate(&error) {
            StoreError::EmailTaken
        } else {
            StoreError::Database(error)
        }
    })?;
    Ok(UserRow {
        id,
        email: user.email.to_owned(),
        name: user.name.to_owned(),
        password_hash: user.password_hash.to_owned(),
        role: user.role,
        created_at: now,
    })
}

const USER_COLUMNS: &str = "id, email, name, password_hash, role, created_at";

pub async fn find_by_email(pool: &MySqlPool, email: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(
        sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?"))
            .bind(email)
            .fetch_optional(pool)
            .await?,
    )
}

pub async fn find_by_id(pool: &MySqlPool, id: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(
        sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}

/// Creates the admin account `email` unless an account with that email exists, in which
/// case nothing changes (see `UserApi::bootstrap_admin`). Returns the existing row, if any.
pub async fn create_admin_unless_exists(
    pool: &MySqlPool,
    email: &str,
    name: &str,
    password_hash: &str,
) -> Result<Option<UserRow>, StoreError> {
    match insert_user(
        pool,
        NewUser {
            email,
            name,
            password_hash,
            role: Role::Admin,
        },
    )
    .await
    {
        Ok(_) => Ok(None),
        Err(StoreError::EmailTaken) => find_by_email(pool, email).await,
        Err(other) => Err(other),
    }
}

/// Replaces the password hash only if it is still `current_hash`, so of two concurrent
/// changes checked against the same old password only one wins. Returns whether it did.
pub async fn replace_password_hash<'e>(
    executor: impl sqlx::MySqlExecutor<'e>,
    user_id: &str,
    current_hash: &str,
    new_hash: &str,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ? AND password_hash = ?",
    )
    .bind(new_hash)
    .bind(Utc::now())
    .bind(user_id)
    .bind(current_hash)
    .execute(executor)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Revokes every refresh-token family of the user: all their sessions end.
pub async fn revoke_all_sessions<'e>(
    executor: impl sqlx::MySqlExecutor<'e>,
    user_id: &str,
) -> Result<u64, StoreError> {
    revoke(
        executor,
        "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
        user_id,
    )
    .await
}

pub struct NewRefreshToken<'a> {
    pub family_id: &'a str,
    pub user_id: &'a str,
    pub token_hash: &'a [u8; 32],
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_refresh_token<'e>(
    executor: impl sqlx::MySqlExecutor<'e>,
    token: NewRefreshToken<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, created_at, expires_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(token.family_id)
    .bind(token.user_id)
    .bind(&token.token_hash[..])
    .bind(Utc::now())
    .bind(token.expires_at)
    .execute(executor)
    .await?;
    Ok(())
}

#[derive(Debug, sqlx::FromRow)]
pub struct RefreshTokenRow {
    pub id: String,
    pub family_id: String,
    pub user_id: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Locks the token's row for the rest of `tx`, so two concurrent uses of one token are
/// serialised and the second sees the first's `used_at`.
pub async fn lock_refresh_token(
    tx: &mut sqlx::MySqlConnection,
    token_hash: &[u8; 32],
) -> Result<Option<RefreshTokenRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, family_id, user_id, expires_at, used_at, revoked_at \
         FROM refresh_tokens WHERE token_hash = ? FOR UPDATE",
    )
    .bind(&token_hash[..])
    .fetch_optional(tx)
    .await?)
}

pub async fn mark_refresh_token_used<'e>(
    executor: impl sqlx::MySqlExecutor<'e>,
    id: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE refresh_tokens SET used_at = ? WHERE id = ?")
        .bind(Utc::now())
        .bind(id)
        .execute(executor)
        .await?;
    Ok(())
}

pub async fn revoke_family<'e>(
    executor: impl sqlx::MySqlExecutor<'e>,
    family_id: &str,
) -> Result<u64, StoreError> {
    revoke(
        executor,
        "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
        family_id,
    )
    .await
}

pub async fn family_of(
    pool: &MySqlPool,
    token_hash: &[u8; 32],
) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT family_id FROM refresh_tokens WHERE token_hash = ?")
            .bind(&token_hash[..])
            .fetch_optional(pool)
            .await?,
    )
}

/// The login-attempt count of one account key, with the database clock (one clock for every
/// replica).
#[derive(Debug, sqlx::FromRow)]
pub struct LoginAttempts {
    pub failures: u32,
    pub last_attempt_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// Locks the key's row for the rest of `tx`, creating it (count 0) when missing: concurrent
/// attempts for one account are serialised, each seeing the count the previous one left.
/// Upserting first (rather than `SELECT ... FOR UPDATE` on a missing row) avoids the gap locks
/// two first attempts would deadlock on.
pub async fn lock_login_attempts(
    tx: &mut sqlx::MySqlConnection,
    account_key: &[u8; 32],
) -> Result<LoginAttempts, StoreError> {
    sqlx::query(
        "INSERT INTO login_attempts (account_key, failures, last_attempt_at) \
         VALUES (?, 0, UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE failures = failures",
    )
    .bind(&account_key[..])
    .execute(&mut *tx)
    .await?;
    Ok(sqlx::query_as(
        "SELECT failures, last_attempt_at, UTC_TIMESTAMP(6) AS now \
         FROM login_attempts WHERE account_key = ? FOR UPDATE",
    )
    .bind(&account_key[..])
    .fetch_one(tx)
    .await?)
}

pub async fn record_login_attempt<'e>(
    executor: impl sqlx::MySqlExecutor<'e>,
    account_key: &[u8; 32],
    failures: u32,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE login_attempts SET failures = ?, last_attempt_at = ? WHERE account_key = ?",
    )
    .bind(failures)
    .bind(at)
    .bind(&account_key[..])
    .execute(executor)
    .await?;
    Ok(())
}

pub async fn clear_login_attempts(
    pool: &MySqlPool,
    account_key: &[u8; 32],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_attempts WHERE account_key = ?")
        .bind(&account_key[..])
        .execute(pool)
        .await?;
    Ok(())
}

/// Runs `sql`, an UPDATE that revokes live refresh tokens as of now (its first parameter)
/// selected by `key` (its second); how many it revoked.
async fn revoke<'e>(
    executor: impl sqlx::MySqlExecutor<'e>,
    sql: &'static str,
    key: &str,
) -> Result<u64, StoreError> {
    let result = sqlx::query(sql)
        .bind(Utc::now())
        .bind(key)
        .execute(executor)
        .await?;
    Ok(result.rows_affected())
}
