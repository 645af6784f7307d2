//! What sshd's second argument names: the offered key's fingerprint (`%f`)
//! or, better, the key itself (`%k`: base64 of the key blob, or of the
//! certificate for a certificate login). The two are told apart by their
//! form: a fingerprint starts with `SHA256:` or `MD5:`, which base64 never
//! does (`:` is not in its alphabet).
//!
//! With the key itself, a lookup compares key fields as bytes and hashes
//! nothing, and a certificate selects only the `cert-authority` lines of the
//! CA that signed it, which are the lines sshd can use. The offered blob is
//! read as the recorded sshd reads it (`public_key::read_certificate`), so
//! whatever sshd passed keyward is read, whatever its validity dates or the
//! bytes of its key ID.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::openssh;
use crate::openssh::authorized_keys::{self, KeyLine};
use crate::openssh::fingerprint::{BadFingerprint, Fingerprint};
use crate::openssh::public_key::{self, Read};

pub enum Offered {
    Fingerprint(Fingerprint),
    Key(OfferedKey),
}

pub struct OfferedKey {
    /// The key a store line must carry: the key itself, or for a
    /// certificate the signing CA's key, as sshd would write it.
    want_blob: Vec<u8>,
    /// The same, as base64: how ssh-keygen writes it in a line.
    want_b64: Vec<u8>,
    /// What the key field of a line that carries the key contains. Base64
    /// of a run of the key's own material at each of the three byte
    /// alignments: whatever encoding a line uses for the rest of the blob
    /// (a short type name, leading zeros, a trailing NUL), the material sits
    /// in it unchanged, so one of these is in its key field. For a
    /// degenerate key with too little material to tell lines apart, the
    /// whole canonical base64 instead: such a key is found only as
    /// ssh-keygen writes it, and never makes every line a candidate.
    needles: Vec<Vec<u8>>,
    pub certificate: bool,
    /// Of the plain key, as sshd's `%f` would give it.
    pub fingerprint: Fingerprint,
    /// The type the blob names, as sshd's `%t` gives it.
    pub type_name: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum BadOffered {
    Fingerprint(BadFingerprint),
    Key(String),
}

impl fmt::Display for BadOffered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadOffered::Fingerprint(e) => write!(f, "{e}"),
            BadOffered::Key(e) => write!(
                f,
                "not a key as sshd's %k gives it (base64 of a public key or certificate): {e}"
            ),
        }
    }
}

/// The shortest run of key material worth searching for: 12 bytes (16
/// base64 characters) at every alignment.
const MIN_RUN: usize = 12;

impl OfferedKey {
    /// `key` is what a line must carry (for a certificate, its CA);
    /// `fingerprint` and `type_name` describe what was offered.
    fn new(
        key: public_key::PublicKey,
        certificate: bool,
        fingerprint: Fingerprint,
        type_name: String,
    ) -> OfferedKey {
        let want_b64 = STANDARD.encode(&key.blob).into_bytes();
        let m = public_key::material(&key);
        let runs: Vec<Vec<u8>> = [0, 1, 2]
            .iter()
            .map(|&shift| {
                // 24 bytes (32 base64 characters) from `shift`: at one of
                // the three shifts the run starts on a base64 quantum of
                // the line.
                let run = &m[shift.min(m.len())..(shift + 24).min(m.len())];
                &run[..run.len() - run.len() % 3]
            })
            .take_while(|run| run.len() >= MIN_RUN)
            .map(|run| STANDARD.encode(run).into_bytes())
            .collect();
        let needles = if runs.len() == 3 {
            runs
        } else {
            vec![want_b64.clone()]
        };
        OfferedKey {
            want_b64,
            want_blob: key.blob,
            needles,
            certificate,
            fingerprint,
            type_name,
        }
    }

    /// What a store line's key field contains when it can be the one.
    pub fn needles(&self) -> &[Vec<u8>] {
        &self.needles
    }

    /// The key as base64, as ssh-keygen writes it.
    pub fn base64(&self) -> &[u8] {
        &self.want_b64
    }
}

impl Offered {
    pub fn parse(arg: &[u8]) -> Result<Offered, BadOffered> {
        if arg.starts_with(b"SHA256:") || arg.starts_with(b"MD5:") {
            return Fingerprint::parse(arg)
                .map(Offered::Fingerprint)
                .map_err(BadOffered::Fingerprint);
        }
        let bad =
            |e: &dyn fmt::Display| BadOffered::Key(crate::log::escape(e.to_string().as_bytes()));
        let blob = STANDARD.decode(arg).map_err(|e| bad(&e))?;
        let sshd = openssh::installed();
        let key = match public_key::read(&blob, sshd).map_err(|e| bad(&e))? {
            Read::Key(key) => {
                let fp = Fingerprint::of_sha256(&key.blob);
                let name = key.kind.name().to_string();
                OfferedKey::new(key, false, fp, name)
            }
            Read::Certificate => {
                let cert = public_key::read_certificate(&blob, sshd).map_err(|e| bad(&e))?;
                // sshd's %f of a certificate is its certified key's.
                let fp = Fingerprint::of_sha256(&cert.key.blob);
                OfferedKey::new(cert.ca.clone(), true, fp, cert.type_name())
            }
        };
        Ok(Offered::Key(key))
    }

    /// The offered key's fingerprint, for log lines.
    pub fn fingerprint(&self) -> &Fingerprint {
        match self {
            Offered::Fingerprint(fp) => fp,
            Offered::Key(k) => &k.fingerprint,
        }
    }

    /// A cheap pre-filter: false only when the line cannot be the one this
    /// lookup wants. Lines it passes are still parsed in full, and
    /// `selects` decides on the parsed options (`cert-authority`), never on
    /// their text.
    pub fn may_match(&self, raw: &[u8]) -> bool {
        match self {
            Offered::Fingerprint(fp) => authorized_keys::may_match(raw, fp),
            Offered::Key(k) => match authorized_keys::key_field(raw) {
                // The same key, written as ssh-keygen writes it...
                Some(field) if field == k.want_b64 => true,
                // ...or in another encoding sshd reads as the same key.
                Some(_) => authorized_keys::key_blob(raw).is_some_and(|b| b == k.want_blob),
                None => false,
            },
        }
    }

    /// Whether sshd could use this valid line for the offered key: a
    /// fingerprint selects its key and every CA line (sshd's `%f` for a
    /// certificate names the user's key, never the CA's); a plain key
    /// selects the lines of exactly that key, never a CA line; a
    /// certificate selects only the CA line of the key that signed it.
    pub fn selects(&self, line: &KeyLine) -> bool {
        match self {
            Offered::Fingerprint(_) if line.options.cert_authority => true,
            Offered::Fingerprint(fp) => fp.matches(&line.blob),
            Offered::Key(k) => {
                line.options.cert_authority == k.certificate && line.blob == k.want_blob
            }
        }
    }
}
