//! `keyward import [USER...|--all]`: copy keys from users' own
//! AuthorizedKeysFiles into the store.
//!
//! Homes are hostile: keyward exists for homes anyone can write, and a key
//! planted there must never become a store key that `keys` serves. So a
//! home is read the way sshd reads it, with the user's own uid and groups
//! (`temporarily_use_uid`), one component at a time without following any
//! symbolic link, and every opened descriptor is checked: a directory or
//! file below the home owned by anyone but the user or root is refused, and
//! when others may write the home, `~/.ssh` or the file, nothing is taken
//! for that user unless the admin names them with `--accept-unsafe-home`.
//! Homes are only read, never changed.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat};
use nix::unistd::{Gid, Uid, getgrouplist, getgroups, setegid, seteuid, setgroups};
use serde::Serialize;
use uzers::os::unix::UserExt;

use super::{Failure, Out, Outcome, Skipped};
use crate::config::Config;
use crate::exit::Exit;
use crate::openssh::sshd;
use crate::openssh::strict_modes::{self, Account};
use crate::store::edit::Writer;
use crate::store::inventory::{self, Now, Record};
use crate::store::{self, UserName};

pub struct Request<'a> {
    pub users: &'a [OsString],
    pub all: bool,
    /// Users whose keys are taken even from a home others may write.
    pub accept_unsafe: &'a [OsString],
    pub dry_run: bool,
    pub sshd: &'a Path,
    pub sshd_config: Option<&'a Path>,
}

#[derive(Serialize)]
struct FileReport {
    path: String,
    /// `read`, `absent`, `refused`, or `unsafe` (others may write it).
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// Who owns the file and when it last changed, for an admin deciding
    /// whether to trust it.
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    modified: Option<String>,
}

#[derive(Serialize)]
struct UserReport {
    user: String,
    files: Vec<FileReport>,
    taken: Vec<Record>,
    skipped: Vec<Skipped>,
    /// Why nothing was taken for this user, when a home was unsafe.
    #[serde(skip_serializing_if = "Option::is_none")]
    refused: Option<String>,
    /// The store file written; `None` on a dry run or when nothing was new.
    written: Option<String>,
}

#[derive(Serialize)]
struct ImportReport {
    dry_run: bool,
    users: Vec<UserReport>,
    /// Accounts looked at, keys taken, users refused.
    accounts: usize,
    imported: usize,
    refused: Vec<String>,
}

pub fn run(config: &Config, req: &Request, out: &mut Out) -> Outcome {
    if !nix::unistd::geteuid().is_root() {
        return Err(Failure::new(
            Exit::NoPerm,
            "import reads homes as their owners and writes the store: run it as root",
        ));
    }
    let accounts = targets(req)?;
    let now = Now::system();
    // The lock is held for the whole run, so the duplicate check stays true
    // until the last write. A dry run only reads.
    let writer = if req.dry_run {
        None
    } else {
        Some(Writer::open(&config.store)?)
    };
    let mut reports = Vec::new();
    let mut ask_sshd = true;
    let progress = req.all && accounts.len() > 20 && std::io::stderr().is_terminal();
    for (done, (name, pw)) in accounts.iter().enumerate() {
        if progress {
            eprint!("\rkeyward: {done}/{} accounts", accounts.len());
        }
        let account = Account {
            name: pw.name().to_os_string(),
            uid: pw.uid(),
            home: pw.home_dir().to_path_buf(),
        };
        // sshd's own answer per user (Match blocks may differ); if sshd
        // cannot be asked, the config's list, said once.
        let mut patterns = config.home_check.files.clone();
        if ask_sshd {
            match sshd::effective(req.sshd, req.sshd_config, &account.name) {
                Ok(s) => patterns = s.authorized_keys_files,
                Err(e) => {
                    super::warn(&format!(
                        "{e}; reading the files in home_check.files instead"
                    ));
                    ask_sshd = false;
                }
            }
        }
        let mut known = inventory::scan(&store::read_user(&config.store, name)?, &now);
        let mut report = UserReport {
            user: name.display(),
            files: Vec::new(),
            taken: Vec::new(),
            skipped: Vec::new(),
            refused: None,
            written: None,
        };
        let accepted = req
            .accept_unsafe
            .iter()
            .any(|a| a.as_os_str() == name.as_os_str());
        let mut lines = Vec::new();
        for pattern in &patterns {
            let path = strict_modes::expand(pattern, &account);
            let shown = crate::log::path(&path);
            let found = as_user(pw, || {
                read_key_file(&account, &path, config.group_exception())
            })?;
            let mut file = FileReport {
                path: shown,
                status: "absent",
                reason: None,
                owner: None,
                modified: None,
            };
            match found {
                Own::Absent => {}
                Own::Refused(reason) => {
                    file.status = "refused";
                    file.reason = Some(reason);
                }
                Own::Planted(reason) => {
                    file.status = "refused";
                    report.refused = Some(format!(
                        "{reason}; nothing taken for this user, --accept-unsafe-home or not. \
                         Find out who put it there, remove it, and add the user's keys with \
                         `keyward add {} KEYFILE`",
                        name.display()
                    ));
                    file.reason = Some(reason);
                }
                Own::Read(f) => {
                    file.owner = Some(crate::store::trusted::owner_name(f.owner));
                    file.modified = Some(f.modified());
                    if !f.exposed.is_empty() && !accepted {
                        file.status = "unsafe";
                        file.reason = Some(f.exposed.join("; "));
                        report.refused.get_or_insert_with(|| {
                            format!(
                                "{}, so other users can write there and a key in it may have been \
                                 planted; nothing taken. Review the keys with `keyward import --dry-run \
                                 --accept-unsafe-home {u} {u}`, then run it without --dry-run, or \
                                 `keyward add {u} KEYFILE` with keys the user gives you",
                                f.exposed.join("; "),
                                u = name.display()
                            )
                        });
                    } else {
                        let (taken, skipped) =
                            super::take_new(&f.data, &path, &mut known, &now, &mut lines);
                        report.taken.extend(taken);
                        report.skipped.extend(skipped);
                        file.status = "read";
                    }
                }
            }
            report.files.push(file);
        }
        if report.refused.is_some() {
            // All or nothing per user: one planted file taints the home.
            report.taken.clear();
            report.skipped.clear();
            lines.clear();
        }
        if let Some(w) = &writer {
            if !lines.is_empty() {
                report.written = Some(w.append(name, &lines)?);
            }
        }
        if !req.all || !report.files.iter().all(|f| f.status == "absent") {
            reports.push(report);
        }
    }
    if progress {
        eprintln!("\rkeyward: {0}/{0} accounts", accounts.len());
    }
    let refused: Vec<String> = reports
        .iter()
        .filter(|u| u.refused.is_some())
        .map(|u| u.user.clone())
        .collect();
    let report = ImportReport {
        dry_run: req.dry_run,
        accounts: accounts.len(),
        imported: reports.iter().map(|u| u.taken.len()).sum(),
        refused,
        users: reports,
    };
    out.emit(&report, |w| text(w, &report))?;
    Ok(if report.refused.is_empty() {
        Exit::Ok
    } else {
        Exit::Attention
    })
}

fn text(w: &mut dyn Write, r: &ImportReport) -> std::io::Result<()> {
    if r.users.is_empty() {
        writeln!(w, "no user has an authorized_keys file; nothing to import")?;
    }
    for u in &r.users {
        match &u.refused {
            Some(why) => writeln!(w, "{}: refused: {why}", u.user)?,
            None => writeln!(
                w,
                "{}: {} key(s) to take, {} line(s) skipped",
                u.user,
                u.taken.len(),
                u.skipped.len()
            )?,
        }
        for f in &u.files {
            let whose = match (&f.owner, &f.modified) {
                (Some(o), Some(m)) => format!(" (owner {o}, modified {m})"),
                _ => String::new(),
            };
            match &f.reason {
                Some(reason) => writeln!(w, "  {}{whose}: not taken: {reason}", f.path)?,
                None => writeln!(w, "  {}{whose}: {}", f.path, f.status)?,
            }
        }
        for k in &u.taken {
            writeln!(
                w,
                "  + {}:{}: {} {} {}",
                k.source, k.line, k.kind, k.fingerprint, k.comment
            )?;
        }
        for s in &u.skipped {
            writeln!(w, "  - {}:{}: skipped: {}", s.source, s.line, s.reason)?;
        }
        match (&u.written, r.dry_run) {
            (Some(f), _) => writeln!(w, "  written to {f}")?,
            (None, true) if !u.taken.is_empty() => writeln!(w, "  dry run: nothing written")?,
            _ => {}
        }
    }
    writeln!(
        w,
        "{} account(s) looked at, {} key(s) {}, {} user(s) refused{}",
        r.accounts,
        r.imported,
        if r.dry_run { "to take" } else { "imported" },
        r.refused.len(),
        if r.refused.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.refused.join(", "))
        }
    )
}

fn targets(req: &Request) -> Result<Vec<(UserName, uzers::User)>, Failure> {
    if req.all {
        return Ok(all_users()
            .into_iter()
            .filter_map(|pw| Some((UserName::new(pw.name()).ok()?, pw)))
            .collect());
    }
    if req.users.is_empty() {
        return Err(Failure::new(
            Exit::Usage,
            "name the users to import, or give --all",
        ));
    }
    req.users
        .iter()
        .map(|u| {
            let name = super::user_name(u)?;
            let pw = uzers::get_user_by_name(name.as_os_str()).ok_or_else(|| {
                Failure::new(
                    Exit::DataErr,
                    format!("no user {} in the user database", name.display()),
                )
            })?;
            Ok((name, pw))
        })
        .collect()
}

/// What `import` makes of each of `pw`'s own key files (`patterns` as in
/// AuthorizedKeysFile), for `check` and `audit` to say the same.
pub fn own_files(
    pw: &uzers::User,
    patterns: &[String],
    group_exception: bool,
) -> Result<Vec<(PathBuf, Own)>, Failure> {
    let account = Account {
        name: pw.name().to_os_string(),
        uid: pw.uid(),
        home: pw.home_dir().to_path_buf(),
    };
    let mut out = Vec::new();
    for pattern in patterns {
        let path = strict_modes::expand(pattern, &account);
        let own = as_user(pw, || read_key_file(&account, &path, group_exception))?;
        out.push((path, own));
    }
    Ok(out)
}

/// What `check` and `audit` report about one verdict of `own_files`:
/// a planted file is a warning, a home others may write is worth knowing.
pub fn report_own(user: &OsStr, path: &Path, own: &Own, r: &mut crate::admin::report::Report) {
    let u = crate::log::escape(user.as_bytes());
    match own {
        Own::Planted(why) => r.warning(
            format!("{why}; `keyward import {u}` refuses this user"),
            Some(format!(
                "find out who created it, then remove it; add {u}'s keys with `keyward add {u} KEYFILE`"
            )),
        ),
        Own::Read(f) if !f.exposed.is_empty() => r.info(format!(
            "{}: others may write it ({}), so a key in it may have been planted: \
             `keyward import {u}` takes nothing from it without --accept-unsafe-home {u}",
            crate::log::path(path),
            f.exposed.join("; ")
        )),
        _ => {}
    }
}

/// Every account in the user database (`getpwent`).
pub fn all_users() -> Vec<uzers::User> {
    // SAFETY: getpwent iteration is not thread-safe; keyward is single-threaded
    // and nothing else walks the passwd database while this runs.
    #[allow(unsafe_code)]
    let users = unsafe { uzers::all_users() }.collect();
    users
}

/// Runs `f` with the effective uid, gid and groups of `pw`, as sshd's
/// `temporarily_use_uid` does, and switches back to root afterwards.
pub fn as_user<R>(pw: &uzers::User, f: impl FnOnce() -> R) -> Result<R, Failure> {
    let fail = |what: &str, e: Errno| {
        Failure::new(
            Exit::NoPerm,
            format!(
                "cannot {what} for reading {}'s files: {}",
                pw.name().to_string_lossy(),
                e.desc()
            ),
        )
    };
    let saved = getgroups().map_err(|e| fail("read our groups", e))?;
    let gid = Gid::from_raw(pw.primary_group_id());
    let name = std::ffi::CString::new(pw.name().as_encoded_bytes())
        .map_err(|_| fail("look up groups", Errno::EINVAL))?;
    let groups = getgrouplist(&name, gid).map_err(|e| fail("look up groups", e))?;
    setgroups(&groups).map_err(|e| fail("set groups", e))?;
    setegid(gid).map_err(|e| fail("set gid", e))?;
    seteuid(Uid::from_raw(pw.uid())).map_err(|e| fail("set uid", e))?;
    let result = f();
    // Without root back, nothing else may run: the store would be written
    // as the user. Failing here ends the command.
    seteuid(Uid::from_raw(0)).map_err(|e| fail("return to root", e))?;
    setegid(Gid::from_raw(0)).map_err(|e| fail("return to root", e))?;
    setgroups(&saved).map_err(|e| fail("return to root", e))?;
    Ok(result)
}

/// The most read from one user file; more is not an authorized_keys file.
const MAX_FILE_BYTES: u64 = store::MAX_USER_BYTES;

/// What one of a user's own key files turned out to be.
pub enum Own {
    Absent,
    /// Not read, and why: a link, a FIFO, an unreadable file.
    Refused(String),
    /// A component is owned by another user: someone planted it, or moved
    /// the user's own aside and put theirs in its place.
    Planted(String),
    Read(OwnFile),
}

pub struct OwnFile {
    pub data: Vec<u8>,
    pub owner: u32,
    pub mtime: i64,
    /// Each component others may write (home, `~/.ssh`, the file), said as
    /// a sentence; empty when only the user and root can change the file.
    pub exposed: Vec<String>,
}

impl OwnFile {
    fn modified(&self) -> String {
        chrono::DateTime::from_timestamp(self.mtime, 0)
            .map(|t| {
                t.with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_else(|| self.mtime.to_string())
    }
}

/// Reads `path` of `account` (below its home, or from `/` when it lies
/// elsewhere) without following any symbolic link, checking each opened
/// descriptor: owned by the user or root, and who else may write it.
/// Run it as the user (`as_user`).
pub fn read_key_file(account: &Account, path: &Path, group_exception: bool) -> Own {
    match open_key_file(account, path, group_exception) {
        Ok(Some(f)) => Own::Read(f),
        Ok(None) => Own::Absent,
        Err(Refusal::Planted(why)) => Own::Planted(why),
        Err(Refusal::Other(why)) => Own::Refused(why),
    }
}

enum Refusal {
    Planted(String),
    Other(String),
}

impl From<String> for Refusal {
    fn from(why: String) -> Refusal {
        Refusal::Other(why)
    }
}

impl From<&str> for Refusal {
    fn from(why: &str) -> Refusal {
        Refusal::Other(why.into())
    }
}

fn open_key_file(
    account: &Account,
    path: &Path,
    group_exception: bool,
) -> Result<Option<OwnFile>, Refusal> {
    let home = account.home.as_path();
    let (base, rel) = match path.strip_prefix(home) {
        Ok(rel) => (home, rel),
        Err(_) => (Path::new("/"), path.strip_prefix("/").unwrap_or(path)),
    };
    let mut names: Vec<&OsStr> = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => names.push(n),
            _ => return Err("the path has '.' or '..' components".into()),
        }
    }
    let Some((last, dirs)) = names.split_last() else {
        return Err("the path names a directory".into());
    };
    let mut exposed = Vec::new();
    let mut cur = match nix::fcntl::open(
        base,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(open_error(base, e).into()),
    };
    let mut at = base.to_path_buf();
    judge(&cur, &at, account, group_exception, &mut exposed)?;
    for name in dirs {
        at.push(name);
        let fd = match openat(
            cur.as_fd(),
            *name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(open_error(&at, e).into()),
        };
        match judge(&fd, &at, account, group_exception, &mut exposed)?.0 {
            SFlag::S_IFDIR => cur = fd,
            SFlag::S_IFLNK => return Err(symlink(&at).into()),
            _ => return Err(format!("{} is not a directory", crate::log::path(&at)).into()),
        }
    }
    at.push(last);
    let fd = match openat(
        cur.as_fd(),
        *last,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(Errno::ELOOP) => return Err(symlink(&at).into()),
        Err(e) => return Err(open_error(&at, e).into()),
    };
    let (kind, st) = judge(&fd, &at, account, group_exception, &mut exposed)?;
    if kind != SFlag::S_IFREG {
        return Err(format!(
            "{} is not a regular file (a FIFO, device or directory)",
            crate::log::path(&at)
        )
        .into());
    }
    let mut data = Vec::new();
    File::from(fd)
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("cannot read {}: {e}", crate::log::path(&at)))?;
    if data.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "{} is larger than {MAX_FILE_BYTES} bytes; that is no authorized_keys file",
            crate::log::path(&at)
        )
        .into());
    }
    Ok(Some(OwnFile {
        data,
        owner: st.st_uid,
        mtime: st.st_mtime,
        exposed,
    }))
}

/// The checks on one opened component: its owner must be the user or root
/// (anything else was made by another user: a planted `.ssh`, or the
/// user's own moved aside and replaced), and any way for others to write
/// it is noted in `exposed`.
fn judge(
    fd: &OwnedFd,
    at: &Path,
    account: &Account,
    group_exception: bool,
    exposed: &mut Vec<String>,
) -> Result<(SFlag, FileStat), Refusal> {
    let st = fstat(fd.as_fd()).map_err(|e| open_error(at, e))?;
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    if kind == SFlag::S_IFLNK {
        return Err(symlink(at).into());
    }
    if st.st_uid != 0 && st.st_uid != account.uid {
        return Err(Refusal::Planted(format!(
            "{} is owned by {}, not by {} or root: another user may have planted it",
            crate::log::path(at),
            crate::store::trusted::owner_name(st.st_uid),
            crate::log::escape(account.name.as_bytes())
        )));
    }
    let bits = strict_modes::others_may_write(
        st.st_mode,
        st.st_gid,
        st.st_uid,
        account.uid,
        group_exception,
    );
    if bits != 0 {
        exposed.push(format!(
            "{} has mode {:04o}{}",
            crate::log::path(at),
            st.st_mode & 0o7777,
            crate::store::trusted::writable_note(bits)
        ));
    }
    Ok((kind, st))
}

fn symlink(at: &Path) -> String {
    format!(
        "{} is a symbolic link; keyward follows no links in homes. Add the keys it points to with `keyward add`",
        crate::log::path(at)
    )
}

fn open_error(at: &Path, e: Errno) -> String {
    match e {
        Errno::EACCES => format!("{} is not readable by its user", crate::log::path(at)),
        e => format!("cannot open {}: {}", crate::log::path(at), e.desc()),
    }
}
