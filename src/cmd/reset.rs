//! `redislab reset`: deletes redislab's keys (namespace only, SCAN + UNLINK) and, on request,
//! saved progress.

use anyhow::Result;

use crate::cli::ResetArgs;
use crate::namespace;
use crate::settings::Settings;
use crate::term;

pub async fn run(settings: &Settings, args: ResetArgs) -> Result<u8> {
    let server = super::connect(settings).await?;
    let mut conn = server.conn.clone();
    if args.all || args.id.is_none() {
        let n = namespace::delete_matching(
            &mut conn,
            &settings.namespace,
            &namespace::all_keys(&settings.namespace),
        )
        .await?;
        term::out(&format!(
            "deleted {n} key{} under {}\n",
            if n == 1 { "" } else { "s" },
            settings.prefix()
        ));
    }
    Ok(0)
}
