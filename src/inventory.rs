//! What a set of authorized_keys files holds, line by line: the admin
//! commands' view of keys (type, size, fingerprint, expiry, where it is).

use std::path::{Path, PathBuf};

use serde::Serialize;
use ssh_key::PublicKey;
use ssh_key::public::KeyData;

use crate::authorized_keys::{self, KeyLine, mpint_bits};
use crate::fingerprint::Fingerprint;
use crate::log;
use crate::store::Source;

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

/// "Now" as the digit strings `expiry-time` compares against: sshd reads
/// the value as local time unless it ends in `Z` or `UTC`.
pub struct Now {
    local: String,
    utc: String,
}

impl Now {
    pub fn system() -> Now {
        const FORMAT: &str = "%Y%m%d%H%M%S";
        Now {
            local: chrono::Local::now().format(FORMAT).to_string(),
            utc: chrono::Utc::now().format(FORMAT).to_string(),
        }
    }

    /// True when any of the (already validated) values lies in the past;
    /// sshd honours the earliest one.
    pub fn expired(&self, values: &[Vec<u8>]) -> bool {
        values.iter().any(|v| {
            let (digits, utc) = match v.len() {
                8 | 12 | 14 => (&v[..], false),
                n if v.ends_with(b"Z") || v.ends_with(b"z") => (&v[..n - 1], true),
                n => (&v[..n - 3], true),
            };
            let mut full = digits.to_vec();
            full.resize(14, b'0');
            let now = if utc { &self.utc } else { &self.local };
            full.as_slice() < now.as_bytes()
        })
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
        kind: line.label.to_string(),
        bits: bits(&line.blob),
        fingerprint: Fingerprint::of_sha256(&line.blob).to_string(),
        comment: String::from_utf8_lossy(line.comment).trim_end().to_string(),
        options: String::from_utf8_lossy(line.options_text).into_owned(),
        cert_authority: line.options.cert_authority,
        source: log::path(path),
        line: number,
        expired: now.expired(&line.options.expiry_times),
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

/// The key size as `ssh-keygen -l` prints it.
pub fn bits(blob: &[u8]) -> Option<u32> {
    let key = PublicKey::from_bytes(blob).ok()?;
    Some(match key.key_data() {
        KeyData::Rsa(rsa) => mpint_bits(rsa.n.as_positive_bytes()?),
        KeyData::Dsa(dsa) => mpint_bits(dsa.p.as_positive_bytes()?),
        KeyData::Ecdsa(ec) => match ec.curve() {
            ssh_key::EcdsaCurve::NistP256 => 256,
            ssh_key::EcdsaCurve::NistP384 => 384,
            ssh_key::EcdsaCurve::NistP521 => 521,
        },
        KeyData::Ed25519(_) | KeyData::SkEd25519(_) | KeyData::SkEcdsaSha2NistP256(_) => 256,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Now {
        Now {
            local: "20261129120000".into(),
            utc: "20261129110000".into(),
        }
    }

    #[test]
    fn expiry_compares_in_local_time_unless_utc() {
        let n = now();
        assert!(n.expired(&[b"20261128".to_vec()]));
        assert!(!n.expired(&[b"20261130".to_vec()]));
        assert!(n.expired(&[b"202611291159".to_vec()]));
        assert!(!n.expired(&[b"20261129120001".to_vec()]));
        // 11:30 UTC is after 11:00 UTC, though before 12:00 local.
        assert!(!n.expired(&[b"202611291130Z".to_vec()]));
        assert!(n.expired(&[b"202611291030UTC".to_vec()]));
        // The earliest value decides.
        assert!(n.expired(&[b"20301231".to_vec(), b"20200101".to_vec()]));
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
