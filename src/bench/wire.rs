//! The raw side of `bench --throughput`: RESP replies counted in place with no per-reply
//! allocation, read from the fence's load sockets, async (many clients) or blocking (one).

use tokio::io::{AsyncRead, AsyncReadExt};

/// Length of the first complete RESP reply in `buf`, or None if more bytes are needed.
/// Returns the reply's first byte too, so errors can be noticed.
pub fn reply_len(buf: &[u8]) -> Option<usize> {
    let first = *buf.first()?;
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let header = line_end + 2;
    let num = || -> Option<i64> { std::str::from_utf8(&buf[1..line_end]).ok()?.parse().ok() };
    match first {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Some(header),
        b'$' | b'!' | b'=' => {
            let n = num()?;
            if n < 0 {
                return Some(header);
            }
            let total = header + n as usize + 2;
            (buf.len() >= total).then_some(total)
        }
        b'*' | b'~' | b'%' | b'>' | b'|' => {
            let n = num()?;
            let items = if first == b'%' || first == b'|' {
                n * 2
            } else {
                n
            };
            let mut pos = header;
            for _ in 0..items.max(0) {
                pos += reply_len(&buf[pos..])?;
            }
            Some(pos)
        }
        // Not RESP: treat it as one line (the caller sees a bad first byte and stops).
        _ => Some(header),
    }
}

/// Reads until `want` complete replies are in; returns whether any was an error.
pub async fn read_replies(
    s: &mut (impl AsyncRead + Unpin),
    buf: &mut Vec<u8>,
    filled: &mut usize,
    want: usize,
) -> std::io::Result<Option<String>> {
    let mut pos = 0;
    let mut left = want;
    let mut err = None;
    loop {
        while left > 0 {
            match reply_len(&buf[pos..*filled]) {
                Some(n) => {
                    if buf[pos] == b'-' && err.is_none() {
                        err =
                            Some(String::from_utf8_lossy(&buf[pos + 1..pos + n - 2]).into_owned());
                    } else if !b"+-:$*_,#(!=~%>|".contains(&buf[pos]) {
                        return Err(std::io::Error::other(
                            "the server sent something that is not RESP",
                        ));
                    }
                    pos += n;
                    left -= 1;
                }
                None => break,
            }
        }
        if left == 0 {
            buf.copy_within(pos..*filled, 0);
            *filled -= pos;
            return Ok(err);
        }
        if pos > 0 {
            buf.copy_within(pos..*filled, 0);
            *filled -= pos;
            pos = 0;
        }
        if *filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = s.read(&mut buf[*filled..]).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        *filled += n;
    }
}

/// The blocking twin of `read_replies`.
pub fn read_replies_blocking(
    s: &mut impl std::io::Read,
    buf: &mut Vec<u8>,
    filled: &mut usize,
    want: usize,
) -> std::io::Result<Option<String>> {
    let mut pos = 0;
    let mut left = want;
    let mut err = None;
    loop {
        while left > 0 {
            let Some(n) = reply_len(&buf[pos..*filled]) else {
                break;
            };
            if buf[pos] == b'-' && err.is_none() {
                err = Some(String::from_utf8_lossy(&buf[pos + 1..pos + n - 2]).into_owned());
            }
            pos += n;
            left -= 1;
        }
        if pos > 0 {
            buf.copy_within(pos..*filled, 0);
            *filled -= pos;
            pos = 0;
        }
        if left == 0 {
            return Ok(err);
        }
        if *filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = s.read(&mut buf[*filled..])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        *filled += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_lengths() {
        assert_eq!(reply_len(b"+OK\r\n"), Some(5));
        assert_eq!(reply_len(b"$-1\r\n"), Some(5));
        assert_eq!(reply_len(b"$3\r\nxxx\r\n$3"), Some(9));
        assert_eq!(reply_len(b"$3\r\nxx"), None);
        assert_eq!(reply_len(b"*2\r\n:1\r\n$1\r\na\r\n"), Some(15));
        assert_eq!(reply_len(b"*2\r\n:1\r\n"), None);
        assert_eq!(reply_len(b"$3"), None);
    }
}
