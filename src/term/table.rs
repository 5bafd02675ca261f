//! Tables: the key table shown after every step and by `inspect`, and a generic builder so
//! every table in redislab looks the same.

use comfy_table::{CellAlignment, ContentArrangement, Table, presets};

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

/// The key table: key, type, TTL, size, encoding, memory, value.
pub fn keys(infos: &[KeyInfo]) -> String {
    let mut t = new_table(vec![
        "key", "type", "TTL", "size", "encoding", "memory", "value",
    ]);
    for k in infos {
        t.add_row(vec![
            // Every cell but the numbers comes from the server: escaped, never raw.
            printable_str(&k.key).into_owned(),
            printable_str(&k.key_type).into_owned(),
            if k.exists() {
                human_ttl(k.ttl_ms)
            } else {
                "-".into()
            },
            k.size.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
            k.encoding
                .as_deref()
                .map(|e| printable_str(e).into_owned())
                .unwrap_or_else(|| "-".into()),
            human_bytes(k.memory),
            printable_str(&k.preview).into_owned(),
        ]);
    }
    align_right(&mut t, &[2, 3, 5]);
    t.to_string()
}
