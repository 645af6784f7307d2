//! `keyward import [USER...|--all]`: copy keys from users' own
//! AuthorizedKeysFiles into the store.
//!
//! A home belongs to its user, so it is read the way sshd reads it: with the
//! user's own uid and groups (`temporarily_use_uid`), so a hard link to a
//! file the user cannot read yields nothing. Unlike sshd, no symbolic link is
//! followed below the home directory, so nothing outside it is ever read.
//! Homes are only read, never changed.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, SFlag, fstat};
use nix::unistd::{Gid, Uid, getgrouplist, getgroups, setegid, seteuid, setgroups};
use serde::Serialize;
use uzers::os::unix::UserExt;

use super::{Failure, Out, Outcome, Skipped};
use crate::config::Config;
use crate::edit::Writer;
use crate::exit::Exit;
use crate::inventory::{self, Now, Record};
use crate::sshd;
use crate::store::{self, UserName};
use crate::strict_modes::{self, Account};

pub struct Request<'a> {
    pub users: &'a [OsString],
    pub all: bool,
    pub dry_run: bool,
    pub sshd: &'a Path,
    pub sshd_config: Option<&'a Path>,
}

#[derive(Serialize)]
struct FileReport {
    path: String,
    /// `read`, `absent` or `refused`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Serialize)]
struct UserReport {
    user: String,
    files: Vec<FileReport>,
    taken: Vec<Record>,
    skipped: Vec<Skipped>,
    /// The store file written; `None` on a dry run or when nothing was new.
    written: Option<String>,
}

#[derive(Serialize)]
struct ImportReport {
    dry_run: bool,
    users: Vec<UserReport>,
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
    for (name, pw) in &accounts {
        let account = Account {
            name: pw.name().to_string_lossy().into_owned(),
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
            written: None,
        };
        let mut lines = Vec::new();
        for pattern in &patterns {
            let path = strict_modes::expand(pattern, &account);
            let shown = crate::log::path(&path);
            match as_user(pw, || read_key_file(&account.home, &path))? {
                Ok(None) => report.files.push(FileReport {
                    path: shown,
                    status: "absent",
                    reason: None,
                }),
                Ok(Some(data)) => {
                    let (taken, skipped) =
                        super::take_new(&data, &path, &mut known, &now, &mut lines);
                    report.taken.extend(taken);
                    report.skipped.extend(skipped);
                    report.files.push(FileReport {
                        path: shown,
                        status: "read",
                        reason: None,
                    });
                }
                Err(reason) => report.files.push(FileReport {
                    path: shown,
                    status: "refused",
                    reason: Some(reason),
                }),
            }
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
    let report = ImportReport {
        dry_run: req.dry_run,
        users: reports,
    };
    out.emit(&report, |w| text(w, &report))?;
    Ok(Exit::Ok)
}

fn text(w: &mut dyn Write, r: &ImportReport) -> std::io::Result<()> {
    if r.users.is_empty() {
        writeln!(w, "no user has an authorized_keys file; nothing to import")?;
    }
    for u in &r.users {
        writeln!(
            w,
            "{}: {} key(s) to take, {} line(s) skipped",
            u.user,
            u.taken.len(),
            u.skipped.len()
        )?;
        for f in &u.files {
            match &f.reason {
                Some(reason) => writeln!(w, "  {}: not read: {reason}", f.path)?,
                None => writeln!(w, "  {}: {}", f.path, f.status)?,
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
    Ok(())
}

fn targets(req: &Request) -> Result<Vec<(UserName, uzers::User)>, Failure> {
    if req.all {
        return Ok(strict_modes::all_users()
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

/// Runs `f` with the effective uid, gid and groups of `pw`, as sshd's
/// `temporarily_use_uid` does, and switches back to root afterwards.
fn as_user<R>(pw: &uzers::User, f: impl FnOnce() -> R) -> Result<R, Failure> {
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

/// Reads `path` below `home` (or from `/` when it lies elsewhere) without
/// following any symbolic link. `Ok(None)` when it does not exist; `Err`
/// says why it was not read.
fn read_key_file(home: &Path, path: &Path) -> Result<Option<Vec<u8>>, String> {
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
    let mut cur = match nix::fcntl::open(
        base,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(format!("cannot open {}: {}", base.display(), e.desc())),
    };
    let mut at = base.to_path_buf();
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
            Err(e) => return Err(open_error(&at, e)),
        };
        match file_type(&fd, &at)? {
            SFlag::S_IFDIR => cur = fd,
            SFlag::S_IFLNK => return Err(symlink(&at)),
            _ => return Err(format!("{} is not a directory", at.display())),
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
        Err(Errno::ELOOP) => return Err(symlink(&at)),
        Err(e) => return Err(open_error(&at, e)),
    };
    match file_type(&fd, &at)? {
        SFlag::S_IFREG => {}
        _ => {
            return Err(format!(
                "{} is not a regular file (a FIFO, device or directory)",
                at.display()
            ));
        }
    }
    let mut data = Vec::new();
    File::from(fd)
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("cannot read {}: {e}", at.display()))?;
    if data.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "{} is larger than {MAX_FILE_BYTES} bytes; that is no authorized_keys file",
            at.display()
        ));
    }
    Ok(Some(data))
}

fn file_type(fd: &OwnedFd, at: &Path) -> Result<SFlag, String> {
    let st = fstat(fd.as_fd()).map_err(|e| open_error(at, e))?;
    Ok(SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()))
}

fn symlink(at: &Path) -> String {
    format!(
        "{} is a symbolic link; keyward follows no links in homes. Add the keys it points to with `keyward add`",
        at.display()
    )
}

fn open_error(at: &Path, e: Errno) -> String {
    match e {
        Errno::EACCES => format!("{} is not readable by its user", at.display()),
        e => format!("cannot open {}: {}", at.display(), e.desc()),
    }
}
