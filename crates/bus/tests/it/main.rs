//! The bus against a real RabbitMQ and MariaDB, and the least-privilege table against a real
//! vhost and the repository.

mod bus;
mod permissions;
mod publish_bench;
mod table;
