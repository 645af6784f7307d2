//! A public-key blob as sshd reads it (`sshkey_from_blob_internal` and each
//! type's `deserialize_public`), and the blob sshd would write for the same
//! key. sshd compares and fingerprints the key it parsed, never the bytes
//! it read: two lines whose blobs differ only in encoding (leading zeros in
//! a number, an alias type name, a trailing NUL in a string) are the same
//! key to sshd, and to keyward through `blob`.

use std::fmt;

use p256::elliptic_curve::Curve;
use p256::elliptic_curve::bigint::Encoding;

use crate::openssh::{KeyType, Label, Sshd};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub kind: KeyType,
    /// The canonical wire blob (`sshkey_putb`): what sshd hashes for `%f`
    /// and sends as `%k`.
    pub blob: Vec<u8>,
    /// Modulus size for RSA and DSA, curve size for ECDSA, else 256.
    pub bits: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    Key(PublicKey),
    /// A certificate blob; keyward does not look inside (no certificate line
    /// ever matches, see `authorized_keys`).
    Certificate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobError {
    Truncated,
    TrailingData,
    /// The type string inside the blob; escaped when shown.
    UnknownType(Vec<u8>),
    NulInString,
    NegativeNumber,
    NumberTooLarge,
    RsaTooSmall(u32),
    Ed25519Length(usize),
    KeyLength(usize),
    CurveMismatch,
    EcPoint(&'static str),
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobError::Truncated => write!(f, "key data ends early"),
            BlobError::TrailingData => write!(f, "extra data after the key"),
            BlobError::UnknownType(t) => {
                write!(
                    f,
                    "unknown key type \"{}\" inside the key",
                    crate::log::escape(t)
                )
            }
            BlobError::NulInString => write!(f, "a string in the key holds a NUL byte"),
            BlobError::NegativeNumber => write!(f, "a number in the key is negative"),
            BlobError::NumberTooLarge => write!(f, "a number in the key exceeds 16384 bits"),
            BlobError::RsaTooSmall(bits) => {
                write!(f, "RSA key of {bits} bits; sshd needs at least 1024")
            }
            BlobError::Ed25519Length(n) => write!(f, "ed25519 key of {n} bytes, not 32"),
            BlobError::KeyLength(n) => write!(f, "public key of {n} bytes, not the type's size"),
            BlobError::CurveMismatch => write!(f, "the curve does not match the key type"),
            BlobError::EcPoint(why) => write!(f, "ECDSA point {why}"),
        }
    }
}

/// sshbuf's limits: a number has at most 16384 bits (2048 bytes, plus a
/// zero byte that keeps it positive), an EC point at most 133 bytes.
const MAX_BIGNUM: usize = 16384 / 8;
const MAX_ECPOINT: usize = 528 * 2 / 8 + 1;
const ED25519_PK: usize = 32;
/// ML-DSA-44 (1312 bytes) followed by ed25519 (32), 10.4's hybrid type.
const MLDSA44_ED25519_PK: usize = 1312 + 32;

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// `sshbuf_get_string_direct`: a u32 length, then that many bytes.
    fn string(&mut self) -> Result<&'a [u8], BlobError> {
        let (len, rest) = self
            .0
            .split_first_chunk::<4>()
            .ok_or(BlobError::Truncated)?;
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            return Err(BlobError::Truncated);
        }
        let (s, rest) = rest.split_at(len);
        self.0 = rest;
        Ok(s)
    }

    /// `sshbuf_get_cstring`: a NUL is allowed only as the last byte, and
    /// is not part of the string.
    fn cstring(&mut self) -> Result<&'a [u8], BlobError> {
        let s = self.string()?;
        match s.iter().position(|&b| b == 0) {
            None => Ok(s),
            Some(i) if i == s.len() - 1 => Ok(&s[..i]),
            Some(_) => Err(BlobError::NulInString),
        }
    }

    /// `sshbuf_get_bignum2_bytes_direct`: positive, at most 16384 bits,
    /// leading zeros dropped.
    fn bignum(&mut self) -> Result<&'a [u8], BlobError> {
        let d = self.string()?;
        if d.first().is_some_and(|&b| b & 0x80 != 0) {
            return Err(BlobError::NegativeNumber);
        }
        if d.len() > MAX_BIGNUM + 1 || (d.len() == MAX_BIGNUM + 1 && d[0] != 0) {
            return Err(BlobError::NumberTooLarge);
        }
        let start = d.iter().position(|&b| b != 0).unwrap_or(d.len());
        Ok(&d[start..])
    }
}

/// Reads a key blob as `sshd` (release `sshd`) does.
pub fn read(blob: &[u8], sshd: &Sshd) -> Result<Read, BlobError> {
    let mut r = Reader(blob);
    let name = r.cstring()?;
    let kind = match sshd.blob_type(name) {
        Some(Label::Plain(t)) => t,
        Some(Label::Certificate) => return Ok(Read::Certificate),
        None => return Err(BlobError::UnknownType(name.to_vec())),
    };
    let mut out = Writer::default();
    out.string(kind.name().as_bytes());
    let bits = match kind {
        KeyType::Ed25519 | KeyType::SkEd25519 => {
            let pk = r.string()?;
            if pk.len() != ED25519_PK {
                return Err(BlobError::Ed25519Length(pk.len()));
            }
            out.string(pk);
            256
        }
        KeyType::MlDsa44Ed25519 => {
            let pk = r.string()?;
            if pk.len() != MLDSA44_ED25519_PK {
                return Err(BlobError::KeyLength(pk.len()));
            }
            out.string(pk);
            256
        }
        KeyType::EcdsaP256 | KeyType::EcdsaP384 | KeyType::EcdsaP521 | KeyType::SkEcdsaP256 => {
            // The curve comes from the full type name (`sshkey_ecdsa_nid_from_name`):
            // a short name such as "ECDSA" names no curve.
            if !ecdsa_full_name(name) {
                return Err(BlobError::CurveMismatch);
            }
            let curve = r.cstring()?;
            let (curve_name, bits) = match kind {
                KeyType::EcdsaP384 => (&b"nistp384"[..], 384),
                KeyType::EcdsaP521 => (&b"nistp521"[..], 521),
                _ => (&b"nistp256"[..], 256),
            };
            if curve != curve_name {
                return Err(BlobError::CurveMismatch);
            }
            let point = r.string()?;
            check_point(kind, point)?;
            out.string(curve_name);
            out.string(point);
            bits
        }
        KeyType::Rsa => {
            let e = r.bignum()?;
            let n = r.bignum()?;
            let bits = bit_length(n);
            if bits < 1024 {
                return Err(BlobError::RsaTooSmall(bits));
            }
            out.mpint(e);
            out.mpint(n);
            bits
        }
        KeyType::Dsa => {
            let p = r.bignum()?;
            for v in [p, r.bignum()?, r.bignum()?, r.bignum()?] {
                out.mpint(v);
            }
            bit_length(p)
        }
    };
    if matches!(kind, KeyType::SkEd25519 | KeyType::SkEcdsaP256) {
        out.string(r.cstring()?);
    }
    if !r.0.is_empty() {
        return Err(BlobError::TrailingData);
    }
    Ok(Read::Key(PublicKey {
        kind,
        blob: out.0,
        bits,
    }))
}

/// The key's own material in its canonical blob (ed25519 public key, EC
/// point, RSA modulus, DSA public value, ML-DSA key): bytes every encoding of
/// the same key carries unchanged. At least 32 bytes for every type.
pub fn material(key: &PublicKey) -> &[u8] {
    let mut r = Reader(&key.blob);
    let mut field = || r.string().unwrap_or_default();
    let _type = field();
    let m = match key.kind {
        KeyType::Ed25519 | KeyType::SkEd25519 | KeyType::MlDsa44Ed25519 => field(),
        KeyType::EcdsaP256 | KeyType::EcdsaP384 | KeyType::EcdsaP521 | KeyType::SkEcdsaP256 => {
            field();
            field()
        }
        KeyType::Rsa => {
            field();
            field()
        }
        KeyType::Dsa => {
            field();
            field();
            field();
            field()
        }
    };
    let start = m.iter().position(|&b| b != 0).unwrap_or(m.len());
    &m[start..]
}

fn ecdsa_full_name(name: &[u8]) -> bool {
    name.starts_with(b"ecdsa-sha2-nistp")
        || name == b"sk-ecdsa-sha2-nistp256@openssh.com"
        || name == b"webauthn-sk-ecdsa-sha2-nistp256@openssh.com"
}

/// The size of a big-endian number without leading zeros, in bits.
pub fn bit_length(be: &[u8]) -> u32 {
    let start = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    match be.get(start) {
        Some(&b) => (be.len() - start) as u32 * 8 - b.leading_zeros(),
        None => 0,
    }
}

/// `sshbuf_get_ec` (uncompressed points only, on the curve, coordinates
/// below the field prime) and `sshkey_ec_validate_public` (each coordinate
/// longer than half the order and below order - 1).
fn check_point(kind: KeyType, point: &[u8]) -> Result<(), BlobError> {
    if point.is_empty() || point.len() > MAX_ECPOINT {
        return Err(BlobError::EcPoint("has a bad length"));
    }
    if point[0] != 4 {
        return Err(BlobError::EcPoint("is not in uncompressed form"));
    }
    let (on_curve, order) = match kind {
        KeyType::EcdsaP384 => (
            p384::PublicKey::from_sec1_bytes(point).is_ok(),
            p384::NistP384::ORDER.to_be_bytes().to_vec(),
        ),
        KeyType::EcdsaP521 => (
            p521::PublicKey::from_sec1_bytes(point).is_ok(),
            p521::NistP521::ORDER.to_be_bytes().to_vec(),
        ),
        _ => (
            p256::PublicKey::from_sec1_bytes(point).is_ok(),
            p256::NistP256::ORDER.to_be_bytes().to_vec(),
        ),
    };
    if !on_curve {
        return Err(BlobError::EcPoint("is not on its curve"));
    }
    let (x, y) = point[1..].split_at((point.len() - 1) / 2);
    let half = bit_length(&order) / 2;
    if bit_length(x) <= half || bit_length(y) <= half {
        return Err(BlobError::EcPoint("has a coordinate too small"));
    }
    let mut limit = order;
    // order - 1; the order is odd, so no borrow.
    if let Some(last) = limit.last_mut() {
        *last -= 1;
    }
    if below(x, &limit) && below(y, &limit) {
        Ok(())
    } else {
        Err(BlobError::EcPoint(
            "has a coordinate beyond the group order",
        ))
    }
}

/// `a < b` for big-endian numbers of any lengths.
fn below(a: &[u8], b: &[u8]) -> bool {
    let trim = |v: &[u8]| -> Vec<u8> { v.iter().copied().skip_while(|&x| x == 0).collect() };
    let (a, b) = (trim(a), trim(b));
    (a.len(), &a) < (b.len(), &b)
}

#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn string(&mut self, s: &[u8]) {
        self.0.extend_from_slice(&(s.len() as u32).to_be_bytes());
        self.0.extend_from_slice(s);
    }

    /// `sshbuf_put_bignum2_bytes`: no leading zeros, one zero byte in front
    /// when the top bit is set.
    fn mpint(&mut self, v: &[u8]) {
        if v.first().is_some_and(|&b| b & 0x80 != 0) {
            self.0
                .extend_from_slice(&(v.len() as u32 + 1).to_be_bytes());
            self.0.push(0);
            self.0.extend_from_slice(v);
        } else {
            self.string(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openssh::DEFAULT;

    fn blob(fields: &[&[u8]]) -> Vec<u8> {
        let mut w = Writer::default();
        for f in fields {
            w.string(f);
        }
        w.0
    }

    #[test]
    fn encodings_sshd_reads_as_the_same_key() {
        let pk = [7u8; 32];
        let canonical = blob(&[b"ssh-ed25519", &pk]);
        for variant in [
            blob(&[b"ssh-ed25519\0", &pk]),
            blob(&[b"ED25519", &pk]),
            blob(&[b"ed25519", &pk]),
        ] {
            match read(&variant, &DEFAULT) {
                Ok(Read::Key(k)) => assert_eq!(k.blob, canonical),
                other => panic!("{other:?}"),
            }
        }
        let mut n = vec![0x80u8; 128];
        n[127] = 1;
        let rsa = blob(&[b"ssh-rsa", &[0, 0, 1, 0, 1], &[&[0u8, 0][..], &n].concat()]);
        match read(&rsa, &DEFAULT) {
            Ok(Read::Key(k)) => {
                assert_eq!(
                    k.blob,
                    blob(&[b"ssh-rsa", &[1, 0, 1], &[&[0u8][..], &n].concat()])
                );
                assert_eq!(k.bits, 1024);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn what_sshd_refuses() {
        let pk = [7u8; 32];
        for (bad, want) in [
            (
                blob(&[b"ssh-ed25519", &[7; 31]]),
                BlobError::Ed25519Length(31),
            ),
            (blob(&[b"ssh\0-ed25519", &pk]), BlobError::NulInString),
            (
                [blob(&[b"ssh-ed25519", &pk]), vec![0]].concat(),
                BlobError::TrailingData,
            ),
            (
                blob(&[b"ssh-rsa", &[0x81], &[1; 200]]),
                BlobError::NegativeNumber,
            ),
            (
                blob(&[b"ssh-rsa", &[1], &[1; 127]]),
                BlobError::RsaTooSmall(1009),
            ),
            (
                blob(&[b"ECDSA", b"nistp256", &[4; 65]]),
                BlobError::CurveMismatch,
            ),
            (
                blob(&[b"ssh-foo", &pk]),
                BlobError::UnknownType(b"ssh-foo".to_vec()),
            ),
        ] {
            assert_eq!(read(&bad, &DEFAULT), Err(want));
        }
    }
}
