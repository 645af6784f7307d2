//! What sshd's StrictModes will say about a user's own key files
//! (`auth2-pubkeyfile.c:auth_openfile`, `misc.c:safe_path`). `safe_path` is
//! the same from 7.7 to 10.5 (a buffer copy aside); what differs is Debian's
//! patch, followed through `[sshd] debian` (`Config::group_exception`).
//!
//! For each file: it must be a regular file; its real path must be owned by
//! root or the user and not group- or world-writable; so must each directory
//! above it, up to and including the home directory (or `/` when the file is
//! outside the home). Debian's patch accepts a group-writable component when
//! the group's only member is the user. The walk only reads metadata.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::log::{self, Severity};
use crate::platform::Platform;
use crate::store::trusted;
use std::os::unix::ffi::OsStrExt;
use uzers::os::unix::GroupExt;

/// The account the check is for, as NSS has it.
#[derive(Clone, Debug)]
pub struct Account {
    /// The name's bytes as sshd and the user database have them.
    pub name: OsString,
    pub uid: u32,
    pub home: PathBuf,
}

/// A path component that makes sshd refuse the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offender {
    pub path: PathBuf,
    pub is_dir: bool,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub bad_owner: bool,
    /// The write bits (of 0o022) that sshd objects to.
    pub bad_bits: u32,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Finding {
    /// sshd refuses this key file; `offenders[0]` is what it names. With
    /// `unseen`, that directory hid the file from us, but a component above
    /// it already makes sshd refuse whatever is inside.
    Refused {
        file: PathBuf,
        offenders: Vec<Offender>,
        unseen: Option<PathBuf>,
    },
    /// sshd refuses this key file because it is not a regular file.
    NotRegular { file: PathBuf },
    /// No key file exists, but one placed in the home would be refused.
    UnsafeHome {
        home: PathBuf,
        offenders: Vec<Offender>,
    },
    /// The command user may not look (e.g. a 0700 home).
    CannotLook { path: PathBuf, err: String },
}

impl Offender {
    /// `directory /home/alice is world-writable (mode 0777, owner alice)`:
    /// what sshd objects to first, then the facts behind it.
    pub fn describe(&self) -> String {
        let kind = if self.is_dir { "directory" } else { "file" };
        let p = log::path(&self.path);
        let owner = short_name(
            uzers::get_user_by_uid(self.uid).map(|u| u.name().to_owned()),
            self.uid,
        );
        let mut why = Vec::new();
        if self.bad_owner {
            why.push("owned by another user".to_string());
        }
        match (self.bad_bits & 0o020 != 0, self.bad_bits & 0o002 != 0) {
            (true, true) => why.push("group- and world-writable".into()),
            (false, true) => why.push("world-writable".into()),
            (true, false) => why.push(format!("writable by group {}", group_name(self.gid))),
            (false, false) => {}
        }
        format!(
            "{kind} {p} is {} (mode {:04o}, owner {owner})",
            why.join(" and "),
            self.mode & 0o7777
        )
    }

    /// The commands that make this component acceptable to sshd.
    pub fn fixes(&self, user: &OsStr) -> Vec<String> {
        let p = log::path(&self.path);
        let mut out = Vec::new();
        if self.bad_owner {
            out.push(format!("chown {} {p}", log::escape(user.as_bytes())));
        }
        if let Some(bits) = trusted::write_bits(self.bad_bits) {
            out.push(format!("chmod {bits} {p}"));
        }
        out
    }
}

/// `staff`, or `gid 50` when NSS has no name for it.
fn group_name(gid: u32) -> String {
    short_name(
        uzers::get_group_by_gid(gid).map(|g| g.name().to_owned()),
        gid,
    )
}

/// A user or group name for a sentence without nested parentheses.
fn short_name(name: Option<std::ffi::OsString>, id: u32) -> String {
    match name {
        Some(n) => log::escape(n.as_bytes()),
        None => format!("id {id}"),
    }
}

fn describe_all(offenders: &[Offender], user: &OsStr) -> (String, String) {
    let what = offenders
        .iter()
        .map(Offender::describe)
        .collect::<Vec<_>>()
        .join("; ");
    let fix = offenders
        .iter()
        .flat_map(|o| o.fixes(user))
        .collect::<Vec<_>>()
        .join(" && ");
    (what, fix)
}

impl Finding {
    pub fn severity(&self) -> Severity {
        match self {
            Finding::Refused { .. } | Finding::NotRegular { .. } => Severity::Warning,
            Finding::UnsafeHome { .. } => Severity::Notice,
            Finding::CannotLook { .. } => Severity::Info,
        }
    }

    /// The log line: what is wrong, then `fix: ...` as `platform` needs it.
    pub fn message(&self, user: &OsStr, platform: Platform) -> String {
        match self.parts(user) {
            (what, Some(fix)) => format!("{what}; fix: {}", platform.fix(fix)),
            (what, None) => what,
        }
    }

    /// What is wrong, and the commands that fix it, apart: the verdict and
    /// the path first, then why.
    pub fn parts(&self, user: &OsStr) -> (String, Option<String>) {
        let u = log::escape(user.as_bytes());
        match self {
            Finding::Refused {
                file,
                offenders,
                unseen,
            } => {
                let (what, fix) = describe_all(offenders, user);
                let head = match unseen {
                    // sshd's own words, for whoever searches the log for them.
                    None => format!("sshd refuses {} of user {u}", log::path(file)),
                    Some(dir) => format!(
                        "sshd refuses {} of user {u}, if it exists ({} is closed to keyward, and what is \
                         above it already decides)",
                        log::path(file),
                        log::path(dir)
                    ),
                };
                (format!("{head}: {what}"), Some(fix))
            }
            Finding::NotRegular { file } => (
                format!(
                    "sshd refuses {} of user {u}: it is not a regular file",
                    log::path(file)
                ),
                Some(format!("move it aside (mv {0} {0}.bad)", log::path(file))),
            ),
            Finding::UnsafeHome { home, offenders } => {
                let (what, fix) = describe_all(offenders, user);
                (
                    format!(
                        "sshd would refuse any authorized_keys of user {u} in home {}: {what}",
                        log::path(home)
                    ),
                    Some(fix),
                )
            }
            Finding::CannotLook { path, err } => (
                format!(
                    "cannot check {} of user {u} as uid {}: {err}; run `keyward check {u}` as root \
                     for the verdict",
                    log::path(path),
                    nix::unistd::geteuid()
                ),
                None,
            ),
        }
    }
}

/// Expands sshd's AuthorizedKeysFile tokens and makes the path absolute.
pub fn expand(pattern: &str, account: &Account) -> PathBuf {
    let uid = account.uid.to_string();
    let values = [
        ('h', account.home.as_os_str()),
        ('u', account.name.as_os_str()),
        ('U', OsStr::new(&uid)),
    ];
    let p = PathBuf::from(crate::openssh::sshd::expand(pattern, &values));
    if p.is_absolute() {
        p
    } else {
        account.home.join(p)
    }
}

/// Runs the walk for every configured file. `group_exception` is Debian's rule.
pub fn check(account: &Account, files: &[String], group_exception: bool) -> Vec<Finding> {
    let rules = Rules {
        uid: account.uid,
        group_exception,
    };
    let home_real = std::fs::canonicalize(&account.home).ok();
    let mut findings = Vec::new();
    let mut any_file = false;
    let mut closed_dirs: Vec<PathBuf> = Vec::new();
    for pattern in files {
        let file = expand(pattern, account);
        let meta = match std::fs::metadata(&file) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOTDIR) => continue,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                // Typically a 0700 ~/.ssh seen as nobody. What is visible above
                // it may still doom the file, and that is worth a warning.
                any_file = true;
                let Some(visible) = deepest_visible(&file) else {
                    findings.push(cannot_look(&file, &e));
                    continue;
                };
                // `visible` is the directory we may stat but not search.
                if closed_dirs.contains(&visible) {
                    continue;
                }
                closed_dirs.push(visible.clone());
                match walk_dirs(&visible, home_real.as_deref(), &rules) {
                    Ok(offenders) if !offenders.is_empty() => findings.push(Finding::Refused {
                        file,
                        offenders,
                        unseen: Some(visible),
                    }),
                    Ok(_) => findings.push(cannot_look(&file, &e)),
                    Err((path, e)) => findings.push(cannot_look(&path, &e)),
                }
                continue;
            }
            Err(e) => {
                findings.push(cannot_look(&file, &e));
                continue;
            }
        };
        any_file = true;
        if !meta.is_file() {
            findings.push(Finding::NotRegular { file });
            continue;
        }
        match walk(&file, &meta, home_real.as_deref(), &rules) {
            Ok(offenders) if offenders.is_empty() => {}
            Ok(offenders) => findings.push(Finding::Refused {
                file,
                offenders,
                unseen: None,
            }),
            Err((path, e)) => findings.push(cannot_look(&path, &e)),
        }
    }
    if !any_file {
        match home_check(&account.home, &rules) {
            Ok(offenders) if offenders.is_empty() => {}
            Ok(offenders) => findings.push(Finding::UnsafeHome {
                home: home_real.unwrap_or_else(|| account.home.clone()),
                offenders,
            }),
            // No home at all: nothing sshd could refuse.
            Err((_, e)) if e.kind() == io::ErrorKind::NotFound => {}
            Err((path, e)) => findings.push(cannot_look(&path, &e)),
        }
    }
    findings
}

/// sshd's check of the AuthorizedKeysCommand program (`subprocess`, run
/// whatever StrictModes says): its real path and every directory up to `/`
/// owned by root and writable by nobody else (Debian: unless root is the
/// group's only member). `Err` names what could not be examined.
pub fn program_check(program: &Path, group_exception: bool) -> Result<Vec<Offender>, String> {
    let rules = Rules {
        uid: 0,
        group_exception,
    };
    let meta = std::fs::metadata(program)
        .map_err(|e| format!("cannot stat {}: {e}", log::path(program)))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", log::path(program)));
    }
    walk(program, &meta, None, &rules)
        .map_err(|(p, e)| format!("cannot check {}: {e}", log::path(&p)))
}

fn cannot_look(path: &Path, e: &io::Error) -> Finding {
    Finding::CannotLook {
        path: path.to_path_buf(),
        err: e.to_string(),
    }
}

struct Rules {
    uid: u32,
    group_exception: bool,
}

impl Rules {
    /// `secure_permissions` (Debian) or the upstream owner/mode test.
    fn offender(&self, path: &Path, meta: &std::fs::Metadata) -> Option<Offender> {
        let (uid, mode) = (meta.uid(), meta.mode());
        let bad_owner = uid != 0 && uid != self.uid;
        let bad_bits = others_may_write(mode, meta.gid(), uid, self.uid, self.group_exception);
        (bad_owner || bad_bits != 0).then(|| Offender {
            path: path.to_path_buf(),
            is_dir: meta.is_dir(),
            uid,
            gid: meta.gid(),
            mode,
            bad_owner,
            bad_bits,
        })
    }
}

/// The write bits (of 0o022) through which someone other than `uid` may
/// write a path owned by `owner` with `mode` and group `gid`: sshd's rule,
/// where Debian's `group_exception` excuses a group whose only member is
/// `uid`. Debian never excuses a world-writable path, so the group test only
/// matters when the world bit is clear; with it set, both go.
pub fn others_may_write(mode: u32, gid: u32, owner: u32, uid: u32, group_exception: bool) -> u32 {
    let mut bits = mode & 0o002;
    if mode & 0o020 != 0 && (bits != 0 || !(group_exception && sole_member(gid, owner, uid))) {
        bits |= 0o020;
    }
    bits
}

type WalkError = (PathBuf, io::Error);

/// `safe_path`: the file, then each parent of its real path, stopping after
/// the (real) home directory or at `/`. Unlike sshd, which stops at the first
/// offender, every offender is collected so the fix is complete.
fn walk(
    file: &Path,
    meta: &std::fs::Metadata,
    home_real: Option<&Path>,
    rules: &Rules,
) -> Result<Vec<Offender>, WalkError> {
    let real = std::fs::canonicalize(file).map_err(|e| (file.to_path_buf(), e))?;
    let mut offenders: Vec<Offender> = rules.offender(&real, meta).into_iter().collect();
    if let Some(parent) = real.parent() {
        offenders.extend(walk_dirs(parent, home_real, rules)?);
    }
    Ok(offenders)
}

/// The directory part of the walk, from `dir` (a real path) upwards.
fn walk_dirs(
    dir: &Path,
    home_real: Option<&Path>,
    rules: &Rules,
) -> Result<Vec<Offender>, WalkError> {
    let mut offenders = Vec::new();
    let mut dir = Some(dir);
    while let Some(d) = dir {
        let m = std::fs::metadata(d).map_err(|e| (d.to_path_buf(), e))?;
        offenders.extend(rules.offender(d, &m));
        if Some(d) == home_real {
            break;
        }
        dir = d.parent();
    }
    Ok(offenders)
}

/// The real path of the deepest existing ancestor of `file` we may stat.
fn deepest_visible(file: &Path) -> Option<PathBuf> {
    file.ancestors()
        .skip(1)
        .find(|a| std::fs::metadata(a).is_ok())
        .and_then(|a| std::fs::canonicalize(a).ok())
}

/// The home directory alone, as the walk would check it for a file inside.
fn home_check(home: &Path, rules: &Rules) -> Result<Vec<Offender>, WalkError> {
    let real = std::fs::canonicalize(home).map_err(|e| (home.to_path_buf(), e))?;
    let m = std::fs::metadata(&real).map_err(|e| (real.clone(), e))?;
    Ok(rules.offender(&real, &m).into_iter().collect())
}

/// Debian's test for a group-writable path (`secure_permissions`): the
/// group must have exactly one member, counting users whose primary group
/// it is (each must be `uid`) and the group's member list (which may only
/// name the path's owner).
///
/// Debian's sshd counts the primary members by walking the whole user
/// database (`getpwent`). keyward runs this before authentication, for any
/// client that names a user, so it reads the local passwd file instead: the
/// same answer wherever the directory service does not enumerate (SSSD's
/// default), and no round trip to LDAP per lookup. An account that only a
/// directory knows and whose primary group is a local private group is not
/// counted.
fn sole_member(gid: u32, owner: u32, uid: u32) -> bool {
    let Some(group) = uzers::get_group_by_gid(gid) else {
        return false;
    };
    let Some(owner_user) = uzers::get_user_by_uid(owner) else {
        return false;
    };
    let listed: Vec<&[u8]> = group.members().iter().map(|m| m.as_bytes()).collect();
    let Ok(passwd) = std::fs::read("/etc/passwd") else {
        return false;
    };
    sole_member_in(&passwd, gid, uid, owner_user.name().as_bytes(), &listed)
}

/// `sole_member` on a passwd file's text and the group's member list.
fn sole_member_in(passwd: &[u8], gid: u32, uid: u32, owner: &[u8], listed: &[&[u8]]) -> bool {
    let mut members = 0;
    for line in passwd.split(|&b| b == b'\n') {
        // name:password:uid:gid:...; NIS `+`/`-` lines name no account.
        let fields: Vec<&[u8]> = line.splitn(5, |&b| b == b':').collect();
        let number = |f: &[u8]| std::str::from_utf8(f).ok()?.parse::<u32>().ok();
        let (Some(u), Some(g)) = (
            fields.get(2).and_then(|f| number(f)),
            fields.get(3).and_then(|f| number(f)),
        ) else {
            continue;
        };
        if g == gid {
            members += 1;
            if u != uid {
                return false;
            }
        }
    }
    match listed {
        [] => {}
        [first] if *first == owner => members += 1,
        _ => return false,
    }
    members > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(home: &str) -> Account {
        Account {
            name: "alice".into(),
            uid: 1234,
            home: PathBuf::from(home),
        }
    }

    #[test]
    fn tokens_expand_like_authorized_keys_file() {
        let a = account("/home/alice");
        assert_eq!(
            expand(".ssh/authorized_keys", &a),
            Path::new("/home/alice/.ssh/authorized_keys")
        );
        assert_eq!(
            expand("/etc/ssh/keys/%u", &a),
            Path::new("/etc/ssh/keys/alice")
        );
        assert_eq!(expand("%h/k/%U/%%", &a), Path::new("/home/alice/k/1234/%"));
        // The file of this account, not of one named like its escaped form.
        let b = Account {
            name: OsStr::from_bytes(b"DOM\\j\xfcrgen").to_os_string(),
            ..account("/home/x")
        };
        assert_eq!(
            expand("/etc/ssh/keys/%u", &b).as_os_str().as_bytes(),
            b"/etc/ssh/keys/DOM\\j\xfcrgen"
        );
    }

    #[test]
    fn a_group_with_one_member_is_found_from_the_passwd_file() {
        let passwd = b"root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n\
                       bob:x:1001:1001::/home/bob:/bin/sh\nstaff1:x:1002:50::/:/bin/sh\n+::::::\n";
        // alice's private group: alice alone.
        assert!(sole_member_in(passwd, 1000, 1000, b"alice", &[]));
        assert!(sole_member_in(passwd, 1000, 1000, b"alice", &[b"alice"]));
        // Someone else listed, or two listed.
        assert!(!sole_member_in(passwd, 1000, 1000, b"alice", &[b"bob"]));
        assert!(!sole_member_in(
            passwd,
            1000,
            1000,
            b"alice",
            &[b"alice", b"bob"]
        ));
        // Another user's primary group.
        assert!(!sole_member_in(passwd, 1001, 1000, b"alice", &[]));
        // No member at all (a setgid binary's group).
        assert!(!sole_member_in(passwd, 77, 1000, b"alice", &[]));
        // Listed alone, nobody's primary group.
        assert!(sole_member_in(passwd, 77, 1000, b"alice", &[b"alice"]));
    }

    #[test]
    fn missing_files_under_a_safe_home_find_nothing() {
        // / is root-owned 0755 on any sane system.
        assert_eq!(
            check(&account("/"), &[".nonexistent-keyward".into()], false),
            vec![]
        );
    }

    #[test]
    fn world_writable_home_without_files_is_reported() {
        // /tmp is 1777: a home there is what sshd refuses.
        let findings = check(&account("/tmp"), &[".nonexistent-keyward".into()], true);
        match &findings[..] {
            [Finding::UnsafeHome { home, offenders }] => {
                assert_eq!(home, Path::new("/tmp"));
                assert_eq!(offenders[0].mode & 0o777, 0o777);
                assert!(!offenders[0].bad_owner);
                assert_eq!(offenders[0].bad_bits, 0o022);
                let msg = findings[0].message("alice".as_ref(), Platform::Linux);
                assert!(msg.contains("fix: chmod go-w /tmp"), "{msg}");
                assert_eq!(findings[0].severity(), Severity::Notice);
            }
            other => panic!("{other:?}"),
        }
    }
}
