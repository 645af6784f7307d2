//! sshd's decision on one public key, for one user, from one address, in
//! the order the installed release takes it: the account (`allowed_user`),
//! the method (`PubkeyAuthentication`, `AuthenticationMethods`), the key
//! (`userauth_pubkey`: accepted algorithms, CA signature algorithms,
//! RequiredRSASize; then `RevokedKeys`), the sources (`user_key_allowed`:
//! each AuthorizedKeysFile, TrustedUserCAKeys, AuthorizedKeysCommand, with
//! `auth_check_authkey_line` and `auth_authorise_keyopts` on the line that
//! carries the key), and what follows the match (FIDO flags,
//! PermitRootLogin, PAM or /etc/nologin).
//!
//! Pure: every fact that needs the system (files read as the user, the
//! command's output, the shadow entry, a KRL) comes through `World`, which
//! `keyward check` implements; the effective settings come from `sshd -T`.
//! Log lines and their levels are those of 8.2p1, Debian's 9.2p1 and 10.x,
//! read from their sources (docs/sshd-fidelity.md).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

mod account;
mod after_match;
mod certificate;
mod key;
mod method;
mod patterns;
mod sources;

use patterns::{from_matches, match_list_any, match_pattern_list, match_user};

use crate::openssh::authorized_keys::{self, LineError, Options};
use crate::openssh::fingerprint::Fingerprint;
use crate::openssh::public_key::{Certificate, PublicKey};
use crate::openssh::sshd::Settings;
use crate::openssh::{KeyType, Sshd};

/// The five steps, in sshd's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    Account,
    Method,
    Key,
    Sources,
    AfterMatch,
}

impl Step {
    pub fn number(self) -> u8 {
        self as u8 + 1
    }

    pub fn name(self) -> &'static str {
        match self {
            Step::Account => "account",
            Step::Method => "method",
            Step::Key => "key",
            Step::Sources => "sources",
            Step::AfterMatch => "after the match",
        }
    }
}

/// sshd's log levels, as its LogLevel directive names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogLevel {
    /// `fatal()`: logged at every LogLevel but QUIET, and sshd ends the
    /// connection.
    Fatal,
    Error,
    Info,
    Verbose,
    Debug1,
    Debug2,
    Debug3,
    /// sshd writes nothing; the reason is only in this report.
    None,
}

/// One thing checked along the way: passed, or a note that changes nothing.
#[derive(Clone, Debug, Serialize)]
pub struct Passed {
    pub step: Step,
    pub text: String,
}

/// Why sshd refuses the key.
#[derive(Clone, Debug, Serialize)]
pub struct Refusal {
    pub step: Step,
    /// A stable name for the reason (`deny-users`, `from`, ...).
    pub reason: &'static str,
    pub what: String,
    /// The sshd_config directive (with `file:line` where found) or the key
    /// file and line responsible.
    pub cause: String,
    /// The line sshd logs, `USER`, addresses and the port filled in where
    /// known (`PORT` is the client's); two lines are joined by `; then: `,
    /// and text in parentheses is no line at all.
    pub log: String,
    pub log_level: LogLevel,
    pub fix: String,
}

impl Refusal {
    /// A refusal in step 4, caused by what is at `at`: a file, a line
    /// (`FILE:N`), or the command.
    fn source(
        at: &str,
        reason: &'static str,
        what: String,
        log: String,
        log_level: LogLevel,
        fix: String,
    ) -> Refusal {
        Refusal {
            step: Step::Sources,
            reason,
            what,
            cause: at.to_string(),
            log,
            log_level,
            fix,
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Judgement {
    pub steps: Vec<Passed>,
    /// The first refusal, in sshd's order; `None`: sshd accepts the key.
    pub refusal: Option<Refusal>,
    /// Where the key was found, when accepted.
    pub accepted_at: Option<String>,
}

/// The key a client offers: a plain key, or a certificate and its key.
pub struct Offered {
    pub key: PublicKey,
    pub cert: Option<Certificate>,
    /// The blob as the client sends it (the certificate's, for one).
    pub blob: Vec<u8>,
}

impl Offered {
    fn fingerprint(&self) -> String {
        Fingerprint::of_sha256(&self.wire()).to_string()
    }

    /// sshd's `sshkey_type`: `ED25519`, `RSA-CERT`, ...
    fn short_type(&self) -> String {
        let t = self.key.kind.short_name();
        if self.cert.is_some() {
            format!("{t}-CERT")
        } else {
            t.to_string()
        }
    }

    /// The blob sshd fingerprints: the certificate as offered, or the key.
    fn wire(&self) -> Vec<u8> {
        if self.cert.is_some() {
            self.blob.clone()
        } else {
            self.key.blob.clone()
        }
    }

    /// The algorithm a current OpenSSH client names in its request: RSA
    /// keys sign with rsa-sha2-512 (the first of the client's defaults that
    /// every sshd here announces in server-sig-algs).
    fn algorithm(&self) -> String {
        match (self.key.kind, &self.cert) {
            (KeyType::Rsa, None) => "rsa-sha2-512".into(),
            (KeyType::Rsa, Some(_)) => "rsa-sha2-512-cert-v01@openssh.com".into(),
            (kind, None) => kind.name().into(),
            (kind, Some(_)) => kind.cert_name(),
        }
    }
}

/// The account as sshd's `getpwnam` and `allowed_user` see it.
pub struct Account {
    pub uid: u32,
    pub home: PathBuf,
    /// `pw_shell`, empty for `/bin/sh`.
    pub shell: PathBuf,
    pub shell_state: ShellState,
    /// Every group the user is in (`ga_init`: primary and supplementary).
    pub groups: Vec<String>,
    /// The shadow password starts with `!` (Linux's only locked prefix).
    pub locked: bool,
    /// The shadow entry's expiry date has passed.
    pub expired: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ShellState {
    Executable,
    Missing,
    NotExecutable,
}

/// What opening a key or principals file as the user gives.
pub enum KeyFile {
    Lines(Vec<u8>),
    Absent,
    /// The open failed as the user (the error's text).
    CannotOpen(String),
    NotRegular,
    /// StrictModes refuses: sshd's log line and the fix.
    Unsafe {
        log: String,
        fix: String,
    },
}

/// What the AuthorizedKeysCommand said, run as sshd runs it.
pub enum CommandOutput {
    /// Exit 0: its output, judged like a file.
    Lines(Vec<u8>),
    /// sshd uses nothing from it; what it logs, at which level, and the fix.
    Failed {
        what: String,
        log: String,
        level: LogLevel,
        fix: String,
    },
    /// check did not run it, and why.
    NotRun(String),
}

/// RevokedKeys' answer for one key.
pub enum Revocation {
    Clean,
    Revoked,
    /// The file cannot be read or parsed: sshd refuses every key.
    Error(String),
}

/// Everything the model asks of the machine.
pub trait World {
    /// Where sshd_config sets `keyword` (lower case): `file:line`.
    fn set_at(&self, keyword: &str) -> Option<String>;
    fn revoked(&self, file: &Path, key: &[u8]) -> Revocation;
    /// A user's file, opened as sshd opens it: as the user, StrictModes.
    fn key_file(&self, path: &Path) -> KeyFile;
    /// A file sshd reads as root (TrustedUserCAKeys).
    fn root_file(&self, path: &Path) -> Result<Vec<u8>, String>;
    fn command(&self) -> CommandOutput;
    /// The AuthorizedPrincipalsCommand's answer for the offered certificate.
    fn principals_command(&self) -> CommandOutput;
    /// The `account` lines of /etc/pam.d/sshd (or the PAM service's file).
    fn pam_account(&self) -> Vec<String>;
    /// /etc/nologin exists.
    fn nologin(&self) -> bool;
}

pub struct Login<'a> {
    pub sshd: Sshd,
    pub settings: &'a Settings,
    /// The name the client sends; `account` is `None` when it has none.
    pub user: &'a str,
    pub account: Option<&'a Account>,
    pub from: IpAddr,
    pub key: &'a Offered,
    /// Seconds since the epoch.
    pub now: u64,
}

/// Judges the login step by step; stops at the first refusal.
pub fn judge(login: &Login, world: &dyn World) -> Judgement {
    let mut j = Judgement::default();
    let mut run = Run {
        login,
        world,
        j: &mut j,
    };
    let _ = run
        .account()
        .and_then(|()| run.method())
        .and_then(|()| run.key())
        .and_then(|()| run.sources())
        .and_then(|opts| run.after_match(&opts));
    j
}

struct Run<'a, 'b> {
    login: &'a Login<'a>,
    world: &'a dyn World,
    j: &'b mut Judgement,
}

/// A refusal was recorded.
struct Refused;

type Next<T = ()> = Result<T, Refused>;

/// The options of the line (and certificate) that let the key in.
#[derive(Default)]
struct Granted {
    forced_command: bool,
    no_touch_required: bool,
    verify_required: bool,
    /// Something the admin should know about why it was let in.
    note: Option<String>,
}

impl Run<'_, '_> {
    fn pass(&mut self, step: Step, text: impl Into<String>) {
        self.j.steps.push(Passed {
            step,
            text: text.into(),
        });
    }

    /// Records the refusal that ends the judgement.
    fn refuse<T>(&mut self, r: Refusal) -> Next<T> {
        self.j.refusal = Some(r);
        Err(Refused)
    }

    /// `Directive`, with where sshd_config sets it (under its old name
    /// too, which later releases still read).
    fn directive(&self, name: &str) -> String {
        let lower = name.to_ascii_lowercase();
        let old = match lower.as_str() {
            "pubkeyacceptedalgorithms" => Some("pubkeyacceptedkeytypes"),
            _ => None,
        };
        let found: Vec<String> = std::iter::once(lower.as_str())
            .chain(old)
            .filter_map(|k| self.world.set_at(k))
            .collect();
        if found.is_empty() {
            format!("{name} (sshd's default)")
        } else {
            format!("{name} ({})", found.join("; "))
        }
    }

    fn s(&self) -> &Settings {
        self.login.settings
    }

    fn v(&self, major: u16, minor: u16) -> bool {
        self.login.sshd.version.at_least(major, minor)
    }

    fn ip(&self) -> String {
        self.login.from.to_string()
    }

    fn client(&self) -> String {
        format!("from {} port PORT", self.ip())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openssh::public_key::{self, Read};
    use crate::openssh::sshd::parse_dump;
    use base64::Engine;

    const ED: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIH0N4saguHZjm5JJuuLTp/fxY41ZKz8LH/Mtp58jMGCe";

    fn offered() -> Offered {
        let blob = base64::engine::general_purpose::STANDARD
            .decode(ED)
            .unwrap();
        let Ok(Read::Key(key)) = public_key::read(&blob, &crate::openssh::DEFAULT) else {
            panic!("test key");
        };
        Offered {
            key,
            cert: None,
            blob,
        }
    }

    fn account(uid: u32) -> Account {
        Account {
            uid,
            home: "/home/alice".into(),
            shell: "/bin/sh".into(),
            shell_state: ShellState::Executable,
            groups: vec!["alice".into(), "staff".into()],
            locked: false,
            expired: false,
        }
    }

    /// A machine where the key is in the user's own file and nothing else
    /// is anywhere.
    struct Fake {
        nologin: bool,
    }

    impl World for Fake {
        fn set_at(&self, keyword: &str) -> Option<String> {
            Some(format!("sshd_config:1 ({keyword})"))
        }
        fn revoked(&self, _: &Path, _: &[u8]) -> Revocation {
            Revocation::Clean
        }
        fn key_file(&self, path: &Path) -> KeyFile {
            if path.ends_with(".ssh/authorized_keys") {
                KeyFile::Lines(format!("ssh-ed25519 {ED} alice\n").into_bytes())
            } else {
                KeyFile::Absent
            }
        }
        fn root_file(&self, _: &Path) -> Result<Vec<u8>, String> {
            Err("absent".into())
        }
        fn command(&self) -> CommandOutput {
            CommandOutput::NotRun("test".into())
        }
        fn principals_command(&self) -> CommandOutput {
            CommandOutput::NotRun("test".into())
        }
        fn pam_account(&self) -> Vec<String> {
            vec!["account required pam_nologin.so".into()]
        }
        fn nologin(&self) -> bool {
            self.nologin
        }
    }

    const DUMP: &str = "usepam no\npubkeyauthentication yes\nstrictmodes yes\n\
        authorizedkeysfile .ssh/authorized_keys\nauthenticationmethods any\n\
        pubkeyacceptedalgorithms ssh-ed25519,rsa-sha2-512\npermitrootlogin prohibit-password\n";

    fn judge_with(dump: &str, uid: u32, nologin: bool) -> Judgement {
        let settings = parse_dump(dump);
        let key = offered();
        let a = account(uid);
        let login = Login {
            sshd: crate::openssh::DEFAULT,
            settings: &settings,
            user: "alice",
            account: Some(&a),
            from: "192.0.2.7".parse().unwrap(),
            key: &key,
            now: 1_800_000_000,
        };
        judge(&login, &Fake { nologin })
    }

    #[test]
    fn the_own_file_lets_the_key_in() {
        let j = judge_with(DUMP, 1000, false);
        assert!(j.refusal.is_none(), "{j:?}");
        assert_eq!(
            j.accepted_at.as_deref(),
            Some("/home/alice/.ssh/authorized_keys:1")
        );
    }

    #[test]
    fn nologin_refuses_after_the_match_only_without_pam_and_not_root() {
        let j = judge_with(DUMP, 1000, true);
        assert_eq!(j.refusal.as_ref().map(|r| r.reason), Some("nologin"));
        assert_eq!(j.refusal.as_ref().map(|r| r.step), Some(Step::AfterMatch));
        assert!(judge_with(DUMP, 0, true).refusal.is_none());
        let pam = DUMP.replace("usepam no", "usepam yes");
        let j = judge_with(&pam, 1000, true);
        assert!(j.refusal.is_none());
        // With PAM the account stack is named, not guessed at.
        assert!(
            j.steps.iter().any(|s| s.text.contains("pam_nologin")),
            "{j:?}"
        );
    }

    #[test]
    fn access_lists_match_user_at_address() {
        let deny = format!("{DUMP}denyusers bob\ndenyusers alice@192.0.2.0/24\n");
        let j = judge_with(&deny, 1000, false);
        assert_eq!(j.refusal.as_ref().map(|r| r.reason), Some("deny-users"));
        let elsewhere = format!("{DUMP}denyusers alice@10.0.0.0/8\n");
        assert!(judge_with(&elsewhere, 1000, false).refusal.is_none());
        let groups = format!("{DUMP}allowgroups wheel sta*\n");
        assert!(judge_with(&groups, 1000, false).refusal.is_none());
        let groups = format!("{DUMP}allowgroups wheel\n");
        let j = judge_with(&groups, 1000, false);
        assert_eq!(j.refusal.as_ref().map(|r| r.reason), Some("allow-groups"));
    }

    #[test]
    fn authentication_methods() {
        for (methods, reason) in [
            ("publickey,password", Some("key-not-enough")),
            ("password", Some("methods-without-key")),
            ("password publickey", None),
            ("any", None),
        ] {
            let dump = DUMP.replace(
                "authenticationmethods any",
                &format!("authenticationmethods {methods}"),
            );
            let j = judge_with(&dump, 1000, false);
            assert_eq!(j.refusal.as_ref().map(|r| r.reason), reason, "{methods}");
        }
    }
}
