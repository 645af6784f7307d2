//! The authorized_keys line grammar, as sshd 9.2 parses it
//! (`auth_check_authkey_line`, `sshkey_read`, `sshauthopt_parse`).
//!
//! keyward only prints lines that sshd will parse, so a store typo shows up in
//! keyward's log with `file:line` and a reason instead of as a silent refusal.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ssh_key::PublicKey;
use ssh_key::public::KeyData;

use crate::fingerprint::Fingerprint;

/// A line that sshd accepts, borrowed from the store file.
#[derive(Debug, PartialEq, Eq)]
pub struct KeyLine<'a> {
    /// The line without leading blanks and without its line ending.
    pub text: &'a [u8],
    /// The key type as written (`ssh-ed25519`, `rsa-sha2-256`, ...).
    pub label: &'a str,
    /// The decoded public-key wire blob.
    pub blob: Vec<u8>,
    pub options: Options,
    /// The options field as written; empty when the line starts with the key.
    pub options_text: &'a [u8],
    /// Whatever follows the key field, without leading blanks.
    pub comment: &'a [u8],
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub cert_authority: bool,
    /// Every `expiry-time` value; sshd honours the earliest.
    pub expiry_times: Vec<Vec<u8>>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum LineError {
    Nul,
    CarriageReturn,
    NotUtf8Type,
    UnknownKeyType(String),
    /// `invalid key option string`: a quote opened in the options never closes.
    UnterminatedQuote,
    NoKey,
    BadBase64,
    BadKeyData(String),
    TypeMismatch {
        label: String,
        blob: String,
    },
    RsaSize(usize),
    BadOption(&'static str),
    Certificate,
    PrincipalsWithoutCa,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::Nul => write!(f, "line contains a NUL byte"),
            LineError::CarriageReturn => write!(
                f,
                "line contains a carriage return before its end; keyward serves no such line"
            ),
            LineError::NotUtf8Type => write!(f, "key type is not text"),
            LineError::UnknownKeyType(t) => {
                write!(
                    f,
                    "unknown key type \"{}\"",
                    crate::log::escape(t.as_bytes())
                )
            }
            LineError::UnterminatedQuote => {
                write!(f, "invalid key option string (unterminated quote)")
            }
            LineError::NoKey => write!(f, "no key type and key after the options"),
            LineError::BadBase64 => write!(f, "key is not valid base64"),
            LineError::BadKeyData(e) => write!(f, "key data does not parse: {e}"),
            LineError::TypeMismatch { label, blob } => write!(
                f,
                "key type \"{}\" does not match the key, which is \"{}\"",
                crate::log::escape(label.as_bytes()),
                crate::log::escape(blob.as_bytes())
            ),
            LineError::RsaSize(bits) => {
                write!(f, "RSA key of {bits} bits; sshd accepts 1024 to 16384 bits")
            }
            LineError::BadOption(reason) => write!(f, "bad key options: {reason}"),
            LineError::Certificate => write!(
                f,
                "a certificate never matches as a key line; add the CA's public key with cert-authority instead"
            ),
            LineError::PrincipalsWithoutCa => write!(
                f,
                "principals= without cert-authority: sshd refuses this key"
            ),
        }
    }
}

/// The type labels sshd 9.2 (Debian build: OpenSSL, P-521, security keys, no
/// XMSS) accepts at the start of a key, with the type its blob must carry.
const LABELS: &[(&str, &str)] = &[
    ("ssh-ed25519", "ssh-ed25519"),
    ("sk-ssh-ed25519@openssh.com", "sk-ssh-ed25519@openssh.com"),
    ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256"),
    ("ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384"),
    ("ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521"),
    (
        "sk-ecdsa-sha2-nistp256@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    ),
    (
        "webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    ),
    ("ssh-dss", "ssh-dss"),
    ("ssh-rsa", "ssh-rsa"),
    ("rsa-sha2-256", "ssh-rsa"),
    ("rsa-sha2-512", "ssh-rsa"),
];

const CERT_LABELS: &[(&str, &str)] = &[
    (
        "ssh-ed25519-cert-v01@openssh.com",
        "ssh-ed25519-cert-v01@openssh.com",
    ),
    (
        "sk-ssh-ed25519-cert-v01@openssh.com",
        "sk-ssh-ed25519-cert-v01@openssh.com",
    ),
    (
        "ecdsa-sha2-nistp256-cert-v01@openssh.com",
        "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    ),
    (
        "ecdsa-sha2-nistp384-cert-v01@openssh.com",
        "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    ),
    (
        "ecdsa-sha2-nistp521-cert-v01@openssh.com",
        "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    ),
    (
        "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
        "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    ),
    (
        "ssh-dss-cert-v01@openssh.com",
        "ssh-dss-cert-v01@openssh.com",
    ),
    (
        "ssh-rsa-cert-v01@openssh.com",
        "ssh-rsa-cert-v01@openssh.com",
    ),
    (
        "rsa-sha2-256-cert-v01@openssh.com",
        "ssh-rsa-cert-v01@openssh.com",
    ),
    (
        "rsa-sha2-512-cert-v01@openssh.com",
        "ssh-rsa-cert-v01@openssh.com",
    ),
];

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn blob_type_of(label: &str) -> Option<(&'static str, bool)> {
    LABELS
        .iter()
        .map(|&(l, t)| (l, t, false))
        .chain(CERT_LABELS.iter().map(|&(l, t)| (l, t, true)))
        .find(|&(l, _, _)| l == label)
        .map(|(_, t, cert)| (t, cert))
}

/// Parses one line. `Ok(None)` for blank and comment lines.
pub fn parse_line(raw: &[u8]) -> Result<Option<KeyLine<'_>>, LineError> {
    let Some(line) = content(raw) else {
        return Ok(None);
    };
    // sshd reads C strings: a NUL would cut the line short there. Such a line
    // is never what the admin meant, so it is not served at all.
    if line.contains(&0) {
        return Err(LineError::Nul);
    }
    // A CR at the end of a line (a file from Windows) is dropped with the
    // line ending. One inside would reach sshd in a comment, a key field or a
    // command= string and a terminal or log showing the line: keyward, which
    // serves what it prints byte for byte, refuses it (sshd alone would take it).
    if line.contains(&b'\r') {
        return Err(LineError::CarriageReturn);
    }

    let (options, key_part) = split_options(line)?;
    // No key type after the options either. If the "options" do not parse,
    // the first word was most likely a mistyped key type.
    let second = token(key_part);
    if !options.is_empty() && !second.is_empty() && blob_type_of_bytes(second).is_none() {
        let culprit = if parse_options(options).is_ok() {
            second
        } else {
            token(line)
        };
        return Err(LineError::UnknownKeyType(
            String::from_utf8_lossy(culprit).into_owned(),
        ));
    }
    // sshd reads the key before it parses the options.
    let (label, blob) = read_key(key_part)?;
    let (parsed, principals) = parse_options(options)?;
    if principals && !parsed.cert_authority {
        return Err(LineError::PrincipalsWithoutCa);
    }
    let after_label = skip_blanks(&key_part[label.len()..]);
    let comment = skip_blanks(&after_label[token(after_label).len()..]);
    Ok(Some(KeyLine {
        text: line,
        label,
        blob,
        options: parsed,
        options_text: options,
        comment,
    }))
}

/// Splits a line into its options (empty when it starts with a key type)
/// and the key part that follows them, as `auth_check_authkey_line` does.
fn split_options(line: &[u8]) -> Result<(&[u8], &[u8]), LineError> {
    if blob_type_of_bytes(token(line)).is_some() {
        return Ok((&[], line));
    }
    let end = end_of_options(line)?;
    Ok((&line[..end], skip_blanks(&line[end..])))
}

fn skip_blanks(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_blank(b)).unwrap_or(s.len());
    &s[start..]
}

fn token(s: &[u8]) -> &[u8] {
    let end = s.iter().position(|&b| is_blank(b)).unwrap_or(s.len());
    &s[..end]
}

fn blob_type_of_bytes(label: &[u8]) -> Option<(&'static str, bool)> {
    std::str::from_utf8(label).ok().and_then(blob_type_of)
}

/// `sshkey_advance_past_options`: the options end at the first blank outside
/// double quotes; `\"` never toggles quoting.
fn end_of_options(s: &[u8]) -> Result<usize, LineError> {
    let mut quoted = false;
    let mut i = 0;
    while i < s.len() && (quoted || !is_blank(s[i])) {
        if s[i] == b'\\' && s.get(i + 1) == Some(&b'"') {
            i += 1;
        } else if s[i] == b'"' {
            quoted = !quoted;
        }
        i += 1;
    }
    if quoted && i >= s.len() {
        return Err(LineError::UnterminatedQuote);
    }
    Ok(i.min(s.len()))
}

/// `sshkey_read`: type label, blanks, base64 blob, then an ignored comment.
fn read_key(s: &[u8]) -> Result<(&str, Vec<u8>), LineError> {
    let label_bytes = token(s);
    if label_bytes.is_empty() {
        return Err(LineError::NoKey);
    }
    let label = std::str::from_utf8(label_bytes).map_err(|_| LineError::NotUtf8Type)?;
    let Some((want, is_cert)) = blob_type_of(label) else {
        return Err(LineError::UnknownKeyType(label.to_string()));
    };
    let blob = decode_key_field(&s[label_bytes.len()..])?;
    let blob_type = blob_type_name(&blob)?;
    if blob_type != want.as_bytes() {
        return Err(LineError::TypeMismatch {
            label: label.to_string(),
            blob: String::from_utf8_lossy(blob_type).into_owned(),
        });
    }
    if is_cert {
        return Err(LineError::Certificate);
    }
    check_key_data(&blob)?;
    Ok((label, blob))
}

/// The base64 field after the key type, decoded.
fn decode_key_field(after_label: &[u8]) -> Result<Vec<u8>, LineError> {
    let field = token(skip_blanks(after_label));
    if field.is_empty() {
        return Err(LineError::NoKey);
    }
    // b64_pton skips white space; only \r, \v and \f can still be in the
    // field. They are rare, so copy only when there is one.
    let odd = |b: &u8| b.is_ascii_whitespace() || *b == 0x0b;
    let decoded = if field.iter().any(odd) {
        let clean: Vec<u8> = field.iter().copied().filter(|b| !odd(b)).collect();
        STANDARD.decode(clean)
    } else {
        STANDARD.decode(field)
    };
    decoded.map_err(|_| LineError::BadBase64)
}

/// The line without its line ending and leading blanks; `None` for blank
/// and comment lines.
fn content(raw: &[u8]) -> Option<&[u8]> {
    let mut line = raw;
    while let [rest @ .., b'\n' | b'\r'] = line {
        line = rest;
    }
    let line = skip_blanks(line);
    (!line.is_empty() && line[0] != b'#').then_some(line)
}

/// What a fingerprint lookup needs to know about a raw line before parsing
/// it: whether it can be a `cert-authority` line, or else the key blob it
/// carries. `None` for lines that can be neither (comments, blanks, lines
/// whose key field does not decode).
#[derive(Debug, PartialEq, Eq)]
pub enum Candidate {
    CertAuthority,
    Key(Vec<u8>),
}

pub fn candidate(raw: &[u8]) -> Option<Candidate> {
    let line = content(raw)?;
    let (options, key_part) = split_options(line).ok()?;
    const CA: &[u8] = b"cert-authority";
    if options
        .windows(CA.len())
        .any(|w| w.eq_ignore_ascii_case(CA))
    {
        return Some(Candidate::CertAuthority);
    }
    let label = token(key_part);
    decode_key_field(&key_part[label.len()..])
        .ok()
        .map(Candidate::Key)
}

/// The key field of a line as written (the base64 after the type), without
/// decoding it; `None` for blank, comment and malformed lines.
pub fn key_field(raw: &[u8]) -> Option<&[u8]> {
    let line = content(raw)?;
    let (_, key_part) = split_options(line).ok()?;
    let label = token(key_part);
    let field = token(skip_blanks(&key_part[label.len()..]));
    (!field.is_empty()).then_some(field)
}

/// A cheap pre-filter for fingerprint lookups: false only when the line can
/// neither be a `cert-authority` line nor carry the key `fp` names. Lines it
/// passes still go through `parse_line`, so nothing unchecked is ever served;
/// lines it drops are not inspected (and not logged) at all.
pub fn may_match(raw: &[u8], fp: &Fingerprint) -> bool {
    match candidate(raw) {
        Some(Candidate::CertAuthority) => true,
        Some(Candidate::Key(blob)) => fp.matches(&blob),
        None => false,
    }
}

fn blob_type_name(blob: &[u8]) -> Result<&[u8], LineError> {
    let bad = || LineError::BadKeyData("too short for a key".into());
    let len = blob.get(..4).ok_or_else(bad)?;
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    blob.get(4..4usize.checked_add(len).ok_or_else(bad)?)
        .ok_or_else(bad)
}

/// Structural decoding by ssh-key, plus the value checks sshd makes when it
/// reads a key: RSA modulus size and ECDSA points on their curve.
fn check_key_data(blob: &[u8]) -> Result<(), LineError> {
    // ssh-key's messages can quote bytes of the blob (an algorithm name):
    // they are the file's bytes, escaped like any other.
    let bad =
        |e: &dyn fmt::Display| LineError::BadKeyData(crate::log::escape(e.to_string().as_bytes()));
    // from_bytes also refuses trailing data after the key, as sshd does.
    let key = PublicKey::from_bytes(blob).map_err(|e| bad(&e))?;
    match key.key_data() {
        KeyData::Rsa(rsa) => {
            let n = rsa
                .n
                .as_positive_bytes()
                .ok_or_else(|| bad(&"negative modulus"))?;
            let bits = mpint_bits(n);
            if !(1024..=16384).contains(&bits) {
                return Err(LineError::RsaSize(bits as usize));
            }
        }
        KeyData::Ecdsa(ec) => check_point(ec.curve(), ec.as_sec1_bytes())?,
        KeyData::SkEcdsaSha2NistP256(sk) => {
            check_point(ssh_key::EcdsaCurve::NistP256, sk.ec_point().as_bytes())?
        }
        _ => {}
    }
    Ok(())
}

/// The size of a big-endian positive integer, in bits.
pub fn mpint_bits(be: &[u8]) -> u32 {
    match be.first() {
        Some(&b) => be.len() as u32 * 8 - b.leading_zeros(),
        None => 0,
    }
}

fn check_point(curve: ssh_key::EcdsaCurve, sec1: &[u8]) -> Result<(), LineError> {
    use ssh_key::EcdsaCurve::*;
    let ok = match curve {
        NistP256 => p256::PublicKey::from_sec1_bytes(sec1).is_ok(),
        NistP384 => p384::PublicKey::from_sec1_bytes(sec1).is_ok(),
        NistP521 => p521::PublicKey::from_sec1_bytes(sec1).is_ok(),
    };
    if ok {
        Ok(())
    } else {
        Err(LineError::BadKeyData(
            "ECDSA point is not on its curve".into(),
        ))
    }
}

/// `sshauthopt_parse`. Returns the options and whether `principals=` was given.
fn parse_options(mut s: &[u8]) -> Result<(Options, bool), LineError> {
    let mut opts = Options::default();
    let (mut command, mut principals, mut from) = (false, false, false);
    let mut env_names: Vec<Vec<u8>> = Vec::new();
    let mut permits = 0usize;
    while !s.is_empty() && !is_blank(s[0]) {
        if flag(&mut s, b"restrict", false).is_some() {
        } else if flag(&mut s, b"cert-authority", false).is_some() {
            opts.cert_authority = true;
        } else if flag(&mut s, b"port-forwarding", true).is_some()
            || flag(&mut s, b"agent-forwarding", true).is_some()
            || flag(&mut s, b"x11-forwarding", true).is_some()
            || flag(&mut s, b"touch-required", true).is_some()
            || flag(&mut s, b"verify-required", true).is_some()
            || flag(&mut s, b"pty", true).is_some()
            || flag(&mut s, b"user-rc", true).is_some()
        {
        } else if matches(&mut s, b"command") {
            dequote(&mut s)?;
            once(&mut command, "multiple \"command\" clauses")?;
        } else if matches(&mut s, b"principals") {
            dequote(&mut s)?;
            once(&mut principals, "multiple \"principals\" clauses")?;
        } else if matches(&mut s, b"from") {
            dequote(&mut s)?;
            once(&mut from, "multiple \"from\" clauses")?;
        } else if matches(&mut s, b"expiry-time") {
            let v = dequote(&mut s)?;
            if !valid_expiry(&v) {
                return Err(LineError::BadOption("invalid expires time"));
            }
            opts.expiry_times.push(v);
        } else if matches(&mut s, b"environment") {
            let v = dequote(&mut s)?;
            if env_names.len() > 1024 {
                return Err(LineError::BadOption("too many environment strings"));
            }
            let name_end = v
                .iter()
                .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_'))
                .unwrap_or(v.len());
            if v.get(name_end) != Some(&b'=') {
                return Err(LineError::BadOption("invalid environment string"));
            }
            let name = v[..name_end].to_vec();
            if !env_names.contains(&name) {
                env_names.push(name);
            }
        } else if matches(&mut s, b"permitopen") {
            permit(&mut s, false, &mut permits)?;
        } else if matches(&mut s, b"permitlisten") {
            permit(&mut s, true, &mut permits)?;
        } else if matches(&mut s, b"tunnel") {
            let v = dequote(&mut s)?;
            if !valid_tunnel(&v) {
                return Err(LineError::BadOption("invalid tun device"));
            }
        } else {
            return Err(LineError::BadOption("unknown key option"));
        }
        match s.first() {
            None | Some(b' ' | b'\t') => break,
            Some(b',') => {
                s = &s[1..];
                if s.is_empty() {
                    return Err(LineError::BadOption("unexpected end-of-options"));
                }
            }
            Some(_) => return Err(LineError::BadOption("unknown key option")),
        }
    }
    Ok((opts, principals))
}

fn once(seen: &mut bool, reason: &'static str) -> Result<(), LineError> {
    if std::mem::replace(seen, true) {
        Err(LineError::BadOption(reason))
    } else {
        Ok(())
    }
}

/// `opt_flag`: a case-insensitive prefix match, optionally negated by `no-`.
fn flag(s: &mut &[u8], name: &[u8], allow_negate: bool) -> Option<bool> {
    let mut rest = *s;
    let mut negate = false;
    if allow_negate && starts_with_ci(rest, b"no-") {
        rest = &rest[3..];
        negate = true;
    }
    if starts_with_ci(rest, name) {
        *s = &rest[name.len()..];
        Some(!negate)
    } else {
        None
    }
}

/// `opt_match`: `name=` with the name case-insensitive.
fn matches(s: &mut &[u8], name: &[u8]) -> bool {
    if starts_with_ci(s, name) && s.get(name.len()) == Some(&b'=') {
        *s = &s[name.len() + 1..];
        true
    } else {
        false
    }
}

fn starts_with_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// `opt_dequote`: `"..."` where only `\"` is an escape.
fn dequote(s: &mut &[u8]) -> Result<Vec<u8>, LineError> {
    if s.first() != Some(&b'"') {
        return Err(LineError::BadOption("missing start quote"));
    }
    let mut out = Vec::new();
    let mut i = 1;
    while i < s.len() && s[i] != b'"' {
        if s[i] == b'\\' && s.get(i + 1) == Some(&b'"') {
            i += 1;
        }
        out.push(s[i]);
        i += 1;
    }
    if i >= s.len() {
        return Err(LineError::BadOption("missing end quote"));
    }
    *s = &s[i + 1..];
    Ok(out)
}

/// `handle_permit`: `host:port`, `[v6]:port`, or (permitlisten) a bare port.
fn permit(s: &mut &[u8], listen: bool, count: &mut usize) -> Result<(), LineError> {
    let mut v = dequote(s)?;
    if *count > 4096 {
        return Err(LineError::BadOption("too many permission directives"));
    }
    *count += 1;
    if listen && !v.contains(&b':') {
        v.splice(0..0, *b"*:");
    }
    let (host, port) =
        split_host_port(&v).ok_or(LineError::BadOption("invalid permission hostname"))?;
    if host.len() >= 1025 {
        return Err(LineError::BadOption("invalid permission hostname"));
    }
    let port_ok = port == b"*"
        || (std::str::from_utf8(port)
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|p| (1..=65535).contains(&p))
            && port.iter().all(u8::is_ascii_digit));
    if !port_ok {
        return Err(LineError::BadOption("invalid permission port"));
    }
    Ok(())
}

/// `hpdelim2`: split at the first `:` (or `/`), honouring `[...]` brackets.
fn split_host_port(v: &[u8]) -> Option<(&[u8], &[u8])> {
    if v.first() == Some(&b'[') {
        let close = v.iter().position(|&b| b == b']')?;
        match v.get(close + 1) {
            Some(b':' | b'/') => Some((&v[1..close], &v[close + 2..])),
            _ => None,
        }
    } else {
        let at = v.iter().position(|&b| b == b':' || b == b'/')?;
        Some((&v[..at], &v[at + 1..]))
    }
}

/// `a2tun`: `any` or a device number up to 0x7ffffffd.
fn valid_tunnel(v: &[u8]) -> bool {
    if v.eq_ignore_ascii_case(b"any") {
        return true;
    }
    !v.is_empty()
        && v.iter().all(u8::is_ascii_digit)
        && std::str::from_utf8(v)
            .ok()
            .and_then(|t| t.parse::<u64>().ok())
            .is_some_and(|n| n <= 0x7fff_fffd)
}

/// `parse_absolute_time`: YYYYMMDD[HHMM[SS]], optionally followed by `Z` or
/// `UTC`, with the field ranges strptime enforces.
pub fn valid_expiry(v: &[u8]) -> bool {
    let digits = if let Some(d) = v.strip_suffix(b"Z").or_else(|| v.strip_suffix(b"z")) {
        d
    } else if v.len() > 3 && v[v.len() - 3..].eq_ignore_ascii_case(b"UTC") {
        &v[..v.len() - 3]
    } else {
        v
    };
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> u32 {
        digits[r]
            .iter()
            .fold(0, |n, &d| n * 10 + u32::from(d - b'0'))
    };
    let year = num(0..4);
    let (month, day) = (num(4..6), num(6..8));
    let (hour, minute, second) = match digits.len() {
        8 => (0, 0, 0),
        12 => (num(8..10), num(10..12), 0),
        _ => (num(8..10), num(10..12), num(12..14)),
    };
    year >= 1970
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour <= 23
        && minute <= 59
        && second <= 61
}

#[cfg(test)]
mod tests {
    use super::*;

    // `ssh-keygen -t ed25519` public keys, fixed for the tests.
    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH0N4saguHZjm5JJuuLTp/fxY41ZKz8LH/Mtp58jMGCe";
    const ED2: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIPjxbcCt16ae+JIX96e3/y7b+Z1IVkdp4aRj8KNT/aMG";
    const ECDSA: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBA3++ud2s0PM4ymtBAHCrmca5Knsunrmxo0Z0pglCXMDt2rkGEw2dX1wrbKm0E2GofxVY9a52TEfRNMnVneqjVk=";
    const RSA1024: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDFeEVW2NNS39BYZyrXpR//WNmjGPLaJjvgVM1lEThp4DYBk6FzEKyirkjSbD0X7Sq18bbmeTOivIOXElFJxORchHtDQzdp+W3wm0zQSUYk+x0j3XKTelbnLJFDvdPZf8DGw55moCvSZw4UgGe0ZrTC0dl4yf8n9xDvpF4DcAVvIw==";

    fn ok(line: &str) -> KeyLine<'_> {
        match parse_line(line.as_bytes()) {
            Ok(Some(k)) => k,
            other => panic!("{line:?}: {other:?}"),
        }
    }

    fn err(line: &str) -> LineError {
        match parse_line(line.as_bytes()) {
            Err(e) => e,
            other => panic!("{line:?} should fail: {other:?}"),
        }
    }

    #[test]
    fn blank_and_comment_lines_are_skipped() {
        for l in ["", "\n", "  \t\r\n", "# comment", "   # indented"] {
            assert_eq!(parse_line(l.as_bytes()), Ok(None), "{l:?}");
        }
    }

    #[test]
    fn plain_keys_with_and_without_comment_and_crlf() {
        assert_eq!(ok(ED).label, "ssh-ed25519");
        assert_eq!(
            ok(&format!("{ED} alice@host\r\n")).text,
            format!("{ED} alice@host").as_bytes()
        );
        assert_eq!(ok(&format!("  {ED}")).text, ED.as_bytes());
        assert_eq!(ok(&format!("ssh-ed25519\t{ED2}\tc")).label, "ssh-ed25519");
        assert_eq!(ok(ECDSA).label, "ecdsa-sha2-nistp256");
        assert_eq!(ok(RSA1024).label, "ssh-rsa");
        // sshd accepts the signature-algorithm names as labels for an RSA key.
        let (_, b64) = RSA1024.split_once(' ').unwrap();
        assert_eq!(ok(&format!("rsa-sha2-256 {b64}")).label, "rsa-sha2-256");
    }

    #[test]
    fn options_sshd_accepts() {
        for opts in [
            "restrict",
            "no-pty,no-port-forwarding,NO-X11-FORWARDING,no-agent-forwarding,no-user-rc",
            "pty,user-rc,port-forwarding,agent-forwarding,x11-forwarding",
            "no-touch-required,verify-required",
            r#"command="echo \"hi there\"""#,
            r#"from="10.0.0.0/8,!10.1.*",permitopen="localhost:80",permitopen="[::1]:*""#,
            r#"permitlisten="8080",permitlisten="localhost:22""#,
            r#"expiry-time="20991231",expiry-time="209912312359Z",expiry-time="20991231235959UTC""#,
            r#"environment="FOO_1=bar baz",tunnel="any",tunnel="5""#,
        ] {
            let line = format!("{opts} {ED} c");
            assert!(!ok(&line).options.cert_authority, "{line}");
        }
        let ca = format!(r#"cert-authority,principals="alice,bob" {ED}"#);
        assert!(ok(&ca).options.cert_authority);
    }

    #[test]
    fn options_sshd_rejects_with_its_reason() {
        for (opts, reason) in [
            ("no-ptyx", "unknown key option"),
            ("bogus", "unknown key option"),
            ("no-restrict", "unknown key option"),
            ("no-pty,", "unexpected end-of-options"),
            ("command=echo", "missing start quote"),
            (r#"command="a",command="b""#, "multiple \"command\" clauses"),
            (r#"from="a",from="b""#, "multiple \"from\" clauses"),
            (r#"expiry-time="2020""#, "invalid expires time"),
            (r#"expiry-time="20201341""#, "invalid expires time"),
            (r#"environment="1 bad""#, "invalid environment string"),
            (r#"environment="NOEQUALS""#, "invalid environment string"),
            (r#"permitopen="host""#, "invalid permission hostname"),
            (r#"permitopen="host:0""#, "invalid permission port"),
            (r#"permitopen="host:70000""#, "invalid permission port"),
            (r#"tunnel="x""#, "invalid tun device"),
        ] {
            assert_eq!(
                err(&format!("{opts} {ED}")),
                LineError::BadOption(reason),
                "{opts}"
            );
        }
    }

    #[test]
    fn principals_need_cert_authority() {
        assert_eq!(
            err(&format!(r#"principals="a" {ED}"#)),
            LineError::PrincipalsWithoutCa
        );
    }

    #[test]
    fn unterminated_quote_is_invalid_option_string() {
        assert_eq!(
            err(&format!(r#"command="oops {ED}"#)),
            LineError::UnterminatedQuote
        );
    }

    #[test]
    fn key_errors() {
        assert!(matches!(
            err(&format!("SSH-ED25519 {ED2}")),
            LineError::UnknownKeyType(_)
        ));
        assert!(matches!(err("ssh-foo AAAA"), LineError::UnknownKeyType(_)));
        assert_eq!(
            err("no-pty ssh-foo AAAA"),
            LineError::UnknownKeyType("ssh-foo".into())
        );
        assert_eq!(
            err(&format!("SSH-ED25519 {ED2}")),
            LineError::UnknownKeyType("SSH-ED25519".into())
        );
        assert_eq!(err("ssh-ed25519 AAAA!!!!"), LineError::BadBase64);
        assert_eq!(err(&format!("ssh-ed25519 {ED2}==")), LineError::BadBase64);
        assert_eq!(err("ssh-ed25519"), LineError::NoKey);
        assert!(matches!(
            err(&format!("ssh-rsa {ED2}")),
            LineError::TypeMismatch { .. }
        ));
        assert!(matches!(
            err("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAAQA="),
            LineError::BadKeyData(_)
        ));
        assert_eq!(err(&format!("{ED}\0x")), LineError::Nul);
        assert_eq!(err(&format!("{ED} a\rb")), LineError::CarriageReturn);
        assert_eq!(
            err(&format!("command=\"a\rb\" {ED}")),
            LineError::CarriageReturn
        );
    }

    #[test]
    fn parser_errors_carry_no_raw_bytes_of_the_blob() {
        // An ECDSA blob whose curve name is a log line and a terminal escape:
        // ssh-key quotes it in its error.
        let mut blob = Vec::new();
        for field in [
            &b"ecdsa-sha2-nistp256"[..],
            b"nist\nsshd: Accepted\x1b[2K",
            &[4; 65],
        ] {
            blob.extend_from_slice(&(field.len() as u32).to_be_bytes());
            blob.extend_from_slice(field);
        }
        let line = format!("ecdsa-sha2-nistp256 {}", STANDARD.encode(&blob));
        let text = err(&line).to_string();
        assert!(text.contains("nist\\x0asshd: Accepted\\x1b[2K"), "{text}");
        assert!(!text.bytes().any(|b| b < 0x20 || b == 0x7f), "{text:?}");
    }

    #[test]
    fn trailing_blob_data_is_refused() {
        let mut blob = STANDARD.decode(ED2).unwrap();
        blob.push(0);
        let line = format!("ssh-ed25519 {}", STANDARD.encode(&blob));
        assert!(matches!(err(&line), LineError::BadKeyData(_)));
    }

    #[test]
    fn ecdsa_point_off_the_curve_is_refused() {
        let (_, b64) = ECDSA.split_once(' ').unwrap();
        let mut blob = STANDARD.decode(b64).unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 1;
        let line = format!("ecdsa-sha2-nistp256 {}", STANDARD.encode(&blob));
        assert!(matches!(err(&line), LineError::BadKeyData(_)));
    }

    #[test]
    fn prefilter_keeps_the_key_and_ca_lines_only() {
        let fp = Fingerprint::of_sha256(&STANDARD.decode(ED.split_once(' ').unwrap().1).unwrap());
        for keep in [
            ED.to_string(),
            format!("  no-pty,command=\"a b\" {ED} c\r\n"),
            format!("CERT-AUTHORITY ssh-ed25519 {ED2}"),
        ] {
            assert!(may_match(keep.as_bytes(), &fp), "{keep}");
        }
        for drop in [
            format!("ssh-ed25519 {ED2}"),
            "# x".into(),
            String::new(),
            "garbage".into(),
        ] {
            assert!(!may_match(drop.as_bytes(), &fp), "{drop}");
        }
    }

    #[test]
    fn expiry_formats() {
        assert!(valid_expiry(b"20250101"));
        assert!(valid_expiry(b"202501011230"));
        assert!(valid_expiry(b"20250101123059z"));
        assert!(valid_expiry(b"20250101utc"));
        assert!(!valid_expiry(b"2025010"));
        assert!(!valid_expiry(b"20250132"));
        assert!(!valid_expiry(b"202501012460"));
        assert!(!valid_expiry(b"19600101"));
    }
}
