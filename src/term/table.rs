//! Tables: the key table shown after every step and by `inspect`, and a generic builder so
//! every table in redislab looks the same.

use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, Table, Width, presets};

use crate::inspect::{KeyInfo, human_bytes, human_ttl};
use crate::redis::render::printable_str;

/// A table in redislab's house style, stable when not on a terminal.
pub fn new_table(header: Vec<&str>) -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    if !super::stdout_is_terminal() {
        t.force_no_tty();
    }
    t.set_width(super::width());
    t.set_header(header);
    t
}

/// Right-aligns the given columns (numbers).
pub fn align_right(t: &mut Table, columns: &[usize]) {
    for &c in columns {
        if let Some(col) = t.column_mut(c) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// The key table: key, type, TTL, size, encoding, memory, value. On a narrow terminal memory
/// and then encoding go first, and a long value is cut, before a key name is ever wrapped.
pub fn keys(infos: &[KeyInfo]) -> String {
    keys_at(infos, &[], usize::from(super::width()))
}

/// The key table with the rows `marks` says marked `▸` (the step's own keys).
pub fn keys_marked(infos: &[KeyInfo], marks: &[bool]) -> String {
    keys_at(infos, marks, usize::from(super::width()))
}

pub fn keys_at(infos: &[KeyInfo], marks: &[bool], width: usize) -> String {
    // On a cluster: each key's slot, and at full width the master serving it.
    let on_cluster = infos.iter().any(|k| k.slot.is_some());
    let any_mark = marks.iter().any(|m| *m);
    // Every cell but the numbers comes from the server: escaped, never raw.
    let key_cells: Vec<String> = infos
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let mark = if marks.get(i).copied().unwrap_or(false) {
                "▸ "
            } else if any_mark {
                "  "
            } else {
                ""
            };
            format!("{mark}{}", printable_str(&k.key))
        })
        .collect();
    let types: Vec<String> = infos
        .iter()
        .map(|k| printable_str(&k.key_type).into_owned())
        .collect();
    let ttls: Vec<String> = infos
        .iter()
        .map(|k| {
            if k.exists() {
                human_ttl(k.ttl_ms)
            } else {
                "-".into()
            }
        })
        .collect();
    let sizes: Vec<String> = infos
        .iter()
        .map(|k| k.size.map(|s| s.to_string()).unwrap_or_else(|| "-".into()))
        .collect();
    let encodings: Vec<String> = infos
        .iter()
        .map(|k| {
            k.encoding
                .as_deref()
                .map(|e| printable_str(e).into_owned())
                .unwrap_or_else(|| "-".into())
        })
        .collect();
    let memories: Vec<String> = infos.iter().map(|k| human_bytes(k.memory)).collect();
    // A column's width: its longest cell or header, and one space of padding on each side.
    let wide = |header: &str, cells: &[String]| {
        cells
            .iter()
            .map(|c| c.chars().count())
            .chain([header.chars().count()])
            .max()
            .unwrap_or(0)
            + 2
    };
    let longest_key = key_cells
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(3);
    // The key column is never squeezed below its longest name (up to half the screen).
    let key_w = longest_key.min(width.saturating_sub(30).max(width / 2)) + 2;
    let slot_w = if on_cluster { 9 } else { 0 };
    // Borders: one before each column and one after the last.
    let mut fixed = key_w + wide("type", &types) + wide("TTL", &ttls) + slot_w + 1;
    // The value keeps at least this much; then size, encoding and memory, in that order of
    // need, take what is left, and the ones that do not fit are dropped, never wrapped.
    const VALUE_MIN: usize = 14;
    let mut optional = Vec::new();
    for (name, cells, allowed) in [
        ("size", &sizes, width >= 60),
        ("encoding", &encodings, width >= 70),
        ("memory", &memories, width >= 110),
    ] {
        let w = wide(name, cells);
        // The column, its border, the value and the last border.
        if allowed && fixed + w + 1 + VALUE_MIN < width {
            fixed += w + 1;
            optional.push((name, w));
        }
    }
    let show = |name: &str| optional.iter().any(|(n, _)| *n == name);
    let (show_size, show_encoding, show_memory) = (show("size"), show("encoding"), show("memory"));
    let mut header = vec!["key", "type", "TTL"];
    if on_cluster {
        header.push(if show_memory {
            "slot · master"
        } else {
            "slot"
        });
    }
    header.extend(optional.iter().map(|(n, _)| *n));
    header.push("value");
    let mut t = new_table(header);
    t.set_width(width as u16);
    if let Some(col) = t.column_mut(0) {
        col.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(key_w as u16)));
    }
    // The short columns keep their width: `hashtable` is never split in two.
    let first_optional = 3 + usize::from(on_cluster);
    for (i, (_, w)) in optional.iter().enumerate() {
        if let Some(col) = t.column_mut(first_optional + i) {
            col.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(*w as u16)));
        }
    }
    // What is left for the value: about two lines of it, one on a narrow screen.
    let lines = if width >= 80 { 2 } else { 1 };
    let value_room = width.saturating_sub(fixed + 1 + 2).max(10) * lines;
    for (i, k) in infos.iter().enumerate() {
        let mut row = vec![key_cells[i].clone(), types[i].clone(), ttls[i].clone()];
        if on_cluster {
            row.push(match (k.slot, &k.node) {
                (Some(slot), Some(node)) if show_memory => {
                    format!("{slot} · {}", printable_str(node))
                }
                (Some(slot), _) => slot.to_string(),
                _ => "-".into(),
            });
        }
        if show_size {
            row.push(sizes[i].clone());
        }
        if show_encoding {
            row.push(encodings[i].clone());
        }
        if show_memory {
            row.push(memories[i].clone());
        }
        row.push(cut(&printable_str(&k.preview), value_room));
        t.add_row(row);
    }
    let mut right = vec![2];
    if show_size {
        right.push(3 + usize::from(on_cluster));
    }
    if show_memory {
        right.push(first_optional + optional.len() - 1);
    }
    align_right(&mut t, &right);
    t.to_string()
}

/// At most `max` characters, ending in `…` when cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(key: &str) -> KeyInfo {
        KeyInfo {
            key: key.into(),
            key_type: "hash".into(),
            ttl_ms: None,
            size: Some(5),
            encoding: Some("listpack".into()),
            memory: Some(136),
            preview: "{\"user:1\": 1, \"user:2\": 1, \"user:3\": 1, \"user:4\": 1, \"user:5\": 1}"
                .into(),
            slot: None,
            node: None,
        }
    }

    #[test]
    fn narrow_tables_drop_columns_before_they_break_a_key() {
        let infos = [info("lab:coupon:1:stock"), info("lab:coupon:1:owners")];
        let narrow = keys_at(&infos, &[], 60);
        assert!(narrow.contains("lab:coupon:1:stock"), "{narrow}");
        assert!(narrow.contains("lab:coupon:1:owners"), "{narrow}");
        assert!(
            !narrow.contains("memory") && !narrow.contains("encoding"),
            "{narrow}"
        );
        assert!(narrow.lines().all(|l| l.chars().count() <= 60), "{narrow}");
        let wide = keys_at(&infos, &[true, false], 120);
        assert!(wide.contains("▸ lab:coupon:1:stock"), "{wide}");
        assert!(
            wide.contains("memory") && wide.contains("encoding"),
            "{wide}"
        );
    }

    /// Long key names at 80 columns (lesson 18's `lab:shop:product:{category:8}:201`): the
    /// encoding stays whole, the value keeps a readable width, and columns are dropped before
    /// anything short is split.
    #[test]
    fn long_key_names_drop_columns_before_splitting_the_short_ones() {
        let mut a = info("lab:shop:product:{category:8}:201");
        a.key_type = "string".into();
        a.encoding = Some("embstr".into());
        a.preview = "{\"id\":201,\"price\":990}".into();
        let mut b = info("lab:shop:product:1");
        b.encoding = Some("hashtable".into());
        let table = keys_at(&[a.clone(), b.clone()], &[true, false], 80);
        assert!(table.lines().all(|l| l.chars().count() <= 80), "{table}");
        // `embst` / `r` was the old split: a short cell is whole or its column is gone.
        for part in ["embst ", "hasht ", "encod "] {
            assert!(!table.contains(part), "{part:?} split: {table}");
        }
        assert!(table.contains("size"), "the size stays: {table}");
        // The value column keeps at least 12 characters a line.
        assert!(table.contains("{\"id\":201,\"pr"), "{table}");
        let wide = keys_at(&[a, b], &[true, false], 110);
        assert!(
            wide.contains("embstr") && wide.contains("hashtable") && wide.contains("memory"),
            "{wide}"
        );
    }

    #[test]
    fn on_a_cluster_each_key_shows_its_slot_and_master() {
        let mut k = info("lab:{coupon:1}:stock");
        k.slot = Some(12034);
        k.node = Some("127.0.0.1:7002".into());
        let wide = keys_at(std::slice::from_ref(&k), &[], 140);
        assert!(wide.contains("slot · master"), "{wide}");
        assert!(wide.contains("12034 · 127.0.0.1:7002"), "{wide}");
        let narrow = keys_at(&[k], &[], 60);
        assert!(
            narrow.contains("12034") && !narrow.contains("7002"),
            "{narrow}"
        );
        assert!(narrow.lines().all(|l| l.chars().count() <= 60), "{narrow}");
        let single = keys_at(&[info("lab:x")], &[], 140);
        assert!(!single.contains("slot"), "{single}");
    }
}
