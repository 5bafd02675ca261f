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
    let show_memory = width >= 110;
    let show_encoding = width >= 80;
    // Below 80 columns the size goes too: the key and its value matter most.
    let show_size = width >= 80;
    // On a cluster: each key's slot, and at full width the master serving it.
    let on_cluster = infos.iter().any(|k| k.slot.is_some());
    let mut header = vec!["key", "type", "TTL"];
    if on_cluster {
        header.push(if show_memory {
            "slot · master"
        } else {
            "slot"
        });
    }
    if show_size {
        header.push("size");
    }
    if show_encoding {
        header.push("encoding");
    }
    if show_memory {
        header.push("memory");
    }
    header.push("value");
    let mut t = new_table(header);
    t.set_width(width as u16);
    let longest_key = infos
        .iter()
        .map(|k| {
            printable_str(&k.key).chars().count() + if marks.iter().any(|m| *m) { 2 } else { 0 }
        })
        .max()
        .unwrap_or(3);
    // The key column is never squeezed below its longest name (up to half the screen).
    if let Some(col) = t.column_mut(0) {
        // Padding is part of a column's width: one space on each side.
        let w = (longest_key.min(width.saturating_sub(30).max(width / 2)) + 2) as u16;
        col.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(w)));
    }
    // What is left for the value: about two lines of it, one on a narrow screen.
    let lines = if show_size { 2 } else { 1 };
    let value_room = width.saturating_sub(longest_key + 32).max(10) * lines;
    for (i, k) in infos.iter().enumerate() {
        let mark = if marks.get(i).copied().unwrap_or(false) {
            "▸ "
        } else if marks.iter().any(|m| *m) {
            "  "
        } else {
            ""
        };
        let mut row = vec![
            // Every cell but the numbers comes from the server: escaped, never raw.
            format!("{mark}{}", printable_str(&k.key)),
            printable_str(&k.key_type).into_owned(),
            if k.exists() {
                human_ttl(k.ttl_ms)
            } else {
                "-".into()
            },
        ];
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
            row.push(k.size.map(|s| s.to_string()).unwrap_or_else(|| "-".into()));
        }
        if show_encoding {
            row.push(
                k.encoding
                    .as_deref()
                    .map(|e| printable_str(e).into_owned())
                    .unwrap_or_else(|| "-".into()),
            );
        }
        if show_memory {
            row.push(human_bytes(k.memory));
        }
        row.push(cut(&printable_str(&k.preview), value_room));
        t.add_row(row);
    }
    let mut right = vec![2];
    if show_size {
        right.push(3);
    }
    if show_memory {
        right.push(if show_encoding { 5 } else { 4 });
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
