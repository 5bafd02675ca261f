//! What `COMMAND INFO` says about one command: its flags, ACL categories and key specs, parsed
//! once and kept per connection, and the class of reach `classes` decides from them. Data only:
//! the connection keeps the cache, `classes` asks the server and decides.

/// What a command can reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Touches only the keys it names; the namespace guard checks those.
    Ordinary,
    /// Acts on the whole server: `@admin`, `@dangerous`, or a write that names no key
    /// (FLUSHALL, CONFIG SET, SWAPDB, FUNCTION LOAD, ...). A learner never runs it.
    ServerWide,
    /// Runs code that can reach keys it does not declare (EVAL, FCALL, SCRIPT LOAD, ...):
    /// only an ACL user can fence it, so only the managed server allows it.
    Script,
}

/// The facts `COMMAND INFO` gives about one command or subcommand (`config|set`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Info {
    pub name: String,
    pub flags: Vec<String>,
    pub categories: Vec<String>,
    pub has_keys: bool,
    /// The legacy key positions (first key, last key, step) as argument indices, exact for
    /// every command not flagged `movablekeys` (Redis documents them so).
    pub key_range: (i64, i64, i64),
    /// The key specs (Redis 7+), when every one of them is a kind read here and none is
    /// flagged incomplete; `None` when there are none or one cannot be read.
    pub key_specs: Option<Vec<KeySpec>>,
}

/// Where one group of keys starts and how far it goes (`COMMAND INFO`'s key specs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub begin: Begin,
    pub find: Find,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// At this argument index.
    Index(i64),
    /// After this keyword, searched from `startfrom` (negative: from the end, backwards).
    Keyword(String, i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Find {
    /// `lastkey` relative to the start (negative: from the end), every `step`; with `limit`
    /// > 1 and `lastkey` -1, the first 1/limit of what remains.
    Range { last: i64, step: i64, limit: i64 },
    /// The argument at `start + numidx` says how many keys follow from `start + first`.
    Keynum { numidx: i64, first: i64, step: i64 },
}

impl KeySpec {
    /// The argument indices this spec names in `args`; `None` when the arguments do not fit
    /// (Redis will answer with an error of its own, or GETKEYS must say).
    fn indices(&self, args: &[Vec<u8>]) -> Option<Vec<usize>> {
        let argc = args.len() as i64;
        let start = match &self.begin {
            Begin::Index(i) => *i,
            Begin::Keyword(word, from) => {
                let found = if *from >= 0 {
                    (*from..argc).find(|&i| args[i as usize].eq_ignore_ascii_case(word.as_bytes()))
                } else {
                    (1..=argc + from)
                        .rev()
                        .find(|&i| args[i as usize].eq_ignore_ascii_case(word.as_bytes()))
                };
                match found {
                    Some(i) => i + 1,
                    None => return Some(Vec::new()),
                }
            }
        };
        if start <= 0 || start > argc {
            return None;
        }
        let (first, last, step) = match self.find {
            Find::Range { last, step, limit } => {
                let end = if last >= 0 {
                    start + last
                } else if last == -1 && limit > 1 {
                    start + (argc - start) / limit - 1
                } else {
                    argc + last
                };
                (start, end, step)
            }
            Find::Keynum {
                numidx,
                first,
                step,
            } => {
                let n: i64 = std::str::from_utf8(args.get((start + numidx) as usize)?)
                    .ok()?
                    .parse()
                    .ok()?;
                if n < 0 {
                    return None;
                }
                let first = start + first;
                (first, first + (n - 1) * step.max(1), step)
            }
        };
        if last >= argc {
            return None;
        }
        let step = step.max(1);
        Some(
            (first..=last)
                .step_by(step as usize)
                .map(|i| i as usize)
                .collect(),
        )
    }
}

impl Info {
    /// The keys of `args` as this command's positions say, or `None` when only the server can
    /// tell (`movablekeys`, or key specs the positions do not cover): then `COMMAND GETKEYS`.
    pub fn keys_of<'a>(&self, args: &'a [Vec<u8>]) -> Option<Vec<&'a [u8]>> {
        if let Some(specs) = &self.key_specs {
            let mut out: Vec<&[u8]> = Vec::new();
            for spec in specs {
                for i in spec.indices(args)? {
                    out.push(args.get(i)?.as_slice());
                }
            }
            return Some(out);
        }
        let (first, last, step) = self.key_range;
        if self.flags.iter().any(|f| f == "movablekeys") {
            return None;
        }
        if first <= 0 {
            // No positions: a keyless command, unless key specs say otherwise.
            return (!self.has_keys).then(Vec::new);
        }
        let n = args.len() as i64;
        let last = if last < 0 { n + last } else { last.min(n - 1) };
        let step = step.max(1);
        let mut out = Vec::new();
        let mut i = first;
        while i <= last && i < n {
            out.push(args[i as usize].as_slice());
            i += step;
        }
        Some(out)
    }
}

/// `COMMAND INFO` answers by command name, kept for the life of a connection (and its clones):
/// a command is asked about once, not before every send.
pub type InfoCache = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<Info>>>>;
