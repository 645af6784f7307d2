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
    /// A certificate's type field is neither user (1) nor host (2).
    CertType(u32),
    TooManyPrincipals,
    /// A certificate's signature key is itself a certificate.
    CaIsCertificate,
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
            BlobError::CertType(t) => write!(f, "certificate of type {t}, neither user nor host"),
            BlobError::TooManyPrincipals => {
                write!(f, "certificate with more than {MAX_PRINCIPALS} principals")
            }
            BlobError::CaIsCertificate => write!(f, "the certificate's CA key is a certificate"),
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
/// `SSHKEY_CERT_MAX_PRINCIPALS`.
const MAX_PRINCIPALS: usize = 256;

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

    fn u32(&mut self) -> Result<u32, BlobError> {
        let (v, rest) = self
            .0
            .split_first_chunk::<4>()
            .ok_or(BlobError::Truncated)?;
        self.0 = rest;
        Ok(u32::from_be_bytes(*v))
    }

    fn u64(&mut self) -> Result<u64, BlobError> {
        let (v, rest) = self
            .0
            .split_first_chunk::<8>()
            .ok_or(BlobError::Truncated)?;
        self.0 = rest;
        Ok(u64::from_be_bytes(*v))
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
    let key = key_fields(kind, name, &mut r, sshd)?;
    if !r.0.is_empty() {
        return Err(BlobError::TrailingData);
    }
    Ok(Read::Key(key))
}

/// A certificate as sshd reads one a client offers (`sshkey_from_blob`,
/// `cert_parse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The certified key, canonical: what `%f` fingerprints.
    pub key: PublicKey,
    /// The signature key, canonical: what a `cert-authority` line must carry.
    pub ca: PublicKey,
    /// What sshd judges after the command answered (`keyward check`).
    pub serial: u64,
    /// 1 user, 2 host.
    pub cert_type: u32,
    pub key_id: Vec<u8>,
    pub principals: Vec<Vec<u8>>,
    pub valid_after: u64,
    pub valid_before: u64,
    /// Critical options: name and raw value (a string inside a string).
    pub critical: Vec<(Vec<u8>, Vec<u8>)>,
    pub extensions: Vec<Vec<u8>>,
    /// The CA's signature algorithm, the first string of the signature
    /// (`sshkey_get_sigtype`): what CASignatureAlgorithms lists.
    pub signature_type: Vec<u8>,
}

impl Certificate {
    /// The type as sshd names it (`%t`): `ssh-ed25519-cert-v01@openssh.com`,
    /// and `ssh-rsa-cert-v01@openssh.com` for every RSA certificate.
    pub fn type_name(&self) -> String {
        self.key.kind.cert_name()
    }
}

/// Reads a certificate blob as release `sshd` does before it passes it to
/// an AuthorizedKeysCommand as `%k`: the type, the nonce, the certified
/// key's fields (the same rules as a plain key's), then the certificate's
/// fields with the checks `cert_parse` makes on them: a user or host type,
/// C strings (one NUL, at the end, allowed) for the key ID and at most 256
/// principals, name/value string pairs for the critical options and
/// extensions, a plain CA key, nothing after the signature.
///
/// Nothing more: sshd does not look at validity, UTF-8, order or duplicate
/// names while parsing (it judges validity and options later, after the
/// command answered), so neither does keyward; a "forever" certificate or a
/// key ID in Latin-1 reads like any other. The signature is not verified
/// here: sshd verified it before running the command, and keyward only
/// serves the CA's own line, which sshd judges again.
pub fn read_certificate(blob: &[u8], sshd: &Sshd) -> Result<Certificate, BlobError> {
    let mut r = Reader(blob);
    let name = r.cstring()?;
    let Some(kind) = sshd.cert_type(name) else {
        return Err(BlobError::UnknownType(name.to_vec()));
    };
    let _nonce = r.string()?;
    let key = key_fields(kind, name, &mut r, sshd)?;
    let serial = r.u64()?;
    let cert_type = r.u32()?;
    let key_id = r.cstring()?.to_vec();
    let mut principal_list = Reader(r.string()?);
    let valid_after = r.u64()?;
    let valid_before = r.u64()?;
    let mut critical_list = Reader(r.string()?);
    let mut extension_list = Reader(r.string()?);
    let _reserved = r.string()?;
    let ca = r.string()?;
    let signature = r.string()?;
    if cert_type != 1 && cert_type != 2 {
        return Err(BlobError::CertType(cert_type));
    }
    let mut principals = Vec::new();
    while !principal_list.0.is_empty() {
        if principals.len() >= MAX_PRINCIPALS {
            return Err(BlobError::TooManyPrincipals);
        }
        principals.push(principal_list.cstring()?.to_vec());
    }
    let (mut critical, mut extensions) = (Vec::new(), Vec::new());
    while !critical_list.0.is_empty() {
        critical.push((
            critical_list.string()?.to_vec(),
            critical_list.string()?.to_vec(),
        ));
    }
    while !extension_list.0.is_empty() {
        extensions.push(extension_list.string()?.to_vec());
        extension_list.string()?;
    }
    let ca = match read(ca, sshd)? {
        Read::Key(k) => k,
        Read::Certificate => return Err(BlobError::CaIsCertificate),
    };
    if !r.0.is_empty() {
        return Err(BlobError::TrailingData);
    }
    // sshd reads the signature's type when it parses the certificate; an
    // unreadable one fails later, at CASignatureAlgorithms.
    let signature_type = Reader(signature)
        .string()
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    Ok(Certificate {
        key,
        ca,
        serial,
        cert_type,
        key_id,
        principals,
        valid_after,
        valid_before,
        critical,
        extensions,
        signature_type,
    })
}

/// A certificate option's value that holds one string (`force-command`,
/// `source-address`), read as `cert_option_list` reads it: a C string and
/// nothing after it. The error is the end of sshd's complaint.
pub fn option_string(value: &[u8]) -> Result<&[u8], &'static str> {
    let mut r = Reader(value);
    let s = r.cstring().map_err(|_| "section unparsable")?;
    if r.0.is_empty() {
        Ok(s)
    } else {
        Err("corrupt (extra data)")
    }
}

/// A key type's own fields (`deserialize_public`), after the type name
/// (and a certificate's nonce), as the canonical plain key.
fn key_fields(
    kind: KeyType,
    name: &[u8],
    r: &mut Reader,
    sshd: &Sshd,
) -> Result<PublicKey, BlobError> {
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
            check_point(kind, point, sshd)?;
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
    Ok(PublicKey {
        kind,
        blob: out.0,
        bits,
    })
}

/// The key's own material in its canonical blob: the longest field that
/// every encoding of the same key carries unchanged (the ed25519 or ML-DSA
/// key, the EC point, the RSA modulus, the longest DSA number), a number
/// without its leading zeros. Short for a degenerate key only (a DSA key
/// with tiny numbers), which callers must not let widen a search.
pub fn material(key: &PublicKey) -> &[u8] {
    let mut r = Reader(&key.blob);
    let mut fields = Vec::new();
    while let Ok(f) = r.string() {
        fields.push(f);
    }
    let numbers = matches!(key.kind, KeyType::Rsa | KeyType::Dsa);
    fields
        .into_iter()
        .skip(1) // the type name
        .map(|f| {
            if numbers {
                &f[f.iter().position(|&b| b != 0).unwrap_or(f.len())..]
            } else {
                f
            }
        })
        .max_by_key(|f| f.len())
        .unwrap_or_default()
}

/// `sshkey_ecdsa_nid_from_name`: the full name of an ECDSA key or
/// certificate type (the callers have already matched it exactly).
fn ecdsa_full_name(name: &[u8]) -> bool {
    name.starts_with(b"ecdsa-sha2-nistp")
        || name == b"sk-ecdsa-sha2-nistp256@openssh.com"
        || name == b"sk-ecdsa-sha2-nistp256-cert-v01@openssh.com"
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
/// below the field prime) and, before 10.3, `sshkey_ec_validate_public`'s
/// range checks (each coordinate longer than half the order and below
/// order - 1), which 10.3 removed.
fn check_point(kind: KeyType, point: &[u8], sshd: &Sshd) -> Result<(), BlobError> {
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
    if !sshd.ec_range_checks() {
        return Ok(());
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
pub(crate) mod tests {
    use super::*;
    use crate::openssh::{DEFAULT, Sshd};

    #[test]
    fn certificate_option_strings_read_as_cert_option_list_reads_them() {
        assert_eq!(
            option_string(&blob(&[b"10.0.0.0/8"])),
            Ok(&b"10.0.0.0/8"[..])
        );
        assert_eq!(option_string(&blob(&[b"echo\0"])), Ok(&b"echo"[..]));
        assert!(option_string(&blob(&[b"a\0b"])).is_err());
        assert_eq!(
            option_string(&blob(&[b"x", b"y"])),
            Err("corrupt (extra data)")
        );
        assert!(option_string(b"\0\0\0\x09short").is_err());
    }

    pub(crate) fn blob(fields: &[&[u8]]) -> Vec<u8> {
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
    /// An ed25519 user certificate by `ca` (a blob as written), with the
    /// given key ID, validity and extensions, and a signature sshd would
    /// have checked already.
    pub(crate) fn certificate(ca: &[u8], key_id: &[u8], before: u64, extensions: &[u8]) -> Vec<u8> {
        let mut w = Writer::default();
        w.string(b"ssh-ed25519-cert-v01@openssh.com");
        w.string(&[9; 32]); // nonce
        w.string(&[7; 32]); // the certified key
        w.0.extend_from_slice(&42u64.to_be_bytes());
        w.0.extend_from_slice(&1u32.to_be_bytes());
        w.string(key_id);
        w.string(&blob(&[b"alice", b"bob\0"]));
        w.0.extend_from_slice(&0u64.to_be_bytes());
        w.0.extend_from_slice(&before.to_be_bytes());
        w.string(b"");
        w.string(extensions);
        w.string(b"");
        w.string(ca);
        w.string(&blob(&[b"ssh-ed25519", &[1; 64]]));
        w.0
    }

    #[test]
    fn certificates_read_as_sshd_reads_them_before_the_command_runs() {
        let mut n = vec![0xc5u8; 256];
        n[255] = 3;
        let rsa_ca = blob(&[b"ssh-rsa", &[1, 0, 1], &[&[0u8][..], &n].concat()]);
        // The CA as sshd (before 9.9) reads it too: short type name, a
        // leading zero in e.
        let odd_ca = blob(&[b"rsa", &[0, 1, 0, 1], &[&[0u8][..], &n].concat()]);
        // permit-pty twice, unsorted, and an extension whose value is not
        // a string inside a string: sshd reads all of that.
        let exts = blob(&[
            b"permit-pty",
            b"",
            b"permit-X11-forwarding",
            b"",
            b"permit-pty",
            b"x",
        ]);
        let plain = blob(&[b"ssh-ed25519", &[7; 32]]);
        for (ca, id, before) in [
            (&rsa_ca, &b"caf\xe9"[..], u64::MAX),
            (&odd_ca, &b"id\0"[..], 1 << 63),
            (&rsa_ca, &b""[..], u64::MAX - 1),
        ] {
            let c = read_certificate(&certificate(ca, id, before, &exts), &DEFAULT).unwrap();
            assert_eq!(c.ca.blob, rsa_ca);
            assert_eq!(c.key.blob, plain);
            assert_eq!(c.type_name(), "ssh-ed25519-cert-v01@openssh.com");
        }
        // 9.9 and later take no short name inside a blob.
        let v10 = Sshd {
            version: crate::openssh::Version::new(10, 5, 1),
            debian: false,
        };
        assert!(read_certificate(&certificate(&odd_ca, b"", 0, b""), &v10).is_err());
        // The line-level reader only says "a certificate".
        assert_eq!(
            read(&certificate(&rsa_ca, b"", 0, b""), &DEFAULT),
            Ok(Read::Certificate)
        );
    }

    #[test]
    fn certificates_cert_parse_refuses() {
        let ca = blob(&[b"ssh-ed25519", &[5; 32]]);
        let good = certificate(&ca, b"id", u64::MAX, b"");
        assert!(read_certificate(&good, &DEFAULT).is_ok());
        // Type 3 (offset: name 36, nonce 36, key 36, serial 8).
        let mut bad_type = good.clone();
        bad_type[36 + 36 + 36 + 8 + 3] = 3;
        assert_eq!(
            read_certificate(&bad_type, &DEFAULT),
            Err(BlobError::CertType(3))
        );
        assert_eq!(
            read_certificate(&certificate(&ca, b"i\0d", 0, b""), &DEFAULT),
            Err(BlobError::NulInString)
        );
        assert_eq!(
            read_certificate(&[good.clone(), vec![0]].concat(), &DEFAULT),
            Err(BlobError::TrailingData)
        );
        assert_eq!(
            read_certificate(&certificate(&good, b"", 0, b""), &DEFAULT),
            Err(BlobError::CaIsCertificate)
        );
        // An odd number of strings in the extensions.
        assert_eq!(
            read_certificate(&certificate(&ca, b"", 0, &blob(&[b"permit-pty"])), &DEFAULT),
            Err(BlobError::Truncated)
        );
        // No short names for certificates, in any release.
        let mut short = good.clone();
        short.splice(0..36, blob(&[b"ED25519-CERT"]));
        assert!(matches!(
            read_certificate(&short, &DEFAULT),
            Err(BlobError::UnknownType(_))
        ));
    }

    #[test]
    fn ecdsa_range_checks_end_with_10_3() {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        // The first point on P-256 with a tiny x: on the curve, so 10.3
        // and later read it; x has fewer bits than half the order, so 8.2
        // and 9.2 refuse it.
        let point = (1u8..=255)
            .find_map(|x| {
                let mut compressed = [0u8; 33];
                compressed[0] = 2;
                compressed[32] = x;
                p256::PublicKey::from_sec1_bytes(&compressed).ok()
            })
            .unwrap()
            .to_encoded_point(false);
        let key = blob(&[b"ecdsa-sha2-nistp256", b"nistp256", point.as_bytes()]);
        let at = |major, minor| Sshd {
            version: crate::openssh::Version::new(major, minor, 1),
            debian: false,
        };
        assert_eq!(
            read(&key, &at(9, 2)),
            Err(BlobError::EcPoint("has a coordinate too small"))
        );
        assert!(matches!(read(&key, &at(10, 2)), Err(BlobError::EcPoint(_))));
        assert!(matches!(read(&key, &at(10, 3)), Ok(Read::Key(_))));
        assert!(matches!(read(&key, &at(10, 5)), Ok(Read::Key(_))));
    }
}
