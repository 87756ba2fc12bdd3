//! The User service over real gRPC against a real MariaDB (a fresh database per test).

use std::net::SocketAddr;

use shop_kit::auth::{Role, TokenVerifier};
use shop_proto::shop::user::v1::{self as pb, user_service_client::UserServiceClient};
use shop_testkit::{RunningService, TestMysql, http_get, keys, token_for, with_token};
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
        database_url: db.url.clone(),
        jwt_private_key_pem: Some(keys().private_pem.clone()),
        bootstrap_admin_email: Some(ADMIN_EMAIL.into()),
        bootstrap_admin_password: Some(ADMIN_PASSWORD.into()),
        ..UserConfig::default()
    }
}

async fn start_on(db: TestMysql) -> Harness {
    let app = App::build(config(&db)).await.expect("user service builds");
    let service = RunningService::spawn(app.grpc_addr(), app.admin_addr(), |shutdown| {
        app.run(shutdown)
    });
    let client = UserServiceClient::new(service.channel().await.expect("service is serving"));
    Harness {
        client,
        service,
        db,
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

fn violated_fields(status: &tonic::Status) -> Vec<String> {
    let details = status.get_error_details();
    let mut fields: Vec<String> = details
        .bad_request()
        .map(|br| {
            br.field_violations
                .iter()
                .map(|v| v.field.clone())
                .collect()
        })
        .unwrap_or_default();
    fields.sort();
    fields
}

fn reason(status: &tonic::Status) -> Option<String> {
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
}

#[tokio::test]
async fn register_normalises_the_email_and_signs_the_user_in() {
    let mut h = start().await;
    let reply = h
        .client
        .register(register("  Ann.Lee@Example.COM "))
        .await
        .expect("register")
        .into_inner();
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
    h.client
        .register(register("bob@example.com"))
        .await
        .unwrap();
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
    h.client
        .register(register("carol@example.com"))
        .await
        .unwrap();

    let ok = h
        .client
        .login(pb::LoginRequest {
            email: "Carol@Example.com".into(),
            password: PASSWORD.into(),
        })
        .await
        .expect("login")
        .into_inner();
    assert_eq!(ok.user.unwrap().email, "carol@example.com");
    assert!(!ok.tokens.unwrap().access_token.is_empty());

    let wrong_password = h
        .client
        .login(pb::LoginRequest {
            email: "carol@example.com".into(),
            password: "wrong password!!".into(),
        })
        .await
        .unwrap_err();
    let unknown_email = h
        .client
        .login(pb::LoginRequest {
            email: "nobody@example.com".into(),
            password: PASSWORD.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(wrong_password.code(), Code::Unauthenticated);
    assert_eq!(unknown_email.code(), Code::Unauthenticated);
    assert_eq!(wrong_password.message(), unknown_email.message());

    let malformed = h
        .client
        .login(pb::LoginRequest {
            email: "carol".into(),
            password: PASSWORD.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(malformed.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&malformed), ["email"]);
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_family() {
    let mut h = start().await;
    let first = h
        .client
        .register(register("dave@example.com"))
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap();

    let second = h
        .client
        .refresh(pb::RefreshRequest {
            refresh_token: first.refresh_token.clone(),
        })
        .await
        .expect("first rotation")
        .into_inner()
        .tokens
        .unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    let third = h
        .client
        .refresh(pb::RefreshRequest {
            refresh_token: second.refresh_token.clone(),
        })
        .await
        .expect("second rotation")
        .into_inner()
        .tokens
        .unwrap();

    // An attacker replays the first token: refused, and the legitimate newest one dies too.
    let replay = h
        .client
        .refresh(pb::RefreshRequest {
            refresh_token: first.refresh_token,
        })
        .await
        .unwrap_err();
    assert_eq!(replay.code(), Code::Unauthenticated);
    let newest = h
        .client
        .refresh(pb::RefreshRequest {
            refresh_token: third.refresh_token,
        })
        .await
        .unwrap_err();
    assert_eq!(newest.code(), Code::Unauthenticated);

    // Another session (another login) is unaffected.
    let other = h
        .client
        .login(pb::LoginRequest {
            email: "dave@example.com".into(),
            password: PASSWORD.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap();
    h.client
        .refresh(pb::RefreshRequest {
            refresh_token: other.refresh_token,
        })
        .await
        .expect("an unrelated session still refreshes");
}

#[tokio::test]
async fn refresh_rejects_unknown_and_empty_tokens() {
    let mut h = start().await;
    let unknown = h
        .client
        .refresh(pb::RefreshRequest {
            refresh_token: "made-up".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::Unauthenticated);
    let empty = h
        .client
        .refresh(pb::RefreshRequest {
            refresh_token: " ".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&empty), ["refresh_token"]);
}

#[tokio::test]
async fn logout_ends_the_session_and_is_idempotent() {
    let mut h = start().await;
    let tokens = h
        .client
        .register(register("erin@example.com"))
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap();
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
        .refresh(pb::RefreshRequest {
            refresh_token: tokens.refresh_token,
        })
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
    let ann = h
        .client
        .register(register("ann@example.com"))
        .await
        .unwrap()
        .into_inner();
    let bob = h
        .client
        .register(register("bob@example.com"))
        .await
        .unwrap()
        .into_inner();
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
        .login(pb::LoginRequest {
            email: ADMIN_EMAIL.into(),
            password: ADMIN_PASSWORD.into(),
        })
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
    h.client
        .register(register("fay@example.com"))
        .await
        .unwrap();
    let Harness { service, db, .. } = h;
    service.stop().await.expect("clean shutdown");

    let mut h = start_on(db).await;
    let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(admins, 1);
    h.client
        .login(pb::LoginRequest {
            email: "fay@example.com".into(),
            password: PASSWORD.into(),
        })
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
    h.client
        .register(register("gus@example.com"))
        .await
        .unwrap();

    let services = shop_testkit::reflected_services(h.service.channel().await.unwrap())
        .await
        .expect("reflection v1alpha");
    for expected in [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "shop.user.v1.UserService",
    ] {
        assert!(
            services.iter().any(|s| s == expected),
            "{expected} in {services:?}"
        );
    }
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
