//! The central store: `<store>/users/<user>` is one authorized_keys file, or a
//! directory of fragments read in name order.
//!
//! Everything is opened through `trusted`, so the whole chain from `/` to each
//! fragment is root-owned and writable by nobody else, or nothing is served.
//! `index` speeds up `%f` lookups of big users, `edit` is the one way the
//! admin commands change the store, `inventory` reads it as records.

pub mod edit;
pub mod index;
pub mod inventory;
pub mod trusted;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use nix::dir::Dir;

use self::trusted::{FileId, Kind, Trusted, UnsafePath};
use crate::log;

/// The most a lookup reads for one user, all fragments together. sshd itself
/// has no limit; this one keeps a runaway file from stalling every login.
/// 64 MiB holds several hundred thousand keys.
pub const MAX_USER_BYTES: u64 = 64 * 1024 * 1024;

/// Linux's LOGIN_NAME_MAX less its NUL; no account name can be longer.
pub const MAX_NAME_BYTES: usize = 255;

/// A user name that is safe to use as one file name in `users/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserName(OsString);

#[derive(Debug, PartialEq, Eq)]
pub enum BadUserName {
    Empty,
    Dots,
    Slash,
    Nul,
    Control,
    TooLong(usize),
}

impl fmt::Display for BadUserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadUserName::Empty => write!(f, "the user name is empty"),
            BadUserName::Dots => write!(f, "the user name is \".\" or \"..\""),
            BadUserName::Slash => write!(f, "the user name contains '/'"),
            BadUserName::Nul => write!(f, "the user name contains a NUL byte"),
            BadUserName::Control => write!(f, "the user name contains control characters"),
            BadUserName::TooLong(n) => write!(
                f,
                "the user name is {n} bytes long; no account name exceeds {MAX_NAME_BYTES}"
            ),
        }
    }
}

impl UserName {
    pub fn new(raw: &OsStr) -> Result<UserName, BadUserName> {
        let b = raw.as_bytes();
        if b.is_empty() {
            return Err(BadUserName::Empty);
        }
        if b.len() > MAX_NAME_BYTES {
            return Err(BadUserName::TooLong(b.len()));
        }
        if b == b"." || b == b".." {
            return Err(BadUserName::Dots);
        }
        if b.contains(&b'/') {
            return Err(BadUserName::Slash);
        }
        if b.contains(&0) {
            return Err(BadUserName::Nul);
        }
        if b.iter().any(|&c| c < 0x20 || c == 0x7f) {
            return Err(BadUserName::Control);
        }
        Ok(UserName(raw.to_os_string()))
    }

    pub fn as_os_str(&self) -> &OsStr {
        &self.0
    }

    /// For log lines.
    pub fn display(&self) -> String {
        log::escape(self.0.as_bytes())
    }
}

/// One store file read for a user.
pub struct Source {
    pub path: PathBuf,
    /// The identity of the file as read, for the fingerprint index.
    pub id: FileId,
    pub data: Vec<u8>,
}

/// Fragments an admin's tools leave behind, never meant to be keys.
pub fn is_skipped_fragment(name: &[u8]) -> bool {
    let contains = |needle: &[u8]| name.windows(needle.len()).any(|w| w == needle);
    name.starts_with(b".")
        || name.ends_with(b"~")
        || name.ends_with(b".swp")
        || contains(b".dpkg-")
        || contains(b".rpm")
}

/// Reads every store file for `user`. A missing `users/` directory or entry
/// means no keys; a missing store root is a misconfiguration.
pub fn read_user(store: &Path, user: &UserName) -> Result<Vec<Source>, UnsafePath> {
    match open_user(store, user)? {
        Some(u) => u.entry.read_all(),
        None => Ok(Vec::new()),
    }
}

/// A user's opened entry, with the store root it was found in.
pub struct UserFiles {
    pub root: Trusted,
    pub entry: Entry,
}

/// `users/<user>`: one file, or a directory of fragments whose names are
/// listed but which are opened one at a time, when they are read. A user
/// with thousands of fragments must not run the command user out of
/// descriptors and so lock themselves out.
pub struct Entry {
    entry: Trusted,
    /// The fragments' names in read order; empty for a single file.
    names: Vec<OsString>,
}

impl Entry {
    pub fn new(entry: Trusted) -> Result<Entry, UnsafePath> {
        let names = match entry.kind {
            Kind::File => Vec::new(),
            Kind::Dir => fragment_names(&entry)?,
        };
        Ok(Entry { entry, names })
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.entry.kind, Kind::Dir)
    }

    /// How many files the entry has (an empty directory has none).
    pub fn len(&self) -> usize {
        if self.is_dir() { self.names.len() } else { 1 }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The total size, when it is known without opening anything.
    pub fn known_size(&self) -> Option<u64> {
        (!self.is_dir()).then_some(self.entry.size)
    }

    /// Opens and checks file `i`; the caller closes it before the next.
    pub fn open(&self, i: usize) -> Result<Trusted, UnsafePath> {
        if !self.is_dir() {
            return self.entry.try_clone();
        }
        let name = self
            .names
            .get(i)
            .ok_or_else(|| UnsafePath::NotFound(self.entry.path.clone()))?;
        let f = trusted::open_at(&self.entry, name)?;
        f.expect_file()?;
        Ok(f)
    }

    /// Reads each file in turn, one descriptor open at a time, at most
    /// `MAX_USER_BYTES` together.
    pub fn for_each(&self, mut f: impl FnMut(Source)) -> Result<(), UnsafePath> {
        let mut budget = MAX_USER_BYTES;
        for i in 0..self.len() {
            let t = self.open(i)?;
            let data = trusted::read_all(&t, budget)?;
            budget -= data.len() as u64;
            f(Source {
                path: t.path,
                id: t.id,
                data,
            });
        }
        Ok(())
    }

    /// Every file read, for the admin commands.
    pub fn read_all(&self) -> Result<Vec<Source>, UnsafePath> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each(|s| out.push(s))?;
        Ok(out)
    }

    /// Each file's path and identity, opened and closed one at a time.
    pub fn identities(&self) -> Result<Vec<(PathBuf, FileId)>, UnsafePath> {
        (0..self.len())
            .map(|i| self.open(i).map(|t| (t.path, t.id)))
            .collect()
    }
}

/// Opens the user's entry; `None` when the store has none.
pub fn open_user(store: &Path, user: &UserName) -> Result<Option<UserFiles>, UnsafePath> {
    let root = open_root(store)?;
    let Some(users) = open_at_if_present(&root, OsStr::new("users"))? else {
        return Ok(None);
    };
    users.expect_dir()?;
    let Some(entry) = open_entry(&users, user)? else {
        return Ok(None);
    };
    Ok(Some(UserFiles {
        root,
        entry: Entry::new(entry)?,
    }))
}

pub fn open_root(store: &Path) -> Result<Trusted, UnsafePath> {
    let root = trusted::open(store)?;
    root.expect_dir()?;
    Ok(root)
}

/// Opens `users/`, `NotFound` aside; `None` when the store has none yet.
pub fn open_users(store: &Path) -> Result<Option<Trusted>, UnsafePath> {
    let root = open_root(store)?;
    let users = open_at_if_present(&root, OsStr::new("users"))?;
    if let Some(u) = &users {
        u.expect_dir()?;
    }
    Ok(users)
}

/// `open_at`, with a missing name as `None`.
pub fn open_at_if_present(dir: &Trusted, name: &OsStr) -> Result<Option<Trusted>, UnsafePath> {
    match trusted::open_at(dir, name) {
        Ok(t) => Ok(Some(t)),
        Err(UnsafePath::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens `users/<user>`, a file or a fragment directory; `None` if absent.
pub fn open_entry(users: &Trusted, user: &UserName) -> Result<Option<Trusted>, UnsafePath> {
    open_at_if_present(users, user.as_os_str())
}

/// Reads an entry: the file itself, or its fragments in name order.
pub fn read_entry(entry: &Trusted) -> Result<Vec<Source>, UnsafePath> {
    Entry::new(entry.try_clone()?)?.read_all()
}

/// The names a directory lists, in name order, without `.`, `..` and, when
/// `all` is false, without what `is_skipped_fragment` sets aside.
pub fn fragment_names(dir: &Trusted) -> Result<Vec<OsString>, UnsafePath> {
    list_dir(dir, false)
}

pub fn list_dir(dir: &Trusted, all: bool) -> Result<Vec<OsString>, UnsafePath> {
    let io = |err| UnsafePath::Io {
        path: dir.path.clone(),
        err,
    };
    let mut d = Dir::from_fd(dir.try_clone()?.fd).map_err(io)?;
    let mut names = Vec::new();
    for entry in d.iter() {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." || (!all && is_skipped_fragment(name)) {
            continue;
        }
        names.push(OsString::from_vec(name.to_vec()));
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_user_names_are_refused() {
        let long = "a".repeat(10 * 1024);
        for (name, want) in [
            ("", BadUserName::Empty),
            (".", BadUserName::Dots),
            ("..", BadUserName::Dots),
            ("../x", BadUserName::Slash),
            ("a/b", BadUserName::Slash),
            ("a\0b", BadUserName::Nul),
            ("a\nb", BadUserName::Control),
            (long.as_str(), BadUserName::TooLong(10 * 1024)),
        ] {
            assert_eq!(UserName::new(OsStr::new(name)), Err(want), "{name:?}");
        }
    }

    #[test]
    fn odd_but_possible_names_are_accepted() {
        for name in ["-x", "--help", "alice", "a.b", "user$", ".hidden", "ü"] {
            assert!(UserName::new(OsStr::new(name)).is_ok(), "{name}");
        }
        assert!(UserName::new(OsStr::new(&"a".repeat(255))).is_ok());
    }

    #[test]
    fn editor_and_package_leftovers_are_skipped() {
        for skip in [
            ".hidden",
            "keys~",
            "keys.swp",
            "keys.dpkg-old",
            "keys.dpkg-dist",
            "keys.rpmnew",
            "keys.rpmsave",
        ] {
            assert!(is_skipped_fragment(skip.as_bytes()), "{skip}");
        }
        for keep in ["10-laptop", "keys", "work.pub"] {
            assert!(!is_skipped_fragment(keep.as_bytes()), "{keep}");
        }
    }
}
