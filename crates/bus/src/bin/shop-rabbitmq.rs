//! RabbitMQ administration for shopmesh, from the table in `shop_bus::permissions`:
//!
//!   shop-rabbitmq permissions   the users' permissions as TSV (deploy/rabbitmq/permissions.tsv,
//!                               applied by scripts/deps.sh with rabbitmqctl)
//!   shop-rabbitmq k8s           the AKS overlay's messaging-topology objects
//!                               (deploy/k8s/overlays/aks/rabbitmq-topology.yaml)
//!   shop-rabbitmq declare URL   declares the exchanges, saga queues and bindings as the
//!                               administrator at URL (scripts/up.sh): the services' own users
//!                               may not, so this runs before they start
//!
//! The exchange is `shop.events` unless `--exchange NAME` is given first.

use std::process::ExitCode;

use shop_bus::{Broker, BusConfig, permissions, topology};

const USAGE: &str = "usage: shop-rabbitmq [--exchange NAME] (permissions | k8s | declare AMQP_URL)";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut exchange = permissions::EXCHANGE.to_owned();
    if args.first().map(String::as_str) == Some("--exchange") {
        if args.len() < 2 {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
        exchange = args.remove(1);
        args.remove(0);
    }
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["permissions"] => {
            print!("{}", permissions::render_tsv(&exchange));
            ExitCode::SUCCESS
        }
        ["k8s"] => {
            print!("{}", permissions::render_k8s(&exchange));
            ExitCode::SUCCESS
        }
        ["declare", url] => {
            let broker = Broker::new(
                BusConfig {
                    url: (*url).to_owned(),
                    exchange,
                    ..BusConfig::default()
                },
                "shop-rabbitmq",
            );
            let outcome = topology::declare_saga(&broker).await;
            broker.close().await;
            match outcome {
                Ok(()) if broker.provisioned() => {
                    eprintln!(
                        "shop-rabbitmq: this user may not declare the topology; use an administrator"
                    );
                    ExitCode::FAILURE
                }
                Ok(()) => {
                    println!("declared the exchanges, saga queues and bindings");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("shop-rabbitmq: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
