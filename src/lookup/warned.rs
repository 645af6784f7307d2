//! When keyward last warned about a user's home: one record per user in the
//! state directory (`[home_check] state`), so that an unsafe home is heard
//! once an interval, not once for every key of every login.
//!
//! Small state kept the way sudo keeps its timestamps: `setup` (root)
//! makes the directory, owned by the command user and mode 0700, under a
//! root-owned parent; the directory and each record are opened without
//! following links and checked on the descriptor, and a record is a magic
//! word and a time. Anything else (no directory, a foreign owner, a damaged
//! or future record, an I/O error) means "warn". Nothing here changes which
//! keys are served or the exit status.
//!
//! What it does not guarantee: the records belong to the command user, so
//! any other process running as that user can keep a user's warning quiet
//! for as long as it keeps rewriting the record. With the account setup
//! creates (`keyward`), no other process runs as that user; with `nobody`
//! (Synology DSM, or a command user adopted by `setup --chain`) other
//! daemons do.

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, SFlag, fstat};
use nix::unistd::{ftruncate, geteuid};

use crate::store::UserName;
use crate::store::trusted;

const MAGIC: &str = "keyward-warned 1 ";
/// Larger than any record keyward writes.
const MAX_RECORD: usize = 64;

/// Whether to warn about a user now.
pub enum Due {
    /// Warned within the interval.
    Quiet,
    /// Warn; then, once syslog took the warning, `Stamp::delivered`. A
    /// warning that reached nobody (no socket yet, a full one) must not use
    /// up the user's slot.
    Warn(Stamp),
}

/// The record to stamp after a delivered warning (none when the state
/// cannot be kept: then every lookup warns).
pub struct Stamp(Option<(OwnedFd, u64)>);

impl Stamp {
    pub fn delivered(self) {
        if let Some((file, now)) = self.0 {
            let _ = write_record(&file, now);
        }
    }
}

pub fn due(dir: &Path, user: &UserName, interval: u64) -> Due {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    due_at(dir, user.as_os_str(), now, interval)
}

/// Any doubt (no directory, a foreign or damaged record) means warn.
fn due_at(dir: &Path, name: &OsStr, now: u64, interval: u64) -> Due {
    if interval == 0 {
        return Due::Warn(Stamp(None));
    }
    let Some(file) = open_record(dir, name) else {
        return Due::Warn(Stamp(None));
    };
    let mut buf = [0u8; MAX_RECORD];
    let recent = nix::sys::uio::pread(file.as_fd(), &mut buf, 0)
        .ok()
        .and_then(|n| parse_record(&buf[..n]))
        .is_some_and(|t| t <= now && now - t < interval);
    if recent {
        Due::Quiet
    } else {
        Due::Warn(Stamp(Some((file, now))))
    }
}

fn write_record(file: &OwnedFd, now: u64) -> Option<()> {
    let stamp = record(now);
    let written = nix::sys::uio::pwrite(file.as_fd(), stamp.as_bytes(), 0).ok()?;
    (written == stamp.len()).then_some(())?;
    ftruncate(file, stamp.len() as i64).ok()
}

/// A record as written: the magic word, the time, a newline.
pub fn record(time: u64) -> String {
    format!("{MAGIC}{time}\n")
}

/// The time a record holds; `None` for anything `record` did not write
/// (a `+`, leading zeros, blanks, a second line).
pub fn parse_record(bytes: &[u8]) -> Option<u64> {
    let digits = bytes.strip_prefix(MAGIC.as_bytes())?.strip_suffix(b"\n")?;
    let canonical = !digits.is_empty()
        && digits.iter().all(u8::is_ascii_digit)
        && (digits == b"0" || digits[0] != b'0');
    canonical
        .then(|| std::str::from_utf8(digits).ok()?.parse().ok())
        .flatten()
}

/// The user's record, created if missing, after checking the directory
/// (ours, closed to everyone else) and the record (a plain file of ours).
fn open_record(dir: &Path, name: &OsStr) -> Option<OwnedFd> {
    let me = geteuid().as_raw();
    let parent = trusted::open(dir.parent()?).ok()?;
    parent.expect_dir().ok()?;
    let d = openat(
        parent.fd.as_fd(),
        dir.file_name()?,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let st = fstat(d.as_fd()).ok()?;
    if st.st_uid != me || st.st_mode & 0o077 != 0 {
        return None;
    }
    let f = openat(
        d.as_fd(),
        name,
        OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .ok()?;
    let st = fstat(f.as_fd()).ok()?;
    let regular = st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFREG.bits();
    (regular && st.st_uid == me && st.st_nlink == 1 && st.st_size as usize <= MAX_RECORD)
        .then_some(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A state directory of our own under a root-owned 0755 parent, as
    /// setup makes it (the unit tests run as root).
    fn state(name: &str) -> std::path::PathBuf {
        let parent = Path::new("/var/lib/keyward-test/unit");
        std::fs::create_dir_all(parent).unwrap();
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755)).unwrap();
        let dir = parent.join(format!("warned-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        dir
    }

    /// What a lookup sees, with a delivered warning: Some(true) warned
    /// (and stamped), Some(false) quiet, None warned without a record.
    fn check_and_stamp(dir: &Path, name: &OsStr, now: u64, interval: u64) -> Option<bool> {
        match due_at(dir, name, now, interval) {
            Due::Quiet => Some(false),
            Due::Warn(Stamp(None)) => None,
            Due::Warn(stamp) => {
                stamp.delivered();
                Some(true)
            }
        }
    }

    #[test]
    fn a_warning_nobody_heard_keeps_the_slot() {
        if !geteuid().is_root() {
            return;
        }
        let dir = state("slot");
        let carol = OsStr::new("carol");
        assert!(matches!(due_at(&dir, carol, 100, 3600), Due::Warn(_)));
        // Not delivered: the next lookup warns again.
        assert!(matches!(due_at(&dir, carol, 101, 3600), Due::Warn(_)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn once_per_interval_and_any_doubt_means_warn() {
        if !geteuid().is_root() {
            return; // tests/run.sh runs as root; the chain must be root's.
        }
        let dir = state("interval");
        let alice = OsStr::new("alice");
        assert_eq!(check_and_stamp(&dir, alice, 1000, 3600), Some(true));
        assert_eq!(check_and_stamp(&dir, alice, 1001, 3600), Some(false));
        assert_eq!(check_and_stamp(&dir, alice, 4599, 3600), Some(false));
        assert_eq!(check_and_stamp(&dir, alice, 4600, 3600), Some(true));
        // A record from the future, or damaged, is not trusted.
        assert_eq!(check_and_stamp(&dir, alice, 10, 3600), Some(true));
        std::fs::write(dir.join("alice"), "garbage").unwrap();
        assert_eq!(check_and_stamp(&dir, alice, 20, 3600), Some(true));
        assert_eq!(check_and_stamp(&dir, alice, 21, 3600), Some(false));
        // A link where a record belongs, or a directory open to others.
        std::os::unix::fs::symlink("/etc/passwd", dir.join("bob")).unwrap();
        assert_eq!(check_and_stamp(&dir, OsStr::new("bob"), 20, 3600), None);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o733)).unwrap();
        assert_eq!(check_and_stamp(&dir, alice, 22, 3600), None);
        // No directory at all.
        assert_eq!(
            check_and_stamp(Path::new("/nonexistent/warned"), alice, 1, 3600),
            None
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
