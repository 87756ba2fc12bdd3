//! MySQL persistence for users and refresh tokens (sqlx). No business rules live here: the
//! api module decides, this module reads and writes.

use chrono::{DateTime, SubsecRound as _, Utc};
use shop_kit::auth::Role;
use sqlx::MySqlPool;
use uuid::Uuid;

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
    pub role: String,
    pub created_at: DateTime<Utc>,
}

impl UserRow {
    /// Rows are only ever written with a known role; anything else is treated as the least
    /// privileged one.
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Customer)
    }
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
    .bind(user.role.as_str())
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
        role: user.role.as_str().to_owned(),
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

/// Makes `email` an admin: creates the account with `password_hash` when it does not exist,
/// or promotes the existing one (its password is left alone, so a rotated admin password
/// survives restarts).
pub async fn ensure_admin(
    pool: &MySqlPool,
    email: &str,
    name: &str,
    password_hash: &str,
) -> Result<(), StoreError> {
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
        Ok(_) => Ok(()),
        Err(StoreError::EmailTaken) => {
            sqlx::query("UPDATE users SET role = ?, updated_at = ? WHERE email = ?")
                .bind(Role::Admin.as_str())
                .bind(Utc::now())
                .bind(email)
                .execute(pool)
                .await?;
            Ok(())
        }
        Err(other) => Err(other),
    }
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
    let result = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
    )
    .bind(Utc::now())
    .bind(family_id)
    .execute(executor)
    .await?;
    Ok(result.rows_affected())
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
