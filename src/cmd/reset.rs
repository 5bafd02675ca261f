//! `redislab reset`: deletes redislab's keys (namespace only, SCAN + UNLINK) — one lesson's or
//! all — and, with `--progress`, the saved progress too.

use anyhow::Result;

use crate::cli::ResetArgs;
use crate::lesson::loader;
use crate::lesson::vars::Vars;
use crate::namespace;
use crate::settings::Settings;
use crate::store::Store;
use crate::term;

pub async fn run(settings: &Settings, args: ResetArgs) -> Result<u8> {
    let lesson = match &args.id {
        Some(id) => {
            let lessons = loader::load_all(settings.lessons_dir.as_deref())?;
            Some(loader::find(&lessons, id)?.lesson.clone())
        }
        None => None,
    };
    if args.all || lesson.is_some() {
        let server = super::connect(settings).await?;
        let mut conn = server.admin();
        let (n, what) = match &lesson {
            Some(l) => {
                let vars = Vars::new(&settings.namespace);
                let mut n = 0;
                for p in &l.keys {
                    let pattern = vars.expand(p)?;
                    n += namespace::delete_matching(&mut conn, &settings.namespace, &pattern)
                        .await?;
                }
                (n, format!("of lesson {}", l.id))
            }
            None => {
                let all = namespace::all_keys(&settings.namespace);
                (
                    namespace::delete_matching(&mut conn, &settings.namespace, &all).await?,
                    format!("under {}", settings.prefix()),
                )
            }
        };
        term::out(&format!(
            "deleted {n} key{} {what}\n",
            if n == 1 { "" } else { "s" }
        ));
    }
    if args.progress {
        let mut store = Store::open(&settings.home)?;
        let n = store.clear(lesson.as_ref().map(|l| l.id.as_str()))?;
        term::out(&format!(
            "cleared saved progress of {n} lesson{}\n",
            if n == 1 { "" } else { "s" }
        ));
    }
    Ok(0)
}
