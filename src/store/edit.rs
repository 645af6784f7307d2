//! Changing the store: one writer at a time, every file replaced whole.
//!
//! A writer holds `flock` on `<store>/.keyward.lock` from its first read to
//! its last rename, so two `keyward add`s never lose each other's lines. New
//! contents are written to `<store>/.keyward.tmp/`, synced, and renamed over
//! the old file, so `keys` (which takes no lock) sees the old file or the new
//! one, never half of one, and a crash leaves only a stray file in the temp
//! directory, which the next writer removes.

use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag, openat, renameat};
use nix::sys::stat::{Mode, fchmod, fstat, mkdirat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fsync, unlinkat};

use crate::log;
use crate::store::index;
use crate::store::trusted::{self, Kind, Trusted, UnsafePath};
use crate::store::{self, Source, UserName};

const LOCK_NAME: &str = ".keyward.lock";
pub const TMP_DIR: &str = ".keyward.tmp";
/// The fragment `add` appends to when a user's entry is a directory.
pub const ADDED_FRAGMENT: &str = "keyward";
/// How long a writer waits for another one to finish.
const LOCK_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub enum EditError {
    NotRoot,
    Unsafe(UnsafePath),
    Io { path: String, err: Errno },
    Busy(String),
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditError::NotRoot => write!(
                f,
                "changing the store needs root (the store must stay root-owned); run with sudo"
            ),
            EditError::Unsafe(e) => write!(f, "store refused: {e}"),
            EditError::Io { path, err } => write!(f, "cannot write {path}: {}", err.desc()),
            EditError::Busy(lock) => write!(
                f,
                "another keyward is changing the store (lock {lock} held for {}s); try again",
                LOCK_WAIT.as_secs()
            ),
        }
    }
}

impl From<UnsafePath> for EditError {
    fn from(e: UnsafePath) -> Self {
        EditError::Unsafe(e)
    }
}

fn io_err(path: &Path) -> impl Fn(Errno) -> EditError + '_ {
    move |err| EditError::Io {
        path: log::path(path),
        err,
    }
}

/// Where a user's keys live, as far as a writer is concerned.
pub enum Entry {
    Missing,
    File(Trusted),
    Dir(Trusted),
}

/// The store, locked for writing.
pub struct Writer {
    root: Trusted,
    users: Trusted,
    tmp: Trusted,
    _lock: Flock<File>,
}

impl Writer {
    /// Locks the store at `store` and makes `users/` if it is missing.
    pub fn open(store: &Path) -> Result<Writer, EditError> {
        if !nix::unistd::geteuid().is_root() {
            return Err(EditError::NotRoot);
        }
        let root = trusted::open(store)?;
        root.expect_dir()?;
        let lock = lock(&root)?;
        let users = ensure_dir(&root, "users", 0o755)?;
        let tmp = ensure_dir(&root, TMP_DIR, 0o700)?;
        // We hold the lock: whatever is in the temp directory is a leftover
        // of a writer that died before its rename.
        for name in store::list_dir(&tmp, true)? {
            let path = tmp.path.join(&name);
            unlinkat(tmp.fd.as_fd(), name.as_os_str(), UnlinkatFlags::NoRemoveDir)
                .map_err(io_err(&path))?;
        }
        Ok(Writer {
            root,
            users,
            tmp,
            _lock: lock,
        })
    }

    /// Every valid user name in `users/`.
    pub fn user_names(&self) -> Result<Vec<UserName>, EditError> {
        Ok(store::list_dir(&self.users, true)?
            .iter()
            .filter_map(|n| UserName::new(n).ok())
            .collect())
    }

    pub fn entry(&self, user: &UserName) -> Result<Entry, EditError> {
        Ok(match store::open_entry(&self.users, user)? {
            None => Entry::Missing,
            Some(t) => match t.kind {
                Kind::File => Entry::File(t),
                Kind::Dir => Entry::Dir(t),
            },
        })
    }

    /// Every file of the user's entry, read under the lock.
    pub fn read(&self, entry: &Entry) -> Result<Vec<Source>, EditError> {
        Ok(match entry {
            Entry::Missing => Vec::new(),
            Entry::File(t) | Entry::Dir(t) => store::read_entry(t)?,
        })
    }

    /// Replaces one file that `read` returned for `entry`.
    pub fn rewrite(&self, entry: &Entry, source: &Source, data: &[u8]) -> Result<(), EditError> {
        let dir = match entry {
            Entry::Dir(d) => d,
            Entry::File(_) | Entry::Missing => &self.users,
        };
        let name = source.path.file_name().ok_or_else(|| EditError::Io {
            path: log::path(&source.path),
            err: Errno::EINVAL,
        })?;
        self.replace(dir, name, data)
    }

    /// Appends `lines` (each ending in `\n`) to the user's entry: the file
    /// itself, or the `keyward` fragment of a directory. Existing bytes are
    /// kept exactly; a missing final newline is supplied.
    pub fn append(&self, user: &UserName, lines: &[u8]) -> Result<String, EditError> {
        let (dir, name, old) = match self.entry(user)? {
            Entry::Missing => (&self.users, user.as_os_str().to_owned(), Vec::new()),
            Entry::File(t) => {
                let old = trusted::read_all(&t, store::MAX_USER_BYTES)?;
                (&self.users, user.as_os_str().to_owned(), old)
            }
            Entry::Dir(d) => {
                let name = OsStr::new(ADDED_FRAGMENT).to_owned();
                let old = match trusted::open_at(&d, &name) {
                    Ok(f) => {
                        f.expect_file()?;
                        trusted::read_all(&f, store::MAX_USER_BYTES)?
                    }
                    Err(UnsafePath::NotFound(_)) => Vec::new(),
                    Err(e) => return Err(e.into()),
                };
                let written = self.write_appended(&d, &name, old, lines)?;
                self.reindex(user)?;
                return Ok(written);
            }
        };
        let written = self.write_appended(dir, &name, old, lines)?;
        self.reindex(user)?;
        Ok(written)
    }

    fn write_appended(
        &self,
        dir: &Trusted,
        name: &OsStr,
        mut data: Vec<u8>,
        lines: &[u8],
    ) -> Result<String, EditError> {
        if !data.is_empty() && !data.ends_with(b"\n") {
            data.push(b'\n');
        }
        data.extend_from_slice(lines);
        self.replace(dir, name, &data)?;
        Ok(log::path(&dir.path.join(name)))
    }

    /// Rebuilds the user's fingerprint index from the files as they are
    /// now, or removes it when the user's files are too small to need one.
    /// Returns whether an index was written.
    pub fn reindex(&self, user: &UserName) -> Result<bool, EditError> {
        let sources = self.read(&self.entry(user)?)?;
        let total: u64 = sources.iter().map(|s| s.data.len() as u64).sum();
        if total < index::MIN_BYTES {
            if let Some(dir) = store::open_at_if_present(&self.root, OsStr::new(index::DIR))? {
                let path = dir.path.join(user.as_os_str());
                match unlinkat(dir.fd.as_fd(), user.as_os_str(), UnlinkatFlags::NoRemoveDir) {
                    Ok(()) | Err(Errno::ENOENT) => {}
                    Err(e) => return Err(io_err(&path)(e)),
                }
            }
            return Ok(false);
        }
        let dir = ensure_dir(&self.root, index::DIR, 0o755)?;
        self.replace(&dir, user.as_os_str(), &index::build(&sources))?;
        Ok(true)
    }

    /// Replaces `dir/name` with `data`: root-owned, mode 0644, synced.
    pub fn replace(&self, dir: &Trusted, name: &OsStr, data: &[u8]) -> Result<(), EditError> {
        let target = dir.path.join(name);
        let tmp_name = format!("{}.{}", std::process::id(), unique());
        let tmp_path = self.tmp.path.join(&tmp_name);
        let err = io_err(&tmp_path);
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(
            self.tmp.fd.as_fd(),
            tmp_name.as_str(),
            flags,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(&err)?;
        let mut file = File::from(fd);
        file.write_all(data)
            .map_err(|e| err(Errno::from_raw(e.raw_os_error().unwrap_or(0))))?;
        // Explicit owner and mode: neither the umask nor sudo's group may
        // decide what sshd's command user can read.
        fchown(&file, Some(Uid::from_raw(0)), Some(Gid::from_raw(0))).map_err(&err)?;
        fchmod(file.as_fd(), Mode::from_bits_truncate(0o644)).map_err(&err)?;
        fsync(file.as_fd()).map_err(&err)?;
        drop(file);
        crash_point();
        renameat(self.tmp.fd.as_fd(), tmp_name.as_str(), dir.fd.as_fd(), name)
            .map_err(io_err(&target))?;
        fsync(dir.fd.as_fd()).map_err(io_err(&dir.path))?;
        Ok(())
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Debug builds only: `KEYWARD_TEST_CRASH=before-rename` aborts between the
/// synced temp file and the rename, so tests can show the store survives.
fn crash_point() {
    #[cfg(debug_assertions)]
    if std::env::var_os("KEYWARD_TEST_CRASH").is_some_and(|v| v == "before-rename") {
        std::process::abort();
    }
}

fn lock(root: &Trusted) -> Result<Flock<File>, EditError> {
    let path = root.path.join(LOCK_NAME);
    let flags = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(
        root.fd.as_fd(),
        LOCK_NAME,
        flags,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(|e| match e {
        Errno::ELOOP => EditError::Unsafe(UnsafePath::Symlink(path.clone())),
        e => io_err(&path)(e),
    })?;
    let st = fstat(fd.as_fd()).map_err(io_err(&path))?;
    if st.st_mode & nix::libc::S_IFMT != nix::libc::S_IFREG {
        return Err(EditError::Unsafe(UnsafePath::NotRegular {
            path,
            what: "non-regular file where the lock file belongs",
        }));
    }
    let mut file = File::from(fd);
    let start = Instant::now();
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => return Ok(l),
            Err((f, Errno::EWOULDBLOCK)) if start.elapsed() < LOCK_WAIT => {
                file = f;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err((_, Errno::EWOULDBLOCK)) => return Err(EditError::Busy(log::path(&path))),
            Err((_, e)) => return Err(io_err(&path)(e)),
        }
    }
}

/// Opens `root/name` as a trusted directory, creating it with `mode` first
/// when it is missing.
fn ensure_dir(root: &Trusted, name: &str, mode: u32) -> Result<Trusted, EditError> {
    match trusted::open_at(root, OsStr::new(name)) {
        Ok(d) => {
            d.expect_dir()?;
            return Ok(d);
        }
        Err(UnsafePath::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let path = root.path.join(name);
    match mkdirat(root.fd.as_fd(), name, Mode::from_bits_truncate(mode)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(io_err(&path)(e)),
    }
    let d = trusted::open_at(root, OsStr::new(name))?;
    d.expect_dir()?;
    fchmod(d.fd.as_fd(), Mode::from_bits_truncate(mode)).map_err(io_err(&path))?;
    fsync(root.fd.as_fd()).map_err(io_err(&root.path))?;
    Ok(d)
}
