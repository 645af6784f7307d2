//! What a set of authorized_keys files holds, line by line: the admin
//! commands' view of keys (type, size, fingerprint, expiry, where it is).

use std::path::{Path, PathBuf};

use crate::log;
use crate::openssh::authorized_keys::{self, KeyLine};
use crate::openssh::fingerprint::Fingerprint;
use crate::store::Source;
use serde::Serialize;

/// One valid key line.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    #[serde(rename = "type")]
    pub kind: String,
    pub bits: Option<u32>,
    pub fingerprint: String,
    pub comment: String,
    pub options: String,
    pub cert_authority: bool,
    pub source: String,
    pub line: usize,
    /// `expiry-time` lies in the past: sshd refuses the key.
    pub expired: bool,
    #[serde(skip)]
    pub blob: Vec<u8>,
    #[serde(skip)]
    pub path: PathBuf,
}

impl Record {
    /// A key that can log someone in: not a CA line, not past its expiry.
    pub fn usable(&self) -> bool {
        !self.cert_authority && !self.expired
    }
}

/// A line sshd would skip.
#[derive(Debug, Clone, Serialize)]
pub struct Invalid {
    pub source: String,
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Keys {
    pub records: Vec<Record>,
    pub invalid: Vec<Invalid>,
}

impl Keys {
    /// The first record with the same key blob, for duplicate checks.
    pub fn find_blob(&self, blob: &[u8]) -> Option<&Record> {
        self.records.iter().find(|r| r.blob == blob)
    }
}

/// The clock `expiry-time` is compared with, in seconds since the epoch.
pub struct Now(pub u64);

impl Now {
    pub fn system() -> Now {
        Now(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()))
    }

    /// sshd's test (`auth_authorise_keyopts`): the earliest `expiry-time`
    /// lies in the past.
    pub fn expired(&self, valid_before: Option<u64>) -> bool {
        valid_before.is_some_and(|t| self.0 > 0 && t < self.0)
    }
}

/// Reads every line of `sources`.
pub fn scan(sources: &[Source], now: &Now) -> Keys {
    let mut keys = Keys::default();
    for source in sources {
        scan_one(&source.path, &source.data, now, &mut keys);
    }
    keys
}

pub fn scan_one(path: &Path, data: &[u8], now: &Now, keys: &mut Keys) {
    for (i, raw) in data.split(|&b| b == b'\n').enumerate() {
        match authorized_keys::parse_line(raw) {
            Ok(None) => {}
            Ok(Some(line)) => keys.records.push(record(&line, path, i + 1, now)),
            Err(e) => keys.invalid.push(Invalid {
                source: log::path(path),
                line: i + 1,
                reason: e.to_string(),
            }),
        }
    }
}

pub fn record(line: &KeyLine, path: &Path, number: usize, now: &Now) -> Record {
    Record {
        kind: line.kind.name().to_string(),
        bits: Some(line.bits),
        fingerprint: Fingerprint::of_sha256(&line.blob).to_string(),
        comment: String::from_utf8_lossy(line.comment).trim_end().to_string(),
        options: String::from_utf8_lossy(line.options_text).into_owned(),
        cert_authority: line.options.cert_authority,
        source: log::path(path),
        line: number,
        expired: now.expired(line.options.valid_before),
        blob: line.blob.clone(),
        path: path.to_path_buf(),
    }
}

/// Whether `line` is a valid key line for exactly this key blob.
pub fn line_has_blob(line: &[u8], blob: &[u8]) -> bool {
    authorized_keys::parse_line(line)
        .ok()
        .flatten()
        .is_some_and(|k| k.blob == blob)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Now {
        // 2026-11-29 11:00:00 UTC.
        Now(1_795_950_000)
    }

    #[test]
    fn expiry_is_sshds_comparison() {
        let n = now();
        assert!(n.expired(Some(1_795_949_999)));
        assert!(!n.expired(Some(1_795_950_000)));
        assert!(!n.expired(None));
        assert!(!Now(0).expired(Some(1)));
    }

    #[test]
    fn records_carry_what_list_shows() {
        let text = b"# c\nexpiry-time=\"20200101\",restrict ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH0N4saguHZjm5JJuuLTp/fxY41ZKz8LH/Mtp58jMGCe  alice@laptop  \nbogus\n";
        let mut keys = Keys::default();
        scan_one(Path::new("/s/alice"), text, &now(), &mut keys);
        let r = &keys.records[0];
        assert_eq!(r.kind, "ssh-ed25519");
        assert_eq!(r.bits, Some(256));
        assert_eq!(
            r.fingerprint,
            "SHA256:XRWtJIs5DWA/7+yjkGtxNm+ex7pm/L1fWlsM6gi8aAs"
        );
        assert_eq!(r.comment, "alice@laptop");
        assert_eq!(r.options, "expiry-time=\"20200101\",restrict");
        assert_eq!((r.source.as_str(), r.line), ("/s/alice", 2));
        assert!(r.expired);
        assert_eq!(keys.invalid.len(), 1);
        assert_eq!(keys.invalid[0].line, 3);
    }
}
