//! redislab's core against real redis-servers (private, on free ports; never 6379), no mocks:
//! replies rendered byte-for-byte like `redis-cli --no-raw`, the tokenizer, how Redis is found,
//! connection failures, `inspect --json`, and the namespace rule in the sandbox and `reset`.
// Tests reach the servers directly, to set up and to check what redislab did.
#![allow(clippy::disallowed_methods)]

mod common;

use std::process::Command;

use common::{
    ManagedHome, TestRedis, assert_success, free_port, redislab_bare, run, run_with_stdin, stderr,
    stdout,
};
use serde_json::Value;

fn home() -> tempfile::TempDir {
    tempfile::tempdir().expect("create a temporary home")
}

/// Lines run through both `redislab sandbox` and `redis-cli --no-raw`: every reply type and
/// data type, with outputs that do not depend on the server's hash seed or the clock.
fn render_lines() -> Vec<String> {
    let fixed = r#"PING
PING "hello world"
MEMORY DOCTOR x
CLIENT INFO x
CLUSTER NODES x
INFO keyspace x y z
ECHO "tab\there"
SET lab:str hello
GET lab:str
GET lab:missing
SET lab:empty ""
GET lab:empty
STRLEN lab:str
APPEND lab:str " world"
GETRANGE lab:str 0 4
SET lab:bin "\xff\x00\x01abc\r\n\t\a\b\\\"q\" 'sq'"
GET lab:bin
STRLEN lab:bin
SET lab:quotes 'single "double" \'escaped\''
GET lab:quotes
SET lab:nl "line1\nline2\n"
GET lab:nl
SET lab:utf8 "caf\xc3\xa9 ✓"
GET lab:utf8
SETRANGE lab:bin 1 "\x7f"
GET lab:bin
SET lab:n 10
INCR lab:n
INCRBY lab:n -25
DECR lab:n
INCRBYFLOAT lab:n 2.5
INCRBYFLOAT lab:n 1e3
GET lab:n
3 INCR lab:count
MSET lab:m1 a lab:m2 b lab:m3 c
MGET lab:m1 lab:missing lab:m3 lab:m2
SETNX lab:m1 z
SET lab:m1 new GET
SET lab:ttl v EX 1000
TTL lab:str
TTL lab:missing
PERSIST lab:ttl
TTL lab:ttl
EXISTS lab:str lab:missing lab:m1
TYPE lab:str
TYPE lab:missing
OBJECT ENCODING lab:n
DEL lab:m1 lab:m2 lab:missing
INCR lab:bin
LPUSH lab:str x
GET lab:str extra
NOSUCHCOMMAND lab:a "b c"
SET lab:onlykey
RPUSH lab:list a b c "d e" ""
LRANGE lab:list 0 -1
LRANGE lab:list 5 10
LRANGE lab:nolist 0 -1
LINDEX lab:list 1
LINDEX lab:list 99
LLEN lab:list
LPOS lab:list c
LPOP lab:list 2
RPOP lab:nolist
LMPOP 1 lab:list RIGHT COUNT 2
LMPOP 1 lab:nolist LEFT
BLPOP lab:nolist 0.01
LINSERT lab:list BEFORE c before-c
LRANGE lab:list 0 -1
HSET lab:hash name Alice city Paris age 30
HGET lab:hash name
HGET lab:hash nope
HMGET lab:hash name nope city
HGETALL lab:hash
HGETALL lab:nohash
HINCRBY lab:hash age 1
HINCRBYFLOAT lab:hash age 0.5
HLEN lab:hash
HEXISTS lab:hash city
HKEYS lab:hash
HVALS lab:hash
HDEL lab:hash city nope
HSTRLEN lab:hash name
SADD lab:ints 5 3 9 1 7
SMEMBERS lab:ints
SADD lab:set apple banana cherry apple
SORT lab:set ALPHA
SORT lab:set ALPHA DESC LIMIT 0 2
SADD lab:one only
SMEMBERS lab:one
SMEMBERS lab:noset
SISMEMBER lab:set apple
SMISMEMBER lab:set apple nope banana
SCARD lab:set
SINTER lab:set lab:one
SREM lab:set banana
ZADD lab:z 1 one 2 two 3 three 2.5 two-and-half -inf low +inf high
ZRANGE lab:z 0 -1
ZRANGE lab:z 0 -1 WITHSCORES
ZREVRANGE lab:z 0 2 WITHSCORES
ZRANGEBYSCORE lab:z 2 3 WITHSCORES
ZRANGE lab:z (1 3 BYSCORE LIMIT 0 2
ZSCORE lab:z two-and-half
ZSCORE lab:z nope
ZMSCORE lab:z one nope high
ZRANK lab:z three
ZREVRANK lab:z three
ZINCRBY lab:z 0.25 one
ZCARD lab:z
ZCOUNT lab:z -inf +inf
ZPOPMIN lab:z 2
ZRANDMEMBER lab:noz
ZRANGE lab:noz 0 -1 WITHSCORES
XADD lab:s 1-1 sensor a temp 20
XADD lab:s 1-2 sensor b temp 21.5
XADD lab:s 2-0 sensor a temp "hot \"x\""
XADD lab:s 1-0 too old
XLEN lab:s
XRANGE lab:s - +
XRANGE lab:s - + COUNT 1
XREVRANGE lab:s + - COUNT 2
XRANGE lab:s 5-0 +
XREAD COUNT 2 STREAMS lab:s 0
XREAD STREAMS lab:s 9-0
XGROUP CREATE lab:s workers 0
XGROUP CREATE lab:s workers 0
XREADGROUP GROUP workers alice COUNT 2 STREAMS lab:s >
XREADGROUP GROUP workers bob STREAMS lab:s >
XREADGROUP GROUP workers bob STREAMS lab:s >
XPENDING lab:s workers
XACK lab:s workers 1-1 9-9
XCLAIM lab:s workers carol 0 1-2 JUSTID
XAUTOCLAIM lab:s workers dave 0 0-0 COUNT 10
XDEL lab:s 1-1
XRANGE lab:s - +
XTRIM lab:s MAXLEN 1
XRANGE lab:s - +
MULTI
INCR lab:tx
LPUSH lab:str nope
LRANGE lab:list 0 -1
HGETALL lab:hash
GET lab:tx
EXEC
MULTI
SET lab:tx
INCR lab:tx
EXEC
GET lab:tx
MULTI
INCR lab:tx
DISCARD
EXEC
GEOADD lab:geo 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
GEOPOS lab:geo Palermo nope
GEODIST lab:geo Palermo Catania km
GEOSEARCH lab:geo FROMLONLAT 15 37 BYRADIUS 200 km ASC WITHDIST WITHCOORD
SETBIT lab:bits 7 1
SETBIT lab:bits 100 1
BITCOUNT lab:bits
GET lab:bits
PFADD lab:hll a b c d
PFCOUNT lab:hll
GETRANGE lab:hll 0 7
COMMAND GETKEYS SET lab:k v
COMMAND GETKEYS MSET lab:a 1 lab:b 2
"#;
    let mut lines: Vec<String> = fixed.lines().map(str::to_string).collect();
    // Index widths: 9, 10, 12 and 100 elements, at the top level and nested inside EXEC.
    for (key, n) in [("lab:nine", 9), ("lab:ten", 10), ("lab:twelve", 12)] {
        let items: Vec<String> = (1..=n).map(|i| format!("item-{i}")).collect();
        lines.push(format!("RPUSH {key} {}", items.join(" ")));
        lines.push(format!("LRANGE {key} 0 -1"));
    }
    let hundred: Vec<String> = (0..100).map(|i| format!("v{i:03}")).collect();
    lines.push(format!("RPUSH lab:hundred {}", hundred.join(" ")));
    lines.push("LRANGE lab:hundred 0 -1".into());
    let fields: Vec<String> = (0..12).map(|i| format!("f{i} {i}")).collect();
    lines.push(format!("HSET lab:wide {}", fields.join(" ")));
    lines.push("HGETALL lab:wide".into());
    let members: Vec<String> = (0..11).map(|i| format!("{i} m{i}")).collect();
    lines.push(format!("ZADD lab:zwide {}", members.join(" ")));
    lines.push("ZRANGE lab:zwide 0 -1 WITHSCORES".into());
    for i in 3..=14 {
        lines.push(format!("XADD lab:s {i}-0 n {i}"));
    }
    lines.push("XRANGE lab:s - +".into());
    lines.push("XREAD STREAMS lab:s 0".into());
    lines.extend(
        [
            "MULTI",
            "LRANGE lab:twelve 0 -1",
            "LRANGE lab:hundred 0 10",
            "XRANGE lab:s - + COUNT 11",
            "ZRANGE lab:zwide 0 -1 WITHSCORES",
            "GET lab:nothing",
            "LRANGE lab:nothing 0 -1",
            "INCR lab:str",
            "PING",
            "ECHO last",
            "EXEC",
        ]
        .map(str::to_string),
    );
    lines
}

/// Scripts (nested tables, errors inside arrays, every Lua → RESP conversion). The sandbox
/// refuses them on a server it cannot fence, so these go through the library's `run_line`.
const EVAL_LINES: &[&str] = &[
    r#"SET lab:a 42"#,
    r#"EVAL "return 1" 0"#,
    r#"EVAL "return 3.99" 0"#,
    r#"EVAL "return 'text'" 0"#,
    r#"EVAL "return true" 0"#,
    r#"EVAL "return false" 0"#,
    r#"EVAL "return nil" 0"#,
    r#"EVAL "return {}" 0"#,
    r#"EVAL "return {ok='fine'}" 0"#,
    r#"EVAL "return {err='boom'}" 0"#,
    r#"EVAL "return redis.error_reply('MY custom error')" 0"#,
    r#"EVAL "return redis.status_reply('DONE')" 0"#,
    r#"EVAL "return {1, {2, {'a', {'deep', {}}}}, 'x', {}, redis.error_reply('inner')}" 0"#,
    r#"EVAL "local t = {} for i = 1, 12 do t[i] = {i, tostring(i * i)} end return t" 0"#,
    r#"EVAL "local t = {} for i = 1, 100 do t[i] = i end return t" 0"#,
    r#"EVAL "return {1, 2, nil, 4}" 0"#,
    r#"EVAL "return redis.call('GET', KEYS[1])" 1 lab:a"#,
    r#"EVAL "return redis.call('INCR', KEYS[1])" 1 lab:a"#,
    r#"EVAL "return redis.call('HGETALL', KEYS[1])" 1 lab:nohash"#,
    r#"EVAL "return {ARGV[1], ARGV[2], #ARGV}" 0 "\xff\x00" "two words""#,
    r#"EVAL "return redis.call('LPUSH', KEYS[1], 'x')" 1 lab:a"#,
    r#"EVAL "return redis.pcall('LPUSH', KEYS[1], 'x')" 1 lab:a"#,
    r#"EVAL "syntax error here" 0"#,
    r#"EVAL "return 1""#,
    r#"SCRIPT LOAD "return 'cached'""#,
    r#"EVALSHA 0000000000000000000000000000000000000000 0"#,
    r#"EVAL_RO "return redis.call('GET', KEYS[1])" 1 lab:a"#,
    r#"MULTI"#,
    r#"EVAL "return {1, {2, 3}}" 0"#,
    r#"EVAL "return redis.error_reply('in tx')" 0"#,
    r#"EXEC"#,
];

fn sandbox_session(redis: &TestRedis, input: &str) -> std::process::Output {
    let home = home();
    run_with_stdin(redis.redislab(home.path()).arg("sandbox"), input)
}

/// Compares output line by line so a mismatch names the first differing line and command.
fn assert_same_output(ours: &str, theirs: &str, what: &str) {
    if ours == theirs {
        return;
    }
    let a: Vec<&str> = ours.lines().collect();
    let b: Vec<&str> = theirs.lines().collect();
    let at = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let from = at.saturating_sub(5);
    panic!(
        "{what}: output differs from redis-cli at line {} (redislab {} lines, redis-cli {} lines)\n\
         --- redislab\n{}\n--- redis-cli\n{}",
        at + 1,
        a.len(),
        b.len(),
        a[from..a.len().min(at + 5)].join("\n"),
        b[from..b.len().min(at + 5)].join("\n"),
    );
}

#[test]
fn sandbox_renders_every_reply_like_redis_cli() {
    let lines = render_lines();
    assert!(
        lines.len() >= 190,
        "comparison set has {} lines",
        lines.len()
    );
    let input = format!("{}\n", lines.join("\n"));

    let ours_server = TestRedis::start();
    let out = sandbox_session(&ours_server, &input);
    assert_success(&out);
    assert!(
        !stderr(&out).contains("(refused)"),
        "nothing in the comparison set should be refused:\n{}",
        stderr(&out)
    );

    let reference = TestRedis::start();
    let expected = reference.cli_session(&input);
    assert!(
        expected.lines().count() > 400,
        "redis-cli printed too little"
    );
    assert_same_output(&stdout(&out), &expected, "sandbox");
}

#[test]
fn library_run_line_renders_scripts_like_redis_cli() {
    let ours = TestRedis::start();
    let reference = TestRedis::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a runtime");
    let mut lines: Vec<String> = EVAL_LINES.iter().map(|s| s.to_string()).collect();
    // The whole sandbox set again, through the library this time.
    lines.extend(render_lines());
    let rendered = rt.block_on(async {
        let client = redis::Client::open(ours.url()).expect("client");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let mut out = String::new();
        for line in &lines {
            out.push_str(
                &redislab::redis::command::run_line(&mut conn, line)
                    .await
                    .unwrap_or_else(|e| panic!("{line}: {e}")),
            );
        }
        out
    });
    let expected = reference.cli_session(&format!("{}\n", lines.join("\n")));
    assert_same_output(&rendered, &expected, "run_line");
}

#[test]
fn tokenizer_escapes_match_redis_cli() {
    // Each SET is followed by a GET, so the bytes the tokenizer produced are visible.
    let cases = [
        r#""a\x41\n\t\"q\"""#,
        r#""\x00\xff\xFe\x7f""#,
        r#""\n\r\t\b\a\\\"""#,
        r#""\xZZ \x4 \q \' end""#,
        r#""unknown \z escape""#,
        r#"'single \n not an escape'"#,
        r#"'it\'s'"#,
        r#"'a "double" inside'"#,
        r#""a 'single' inside""#,
        r#""""#,
        r#"''"#,
        r#"plain\x41word"#,
        r#"mid"dle part""#,
        r#"mid'dle part'"#,
        r#""trailing space "  "#,
        "\"tab\there\"",
        r#""é ✓ ü""#,
    ];
    let mut input = String::new();
    for (i, value) in cases.iter().enumerate() {
        input.push_str(&format!(
            "SET lab:t{i} {value}\nGET lab:t{i}\nSTRLEN lab:t{i}\n"
        ));
    }
    // Lines redis-cli rejects with `Invalid argument(s)`, each followed by a working command.
    for bad in [
        r#"SET lab:bad "unbalanced"#,
        r#"SET lab:bad 'unbalanced"#,
        r#"SET lab:bad "closed"glued"#,
        r#"SET lab:bad 'closed'glued"#,
        r#"GET "lab:bad"#,
    ] {
        input.push_str(&format!("{bad}\nEXISTS lab:bad\n"));
    }
    // Repeat prefixes, whitespace, and tabs between words.
    input.push_str("2 INCR lab:rep\n0 PING\n-1 PING\n   \n\tGET\tlab:rep\t\n");

    let ours = TestRedis::start();
    let out = sandbox_session(&ours, &input);
    assert_success(&out);
    let reference = TestRedis::start();
    let expected = reference.cli_session(&input);
    assert_eq!(
        expected.matches("Invalid argument(s)").count(),
        5,
        "redis-cli itself rejects the five bad lines:\n{expected}"
    );
    assert_same_output(&stdout(&out), &expected, "tokenizer");
    // And the stored bytes are equal too.
    for (i, case) in cases.iter().enumerate() {
        let key = format!("lab:t{i}");
        assert_eq!(
            ours.describe_key(&key),
            reference.describe_key(&key),
            "{case}"
        );
    }
}

// ---------------------------------------------------------------- finding Redis

fn banner_of(out: &std::process::Output) -> String {
    stderr(out).lines().next().unwrap_or_default().to_string()
}

#[test]
fn redis_url_flag_wins_over_env_and_localhost() {
    let flagged = TestRedis::start();
    let local = TestRedis::start();
    let home = home();
    let dead = format!("redis://127.0.0.1:{}", free_port());
    let out = run(flagged
        .redislab(home.path())
        .env("REDIS_URL", &dead)
        .env("REDISLAB_LOCAL_ADDR", local.addr())
        .args(["inspect"]));
    assert_success(&out);
    let banner = banner_of(&out);
    assert!(banner.contains("from --redis-url"), "{banner}");
    assert!(
        banner.contains(&format!("127.0.0.1:{}", flagged.port())),
        "{banner}"
    );
    assert!(
        !home.path().join("server").join("redis.port").exists(),
        "no managed server may start when a URL is given"
    );
}

#[test]
fn redis_url_env_is_used_and_named() {
    let redis = TestRedis::start();
    let local = TestRedis::start();
    let home = home();
    let out = run(redislab_bare(home.path())
        .env("REDIS_URL", redis.url())
        .env("REDISLAB_LOCAL_ADDR", local.addr())
        .arg("inspect"));
    assert_success(&out);
    let banner = banner_of(&out);
    assert!(banner.contains("from REDIS_URL"), "{banner}");
    assert!(
        banner.contains(&format!("127.0.0.1:{}", redis.port())),
        "{banner}"
    );
}

#[test]
fn a_redis_on_localhost_is_found() {
    let local = TestRedis::start();
    local.cli(&["SET", "lab:seen", "yes"]);
    let home = home();
    let out = run(redislab_bare(home.path())
        .env("REDISLAB_LOCAL_ADDR", local.addr())
        .args(["inspect", "--json"]));
    assert_success(&out);
    let banner = banner_of(&out);
    assert!(banner.contains("found on localhost"), "{banner}");
    assert!(banner.contains(&local.addr()), "{banner}");
    let json: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(json["keys"][0]["key"], "lab:seen");
    assert!(!home.path().join("server").join("redis.port").exists());
}

#[test]
fn managed_server_starts_is_reused_recovers_from_a_stale_pid_and_stops() {
    let home = ManagedHome::new();

    let status = run(home.redislab().args(["server", "status"]));
    assert_eq!(status.status.code(), Some(3), "not running yet: {status:?}");

    // First use starts it.
    let out = run(home.redislab().arg("inspect"));
    assert_success(&out);
    assert!(
        banner_of(&out).contains("managed by redislab"),
        "{}",
        stderr(&out)
    );
    let port = home.port().expect("the port is recorded");
    let pid = home.pid().expect("the pid is recorded");
    assert_ne!(port, 6379);

    // The next invocation reuses it: same port, same pid.
    let out = run(home.redislab().args(["sandbox"]));
    assert_success(&out);
    assert!(banner_of(&out).contains(&format!("127.0.0.1:{port}")));
    let status = run(home.redislab().args(["server", "status"]));
    assert_success(&status);
    assert!(
        stdout(&status).contains(&format!("127.0.0.1:{port}")),
        "{}",
        stdout(&status)
    );
    assert!(stdout(&status).contains(&format!("pid {pid}")));
    assert_eq!(home.pid(), Some(pid));

    // `server start` says it already runs.
    let start = run(home.redislab().args(["server", "start"]));
    assert_success(&start);
    assert!(stdout(&start).contains("already running"), "{start:?}");

    // Kill it behind redislab's back: the stale pid and port are detected and replaced.
    let killed = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    assert!(
        common::wait_until_closed(port, std::time::Duration::from_secs(10)),
        "the killed server still accepts connections"
    );
    let out = run(home.redislab().arg("inspect"));
    assert_success(&out);
    assert!(banner_of(&out).contains("managed by redislab"));
    let new_pid = home.pid().expect("a new pid is recorded");
    assert_ne!(new_pid, pid, "a new server must have been started");
    let new_port = home.port().expect("a new port is recorded");
    let status = run(home.redislab().args(["server", "status"]));
    assert_success(&status);
    assert!(stdout(&status).contains(&format!("127.0.0.1:{new_port}")));

    // Stop.
    let stop = home.stop();
    assert_success(&stop);
    assert!(stdout(&stop).contains("stopped"), "{stop:?}");
    assert!(common::wait_until_closed(
        new_port,
        std::time::Duration::from_secs(5)
    ));
    let status = run(home.redislab().args(["server", "status"]));
    assert_eq!(status.status.code(), Some(3));
    let stop = home.stop();
    assert_success(&stop);
    assert!(stdout(&stop).contains("not running"), "{stop:?}");
}

#[test]
fn with_no_redis_anywhere_the_error_says_how_to_get_one() {
    let home = home();
    let empty_path = tempfile::tempdir().expect("temp dir");
    let out = run(redislab_bare(home.path())
        .env("PATH", empty_path.path())
        .arg("inspect"));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = stderr(&out);
    for hint in [
        "docker compose up -d",
        "redislab server install",
        "REDIS_URL",
    ] {
        assert!(err.contains(hint), "stderr should name {hint}: {err}");
    }
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

fn assert_one_line_failure(out: &std::process::Output, secret: Option<&str>) {
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = stderr(out);
    assert_eq!(err.trim().lines().count(), 1, "one line on stderr: {err}");
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(!err.contains(bad), "{bad} in: {err}");
    }
    if let Some(secret) = secret {
        assert!(!err.contains(secret), "password leaked to stderr: {err}");
        assert!(
            !stdout(out).contains(secret),
            "password leaked to stdout: {}",
            stdout(out)
        );
    }
}

#[test]
fn a_wrong_password_is_one_line_and_never_shown() {
    let redis = TestRedis::start_with_password("secret");
    let home = home();
    for (url, secret) in [
        (
            format!("redis://:wrong@127.0.0.1:{}", redis.port()),
            "wrong",
        ),
        (
            format!("redis://default:Zq9-not-it@127.0.0.1:{}/0", redis.port()),
            "Zq9-not-it",
        ),
    ] {
        for (how, cmd) in [
            ("flag", {
                let mut c = redislab_bare(home.path());
                c.args(["--redis-url", &url, "inspect"]);
                c
            }),
            ("env", {
                let mut c = redislab_bare(home.path());
                c.env("REDIS_URL", &url).arg("inspect");
                c
            }),
        ] {
            let mut cmd = cmd;
            let out = run(cmd.env("RUST_BACKTRACE", "1"));
            assert_one_line_failure(&out, Some(secret));
            assert!(
                stderr(&out).contains("credentials") || stderr(&out).contains("WRONGPASS"),
                "{how}: {}",
                stderr(&out)
            );
        }
    }
    // No password at all on a server that needs one.
    let out = run(redislab_bare(home.path())
        .args([
            "--redis-url",
            &format!("redis://127.0.0.1:{}", redis.port()),
        ])
        .arg("inspect"));
    assert_one_line_failure(&out, Some("secret"));
    // The right one works.
    let out = run(redis.redislab(home.path()).arg("inspect"));
    assert_success(&out);
    assert!(!stderr(&out).contains("secret"), "{}", stderr(&out));
}

#[test]
fn a_refused_port_is_one_line_without_a_backtrace() {
    let home = home();
    // Port 1: nothing listens there, and no other test can take it in the meantime.
    let url = "redis://127.0.0.1:1";
    for sub in [&["inspect"][..], &["sandbox"], &["reset", "--all"]] {
        let out = run(redislab_bare(home.path())
            .env("RUST_BACKTRACE", "1")
            .args(["--redis-url", url])
            .args(sub));
        assert_one_line_failure(&out, None);
        assert!(stderr(&out).contains("refused"), "{}", stderr(&out));
    }
}

// ---------------------------------------------------------------- inspect

#[test]
fn inspect_json_describes_every_type() {
    let redis = TestRedis::start();
    redis.seed_foreign_keys();
    redis.cli(&["SET", "lab:str", "hello", "EX", "1000"]);
    redis.cli(&["SET", "lab:bin", "a\nb"]);
    redis.cli(&["RPUSH", "lab:list", "a", "b", "c", "d", "e", "f", "g"]);
    redis.cli(&["HSET", "lab:hash", "name", "Alice", "city", "Paris"]);
    redis.cli(&["PEXPIRE", "lab:hash", "50000"]);
    redis.cli(&["SADD", "lab:set", "x", "y", "z"]);
    redis.cli(&["ZADD", "lab:zset", "1", "one", "2", "two"]);
    redis.cli(&["XADD", "lab:stream", "1-1", "f", "v"]);
    redis.cli(&["XADD", "lab:stream", "1-2", "f", "w"]);
    redis.cli(&["XADD", "lab:stream", "1-3", "f", "x"]);
    redis.cli(&["XGROUP", "CREATE", "lab:stream", "g", "0"]);
    let before = redis.foreign_fingerprint();

    let home = home();
    let out = run(redis.redislab(home.path()).args(["inspect", "--json"]));
    assert_success(&out);
    let json: Value = serde_json::from_str(&stdout(&out)).expect("inspect --json prints JSON");
    assert_eq!(json["pattern"], "lab:*");
    assert_eq!(json["truncated"], false);
    let keys = json["keys"].as_array().expect("keys array");
    let names: Vec<&str> = keys.iter().filter_map(|k| k["key"].as_str()).collect();
    assert_eq!(
        names,
        [
            "lab:bin",
            "lab:hash",
            "lab:list",
            "lab:set",
            "lab:str",
            "lab:stream",
            "lab:zset"
        ],
        "sorted, namespace only"
    );
    let get = |name: &str| {
        keys.iter()
            .find(|k| k["key"] == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    let expect = [
        ("lab:str", "string", 5),
        ("lab:bin", "string", 3),
        ("lab:list", "list", 7),
        ("lab:hash", "hash", 2),
        ("lab:set", "set", 3),
        ("lab:zset", "zset", 2),
        ("lab:stream", "stream", 3),
    ];
    for (name, ty, size) in expect {
        let k = get(name);
        assert_eq!(k["type"], ty, "{k}");
        assert_eq!(k["size"], size, "{k}");
        assert!(k["memory"].as_i64().is_some_and(|m| m > 0), "{k}");
        assert!(k["encoding"].as_str().is_some_and(|e| !e.is_empty()), "{k}");
        assert!(k["preview"].is_string(), "{k}");
    }
    // TTLs: in range where set, null elsewhere.
    let ttl = get("lab:str")["ttl_ms"]
        .as_i64()
        .expect("lab:str has a TTL");
    assert!(ttl > 0 && ttl <= 1_000_000, "{ttl}");
    let ttl = get("lab:hash")["ttl_ms"]
        .as_i64()
        .expect("lab:hash has a TTL");
    assert!(ttl > 0 && ttl <= 50_000, "{ttl}");
    for name in ["lab:bin", "lab:list", "lab:set", "lab:zset", "lab:stream"] {
        assert!(get(name)["ttl_ms"].is_null(), "{name} has no TTL");
    }
    // Previews.
    assert_eq!(get("lab:str")["preview"], "hello");
    assert_eq!(get("lab:bin")["preview"], "\"a\\nb\"");
    assert_eq!(get("lab:list")["preview"], "[a, b, c, d, e, …]");
    assert_eq!(get("lab:set")["preview"], "{x, y, z}");
    assert_eq!(get("lab:zset")["preview"], "[one=1, two=2]");
    let hash = get("lab:hash")["preview"].as_str().expect("preview");
    assert!(
        hash.contains("name: Alice") && hash.contains("city: Paris"),
        "{hash}"
    );
    let stream = get("lab:stream")["preview"].as_str().expect("preview");
    assert!(
        stream.contains("1-1") && stream.contains("g (pending 0)"),
        "{stream}"
    );

    // A pattern inside the namespace, and --limit.
    let out = run(redis
        .redislab(home.path())
        .args(["inspect", "s*", "--json"]));
    assert_success(&out);
    let json: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(json["pattern"], "lab:s*");
    let names: Vec<&str> = json["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["key"].as_str())
        .collect();
    assert_eq!(names, ["lab:set", "lab:str", "lab:stream"]);
    let out = run(redis
        .redislab(home.path())
        .args(["inspect", "--json", "--limit", "2"]));
    assert_success(&out);
    let json: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(json["keys"].as_array().expect("keys").len(), 2);
    assert_eq!(json["truncated"], true);

    // --all looks at foreign keys too, read-only.
    let out = run(redis
        .redislab(home.path())
        .args(["inspect", "--all", "--json"]));
    assert_success(&out);
    let json: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(json["keys"].as_array().expect("keys").len(), 13);

    // The table names keys and types.
    let out = run(redis.redislab(home.path()).arg("inspect"));
    assert_success(&out);
    let table = stdout(&out);
    for word in ["lab:str", "lab:stream", "zset", "7 keys matching lab:*"] {
        assert!(table.contains(word), "{word} missing from:\n{table}");
    }
    assert!(!table.contains("foreign:"), "{table}");
    assert!(!table.contains('\x1b'), "NO_COLOR: no escapes\n{table}");

    assert_eq!(redis.foreign_fingerprint(), before);
}

#[test]
fn inspect_an_empty_namespace() {
    let redis = TestRedis::start();
    redis.seed_foreign_keys();
    let home = home();
    let out = run(redis.redislab(home.path()).args(["inspect", "--json"]));
    assert_success(&out);
    let json: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(json["keys"], Value::Array(vec![]));
    assert_eq!(json["truncated"], false);
    let out = run(redis.redislab(home.path()).arg("inspect"));
    assert_success(&out);
    assert!(
        stdout(&out).contains("no keys match lab:*"),
        "{}",
        stdout(&out)
    );
    // Another namespace is empty too, even with lab: keys present.
    redis.cli(&["SET", "lab:x", "1"]);
    let out = run(redis
        .redislab(home.path())
        .args(["--namespace", "other", "inspect", "--json"]));
    assert_success(&out);
    let json: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(json["pattern"], "other:*");
    assert_eq!(json["keys"], Value::Array(vec![]));
}

// ---------------------------------------------------------------- the namespace rule

#[test]
fn sandbox_and_reset_never_touch_foreign_keys() {
    let redis = TestRedis::start();
    redis.seed_foreign_keys();
    let before = redis.foreign_fingerprint();
    assert_eq!(before.matches("== ").count(), common::FOREIGN_KEYS.len());

    // (line, refused?)
    let session: &[(&str, bool)] = &[
        ("SET lab:a 1", false),
        ("SET foo 1", true),
        ("GET foreign:string", true),
        ("DEL foreign:string", true),
        ("DEL lab:a foreign:list", true),
        ("UNLINK foreign:hash", true),
        ("EXPIRE foreign:set 1", true),
        ("PERSIST foreign:string", true),
        ("RENAME lab:a foreign:x", true),
        ("COPY lab:a foreign:copy", true),
        ("LMOVE foreign:list lab:l LEFT LEFT", true),
        ("RPOPLPUSH foreign:list lab:l", true),
        ("SMOVE foreign:set lab:s x", true),
        ("SUNIONSTORE lab:u foreign:set lab:s", true),
        ("ZUNIONSTORE lab:zu 2 lab:z foreign:zset", true),
        ("XADD foreign:stream * f v", true),
        ("XGROUP DESTROY foreign:stream grp", true),
        ("MSET lab:b 2 foreign:string 3", true),
        ("SORT lab:l BY foreign:* GET foreign:*", true),
        ("SORT lab:l BY nosort STORE foreign:sorted", true),
        ("PUBLISH news hi", true),
        ("FLUSHALL", true),
        ("FLUSHDB", true),
        ("SWAPDB 0 1", true),
        ("CONFIG SET maxmemory 1", true),
        ("EVAL \"return redis.call('DEL','foreign:string')\" 0", true),
        ("EVALSHA 0000000000000000000000000000000000000000 0", true),
        ("FCALL f 0", true),
        ("FUNCTION FLUSH", true),
        ("SCRIPT FLUSH", true),
        ("DEBUG SLEEP 0", true),
        ("MIGRATE 127.0.0.1 1 foreign:string 0 10", true),
        ("MULTI", false),
        ("DEL foreign:list", true),
        ("INCR lab:b", false),
        ("EXEC", false),
        ("RPUSH lab:l z y", false),
        ("SADD lab:s x", false),
        ("PUBLISH lab:news hi", false),
        ("3 INCR lab:c", false),
        ("GET lab:a", false),
        ("DBSIZE", false),
    ];
    let input: String = session.iter().map(|(l, _)| format!("{l}\n")).collect();
    let out = sandbox_session(&redis, &input);
    assert_success(&out);
    let err = stderr(&out);
    let refused: Vec<&str> = err.lines().filter(|l| l.starts_with("(refused)")).collect();
    let expected = session.iter().filter(|(_, r)| *r).count();
    assert_eq!(
        refused.len(),
        expected,
        "every foreign attempt is refused, nothing else:\n{err}"
    );
    for line in &refused {
        assert!(line.len() > "(refused) ".len() + 10, "a reason: {line}");
    }
    assert!(
        err.contains("try SET lab:foo 1"),
        "suggests the command inside the namespace:\n{err}"
    );
    // Allowed commands did run.
    let text = stdout(&out);
    assert!(text.contains("(integer) 3\n"), "{text}");
    assert_eq!(redis.cli(&["GET", "lab:a"]), "\"1\"\n");
    assert_eq!(redis.cli(&["GET", "lab:c"]), "\"3\"\n");
    // MSET lab:b was refused; the INCR queued inside MULTI ran.
    assert_eq!(redis.cli(&["GET", "lab:b"]), "\"1\"\n");
    assert_eq!(
        redis.cli(&["EXISTS", "foo", "foreign:x", "foreign:copy"]),
        "(integer) 0\n"
    );
    assert_eq!(redis.foreign_fingerprint(), before);

    // reset --all empties the namespace and nothing else.
    let lab_keys = redis.keys_in("lab");
    assert!(lab_keys.len() >= 4, "{lab_keys:?}");
    let home = home();
    let out = run(redis.redislab(home.path()).args(["reset", "--all"]));
    assert_success(&out);
    assert!(
        stdout(&out).contains(&format!("deleted {} keys under lab:", lab_keys.len())),
        "{}",
        stdout(&out)
    );
    assert!(redis.keys_in("lab").is_empty());
    assert_eq!(redis.foreign_fingerprint(), before);
    // Twice is fine.
    let out = run(redis.redislab(home.path()).args(["reset", "--all"]));
    assert_success(&out);
    assert!(stdout(&out).contains("deleted 0 keys"), "{}", stdout(&out));
    assert_eq!(redis.foreign_fingerprint(), before);
}

#[test]
fn reset_all_leaves_a_similar_looking_namespace_alone() {
    let redis = TestRedis::start();
    redis.cli(&["SET", "lab:x", "1"]);
    redis.cli(&["SET", "labx", "keep"]);
    redis.cli(&["SET", "lab", "keep"]);
    redis.cli(&["SET", "other:lab:x", "keep"]);
    redis.cli(&["SET", "lab2:x", "keep"]);
    let before = redis.foreign_fingerprint();
    let home = home();
    let out = run(redis.redislab(home.path()).args(["reset", "--all"]));
    assert_success(&out);
    assert!(stdout(&out).contains("deleted 1 key "), "{}", stdout(&out));
    assert_eq!(redis.foreign_fingerprint(), before);
    assert!(redis.keys_in("lab").is_empty());
}

#[test]
fn connection_changing_commands_are_refused_and_the_prompt_still_works() {
    let redis = TestRedis::start();
    let input = "PING\nMONITOR\nPING\nSELECT 1\nPING\nCLIENT REPLY OFF\nPING\n\
                 HELLO 3\nPING\nRESET\nPING\nAUTH x y\nSET lab:after 1\nGET lab:after\n";
    let out = sandbox_session(&redis, input);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "PONG\nPONG\nPONG\nPONG\nPONG\nPONG\nOK\n\"1\"\n"
    );
    let err = stderr(&out);
    let refused: Vec<&str> = err.lines().filter(|l| l.starts_with("(refused)")).collect();
    assert_eq!(refused.len(), 6, "{err}");
    for (line, word) in refused.iter().zip([
        "MONITOR",
        "SELECT",
        "CLIENT REPLY",
        "HELLO",
        "RESET",
        "AUTH",
    ]) {
        assert!(line.contains(word), "{line} should name {word}");
    }
    // Still on database 0.
    assert_eq!(redis.cli(&["GET", "lab:after"]), "\"1\"\n");
}

#[test]
fn managed_server_fences_scripts_with_an_acl_user() {
    let home = ManagedHome::new();
    let out = run(home.redislab().args(["server", "start"]));
    assert_success(&out);
    home.cli(&["SET", "foreign:keep", "original"]);
    home.cli(&["RPUSH", "foreign:list", "a"]);

    let input = "EVAL \"return redis.call('SET','foreign:x','1')\" 0\n\
                 EVAL \"return redis.call('DEL','foreign:keep')\" 0\n\
                 EVAL \"return redis.call('SET', KEYS[1], 'v')\" 1 lab:ok\n\
                 EVAL \"return redis.call('GET', KEYS[1])\" 1 lab:ok\n\
                 SET foreign:y 1\n\
                 ACL SETUSER evil on >pw +@all ~*\n\
                 GET lab:ok\n";
    let out = run_with_stdin(home.redislab().arg("sandbox"), input);
    assert_success(&out);
    assert!(banner_of(&out).contains("managed by redislab"));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 5, "{text}");
    // Redis 7.0 says "ERR The user executing the script can't access ..."; later versions
    // say NOPERM. Either way Redis itself refused, because of the ACL user.
    let denied =
        |l: &str| l.starts_with("(error)") && (l.contains("NOPERM") || l.contains("can't access"));
    assert!(denied(lines[0]), "{text}");
    assert!(denied(lines[1]), "{text}");
    assert_eq!(lines[2], "OK", "{text}");
    assert_eq!(lines[3], "\"v\"", "{text}");
    // SET foreign:y and ACL SETUSER (server-wide) are refused by redislab itself (stderr);
    // the learner's ACL user could not run ACL SETUSER either.
    let refusals = stderr(&out).matches("(refused)").count();
    assert_eq!(refusals, 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ACL SETUSER acts on the whole server"),
        "{}",
        stderr(&out)
    );
    assert_eq!(lines[4], "\"v\"", "{text}");
    assert!(text.ends_with("\"v\"\n"), "{text}");

    // The foreign keys are untouched and nothing new appeared outside lab:.
    assert_eq!(home.cli(&["GET", "foreign:keep"]), "\"original\"\n");
    assert_eq!(
        home.cli(&["EXISTS", "foreign:x", "foreign:y"]),
        "(integer) 0\n"
    );
    assert_eq!(home.cli(&["ACL", "GETUSER", "evil"]), "(nil)\n");

    let stop = home.stop();
    assert_success(&stop);
}

/// redis-cli prints INFO's text raw, line by line, even in its quoting mode; so does the sandbox.
#[test]
fn info_prints_as_lines_like_redis_cli() {
    let redis = TestRedis::start();
    redis.cli(&["SET", "lab:k", "v"]);
    let out = sandbox_session(&redis, "INFO keyspace\n");
    assert_success(&out);
    assert!(
        stdout(&out).starts_with("# Keyspace\r\n"),
        "{}",
        stdout(&out)
    );
    let expected = redis.cli_session("INFO keyspace\n");
    assert_same_output(&stdout(&out), &expected, "INFO keyspace");
}

/// `help SET` in the sandbox starts with redis-cli's syntax line, built from COMMAND DOCS.
#[test]
fn help_shows_the_syntax_line_like_redis_cli() {
    let redis = TestRedis::start();
    let home = home();
    let out = run_with_stdin(redis.redislab(home.path()).arg("sandbox"), "help SET\n");
    assert_success(&out);
    assert!(
        stdout(&out).contains(
            "SET key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]"
        ),
        "{}",
        stdout(&out)
    );
}

/// The sandbox's key table inside MULTI: a queued command changes nothing yet, so it says so;
/// after EXEC the table shows the keys the queued commands named (EXEC itself names none).
#[test]
fn after_exec_the_sandbox_table_shows_the_keys_the_transaction_wrote() {
    let redis = TestRedis::start();
    let home = home();
    let out = run_with_stdin(
        redis.redislab(home.path()).args(["sandbox", "--inspect"]),
        "MULTI\nSET lab:tx:a 1\nINCR lab:tx:b\nEXEC\nGET lab:tx:a\n",
    );
    assert_success(&out);
    let text = stdout(&out);
    assert_eq!(
        text.matches("(queued: it runs at EXEC").count(),
        2,
        "{text}"
    );
    let after_exec = &text[text.find("2) (integer) 1").expect("EXEC's reply")..];
    let table = &after_exec[..after_exec.find("\"1\"").unwrap_or(after_exec.len())];
    assert!(
        table.contains("lab:tx:a") && table.contains("lab:tx:b"),
        "the table after EXEC names both keys: {text}"
    );
}

/// Ctrl-C ends `inspect --watch` like every other interrupted command: exit 130, not 0.
#[test]
fn inspect_watch_ends_with_130_on_ctrl_c() {
    use std::io::Read;
    let redis = TestRedis::start();
    let home = home();
    let mut child = redis
        .redislab(home.path())
        .args(["inspect", "--watch"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start inspect --watch");
    // Wait for the first screen: then the Ctrl-C handler is in place.
    let mut out = child.stdout.take().expect("stdout");
    let mut first = [0u8; 1];
    out.read_exact(&mut first).expect("the first screen");
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    let code = child.wait().expect("inspect exits").code();
    assert_eq!(code, Some(130));
}

/// SSUBSCRIBE in the sandbox prints what redis-cli prints: the confirmation, then each sharded
/// message, until Ctrl-C; a channel outside the namespace is refused.
#[test]
fn the_sandbox_subscribes_to_a_sharded_channel_until_ctrl_c() {
    use std::io::{BufRead, BufReader, Write};
    let redis = TestRedis::start();
    let home = home();
    let mut child = redis
        .redislab(home.path())
        .arg("sandbox")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the sandbox");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"SSUBSCRIBE other:news\nSSUBSCRIBE lab:{news}:live\n")
        .expect("type");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    // The confirmation is the subscriber's third line; then a message can be published.
    while !seen.iter().any(|l: &String| l == "3) (integer) 1") {
        seen.push(lines.next().expect("a line").expect("text"));
    }
    assert_eq!(
        redis.cli(&["SPUBLISH", "lab:{news}:live", "hello"]),
        "(integer) 1\n"
    );
    while !seen.iter().any(|l: &String| l == "3) \"hello\"") {
        seen.push(lines.next().expect("a line").expect("text"));
    }
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill")
            .success()
    );
    drop(stdin);
    let out = child.wait_with_output().expect("the sandbox ends");
    assert_eq!(out.status.code(), Some(0));
    let text = seen.join("\n");
    assert!(
        text.contains("1) \"ssubscribe\"\n2) \"lab:{news}:live\"\n3) (integer) 1"),
        "{text}"
    );
    assert!(
        text.contains("1) \"smessage\"\n2) \"lab:{news}:live\"\n3) \"hello\""),
        "{text}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("(refused) channel other:news is outside the namespace"),
        "{err}"
    );
}

/// `/3` and `?db=3` mean the same database on a TCP URL (the redis crate reads only the path
/// there), and a URL naming two different databases is refused as bad usage.
#[test]
fn a_database_in_the_query_is_the_database_used() {
    let redis = TestRedis::start();
    let h = home();
    for (url, db) in [
        (format!("redis://127.0.0.1:{}/?db=3", redis.port()), "3"),
        (format!("redis://127.0.0.1:{}/5", redis.port()), "5"),
    ] {
        let out = run_with_stdin(
            redislab_bare(h.path()).args(["--redis-url", &url, "sandbox"]),
            "SET lab:where here\n",
        );
        assert_success(&out);
        let got = Command::new("redis-cli")
            .args([
                "-p",
                &redis.port().to_string(),
                "-n",
                db,
                "GET",
                "lab:where",
            ])
            .output()
            .expect("redis-cli");
        assert_eq!(stdout(&got).trim(), "here", "{url}");
    }
    assert_eq!(redis.cli(&["EXISTS", "lab:where"]), "(integer) 0\n");
    let both = run_with_stdin(
        redislab_bare(h.path()).args([
            "--redis-url",
            &format!("redis://127.0.0.1:{}/2?db=3", redis.port()),
            "sandbox",
        ]),
        "PING\n",
    );
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));
    assert!(
        stderr(&both).contains("names database 2 in its path and 3"),
        "{}",
        stderr(&both)
    );
}

/// After each command the sandbox's key table shows the keys the command named and counts the
/// rest, so the reply stays on the screen; `inspect` lists them all.
#[test]
fn the_sandbox_table_shows_the_keys_a_command_named_and_counts_the_rest() {
    let redis = TestRedis::start();
    let home = home();
    let input = "SET lab:t:1 a\nSET lab:t:2 b\nSET lab:t:3 c\nGET lab:t:2\nPING\n";
    let out = run_with_stdin(
        redis.redislab(home.path()).args(["sandbox", "--inspect"]),
        input,
    );
    assert_success(&out);
    let text = stdout(&out);
    // The GET's table: lab:t:2 alone, and the two others counted.
    let get = text.split("\"b\"\n").nth(1).expect("GET's reply");
    let table = get.split("PONG").next().expect("before PING");
    assert!(table.contains("lab:t:2"), "{table}");
    assert!(
        !table.contains("lab:t:1") && !table.contains("lab:t:3"),
        "{table}"
    );
    assert!(table.contains("(and 2 other keys under lab:"), "{table}");
    assert!(
        text.contains("(3 keys under lab:, none named by this command"),
        "{text}"
    );
}
