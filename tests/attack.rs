//! Attacks on the trust boundary, against real redis-servers: a corpus of sandbox lines that
//! try to reach beyond the namespace (on a foreign server and on the managed one), hostile lesson
//! files `validate` must reject, and the command classes checked against a live server.

mod common;

use common::TestRedis;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a runtime")
}

/// The checked-in command classes are what a real server says today.
#[test]
fn command_table_matches_the_server() {
    let redis = TestRedis::start();
    let generated = runtime().block_on(async {
        let client = redis::Client::open(redis.url()).expect("client");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let infos = redislab::redis::classes::server_infos(&mut conn)
            .await
            .expect("COMMAND");
        let version = redis.cli_raw(&["INFO", "server"]);
        let version = version
            .lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .unwrap_or("?")
            .trim()
            .to_string();
        redislab::redis::classes::generate(&infos, &format!("redis-server {version}"))
    });
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/redis/command_table.rs");
    if std::env::var_os("REDISLAB_REGENERATE").is_some() {
        std::fs::write(path, &generated).expect("write command_table.rs");
    }
    let checked_in = std::fs::read_to_string(path).expect("read command_table.rs");
    assert!(
        checked_in == generated,
        "src/redis/command_table.rs is out of date: run `REDISLAB_REGENERATE=1 cargo test --test attack command_table`"
    );
}
