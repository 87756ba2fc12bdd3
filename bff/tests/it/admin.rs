//! The BFF's admin port: `/metrics` and `/readyz` live there, not on the public port, and
//! `/readyz` says 503 until the upstream services are up and the order feed consumes.

use std::net::SocketAddr;
use std::time::Duration;

use shop_testkit::{RunningService, TestAmqp, http_get, keys, wait_until};

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A port nothing listens on (bound, then released).
async fn closed_port() -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(any_port()).await?;
    Ok(listener.local_addr()?)
}

/// The BFF with every upstream at `upstream` and the broker of `bus`.
async fn bff(
    upstream: SocketAddr,
    bus: shop_bus::BusConfig,
) -> anyhow::Result<(SocketAddr, SocketAddr, RunningService)> {
    let url = format!("http://{upstream}");
    let running = RunningService::start::<shop_bff::App>(shop_bff::BffConfig {
        http_addr: any_port(),
        user_url: url.clone(),
        product_url: url.clone(),
        inventory_url: url.clone(),
        cart_url: url.clone(),
        order_url: url,
        jwt_public_key_pem: Some(keys().public_pem.clone()),
        web_dist: "/nonexistent".into(),
        amqp: bus,
        ..Default::default()
    })
    .await?;
    let (public, admin) = (running.addr, running.admin_addr);
    assert_ne!(public, admin);
    Ok((public, admin, running))
}

/// A real gRPC server (health and reflection only) on `addr`.
async fn upstream_on(addr: SocketAddr) -> anyhow::Result<RunningService> {
    let host = shop_kit::server::GrpcHost::bind("upstream", addr, any_port()).await?;
    let (grpc, admin) = (host.grpc_addr(), host.admin_addr());
    Ok(RunningService::spawn(grpc, admin, |stop| async move {
        Ok(host.serve(stop).await?)
    }))
}

#[tokio::test]
async fn metrics_and_readiness_are_on_the_admin_port_and_ready_waits_for_the_upstreams()
-> anyhow::Result<()> {
    let amqp = TestAmqp::create().await?;
    let upstream = closed_port().await?;
    let (public, admin, bff) = bff(upstream, amqp.bus_config()).await?;

    let (status, body) = http_get(admin, "/metrics").await?;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("# TYPE shop_graphql_operation_seconds histogram"),
        "{body}"
    );
    assert_eq!(http_get(admin, "/healthz").await?.0, 200);
    for path in ["/metrics", "/readyz"] {
        let (status, body) = http_get(public, path).await?;
        assert_eq!(status, 404, "public {path}: {body}");
        assert!(!body.contains("shop_graphql"), "{body}");
    }
    assert_eq!(http_get(public, "/healthz").await?.0, 200);

    // The broker is up, the upstreams are not: not ready, however long it waits.
    for _ in 0..6 {
        let (status, body) = http_get(admin, "/readyz").await?;
        assert_eq!(status, 503, "ready without its upstreams: {body}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let upstream = upstream_on(upstream).await?;
    wait_until(Duration::from_secs(15), "/readyz 200", || async {
        matches!(http_get(admin, "/readyz").await, Ok((200, _))).then_some(())
    })
    .await?;

    bff.stop().await?;
    upstream.stop().await?;
    Ok(())
}

#[tokio::test]
async fn not_ready_while_the_order_feed_has_no_broker() -> anyhow::Result<()> {
    let upstream = upstream_on(any_port()).await?;
    let broker = closed_port().await?;
    let bus = shop_bus::BusConfig {
        url: format!("amqp://guest:guest@{broker}/%2f"),
        ..Default::default()
    };
    let (_, admin, bff) = bff(upstream.addr, bus).await?;
    for _ in 0..8 {
        let (status, body) = http_get(admin, "/readyz").await?;
        assert_eq!(status, 503, "ready without a broker: {body}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bff.stop().await?;
    upstream.stop().await?;
    Ok(())
}

#[test]
fn the_admin_port_is_9100_unless_set_and_follows_a_port_0_public_address() {
    let default = shop_bff::BffConfig::default();
    assert_eq!(default.admin_addr(), "0.0.0.0:9100".parse().expect("addr"));
    let ephemeral = shop_bff::BffConfig {
        http_addr: any_port(),
        ..Default::default()
    };
    assert_eq!(ephemeral.admin_addr(), any_port());
    let set = shop_bff::BffConfig {
        admin_addr: Some("127.0.0.1:9200".parse().expect("addr")),
        ..Default::default()
    };
    assert_eq!(set.admin_addr().port(), 9200);
}
