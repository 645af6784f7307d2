//! `keyward keys USER [FINGERPRINT [HOME UID]]`: the AuthorizedKeysCommand itself.
//!
//! Contract with sshd: stdout carries only valid authorized_keys lines, and
//! only after the whole lookup succeeded; any doubt exits non-zero with
//! nothing on stdout and the reason in syslog. The same inputs give the same
//! answer, since sshd runs us twice for every accepted key.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::config::{Config, ConfigError};
use crate::exit::Exit;
use crate::log::{self, Log};
use crate::lookup::chain;
use crate::lookup::offered::{Offered, OfferedKey};
use crate::lookup::warned;
use crate::openssh::authorized_keys::{self, KeyLine};
use crate::openssh::fingerprint::Fingerprint;
use crate::openssh::strict_modes::{self, Account};
use crate::store::index;
use crate::store::trusted::{self, Trusted, UnsafePath};
use crate::store::{self, Entry, UserFiles, UserName};
use uzers::os::unix::UserExt;

/// Past this many invalid lines in one lookup, only a count is logged: a
/// broken file must not flood syslog on every login.
const MAX_LINE_WARNINGS: usize = 20;

pub struct Request<'a> {
    pub config: Option<&'a Path>,
    pub user: &'a OsStr,
    /// sshd's `%k` (the offered key) or `%f` (its fingerprint).
    pub offered: Option<&'a OsStr>,
    /// sshd's `%h` and `%U`: the user's home and uid as sshd has them, so
    /// the home check need not ask the user database again.
    pub home_uid: Option<(&'a OsStr, &'a OsStr)>,
    /// sshd's `%C` and `%D` (9.4 and later), only to pass on to chained
    /// commands that ask for them.
    pub connection: Option<(&'a OsStr, &'a OsStr)>,
}

/// What one lookup served, for the log and for callers such as tests.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Served {
    pub output: Vec<u8>,
    pub lines: usize,
    pub ca_lines: usize,
    /// `file:line` of each plain key that matched the fingerprint.
    pub granted_by: Vec<String>,
    pub files: usize,
    /// The lines came through the fingerprint index.
    pub via_index: bool,
    /// Lines that came from chained commands.
    pub chained: usize,
}

pub fn run(req: &Request, stdout: &mut dyn Write) -> Exit {
    // Judge the arguments before any file is opened; the config is read
    // first only to learn where to report a refusal.
    let user = UserName::new(req.user);
    let config = match Config::load(req.config) {
        Ok(c) => c,
        Err(e) => {
            let defaults = Config::default();
            let mut log = open_log(&defaults);
            log.err(&format!("serving no keys: {e}"));
            return match e {
                ConfigError::Unsafe(UnsafePath::NotFound(_)) => Exit::Config,
                ConfigError::Unsafe(u) if u.is_io() => Exit::IoErr,
                ConfigError::Unsafe(_) => Exit::NoPerm,
                _ => Exit::Config,
            };
        }
    };
    // Lines, keys and homes are judged as the recorded sshd judges them.
    crate::openssh::set_installed(config.sshd());
    let offered = req.offered.map(|f| Offered::parse(f.as_encoded_bytes()));
    let mut log = open_log(&config);

    let user = match user {
        Ok(u) => u,
        Err(e) => {
            use std::os::unix::ffi::OsStrExt;
            let shown: Vec<u8> = req.user.as_bytes().iter().take(64).copied().collect();
            log.err(&format!(
                "refusing lookup for user \"{}\"{}: {e}",
                log::escape(&shown),
                if req.user.len() > 64 { "..." } else { "" }
            ));
            return Exit::DataErr;
        }
    };
    let offered = match offered {
        None => None,
        Some(Ok(f)) => Some(f),
        Some(Err(e)) => {
            log.err(&format!(
                "refusing lookup for user {}: the second argument is {e}; check the %k (or %f) in \
                 sshd's AuthorizedKeysCommand",
                user.display()
            ));
            return Exit::DataErr;
        }
    };

    let known = match req.home_uid.map(|(h, u)| account_from_sshd(&user, h, u)) {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(e)) => {
            log.err(&format!(
                "refusing lookup for user {}: {e}; the AuthorizedKeysCommand line should end in `%u %k %h %U`",
                user.display()
            ));
            return Exit::DataErr;
        }
    };

    let mut result = lookup(&config, &user, offered.as_ref(), &mut log);
    // Chained commands only after a lookup that may serve at all: an unsafe
    // store fails the whole lookup closed, whatever they would print.
    if let Ok(served) = &mut result
        && !config.chain.is_empty()
    {
        let values = chain_values(&config, &user, req, offered.as_ref(), known.as_ref());
        run_chains(&config, &user, &values, offered.as_ref(), served, &mut log);
    }
    // What this lookup did, for the home warning to say truthfully.
    let mut did = Did::Failed;
    let exit = match result {
        Ok(served) => match stdout
            .write_all(&served.output)
            .and_then(|_| stdout.flush())
        {
            Ok(()) => {
                log.info(&summary(&user, offered.as_ref(), &served));
                did = Did::Served {
                    served,
                    with_fingerprint: offered.is_some(),
                };
                Exit::Ok
            }
            Err(e) => {
                log.err(&format!(
                    "user {}: could not write keys to sshd: {e}",
                    user.display()
                ));
                Exit::IoErr
            }
        },
        Err(UnsafePath::NotFound(path)) => {
            // Only the store root itself can be missing here: a missing
            // users/ or entry simply means no keys.
            let (u, p) = (user.display(), log::path(&path));
            log.err(&format!(
                "user {u}: serving no keys: the store {p} does not exist; create it with \
                 `install -d -m 0755 {p}/users` or set store= in the config"
            ));
            Exit::Config
        }
        Err(e) => {
            log.err(&format!("user {}: serving no keys: {e}", user.display()));
            if e.is_io() { Exit::IoErr } else { Exit::NoPerm }
        }
    };

    if config.home_check.enabled {
        home_check(&config, &user, known, &did, &mut log);
    }
    exit
}

/// What the `%` tokens of chained commands stand for in this lookup: what
/// sshd passed keyward, or can be derived from it.
fn chain_values(
    config: &Config,
    user: &UserName,
    req: &Request,
    offered: Option<&Offered>,
    known: Option<&Account>,
) -> chain::Values {
    // Ask the user database only when sshd did not say and a command asks.
    let wanted = config
        .chain
        .iter()
        .any(|c| c.command.contains("%U") || c.command.contains("%h"));
    let account = match known {
        Some(a) => Some((a.uid, a.home.clone().into_os_string())),
        None if wanted => uzers::get_user_by_name(user.as_os_str())
            .map(|pw| (pw.uid(), pw.home_dir().as_os_str().to_os_string())),
        None => None,
    };
    let mut v = chain::Values {
        user: user.as_os_str().to_os_string(),
        uid: account.as_ref().map(|a| a.0.to_string().into()),
        home: account.map(|a| a.1),
        connection: req.connection.map(|c| c.0.to_os_string()),
        rdomain: req.connection.map(|c| c.1.to_os_string()),
        ..chain::Values::default()
    };
    match offered {
        Some(Offered::Key(k)) => {
            v.key = req.offered.map(OsStr::to_os_string);
            v.key_type = Some(k.type_name.clone().into());
            v.fingerprint = Some(k.fingerprint.to_string().into());
        }
        Some(Offered::Fingerprint(fp)) => v.fingerprint = Some(fp.to_string().into()),
        None => {}
    }
    v
}

/// Runs each `[[chain]]` command and serves the lines of those that
/// succeed, judged as store lines are. A failure is logged and costs only
/// that command's keys.
fn run_chains(
    config: &Config,
    user: &UserName,
    values: &chain::Values,
    offered: Option<&Offered>,
    served: &mut Served,
    log: &mut Log,
) {
    let sshd = config.sshd();
    let u = user.display();
    for c in &config.chain {
        let source = Path::new(&c.command);
        let shown = log::escape(c.command.as_bytes());
        let ran = match chain::argv(c, values, &sshd) {
            Ok(argv) => chain::run(&argv, c, &sshd, config.group_exception(), None),
            Err(f) => chain::Ran::not_run(f),
        };
        for line in &ran.stderr {
            log.notice(&format!(
                "user {u}: chained command {shown} said: {}",
                log::escape(line)
            ));
        }
        if ran.stderr_dropped > 0 {
            log.notice(&format!(
                "user {u}: chained command {shown} said {} more line(s) on stderr, not logged",
                ran.stderr_dropped
            ));
        }
        if let Err(why) = &ran.result {
            log.err(&format!(
                "user {u}: chained command {shown} {why}: none of its keys are served (keyward's own are)"
            ));
            continue;
        }
        let before = served.lines;
        let mut skipped = 0;
        for (i, raw) in ran.stdout.split(|&b| b == b'\n').enumerate() {
            consider(raw, source, i + 1, offered, served, &mut skipped, log);
        }
        served.chained += served.lines - before;
    }
}

/// What a lookup did, as the home warning reports it.
enum Did {
    Failed,
    Served {
        served: Served,
        with_fingerprint: bool,
    },
}

impl Did {
    /// The end of a home warning: what keyward did about it in this lookup,
    /// and what to do when that was nothing.
    fn outcome(&self, user: &OsStr) -> String {
        let u = log::escape(user.as_bytes());
        match self {
            Did::Failed => {
                format!(
                    "keyward's own lookup failed too (see the error above): no key works for {u}"
                )
            }
            Did::Served { served, .. } if served.files == 0 => format!(
                "keyward's store has no keys for {u} either: `keyward import {u}` (or `keyward add {u} \
                 KEYFILE`) puts them there"
            ),
            Did::Served {
                served,
                with_fingerprint: true,
            } if served.granted_by.is_empty() && served.ca_lines > 0 => format!(
                "keyward served {} cert-authority line(s) from its store for a certificate login",
                served.ca_lines
            ),
            Did::Served {
                served,
                with_fingerprint: true,
            } if served.granted_by.is_empty() => {
                "the offered key is not in keyward's store either".to_string()
            }
            Did::Served {
                with_fingerprint: true,
                ..
            } => "keyward served the offered key from its store instead".to_string(),
            Did::Served { served, .. } if served.lines == 0 => {
                format!("keyward's store has no valid key line for {u} either")
            }
            Did::Served { served, .. } => format!(
                "keyward served {}'s {} key line(s) from its store instead",
                u, served.lines
            ),
        }
    }
}

/// Set by `keyward check` when it runs the command as sshd would: its
/// messages then go to stderr, which check reads, not to syslog. sshd
/// gives the command a fixed environment, so no client can set this.
pub const CHECK_ENV: &str = "KEYWARD_CHECK";

fn open_log(config: &Config) -> Log {
    if std::env::var_os(CHECK_ENV).is_some() {
        return Log::stderr();
    }
    let facility = config.facility().unwrap_or(syslog::Facility::LOG_AUTHPRIV);
    Log::open(&config.syslog.socket, facility)
}

/// Reads the user's store files and selects the lines sshd should see.
pub fn lookup(
    config: &Config,
    user: &UserName,
    offered: Option<&Offered>,
    log: &mut Log,
) -> Result<Served, UnsafePath> {
    let Some(UserFiles { root, entry }) = store::open_user(&config.store, user)? else {
        return Ok(Served::default());
    };
    let mut served = Served {
        files: entry.len(),
        ..Served::default()
    };
    let mut skipped = 0usize;
    // A single small file is read faster than an index; a fragment
    // directory may have one whatever its size is.
    let worth_an_index = entry.known_size().is_none_or(|n| n >= index::MIN_BYTES);
    // With the key itself there is nothing to hash, so no index to use.
    let indexed = match offered {
        Some(Offered::Fingerprint(Fingerprint::Sha256(fp))) if worth_an_index => {
            index_hits(&root, &entry, user, fp, log)?
        }
        _ => None,
    };
    if let Some(hits) = indexed {
        served.via_index = true;
        for (path, hit, raw) in &hits {
            consider(
                raw,
                path,
                hit.line as usize,
                offered,
                &mut served,
                &mut skipped,
                log,
            );
        }
    } else if let Some(Offered::Key(k)) = offered {
        let mut budget = store::MAX_USER_BYTES;
        // One buffer for every fragment: thousands of small files must not
        // cost an allocation of the buffer each.
        let size = entry.known_size().map_or(STREAM_CHUNK, |n| n as usize + 1);
        let mut buf = Vec::with_capacity(size.min(2 * STREAM_CHUNK));
        let finder = Finder::new(k);
        for i in 0..entry.len() {
            let file = entry.open(i)?;
            stream_candidates(&file, &mut budget, &mut buf, &finder, |raw, number| {
                consider(
                    raw,
                    &file.path,
                    number,
                    offered,
                    &mut served,
                    &mut skipped,
                    log,
                )
            })?;
        }
    } else {
        entry.for_each(|source| {
            for (i, raw) in source.data.split(|&b| b == b'\n').enumerate() {
                consider(
                    raw,
                    &source.path,
                    i + 1,
                    offered,
                    &mut served,
                    &mut skipped,
                    log,
                );
            }
        })?;
    }
    if skipped > MAX_LINE_WARNINGS {
        log.warning(&format!(
            "user {}: {} more invalid line(s) skipped in the store",
            user.display(),
            skipped - MAX_LINE_WARNINGS
        ));
    }
    Ok(served)
}

/// The search for the lines that can carry an offered key: one memchr
/// memmem search per alignment. Three SIMD passes over a 10 MB store took
/// 7.8 ms where one aho-corasick pass over the three patterns took 10.7 ms
/// (`cat`: 5.0 ms).
pub struct Finder(Vec<memchr::memmem::Finder<'static>>);

impl Finder {
    pub fn new(key: &OfferedKey) -> Finder {
        Finder(
            key.needles()
                .iter()
                .map(|n| memchr::memmem::Finder::new(n).into_owned())
                .collect(),
        )
    }
}

/// With the key itself, the only lines that can carry it contain a run of
/// its material in base64 (at one of three alignments), or a \v, \f or a
/// CR inside the line (which base64 decoding skips in a key field): a SIMD
/// search for those finds them without looking at the other lines at all.
/// Each candidate, with its line number, still goes through `consider`
/// (the byte comparison, then the full parse).
fn candidates(data: &[u8], finder: &Finder, mut each: impl FnMut(&[u8], usize)) {
    let inner_cr =
        |&at: &usize| data[at] != b'\r' || !matches!(data.get(at + 1), Some(b'\n' | b'\r') | None);
    let mut starts: Vec<usize> = finder
        .0
        .iter()
        .flat_map(|f| f.find_iter(data))
        .chain(memchr::memchr3_iter(0x0b, 0x0c, b'\r', data).filter(inner_cr))
        .map(|at| memchr::memrchr(b'\n', &data[..at]).map_or(0, |i| i + 1))
        .collect();
    starts.sort_unstable();
    starts.dedup();
    let (mut counted, mut number) = (0, 1);
    for start in starts {
        number += memchr::memchr_iter(b'\n', &data[counted..start]).count();
        counted = start;
        let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |i| start + i);
        each(&data[start..end], number);
    }
}

/// How much of a store file `stream_candidates` reads at a time.
const STREAM_CHUNK: usize = 256 * 1024;

/// `candidates` over a store file read in pieces: a lookup touches a
/// buffer of `STREAM_CHUNK` bytes however big the file is (a buffer of the whole
/// file cost more in page faults than the search itself). Each piece is
/// searched up to its last newline; the rest is carried into the next.
fn stream_candidates(
    file: &Trusted,
    budget: &mut u64,
    buf: &mut Vec<u8>,
    finder: &Finder,
    mut each: impl FnMut(&[u8], usize),
) -> Result<(), UnsafePath> {
    use std::io::Read;
    let io = |e: std::io::Error| UnsafePath::Io {
        path: file.path.clone(),
        err: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)),
    };
    let mut reader = std::fs::File::from(file.try_clone()?.fd);
    buf.clear();
    let (mut line_base, mut total) = (0usize, 0u64);
    loop {
        // Into the buffer's spare room, which is never zeroed first.
        let n = (&mut reader)
            .take(STREAM_CHUNK as u64)
            .read_to_end(buf)
            .map_err(io)?;
        total += n as u64;
        if total > *budget {
            return Err(UnsafePath::TooLarge {
                path: file.path.clone(),
                size: total,
                limit: *budget,
            });
        }
        // At the end the rest is the last line; otherwise up to the last
        // newline (a line longer than the buffer just waits for more).
        let upto = match (n, memchr::memrchr(b'\n', buf)) {
            (0, _) => buf.len(),
            (_, Some(i)) => i + 1,
            (_, None) => continue,
        };
        candidates(&buf[..upto], finder, |raw, number| {
            each(raw, line_base + number)
        });
        line_base += memchr::memchr_iter(b'\n', &buf[..upto]).count();
        if n == 0 {
            break;
        }
        buf.drain(..upto);
    }
    *budget -= total;
    Ok(())
}

/// A line the index pointed at, read from its store file.
type IndexedLine = (PathBuf, index::Hit, Vec<u8>);

/// The candidate lines the user's index names for `fp`, read from the store
/// files; `None` (read everything) when there is no usable index.
fn index_hits(
    root: &Trusted,
    entry: &Entry,
    user: &UserName,
    fp: &[u8; 32],
    log: &mut Log,
) -> Result<Option<Vec<IndexedLine>>, UnsafePath> {
    let Some(dir) = store::open_at_if_present(root, OsStr::new(index::DIR))? else {
        return Ok(None);
    };
    dir.expect_dir()?;
    let Some(file) = store::open_at_if_present(&dir, user.as_os_str())? else {
        return Ok(None);
    };
    file.expect_file()?;
    let bytes = trusted::read_all(&file, index::MAX_BYTES)?;
    let stale = || {
        format!(
            "user {}: the index {} does not match the store files; reading them in full. \
             Run `keyward index {}` after editing the store by hand",
            user.display(),
            log::path(&file.path),
            user.display()
        )
    };
    let ids = entry.identities()?;
    let Some(hits) = index::lookup(&bytes, &ids, fp) else {
        log.notice(&stale());
        return Ok(None);
    };
    // Hits come in file order: one store file open at a time, and each the
    // very file the index describes.
    let mut lines = Vec::with_capacity(hits.len());
    let mut open: Option<(u32, Trusted)> = None;
    for hit in hits {
        if open.as_ref().is_none_or(|(i, _)| *i != hit.file) {
            let t = entry.open(hit.file as usize)?;
            if t.id != ids[hit.file as usize].1 {
                log.notice(&stale());
                return Ok(None);
            }
            open = Some((hit.file, t));
        }
        let Some((_, t)) = &open else { continue };
        let Some(raw) = index::read_line(t, &hit) else {
            log.notice(&stale());
            return Ok(None);
        };
        lines.push((t.path.clone(), hit, raw));
    }
    Ok(Some(lines))
}

/// One raw store line: served if sshd accepts it and it is selected.
fn consider(
    raw: &[u8],
    path: &Path,
    number: usize,
    offered: Option<&Offered>,
    served: &mut Served,
    skipped: &mut usize,
    log: &mut Log,
) {
    let line = match judge(raw, offered) {
        Verdict::Ignored => return,
        Verdict::Invalid(e) => {
            *skipped += 1;
            if *skipped <= MAX_LINE_WARNINGS {
                log.warning(&format!("{}:{number}: line skipped: {e}", log::path(path)));
            }
            return;
        }
        Verdict::Served(line) => line,
    };
    if line.options.cert_authority {
        served.ca_lines += 1;
    } else if offered.is_some() {
        served
            .granted_by
            .push(format!("{}:{number}", log::path(path)));
    }
    served.lines += 1;
    served.output.extend_from_slice(line.text);
    served.output.push(b'\n');
}

/// What a lookup does with one raw store line.
#[derive(Debug)]
pub enum Verdict<'a> {
    /// A blank or comment line, or a line for another key.
    Ignored,
    /// A line sshd would skip, with sshd's reason.
    Invalid(authorized_keys::LineError),
    /// Printed for sshd: `line.text`, then a newline.
    Served(KeyLine<'a>),
}

/// The one decision `keys` makes per line, also the fuzzers' subject.
pub fn judge<'a>(raw: &'a [u8], offered: Option<&Offered>) -> Verdict<'a> {
    // With a key or fingerprint, most lines are for other keys: comparing
    // or hashing the key field is enough to set them aside unparsed.
    if offered.is_some_and(|o| !o.may_match(raw)) {
        return Verdict::Ignored;
    }
    match authorized_keys::parse_line(raw) {
        Ok(None) => Verdict::Ignored,
        Err(e) => Verdict::Invalid(e),
        Ok(Some(line)) if offered.is_none_or(|o| o.selects(&line)) => Verdict::Served(line),
        Ok(Some(_)) => Verdict::Ignored,
    }
}

fn summary(user: &UserName, offered: Option<&Offered>, s: &Served) -> String {
    let u = user.display();
    if s.files == 0 && s.chained == 0 {
        return format!("user {u}: no keys in the store");
    }
    match offered.map(|o| (o.fingerprint(), o)) {
        None => format!(
            "user {u}: served {} key line(s) from {} store file(s)",
            s.lines, s.files
        ),
        Some((fp, Offered::Key(k))) if k.certificate => format!(
            "user {u}: certificate for key {fp}: served {} cert-authority line(s) of its CA",
            s.ca_lines
        ),
        Some((fp, _)) if s.granted_by.is_empty() => format!(
            "user {u}: no key in the store has fingerprint {fp}; served {} cert-authority line(s)",
            s.ca_lines
        ),
        Some((fp, _)) => format!(
            "user {u}: key {fp} found at {}{}; served {} line(s) ({} cert-authority)",
            s.granted_by.join(", "),
            if s.via_index { " (via the index)" } else { "" },
            s.lines,
            s.ca_lines
        ),
    }
}

/// The account from sshd's `%h` and `%U`: an absolute home, a decimal uid.
fn account_from_sshd(user: &UserName, home: &OsStr, uid: &OsStr) -> Result<Account, String> {
    let home = Path::new(home);
    if !home.is_absolute() {
        return Err(format!(
            "home argument {} is not an absolute path",
            log::path(home)
        ));
    }
    let uid = uid
        .to_str()
        .and_then(|u| u.parse::<u32>().ok())
        .ok_or_else(|| format!("uid argument {:?} is not a number", uid.to_string_lossy()))?;
    Ok(Account {
        name: user.as_os_str().to_os_string(),
        uid,
        home: home.to_path_buf(),
    })
}

fn home_check(config: &Config, user: &UserName, known: Option<Account>, did: &Did, log: &mut Log) {
    let account = match known {
        Some(a) => a,
        None => {
            let Some(pw) = uzers::get_user_by_name(user.as_os_str()) else {
                log.info(&format!(
                    "user {}: not in the user database; home check skipped",
                    user.display()
                ));
                return;
            };
            Account {
                name: pw.name().to_os_string(),
                uid: pw.uid(),
                home: pw.home_dir().to_path_buf(),
            }
        }
    };
    let hc = &config.home_check;
    let findings = strict_modes::check(&account, &hc.files, config.group_exception());
    // Once per user and interval, across lookups and logins.
    if findings.is_empty() {
        return;
    }
    let warned::Due::Warn(stamp) = warned::due(&hc.state, user, hc.warn_interval) else {
        return;
    };
    let mut delivered = false;
    let accepted = config.accepted(&account.name, &account.home);
    for finding in findings {
        let mut severity = finding.severity();
        let mut message = finding.message(&account.name, hc.platform);
        if severity != log::Severity::Info {
            message = format!("{message}; {}", did.outcome(&account.name));
            if accepted {
                severity = log::Severity::Info;
                message.push_str(" (accepted in keyward.toml)");
            }
        }
        delivered |= log.send(severity, &message);
    }
    if delivered {
        stamp.delivered();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH0N4saguHZjm5JJuuLTp/fxY41ZKz8LH/Mtp58jMGCe";
    const OTHER: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPjxbcCt16ae+JIX96e3/y7b+Z1IVkdp4aRj8KNT/aMG";
    const FP: &str = "SHA256:XRWtJIs5DWA/7+yjkGtxNm+ex7pm/L1fWlsM6gi8aAs";

    fn served(raw: &str, offered: Option<&Offered>) -> bool {
        matches!(judge(raw.as_bytes(), offered), Verdict::Served(_))
    }

    #[test]
    fn fingerprint_selects_its_key_and_every_ca_line() {
        let fp = Offered::parse(FP.as_bytes()).unwrap();
        assert!(served(KEY, Some(&fp)));
        assert!(!served(OTHER, Some(&fp)));
        let ca = format!("cert-authority {OTHER}");
        assert!(served(&ca, Some(&fp)));
        assert!(served(OTHER, None));
    }

    fn finder(b64: &str) -> Finder {
        match Offered::parse(b64.as_bytes()).unwrap() {
            Offered::Key(k) => Finder::new(&k),
            Offered::Fingerprint(_) => unreachable!(),
        }
    }

    #[test]
    fn candidates_are_the_lines_that_can_carry_the_key_with_their_numbers() {
        let (_, b64) = KEY.split_once(' ').unwrap();
        // Line 7: the same key with "ED25519" as the type inside the blob,
        // which sshd (before 9.9) reads as the same key.
        let blob = STANDARD.decode(b64).unwrap();
        let short = [&[0, 0, 0, 7][..], b"ED25519", &blob[15..]].concat();
        let data = format!(
            "# c\n{OTHER}\nno-pty {KEY} a\n\n{OTHER} \x0b\n{KEY}\r\nssh-ed25519 {}\n{OTHER}\r\n",
            STANDARD.encode(&short)
        );
        let mut seen = Vec::new();
        candidates(data.as_bytes(), &finder(b64), |raw, n| {
            seen.push((n, String::from_utf8_lossy(raw).into_owned()))
        });
        assert_eq!(
            seen,
            [
                (3, format!("no-pty {KEY} a")),
                (5, format!("{OTHER} \x0b")),
                (6, format!("{KEY}\r")),
                (7, format!("ssh-ed25519 {}", STANDARD.encode(&short))),
            ]
        );
        let key = Offered::parse(b64.as_bytes()).unwrap();
        assert!(served(
            &format!("ssh-ed25519 {}", STANDARD.encode(&short)),
            Some(&key)
        ));
    }

    #[test]
    fn streaming_finds_what_the_whole_file_search_finds() {
        let (_, b64) = KEY.split_once(' ').unwrap();
        let mut data = String::new();
        for i in 0..12_000 {
            data.push_str(&match i {
                3_000 | 11_999 => format!("no-pty {KEY} c{i}\n"),
                7_777 => format!("{OTHER} \x0b\n"),
                _ => format!("{OTHER} filler {i}\n"),
            });
        }
        data.push_str(KEY); // last line, no newline
        assert!(data.len() > 3 * 256 * 1024);
        let mut whole = Vec::new();
        let finder = finder(b64);
        candidates(data.as_bytes(), &finder, |raw, n| {
            whole.push((n, raw.to_vec()))
        });
        let path = std::env::temp_dir().join(format!("keyward-stream-{}", std::process::id()));
        std::fs::write(&path, &data).unwrap();
        let file = Trusted {
            fd: std::fs::File::open(&path).unwrap().into(),
            path: path.clone(),
            kind: trusted::Kind::File,
            size: data.len() as u64,
            id: trusted::FileId::default(),
        };
        std::fs::remove_file(&path).unwrap();
        let mut streamed = Vec::new();
        let mut budget = store::MAX_USER_BYTES;
        let mut buf = Vec::new();
        stream_candidates(&file, &mut budget, &mut buf, &finder, |raw, n| {
            streamed.push((n, raw.to_vec()))
        })
        .unwrap();
        assert_eq!(streamed, whole);
        let numbers: Vec<usize> = whole.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [3_001, 7_778, 12_000, 12_001]);
        assert_eq!(budget, store::MAX_USER_BYTES - data.len() as u64);
    }

    #[test]
    fn the_key_itself_selects_its_lines_and_no_ca_line() {
        let (_, b64) = KEY.split_once(' ').unwrap();
        let key = Offered::parse(b64.as_bytes()).unwrap();
        assert_eq!(key.fingerprint().to_string(), FP);
        assert!(served(&format!("no-pty {KEY} c"), Some(&key)));
        assert!(!served(OTHER, Some(&key)));
        assert!(!served(&format!("cert-authority {KEY}"), Some(&key)));
        // Blanks inside the key field that decoding skips: still the key.
        let split = format!("ssh-ed25519 {}\x0b{}", &b64[..20], &b64[20..]);
        assert!(served(&split, Some(&key)));
        // Not a key at all, or a fingerprint of the wrong form.
        assert!(Offered::parse(b"AAAA").is_err());
        assert!(Offered::parse(b"SHA256:short").is_err());
    }
    #[test]
    fn a_certificate_selects_its_cas_lines_in_any_encoding_sshd_reads() {
        use crate::openssh::public_key::tests::{blob, certificate};
        let ca_pk = [0x3cu8; 32];
        let ca = blob(&[b"ssh-ed25519", &ca_pk]);
        let cert = certificate(&ca, b"caf\xe9", u64::MAX, b"");
        let offered = Offered::parse(STANDARD.encode(&cert).as_bytes()).unwrap();
        let ca_b64 = STANDARD.encode(&ca);
        let (head, tail) = ca_b64.split_at(20);
        for line in [
            format!("cert-authority ssh-ed25519 {ca_b64}"),
            format!("cert-authority,principals=\"a\" ssh-ed25519 {ca_b64} c"),
            // The same CA key as sshd (before 9.9) also reads it.
            format!(
                "cert-authority ssh-ed25519 {}",
                STANDARD.encode(blob(&[b"ED25519", &ca_pk]))
            ),
            format!(
                "cert-authority ssh-ed25519 {}",
                STANDARD.encode(blob(&[b"ssh-ed25519\0", &ca_pk]))
            ),
            format!("cert-authority ssh-ed25519 {head}\x0b{tail}"),
        ] {
            assert!(served(&line, Some(&offered)), "{line:?}");
            let mut seen = 0;
            candidates(
                line.as_bytes(),
                &Finder::new(offered_key(&offered)),
                |_, _| seen += 1,
            );
            assert_eq!(seen, 1, "{line:?}");
        }
        // The CA's key as a plain key, or another key as a CA: not for it.
        assert!(!served(&format!("ssh-ed25519 {ca_b64}"), Some(&offered)));
        assert!(!served(&format!("cert-authority {OTHER}"), Some(&offered)));
    }

    fn offered_key(o: &Offered) -> &OfferedKey {
        match o {
            Offered::Key(k) => k,
            Offered::Fingerprint(_) => unreachable!(),
        }
    }

    #[test]
    fn options_that_mention_cert_authority_do_not_make_a_ca_line() {
        let (_, b64) = KEY.split_once(' ').unwrap();
        let key = Offered::parse(b64.as_bytes()).unwrap();
        let (head, tail) = b64.split_at(33);
        // The fuzz finding: from= whose text says cert-authority, and a
        // form feed inside the base64.
        for line in [
            format!("from=\"cert-authority\" ssh-ed25519 {head}\x0c{tail}"),
            format!("environment=\"NOTE=cert-authority\" ssh-ed25519 {head}\x0b{tail}"),
        ] {
            assert!(served(&line, Some(&key)), "{line:?}");
        }
    }

    #[test]
    fn a_degenerate_key_never_makes_every_line_a_candidate() {
        use crate::openssh::public_key::tests::blob;
        // Lines a search for an empty or tiny pattern would all return.
        let filler: String = (0..5_000).map(|i| format!("{OTHER} f{i}\n")).collect();
        let p = [0x5bu8; 128];
        for dsa in [
            // y = 0 and y = 1: the old search ran on y alone.
            blob(&[b"ssh-dss", &p, &[0x11; 20], &[2; 128], &[]]),
            blob(&[b"ssh-dss", &p, &[0x11; 20], &[2; 128], &[1]]),
            // Every number tiny: only the canonical encoding is searched.
            blob(&[b"ssh-dss", &[3], &[5], &[2], &[1]]),
        ] {
            let b64 = STANDARD.encode(&dsa);
            let offered = Offered::parse(b64.as_bytes()).unwrap();
            let finder = Finder::new(offered_key(&offered));
            let data = format!("{filler}ssh-dss {b64} mine\n{filler}");
            let mut seen = Vec::new();
            candidates(data.as_bytes(), &finder, |raw, n| {
                seen.push((n, raw.to_vec()))
            });
            assert_eq!(seen, [(5_001, format!("ssh-dss {b64} mine").into_bytes())]);
        }
    }
}
