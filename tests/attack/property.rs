//! Bounded property tests with a fixed seed: the tokenizer and the lesson loader never panic.
// Attacks reach the servers directly, to play the hostile server and to check what changed.
#![allow(clippy::disallowed_methods)]

/// A small fixed-seed generator (xorshift64*): the property tests below are reproducible
/// without another dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Lines made of the characters the tokenizer treats specially, plus random bytes.
fn random_line(rng: &mut Rng) -> String {
    const PIECES: &[&str] = &[
        "\"", "'", "\\", "\\x", "\\x4", "\\x41", "\\n", "\\\"", "\\'", " ", "  ", "\t", "a", "SET",
        "lab:k", "é", "\u{202E}", "\x1b", "\0", "\\xzz", "\"\"", "''", "x\"y", "\r\n",
    ];
    let mut s = String::new();
    for _ in 0..rng.below(12) {
        if rng.below(5) == 0 {
            let b = rng.next() as u8;
            s.push_str(&String::from_utf8_lossy(&[b]));
        } else {
            let piece: &&str = rng.pick(PIECES);
            s.push_str(piece);
        }
    }
    s
}

/// The tokenizer never panics, and what it accepts survives a round trip through the
/// display form (which quotes as redis-cli does).
#[test]
fn tokenizer_property() {
    use redislab::redis::tokenize::{display_args, tokenize};
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for _ in 0..20_000 {
        let line = random_line(&mut rng);
        if let Ok(args) = tokenize(&line) {
            let shown = display_args(&args);
            assert_eq!(
                tokenize(&shown).ok(),
                Some(args),
                "line {line:?} shown as {shown:?}"
            );
        }
    }
}

/// Mutations of real lessons: lines dropped, duplicated, swapped, truncated, or given hostile
/// YAML. Parsing and the static validation return problems, never panic.
#[test]
fn lesson_loader_property() {
    use futures_util::FutureExt;
    let lessons = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons");
    let mut texts: Vec<String> = std::fs::read_dir(&lessons)
        .expect("read lessons/")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read lesson"))
        .collect();
    texts.sort();
    const HOSTILE: &[&str] = &[
        "a: &a [*a, *a]",
        "x: !!binary AAAA",
        "iterations: 18446744073709551616",
        "seconds: -1",
        "of: 0",
        "? [a, b]\n: c",
        "- {",
        "'",
        "\t- x",
        "id: !!int 7",
        "len: 1e400",
        "keys: *undefined",
        "%YAML 9.9",
        "---\n---",
        "steps: {}",
    ];
    let mut rng = Rng(0x5eed_1234_abcd_0002);
    let started = std::time::Instant::now();
    for i in 0..600 {
        let base = rng.pick(&texts);
        let mut lines: Vec<String> = base.lines().map(str::to_string).collect();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(lines.len());
            match rng.below(6) {
                0 => {
                    lines.remove(at);
                }
                1 => lines.insert(at, lines[at].clone()),
                2 => {
                    let other = rng.below(lines.len());
                    lines.swap(at, other);
                }
                3 => {
                    let cut = rng.below(lines[at].len() + 1);
                    let cut = (0..=cut)
                        .rev()
                        .find(|c| lines[at].is_char_boundary(*c))
                        .unwrap_or(0);
                    lines[at].truncate(cut);
                }
                4 => lines.insert(at, rng.pick(HOSTILE).to_string()),
                _ => lines[at].push_str(&random_line(&mut rng)),
            }
            if lines.is_empty() {
                lines.push(String::new());
            }
        }
        let text = lines.join("\n");
        let name = format!("mutant-{i}.yaml");
        let _ = redislab::lesson::loader::parse(&name, &text);
        let files = vec![(name, text)];
        let checked = redislab::lesson::validate::validate_texts(&files, None).now_or_never();
        assert!(checked.is_some(), "static validation waited");
    }
    // Random bytes, too.
    for _ in 0..2_000 {
        let bytes: Vec<u8> = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
        let _ = redislab::lesson::loader::parse("random.yaml", &String::from_utf8_lossy(&bytes));
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(45),
        "took {:?}",
        started.elapsed()
    );
}

/// The guard reads a command's keys from the positions and key specs `COMMAND INFO` gave
/// (asked once per command name) instead of asking `COMMAND GETKEYS` every time: wherever it
/// claims to know them, they must be exactly what GETKEYS says. Checked over the attack corpus,
/// every shipped lesson's commands and a list of commands whose keys are hard to find.
#[test]
fn key_positions_agree_with_command_getkeys() {
    use redis::Value;
    let redis = crate::common::TestRedis::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut lines: Vec<String> = include_str!("../fixtures/hostile/sandbox-attacks.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(String::from)
        .collect();
    for (_, text) in redislab::lesson::loader::sources(None).expect("embedded lessons") {
        for line in text.lines() {
            let l = line
                .trim_start()
                .trim_start_matches("- ")
                .trim_start_matches("cmd: ");
            let l = l.trim_matches('"');
            if l.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
                lines.push(
                    l.replace("${ns}", "lab")
                        .replace("${", "v")
                        .replace('}', ""),
                );
            }
        }
    }
    lines.extend(
        [
            "SET lab:a 1 GET",
            "MSET lab:a 1 b 2 lab:c 3",
            "XREAD COUNT 2 STREAMS lab:s other 0 0",
            "XREADGROUP GROUP g c COUNT 1 STREAMS lab:s other > >",
            "EVAL \"return 1\" 2 lab:a other x y",
            "FCALL f 1 other",
            "ZUNIONSTORE lab:d 2 lab:a other WEIGHTS 1 2",
            "LMPOP 2 lab:a other LEFT",
            "BLMPOP 0 2 lab:a other LEFT",
            "SINTERCARD 2 lab:a other LIMIT 1",
            "SORT lab:l STORE other",
            "MIGRATE h 1 \"\" 0 5 KEYS lab:a other",
            "GEORADIUS lab:g 0 0 1 km STORE other",
            "BITOP AND lab:d lab:a other",
            "OBJECT ENCODING other",
            "XGROUP CREATE other g $",
            "MEMORY USAGE other",
            "BLMOVE lab:a other LEFT RIGHT 0",
            "RENAME lab:a other",
            "COPY lab:a other",
            "LCS lab:a other",
            "PFMERGE lab:a other",
            "GEOSEARCHSTORE other lab:g FROMLONLAT 0 0 BYRADIUS 1 km",
            "EXISTS lab:a other lab:b",
            "WATCH lab:a other",
            "BZMPOP 1 2 lab:z other MIN",
            "XINFO STREAM other",
            "ZINTERCARD 2 lab:a other",
        ]
        .map(String::from),
    );
    let (checked, local) = rt.block_on(async {
        let client = redis::Client::open(redis.url()).expect("client");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let infos = redislab::redis::classes::server_infos(&mut conn)
            .await
            .expect("COMMAND");
        let (mut checked, mut local) = (0, 0);
        for line in &lines {
            let Ok(args) = redislab::redis::tokenize::tokenize(line) else {
                continue;
            };
            if args.is_empty() {
                continue;
            }
            let Some(info) = redislab::redis::classes::info_for(&infos, &args) else {
                continue;
            };
            checked += 1;
            let Some(mut ours) = info
                .keys_of(&args)
                .map(|k| k.into_iter().map(<[u8]>::to_vec).collect::<Vec<_>>())
            else {
                continue;
            };
            let mut getkeys = vec![b"COMMAND".to_vec(), b"GETKEYS".to_vec()];
            getkeys.extend(args.iter().cloned());
            let reply = redislab::redis::command::send(&mut conn, &getkeys)
                .await
                .expect("GETKEYS");
            let Value::Array(keys) = reply else {
                // Redis refuses the command itself (arity, no keys): nothing is sent anyway.
                continue;
            };
            let mut theirs: Vec<Vec<u8>> = keys
                .into_iter()
                .filter_map(|k| match k {
                    Value::BulkString(b) => Some(b),
                    _ => None,
                })
                .collect();
            ours.sort();
            theirs.sort();
            assert_eq!(ours, theirs, "keys of {line:?}");
            local += 1;
        }
        (checked, local)
    });
    assert!(checked > 300, "only {checked} commands checked");
    assert!(local > 200, "only {local} commands read locally");
}
