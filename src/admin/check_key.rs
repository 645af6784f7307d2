//! `keyward check USER --key FILE`: whether sshd lets that key in, and if
//! not, the first reason in sshd's order, with the directive or line
//! responsible, what sshd logs and the fix. The judgement is
//! `openssh::pubkey_auth`; this file gathers what it asks for: `sshd -T`
//! for this user and address, the account, files read as the user, the
//! AuthorizedKeysCommand run as sshd runs it, RevokedKeys via ssh-keygen.
//!
//! Nothing is changed and nobody logs in.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use uzers::os::unix::UserExt;

use super::{Failure, Out, Outcome};
use crate::config::Config;
use crate::exit::Exit;
use crate::openssh::fingerprint::Fingerprint;
use crate::openssh::pubkey_auth::{
    self, Account, CommandOutput, Judgement, KeyFile, LogLevel, Login, Offered, Revocation,
    ShellState, World,
};
use crate::openssh::public_key::{self, Read};
use crate::openssh::sshd::{self, Settings};
use crate::openssh::{Sshd, Version, sshd_config, strict_modes};

pub struct Request<'a> {
    pub user: &'a OsStr,
    pub key: &'a Path,
    pub from: Option<&'a str>,
    pub sshd: &'a Path,
    pub sshd_config: Option<&'a Path>,
}

#[derive(Serialize)]
struct Report<'a> {
    user: String,
    key: KeyInfo,
    from: String,
    sshd: String,
    /// keyward's record names another release than the sshd asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
    steps: Vec<StepOut<'a>>,
    verdict: Verdict<'a>,
}

#[derive(Serialize)]
struct KeyInfo {
    #[serde(rename = "type")]
    kind: String,
    fingerprint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate: Option<String>,
}

#[derive(Serialize)]
struct StepOut<'a> {
    step: pubkey_auth::Step,
    number: u8,
    text: &'a str,
}

#[derive(Serialize)]
struct Verdict<'a> {
    accepted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    found_at: Option<&'a str>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    refusal: Option<&'a pubkey_auth::Refusal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    number: Option<u8>,
}

pub fn run(config: &Config, req: &Request, out: &mut Out) -> Outcome {
    if !nix::unistd::geteuid().is_root() {
        return Err(Failure::new(
            Exit::NoPerm,
            "check --key runs as root: sshd -T needs the host keys, and the user's files are read as the user",
        ));
    }
    let user = super::user_name(req.user)?;
    let name = user.as_os_str();
    // Control bytes are refused in a name; the rest is matched (DenyUsers,
    // principals) and shown as sshd sees it.
    let shown = String::from_utf8_lossy(name.as_bytes()).into_owned();
    let from: IpAddr = req.from.unwrap_or("127.0.0.1").parse().map_err(|_| {
        Failure::new(
            Exit::Usage,
            format!("--from {}: not an IP address", req.from.unwrap_or("")),
        )
    })?;
    // The sshd that will answer decides; a stale record only misleads the
    // lookup, which the warning says.
    let release = sshd::identify(req.sshd).unwrap_or_else(|_| config.sshd());
    let warning = (config.sshd_recorded() && config.sshd() != release).then(|| {
        format!(
            "keyward's record says {}, but {} is {}: keyward serves lines as the record says; run keyward setup",
            config.sshd().describe(),
            req.sshd.display(),
            release.describe()
        )
    });
    crate::openssh::set_installed(release);
    let offered = read_offered(req.key, &release)?;
    let settings = sshd::effective_from(req.sshd, req.sshd_config, name, &from.to_string())
        .map_err(|e| {
            Failure::new(
                Exit::Config,
                format!("cannot ask sshd for its settings: {e}"),
            )
        })?;
    let pw = uzers::get_user_by_name(name);
    let account = pw.as_ref().map(account_of);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let login = Login {
        sshd: release,
        settings: &settings,
        user: &shown,
        account: account.as_ref(),
        from,
        key: &offered,
        now,
    };
    let world = Machine {
        config,
        sshd_config: req
            .sshd_config
            .map_or_else(|| PathBuf::from("/etc/ssh/sshd_config"), Path::to_path_buf),
        settings: &settings,
        sshd: release,
        pw: pw.as_ref(),
        offered: &offered,
        from,
    };
    let j = pubkey_auth::judge(&login, &world);
    let key = key_info(&offered);
    let report = Report {
        user: shown.clone(),
        from: from.to_string(),
        sshd: release.describe(),
        warning,
        steps: j
            .steps
            .iter()
            .map(|p| StepOut {
                step: p.step,
                number: p.step.number(),
                text: &p.text,
            })
            .collect(),
        verdict: Verdict {
            accepted: j.refusal.is_none(),
            found_at: j.accepted_at.as_deref(),
            refusal: j.refusal.as_ref(),
            number: j.refusal.as_ref().map(|r| r.step.number()),
        },
        key,
    };
    out.emit(&report, |w| print_text(w, &report, &j))?;
    Ok(if j.refusal.is_none() {
        Exit::Ok
    } else {
        Exit::Attention
    })
}

fn print_text(w: &mut dyn Write, r: &Report, j: &Judgement) -> std::io::Result<()> {
    let cert = r
        .key
        .certificate
        .as_ref()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    writeln!(
        w,
        "{} {}{cert} for {} from {}, as {} judges it:",
        r.key.kind, r.key.fingerprint, r.user, r.from, r.sshd
    )?;
    if let Some(warning) = &r.warning {
        writeln!(w, "warning: {warning}")?;
    }
    for p in &j.steps {
        writeln!(
            w,
            "  {}. {:<9} {}",
            p.step.number(),
            format!("{}:", p.step.name()),
            p.text
        )?;
    }
    match &j.refusal {
        None => writeln!(
            w,
            "ACCEPTED: sshd lets this key in{}",
            j.accepted_at
                .as_ref()
                .map(|a| format!(" (found at {a})"))
                .unwrap_or_default()
        ),
        Some(f) => {
            writeln!(
                w,
                "REFUSED at step {} ({}): {}",
                f.step.number(),
                f.step.name(),
                f.what
            )?;
            writeln!(w, "  reason:    {}", f.reason)?;
            writeln!(w, "  set by:    {}", f.cause)?;
            let level = match f.log_level {
                LogLevel::None => "logs nothing at any LogLevel".to_string(),
                l => format!(
                    "logs at {}",
                    serde_json::to_value(l)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                ),
            };
            if f.log_level == LogLevel::None {
                writeln!(w, "  sshd:      {level}")?;
            } else {
                writeln!(w, "  sshd {level}: {}", f.log)?;
            }
            writeln!(w, "  fix:       {}", f.fix)
        }
    }
}

/// The public key or certificate in `path`, as the client would offer it.
fn read_offered(path: &Path, release: &Sshd) -> Result<Offered, Failure> {
    let data = super::read_input(path)?;
    let shown = crate::log::path(path);
    let bad = |why: String| Failure::new(Exit::DataErr, format!("{shown}: {why}"));
    let line = data
        .split(|&b| b == b'\n')
        .map(|l| l.trim_ascii())
        .find(|l| !l.is_empty() && !l.starts_with(b"#"))
        .ok_or_else(|| bad("no public key in it".into()))?;
    let mut fields = line
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|f| !f.is_empty());
    let (_, b64) = (fields.next(), fields.next());
    let blob = b64.and_then(|b| STANDARD.decode(b).ok()).ok_or_else(|| {
        bad("not a public key line (TYPE BASE64 [COMMENT]): give the .pub file".into())
    })?;
    // A key this release no longer reads is still a key to judge (sshd
    // then refuses its algorithm): read it as the newest release that does.
    let readers = [
        *release,
        crate::openssh::DEFAULT,
        Sshd {
            version: Version::new(10, 5, 1),
            debian: false,
        },
    ];
    let mut last = None;
    for sshd in readers {
        match public_key::read(&blob, &sshd) {
            Ok(Read::Key(key)) => {
                return Ok(Offered {
                    key,
                    cert: None,
                    blob,
                });
            }
            Ok(Read::Certificate) => match public_key::read_certificate(&blob, &sshd) {
                Ok(cert) => {
                    return Ok(Offered {
                        key: cert.key.clone(),
                        cert: Some(cert),
                        blob,
                    });
                }
                Err(e) => last = Some(e),
            },
            Err(e) => last = Some(e),
        }
    }
    Err(bad(format!(
        "the key does not read: {}",
        last.map_or_else(String::new, |e| e.to_string())
    )))
}

fn key_info(o: &Offered) -> KeyInfo {
    let fp = Fingerprint::of_sha256(if o.cert.is_some() {
        &o.blob
    } else {
        &o.key.blob
    });
    KeyInfo {
        kind: match &o.cert {
            None => o.key.kind.name().to_string(),
            Some(c) => c.type_name(),
        },
        fingerprint: fp.to_string(),
        certificate: o.cert.as_ref().map(|c| {
            format!(
                "ID \"{}\", serial {}, CA {} {}",
                crate::log::escape(&c.key_id),
                c.serial,
                c.ca.kind.name(),
                Fingerprint::of_sha256(&c.ca.blob)
            )
        }),
    }
}

fn account_of(pw: &uzers::User) -> Account {
    let shell = pw.shell().to_path_buf();
    let path = if shell.as_os_str().is_empty() {
        PathBuf::from("/bin/sh")
    } else {
        shell.clone()
    };
    // sshd's stat(2) of the shell, as root.
    let shell_state = match std::fs::metadata(&path) {
        Err(_) => ShellState::Missing,
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => ShellState::Executable,
        Ok(_) => ShellState::NotExecutable,
    };
    let groups = uzers::get_user_groups(pw.name(), pw.primary_group_id())
        .unwrap_or_default()
        .iter()
        .map(|g| g.name().to_string_lossy().into_owned())
        .collect();
    let (locked, expired) = shadow(pw.name().as_bytes());
    Account {
        uid: pw.uid(),
        home: pw.home_dir().to_path_buf(),
        shell,
        shell_state,
        groups,
        locked,
        expired,
    }
}

/// The shadow entry's verdicts: a password field starting with `!`
/// (`LOCKED_PASSWD_PREFIX` on Linux), and an expiry day before today
/// (`auth_shadow_acctexpired`: `today > sp_expire`).
fn shadow(name: &[u8]) -> (bool, bool) {
    let Ok(text) = std::fs::read("/etc/shadow") else {
        return (false, false);
    };
    for line in text.split(|&b| b == b'\n') {
        let f: Vec<&[u8]> = line.split(|&b| b == b':').collect();
        if f.len() < 8 || f[0] != name {
            continue;
        }
        let locked = f[1].starts_with(b"!");
        let today = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 86400) as i64;
        let expired = std::str::from_utf8(f[7])
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .is_some_and(|e| e != -1 && today > e);
        return (locked, expired);
    }
    (false, false)
}

/// The machine, as sshd would find it for this login.
struct Machine<'a> {
    config: &'a Config,
    /// The client's address, for a command's `%C`.
    from: IpAddr,
    sshd_config: PathBuf,
    settings: &'a Settings,
    sshd: Sshd,
    pw: Option<&'a uzers::User>,
    offered: &'a Offered,
}

impl World for Machine<'_> {
    fn set_at(&self, keyword: &str) -> Option<String> {
        let found = sshd_config::locate(&self.sshd_config, keyword);
        (!found.is_empty()).then(|| found.join("; "))
    }

    fn revoked(&self, file: &Path, blob: &[u8]) -> Revocation {
        revoked(file, blob, self.offered)
    }

    fn key_file(&self, path: &Path) -> KeyFile {
        let Some(pw) = self.pw else {
            return KeyFile::Absent;
        };
        let account = strict_modes::Account {
            name: pw.name().to_os_string(),
            uid: pw.uid(),
            home: pw.home_dir().to_path_buf(),
        };
        // sshd opens the file as the user, following links: that is what
        // decides between absent, unreadable and read.
        // O_NONBLOCK, as sshd's auth_openfile: a FIFO planted there must
        // not hang check.
        let open = || {
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(nix::libc::O_NONBLOCK)
                .open(path)
        };
        match super::import::as_user(pw, open) {
            Err(e) => return KeyFile::CannotOpen(e.message),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => return KeyFile::Absent,
            Ok(Err(e)) => return KeyFile::CannotOpen(strerror(&e)),
            Ok(Ok(_)) => {}
        }
        let exception = self.config.group_exception();
        if self.settings.strict_modes {
            let findings = strict_modes::check(&account, &[path.display().to_string()], exception);
            for f in &findings {
                match f {
                    strict_modes::Finding::NotRegular { .. } => return KeyFile::NotRegular,
                    strict_modes::Finding::Refused { offenders, .. } => {
                        let first = &offenders[0];
                        return KeyFile::Unsafe {
                            log: format!(
                                "Authentication refused: bad ownership or modes for {} {}",
                                if first.is_dir { "directory" } else { "file" },
                                first.path.display()
                            ),
                            fix: f.parts(&account.name).1.unwrap_or_default(),
                        };
                    }
                    _ => {}
                }
            }
        } else if !path.is_file() {
            return KeyFile::NotRegular;
        }
        // Read without following links, as import reads: a home others may
        // write is no place to follow one.
        match super::import::as_user(pw, || {
            super::import::read_key_file(&account, path, exception)
        }) {
            Ok(super::import::Own::Read(f)) => KeyFile::Lines(f.data),
            Ok(super::import::Own::Absent) => KeyFile::Absent,
            Ok(super::import::Own::Refused(why) | super::import::Own::Planted(why)) => {
                KeyFile::CannotOpen(format!("check does not read it: {why}"))
            }
            Err(e) => KeyFile::CannotOpen(e.message),
        }
    }

    fn root_file(&self, path: &Path) -> Result<Vec<u8>, String> {
        std::fs::read(path).map_err(|e| e.to_string())
    }

    fn command(&self) -> CommandOutput {
        run_command(self, Helper::Keys)
    }

    fn principals_command(&self) -> CommandOutput {
        run_command(self, Helper::Principals)
    }

    fn pam_account(&self) -> Vec<String> {
        let service = self.settings.get("pamservicename").unwrap_or("sshd");
        pam_account_lines(Path::new("/etc/pam.d").join(service), 0)
    }

    fn nologin(&self) -> bool {
        Path::new("/etc/nologin").exists()
    }
}

/// The `account` lines of a PAM service file, `@include`d files read in
/// place (as libpam does), comments and blanks dropped.
fn pam_account_lines(file: PathBuf, depth: u8) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["@include", name] if depth < 4 => out.extend(pam_account_lines(
                Path::new("/etc/pam.d").join(name),
                depth + 1,
            )),
            ["account", ..] => out.push(words.join(" ")),
            _ => {}
        }
    }
    out
}

/// The C library's text for an error, as sshd logs it (`strerror`).
fn strerror(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    }
}

/// `sshkey_check_revoked`: a KRL through `ssh-keygen -Q`, else a list of
/// keys (one that does not read fails the check, as in sshd).
fn revoked(file: &Path, blob: &[u8], offered: &Offered) -> Revocation {
    let data = match std::fs::read(file) {
        Ok(d) => d,
        Err(e) => return Revocation::Error(strerror(&e)),
    };
    // The key as a line ssh-keygen reads: the CA's when `blob` is the CA.
    let is_ca = offered.cert.as_ref().is_some_and(|c| c.ca.blob == blob);
    if data.starts_with(b"SSHKRL\n\0") {
        let (kind, wire) = match (&offered.cert, is_ca) {
            (Some(c), true) => (c.ca.kind.name().to_string(), c.ca.blob.clone()),
            (Some(c), false) => (c.type_name(), offered.blob.clone()),
            (None, _) => (
                offered.key.kind.name().to_string(),
                offered.key.blob.clone(),
            ),
        };
        let child = Command::new("ssh-keygen")
            .arg("-Q")
            .arg("-f")
            .arg(file)
            .arg("/dev/stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            return Revocation::Error("cannot run ssh-keygen -Q".into());
        };
        if let Some(mut stdin) = child.stdin.take() {
            let _ = writeln!(stdin, "{kind} {}", STANDARD.encode(wire));
        }
        return match child.wait_with_output() {
            Ok(o) if o.status.code() == Some(0) => Revocation::Clean,
            Ok(o) if String::from_utf8_lossy(&o.stdout).contains("REVOKED") => Revocation::Revoked,
            Ok(o) => Revocation::Error(String::from_utf8_lossy(&o.stderr).trim().to_string()),
            Err(e) => Revocation::Error(e.to_string()),
        };
    }
    let plain = if is_ca {
        blob
    } else {
        offered.key.blob.as_slice()
    };
    let ca = offered
        .cert
        .as_ref()
        .filter(|_| !is_ca)
        .map(|c| c.ca.blob.as_slice());
    for line in data.split(|&b| b == b'\n') {
        let t = line.trim_ascii_start();
        if t.is_empty() || t.starts_with(b"#") {
            continue;
        }
        match crate::openssh::authorized_keys::key_blob(t) {
            Some(b) if b == plain || Some(b.as_slice()) == ca => return Revocation::Revoked,
            Some(_) => {}
            None => return Revocation::Error("invalid format".into()),
        }
    }
    Revocation::Clean
}

/// sshd's two helper commands.
#[derive(Clone, Copy)]
enum Helper {
    Keys,
    Principals,
}

impl Helper {
    fn tag(self) -> &'static str {
        match self {
            Helper::Keys => "AuthorizedKeysCommand",
            Helper::Principals => "AuthorizedPrincipalsCommand",
        }
    }

    /// The command line and its user, as sshd -T reports them.
    fn configured(self, s: &Settings) -> (Option<String>, Option<String>) {
        match self {
            Helper::Keys => (s.command.clone(), s.command_user.clone()),
            Helper::Principals => (
                s.get("authorizedprincipalscommand").map(str::to_string),
                s.get("authorizedprincipalscommanduser").map(str::to_string),
            ),
        }
    }

    /// The `%` tokens the release expands for this command.
    fn tokens(self, sshd: &Sshd) -> Vec<char> {
        match self {
            Helper::Keys => sshd::command_tokens(sshd),
            Helper::Principals => {
                let mut t = vec!['%', 'U', 'u', 'h', 't', 'T', 'f', 'F', 'k', 'K', 'i', 's'];
                if sshd.version.at_least(9, 4) {
                    t.extend(['C', 'D']);
                }
                t
            }
        }
    }
}

/// Runs one of sshd's helper commands for this login, as sshd's
/// `subprocess()` would, after sshd's own checks of the line and the
/// program: the keys command with the offered key, the principals command
/// with the offered certificate.
fn run_command(m: &Machine, helper: Helper) -> CommandOutput {
    let tag = helper.tag();
    let failed = |what: String, log: String, level: LogLevel, fix: String| CommandOutput::Failed {
        what,
        log,
        level,
        fix,
    };
    let (Some(line), raw_user) = helper.configured(m.settings) else {
        return CommandOutput::NotRun("none configured".into());
    };
    let Some(pw) = m.pw else {
        return CommandOutput::NotRun("no such user".into());
    };
    let user_name = pw.name().to_os_string();
    let Some(raw_user) = raw_user else {
        return failed(
            format!("{tag}User is not set: sshd skips the command"),
            format!("No user for {tag} specified, skipping"),
            LogLevel::Error,
            format!("set {tag}User (keyward setup registers keyward's command and its user)"),
        );
    };
    let run_user = sshd::expand(&raw_user, &[('u', user_name.as_os_str())]);
    let Some(run_as) = uzers::get_user_by_name(&run_user) else {
        let u = crate::log::escape(run_user.as_bytes());
        return failed(
            format!("{tag}User {u} does not exist: sshd skips the command"),
            format!("{tag}User \"{u}\" not found: No such file or directory"),
            LogLevel::Error,
            format!("create the account, or name an existing one in {tag}User"),
        );
    };
    let argv = match sshd::argv_split_as(&line, &m.sshd) {
        Ok(a) => a,
        Err(e) => {
            return failed(
                format!("the {tag} line {e}"),
                format!("{tag} \"{line}\" contains invalid quotes"),
                LogLevel::Error,
                "fix the quotes on that line".into(),
            );
        }
    };
    let known = helper.tokens(&m.sshd);
    for a in &argv[1..] {
        if let Some(t) = sshd::tokens_outside(a, &known).first() {
            let list: String = known.iter().map(|c| format!(" %{c}")).collect();
            return failed(
                format!(
                    "the {tag} uses {t}, which {} does not expand: the connection is dropped",
                    m.sshd.describe()
                ),
                format!("percent_expand: unknown key {t}"),
                LogLevel::Error,
                format!("use only these tokens:{list}"),
            );
        }
    }
    if !argv[0].starts_with('/') {
        return failed(
            format!("{tag} {} is not an absolute path", argv[0]),
            format!("{tag} path is not absolute"),
            LogLevel::Error,
            "give the program's full path".into(),
        );
    }
    match strict_modes::program_check(Path::new(&argv[0]), m.config.group_exception()) {
        Ok(off) if off.is_empty() => {}
        Ok(off) => {
            let first = &off[0];
            let fix: Vec<String> = off.iter().flat_map(|o| o.fixes("root".as_ref())).collect();
            return failed(
                format!("sshd does not run {}: {}", argv[0], first.describe()),
                format!(
                    "Unsafe {tag} \"{}\": bad ownership or modes for {} {}",
                    argv[0],
                    if first.is_dir { "directory" } else { "file" },
                    first.path.display()
                ),
                LogLevel::Error,
                fix.join(" && "),
            );
        }
        Err(e) => {
            return failed(
                format!("sshd cannot run {}: {e}", argv[0]),
                format!("Could not stat {tag} \"{}\": {e}", argv[0]),
                LogLevel::Error,
                "install the program at that path, root-owned, mode 0755".into(),
            );
        }
    }
    let o = m.offered;
    let (kind, wire) = match &o.cert {
        Some(c) => (c.type_name(), o.blob.clone()),
        None => (o.key.kind.name().to_string(), o.key.blob.clone()),
    };
    let fp = Fingerprint::of_sha256(&wire).to_string();
    let b64 = STANDARD.encode(&wire);
    let uid = pw.uid().to_string();
    // Client address and port, server address and port.
    let connection = format!("{} 0 127.0.0.1 22", m.from);
    let mut values = vec![
        ('u', user_name.as_os_str()),
        ('U', OsStr::new(&uid)),
        ('h', pw.home_dir().as_os_str()),
        ('f', OsStr::new(&fp)),
        ('t', OsStr::new(&kind)),
        ('k', OsStr::new(&b64)),
        ('C', OsStr::new(&connection)),
        ('D', OsStr::new("")),
    ];
    // The principals command also learns the CA and the certificate's ID
    // and serial.
    let (ca_fp, ca_b64, ca_type, key_id, serial) = match &o.cert {
        Some(c) => (
            Fingerprint::of_sha256(&c.ca.blob).to_string(),
            STANDARD.encode(&c.ca.blob),
            c.ca.kind.name().to_string(),
            OsString::from_vec(c.key_id.clone()),
            c.serial.to_string(),
        ),
        None => Default::default(),
    };
    values.extend([
        ('F', OsStr::new(&ca_fp)),
        ('K', OsStr::new(&ca_b64)),
        ('T', OsStr::new(&ca_type)),
        ('i', key_id.as_os_str()),
        ('s', OsStr::new(&serial)),
    ]);
    let (args, output) = super::check::run_like_sshd(&argv, &values, &run_as, &m.sshd);
    let mut whole = vec![OsString::from(&argv[0])];
    whole.extend(args);
    let logged = sshd::argv_assemble(&whole);
    let output = match output {
        Ok(o) => o,
        Err(e) => {
            return failed(
                format!("{} cannot be started: {e}", argv[0]),
                format!("{tag} exec \"{logged}\": {}", strerror(&e)),
                LogLevel::Error,
                format!("make {} executable", argv[0]),
            );
        }
    };
    match output.status.code() {
        Some(0) => CommandOutput::Lines(output.stdout),
        Some(code) => {
            let said = String::from_utf8_lossy(&output.stderr);
            let said = crate::log::escape(said.trim().as_bytes());
            failed(
                format!(
                    "the {tag} exits {code}: sshd uses none of its output{}",
                    if said.is_empty() { String::new() } else { format!("; it says: {said}") }
                ),
                format!("{tag} {logged} failed, status {code}"),
                LogLevel::Info,
                match helper {
                    Helper::Keys => "fix what the command says (for keyward: keyward check USER, without --key, explains the store)".into(),
                    Helper::Principals => "fix what the command says; sshd uses its output only after exit 0".into(),
                },
            )
        }
        None => failed(
            format!("the {tag} was killed by a signal"),
            format!(
                "{tag} {logged} exited on signal {}",
                std::os::unix::process::ExitStatusExt::signal(&output.status).unwrap_or(0)
            ),
            LogLevel::Error,
            "fix the command".into(),
        ),
    }
}
