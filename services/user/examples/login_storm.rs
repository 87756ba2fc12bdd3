//! Fires parallel logins at a running User service, to watch its memory under a burst (issue
//! #10: 40 parallel logins once took it from 40 MB to 1.4 GB RSS). Reports how the calls were
//! answered; read the server's RSS from `/proc/<pid>/status` (VmRSS, VmHWM) before and after.
//!
//! `cargo run -p shop-user --example login_storm -- http://127.0.0.1:50051 40 [rounds]`

use std::collections::BTreeMap;

use shop_proto::shop::user::v1::{self as pb, user_service_client::UserServiceClient};

const EMAIL: &str = "storm@example.com";
const PASSWORD: &str = "correct horse battery";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:50051".into());
    let parallel: usize = args.next().map_or(Ok(40), |n| n.parse())?;
    let rounds: usize = args.next().map_or(Ok(1), |n| n.parse())?;
    let client = UserServiceClient::connect(url).await?;
    let registered = client
        .clone()
        .register(pb::RegisterRequest {
            email: EMAIL.into(),
            password: PASSWORD.into(),
            name: "Storm".into(),
        })
        .await;
    if let Err(status) = registered
        && status.code() != tonic::Code::AlreadyExists
    {
        anyhow::bail!("register: {status:?}");
    }
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..rounds {
        let logins = (0..parallel).map(|_| {
            let mut client = client.clone();
            async move {
                client
                    .login(pb::LoginRequest {
                        email: EMAIL.into(),
                        password: PASSWORD.into(),
                    })
                    .await
            }
        });
        for result in futures::future::join_all(logins).await {
            let key = match result {
                Ok(_) => "OK".to_owned(),
                Err(status) => format!("{:?} {}", status.code(), status.message()),
            };
            *outcomes.entry(key).or_default() += 1;
        }
    }
    println!("{outcomes:#?}");
    Ok(())
}
