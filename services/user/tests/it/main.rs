//! The User service over real gRPC against a real MariaDB (a fresh database per test).

use std::net::SocketAddr;

use shop_kit::Service as _;
use shop_kit::auth::{Role, TokenVerifier};
use shop_proto::shop::user::v1::{self as pb, user_service_client::UserServiceClient};
use shop_testkit::{RunningService, TestMysql, http_get, keys, reason, token_for, with_token};
use shop_user::{App, UserConfig};
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt as _;

const ADMIN_EMAIL: &str = "root@shopmesh.test";
const ADMIN_PASSWORD: &str = "admin-password-123";
const PASSWORD: &str = "correct horse battery";

struct Harness {
    client: UserServiceClient<Channel>,
    service: RunningService,
    db: TestMysql,
}

fn config(db: &TestMysql) -> UserConfig {
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    UserConfig {
        grpc_addr: any_port,
        admin_addr: any_port,
        database: shop_kit::mysql::DatabaseConfig::new(db.url.clone(), 10),
        jwt_private_key_pem: Some(keys().private_pem.clone()),
        bootstrap_admin_email: Some(ADMIN_EMAIL.into()),
        bootstrap_admin_password: Some(ADMIN_PASSWORD.into()),
        // Tests that are not about the hashing bound must not depend on the machine's speed.
        password_hash_wait_ms: 60_000,
        ..UserConfig::default()
    }
}

async fn start_on(db: TestMysql) -> Harness {
    start_with(db, |_| {}).await
}

/// Starts the service with `adjust` applied to the test configuration.
async fn start_with(db: TestMysql, adjust: impl FnOnce(&mut UserConfig)) -> Harness {
    let mut config = config(&db);
    adjust(&mut config);
    let service = RunningService::start::<App>(config)
        .await
        .expect("user service starts");
    let client = UserServiceClient::new(service.channel().await.expect("service is serving"));
    Harness {
        client,
        service,
        db,
    }
}

impl Harness {
    /// Registers `email` with [`PASSWORD`]: the new user and their tokens.
    async fn registered(&mut self, email: &str) -> pb::RegisterResponse {
        self.client
            .register(register(email))
            .await
            .expect("register")
            .into_inner()
    }
}

async fn start() -> Harness {
    start_on(TestMysql::create().await.expect("test database")).await
}

fn register(email: &str) -> pb::RegisterRequest {
    pb::RegisterRequest {
        email: email.into(),
        password: PASSWORD.into(),
        name: "Ann Lee".into(),
    }
}

/// The fields a refusal names, sorted.
fn violated_fields(status: &tonic::Status) -> Vec<String> {
    let mut fields = shop_testkit::violated_fields(status);
    fields.sort();
    fields
}

#[tokio::test]
async fn register_normalises_the_email_and_signs_the_user_in() {
    let mut h = start().await;
    let reply = h.registered("  Ann.Lee@Example.COM ").await;
    let user = reply.user.expect("user");
    assert_eq!(user.email, "ann.lee@example.com");
    assert_eq!(user.name, "Ann Lee");
    assert_eq!(user.role, pb::Role::Customer as i32);
    let tokens = reply.tokens.expect("tokens");
    assert_eq!(tokens.token_type, "Bearer");
    assert!(tokens.access_token_expires_in > 0 && tokens.refresh_token_expires_in > 0);

    // The access token verifies with the public key alone, as every other service does it.
    let claims = TokenVerifier::from_pem(&keys().public_pem)
        .unwrap()
        .verify(&tokens.access_token)
        .expect("valid access token");
    assert_eq!(claims.sub, user.id);
    assert_eq!(claims.role, Role::Customer);

    let me = h
        .client
        .get_me(with_token(pb::GetMeRequest {}, &tokens.access_token))
        .await
        .expect("get me")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(me, user);

    // The password is stored as an argon2id hash, never in clear.
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = ?")
        .bind(&user.id)
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(!stored.contains(PASSWORD));
}

#[tokio::test]
async fn register_reports_every_invalid_field() {
    let mut h = start().await;
    let status = h
        .client
        .register(pb::RegisterRequest {
            email: "not-an-email".into(),
            password: "short".into(),
            name: "   ".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["email", "name", "password"]);

    let status = h
        .client
        .register(pb::RegisterRequest {
            password: "ann@example.com".into(),
            ..register("ann@example.com")
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["password"]);

    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'customer'")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing is stored for a rejected request");
}

#[tokio::test]
async fn an_email_can_be_registered_once_whatever_its_case() {
    let mut h = start().await;
    h.registered("bob@example.com").await;
    let status = h
        .client
        .register(register("BOB@example.com"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(reason(&status).as_deref(), Some("EMAIL_TAKEN"));
}

#[tokio::test]
async fn twenty_concurrent_registrations_of_one_email_create_one_account() {
    let h = start().await;
    let attempts = (0..20).map(|_| {
        let mut client = h.client.clone();
        async move { client.register(register("race@example.com")).await }
    });
    let results = futures::future::join_all(attempts).await;
    let succeeded = results.iter().filter(|r| r.is_ok()).count();
    let taken = results
        .iter()
        .filter(|r| matches!(r, Err(status) if status.code() == Code::AlreadyExists))
        .count();
    assert_eq!((succeeded, taken), (1, 19), "{results:?}");
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email = ?")
        .bind("race@example.com")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn login_does_not_reveal_whether_an_account_exists() {
    let mut h = start().await;
    h.registered("carol@example.com").await;

    let ok = h
        .client
        .login(login("Carol@Example.com", PASSWORD))
        .await
        .expect("login")
        .into_inner();
    assert_eq!(ok.user.unwrap().email, "carol@example.com");
    assert!(!ok.tokens.unwrap().access_token.is_empty());

    let wrong_password = h
        .client
        .login(login("carol@example.com", "wrong password!!"))
        .await
        .unwrap_err();
    let unknown_email = h
        .client
        .login(login("nobody@example.com", PASSWORD))
        .await
        .unwrap_err();
    assert_eq!(wrong_password.code(), Code::Unauthenticated);
    assert_eq!(unknown_email.code(), Code::Unauthenticated);
    assert_eq!(wrong_password.message(), unknown_email.message());

    let malformed = h.client.login(login("carol", PASSWORD)).await.unwrap_err();
    assert_eq!(malformed.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&malformed), ["email"]);
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_family() {
    let mut h = start().await;
    let first = h.registered("dave@example.com").await.tokens.unwrap();

    let second = h
        .client
        .refresh(refresh(first.refresh_token.clone()))
        .await
        .expect("first rotation")
        .into_inner()
        .tokens
        .unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    let third = h
        .client
        .refresh(refresh(second.refresh_token.clone()))
        .await
        .expect("second rotation")
        .into_inner()
        .tokens
        .unwrap();

    // An attacker replays the first token: refused, and the legitimate newest one dies too.
    let replay = h
        .client
        .refresh(refresh(first.refresh_token))
        .await
        .unwrap_err();
    assert_eq!(replay.code(), Code::Unauthenticated);
    let newest = h
        .client
        .refresh(refresh(third.refresh_token))
        .await
        .unwrap_err();
    assert_eq!(newest.code(), Code::Unauthenticated);

    // Another session (another login) is unaffected.
    let other = h
        .client
        .login(login("dave@example.com", PASSWORD))
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap();
    h.client
        .refresh(refresh(other.refresh_token))
        .await
        .expect("an unrelated session still refreshes");
}

#[tokio::test]
async fn refresh_rejects_unknown_and_empty_tokens() {
    let mut h = start().await;
    let unknown = h.client.refresh(refresh("made-up")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::Unauthenticated);
    let empty = h.client.refresh(refresh(" ")).await.unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&empty), ["refresh_token"]);
}

#[tokio::test]
async fn logout_ends_the_session_and_is_idempotent() {
    let mut h = start().await;
    let tokens = h.registered("erin@example.com").await.tokens.unwrap();
    for _ in 0..2 {
        h.client
            .logout(pb::LogoutRequest {
                refresh_token: tokens.refresh_token.clone(),
            })
            .await
            .expect("logout");
    }
    let after = h
        .client
        .refresh(refresh(tokens.refresh_token))
        .await
        .unwrap_err();
    assert_eq!(after.code(), Code::Unauthenticated);
    h.client
        .logout(pb::LogoutRequest {
            refresh_token: "never-issued".into(),
        })
        .await
        .expect("logging out an unknown token succeeds");
}

#[tokio::test]
async fn get_me_requires_a_valid_token() {
    let mut h = start().await;
    let missing = h.client.get_me(pb::GetMeRequest {}).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    let garbage = h
        .client
        .get_me(with_token(pb::GetMeRequest {}, "not.a.jwt"))
        .await
        .unwrap_err();
    assert_eq!(garbage.code(), Code::Unauthenticated);

    // Signed by another key: refused even though it is well-formed.
    let foreign = shop_kit::auth::generate_keys().unwrap();
    let forged = shop_kit::auth::TokenSigner::from_pem(
        &foreign.private_pem,
        std::time::Duration::from_secs(60),
    )
    .unwrap()
    .sign(
        &uuid::Uuid::now_v7().to_string(),
        "x@example.com",
        Role::Admin,
    )
    .unwrap();
    let forged = h
        .client
        .get_me(with_token(pb::GetMeRequest {}, &forged))
        .await
        .unwrap_err();
    assert_eq!(forged.code(), Code::Unauthenticated);

    // A valid token for an account that does not exist (any more).
    let ghost = token_for(&uuid::Uuid::now_v7().to_string(), Role::Customer);
    let status = h
        .client
        .get_me(with_token(pb::GetMeRequest {}, &ghost))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn get_user_is_for_the_user_themself_or_an_admin() {
    let mut h = start().await;
    let ann = h.registered("ann@example.com").await;
    let bob = h.registered("bob@example.com").await;
    let ann_id = ann.user.unwrap().id;
    let ann_token = ann.tokens.unwrap().access_token;
    let bob_token = bob.tokens.unwrap().access_token;

    let own = h
        .client
        .get_user(with_token(
            pb::GetUserRequest { id: ann_id.clone() },
            &ann_token,
        ))
        .await
        .expect("own account");
    assert_eq!(own.into_inner().user.unwrap().email, "ann@example.com");

    let other = h
        .client
        .get_user(with_token(
            pb::GetUserRequest { id: ann_id.clone() },
            &bob_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied);

    let admin = h
        .client
        .login(login(ADMIN_EMAIL, ADMIN_PASSWORD))
        .await
        .expect("bootstrap admin logs in")
        .into_inner();
    assert_eq!(admin.user.unwrap().role, pb::Role::Admin as i32);
    let admin_token = admin.tokens.unwrap().access_token;
    h.client
        .get_user(with_token(pb::GetUserRequest { id: ann_id }, &admin_token))
        .await
        .expect("admin reads any user");

    let bad_id = h
        .client
        .get_user(with_token(
            pb::GetUserRequest { id: "42".into() },
            &admin_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_id.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&bad_id), ["id"]);
    let unknown = h
        .client
        .get_user(with_token(
            pb::GetUserRequest {
                id: uuid::Uuid::now_v7().to_string(),
            },
            &admin_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let anonymous = h
        .client
        .get_user(pb::GetUserRequest {
            id: uuid::Uuid::now_v7().to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn restarting_keeps_accounts_and_the_bootstrap_admin_is_idempotent() {
    let mut h = start().await;
    h.registered("fay@example.com").await;
    let Harness { service, db, .. } = h;
    service.stop().await.expect("clean shutdown");

    let mut h = start_on(db).await;
    let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(admins, 1);
    h.client
        .login(login("fay@example.com", PASSWORD))
        .await
        .expect("account survived the restart");
}

#[tokio::test]
async fn health_reflection_and_metrics_are_served() {
    let mut h = start().await;
    let _ = h
        .client
        .register(pb::RegisterRequest {
            email: "bad".into(),
            ..register("x@example.com")
        })
        .await;
    h.registered("gus@example.com").await;

    shop_testkit::assert_reflects(
        h.service.channel().await.unwrap(),
        &[
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "shop.user.v1.UserService",
        ],
    )
    .await;
    // grpcurl decodes the details of an error (field violations) only if reflection
    // describes them.
    for symbol in ["google.rpc.BadRequest", "google.rpc.ErrorInfo"] {
        assert!(
            shop_testkit::reflection_knows(h.service.channel().await.unwrap(), symbol)
                .await
                .unwrap(),
            "reflection describes {symbol}"
        );
    }

    let (status, body) = http_get(h.service.admin_addr, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    let line = |code: &str| {
        body.lines()
            .find(|line| {
                line.starts_with("shop_grpc_server_handled_total")
                    && line.contains("grpc_method=\"Register\"")
                    && line.contains(&format!("grpc_code=\"{code}\""))
            })
            .map(|line| line.rsplit(' ').next().unwrap_or("").to_owned())
    };
    assert_eq!(line("InvalidArgument").as_deref(), Some("1"), "{body}");
    assert_eq!(line("OK").as_deref(), Some("1"), "{body}");

    assert_eq!(
        http_get(h.service.admin_addr, "/readyz").await.unwrap().0,
        200
    );
    assert_eq!(
        http_get(h.service.admin_addr, "/healthz").await.unwrap().0,
        200
    );
}

// ---- Issue #10: login throttle, bounded hashing, bootstrap admin, ChangePassword ----------

fn refresh(refresh_token: impl Into<String>) -> pb::RefreshRequest {
    pb::RefreshRequest {
        refresh_token: refresh_token.into(),
    }
}

fn login(email: &str, password: &str) -> pb::LoginRequest {
    pb::LoginRequest {
        email: email.into(),
        password: password.into(),
    }
}

const WRONG: &str = "wrong password!!";

/// A throttle with `free` free failures and a delay long enough never to lapse in a test.
async fn start_throttled(free: u32) -> Harness {
    let db = TestMysql::create().await.expect("test database");
    start_with(db, |c| {
        c.login_throttle_free_failures = free;
        c.login_throttle_base_delay_ms = 60_000;
    })
    .await
}

fn retry_delay(status: &tonic::Status) -> Option<std::time::Duration> {
    status
        .get_error_details()
        .retry_info()
        .and_then(|info| info.retry_delay)
}

fn assert_throttled(status: &tonic::Status) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(reason(status).as_deref(), Some("LOGIN_THROTTLED"));
    let delay = retry_delay(status).expect("RetryInfo");
    assert!(delay > std::time::Duration::ZERO, "{delay:?}");
}

#[tokio::test]
async fn the_login_throttle_refuses_the_next_attempt_even_with_the_right_password() {
    let mut h = start_throttled(3).await;
    h.registered("ann@example.com").await;

    let mut answers = Vec::new();
    for email in ["ann@example.com", "nobody@example.com"] {
        for _ in 0..3 {
            let status = h.client.login(login(email, WRONG)).await.unwrap_err();
            assert_eq!(status.code(), Code::Unauthenticated);
        }
        // The 4th: refused without checking the password, right or not.
        let status = h.client.login(login(email, PASSWORD)).await.unwrap_err();
        assert_throttled(&status);
        answers.push(status);
    }
    // An unknown email gets exactly the same answer: the throttle reveals no account.
    let (known, unknown) = (&answers[0], &answers[1]);
    assert_eq!(known.message(), unknown.message());
    assert_eq!(retry_delay(known), retry_delay(unknown));
    assert_eq!(retry_delay(known), Some(std::time::Duration::from_secs(60)));

    // Another account is not affected, and its email case does not matter to the key.
    h.registered("bob@example.com").await;
    h.client
        .login(login("bob@example.com", PASSWORD))
        .await
        .expect("another account signs in");
    let status = h
        .client
        .login(login("  ANN@example.COM", PASSWORD))
        .await
        .unwrap_err();
    assert_throttled(&status);

    // The table names no address, not even as a plain hash of one.
    let plain: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM login_attempts WHERE account_key IN \
         (UNHEX(SHA2('ann@example.com', 256)), UNHEX(SHA2('nobody@example.com', 256)))",
    )
    .fetch_one(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(plain, 0);
}

#[tokio::test]
async fn a_successful_login_resets_the_throttle() {
    let mut h = start_throttled(3).await;
    h.registered("ann@example.com").await;
    for _ in 0..2 {
        h.client
            .login(login("ann@example.com", WRONG))
            .await
            .unwrap_err();
    }
    h.client
        .login(login("ann@example.com", PASSWORD))
        .await
        .expect("within the free failures");
    // Three more free failures after the success; without the reset the 3rd would be locked.
    for _ in 0..3 {
        let status = h
            .client
            .login(login("ann@example.com", WRONG))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
    let status = h
        .client
        .login(login("ann@example.com", PASSWORD))
        .await
        .unwrap_err();
    assert_throttled(&status);
}

#[tokio::test]
async fn the_throttle_lifts_once_the_delay_has_passed() {
    let db = TestMysql::create().await.expect("test database");
    let mut h = start_with(db, |c| {
        c.login_throttle_free_failures = 1;
        c.login_throttle_base_delay_ms = 300;
    })
    .await;
    h.registered("ann@example.com").await;
    h.client
        .login(login("ann@example.com", WRONG))
        .await
        .unwrap_err();
    let status = h
        .client
        .login(login("ann@example.com", PASSWORD))
        .await
        .unwrap_err();
    assert_throttled(&status);
    // Refused attempts are not counted, so polling does not push the lock further away.
    let client = h.client.clone();
    shop_testkit::wait_until(
        std::time::Duration::from_secs(10),
        "the lock to lift",
        || {
            let mut client = client.clone();
            async move {
                match client.login(login("ann@example.com", PASSWORD)).await {
                    Ok(_) => Some(()),
                    Err(status) => {
                        assert_throttled(&status);
                        None
                    }
                }
            }
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn parallel_wrong_guesses_are_all_counted() {
    let mut h = start_throttled(25).await;
    h.registered("ann@example.com").await;
    let guesses = (0..25).map(|_| {
        let mut client = h.client.clone();
        async move { client.login(login("ann@example.com", WRONG)).await }
    });
    for result in futures::future::join_all(guesses).await {
        assert_eq!(result.unwrap_err().code(), Code::Unauthenticated);
    }
    // 25 counted: the next attempt, even with the right password, is refused.
    let status = h
        .client
        .login(login("ann@example.com", PASSWORD))
        .await
        .unwrap_err();
    assert_throttled(&status);
}

#[tokio::test]
async fn a_burst_of_parallel_guesses_gets_only_the_free_attempts() {
    let h = start_throttled(5).await;
    let guesses = (0..25).map(|_| {
        let mut client = h.client.clone();
        async move { client.login(login("nobody@example.com", WRONG)).await }
    });
    let results = futures::future::join_all(guesses).await;
    let unauthenticated = results
        .iter()
        .filter(|r| matches!(r, Err(s) if s.code() == Code::Unauthenticated))
        .count();
    let throttled = results
        .iter()
        .filter(|r| matches!(r, Err(s) if reason(s).as_deref() == Some("LOGIN_THROTTLED")))
        .count();
    assert_eq!((unauthenticated, throttled), (5, 20), "{results:?}");
}

#[tokio::test]
async fn password_hashing_is_bounded_and_a_full_service_says_retry() {
    let db = TestMysql::create().await.expect("test database");
    let mut h = start_with(db, |c| {
        c.password_hash_concurrency = 1;
        c.password_hash_wait_ms = 0;
        c.login_throttle_free_failures = 1000;
    })
    .await;
    h.registered("ann@example.com").await;
    let logins = (0..12).map(|i| {
        let mut client = h.client.clone();
        // Known and unknown emails alike: the dummy hash for unknown ones is bounded too.
        let email = if i % 2 == 0 {
            "ann@example.com"
        } else {
            "nobody@example.com"
        };
        async move { client.login(login(email, PASSWORD)).await }
    });
    let results = futures::future::join_all(logins).await;
    let mut busy = 0;
    for result in &results {
        match result {
            Ok(_) => {}
            Err(status) if status.code() == Code::Unauthenticated => {}
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                assert_eq!(reason(status).as_deref(), Some("PASSWORD_HASHING_BUSY"));
                assert!(retry_delay(status).is_some(), "RetryInfo");
                busy += 1;
            }
        }
    }
    assert!(
        busy > 0,
        "with one slot and no wait some are refused: {results:?}"
    );
    assert!(busy < results.len(), "and some get through: {results:?}");
    h.client
        .login(login("ann@example.com", PASSWORD))
        .await
        .expect("the slot is free again afterwards");
}

#[tokio::test]
async fn an_over_long_password_is_refused_before_any_hashing() {
    // One free failure: an attempt that reached the throttle (and so the hash) would be
    // counted, and the right password afterwards would be refused.
    let mut h = start_throttled(1).await;
    h.registered("ann@example.com").await;
    for password in [
        "x".repeat(domain_max_chars() + 1),
        "x".repeat(1 << 20),
        "ä".repeat(domain_max_chars() + 1),
    ] {
        let status = h
            .client
            .login(login("ann@example.com", &password))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(violated_fields(&status), ["password"]);
        let status = h
            .client
            .register(pb::RegisterRequest {
                password,
                ..register("bob@example.com")
            })
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["password"]);
    }
    h.client
        .login(login("ann@example.com", PASSWORD))
        .await
        .expect("the refused attempts were not counted");
}

fn domain_max_chars() -> usize {
    shop_user::domain::PASSWORD_MAX_CHARS
}

#[tokio::test]
async fn the_bootstrap_admin_never_promotes_an_existing_account() {
    let db = TestMysql::create().await.expect("test database");
    let mut h = start_with(db, |c| {
        c.bootstrap_admin_email = None;
        c.bootstrap_admin_password = None;
    })
    .await;
    // Someone registers the address before the operator configures it as the admin's.
    let squatter = h.registered(ADMIN_EMAIL).await.user.unwrap();
    let Harness { service, db, .. } = h;
    service.stop().await.expect("clean shutdown");

    let mut h = start_on(db).await;
    let user = h
        .client
        .login(login(ADMIN_EMAIL, PASSWORD))
        .await
        .expect("the account keeps its own password")
        .into_inner()
        .user
        .unwrap();
    assert_eq!(user.id, squatter.id);
    assert_eq!(user.role, pb::Role::Customer as i32, "not promoted");
    let status = h
        .client
        .login(login(ADMIN_EMAIL, ADMIN_PASSWORD))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(admins, 0);
}

#[tokio::test]
async fn production_refuses_the_development_admin_password() {
    let db = TestMysql::create().await.expect("test database");
    let mut production = config(&db);
    production.env = shop_kit::config::Environment::production();
    production.bootstrap_admin_password = Some(shop_user::DEV_BOOTSTRAP_ADMIN_PASSWORD.into());
    let error = App::build(production.clone())
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("SHOP_BOOTSTRAP_ADMIN_PASSWORD"), "{error}");

    production.bootstrap_admin_password = Some(ADMIN_PASSWORD.into());
    App::build(production)
        .await
        .expect("a real password is fine in production");
}

#[tokio::test]
async fn the_previous_signing_key_is_accepted_during_a_rotation() {
    let db = TestMysql::create().await.expect("test database");
    let previous = shop_kit::auth::generate_keys().unwrap();
    let previous_public = previous.public_pem.clone();
    let mut h = start_with(db, |c| {
        c.jwt_previous_public_key_pem = Some(previous_public)
    })
    .await;
    let user = h.registered("ann@example.com").await.user.unwrap();
    let sign_with = |private_pem: &str| {
        shop_kit::auth::TokenSigner::from_pem(private_pem, std::time::Duration::from_secs(60))
            .unwrap()
            .sign(&user.id, &user.email, Role::Customer)
            .unwrap()
    };
    let me = h
        .client
        .get_me(with_token(
            pb::GetMeRequest {},
            &sign_with(&previous.private_pem),
        ))
        .await
        .expect("a token of the previous key is still accepted");
    assert_eq!(me.into_inner().user.unwrap().id, user.id);
    let other = shop_kit::auth::generate_keys().unwrap();
    let status = h
        .client
        .get_me(with_token(
            pb::GetMeRequest {},
            &sign_with(&other.private_pem),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

const NEW_PASSWORD: &str = "a much better passphrase";

fn change(current: &str, new: &str, token: &str) -> tonic::Request<pb::ChangePasswordRequest> {
    with_token(
        pb::ChangePasswordRequest {
            current_password: current.into(),
            new_password: new.into(),
        },
        token,
    )
}

#[tokio::test]
async fn change_password_revokes_every_session_and_signs_in_afresh() {
    let mut h = start().await;
    let first = h.registered("ann@example.com").await.tokens.unwrap();
    let second = h
        .client
        .login(login("ann@example.com", PASSWORD))
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap();
    // Some other user's session must survive.
    let bob = h.registered("bob@example.com").await.tokens.unwrap();

    let reply = h
        .client
        .change_password(change(PASSWORD, NEW_PASSWORD, &first.access_token))
        .await
        .expect("change password")
        .into_inner();
    assert_eq!(reply.user.unwrap().email, "ann@example.com");
    let fresh = reply.tokens.expect("a fresh session");

    for old in [&first, &second] {
        let status = h
            .client
            .refresh(refresh(old.refresh_token.clone()))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "old session revoked");
    }
    h.client
        .refresh(refresh(fresh.refresh_token.clone()))
        .await
        .expect("the new session refreshes");
    h.client
        .refresh(refresh(bob.refresh_token))
        .await
        .expect("another user's session is untouched");
    h.client
        .get_me(with_token(pb::GetMeRequest {}, &fresh.access_token))
        .await
        .expect("the new access token works");

    let status = h
        .client
        .login(login("ann@example.com", PASSWORD))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "old password fails");
    h.client
        .login(login("ann@example.com", NEW_PASSWORD))
        .await
        .expect("new password works");
}

#[tokio::test]
async fn change_password_with_a_wrong_current_password_changes_nothing_and_is_throttled() {
    let mut h = start_throttled(2).await;
    let tokens = h.registered("ann@example.com").await.tokens.unwrap();
    for _ in 0..2 {
        let status = h
            .client
            .change_password(change(WRONG, NEW_PASSWORD, &tokens.access_token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(violated_fields(&status), ["current_password"]);
    }
    // Guessing the current password with a stolen access token is throttled like a login.
    let status = h
        .client
        .change_password(change(PASSWORD, NEW_PASSWORD, &tokens.access_token))
        .await
        .unwrap_err();
    assert_throttled(&status);
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE email = ?")
        .bind("ann@example.com")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    let verifier = argon2::Argon2::default();
    use argon2::PasswordVerifier as _;
    verifier
        .verify_password(
            PASSWORD.as_bytes(),
            &argon2::PasswordHash::new(&stored).unwrap(),
        )
        .expect("the password is unchanged");
    h.client
        .refresh(refresh(tokens.refresh_token))
        .await
        .expect("the session is untouched");
}

#[tokio::test]
async fn change_password_applies_the_policy_to_the_new_password() {
    let mut h = start().await;
    let token = h
        .registered("ann@example.com")
        .await
        .tokens
        .unwrap()
        .access_token;
    for (current, new, fields) in [
        (PASSWORD, "short", vec!["new_password"]),
        (PASSWORD, "ANN@example.com", vec!["new_password"]),
        (PASSWORD, PASSWORD, vec!["new_password"]),
        (
            PASSWORD,
            &"x".repeat(domain_max_chars() + 1),
            vec!["new_password"],
        ),
        ("", "", vec!["current_password", "new_password"]),
    ] {
        let status = h
            .client
            .change_password(change(current, new, &token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{new}: {status:?}");
        assert_eq!(violated_fields(&status), fields, "{new}");
    }
    h.client
        .login(login("ann@example.com", PASSWORD))
        .await
        .expect("nothing changed");
}

#[tokio::test]
async fn change_password_requires_a_valid_access_token() {
    let mut h = start().await;
    h.registered("ann@example.com").await;
    let anonymous = h
        .client
        .change_password(pb::ChangePasswordRequest {
            current_password: PASSWORD.into(),
            new_password: NEW_PASSWORD.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    let garbage = h
        .client
        .change_password(change(PASSWORD, NEW_PASSWORD, "not.a.jwt"))
        .await
        .unwrap_err();
    assert_eq!(garbage.code(), Code::Unauthenticated);
    h.client
        .login(login("ann@example.com", PASSWORD))
        .await
        .expect("nothing changed");
}
