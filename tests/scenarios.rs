//! Every scenario against a real private redis-server: each must show its contrast (the naive
//! version fails, the pattern holds) and keep its keys inside the namespace.

mod common;

use std::collections::BTreeMap;

use common::TestRedis;
use redislab::measure::Silent;
use redislab::redis::connect::connect;
use redislab::scenarios::{self, ScenarioContext};
use redislab::settings::Settings;
use serde_json::json;

/// Runs a scenario on `redis`, every connection fenced into namespace `gate_ns` (the lesson's
/// own namespace, `lab`, unless a test wants the fence to refuse). The scenario calls nothing
/// to be fenced: the connections it gets are.
async fn run_on(
    redis: &TestRedis,
    name: &str,
    params: &serde_json::Value,
    gate_ns: &str,
) -> anyhow::Result<scenarios::ScenarioReport> {
    let home = tempfile::tempdir().expect("temp dir");
    let settings = Settings::for_url(&redis.url(), gate_ns, home.path().to_path_buf());
    let server = connect(&settings)
        .await
        .expect("connects to the test server");
    let ctx = ScenarioContext {
        server: &server,
        namespace: "lab",
        ticker: &Silent,
    };
    scenarios::run(name, params, &ctx).await
}

/// Runs a scenario on a fresh server; returns its metrics and the keys left outside `lab:`.
async fn run(name: &str, params: serde_json::Value) -> (BTreeMap<String, f64>, Vec<String>) {
    let redis = TestRedis::start();
    redis.seed_foreign_keys();
    let before = redis.foreign_fingerprint();
    let report = run_on(&redis, name, &params, "lab")
        .await
        .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    assert!(!report.rows.is_empty(), "{name}: the result table is empty");
    assert!(!report.notes.is_empty(), "{name}: no conclusions");
    assert_eq!(
        redis.foreign_fingerprint(),
        before,
        "{name} touched a key outside the namespace"
    );
    let outside: Vec<String> = redis
        .all_keys()
        .into_iter()
        .filter(|k| !k.starts_with("lab:") && !k.starts_with("foreign"))
        .collect();
    (report.metrics, outside)
}

fn m(metrics: &BTreeMap<String, f64>, name: &str) -> f64 {
    *metrics
        .get(name)
        .unwrap_or_else(|| panic!("metric {name} missing: {metrics:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complexity_lpos_grows_with_n_and_sismember_does_not() {
    let (x, _) = run(
        "complexity",
        json!({"sizes": [1000, 100000], "samples": 50}),
    )
    .await;
    // The round-trip medians, for 100× the elements: LPOS's grows with the list; SISMEMBER's
    // does not follow N (a busy machine can move it a little, never by a tenth of 100×).
    assert!(m(&x, "on_growth") > 3.0, "{x:?}");
    assert!(m(&x, "o1_growth") < 10.0, "{x:?}");
    // Time measured on the server (INFO commandstats) is free of network noise.
    assert!(
        m(&x, "on_server_growth") > 5.0 * m(&x, "o1_server_growth"),
        "{x:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_burst_fixed_window_allows_twice_the_limit() {
    let (x, _) = run(
        "window-burst",
        json!({"limit": 10, "window_s": 60, "requests": 20}),
    )
    .await;
    assert_eq!(m(&x, "fixed_allowed"), 20.0);
    assert!(m(&x, "fixed_max_in_window") > m(&x, "limit"));
    assert_eq!(m(&x, "sliding_allowed"), 10.0);
    assert!(m(&x, "sliding_max_in_window") <= m(&x, "limit"));
    assert!(m(&x, "bucket_max_in_window") <= m(&x, "limit"));
    assert!(m(&x, "bucket_allowed") <= m(&x, "limit"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_is_fire_and_forget() {
    let (x, _) = run("pubsub-live", json!({"messages": 5})).await;
    // Listening while it is published: every message, once.
    assert_eq!(m(&x, "early_received"), m(&x, "messages") + 1.0, "{x:?}");
    assert_eq!(m(&x, "pattern_received"), m(&x, "messages") + 1.0, "{x:?}");
    // Not listening: nothing, and nothing kept for later.
    assert_eq!(m(&x, "late_received_of_earlier"), 0.0);
    assert!(m(&x, "late_received_after_join") >= 1.0);
    assert_eq!(m(&x, "receivers_when_nobody_listens"), 0.0);
    assert_eq!(m(&x, "receivers_first_publish"), 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_scenario_measures_every_case() {
    let (x, _) = run("bench", json!({})).await;
    assert_eq!(m(&x, "cases"), 8.0);
    // 100 writes in one round trip beat 100 round trips on any machine.
    assert!(m(&x, "pipeline_speedup") > 1.0, "{x:?}");
    // Each engine wins somewhere, by a wide margin: SQLite in this process pays no round trip
    // for a point read; the sorted set answers a top 10 that unindexed SQL must scan for.
    assert!(
        m(&x, "single_read_sqlite_memory_p50_us") < m(&x, "single_read_redis_p50_us"),
        "{x:?}"
    );
    assert!(
        m(&x, "top10_no_index_redis_p50_us") < m(&x, "top10_no_index_sqlite_memory_p50_us"),
        "{x:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_jitter_spreads_expiries_that_one_ttl_bunches() {
    let (x, outside) = run(
        "ttl-jitter",
        json!({"keys": 500, "ttl_s": 300, "jitter_s": 60}),
    )
    .await;
    assert!(outside.is_empty(), "{outside:?}");
    // One TTL: every key expires within the same second.
    assert_eq!(m(&x, "same_second_expiries_without_jitter"), 500.0, "{x:?}");
    assert!(m(&x, "spread_seconds_without_jitter") < 1.0, "{x:?}");
    // With 0..60 s of jitter: the busiest second holds a small share, over about a minute.
    assert!(m(&x, "same_second_expiries_with_jitter") <= 50.0, "{x:?}");
    assert!(m(&x, "spread_seconds_with_jitter") >= 55.0, "{x:?}");
}

#[test]
fn unknown_scenarios_and_bad_params_are_refused() {
    assert!(scenarios::validate("no-such", &json!({})).is_err());
    assert!(scenarios::validate("ttl-jitter", &json!({"key": 5})).is_err());
    assert!(scenarios::check("window-burst", &json!({"limits": 5})).is_err());
    for (name, _) in scenarios::list() {
        scenarios::validate(name, &serde_json::Value::Null)
            .unwrap_or_else(|e| panic!("{name} defaults: {e:#}"));
    }
}

#[test]
fn parameter_tables_show_defaults_and_ranges() {
    let table = scenarios::parameter_table("window-burst").expect("window-burst has a table");
    let limit = table
        .iter()
        .find(|p| p.name == "limit")
        .expect("a limit row");
    assert_eq!(
        (limit.default.as_str(), limit.range.as_str()),
        ("10", "1–10000")
    );
    assert!(scenarios::parameter_table("no-such").is_none());
}

#[test]
fn out_of_range_params_are_refused_before_running() {
    // `validate` relies on this: a lesson asking for 0 keys fails at validation, not live.
    assert!(scenarios::check("ttl-jitter", &json!({"keys": 0})).is_err());
    assert_eq!(
        scenarios::validate("window-burst", &json!({"limit": 0}))
            .map_err(|e| e.to_string())
            .err()
            .as_deref(),
        Some("window-burst: `limit` must be between 1 and 10000, got 0")
    );
    assert!(scenarios::check("window-burst", &json!({"window_s": 1})).is_err());
    assert!(scenarios::check("bench", &json!({"cases": ["nope"]})).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volatile_lru_evicts_the_lock_and_keeps_keys_without_a_ttl() {
    let (x, outside) = run("eviction", json!({"policy": "volatile-lru", "keys": 2000})).await;
    assert!(outside.is_empty(), "{outside:?}");
    // The lock is the only key with a TTL: the only one this policy may evict, and then the
    // server has nothing left to evict and refuses the write.
    assert_eq!(m(&x, "lock_evicted"), 1.0, "{x:?}");
    assert_eq!(m(&x, "evicted_keys"), 1.0, "{x:?}");
    assert_eq!(m(&x, "no_ttl_keys_kept"), 2000.0, "{x:?}");
    assert_eq!(m(&x, "write_refused"), 1.0, "{x:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noeviction_keeps_the_lock_and_refuses_the_write() {
    let (x, _) = run("eviction", json!({"policy": "noeviction", "keys": 2000})).await;
    assert_eq!(m(&x, "lock_evicted"), 0.0, "{x:?}");
    assert_eq!(m(&x, "evicted_keys"), 0.0, "{x:?}");
    assert_eq!(m(&x, "write_refused"), 1.0, "{x:?}");
    assert_eq!(m(&x, "no_ttl_keys_kept"), 2000.0, "{x:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allkeys_lru_evicts_keys_without_a_ttl_and_never_refuses() {
    let (x, _) = run("eviction", json!({"policy": "allkeys-lru", "keys": 2000})).await;
    assert!(m(&x, "evicted_keys") >= 1.0, "{x:?}");
    assert_eq!(m(&x, "write_refused"), 0.0, "{x:?}");
}

#[test]
fn eviction_refuses_an_unknown_policy() {
    let e = scenarios::validate("eviction", &json!({"policy": "lru"}))
        .map_err(|e| e.to_string())
        .err()
        .unwrap_or_default();
    assert!(
        e.contains("volatile-lru") && e.contains("noeviction"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribed_connection_refuses_get_until_it_unsubscribes() {
    let redis = TestRedis::start();
    let report = run_on(&redis, "subscribed-refuses", &json!({}), "lab")
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let x = &report.metrics;
    assert_eq!(m(x, "get_refused"), 1.0, "{report:?}");
    assert_eq!(m(x, "get_after_unsubscribe"), 1.0, "{report:?}");
    let refused = &report.rows[2][2];
    assert!(refused.contains("Can't execute 'get'"), "{refused}");
    // Under RESP3 the same GET is answered while subscribed.
    assert_eq!(m(x, "resp3_get_answered"), 1.0, "{report:?}");
    assert_eq!(report.rows[6][2], "\"hello\"", "{report:?}");
    assert!(redis.all_keys().is_empty(), "left {:?}", redis.all_keys());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscriber_sends_nothing_the_fence_refuses() {
    // A fence for another namespace refuses the scenario's `lab:` key: nothing is sent at all.
    let redis = TestRedis::start();
    let e = run_on(&redis, "subscribed-refuses", &json!({}), "other")
        .await
        .map(|_| ())
        .map_err(|e| format!("{e:#}"))
        .err()
        .unwrap_or_default();
    assert!(e.contains("outside the namespace"), "{e}");
    assert!(redis.all_keys().is_empty(), "left {:?}", redis.all_keys());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribed_refuses_on_valkey_too() {
    let redis = TestRedis::start_valkey();
    let report = run_on(&redis, "subscribed-refuses", &json!({}), "lab")
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(m(&report.metrics, "get_refused"), 1.0, "{report:?}");
    assert_eq!(
        m(&report.metrics, "get_after_unsubscribe"),
        1.0,
        "{report:?}"
    );
    assert_eq!(m(&report.metrics, "resp3_get_answered"), 1.0, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_is_disconnected_and_loses_its_buffer() {
    for limit_kb in [64, 1024] {
        let (x, outside) = run(
            "slow-subscriber",
            json!({"limit_kb": limit_kb, "message_bytes": 8192}),
        )
        .await;
        assert!(outside.is_empty(), "{outside:?}");
        assert_eq!(m(&x, "receivers_at_first"), 1.0, "{x:?}");
        assert_eq!(m(&x, "subscriber_dropped"), 1.0, "{x:?}");
        // At the moment of the disconnect the buffer held more than the limit, none of it read.
        assert!(
            m(&x, "lost") * 8192.0 >= (limit_kb * 1024) as f64 * 0.9,
            "{x:?}"
        );
        assert_eq!(
            m(&x, "published"),
            m(&x, "received") + m(&x, "lost"),
            "{x:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_sends_nothing_the_fence_refuses() {
    // With a fence for another namespace, each scenario's first `lab:` command is refused before
    // it is sent: the scenario ends with the fence's reason and writes nothing.
    let redis = TestRedis::start();
    for (name, params) in [
        ("ttl-jitter", json!({"keys": 10})),
        ("window-burst", json!({})),
        ("complexity", json!({"sizes": [10, 100], "samples": 5})),
        ("pubsub-live", json!({"messages": 1})),
    ] {
        let e = run_on(&redis, name, &params, "other")
            .await
            .map(|_| ())
            .map_err(|e| format!("{e:#}"))
            .err()
            .unwrap_or_default();
        assert!(e.contains("outside the namespace"), "{name}: {e}");
        assert!(
            redis.all_keys().is_empty(),
            "{name} left {:?}",
            redis.all_keys()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_consumer_waits_alone_and_the_producer_wakes_it() {
    let (x, outside) = run("blocking-pop", json!({"pings": 20, "wait_ms": 5000})).await;
    assert!(outside.is_empty(), "{outside:?}");
    // The server counted the consumer as blocked, and answered every PING meanwhile.
    assert_eq!(m(&x, "blocked"), 1.0, "{x:?}");
    assert_eq!(m(&x, "pings_answered"), 20.0, "{x:?}");
    assert_eq!(m(&x, "still_blocked_after_pings"), 1.0, "{x:?}");
    // The LPUSH handed the job to the consumer: nothing left in the list.
    assert_eq!(m(&x, "woken"), 1.0, "{x:?}");
    assert_eq!(m(&x, "left_in_queue"), 0.0, "{x:?}");
    // LPUSH still counted the job it pushed, before the consumer took it.
    assert_eq!(m(&x, "lpush_reply"), 1.0, "{x:?}");
    assert!(m(&x, "wake_us") > 0.0 && m(&x, "wake_us") < 5e6, "{x:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaky_bucket_refuses_the_overflow_and_drains_at_its_rate() {
    let (x, outside) = run(
        "leaky-bucket",
        json!({"capacity": 5, "rate_per_s": 10, "requests": 12}),
    )
    .await;
    assert!(outside.is_empty(), "{outside:?}");
    assert_eq!(m(&x, "accepted"), 5.0, "{x:?}");
    assert_eq!(m(&x, "refused"), 7.0, "{x:?}");
    assert_eq!(m(&x, "peak_len"), 5.0, "{x:?}");
    assert_eq!(m(&x, "drained"), 5.0, "{x:?}");
    // Four gaps of at least 100 ms each: never faster than the limit.
    assert!(m(&x, "span_ms") >= 400.0, "{x:?}");
    assert!(m(&x, "output_vs_limit") <= 1.0, "{x:?}");
    assert!(m(&x, "output_vs_limit") > 0.2, "{x:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_scenarios_refuse_a_namespace_the_fence_does_not_allow() {
    let redis = TestRedis::start();
    for name in ["blocking-pop", "leaky-bucket"] {
        let e = run_on(&redis, name, &json!({}), "other").await;
        assert!(e.is_err(), "{name} ran outside the fence's namespace");
    }
    assert!(redis.all_keys().iter().all(|k| !k.starts_with("lab:")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_lost_reply_counts_twice_unless_the_request_has_a_key() {
    let (x, outside) = run("lost-reply", json!({"timeout_ms": 100})).await;
    assert!(outside.is_empty(), "{outside:?}");
    assert_eq!(m(&x, "timed_out"), 3.0, "{x:?}");
    // The same timeout, two outcomes: closed while held, the write never ran; still
    // connected, it ran after the client gave up.
    assert_eq!(m(&x, "closed_ran"), 0.0, "{x:?}");
    assert_eq!(m(&x, "closed_count"), 0.0, "{x:?}");
    assert_eq!(m(&x, "retried_ran"), 1.0, "{x:?}");
    assert_eq!(m(&x, "retried_count"), 2.0, "{x:?}");
    assert_eq!(m(&x, "retried_reply"), 2.0, "{x:?}");
    assert_eq!(m(&x, "idempotent_count"), 1.0, "{x:?}");
    assert_eq!(m(&x, "idempotent_retry_reply"), 1.0, "{x:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_per_request_opens_one_each_and_a_small_pool_makes_workers_wait() {
    let params = json!({"requests": 200, "pool": 2, "workers": 8, "rounds": 3, "hold_ms": 20});
    let (x, outside) = run("connection-pool", params).await;
    assert!(outside.is_empty(), "{outside:?}");
    assert_eq!(m(&x, "per_request_opened"), 200.0, "{x:?}");
    assert_eq!(m(&x, "pooled_opened"), 1.0, "{x:?}");
    // CLIENT LIST: the step's own connection and the one in use (or the pool).
    assert_eq!(m(&x, "per_request_clients"), 2.0, "{x:?}");
    assert_eq!(m(&x, "pooled_clients"), 2.0, "{x:?}");
    assert_eq!(m(&x, "small_pool_clients"), 3.0, "{x:?}");
    assert!(m(&x, "small_pool_waited") >= 6.0, "{x:?}");
    assert_eq!(m(&x, "big_pool_waited"), 0.0, "{x:?}");
    println!("{x:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_with_its_link_cut_serves_the_old_value_and_wait_rolls_nothing_back() {
    let (x, outside) = run("replica-lag", json!({"wait_ms": 200})).await;
    assert!(outside.is_empty(), "{outside:?}");
    assert_eq!(m(&x, "wait_in_sync"), 1.0, "{x:?}");
    assert_eq!(m(&x, "replica_in_sync"), 1.0, "{x:?}");
    assert_eq!(m(&x, "replica_read_stale"), 1.0, "{x:?}");
    assert_eq!(m(&x, "wait_while_cut"), 0.0, "{x:?}");
    assert!(m(&x, "wait_while_cut_ms") >= 190.0, "{x:?}");
    assert_eq!(m(&x, "master_kept_write"), 1.0, "{x:?}");
    assert_eq!(m(&x, "wait_link_back"), 1.0, "{x:?}");
    assert_eq!(m(&x, "replica_caught_up"), 1.0, "{x:?}");
    assert_eq!(m(&x, "aof_enabled"), 0.0, "{x:?}");
    assert_eq!(m(&x, "slaveof_known"), 1.0, "{x:?}");
    assert!(m(&x, "unsaved_on_replica") >= 1.0, "{x:?}");
    println!("{x:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_asks_sentinel_keeps_writing_across_a_failover() {
    let (x, outside) = run("sentinel-failover", json!({"down_after_ms": 500})).await;
    assert!(outside.is_empty(), "{outside:?}");
    assert_eq!(m(&x, "moved"), 1.0, "{x:?}");
    assert_eq!(m(&x, "promoted_is_master"), 1.0, "{x:?}");
    assert_eq!(m(&x, "writes_before"), 10.0, "{x:?}");
    assert_eq!(m(&x, "count_after"), 11.0, "{x:?}");
    // Sentinel counts the silence from its last answered ping, up to a second before the crash.
    assert!(m(&x, "detected_ms") > 0.0, "{x:?}");
    assert!(m(&x, "detected_ms") < 500.0 + 1500.0, "{x:?}");
    assert!(m(&x, "promoted_ms") >= m(&x, "detected_ms"), "{x:?}");
    assert!(m(&x, "first_write_ms") >= m(&x, "promoted_ms"), "{x:?}");
    assert!(m(&x, "failed_writes") >= 1.0, "{x:?}");
    println!("{x:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_blocks_another_client_and_a_scan_loop_finds_every_key() {
    let (x, outside) = run("keys-vs-scan", json!({"keys": 100000, "count": 1000})).await;
    eprintln!("{x:?}");
    assert!(outside.is_empty(), "{outside:?}");
    assert_eq!(m(&x, "keys_found"), 100.0, "{x:?}");
    assert_eq!(m(&x, "scan_missing"), 0.0, "{x:?}");
    assert!(m(&x, "scan_calls") > 1.0, "{x:?}");
    assert!(m(&x, "scan_empty_pages") >= 1.0, "{x:?}");
    // Server time, free of the machine's noise: one KEYS costs many SCAN calls.
    assert!(
        m(&x, "keys_server_us") > 10.0 * m(&x, "scan_server_us_per_call"),
        "{x:?}"
    );
    // The PING sent while KEYS ran waited for most of it.
    assert!(
        m(&x, "ping_worst_during_keys_us") > 0.5 * m(&x, "keys_server_us"),
        "{x:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_with_a_hot_set_keeps_it_under_lru_and_lfu() {
    let (x, outside) = run("eviction-cache", json!({"keys": 2000, "requests": 10000})).await;
    eprintln!("{x:?}");
    assert!(outside.is_empty(), "{outside:?}");
    assert!(m(&x, "noeviction_vs_allkeys_lru") < 0.5, "{x:?}");
    assert_eq!(m(&x, "best_is_allkeys"), 1.0, "{x:?}");
    assert!(m(&x, "allkeys_lru_evicted_keys") > 0.0, "{x:?}");
    assert!(m(&x, "volatile_ttl_evicted_keys") > 0.0, "{x:?}");
    assert_eq!(m(&x, "noeviction_evicted_keys"), 0.0, "{x:?}");
    assert!(m(&x, "noeviction_refused_writes") > 0.0, "{x:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn del_of_a_big_set_blocks_and_unlink_does_not() {
    let (x, outside) = run("big-keys", json!({"members": 1000000})).await;
    eprintln!("{x:?}");
    assert!(outside.is_empty(), "{outside:?}");
    assert_eq!(m(&x, "biggest_is_big_set"), 1.0, "{x:?}");
    assert_eq!(m(&x, "slowlog_has_del"), 1.0, "{x:?}");
    assert_eq!(m(&x, "slowlog_units_are_us"), 1.0, "{x:?}");
    assert!(m(&x, "del_us") > 5.0 * m(&x, "unlink_us"), "{x:?}");
    assert!(
        m(&x, "ping_worst_during_del_us") > 0.5 * m(&x, "slowlog_del_us"),
        "{x:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_nobody_reads_expire_anyway() {
    let (x, outside) = run("active-expiry", json!({"keys": 10000, "ttl_ms": 1000})).await;
    eprintln!("{x:?}");
    assert!(outside.is_empty(), "{outside:?}");
    assert_eq!(m(&x, "reads"), 0.0, "{x:?}");
    assert_eq!(m(&x, "expired_keys"), 10000.0, "{x:?}");
    assert_eq!(m(&x, "keys_left"), 10000.0, "{x:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loses_what_the_snapshot_missed_and_nothing_under_aof_always() {
    let (x, outside) = run("persistence", json!({"writes": 1000})).await;
    eprintln!("{x:?}");
    assert!(outside.is_empty(), "{outside:?}");
    assert_eq!(m(&x, "rdb_survived"), 500.0, "{x:?}");
    assert_eq!(m(&x, "aof_always_survived"), 1000.0, "{x:?}");
    // Everysec may hold writes back while a background fsync is slow (up to two seconds), and a
    // kill -9 loses those: how many depends on the disk, so only the count is checked.
    assert_eq!(
        m(&x, "aof_everysec_survived") + m(&x, "aof_everysec_lost"),
        1000.0,
        "{x:?}"
    );
    // The server's own count of those held-back writes is read and shown (0 without AOF).
    assert!(x.contains_key("aof_everysec_delayed_fsync"), "{x:?}");
    assert_eq!(m(&x, "rdb_delayed_fsync"), 0.0, "{x:?}");
}

/// Code written the way a new scenario would be, with no call to any check: every connection the
/// server hands out is fenced, so each foreign command is refused before it is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_without_any_gate_call_is_still_fenced() {
    use redislab::redis::connect::Rights;
    let redis = TestRedis::start();
    redis.seed_foreign_keys();
    let before = redis.foreign_fingerprint();
    let home = tempfile::tempdir().expect("temp dir");
    let settings = Settings::for_url(&redis.url(), "lab", home.path().to_path_buf());
    let server = connect(&settings).await.expect("connects");
    let refused = |r: Result<(), String>| {
        let e = r.expect_err("sent a command outside the namespace");
        assert!(e.contains("outside the namespace"), "{e}");
    };
    // The redis crate's own calls on a multiplexed connection.
    for mut conn in [
        server.connection().await.expect("conn"),
        server.learner_connection().await.expect("learner conn"),
        server.admin(),
        server
            .node_connection(Rights::Admin, None, None)
            .await
            .expect("node conn"),
    ] {
        let r: redis::RedisResult<()> = redis::cmd("SET")
            .arg("foreign:string")
            .arg("overwritten")
            .query_async(&mut conn)
            .await;
        refused(r.map_err(|e| format!("{e:#}")));
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg("lab:ok")
            .arg(1)
            .cmd("DEL")
            .arg("foreign:hash");
        let r: redis::RedisResult<()> = pipe.query_async(&mut conn).await;
        refused(r.map_err(|e| format!("{e:#}")));
    }
    // A plain reply-at-a-time connection and a subscriber.
    let mut raw = server
        .raw_connection(
            Rights::Learner,
            None,
            std::time::Duration::from_secs(2),
            false,
        )
        .await
        .expect("raw conn");
    refused(
        raw.send(&[b"DEL".to_vec(), b"foreign:list".to_vec()])
            .await
            .map_err(|e| format!("{e:#}")),
    );
    let mut sub = server
        .pubsub(Rights::Learner, std::time::Duration::from_secs(2))
        .await
        .expect("subscriber");
    refused(
        sub.subscribe(b"foreign-channel")
            .await
            .map_err(|e| format!("{e:#}")),
    );
    // A load generator's block.
    let conn = server.connection().await.expect("conn");
    let mut get = redis::cmd("GET");
    get.arg("foreign:string");
    refused(
        conn.admitted_block(get, 4)
            .await
            .map(|_| ())
            .map_err(|e| format!("{e:#}")),
    );
    // `inspect --all` reads every key, and can do nothing else.
    let mut all = server.read_only_admin();
    let v: Option<String> = redis::cmd("GET")
        .arg("foreign:string")
        .query_async(&mut all)
        .await
        .expect("a read of a foreign key passes the read-only fence");
    assert!(v.is_some());
    let r: redis::RedisResult<()> = redis::cmd("DEL")
        .arg("foreign:string")
        .query_async(&mut all)
        .await;
    let e = format!("{:#}", r.expect_err("a write passed the read-only fence"));
    assert!(e.contains("not a read"), "{e}");
    assert_eq!(redis.foreign_fingerprint(), before, "a foreign key changed");
    assert!(
        !redis.all_keys().iter().any(|k| k == "lab:ok"),
        "a refused pipeline sent part of itself"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_tracking_invalidates_only_the_key_the_connection_read() {
    for redis in [TestRedis::start(), TestRedis::start_valkey()] {
        let report = run_on(&redis, "client-tracking", &json!({}), "lab")
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        let x = &report.metrics;
        assert_eq!(m(x, "tracking_on"), 1.0, "{report:?}");
        assert_eq!(m(x, "invalidated_read_key"), 1.0, "{report:?}");
        assert_eq!(m(x, "invalidated_unread_key"), 0.0, "{report:?}");
        assert_eq!(m(x, "refetched_new_value"), 1.0, "{report:?}");
        assert!(redis.all_keys().is_empty(), "left {:?}", redis.all_keys());
    }
}

/// One transaction state per connection, read off the server's replies: a MULTI Redis refused
/// (nested) opens nothing new, EXEC and DISCARD close it, and a clone of the connection (the
/// same link) reads the same state. The sandbox's and a lesson's `redis(TX)>` both read it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_knows_whether_it_is_inside_multi_from_the_server_replies() {
    use redislab::redis::fence::{Origin, typed};
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("temp dir");
    let settings = Settings::for_url(&redis.url(), "lab", home.path().to_path_buf());
    let server = connect(&settings).await.expect("connects");
    let mut conn = server
        .learner_connection()
        .await
        .expect("a learner connection");
    let same = conn.clone();
    let mut run = async |line: &[&str]| {
        let args: Vec<Vec<u8>> = line.iter().map(|a| a.as_bytes().to_vec()).collect();
        conn.run(&typed(&args), Origin::Learner)
            .await
            .expect("sent");
        conn.in_transaction()
    };
    assert!(!run(&["INCR", "lab:tx:n"]).await);
    assert!(run(&["MULTI"]).await);
    assert!(run(&["MULTI"]).await, "a refused nested MULTI ends nothing");
    assert!(same.in_transaction(), "a clone reads the same connection");
    assert!(run(&["INCR", "lab:tx:n"]).await);
    assert!(!run(&["EXEC"]).await);
    assert!(
        !run(&["DISCARD"]).await,
        "DISCARD without MULTI opens nothing"
    );
    assert!(run(&["MULTI"]).await);
    assert!(!run(&["DISCARD"]).await);
    assert_eq!(redis.cli(&["GET", "lab:tx:n"]), "\"2\"\n");
}
