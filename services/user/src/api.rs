//! `shop.user.v1.UserService`: decode and validate the request, apply the account rules,
//! encode the reply. Every failure is a `ServiceError`, mapped to a gRPC status in one place.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use shop_kit::auth::{self, Role, TokenSigner};
use shop_kit::{ServiceError, UserId};
use shop_proto::shop::user::v1::{self as pb, user_service_server::UserService};
use sqlx::MySqlPool;
use tonic::{Request, Response, Status};

use crate::domain::{self, ChangePassword, Email, Login, Password, RefreshToken, Register};
use crate::hashing::PasswordHashing;
use crate::store::{self, NewRefreshToken, NewUser, StoreError, UserRow};
use crate::throttle::LoginThrottle;

/// The same answer for an unknown email and a wrong password, so the API cannot be used to
/// find out who has an account.
const BAD_CREDENTIALS: &str = "invalid email or password";
const BAD_REFRESH_TOKEN: &str = "invalid or expired refresh token";
const NOT_CURRENT_PASSWORD: &str = "is not your current password";

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::EmailTaken => ServiceError::AlreadyExists {
                reason: "EMAIL_TAKEN",
                message: "an account with this email already exists".into(),
            },
            StoreError::Database(error) => ServiceError::internal(error),
        }
    }
}

#[derive(Clone)]
pub struct UserApi {
    inner: Arc<Inner>,
}

/// What the API is built from (see `App::build`).
pub struct Settings {
    pub pool: MySqlPool,
    pub signer: TokenSigner,
    pub refresh_ttl: Duration,
    pub hashing: PasswordHashing,
    pub throttle: LoginThrottle,
}

struct Inner {
    pool: MySqlPool,
    signer: TokenSigner,
    refresh_ttl: Duration,
    /// Every argon2 hash and verification goes through it.
    hashing: PasswordHashing,
    throttle: LoginThrottle,
    /// A real argon2 hash of a random password: logins for unknown emails verify against it,
    /// so they take as long as logins with a wrong password.
    dummy_hash: String,
}

fn user_to_proto(user: &UserRow) -> pb::User {
    pb::User {
        id: user.id.clone(),
        email: user.email.clone(),
        name: user.name.clone(),
        role: match user.role {
            Role::Customer => pb::Role::Customer,
            Role::Admin => pb::Role::Admin,
        } as i32,
        created_at: Some(shop_kit::time::from_chrono(user.created_at)),
    }
}

impl UserApi {
    pub async fn new(settings: Settings) -> Result<Self, ServiceError> {
        let random = RefreshToken::generate();
        let dummy_hash = settings.hashing.hash(random.as_str()).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                pool: settings.pool,
                signer: settings.signer,
                refresh_ttl: settings.refresh_ttl,
                hashing: settings.hashing,
                throttle: settings.throttle,
                dummy_hash,
            }),
        })
    }

    /// Creates the configured first admin when no account has that email, so a fresh
    /// system can be operated. Never promotes an existing account: whoever registered the
    /// address first (perhaps before the operator configured it) must not become an admin
    /// by a restart.
    pub async fn bootstrap_admin(&self, email: &str, password: &str) -> Result<(), ServiceError> {
        let email = Email::parse(email)
            .map_err(|e| ServiceError::invalid("bootstrap_admin_email", e.to_string()))?;
        let password = Password::parse(password.to_owned(), Some(&email))
            .map_err(|e| ServiceError::invalid("bootstrap_admin_password", e.to_string()))?;
        let existing = match store::find_by_email(&self.inner.pool, email.as_str()).await? {
            Some(existing) => Some(existing),
            None => {
                let hash = self.inner.hashing.hash(password.expose()).await?;
                store::create_admin_unless_exists(
                    &self.inner.pool,
                    email.as_str(),
                    "Administrator",
                    &hash,
                )
                .await?
            }
        };
        match existing {
            None => tracing::info!(email = %email, "bootstrap admin created"),
            Some(user) if user.role == Role::Admin => {
                tracing::info!(email = %email, "bootstrap admin already exists");
            }
            Some(user) => tracing::warn!(email = %email, user_id = %user.id,
                "bootstrap admin email belongs to an existing non-admin account; \
                 it is NOT promoted (promote it deliberately, or configure another email)"),
        }
        Ok(())
    }

    /// Starts a new session family for `user`: the user and the family's first token pair,
    /// as Register and Login answer them.
    async fn start_session(
        &self,
        user: &UserRow,
    ) -> Result<(Option<pb::User>, Option<pb::TokenPair>), ServiceError> {
        let family_id = uuid::Uuid::now_v7().to_string();
        let tokens = self
            .issue_tokens(&self.inner.pool, user, &family_id)
            .await?;
        Ok((Some(user_to_proto(user)), Some(tokens)))
    }

    async fn issue_tokens<'e>(
        &self,
        executor: impl sqlx::MySqlExecutor<'e>,
        user: &UserRow,
        family_id: &str,
    ) -> Result<pb::TokenPair, ServiceError> {
        let access_token = self.inner.signer.sign(&user.id, &user.email, user.role)?;
        let refresh = RefreshToken::generate();
        let refresh_ttl =
            chrono::Duration::from_std(self.inner.refresh_ttl).map_err(ServiceError::internal)?;
        store::insert_refresh_token(
            executor,
            NewRefreshToken {
                family_id,
                user_id: &user.id,
                token_hash: &refresh.hash(),
                expires_at: Utc::now() + refresh_ttl,
            },
        )
        .await?;
        Ok(pb::TokenPair {
            access_token,
            access_token_expires_in: self.inner.signer.ttl().as_secs() as i64,
            refresh_token: refresh.as_str().to_owned(),
            refresh_token_expires_in: self.inner.refresh_ttl.as_secs() as i64,
            token_type: "Bearer".into(),
        })
    }

    async fn user_by_id(&self, id: &str) -> Result<UserRow, ServiceError> {
        store::find_by_id(&self.inner.pool, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("user", id))
    }
}

#[tonic::async_trait]
impl UserService for UserApi {
    #[tracing::instrument(skip_all)]
    async fn register(
        &self,
        request: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterResponse>, Status> {
        let Register {
            email,
            password,
            name,
        } = Register::parse(request.into_inner())?;

        let password_hash = self.inner.hashing.hash(password.expose()).await?;
        let user = store::insert_user(
            &self.inner.pool,
            NewUser {
                email: email.as_str(),
                name: name.as_str(),
                password_hash: &password_hash,
                role: Role::Customer,
            },
        )
        .await
        .map_err(ServiceError::from)?;
        tracing::info!(user_id = %user.id, "registered");
        let (user, tokens) = self.start_session(&user).await?;
        Ok(Response::new(pb::RegisterResponse { user, tokens }))
    }

    #[tracing::instrument(skip_all)]
    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let Login { email, password } = Login::parse(request.into_inner())?;
        // Every step runs for unknown emails too, so the answer and its timing are the same.
        let user = store::find_by_email(&self.inner.pool, email.as_str())
            .await
            .map_err(ServiceError::from)?;
        let hash = user.as_ref().map_or_else(
            || self.inner.dummy_hash.clone(),
            |u| u.password_hash.clone(),
        );
        let account = self.inner.throttle.account_key(&email);
        let lease = self.inner.hashing.acquire().await?;
        // Counted before the check, and when refused the password is not checked at all.
        self.inner
            .throttle
            .begin_attempt(&self.inner.pool, &account)
            .await?;
        let (matches, lease) = lease.verify(password.expose().to_owned(), hash).await?;
        drop(lease);
        let user = match user {
            Some(user) if matches => user,
            _ => return Err(ServiceError::Unauthenticated(BAD_CREDENTIALS.into()).into()),
        };
        self.inner
            .throttle
            .succeeded(&self.inner.pool, &account)
            .await?;
        let (user, tokens) = self.start_session(&user).await?;
        Ok(Response::new(pb::LoginResponse { user, tokens }))
    }

    #[tracing::instrument(skip_all)]
    async fn refresh(
        &self,
        request: Request<pb::RefreshRequest>,
    ) -> Result<Response<pb::RefreshResponse>, Status> {
        let hash = domain::presented_refresh_token(&request.into_inner().refresh_token)?;
        let mut tx = self
            .inner
            .pool
            .begin()
            .await
            .map_err(ServiceError::internal)?;
        let Some(token) = store::lock_refresh_token(&mut tx, &hash)
            .await
            .map_err(ServiceError::from)?
        else {
            return Err(ServiceError::Unauthenticated(BAD_REFRESH_TOKEN.into()).into());
        };
        if token.revoked_at.is_some() || token.expires_at <= Utc::now() {
            return Err(ServiceError::Unauthenticated(BAD_REFRESH_TOKEN.into()).into());
        }
        if token.used_at.is_some() {
            // A rotated token came back: someone kept a copy. End every session of the family.
            let revoked = store::revoke_family(&mut *tx, &token.family_id)
                .await
                .map_err(ServiceError::from)?;
            tx.commit().await.map_err(ServiceError::internal)?;
            tracing::warn!(family_id = %token.family_id, user_id = %token.user_id, revoked,
                "refresh token reuse detected; session family revoked");
            return Err(ServiceError::Unauthenticated(BAD_REFRESH_TOKEN.into()).into());
        }
        let user = self.user_by_id(&token.user_id).await?;
        store::mark_refresh_token_used(&mut *tx, &token.id)
            .await
            .map_err(ServiceError::from)?;
        let tokens = self.issue_tokens(&mut *tx, &user, &token.family_id).await?;
        tx.commit().await.map_err(ServiceError::internal)?;
        Ok(Response::new(pb::RefreshResponse {
            user: Some(user_to_proto(&user)),
            tokens: Some(tokens),
        }))
    }

    /// Idempotent like OAuth token revocation (RFC 7009): an unknown or already revoked token
    /// is a success, so clients can always log out.
    #[tracing::instrument(skip_all)]
    async fn logout(
        &self,
        request: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutResponse>, Status> {
        let hash = domain::presented_refresh_token(&request.into_inner().refresh_token)?;
        if let Some(family_id) = store::family_of(&self.inner.pool, &hash)
            .await
            .map_err(ServiceError::from)?
        {
            store::revoke_family(&self.inner.pool, &family_id)
                .await
                .map_err(ServiceError::from)?;
        }
        Ok(Response::new(pb::LogoutResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn get_me(
        &self,
        request: Request<pb::GetMeRequest>,
    ) -> Result<Response<pb::GetMeResponse>, Status> {
        let claims = auth::claims(&request)?;
        let user = self.user_by_id(&claims.sub).await?;
        Ok(Response::new(pb::GetMeResponse {
            user: Some(user_to_proto(&user)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::GetUserResponse>, Status> {
        let claims = auth::claims(&request)?.clone();
        let id = UserId::parse(&request.get_ref().id)
            .map_err(|e| ServiceError::invalid("id", e.to_string()))?
            .into_string();
        if !claims.may_act_for(&id) {
            return Err(ServiceError::PermissionDenied(
                "only the user themself or an admin may read a user".into(),
            )
            .into());
        }
        let user = self.user_by_id(&id).await?;
        Ok(Response::new(pb::GetUserResponse {
            user: Some(user_to_proto(&user)),
        }))
    }

    /// Counts against the same throttle as Login (the current password is a credential
    /// guess like any other), so a stolen access token cannot be used to guess it faster.
    #[tracing::instrument(skip_all)]
    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::ChangePasswordResponse>, Status> {
        let claims = auth::claims(&request)?.clone();
        let request = request.into_inner();
        let user = self.user_by_id(&claims.sub).await?;
        let email = Email::parse(&user.email).map_err(|e| {
            ServiceError::internal(anyhow::anyhow!("stored email of {}: {e}", user.id))
        })?;
        let ChangePassword { current, new } = ChangePassword::parse(request, &email)?;

        let account = self.inner.throttle.account_key(&email);
        let lease = self.inner.hashing.acquire().await?;
        self.inner
            .throttle
            .begin_attempt(&self.inner.pool, &account)
            .await?;
        let (matches, lease) = lease
            .verify(current.expose().to_owned(), user.password_hash.clone())
            .await?;
        if !matches {
            return Err(ServiceError::invalid("current_password", NOT_CURRENT_PASSWORD).into());
        }
        let (new_hash, lease) = lease.hash(new.expose().to_owned()).await?;
        drop(lease);
        self.inner
            .throttle
            .succeeded(&self.inner.pool, &account)
            .await?;

        let mut tx = self
            .inner
            .pool
            .begin()
            .await
            .map_err(ServiceError::internal)?;
        if !store::replace_password_hash(&mut *tx, &user.id, &user.password_hash, &new_hash)
            .await
            .map_err(ServiceError::from)?
        {
            // Changed meanwhile by a concurrent call: what we checked is no longer current.
            return Err(ServiceError::invalid("current_password", NOT_CURRENT_PASSWORD).into());
        }
        let revoked = store::revoke_all_sessions(&mut *tx, &user.id)
            .await
            .map_err(ServiceError::from)?;
        let family_id = uuid::Uuid::now_v7().to_string();
        let tokens = self.issue_tokens(&mut *tx, &user, &family_id).await?;
        tx.commit().await.map_err(ServiceError::internal)?;
        tracing::info!(user_id = %user.id, revoked, "password changed; every session revoked");
        Ok(Response::new(pb::ChangePasswordResponse {
            user: Some(user_to_proto(&user)),
            tokens: Some(tokens),
        }))
    }
}
