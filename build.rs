//! Embeds every lesson in lessons/ into the binary, so an installed redislab works from any
//! directory. Generates a list of (file name, contents) from the folder at build time, and a
//! compact catalogue (id, slug, title, part, structure, use, steps, minutes) so `list` and the
//! menu start without parsing every lesson's full YAML. `lesson::catalogue` has a test that
//! holds the catalogue to the real parser and estimate.

use std::{env, fs, path::Path};

fn main() {
    println!("cargo:rerun-if-changed=lessons");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut out = String::from("pub const EMBEDDED: &[(&str, &str)] = &[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            f.display().to_string()
        ));
    }
    out.push_str("];\n");
    let out_dir = env::var("OUT_DIR").unwrap_or_else(|_| ".".into());
    let dest = Path::new(&out_dir).join("lessons.rs");
    if let Err(e) = fs::write(&dest, out) {
        panic!("could not write {}: {e}", dest.display());
    }
    let dest = Path::new(&out_dir).join("catalogue.rs");
    if let Err(e) = fs::write(&dest, catalogue(&files)) {
        panic!("could not write {}: {e}", dest.display());
    }
}

/// `CATALOGUE`: `Some(entries)`, or `None` when a lesson does not parse here (then `list`
/// parses the files at run time and reports the error as it always did).
fn catalogue(files: &[std::path::PathBuf]) -> String {
    let mut entries = String::new();
    for f in files {
        let Some(entry) = fs::read_to_string(f).ok().and_then(|t| entry(&t)) else {
            return "pub const CATALOGUE: Option<&[Entry]> = None;\n".to_string();
        };
        entries.push_str(&entry);
    }
    format!("pub const CATALOGUE: Option<&[Entry]> = Some(&[\n{entries}]);\n")
}

fn entry(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_saphyr::from_str(text).ok()?;
    let s = |name: &str| v.get(name).and_then(|x| x.as_str()).map(str::to_string);
    let part = match s("part") {
        Some(p) => format!("Some({p:?})"),
        None => "None".to_string(),
    };
    let steps = v.get("steps")?.as_array()?.len();
    Some(format!(
        "    Entry {{ id: {:?}, slug: {:?}, title: {:?}, part: {part}, structure: {:?}, use_case: {:?}, steps: {steps}, minutes: {} }},\n",
        s("id")?,
        s("slug")?,
        s("title")?,
        s("structure")?,
        s("use_case")?,
        minutes(&v)?
    ))
}

/// `lesson::course::minutes`, read from the YAML tree (the catalogue test keeps them equal).
fn minutes(v: &serde_json::Value) -> Option<u32> {
    let words = |x: Option<&serde_json::Value>| {
        x.and_then(|x| x.as_str())
            .map_or(0, |t| t.split_whitespace().count())
    };
    let mut w = words(v.get("introduction"));
    let mut seconds: usize = 0;
    for step in v.get("steps")?.as_array()? {
        w += words(step.get("text")) + words(step.get("after"));
        seconds += match step.get("kind")?.as_str()? {
            "exercise" => {
                w += words(step.get("goal"));
                150
            }
            "wait" => (step.get("seconds")?.as_u64()? as usize).min(60) + 10,
            "run" => 20 + 10 * step.get("commands")?.as_array()?.len(),
            _ => 45,
        };
    }
    for q in v.get("quiz")?.as_array()? {
        w += words(q.get("question")) + words(q.get("explanation"));
        w += q
            .get("choices")?
            .as_array()?
            .iter()
            .map(|c| words(Some(c)))
            .sum::<usize>();
        seconds += 20;
    }
    seconds += w * 60 / 180;
    let minutes = seconds.div_ceil(60).max(5);
    Some((minutes.div_ceil(5) * 5) as u32)
}
