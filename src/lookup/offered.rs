//! What sshd's second argument names: the offered key's fingerprint (`%f`)
//! or, better, the key itself (`%k`: base64 of the key blob, or of the
//! certificate for a certificate login). The two are told apart by their
//! form: a fingerprint starts with `SHA256:` or `MD5:`, which base64 never
//! does (`:` is not in its alphabet).
//!
//! With the key itself, a lookup compares key fields as bytes and hashes
//! nothing, and a certificate selects only the `cert-authority` line of the
//! CA that signed it, which is the one line sshd can use.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ssh_key::{Certificate, PublicKey};

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
    /// Base64 of a run of the key's own material at each of the three
    /// byte alignments: whatever encoding a line uses for the rest of the
    /// blob (a short type name, leading zeros, a trailing NUL), the key
    /// material sits in it unchanged, so one of these is in its key field.
    material: [Vec<u8>; 3],
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

impl OfferedKey {
    fn new(key: public_key::PublicKey, certificate: bool, fingerprint: Fingerprint) -> OfferedKey {
        let m = public_key::material(&key);
        let material = [0, 1, 2].map(|shift| {
            // 24 bytes (32 base64 characters) from `shift`: at one of the
            // three shifts the run starts on a base64 quantum of the line.
            let run = &m[shift.min(m.len())..(shift + 24).min(m.len())];
            STANDARD
                .encode(&run[..run.len() - run.len() % 3])
                .into_bytes()
        });
        OfferedKey {
            want_b64: STANDARD.encode(&key.blob).into_bytes(),
            want_blob: key.blob,
            material,
            certificate,
            fingerprint,
            type_name: String::new(),
        }
    }

    /// What a store line's key field contains when it can be the one.
    pub fn needles(&self) -> &[Vec<u8>; 3] {
        &self.material
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
        let plain = |blob: &[u8]| match public_key::read(blob, sshd) {
            Ok(Read::Key(k)) => Ok(k),
            Ok(Read::Certificate) => Err(bad(&"a certificate where a plain key belongs")),
            Err(e) => Err(bad(&e)),
        };
        if let Ok(cert) = Certificate::from_bytes(&blob) {
            let ca = PublicKey::from(cert.signature_key().clone())
                .to_bytes()
                .map_err(|e| bad(&e))?;
            let own = PublicKey::from(cert.public_key().clone())
                .to_bytes()
                .map_err(|e| bad(&e))?;
            let own = plain(&own)?;
            let mut k = OfferedKey::new(plain(&ca)?, true, Fingerprint::of_sha256(&own.blob));
            k.type_name = cert.algorithm().to_certificate_type();
            return Ok(Offered::Key(k));
        }
        let key = plain(&blob)?;
        let fp = Fingerprint::of_sha256(&key.blob);
        let name = key.kind.name().to_string();
        let mut k = OfferedKey::new(key, false, fp);
        k.type_name = name;
        Ok(Offered::Key(k))
    }

    /// The offered key's fingerprint, for log lines.
    pub fn fingerprint(&self) -> &Fingerprint {
        match self {
            Offered::Fingerprint(fp) => fp,
            Offered::Key(k) => &k.fingerprint,
        }
    }

    /// A cheap pre-filter: false only when the line cannot be the one this
    /// lookup wants. Lines it passes are still parsed in full.
    pub fn may_match(&self, raw: &[u8]) -> bool {
        match self {
            Offered::Fingerprint(fp) => authorized_keys::may_match(raw, fp),
            Offered::Key(k) => match authorized_keys::key_field(raw) {
                // The same key, written as ssh-keygen writes it...
                Some(field) if field == k.want_b64 => true,
                // ...or in another encoding sshd reads as the same key.
                Some(_) => authorized_keys::candidate(raw)
                    .is_some_and(|c| c == authorized_keys::Candidate::Key(k.want_blob.clone())),
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
