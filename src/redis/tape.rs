//! The tape: what one command cost on the wire — round trips, the bytes of the request as
//! written and of the reply as read, and the time the client waited. A learner sees what a
//! pattern saves (one pipeline against five round trips) in the figures the server would
//! report too. The bytes are counted on the connection's socket (`bounded::Wire`), so they are
//! exactly what `CLIENT LIST` calls `tot-net-in` and `tot-net-out`; reading them sends nothing.

use std::time::Duration;

use redis::Value;

/// What commands cost on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trip {
    pub round_trips: u64,
    /// RESP bytes written to the server.
    pub sent: u64,
    /// RESP bytes read from it.
    pub received: u64,
    /// Time from writing the request to having the whole reply, at the client.
    pub waited: Duration,
    /// The bytes were counted on the socket. A cluster client spreads one command over
    /// several sockets: there the request is counted as encoded and the reply as re-encoded
    /// in RESP2 (what those connections speak), which matches the wire but is not read off it.
    pub counted: bool,
}

impl Trip {
    /// One command: the socket's counts before and after it (where the socket is counted),
    /// else its encoding.
    pub fn of_command(
        before: Option<(u64, u64)>,
        after: Option<(u64, u64)>,
        request: &[Vec<u8>],
        reply: &Value,
        waited: Duration,
    ) -> Trip {
        match (before, after) {
            (Some((s0, r0)), Some((s1, r1))) => Trip {
                round_trips: 1,
                sent: s1.saturating_sub(s0),
                received: r1.saturating_sub(r0),
                waited,
                counted: true,
            },
            _ => Trip {
                round_trips: 1,
                sent: request_len(request),
                received: reply_len(reply),
                waited,
                counted: false,
            },
        }
    }

    /// The sum of several.
    pub fn add(&mut self, other: &Trip) {
        self.round_trips += other.round_trips;
        self.sent += other.sent;
        self.received += other.received;
        self.waited += other.waited;
        self.counted &= other.counted;
    }

    /// Nothing yet, to add to.
    pub fn zero() -> Trip {
        Trip {
            counted: true,
            ..Trip::default()
        }
    }
}

fn digits(n: usize) -> u64 {
    n.to_string().len() as u64
}

/// A command's RESP encoding: `*N\r\n` then `$len\r\n<bytes>\r\n` per argument.
pub fn request_len(args: &[Vec<u8>]) -> u64 {
    3 + digits(args.len())
        + args
            .iter()
            .map(|a| 3 + digits(a.len()) + a.len() as u64 + 2)
            .sum::<u64>()
}

/// A reply's RESP encoding. RESP2 replies come back to exactly their size; a nil is counted
/// as `$-1` (an array's nil, `*-1`, is as long).
pub fn reply_len(v: &Value) -> u64 {
    let line = |body: usize| 1 + body as u64 + 2;
    let agg = |n: usize, items: u64| 3 + digits(n) + items;
    match v {
        Value::Nil => 5,
        Value::Okay => 5,
        Value::Int(i) => line(i.to_string().len()),
        Value::SimpleString(s) => line(s.len()),
        Value::BulkString(b) => 3 + digits(b.len()) + b.len() as u64 + 2,
        Value::Array(items) | Value::Set(items) => {
            agg(items.len(), items.iter().map(reply_len).sum())
        }
        Value::Push { data, .. } => agg(data.len(), data.iter().map(reply_len).sum()),
        Value::Map(pairs) => agg(
            pairs.len(),
            pairs.iter().map(|(k, v)| reply_len(k) + reply_len(v)).sum(),
        ),
        Value::Attribute { data, attributes } => {
            reply_len(data)
                + agg(
                    attributes.len(),
                    attributes
                        .iter()
                        .map(|(k, v)| reply_len(k) + reply_len(v))
                        .sum(),
                )
        }
        Value::Double(d) => line(d.to_string().len()),
        Value::Boolean(_) => 4,
        Value::BigNumber(n) => line(n.to_string().len()),
        Value::VerbatimString { text, .. } => 3 + digits(text.len() + 4) + text.len() as u64 + 6,
        Value::ServerError(e) => {
            let detail = e.details().map(|d| d.len() + 1).unwrap_or(0);
            line(e.code().len() + detail)
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_have_their_wire_size() {
        let cmd = redis::cmd("SET").arg("lab:a").arg("hello").clone();
        let args = vec![b"SET".to_vec(), b"lab:a".to_vec(), b"hello".to_vec()];
        assert_eq!(request_len(&args), cmd.get_packed_command().len() as u64);
        assert_eq!(reply_len(&Value::Okay), b"+OK\r\n".len() as u64);
        assert_eq!(reply_len(&Value::Int(-12)), b":-12\r\n".len() as u64);
        assert_eq!(
            reply_len(&Value::BulkString(b"hello".to_vec())),
            b"$5\r\nhello\r\n".len() as u64
        );
        let arr = Value::Array(vec![Value::BulkString(b"a".to_vec()), Value::Nil]);
        assert_eq!(reply_len(&arr), b"*2\r\n$1\r\na\r\n$-1\r\n".len() as u64);
        let err = redis::parse_redis_value(b"-WRONGTYPE Operation against a key\r\n")
            .expect("an error reply parses");
        assert_eq!(
            reply_len(&err),
            b"-WRONGTYPE Operation against a key\r\n".len() as u64
        );
    }
}
