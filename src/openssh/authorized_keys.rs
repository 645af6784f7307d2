//! The authorized_keys line grammar, as the installed sshd parses it
//! (`auth_check_authkey_line`, `sshkey_read`, `sshkey_advance_past_options`,
//! `sshauthopt_parse`), for every release from 7.7 on (see `openssh`).
//!
//! keyward only prints lines that sshd will use, so a store typo shows up in
//! keyward's log with `file:line` and a reason instead of as a silent refusal.
//! tests/differential.rs holds this module to OpenSSH's own parser, built
//! from source, line by line.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::openssh::c_library;
use crate::openssh::fingerprint::Fingerprint;
use crate::openssh::public_key::{self, BlobError, Read};
use crate::openssh::{self, KeyType, Label, MaskParse, Sshd, Version};

/// A line that sshd accepts, borrowed from the store file.
#[derive(Debug, PartialEq, Eq)]
pub struct KeyLine<'a> {
    /// What keyward prints for sshd: the line without leading blanks, its
    /// line ending, and anything after a NUL (sshd reads a C string).
    pub text: &'a [u8],
    /// The key type as written (`ssh-ed25519`, `rsa-sha2-256`, ...).
    pub label: &'a str,
    pub kind: KeyType,
    /// The key as sshd would write it: what it compares and fingerprints.
    pub blob: Vec<u8>,
    /// Modulus or curve size.
    pub bits: u32,
    pub options: Options,
    /// The options field as written; empty when the line starts with the key.
    pub options_text: &'a [u8],
    /// Whatever follows the key field, without leading blanks.
    pub comment: &'a [u8],
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub cert_authority: bool,
    /// The earliest `expiry-time`, in seconds since the epoch, as sshd
    /// computes it (local time unless marked UTC).
    pub valid_before: Option<u64>,
    /// `from="..."`, dequoted.
    pub from: Option<Vec<u8>>,
    /// `principals="..."`, dequoted (only on `cert-authority` lines: a
    /// line with it and without that is an error).
    pub principals: Option<Vec<u8>>,
    /// `command="..."`, dequoted.
    pub command: Option<Vec<u8>>,
    /// `no-touch-required` (the last of it and `touch-required` wins).
    pub no_touch_required: bool,
    /// `verify-required` (the last of it and `no-verify-required` wins).
    pub verify_required: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum LineError {
    NotUtf8Type,
    UnknownKeyType(String),
    /// A key type or option that a later OpenSSH release reads.
    NeedsRelease {
        what: String,
        since: Version,
        sshd: Version,
    },
    /// Any other line this release refuses and a later one reads.
    LaterRelease {
        reason: Box<LineError>,
        since: Version,
        sshd: Version,
    },
    /// `invalid key option string`: a quote opened in the options never closes.
    UnterminatedQuote,
    NoKey,
    BadBase64,
    BadKeyData(BlobError),
    TypeMismatch {
        label: String,
        blob: String,
    },
    BadOption(&'static str),
    /// sshd's "unknown key option", with the option's name as written
    /// (escaped, at most 40 bytes).
    UnknownOption(String),
    Certificate,
    PrincipalsWithoutCa,
    /// A `from=` list sshd calls invalid: it refuses the key for every client.
    InvalidFrom,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let esc = |s: &str| crate::log::escape(s.as_bytes());
        match self {
            LineError::NotUtf8Type => write!(f, "key type is not text"),
            LineError::UnknownKeyType(t) => write!(f, "unknown key type \"{}\"", esc(t)),
            LineError::NeedsRelease { what, since, sshd } => write!(
                f,
                "{} needs OpenSSH {since}; this sshd is {sshd}, which never uses this line",
                esc(what)
            ),
            LineError::LaterRelease {
                reason,
                since,
                sshd,
            } => write!(
                f,
                "{reason}: this sshd is {sshd}, which never uses this line (OpenSSH {since} and later read it)"
            ),
            LineError::UnterminatedQuote => {
                write!(f, "invalid key option string (unterminated quote)")
            }
            LineError::NoKey => write!(f, "no key type and key after the options"),
            LineError::BadBase64 => write!(f, "key is not valid base64"),
            LineError::BadKeyData(e) => write!(f, "key data does not parse: {e}"),
            LineError::TypeMismatch { label, blob } => write!(
                f,
                "key type \"{}\" does not match the key, which is \"{}\"",
                esc(label),
                esc(blob)
            ),
            LineError::BadOption(reason) => write!(f, "bad key options: {reason}"),
            LineError::UnknownOption(name) => {
                write!(f, "bad key options: unknown key option \"{name}\"")
            }
            LineError::Certificate => write!(
                f,
                "a certificate never matches as a key line; add the CA's public key with cert-authority instead"
            ),
            LineError::PrincipalsWithoutCa => write!(
                f,
                "principals= without cert-authority: sshd refuses this key"
            ),
            LineError::InvalidFrom => write!(
                f,
                "from= holds an empty entry or an address sshd calls invalid (such as 10.0.0.1/8, with host bits set): sshd refuses this key from everywhere"
            ),
        }
    }
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Parses one line for the installed sshd. `Ok(None)` for blank and
/// comment lines.
pub fn parse_line(raw: &[u8]) -> Result<Option<KeyLine<'_>>, LineError> {
    parse_line_as(raw, openssh::installed())
}

/// Parses one line as release `sshd` does. A refusal that a later release
/// would not make says which release reads the line.
pub fn parse_line_as<'a>(raw: &'a [u8], sshd: &Sshd) -> Result<Option<KeyLine<'a>>, LineError> {
    match parse_for(raw, sshd) {
        Err(e) if !matches!(e, LineError::NeedsRelease { .. }) => {
            let later = openssh::BOUNDARIES.iter().find(|&&v| {
                v > sshd.version
                    && parse_for(
                        raw,
                        &Sshd {
                            version: v,
                            debian: sshd.debian,
                        },
                    )
                    .is_ok()
            });
            Err(match later {
                Some(&since) => LineError::LaterRelease {
                    reason: Box::new(e),
                    since,
                    sshd: sshd.version,
                },
                None => e,
            })
        }
        other => other,
    }
}

fn parse_for<'a>(raw: &'a [u8], sshd: &Sshd) -> Result<Option<KeyLine<'a>>, LineError> {
    let Some(line) = content(raw) else {
        return Ok(None);
    };
    let (options, key_part) = split_options(line, sshd)?;
    // No key type after the options either. If the "options" do not parse,
    // the first word was most likely a mistyped key type.
    let second = token(key_part);
    if !options.is_empty() && !second.is_empty() && sshd.label(second).is_none() {
        if parse_options(options, sshd).is_ok() {
            return Err(unknown_type(second, sshd));
        }
        return Err(match later_label(token(line), sshd) {
            Some(e) => e,
            None => unknown_type(token(line), sshd),
        });
    }
    // sshd reads the key before it parses the options.
    let key = read_key(key_part, sshd)?;
    let parsed = parse_options(options, sshd)?;
    if parsed.principals.is_some() && !parsed.cert_authority {
        return Err(LineError::PrincipalsWithoutCa);
    }
    if parsed
        .from
        .as_ref()
        .is_some_and(|f| !from_is_valid(f, sshd))
    {
        return Err(LineError::InvalidFrom);
    }
    let after_label = skip_blanks(&key_part[key.label.len()..]);
    let comment = skip_blanks(&after_label[token(after_label).len()..]);
    Ok(Some(KeyLine {
        text: line,
        label: key.label,
        kind: key.key.kind,
        blob: key.key.blob,
        bits: key.key.bits,
        options: parsed,
        options_text: options,
        comment,
    }))
}

fn unknown_type(t: &[u8], sshd: &Sshd) -> LineError {
    later_label(t, sshd)
        .unwrap_or_else(|| LineError::UnknownKeyType(String::from_utf8_lossy(t).into_owned()))
}

/// A label this release does not read but a later one does.
fn later_label(t: &[u8], sshd: &Sshd) -> Option<LineError> {
    let newest = Sshd {
        version: Version::new(u16::MAX, 0, 1),
        debian: false,
    };
    let Some(Label::Plain(kind)) = newest.label(t) else {
        return None;
    };
    if kind == KeyType::Dsa && sshd.label(t).is_none() {
        return Some(LineError::UnknownKeyType(format!(
            "{} (DSA: OpenSSH 9.8 stopped building it by default and 10.0 removed it; this sshd is {})",
            String::from_utf8_lossy(t),
            sshd.version
        )));
    }
    let since = if t == b"webauthn-sk-ecdsa-sha2-nistp256@openssh.com" {
        Version::new(8, 4, 1)
    } else {
        kind.since()
    };
    (sshd.version < since).then(|| LineError::NeedsRelease {
        what: format!("key type {}", String::from_utf8_lossy(t)),
        since,
        sshd: sshd.version,
    })
}

/// Splits a line into its options (empty when it starts with a key type)
/// and the key part that follows them, as `auth_check_authkey_line` does.
/// (When the first word is a key type whose key does not read, sshd tries
/// it as options too; no key type is an option, so that never succeeds.)
fn split_options<'a>(line: &'a [u8], sshd: &Sshd) -> Result<(&'a [u8], &'a [u8]), LineError> {
    if sshd.label(token(line)).is_some() {
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

struct ReadKey<'a> {
    label: &'a str,
    key: public_key::PublicKey,
}

/// `sshkey_read`: type label, blanks, base64 blob, then an ignored comment.
fn read_key<'a>(s: &'a [u8], sshd: &Sshd) -> Result<ReadKey<'a>, LineError> {
    let label_bytes = token(s);
    // sshd wants a blank after the type, and something after the blanks.
    if label_bytes.is_empty() || label_bytes.len() == s.len() {
        return Err(LineError::NoKey);
    }
    let label = std::str::from_utf8(label_bytes).map_err(|_| LineError::NotUtf8Type)?;
    let Some(want) = sshd.label(label_bytes) else {
        return Err(unknown_type(label_bytes, sshd));
    };
    let blob = decode_key_field(&s[label_bytes.len()..])?;
    let found = public_key::read(&blob, sshd).map_err(LineError::BadKeyData)?;
    match (want, found) {
        (Label::Plain(w), Read::Key(k)) if w == k.kind => Ok(ReadKey { label, key: k }),
        (Label::Certificate, Read::Certificate) => Err(LineError::Certificate),
        (_, found) => Err(LineError::TypeMismatch {
            label: label.to_string(),
            blob: match found {
                Read::Key(k) => k.kind.name().to_string(),
                Read::Certificate => "a certificate".to_string(),
            },
        }),
    }
}

/// The base64 field after the key type, decoded as `b64_pton` does.
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

/// The line as sshd sees it: up to a NUL (it reads C strings), without its
/// line ending and leading blanks; `None` for blank and comment lines.
fn content(raw: &[u8]) -> Option<&[u8]> {
    let mut line = match memchr::memchr(0, raw) {
        Some(nul) => &raw[..nul],
        None => raw,
    };
    while let [rest @ .., b'\n' | b'\r'] = line {
        line = rest;
    }
    let line = skip_blanks(line);
    (!line.is_empty() && line[0] != b'#').then_some(line)
}

/// What a fingerprint lookup needs to know about a raw line before parsing
/// it: whether it can be a `cert-authority` line, or else the key it
/// carries (as sshd would write it). `None` for lines that can be neither
/// (comments, blanks, lines whose key field does not read).
#[derive(Debug, PartialEq, Eq)]
pub enum Candidate {
    CertAuthority,
    Key(Vec<u8>),
}

pub fn candidate(raw: &[u8]) -> Option<Candidate> {
    let line = content(raw)?;
    let (options, _) = split_options(line, openssh::installed()).ok()?;
    const CA: &[u8] = b"cert-authority";
    if options
        .windows(CA.len())
        .any(|w| w.eq_ignore_ascii_case(CA))
    {
        return Some(Candidate::CertAuthority);
    }
    key_blob(raw).map(Candidate::Key)
}

/// The canonical blob of the plain key a line carries, whatever its
/// options say and however its key field is encoded; `None` when the line
/// carries no plain key sshd reads.
pub fn key_blob(raw: &[u8]) -> Option<Vec<u8>> {
    let sshd = openssh::installed();
    let line = content(raw)?;
    let (_, key_part) = split_options(line, sshd).ok()?;
    let label = token(key_part);
    let blob = decode_key_field(&key_part[label.len()..]).ok()?;
    match public_key::read(&blob, sshd).ok()? {
        Read::Key(k) => Some(k.blob),
        Read::Certificate => None,
    }
}

/// The key field of a line as written (the base64 after the type), without
/// decoding it; `None` for blank, comment and malformed lines.
pub fn key_field(raw: &[u8]) -> Option<&[u8]> {
    let line = content(raw)?;
    let (_, key_part) = split_options(line, openssh::installed()).ok()?;
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

/// `sshauthopt_parse` as release `sshd` has it.
fn parse_options(mut s: &[u8], sshd: &Sshd) -> Result<Options, LineError> {
    let mut opts = Options::default();
    let mut env_names: Vec<Vec<u8>> = Vec::new();
    let (mut opens, mut listens) = (0usize, 0usize);
    let has = |name: &str| sshd.option_needs(name).is_none();
    while !s.is_empty() && !is_blank(s[0]) {
        // For the error: the option as written, before a matcher moves on.
        let option = s;
        if has("restrict") && flag(&mut s, b"restrict", false) {
        } else if flag(&mut s, b"cert-authority", false) {
            opts.cert_authority = true;
        } else if flag(&mut s, b"port-forwarding", true)
            || flag(&mut s, b"agent-forwarding", true)
            || flag(&mut s, b"x11-forwarding", true)
            || flag(&mut s, b"pty", true)
            || flag(&mut s, b"user-rc", true)
        {
        } else if let Some(on) = has("touch-required")
            .then(|| flag_value(&mut s, b"touch-required"))
            .flatten()
        {
            opts.no_touch_required = !on;
        } else if let Some(on) = has("verify-required")
            .then(|| flag_value(&mut s, b"verify-required"))
            .flatten()
        {
            opts.verify_required = on;
        } else if matches(&mut s, b"command") {
            once(&mut opts.command, &mut s, "multiple \"command\" clauses")?;
        } else if matches(&mut s, b"principals") {
            once(
                &mut opts.principals,
                &mut s,
                "multiple \"principals\" clauses",
            )?;
        } else if matches(&mut s, b"from") {
            once(&mut opts.from, &mut s, "multiple \"from\" clauses")?;
        } else if has("expiry-time") && matches(&mut s, b"expiry-time") {
            let v = dequote(&mut s)?;
            match c_library::parse_absolute_time(&v, sshd) {
                Some(t) if t != 0 => {
                    opts.valid_before = Some(opts.valid_before.map_or(t, |e| e.min(t)));
                }
                _ => return Err(LineError::BadOption("invalid expires time")),
            }
        } else if matches(&mut s, b"environment") {
            environment(&mut s, sshd, &mut env_names)?;
        } else if matches(&mut s, b"permitopen") {
            permit(&mut s, false, &mut opens, sshd)?;
        } else if has("permitlisten") && matches(&mut s, b"permitlisten") {
            permit(&mut s, true, &mut listens, sshd)?;
        } else if matches(&mut s, b"tunnel") {
            let v = dequote(&mut s)?;
            if !v.eq_ignore_ascii_case(b"any") && c_library::strtonum(&v, 0, 0x7fff_fffd).is_none()
            {
                return Err(LineError::BadOption("invalid tun device"));
            }
        } else if let Some(e) = later_option(s, sshd) {
            return Err(e);
        }
        // Nothing matched and no comma either: sshd's "unknown key option".
        // An empty option (`,no-pty`, `pty,,pty`) and a comma before the key
        // are skipped: sshd's "unexpected end-of-options" needs the comma
        // to end the whole line, and a line without a key is refused anyway.
        match s.first() {
            None | Some(b' ' | b'\t') => break,
            Some(b',') => s = &s[1..],
            Some(_) => {
                let end = option
                    .iter()
                    .position(|&c| matches!(c, b'=' | b',' | b' ' | b'\t'))
                    .unwrap_or(option.len());
                let name = &option[..end.min(40)];
                let more = if end > 40 { "..." } else { "" };
                return Err(LineError::UnknownOption(format!(
                    "{}{more}",
                    crate::log::escape(name)
                )));
            }
        }
    }
    Ok(opts)
}

/// The options of an authorized_principals line, as release `sshd` parses
/// them; `None` when it refuses them ("bad principals options").
pub fn options_of(options: &[u8], sshd: &Sshd) -> Option<Options> {
    parse_options(options, sshd).ok()
}

/// An option this release does not parse but a later one does.
fn later_option(s: &[u8], sshd: &Sshd) -> Option<LineError> {
    let bare = if starts_with_ci(s, b"no-") {
        &s[3..]
    } else {
        s
    };
    openssh::OPTIONS_SINCE.iter().find_map(|&(name, _)| {
        let since = sshd.option_needs(name)?;
        starts_with_ci(bare, name.as_bytes()).then(|| LineError::NeedsRelease {
            what: format!("option {name}"),
            since,
            sshd: sshd.version,
        })
    })
}

/// `environment="NAME=value"`: NAME is letters, digits and `_`; since 8.7
/// a repeated NAME counts once and at most 1,024 names are kept.
fn environment(s: &mut &[u8], sshd: &Sshd, names: &mut Vec<Vec<u8>>) -> Result<(), LineError> {
    if sshd.env_limit().is_some_and(|max| names.len() > max) {
        return Err(LineError::BadOption("too many environment strings"));
    }
    let v = dequote(s)?;
    let Some(eq) = v.iter().position(|&b| b == b'=') else {
        return Err(LineError::BadOption("invalid environment string"));
    };
    let name = &v[..eq];
    if name.is_empty() || !name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(LineError::BadOption("invalid environment string"));
    }
    if sshd.env_limit().is_none() || !names.iter().any(|n| n == name) {
        names.push(name.to_vec());
    }
    Ok(())
}

/// An option that may be given once: a second one is an error.
fn once(slot: &mut Option<Vec<u8>>, s: &mut &[u8], reason: &'static str) -> Result<(), LineError> {
    if slot.is_some() {
        return Err(LineError::BadOption(reason));
    }
    *slot = Some(dequote(s)?);
    Ok(())
}

/// `opt_flag`: a case-insensitive prefix match, optionally negated by `no-`.
fn flag(s: &mut &[u8], name: &[u8], allow_negate: bool) -> bool {
    let mut rest = *s;
    if allow_negate && starts_with_ci(rest, b"no-") {
        rest = &rest[3..];
    }
    if starts_with_ci(rest, name) {
        *s = &rest[name.len()..];
        true
    } else {
        false
    }
}

/// `opt_flag` for a flag whose value sshd keeps: `Some(true)` for the
/// name, `Some(false)` for `no-` and the name, `None` for neither.
fn flag_value(s: &mut &[u8], name: &[u8]) -> Option<bool> {
    let negated = starts_with_ci(s, b"no-");
    flag(s, name, true).then_some(!negated)
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
fn permit(s: &mut &[u8], listen: bool, count: &mut usize, sshd: &Sshd) -> Result<(), LineError> {
    if sshd.permit_limit().is_some_and(|max| *count > max) {
        return Err(LineError::BadOption("too many permission directives"));
    }
    let mut v = dequote(s)?;
    *count += 1;
    if listen && !v.contains(&b':') {
        v.splice(0..0, *b"*:");
    }
    // NI_MAXHOST, counted with the brackets hpdelim keeps.
    let (host, port) = hpdelim(&v).ok_or(LineError::BadOption("invalid permission hostname"))?;
    if host.len() >= 1025 {
        return Err(LineError::BadOption("invalid permission hostname"));
    }
    match port {
        Some(p) if p == b"*" || c_library::a2port(p) > 0 => Ok(()),
        _ => Err(LineError::BadOption("invalid permission port")),
    }
}

/// `hpdelim2`: the host (brackets included) and what follows the first `:`
/// or `/` after it; `None` as the port when there is no delimiter.
fn hpdelim(v: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let at = if v.first() == Some(&b'[') {
        v.iter().position(|&b| b == b']')? + 1
    } else {
        v.iter()
            .position(|&b| b == b':' || b == b'/')
            .unwrap_or(v.len())
    };
    match v.get(at) {
        None => Some((v, None)),
        Some(b':' | b'/') => Some((&v[..at], Some(&v[at + 1..]))),
        Some(_) => None,
    }
}

/// `addr_match_list(NULL, list) != -2`: every entry of a `from=` list is
/// non-empty, and each one that reads as an address (or CIDR block) has a
/// valid mask and no host bits set. Entries that do not read as addresses
/// are host name patterns, which are never invalid.
fn from_is_valid(list: &[u8], sshd: &Sshd) -> bool {
    list.split(|&b| b == b',').all(|entry| {
        let entry = entry.strip_prefix(b"!").unwrap_or(entry);
        !entry.is_empty() && cidr(entry, sshd) != Cidr::Invalid
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Cidr {
    NotAnAddress,
    Valid,
    Invalid,
}

/// `addr_pton_cidr`.
fn cidr(entry: &[u8], sshd: &Sshd) -> Cidr {
    // addrbuf[64], strlcpy: a longer entry is no address.
    if entry.len() >= 64 {
        return Cidr::NotAnAddress;
    }
    let (addr, mask) = match entry.iter().position(|&b| b == b'/') {
        None => (entry, None),
        Some(slash) => {
            let m = &entry[slash + 1..];
            let n = match sshd.mask_parse() {
                MaskParse::Strtonum => {
                    c_library::strtonum(m, 0, i64::from(i32::MAX)).map(|n| n as u64)
                }
                MaskParse::DigitFirst if !m.first().is_some_and(u8::is_ascii_digit) => None,
                _ if m.is_empty() => None,
                _ => c_library::strtoul(m).filter(|&n| n <= 128),
            };
            match n {
                Some(n) => (&entry[..slash], Some(n)),
                None => return Cidr::NotAnAddress,
            }
        }
    };
    let Some(a) = c_library::addr_pton(addr) else {
        return Cidr::NotAnAddress;
    };
    let bytes: &[u8] = match &a {
        c_library::Addr::V4(b) => b,
        c_library::Addr::V6(b) => b,
    };
    let width = bytes.len() as u32 * 8;
    let mask = match mask {
        None => width,
        Some(m) if m > u64::from(width) => return Cidr::Invalid,
        Some(m) => m as u32,
    };
    // Host bits: everything after the first `mask` bits must be zero.
    let host_bits_set = bytes.iter().enumerate().any(|(i, &b)| {
        let first = i as u32 * 8;
        let keep = mask.saturating_sub(first).min(8);
        let host_mask = if keep >= 8 { 0 } else { 0xffu8 >> keep };
        b & host_mask != 0
    });
    if host_bits_set {
        Cidr::Invalid
    } else {
        Cidr::Valid
    }
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
        // Named as written, escaped, at most 40 bytes.
        for (opts, name) in [
            ("no-ptyx", "no-ptyx"),
            ("bogus=\"1\"", "bogus"),
            ("no-restrict", "no-restrict"),
            ("pty,\x1b[31m", "\\x1b[31m"),
            (&"x".repeat(50), &format!("{}...", "x".repeat(40))),
        ] {
            let e = err(&format!("{opts} {ED}"));
            assert_eq!(e, LineError::UnknownOption(name.to_string()), "{opts}");
            assert!(e.to_string().contains("unknown key option"));
        }
        for (opts, reason) in [
            ("command=echo", "missing start quote"),
            (r#"command="a",command="b""#, "multiple \"command\" clauses"),
            (r#"from="a",from="b""#, "multiple \"from\" clauses"),
            (r#"expiry-time="2020""#, "invalid expires time"),
            (r#"expiry-time="20201341""#, "invalid expires time"),
            (r#"environment="1 bad""#, "invalid environment string"),
            (r#"environment="NOEQUALS""#, "invalid environment string"),
            (r#"permitopen="host""#, "invalid permission port"),
            (r#"permitopen="[::1""#, "invalid permission hostname"),
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
    }

    #[test]
    fn c_string_and_carriage_returns_as_sshd_reads_them() {
        // sshd's line is a C string: a NUL ends it, and keyward prints only
        // what sshd reads.
        assert_eq!(ok(&format!("{ED}\0x")).text, ED.as_bytes());
        assert_eq!(err(&format!("no-pty\0 {ED}")), LineError::NoKey);
        // A CR inside a comment or a command is just a byte to sshd; inside
        // the options it is an unknown option.
        assert_eq!(ok(&format!("{ED} a\rb")).comment, b"a\rb");
        assert!(
            ok(&format!("command=\"a\rb\" {ED}"))
                .options_text
                .contains(&b'\r')
        );
        assert_eq!(
            err(&format!("no-pty\r {ED}")),
            LineError::UnknownOption("no-pty\\x0d".into())
        );
    }

    #[test]
    fn empty_options_and_a_comma_before_the_key_are_skipped() {
        for opts in [",no-pty", "pty,,pty", "no-pty,", ","] {
            ok(&format!("{opts} {ED}"));
        }
    }

    #[test]
    fn from_lists_sshd_calls_invalid() {
        for from in [
            "",
            "10.0.0.1/8",
            "10.0.0.0/33",
            "a,",
            "a,,b",
            "!",
            "10.1.0.1/16",
        ] {
            assert_eq!(
                err(&format!("from=\"{from}\" {ED}")),
                LineError::InvalidFrom,
                "{from}"
            );
        }
        for from in [
            "10.0.0.0/8",
            "*.example.com,!10.1.*",
            "::1",
            "10.0.0.1/8x",
            "fe80::/10",
        ] {
            ok(&format!("from=\"{from}\" {ED}"));
        }
    }

    #[test]
    fn releases_differ() {
        use crate::openssh::Version;
        let v82 = Sshd {
            version: Version::new(8, 2, 1),
            debian: false,
        };
        let line = format!("verify-required {ED}");
        assert!(parse_line_as(line.as_bytes(), &crate::openssh::DEFAULT).is_ok());
        let e = parse_line_as(line.as_bytes(), &v82).unwrap_err();
        assert_eq!(
            e.to_string(),
            "option verify-required needs OpenSSH 8.4p1; this sshd is 8.2p1, which never uses this line"
        );
        // UTC suffixes arrived in 9.1.
        let utc = format!("expiry-time=\"20991231Z\" {ED}");
        assert_eq!(
            parse_line_as(utc.as_bytes(), &v82).unwrap_err().to_string(),
            "bad key options: invalid expires time: this sshd is 8.2p1, which never uses this line (OpenSSH 9.1p1 and later read it)"
        );
        assert_eq!(ok(&utc).options.valid_before, Some(4_102_358_400));
    }

    #[test]
    fn parser_errors_carry_no_raw_bytes_of_the_blob() {
        // A blob whose type string is a log line and a terminal escape.
        let mut blob = Vec::new();
        for field in [&b"ssh-ed\nsshd: Accepted\x1b[2K"[..], &[4; 32]] {
            blob.extend_from_slice(&(field.len() as u32).to_be_bytes());
            blob.extend_from_slice(field);
        }
        let line = format!("ssh-ed25519 {}", STANDARD.encode(&blob));
        let text = err(&line).to_string();
        assert!(text.contains("ssh-ed\\x0asshd: Accepted\\x1b[2K"), "{text}");
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
}
