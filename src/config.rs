//! `/etc/keyward/keyward.toml`: where the store is, where to log, what to check.
//!
//! A missing default file means the built-in defaults; anything else that goes
//! wrong (unsafe file, broken TOML, unknown key) is an error, because a typo
//! must never silently weaken a check.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::platform::Platform;
use crate::trusted::{self, UnsafePath};

pub const DEFAULT_PATH: &str = "/etc/keyward/keyward.toml";
/// Where `setup` makes the home warnings' state directory.
pub const DEFAULT_STATE: &str = "/var/lib/keyward/warned";

/// The config file is read whole; no sane one comes near this.
const MAX_CONFIG_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The store root; keys live in `<store>/users/<user>`.
    pub store: PathBuf,
    pub syslog: SyslogConfig,
    pub home_check: HomeCheckConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogConfig {
    pub socket: PathBuf,
    pub facility: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HomeCheckConfig {
    pub enabled: bool,
    /// As sshd's AuthorizedKeysFile: relative to the home, `%h %u %U %%` expanded.
    pub files: Vec<String>,
    pub group_exception: GroupException,
    /// Where fix text must say more (Synology DSM's ACLs).
    pub platform: Platform,
    /// Seconds between two warnings about the same user; 0 warns on every
    /// lookup (sshd runs keyward twice for every key a client offers).
    pub warn_interval: u64,
    /// The directory that remembers when each user was last warned about.
    pub state: PathBuf,
    /// Users whose unsafe home is known and accepted: said at info.
    pub accepted_users: Vec<String>,
    /// Homes (`*` and `?` patterns) likewise, e.g. "/volume1/homes/*".
    pub accepted_homes: Vec<String>,
}

/// Debian and Ubuntu patch sshd so that a group-writable path is accepted when
/// the group's only member is the user; upstream OpenSSH (and Synology DSM)
/// refuses it. The home check must say what the installed sshd will do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupException {
    /// On when `/etc/debian_version` exists.
    Auto,
    On,
    Off,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            store: PathBuf::from("/etc/keyward"),
            syslog: SyslogConfig::default(),
            home_check: HomeCheckConfig::default(),
        }
    }
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            socket: PathBuf::from("/dev/log"),
            facility: "authpriv".into(),
        }
    }
}

impl Default for HomeCheckConfig {
    fn default() -> Self {
        HomeCheckConfig {
            enabled: true,
            files: vec![
                ".ssh/authorized_keys".into(),
                ".ssh/authorized_keys2".into(),
            ],
            group_exception: GroupException::Auto,
            platform: Platform::Auto,
            warn_interval: 3600,
            state: PathBuf::from(DEFAULT_STATE),
            accepted_users: Vec::new(),
            accepted_homes: Vec::new(),
        }
    }
}

#[derive(Debug)]
pub enum ConfigError {
    Unsafe(UnsafePath),
    Syntax { path: PathBuf, message: String },
    Invalid { path: PathBuf, message: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Unsafe(e) => write!(f, "config file refused: {e}"),
            ConfigError::Syntax { path, message } | ConfigError::Invalid { path, message } => {
                write!(
                    f,
                    "config file {}: {}",
                    crate::log::path(path),
                    message.trim_end().replace('\n', " ")
                )
            }
        }
    }
}

impl Config {
    /// Loads `explicit`, or the default path when none was given (where a
    /// missing file means the built-in defaults).
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let path = explicit.unwrap_or(Path::new(DEFAULT_PATH));
        let file = match trusted::open(path) {
            Ok(f) => f,
            Err(UnsafePath::NotFound(_)) if explicit.is_none() => return Ok(Config::default()),
            Err(e) => return Err(ConfigError::Unsafe(e)),
        };
        file.expect_file().map_err(ConfigError::Unsafe)?;
        let bytes = trusted::read_all(&file, MAX_CONFIG_BYTES).map_err(ConfigError::Unsafe)?;
        Config::parse(&bytes, path)
    }

    pub fn parse(bytes: &[u8], path: &Path) -> Result<Config, ConfigError> {
        let text = std::str::from_utf8(bytes).map_err(|_| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: "not UTF-8 text".into(),
        })?;
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        if !self.store.is_absolute() {
            return Err(invalid(format!(
                "store = {:?} must be an absolute path",
                self.store
            )));
        }
        if !self.syslog.socket.is_absolute() {
            return Err(invalid(format!(
                "[syslog] socket = {:?} must be an absolute path",
                self.syslog.socket
            )));
        }
        if !self.home_check.state.is_absolute() {
            return Err(invalid(format!(
                "[home_check] state = {:?} must be an absolute path",
                self.home_check.state
            )));
        }
        if let Some(bad) = self
            .home_check
            .accepted_homes
            .iter()
            .find(|h| !h.starts_with('/'))
        {
            return Err(invalid(format!(
                "[home_check] accepted_homes: {bad:?} must be an absolute path or pattern"
            )));
        }
        if self.facility().is_none() {
            return Err(invalid(format!(
                "[syslog] facility = {:?} is not a syslog facility (try \"authpriv\" or \"auth\")",
                self.syslog.facility
            )));
        }
        Ok(())
    }

    pub fn facility(&self) -> Option<syslog::Facility> {
        self.syslog.facility.parse::<syslog::Facility>().ok()
    }

    /// Whether the installed sshd applies Debian's one-member-group rule.
    pub fn group_exception(&self) -> bool {
        match self.home_check.group_exception {
            GroupException::On => true,
            GroupException::Off => false,
            GroupException::Auto => Path::new("/etc/debian_version").exists(),
        }
    }

    pub fn users_dir(&self) -> PathBuf {
        self.store.join("users")
    }

    /// Whether the admin said this user's unsafe home is known and accepted.
    pub fn accepted(&self, user: &str, home: &Path) -> bool {
        let h = &self.home_check;
        h.accepted_users.iter().any(|u| u == user)
            || h.accepted_homes
                .iter()
                .any(|p| glob(p.as_bytes(), home.as_os_str().as_encoded_bytes()))
    }
}

/// `fnmatch` with `*` and `?` only (a `*` may match `/`): enough for
/// "/volume1/homes/*" and kept small on purpose.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::parse(s.as_bytes(), Path::new("/test.toml"))
    }

    #[test]
    fn shipped_sample_equals_built_in_defaults() {
        let sample = include_str!("../conf/keyward.toml");
        assert_eq!(parse(sample).unwrap(), Config::default());
    }

    #[test]
    fn empty_file_means_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn values_are_read() {
        let c = parse(
            "store = \"/srv/kw\"\n[syslog]\nsocket = \"/run/x.sock\"\nfacility = \"auth\"\n\
             [home_check]\nenabled = false\nfiles = [\"/etc/ssh/keys/%u\"]\ngroup_exception = \"off\"\n",
        )
        .unwrap();
        assert_eq!(c.store, Path::new("/srv/kw"));
        assert_eq!(c.syslog.socket, Path::new("/run/x.sock"));
        assert!(!c.home_check.enabled);
        assert_eq!(c.home_check.files, vec!["/etc/ssh/keys/%u".to_string()]);
        assert_eq!(c.home_check.group_exception, GroupException::Off);
    }

    #[test]
    fn accepted_homes_match_like_a_shell_pattern() {
        let c = parse(
            "[home_check]\naccepted_users = [\"bob\"]\naccepted_homes = [\"/volume1/homes/*\", \"/h/a?c\"]\n",
        )
        .unwrap();
        assert!(c.accepted("alice", Path::new("/volume1/homes/alice")));
        assert!(c.accepted("bob", Path::new("/home/bob")));
        assert!(c.accepted("x", Path::new("/h/abc")));
        assert!(!c.accepted("x", Path::new("/h/abcd")));
        assert!(!c.accepted("alice", Path::new("/home/alice")));
        assert!(!c.accepted("alice", Path::new("/volume1/homesx")));
        assert!(glob(b"*", b""));
        assert!(glob(b"/a/*/c", b"/a/b/b/c"));
        assert!(!glob(b"/a/*/c", b"/a/b/d"));
        assert!(parse("[home_check]\naccepted_homes = [\"volume1/*\"]").is_err());
    }

    #[test]
    fn unknown_keys_are_errors_at_every_level() {
        for bad in [
            "stroe = \"/etc/keyward\"",
            "[syslog]\nsokcet = \"/dev/log\"",
            "[home_check]\nenable = false",
            "[homecheck]\nenabled = false",
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains("unknown field"), "{bad}: {err}");
        }
    }

    #[test]
    fn broken_toml_and_bad_values_are_errors() {
        assert!(matches!(parse("store = "), Err(ConfigError::Syntax { .. })));
        assert!(matches!(
            parse("store = 5"),
            Err(ConfigError::Syntax { .. })
        ));
        assert!(matches!(
            parse("store = \"relative\""),
            Err(ConfigError::Invalid { .. })
        ));
        assert!(matches!(
            parse("[syslog]\nfacility = \"nosuch\""),
            Err(ConfigError::Invalid { .. })
        ));
        assert!(matches!(
            parse("[home_check]\ngroup_exception = \"maybe\""),
            Err(ConfigError::Syntax { .. })
        ));
        assert!(matches!(
            Config::parse(b"store = \"\xff\"", Path::new("/t")),
            Err(ConfigError::Syntax { .. })
        ));
    }
}
