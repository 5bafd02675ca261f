//! Where redislab finds the server programs it starts: the managed server, the managed cluster,
//! the private servers of `validate --live` and of demonstrations, and the private
//! valkey-server a step that needs a newer command may run on. One function
//! (`Binaries::find`) looks, so every one of them looks in the same places in the same order:
//! each name on PATH first, then each in `<home>/bin`, where `redislab server install` puts
//! valkey-server (a learner may put or link redis-server there too).

use std::path::{Path, PathBuf};

/// The server programs redislab can start, in the order it prefers them.
pub const SERVERS: [&str; 2] = ["redis-server", "valkey-server"];

/// Where to look for server programs: PATH, then redislab's home (when one is known).
#[derive(Debug, Clone, Default)]
pub struct Binaries {
    /// `<home>/bin`; `None` looks on PATH only.
    home_bin: Option<PathBuf>,
}

/// Where one program was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub name: &'static str,
    pub path: PathBuf,
    /// In redislab's home rather than on PATH.
    pub in_home: bool,
}

impl Binaries {
    /// PATH, then `<home>/bin`.
    pub fn new(home: &Path) -> Binaries {
        Binaries {
            home_bin: Some(bin_dir(home)),
        }
    }

    /// The first of `names` found: each on PATH in turn, then each in `<home>/bin`. A program
    /// on PATH wins over redislab's own copy, so a learner's installed server is the one used.
    pub fn find(&self, names: &[&str]) -> Option<PathBuf> {
        names.iter().find_map(|n| on_path(n)).or_else(|| {
            let dir = self.home_bin.as_ref()?;
            names.iter().map(|n| dir.join(n)).find(|p| p.is_file())
        })
    }

    /// redis-server, else valkey-server: what the managed server and private servers run.
    pub fn server(&self) -> Option<PathBuf> {
        self.find(&SERVERS)
    }

    /// A program given as a bare name (`valkey-server`), found as `find` finds it; a path is
    /// taken as given.
    pub fn resolve(&self, given: &Path) -> Option<PathBuf> {
        if given.components().count() == 1 {
            self.find(&[given.to_str()?])
        } else {
            Some(given.to_path_buf())
        }
    }

    /// Every server program there is, on PATH and in the home (for `doctor`).
    pub fn every(&self) -> Vec<Found> {
        let mut out = Vec::new();
        for name in SERVERS {
            if let Some(path) = on_path(name) {
                out.push(Found {
                    name,
                    path,
                    in_home: false,
                });
            }
            if let Some(path) = self
                .home_bin
                .as_ref()
                .map(|d| d.join(name))
                .filter(|p| p.is_file())
            {
                out.push(Found {
                    name,
                    path,
                    in_home: true,
                });
            }
        }
        out
    }

    /// Where the home's programs go, if a home is known.
    pub fn home_bin(&self) -> Option<&Path> {
        self.home_bin.as_deref()
    }
}

/// Where `redislab server install` puts server binaries.
pub fn bin_dir(home: &Path) -> PathBuf {
    home.join("bin")
}

/// `name` in one of PATH's folders.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|candidate| candidate.is_file())
}

/// The message for "no server program anywhere redislab looks".
pub fn none_found(binaries: &Binaries) -> String {
    match binaries.home_bin() {
        Some(dir) => format!(
            "neither redis-server nor valkey-server is on PATH or in {} (`redislab server install` fetches valkey-server)",
            dir.display()
        ),
        None => "neither redis-server nor valkey-server is on PATH (scripts/install-redis.sh installs redis-server)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_home_is_searched_after_path_and_a_path_is_taken_as_given() {
        let home = tempfile::tempdir().expect("temp dir");
        let bins = Binaries::new(home.path());
        // A name no PATH holds.
        let name = "redislab-test-no-such-server";
        assert_eq!(bins.find(&[name]), None);
        std::fs::create_dir_all(bin_dir(home.path())).expect("bin dir");
        let own = bin_dir(home.path()).join(name);
        std::fs::write(&own, "").expect("write");
        assert_eq!(bins.find(&[name]), Some(own.clone()));
        assert_eq!(Binaries::default().find(&[name]), None);
        assert_eq!(bins.resolve(Path::new(name)), Some(own));
        assert_eq!(
            bins.resolve(Path::new("/opt/x/valkey-server")),
            Some(PathBuf::from("/opt/x/valkey-server"))
        );
    }
}
