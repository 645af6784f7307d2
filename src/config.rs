//! `/etc/keyward/keyward.toml`: where the store is, where to log, what to check.
//!
//! A missing default file means the built-in defaults; anything else that goes
//! wrong (unsafe file, broken TOML, unknown key) is an error, because a typo
//! must never silently weaken a check.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::openssh;
use crate::platform::Platform;
use crate::store::trusted::{self, UnsafePath};

pub const DEFAULT_PATH: &str = "/etc/keyward/keyward.toml";
/// Where `setup` makes the home warnings' state directory.
pub const DEFAULT_STATE: &str = "/var/lib/keyward/warned";
/// Where `setup` records what it found (`Record`).
pub const DEFAULT_RECORD: &str = "/var/lib/keyward/setup.toml";

/// The config file is read whole; no sane one comes near this.
const MAX_CONFIG_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The store root; keys live in `<store>/users/<user>`.
    pub store: PathBuf,
    pub syslog: SyslogConfig,
    pub home_check: HomeCheckConfig,
    pub sshd: SshdConfig,
    /// Other AuthorizedKeysCommands whose keys keyward serves after its own.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<ChainConfig>,
    /// Where `keyward setup` records what it found on this machine.
    pub record: PathBuf,
}

/// What `keyward setup` found on this machine: the sshd release and the
/// AuthorizedKeysCommand it adopted. Machine state, so it lives in a file
/// of keyward's own that no package ships (`record`), never in keyward.toml:
/// a conffile that setup changed stops the next package upgrade at dpkg's
/// prompt. keyward reads it together with keyward.toml, where the admin's
/// own values win.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Record {
    pub sshd: SshdConfig,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<ChainConfig>,
}

impl Record {
    /// The record at `path`: none yet is an empty record; anything else
    /// that cannot be read safely and whole is an error (fail closed).
    pub fn load(path: &Path) -> Result<Record, ConfigError> {
        let file = match trusted::open(path) {
            Ok(f) => f,
            Err(UnsafePath::NotFound(_)) => return Ok(Record::default()),
            Err(e) => return Err(ConfigError::Unsafe(e)),
        };
        file.expect_file().map_err(ConfigError::Unsafe)?;
        let bytes = trusted::read_all(&file, MAX_CONFIG_BYTES).map_err(ConfigError::Unsafe)?;
        Record::parse(&bytes, path)
    }

    /// Reads and checks a record as `Config::parse` checks keyward.toml.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Record, ConfigError> {
        let (record, text): (Record, &str) = from_toml(bytes, path)?;
        let as_config = Config {
            sshd: record.sshd.clone(),
            chain: record.chain.clone(),
            ..Config::default()
        };
        as_config.checked(text, path)?;
        Ok(record)
    }

    /// The file setup writes.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!(
            "# Written by `keyward setup`: what it found on this machine (the sshd\n\
             # release, the AuthorizedKeysCommand it adopted). Do not edit: setup\n\
             # rewrites it. A value set in keyward.toml wins over the one here.\n\n{body}"
        )
    }
}

/// One `[[chain]]` table: a command written as sshd's AuthorizedKeysCommand
/// line is, so an existing line moves over verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    pub command: String,
    /// Seconds before the command is killed and contributes nothing.
    #[serde(default = "default_chain_timeout")]
    pub timeout: u64,
    /// Bytes of output past which it is killed and contributes nothing.
    #[serde(default = "default_chain_output")]
    pub max_output: u64,
}

impl ChainConfig {
    /// Config-time check: the command splits as release `sshd` splits it,
    /// starts with an absolute path, and uses only the tokens that release
    /// gives an AuthorizedKeysCommand (keyward receives or derives each:
    /// `%C %D` from 9.4 on, which setup then registers keyward to take).
    pub fn validate(&self, sshd: &openssh::Sshd) -> Result<(), String> {
        let argv = crate::openssh::sshd::argv_split_as(&self.command, sshd)
            .map_err(|e| format!("sshd would say it {e}"))?;
        if !argv[0].starts_with('/') {
            return Err("the program must be an absolute path, as sshd requires".into());
        }
        let known = crate::openssh::sshd::command_tokens(sshd);
        for arg in &argv[1..] {
            if let Some(t) = crate::openssh::sshd::tokens_outside(arg, &known).first() {
                let list: Vec<String> = known.iter().map(|t| format!("%{t}")).collect();
                return Err(if t == "%" {
                    "a lone % at the end".into()
                } else {
                    format!(
                        "unknown token {t} (OpenSSH {} knows {})",
                        sshd.version,
                        list.join(" ")
                    )
                });
            }
        }
        Ok(())
    }

    /// Whether the command asks for sshd's `%C` or `%D`.
    pub fn uses_connection(&self) -> bool {
        crate::openssh::sshd::tokens_used(&self.command)
            .iter()
            .any(|t| matches!(t, 'C' | 'D'))
    }
}

pub const DEFAULT_CHAIN_TIMEOUT: u64 = 5;
pub const DEFAULT_CHAIN_OUTPUT: u64 = 1024 * 1024;

fn default_chain_timeout() -> u64 {
    DEFAULT_CHAIN_TIMEOUT
}

fn default_chain_output() -> u64 {
    DEFAULT_CHAIN_OUTPUT
}

/// The sshd keyward answers to, as `keyward setup` found it (`sshd -V`).
/// Unset: Debian 12's 9.2p1.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SshdConfig {
    /// `9.2p1`, `8.2p1`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Whether it carries Debian's StrictModes patch (Debian, Ubuntu).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub debian: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogConfig {
    pub socket: PathBuf,
    pub facility: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupException {
    /// As the sshd setup recorded (`[sshd] debian`); without a record, on
    /// when `/etc/debian_version` exists.
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
            sshd: SshdConfig::default(),
            chain: Vec::new(),
            record: PathBuf::from(DEFAULT_RECORD),
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
    /// The file is not TOML, or not keyward's keys: one problem, at a line.
    Syntax {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// Values that parse but cannot be used: every one of them, each at
    /// its line where it can be found.
    Invalid {
        path: PathBuf,
        problems: Vec<(Option<usize>, String)>,
    },
}

impl ConfigError {
    /// Each problem as `FILE:LINE: what`, one per line of text.
    pub fn problems(&self) -> Vec<String> {
        let at = |path: &Path, line: &Option<usize>| match line {
            Some(n) => format!("{}:{n}", crate::log::path(path)),
            None => crate::log::path(path),
        };
        match self {
            ConfigError::Unsafe(e) => vec![format!("config file refused: {e}")],
            ConfigError::Syntax {
                path,
                line,
                message,
            } => vec![format!("{}: {message}", at(path, line))],
            ConfigError::Invalid { path, problems } => problems
                .iter()
                .map(|(line, m)| format!("{}: {m}", at(path, line)))
                .collect(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Unsafe(e) => write!(f, "config file refused: {e}"),
            _ => write!(f, "config file {}", self.problems().join("; ")),
        }
    }
}

impl Config {
    /// Loads `explicit`, or the default path when none was given (where a
    /// missing file means the built-in defaults), with setup's record.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let own = Config::load_own(explicit)?;
        let record = Record::load(&own.record)?;
        Ok(own.with_record(record))
    }

    /// keyward.toml alone, without setup's record.
    pub fn load_own(explicit: Option<&Path>) -> Result<Config, ConfigError> {
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

    /// This configuration with setup's record under it: what keyward.toml
    /// sets wins; the record's chained commands run first, except one that
    /// keyward.toml also has (its table, with its limits, is the one used).
    pub fn with_record(mut self, record: Record) -> Config {
        self.sshd.version = self.sshd.version.or(record.sshd.version);
        self.sshd.debian = self.sshd.debian.or(record.sshd.debian);
        let own = std::mem::take(&mut self.chain);
        self.chain = record
            .chain
            .into_iter()
            .filter(|c| !own.iter().any(|o| o.command == c.command))
            .collect();
        self.chain.extend(own);
        self
    }

    pub fn parse(bytes: &[u8], path: &Path) -> Result<Config, ConfigError> {
        let (config, text): (Config, &str) = from_toml(bytes, path)?;
        config.checked(text, path)
    }

    /// Itself, when every value can be used; else each problem at its line.
    fn checked(self, text: &str, path: &Path) -> Result<Config, ConfigError> {
        let problems = self.problems(text);
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems,
            })
        }
    }

    /// Every value that parses but cannot be used, with the line that sets it.
    fn problems(&self, text: &str) -> Vec<(Option<usize>, String)> {
        let mut out = Vec::new();
        let mut say = |key: &str, message: String| out.push((key_line(text, key), message));
        if !self.store.is_absolute() {
            say(
                "store",
                format!("store = {:?} must be an absolute path", self.store),
            );
        }
        if !self.syslog.socket.is_absolute() {
            say(
                "socket",
                format!(
                    "[syslog] socket = {:?} must be an absolute path",
                    self.syslog.socket
                ),
            );
        }
        if self.facility().is_none() {
            say(
                "facility",
                format!(
                    "[syslog] facility = {:?} is not a syslog facility (try \"authpriv\" or \"auth\")",
                    self.syslog.facility
                ),
            );
        }
        if !self.record.is_absolute() {
            say(
                "record",
                format!("record = {:?} must be an absolute path", self.record),
            );
        }
        if !self.home_check.state.is_absolute() {
            say(
                "state",
                format!(
                    "[home_check] state = {:?} must be an absolute path",
                    self.home_check.state
                ),
            );
        }
        for bad in self
            .home_check
            .accepted_homes
            .iter()
            .filter(|h| !h.starts_with('/'))
        {
            say(
                "accepted_homes",
                format!("[home_check] accepted_homes: {bad:?} must be an absolute path or pattern"),
            );
        }
        for c in &self.chain {
            if let Err(why) = c.validate(&self.sshd()) {
                say(
                    "command",
                    format!("[[chain]] command = {:?}: {why}", c.command),
                );
            }
            if !(1..=600).contains(&c.timeout) {
                say(
                    "timeout",
                    format!(
                        "[[chain]] timeout = {}: give 1 to 600 seconds (sshd's LoginGraceTime is 120 by default)",
                        c.timeout
                    ),
                );
            }
            if !(1024..=64 * 1024 * 1024).contains(&c.max_output) {
                say(
                    "max_output",
                    format!(
                        "[[chain]] max_output = {}: give 1024 to 67108864 bytes",
                        c.max_output
                    ),
                );
            }
        }
        if let Some(v) = &self.sshd.version {
            match openssh::Version::parse(v) {
                None => say(
                    "version",
                    format!(
                        "[sshd] version = {v:?} is not an OpenSSH release such as \"9.2p1\"; run `keyward setup` to record the installed one"
                    ),
                ),
                Some(r) if r < openssh::OLDEST_MODELLED => say(
                    "version",
                    format!(
                        "[sshd] version = {v:?}: keyward models OpenSSH {} and later; an older sshd parses options differently",
                        openssh::OLDEST_MODELLED
                    ),
                ),
                Some(_) => {}
            }
        }
        out
    }

    /// The effective configuration as TOML, for `keyward config`.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot show the configuration: {e}\n"))
    }

    pub fn facility(&self) -> Option<syslog::Facility> {
        self.syslog.facility.parse::<syslog::Facility>().ok()
    }

    /// Whether the installed sshd applies Debian's one-member-group rule.
    pub fn group_exception(&self) -> bool {
        match self.home_check.group_exception {
            GroupException::On => true,
            GroupException::Off => false,
            GroupException::Auto => match self.sshd.debian {
                Some(d) => d,
                None => Path::new("/etc/debian_version").exists(),
            },
        }
    }

    /// The sshd this configuration answers to: as recorded, else
    /// `openssh::DEFAULT`. The version was checked when the file was read.
    pub fn sshd(&self) -> openssh::Sshd {
        let version = self
            .sshd
            .version
            .as_deref()
            .and_then(openssh::Version::parse);
        match version {
            Some(version) => openssh::Sshd {
                version,
                debian: self.sshd.debian.unwrap_or(false),
            },
            None => openssh::DEFAULT,
        }
    }

    /// This configuration with `sshd` recorded, as setup writes it.
    pub fn with_sshd(&self, sshd: openssh::Sshd) -> Config {
        let mut c = self.clone();
        c.sshd = SshdConfig {
            version: Some(sshd.version.to_string()),
            debian: Some(sshd.debian),
        };
        c
    }

    /// Whether setup recorded which sshd is installed.
    pub fn sshd_recorded(&self) -> bool {
        self.sshd.version.is_some()
    }

    pub fn users_dir(&self) -> PathBuf {
        self.store.join("users")
    }

    /// Whether the admin said this user's unsafe home is known and accepted.
    pub fn accepted(&self, user: &OsStr, home: &Path) -> bool {
        let h = &self.home_check;
        h.accepted_users
            .iter()
            .any(|u| u.as_bytes() == user.as_bytes())
            || h.accepted_homes.iter().any(|p| {
                crate::openssh::c_library::shell_match(
                    p.as_bytes(),
                    home.as_os_str().as_encoded_bytes(),
                )
            })
    }
}

/// `bytes` as TOML for `T`, with the text; a syntax error at its line.
fn from_toml<'a, T: serde::de::DeserializeOwned>(
    bytes: &'a [u8],
    path: &Path,
) -> Result<(T, &'a str), ConfigError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        line: Some(line_of(bytes, e.valid_up_to())),
        message: "not UTF-8 text".into(),
    })?;
    let value = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        line: e.span().map(|s| line_of(text.as_bytes(), s.start)),
        // The message alone: toml's Display adds a multi-line excerpt.
        message: e.message().trim_end().replace('\n', "; "),
    })?;
    Ok((value, text))
}

/// The 1-based line of byte `offset`.
fn line_of(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The line that sets `key`, if one plainly does.
fn key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
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
        assert!(c.accepted("alice".as_ref(), Path::new("/volume1/homes/alice")));
        assert!(c.accepted("bob".as_ref(), Path::new("/home/bob")));
        assert!(c.accepted("x".as_ref(), Path::new("/h/abc")));
        assert!(!c.accepted("x".as_ref(), Path::new("/h/abcd")));
        assert!(!c.accepted("alice".as_ref(), Path::new("/home/alice")));
        assert!(!c.accepted("alice".as_ref(), Path::new("/volume1/homesx")));
        // As the shell: `*` and `?` never match a `/`.
        assert!(c.accepted("x".as_ref(), Path::new("/volume1/homes/alice")));
        assert!(!c.accepted("x".as_ref(), Path::new("/volume1/homes/alice/sub")));
        assert!(!c.accepted("x".as_ref(), Path::new("/h/a/c")));
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
    fn every_problem_is_one_line_with_its_line_number() {
        let e = parse("# c\nstore = \"/k\"\n[syslog]\nfacility = 7 7\n").unwrap_err();
        let p = e.problems();
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("/test.toml:4: "), "{p:?}");
        assert!(!e.to_string().contains('\n'), "{e}");
        let e =
            parse("store = \"rel\"\n[syslog]\nsocket = \"x\"\nfacility = \"no\"\n").unwrap_err();
        let p = e.problems();
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].starts_with("/test.toml:1: store"), "{p:?}");
        assert!(p[1].starts_with("/test.toml:3: [syslog] socket"), "{p:?}");
        assert!(p[2].starts_with("/test.toml:4: [syslog] facility"), "{p:?}");
    }

    #[test]
    fn the_effective_config_prints_as_toml_that_reads_back() {
        let c = Config::default();
        assert_eq!(parse(&c.to_toml()).unwrap(), c);
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

#[cfg(test)]
mod man_page {
    /// keyward.toml(5) names every key the config reads.
    #[test]
    fn keyward_toml_5_documents_every_key() {
        let man = include_str!("../packaging/man/keyward.toml.5").replace("\\-", "-");
        let text = super::Config::default().to_toml();
        let missing: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim()))
            .filter(|k| !man.contains(k))
            .collect();
        assert!(missing.is_empty(), "keyward.toml.5 lacks {missing:?}");
    }
}
