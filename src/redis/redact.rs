//! Passwords never reach the terminal: a Redis URL is shown with its password masked, and any
//! text that may quote the URL (an error message) has every password in it replaced.

/// Query parameters that carry a password (`?password=` for TCP URLs, `?pass=` for Unix ones).
const SECRET_PARAMS: &[&str] = &["password", "pass"];

/// Removes every password from a URL: `redis://user:secret@h:1` → `redis://user:***@h:1`,
/// `redis://h:1/?password=secret` → `redis://h:1/?password=***`. Text that is not a URL at all
/// may be a password pasted in the wrong place: it is never shown.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return "(not shown: not a redis:// URL)".to_string();
    };
    let (before_query, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let rest = &before_query[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let mut out = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let masked = match userinfo.find(':') {
                Some(colon) => format!("{}:***", &userinfo[..colon]),
                None => "***".to_string(),
            };
            format!("{}{}@{}", &url[..scheme_end + 3], masked, &rest[at + 1..])
        }
        None => before_query.to_string(),
    };
    if let Some(q) = query {
        let (q, fragment) = match q.split_once('#') {
            Some((q, f)) => (q, Some(f)),
            None => (q, None),
        };
        let params: Vec<String> = q
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if SECRET_PARAMS.contains(&k) => format!("{k}=***"),
                _ => p.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
        if let Some(f) = fragment {
            out.push('#');
            out.push_str(f);
        }
    }
    out
}

/// The host part of a URL for display (`127.0.0.1:6379`, or the socket path): no user, no
/// password, no query.
pub(crate) fn display_of(url: &str) -> String {
    let Some((_, rest)) = url.split_once("://") else {
        return redact(url);
    };
    let (before_query, after) = rest.split_once('?').unwrap_or((rest, ""));
    let fragment = after
        .split_once('#')
        .map(|(_, f)| f)
        .or_else(|| before_query.split_once('#').map(|(_, f)| f))
        .unwrap_or("");
    let before_fragment = before_query.split('#').next().unwrap_or(before_query);
    if url.starts_with("redis+unix") || url.starts_with("unix") {
        return before_fragment.to_string();
    }
    let host = before_fragment
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(before_fragment);
    match (url.starts_with("rediss"), fragment == "insecure") {
        (true, true) => format!("{host} (TLS, certificate not verified)"),
        (true, false) => format!("{host} (TLS)"),
        _ => host.to_string(),
    }
}

/// Never let a password from the URL leak through an error message.
pub(crate) fn scrub(text: &str, url: &str) -> String {
    let mut out = text.to_string();
    for pw in passwords_of(url) {
        if !pw.is_empty() {
            out = out.replace(&pw, "***");
        }
    }
    out
}

/// Every password a URL carries: in the user info, in `?password=`/`?pass=`, or the whole
/// text when it is not a URL.
fn passwords_of(url: &str) -> Vec<String> {
    let Some((_, rest)) = url.split_once("://") else {
        return vec![url.to_string()];
    };
    let mut out = Vec::new();
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if let Some((userinfo, _)) = authority.rsplit_once('@') {
        let pw = userinfo.split_once(':').map(|(_, p)| p).unwrap_or(userinfo);
        out.push(pw.to_string());
    }
    if let Some((_, query)) = rest.split_once('?') {
        let query = query.split('#').next().unwrap_or(query);
        for p in query.split('&') {
            if let Some((k, v)) = p.split_once('=') {
                if SECRET_PARAMS.contains(&k) {
                    out.push(v.to_string());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_passwords() {
        assert_eq!(redact("redis://u:secret@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(redact("redis://:secret@h:1"), "redis://:***@h:1");
        assert_eq!(redact("rediss://secret@h"), "rediss://***@h");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
        assert_eq!(
            redact("redis://h:1/?password=hunter2&db=1"),
            "redis://h:1/?password=***&db=1"
        );
        assert_eq!(
            redact("redis+unix:///tmp/r.sock?pass=hunter2"),
            "redis+unix:///tmp/r.sock?pass=***"
        );
        assert!(!redact("hunter2").contains("hunter2"));
        assert_eq!(display_of("redis://h:1/?password=hunter2"), "h:1/");
        assert_eq!(display_of("redis+unix:///tmp/r.sock?pass=x"), "/tmp/r.sock");
        assert_eq!(
            scrub(
                "x hunter2 y hunter3",
                "redis://:hunter2@h/?password=hunter3"
            ),
            "x *** y ***"
        );
        assert_eq!(scrub("bad hunter2", "hunter2"), "bad ***");
        assert_eq!(display_of("redis://u:pw@h:6380/2"), "h:6380/2");
        assert_eq!(
            display_of("rediss://h:6380/#insecure"),
            "h:6380/ (TLS, certificate not verified)"
        );
        assert_eq!(
            scrub("bad pw hunter2 here", "redis://u:hunter2@h"),
            "bad pw *** here"
        );
    }
}
