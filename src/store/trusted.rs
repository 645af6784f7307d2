//! Opening root-owned files without trusting any path we looked at earlier.
//!
//! Every component from `/` down is opened relative to its parent with
//! `O_NOFOLLOW`, and the *opened descriptor* is checked with `fstat`: it must be
//! owned by root and not group- or world-writable (the rule sshd applies to an
//! AuthorizedKeysCommand's own path). Nothing is followed, so a swapped symlink
//! or a renamed directory can never lead us out of the checked tree.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat};

use crate::log;

/// What an opened, checked path turned out to be.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    File,
    Dir,
}

/// A descriptor that passed the ownership and mode checks.
#[derive(Debug)]
pub struct Trusted {
    pub fd: OwnedFd,
    pub path: PathBuf,
    pub kind: Kind,
    pub size: u64,
    pub id: FileId,
}

/// What changes whenever a file's contents may have changed: a new inode
/// (rename into place), a new size, or new mtime/ctime (ctime cannot be set
/// from user space).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl FileId {
    fn of(st: &FileStat) -> FileId {
        FileId {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size as u64,
            mtime: (st.st_mtime, st.st_mtime_nsec),
            ctime: (st.st_ctime, st.st_ctime_nsec),
        }
    }
}

impl Trusted {
    /// The same checked file on a second descriptor.
    pub fn try_clone(&self) -> Result<Trusted, UnsafePath> {
        let fd = self.fd.try_clone().map_err(|e| UnsafePath::Io {
            path: self.path.clone(),
            err: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        })?;
        Ok(Trusted {
            fd,
            path: self.path.clone(),
            kind: self.kind,
            size: self.size,
            id: self.id,
        })
    }

    pub fn expect_dir(&self) -> Result<(), UnsafePath> {
        match self.kind {
            Kind::Dir => Ok(()),
            Kind::File => Err(UnsafePath::NotRegular {
                path: self.path.clone(),
                what: "file where a directory belongs",
            }),
        }
    }

    pub fn expect_file(&self) -> Result<(), UnsafePath> {
        match self.kind {
            Kind::File => Ok(()),
            Kind::Dir => Err(UnsafePath::NotRegular {
                path: self.path.clone(),
                what: "directory where a file belongs",
            }),
        }
    }
}

#[derive(Debug)]
pub enum UnsafePath {
    /// The path (or one of its directories) does not exist.
    NotFound(PathBuf),
    Symlink(PathBuf),
    /// Owned by someone other than root, or writable by group or others.
    BadOwnerOrMode {
        path: PathBuf,
        uid: u32,
        mode: u32,
    },
    /// A FIFO, socket or device where a file or directory belongs.
    NotRegular {
        path: PathBuf,
        what: &'static str,
    },
    /// `..`, `.` or a relative path: the store location must be spelled out.
    NotAbsolute(PathBuf),
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    Io {
        path: PathBuf,
        err: Errno,
    },
}

impl UnsafePath {
    /// I/O errors are not evidence of tampering; everything else is.
    pub fn is_io(&self) -> bool {
        matches!(self, UnsafePath::Io { .. })
    }
}

impl fmt::Display for UnsafePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnsafePath::NotFound(p) => write!(f, "{} does not exist", log::path(p)),
            UnsafePath::Symlink(p) => write!(
                f,
                "{} is a symbolic link; keyward follows none: replace it with the real file or directory",
                log::path(p)
            ),
            // A root-owned directory with the sticky or setgid bit (/tmp,
            // /var/tmp, /var/mail) is writable by others by design: never
            // advise changing a system directory.
            UnsafePath::BadOwnerOrMode { path, uid: 0, mode }
                if mode & 0o170000 == 0o040000 && mode & 0o3000 != 0 =>
            {
                write!(
                    f,
                    "{} is a shared directory (mode {:04o}, owned by root) that others may write by \
                     design; keyward trusts nothing under it: move the file into a directory only \
                     root can write, such as /etc/keyward",
                    log::path(path),
                    mode & 0o7777
                )
            }
            UnsafePath::BadOwnerOrMode { path, uid, mode } => {
                let p = log::path(path);
                let mut fixes = Vec::new();
                if *uid != 0 {
                    fixes.push(format!("chown root:root {p}"));
                }
                if let Some(bits) = write_bits(*mode) {
                    fixes.push(format!("chmod {bits} {p}"));
                }
                write!(
                    f,
                    "{p} is owned by {} with mode {:04o}{}; it must be owned by root and writable by nobody else; fix: {}",
                    owner_name(*uid),
                    mode & 0o7777,
                    writable_note(*mode),
                    fixes.join(" && ")
                )
            }
            UnsafePath::NotRegular { path, what } => write!(
                f,
                "{} is a {what}, not a regular file or directory; remove it",
                log::path(path)
            ),
            UnsafePath::NotAbsolute(p) => write!(
                f,
                "{} is not an absolute path without '.' or '..' components",
                log::path(p)
            ),
            UnsafePath::TooLarge { path, size, limit } => write!(
                f,
                "{} is {size} bytes, over the limit of {limit} bytes; split it or remove what is not a key",
                log::path(path)
            ),
            UnsafePath::Io { path, err } => {
                write!(f, "cannot read {}: {}", log::path(path), err.desc())
            }
        }
    }
}

/// ` (group- and world-writable)` and the like, for a mode that fails the rule.
pub fn writable_note(mode: u32) -> &'static str {
    match (mode & 0o020 != 0, mode & 0o002 != 0) {
        (true, true) => " (group- and world-writable)",
        (true, false) => " (group-writable)",
        (false, true) => " (world-writable)",
        (false, false) => "",
    }
}

/// The `chmod` argument that removes exactly the offending write bits.
pub fn write_bits(mode: u32) -> Option<&'static str> {
    match (mode & 0o020 != 0, mode & 0o002 != 0) {
        (true, true) => Some("go-w"),
        (true, false) => Some("g-w"),
        (false, true) => Some("o-w"),
        (false, false) => None,
    }
}

/// `alice (uid 1000)`, or just the uid when NSS has no name for it.
pub fn owner_name(uid: u32) -> String {
    match uzers::get_user_by_uid(uid) {
        Some(u) => format!(
            "{} (uid {uid})",
            log::escape(std::os::unix::ffi::OsStrExt::as_bytes(u.name()))
        ),
        None => format!("uid {uid}"),
    }
}

fn file_type_name(st: &FileStat) -> &'static str {
    match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFREG => "regular file",
        SFlag::S_IFDIR => "directory",
        SFlag::S_IFLNK => "symbolic link",
        SFlag::S_IFIFO => "FIFO",
        SFlag::S_IFSOCK => "socket",
        SFlag::S_IFCHR => "character device",
        SFlag::S_IFBLK => "block device",
        _ => "special file",
    }
}

fn check_owner_mode(st: &FileStat, path: &Path) -> Result<(), UnsafePath> {
    if st.st_uid != 0 || st.st_mode & 0o022 != 0 {
        return Err(UnsafePath::BadOwnerOrMode {
            path: path.to_path_buf(),
            uid: st.st_uid,
            mode: st.st_mode,
        });
    }
    Ok(())
}

fn io(path: &Path, err: Errno) -> UnsafePath {
    match err {
        Errno::ENOENT => UnsafePath::NotFound(path.to_path_buf()),
        Errno::ELOOP => UnsafePath::Symlink(path.to_path_buf()),
        _ => UnsafePath::Io {
            path: path.to_path_buf(),
            err,
        },
    }
}

/// Opens `name` relative to the trusted directory `dir` (whose full path is
/// `dir_path`) and checks the descriptor. `name` must be a single component.
pub fn open_at(dir: &Trusted, name: &std::ffi::OsStr) -> Result<Trusted, UnsafePath> {
    let path = dir.path.join(name);
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let fd = openat(dir.fd.as_fd(), name, flags, Mode::empty()).map_err(|e| io(&path, e))?;
    checked(fd, path)
}

fn checked(fd: OwnedFd, path: PathBuf) -> Result<Trusted, UnsafePath> {
    let st = fstat(&fd).map_err(|e| io(&path, e))?;
    let kind = match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFREG => Kind::File,
        SFlag::S_IFDIR => Kind::Dir,
        // O_PATH|O_NOFOLLOW would hand us the link itself; say what it is.
        SFlag::S_IFLNK => return Err(UnsafePath::Symlink(path)),
        _ => {
            return Err(UnsafePath::NotRegular {
                path,
                what: file_type_name(&st),
            });
        }
    };
    check_owner_mode(&st, &path)?;
    Ok(Trusted {
        fd,
        path,
        kind,
        size: st.st_size as u64,
        id: FileId::of(&st),
    })
}

/// Opens an absolute path, checking `/` and every directory on the way.
pub fn open(path: &Path) -> Result<Trusted, UnsafePath> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(n) => parts.push(n),
            _ => return Err(UnsafePath::NotAbsolute(path.to_path_buf())),
        }
    }
    if !path.has_root() {
        return Err(UnsafePath::NotAbsolute(path.to_path_buf()));
    }
    let root = Path::new("/");
    let fd = nix::fcntl::open(
        root,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io(root, e))?;
    let mut cur = checked(fd, root.to_path_buf())?;
    let Some((last, dirs)) = parts.split_last() else {
        return Ok(cur);
    };
    for name in dirs {
        // Directories on the way are opened O_PATH: the unprivileged command
        // user needs search permission only, as sshd's own walk does.
        let path = cur.path.join(name);
        let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(cur.fd.as_fd(), *name, flags, Mode::empty()).map_err(|e| io(&path, e))?;
        cur = checked(fd, path)?;
        cur.expect_dir()?;
    }
    open_at(&cur, last)
}

/// Reads a trusted regular file, refusing more than `limit` bytes in total.
pub fn read_all(t: &Trusted, limit: u64) -> Result<Vec<u8>, UnsafePath> {
    if t.size > limit {
        return Err(UnsafePath::TooLarge {
            path: t.path.clone(),
            size: t.size,
            limit,
        });
    }
    let fd = t.try_clone()?.fd;
    // One byte more than the file, so that read_to_end sees EOF without
    // growing (and copying) a buffer of the whole file.
    let mut buf = Vec::with_capacity(t.size as usize + 1);
    // The file may grow after fstat; never read past the limit regardless.
    File::from(fd)
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| UnsafePath::Io {
            path: t.path.clone(),
            err: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        })?;
    if buf.len() as u64 > limit {
        return Err(UnsafePath::TooLarge {
            path: t.path.clone(),
            size: buf.len() as u64,
            limit,
        });
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_dotdot_paths_are_refused_before_any_io() {
        assert!(matches!(
            open(Path::new("etc/keyward")),
            Err(UnsafePath::NotAbsolute(_))
        ));
        assert!(matches!(
            open(Path::new("/etc/../etc/keyward")),
            Err(UnsafePath::NotAbsolute(_))
        ));
    }

    #[test]
    fn world_writable_tmp_is_refused_and_left_alone() {
        // /tmp is 1777 on every Linux system this runs on: the fix is to
        // move the file, never to change /tmp.
        let err = open(Path::new("/tmp/keyward.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, UnsafePath::BadOwnerOrMode { .. }), "{msg}");
        assert!(
            msg.contains("move the file into a directory only root can write"),
            "{msg}"
        );
        assert!(!msg.contains("chmod"), "{msg}");
        // A directory an admin opened by mistake still gets the chmod.
        let plain = UnsafePath::BadOwnerOrMode {
            path: "/srv/keys".into(),
            uid: 0,
            mode: 0o40777,
        };
        assert!(
            plain.to_string().contains("chmod go-w /srv/keys"),
            "{plain}"
        );
    }

    #[test]
    fn fix_names_exactly_the_offending_bits() {
        assert_eq!(write_bits(0o40777), Some("go-w"));
        assert_eq!(write_bits(0o40775), Some("g-w"));
        assert_eq!(write_bits(0o40757), Some("o-w"));
        assert_eq!(write_bits(0o40755), None);
    }

    #[test]
    fn missing_path_is_not_found() {
        assert!(matches!(
            open(Path::new("/nonexistent-keyward-test/x")),
            Err(UnsafePath::NotFound(_))
        ));
    }
}
