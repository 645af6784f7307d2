//! The commands admins run as root: `add`, `remove`, `list`, `import`,
//! `check`, `audit`, `config`, `index` and `setup`. Unlike `keys`, they talk to a person (or a script,
//! with `--json`) on stdout and stderr, never to syslog.

pub mod add;
pub mod audit;
pub mod check;
pub mod check_key;
pub mod config;
pub mod import;
pub mod list;
pub mod reindex;
pub mod remove;
pub mod report;
pub mod setup;

use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag, fstat};

use crate::config::{Config, ConfigError};
use crate::exit::Exit;
use crate::openssh::authorized_keys;
use crate::store::edit::EditError;
use crate::store::inventory::{self, Keys, Now, Record};
use crate::store::trusted::UnsafePath;
use crate::store::{self, UserName};

/// Why an admin command stopped: the exit status and what to tell the admin.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<UnsafePath> for Failure {
    fn from(e: UnsafePath) -> Self {
        let exit = match &e {
            UnsafePath::NotFound(_) => Exit::Config,
            e if e.is_io() => Exit::IoErr,
            _ => Exit::NoPerm,
        };
        let message = match &e {
            UnsafePath::NotFound(p) => format!(
                "{e}; create the store with `install -d -m 0755 {}/users` or set store= in the config",
                crate::log::path(p)
            ),
            _ => format!("store refused: {e}"),
        };
        Failure::new(exit, message)
    }
}

impl From<EditError> for Failure {
    fn from(e: EditError) -> Self {
        match e {
            EditError::Unsafe(u) => u.into(),
            EditError::NotRoot => Failure::new(Exit::NoPerm, e.to_string()),
            EditError::Io { .. } => Failure::new(Exit::IoErr, e.to_string()),
            EditError::Busy(_) => Failure::new(Exit::TempFail, e.to_string()),
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        let exit = match &e {
            ConfigError::Unsafe(UnsafePath::NotFound(_)) => Exit::Config,
            ConfigError::Unsafe(u) if u.is_io() => Exit::IoErr,
            ConfigError::Unsafe(_) => Exit::NoPerm,
            _ => Exit::Config,
        };
        Failure::new(exit, e.to_string())
    }
}

pub type Outcome = Result<Exit, Failure>;

/// One line for the admin on stderr, scrubbed like everything keyward shows.
pub fn warn(message: &str) {
    eprintln!("keyward: {}", crate::log::scrub(message, true));
}

/// Where a command writes and in which form.
pub struct Out<'a> {
    pub json: bool,
    pub stdout: &'a mut dyn Write,
}

impl Out<'_> {
    /// Text for people, or `value` as JSON for scripts.
    pub fn emit<T: serde::Serialize>(
        &mut self,
        value: &T,
        text: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<(), Failure> {
        let r = if self.json {
            // JSON stays exact: serde escapes what JSON must, and a script
            // reading it sees the bytes the file holds.
            crate::admin::report::print_json(self.stdout, value)
        } else {
            let mut buf = Vec::new();
            text(&mut buf).and_then(|()| {
                let shown = String::from_utf8_lossy(&buf);
                self.stdout
                    .write_all(crate::log::scrub(&shown, true).as_bytes())
            })
        };
        r.map_err(|e| Failure::new(Exit::IoErr, format!("cannot write output: {e}")))
    }
}

/// Loads the configuration and, from it, which sshd every judgement is
/// about (`[sshd]`, recorded by setup).
pub fn load_config(path: Option<&Path>) -> Result<Config, Failure> {
    let config = Config::load(path)?;
    crate::openssh::set_installed(config.sshd());
    Ok(config)
}

pub fn user_name(raw: &OsStr) -> Result<UserName, Failure> {
    UserName::new(raw).map_err(|e| {
        Failure::new(
            Exit::DataErr,
            format!("refusing user name {:?}: {e}", raw.to_string_lossy()),
        )
    })
}

/// Reads key lines an admin hands us: a regular file (never a FIFO or a
/// device, which could block or never end) or, for `-`, standard input.
pub fn read_input(path: &Path) -> Result<Vec<u8>, Failure> {
    let limit = store::MAX_USER_BYTES;
    let shown = crate::log::path(path);
    let io = |e: std::io::Error| Failure::new(Exit::IoErr, format!("cannot read {shown}: {e}"));
    let mut data = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(limit + 1)
            .read_to_end(&mut data)
            .map_err(io)?;
    } else {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io(e.into()))?;
        let st = fstat(fd.as_fd()).map_err(|e| io(e.into()))?;
        if st.st_mode & SFlag::S_IFMT.bits() != SFlag::S_IFREG.bits() {
            return Err(Failure::new(
                Exit::DataErr,
                format!("{shown} is not a regular file; give a key file or - for standard input"),
            ));
        }
        File::from(fd)
            .take(limit + 1)
            .read_to_end(&mut data)
            .map_err(io)?;
    }
    if data.len() as u64 > limit {
        return Err(Failure::new(
            Exit::DataErr,
            format!("{shown} is larger than {limit} bytes; that is not a key file"),
        ));
    }
    Ok(data)
}

/// A line of new input that will not go into the store, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    pub source: String,
    pub line: usize,
    pub reason: String,
}

/// Sorts the lines of `data` (read from `origin`) into keys to store and
/// lines to skip: invalid ones, and keys already in `known` or earlier in
/// `data`. Taken keys are added to `known`; their lines go to `out`.
pub fn take_new(
    data: &[u8],
    origin: &Path,
    known: &mut Keys,
    now: &Now,
    out: &mut Vec<u8>,
) -> (Vec<Record>, Vec<Skipped>) {
    let (mut taken, mut skipped) = (Vec::new(), Vec::new());
    let source = crate::log::path(origin);
    for (i, raw) in data.split(|&b| b == b'\n').enumerate() {
        let skip = |reason: String| Skipped {
            source: source.clone(),
            line: i + 1,
            reason,
        };
        let line = match authorized_keys::parse_line(raw) {
            Ok(None) => continue,
            Ok(Some(line)) => line,
            Err(e) => {
                skipped.push(skip(e.to_string()));
                continue;
            }
        };
        if let Some(dup) = known.find_blob(&line.blob) {
            skipped.push(skip(format!(
                "key {} is already in {}:{}",
                dup.fingerprint, dup.source, dup.line
            )));
            continue;
        }
        let record = inventory::record(&line, origin, i + 1, now);
        out.extend_from_slice(line.text);
        out.push(b'\n');
        known.records.push(record.clone());
        taken.push(record);
    }
    (taken, skipped)
}
