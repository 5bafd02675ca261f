//! The data both engines hold: generated deterministically, so every run measures the same rows.

/// Products for the point and batch reads.
pub const PRODUCTS: usize = 1_000;
/// Sessions for the session read.
pub const SESSIONS: usize = 1_000;
/// Players in the ranking.
pub const PLAYERS: usize = 10_000;
/// Players whose rank is asked for, cycled through.
pub const RANK_PROBES: usize = 1_000;

pub fn product_key(i: usize) -> String {
    format!("product:{i}")
}

pub fn product_value(i: usize) -> String {
    format!(
        "{{\"id\":{i},\"name\":\"product-{i}\",\"price\":{}}}",
        (i * 37 % 9_000) + 999
    )
}

pub fn session_key(i: usize) -> String {
    format!("session:{i:06}")
}

/// A session's fields, in the order the SQLite table stores them.
pub struct Session {
    pub user_id: i64,
    pub name: String,
    pub email: String,
    pub created: i64,
    pub last_seen: i64,
    pub cart: String,
}

pub fn session(i: usize) -> Session {
    let i64_i = i as i64;
    Session {
        user_id: 10_000 + i64_i,
        name: format!("user-{i}"),
        email: format!("user-{i}@example.com"),
        created: 1_700_000_000 + i64_i * 60,
        last_seen: 1_700_100_000 + i64_i * 7,
        cart: format!("[{},{},{}]", i % 97, i % 89, i % 83),
    }
}

/// Distinct scores: a permutation of 0..1_000_003 (a prime), so ranks have no ties.
pub fn score(id: usize) -> i64 {
    ((id as u64 * 7_654_321 + 12_345) % 1_000_003) as i64
}

pub fn player_member(id: usize) -> String {
    format!("player:{id}")
}

/// The players whose rank is probed, spread over the whole table.
pub fn rank_probe(i: usize) -> usize {
    (i % RANK_PROBES) * (PLAYERS / RANK_PROBES) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_distinct() {
        let mut s: Vec<i64> = (0..PLAYERS).map(score).collect();
        s.sort_unstable();
        s.dedup();
        assert_eq!(s.len(), PLAYERS);
    }
}
