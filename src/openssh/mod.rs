//! What a given OpenSSH release does, and nothing else: its authorized_keys
//! grammar (`authorized_keys`), key blobs (`public_key`), fingerprints,
//! StrictModes (`strict_modes`), how it splits and expands a command line
//! and what `sshd -T` says (`sshd`), sshd_config editing (`sshd_config`),
//! and the C library calls it makes, including how it starts a command as
//! its user (`c_library`, the one place with FFI).
//!
//! This file: which OpenSSH release reads keyward's output, and what that
//! release parses. setup records the installed sshd in keyward.toml (`[sshd]`);
//! everything that says what sshd will do with a line, a home or a command
//! asks this module instead of assuming one version.
//!
//! The feature versions come from the OpenSSH sources (the first release
//! tag that carries each change). tests/differential.rs proves the model
//! against OpenSSH's own parser for 8.2p1, Debian's 9.2p1 and 10.5p1.

pub mod authorized_keys;
pub mod c_library;
pub mod fingerprint;
pub mod pubkey_auth;
pub mod public_key;
pub mod sshd;
pub mod sshd_config;
pub mod strict_modes;

use std::fmt;
use std::sync::OnceLock;

/// An OpenSSH portable release as `sshd -V` names it: `OpenSSH_9.2p1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u16,
    pub minor: u16,
    pub portable: u16,
}

impl Version {
    pub const fn new(major: u16, minor: u16, portable: u16) -> Version {
        Version {
            major,
            minor,
            portable,
        }
    }

    /// `9.2p1`, `8.2p1`, `10.0p2`; a bare `9.2` means p1.
    pub fn parse(s: &str) -> Option<Version> {
        let (num, p) = match s.split_once('p') {
            Some((num, p)) => (num, p.parse().ok()?),
            None => (s, 1),
        };
        let (major, minor) = num.split_once('.')?;
        let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(major) || !all_digits(minor) {
            return None;
        }
        Some(Version::new(major.parse().ok()?, minor.parse().ok()?, p))
    }

    pub fn at_least(self, major: u16, minor: u16) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}p{}", self.major, self.minor, self.portable)
    }
}

/// The sshd keyward answers to: its release, and whether it carries
/// Debian's StrictModes patch (a group-writable path is fine when the group's
/// only member is the user; Debian and Ubuntu builds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sshd {
    pub version: Version,
    pub debian: bool,
}

/// Debian 12's sshd, what keyward assumes when nothing is recorded.
pub const DEFAULT: Sshd = Sshd {
    version: Version::new(9, 2, 1),
    debian: true,
};

/// The oldest release whose line parser keyward models (the rewrite of
/// auth-options.c into `sshauthopt_parse` in 7.7); older ones parse options
/// with code keyward does not mirror.
pub const OLDEST_MODELLED: Version = Version::new(7, 7, 1);

/// The first release of each change `Sshd` models, oldest first: asking
/// each of these is asking every release.
pub const BOUNDARIES: &[Version] = &[
    Version::new(7, 7, 1),
    Version::new(7, 8, 1),
    Version::new(8, 1, 1),
    Version::new(8, 2, 1),
    Version::new(8, 4, 1),
    Version::new(8, 6, 1),
    Version::new(8, 7, 1),
    Version::new(9, 1, 1),
    Version::new(9, 4, 1),
    Version::new(9, 8, 1),
    Version::new(9, 9, 1),
    Version::new(10, 4, 1),
];

static INSTALLED: OnceLock<Sshd> = OnceLock::new();

/// The sshd this process answers to: set once from the configuration,
/// `DEFAULT` until then.
pub fn installed() -> &'static Sshd {
    INSTALLED.get().unwrap_or(&DEFAULT)
}

/// Sets the sshd for the rest of the process; the first call wins.
pub fn set_installed(sshd: Sshd) {
    let _ = INSTALLED.set(sshd);
}

/// What `sshd -V` prints (on stderr): `OpenSSH_9.2p1 Debian-2+deb12u3,
/// OpenSSL 3.0.15 ...`; older releases print the same line in their usage
/// text. `None` when no version is in it.
pub fn identify(banner: &str) -> Option<Sshd> {
    let start = banner.find("OpenSSH_")? + "OpenSSH_".len();
    let rest = &banner[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .unwrap_or(rest.len());
    let version = Version::parse(&rest[..end])?;
    let vendor = rest[end..]
        .trim_start()
        .split([',', ' '])
        .next()
        .unwrap_or("");
    Some(Sshd {
        version,
        debian: vendor.starts_with("Debian-") || vendor.starts_with("Ubuntu-"),
    })
}

/// How a release reads the mask length of a `from=` CIDR entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskParse {
    /// Before 9.1: `strtoul`, any non-empty text it reads whole, up to 128.
    Strtoul,
    /// 9.1 to 9.7: the same, but the first character must be a digit.
    DigitFirst,
    /// Since 9.8: `strtonum(0, INT_MAX)`, then the family's limit, whose
    /// excess makes the entry invalid (not a host name pattern).
    Strtonum,
}

/// A plain key type as sshd names it (`sshkey_ssh_name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    Ed25519,
    SkEd25519,
    EcdsaP256,
    EcdsaP384,
    EcdsaP521,
    SkEcdsaP256,
    Rsa,
    Dsa,
    MlDsa44Ed25519,
}

impl KeyType {
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "ssh-ed25519",
            KeyType::SkEd25519 => "sk-ssh-ed25519@openssh.com",
            KeyType::EcdsaP256 => "ecdsa-sha2-nistp256",
            KeyType::EcdsaP384 => "ecdsa-sha2-nistp384",
            KeyType::EcdsaP521 => "ecdsa-sha2-nistp521",
            KeyType::SkEcdsaP256 => "sk-ecdsa-sha2-nistp256@openssh.com",
            KeyType::Rsa => "ssh-rsa",
            KeyType::Dsa => "ssh-dss",
            KeyType::MlDsa44Ed25519 => "ssh-mldsa44-ed25519@openssh.com",
        }
    }

    /// The certificate type for this key type (`%t` of a certificate).
    pub fn cert_name(self) -> String {
        let plain = self.name();
        let base = plain.strip_suffix("@openssh.com").unwrap_or(plain);
        format!("{base}-cert-v01@openssh.com")
    }

    /// sshd's short name, which it also takes (in any case) as the type
    /// string inside a key blob.
    pub fn short_name(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "ED25519",
            KeyType::SkEd25519 => "ED25519-SK",
            KeyType::EcdsaP256 | KeyType::EcdsaP384 | KeyType::EcdsaP521 => "ECDSA",
            KeyType::SkEcdsaP256 => "ECDSA-SK",
            KeyType::Rsa => "RSA",
            KeyType::Dsa => "DSA",
            KeyType::MlDsa44Ed25519 => "MLDSA44-ED25519",
        }
    }

    /// The first release that reads this type (DSA: see `Sshd::has_type`).
    pub fn since(self) -> Version {
        match self {
            KeyType::SkEd25519 | KeyType::SkEcdsaP256 => Version::new(8, 2, 1),
            KeyType::MlDsa44Ed25519 => Version::new(10, 4, 1),
            _ => Version::new(0, 0, 0),
        }
    }
}

const ALL_TYPES: [KeyType; 9] = [
    KeyType::Ed25519,
    KeyType::SkEd25519,
    KeyType::EcdsaP256,
    KeyType::EcdsaP384,
    KeyType::EcdsaP521,
    KeyType::SkEcdsaP256,
    KeyType::Rsa,
    KeyType::Dsa,
    KeyType::MlDsa44Ed25519,
];

/// What a label at the start of a key (`sshkey_read`) names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Plain(KeyType),
    /// A `*-cert-v01@openssh.com` type: never matches as a key line.
    Certificate,
}

const CERT_LABELS: &[&str] = &[
    "ssh-ed25519-cert-v01@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ssh-dss-cert-v01@openssh.com",
    "ssh-rsa-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
    "webauthn-sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ssh-mldsa44-ed25519-cert-v01@openssh.com",
];

/// An option keyward knows, with the first release that parses it.
pub const OPTIONS_SINCE: &[(&str, Version)] = &[
    ("restrict", Version::new(7, 2, 1)),
    ("expiry-time", Version::new(7, 7, 1)),
    ("permitlisten", Version::new(7, 8, 1)),
    ("touch-required", Version::new(8, 2, 1)),
    ("verify-required", Version::new(8, 4, 1)),
];

impl Sshd {
    /// Whether this release reads keys of type `t` at all.
    pub fn has_type(&self, t: KeyType) -> bool {
        let v = self.version;
        if t == KeyType::Dsa {
            // 9.8 builds DSA only with --enable-dsa-keys; 10.0 removed it.
            return !v.at_least(9, 8);
        }
        v >= t.since()
    }

    /// `peek_type_nid`: the label at the start of a key, matched exactly.
    pub fn label(&self, s: &[u8]) -> Option<Label> {
        let plain = |t: KeyType| self.has_type(t).then_some(Label::Plain(t));
        match s {
            b"rsa-sha2-256" | b"rsa-sha2-512" => plain(KeyType::Rsa),
            b"webauthn-sk-ecdsa-sha2-nistp256@openssh.com" => {
                if self.version.at_least(8, 4) {
                    plain(KeyType::SkEcdsaP256)
                } else {
                    None
                }
            }
            _ => {
                if let Some(&t) = ALL_TYPES.iter().find(|t| t.name().as_bytes() == s) {
                    return plain(t);
                }
                CERT_LABELS
                    .iter()
                    .any(|c| c.as_bytes() == s)
                    .then_some(Label::Certificate)
            }
        }
    }

    /// `sshkey_type_from_name` on the type string inside a blob: a full
    /// name, or (before 9.9) a plain type's short name in any case. ECDSA
    /// keys must use the full name (the curve comes from it).
    pub fn blob_type(&self, name: &[u8]) -> Option<Label> {
        if let Some(l) = self.label(name) {
            return Some(l);
        }
        if self.version.at_least(9, 9) {
            return None;
        }
        ALL_TYPES
            .iter()
            .find(|t| self.has_type(**t) && t.short_name().as_bytes().eq_ignore_ascii_case(name))
            .map(|&t| Label::Plain(t))
    }

    /// `sshkey_type_from_name` on the type string of a certificate blob:
    /// only full names (no short names for certificates), and the RSA
    /// signature names, which sshd maps to the RSA certificate type.
    pub fn cert_type(&self, name: &[u8]) -> Option<KeyType> {
        if name == b"rsa-sha2-256-cert-v01@openssh.com"
            || name == b"rsa-sha2-512-cert-v01@openssh.com"
        {
            return Some(KeyType::Rsa);
        }
        ALL_TYPES
            .iter()
            .copied()
            .find(|t| self.has_type(*t) && t.cert_name().as_bytes() == name)
    }

    /// `_PATH_STDPATH`, the PATH sshd gives an AuthorizedKeysCommand:
    /// Debian builds with `--with-default-path`, upstream keeps its own.
    pub fn std_path(&self) -> &'static str {
        if self.debian {
            "/usr/local/bin:/usr/bin:/bin:/usr/games"
        } else {
            "/usr/bin:/bin:/usr/sbin:/sbin"
        }
    }

    /// Whether `sshkey_ec_validate_public` still checks the coordinates'
    /// range (each longer than half the order, below order - 1): 10.3
    /// removed those checks ("Remove some unnecessary checks in
    /// sshkey_ec_validate_public()"), so later releases read points that
    /// 8.2 and 9.2 refuse.
    pub fn ec_range_checks(&self) -> bool {
        !self.version.at_least(10, 3)
    }

    /// The release that first parses option `name`, when this one does not.
    pub fn option_needs(&self, name: &str) -> Option<Version> {
        OPTIONS_SINCE
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, since)| since)
            .filter(|&since| self.version < since)
    }

    /// Since 8.7 an `environment` name counts once and at most 1,024 names
    /// are kept (`SSH_AUTHOPT_ENV_MAX`); before, any number.
    pub fn env_limit(&self) -> Option<usize> {
        self.version.at_least(8, 7).then_some(1024)
    }

    /// Since 8.1 at most 4,096 `permitopen` and 4,096 `permitlisten` each
    /// (`SSH_AUTHOPT_PERMIT_MAX`).
    pub fn permit_limit(&self) -> Option<usize> {
        self.version.at_least(8, 1).then_some(4096)
    }

    /// How `addr_pton_cidr` reads a CIDR mask length.
    pub fn mask_parse(&self) -> MaskParse {
        if self.version.at_least(9, 8) {
            MaskParse::Strtonum
        } else if self.version.at_least(9, 1) {
            MaskParse::DigitFirst
        } else {
            MaskParse::Strtoul
        }
    }

    /// Since 9.1 `parse_absolute_time` refuses text after the date; before,
    /// strptime's leftovers (`2099123 `) passed.
    pub fn expiry_whole_string(&self) -> bool {
        self.version.at_least(9, 1)
    }

    /// Since 9.1 an `expiry-time` may end in `Z` or `UTC`.
    pub fn expiry_utc_suffix(&self) -> bool {
        self.version.at_least(9, 1)
    }

    /// Since 10.4 `parse_absolute_time` only fails when mktime does, so a
    /// date before 1970 is taken (as a time that never comes).
    pub fn expiry_before_1970(&self) -> bool {
        self.version.at_least(10, 4)
    }

    /// The release as messages name it: `OpenSSH 8.2p1`.
    pub fn describe(&self) -> String {
        format!(
            "OpenSSH {}{}",
            self.version,
            if self.debian { " (Debian)" } else { "" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(Version::parse("8.2p1"), Some(Version::new(8, 2, 1)));
        assert_eq!(Version::parse("10.0p2"), Some(Version::new(10, 0, 2)));
        assert_eq!(Version::parse("9.2"), Some(Version::new(9, 2, 1)));
        for bad in ["", "9", "9.x", "p1", "9.2p", "-9.2p1"] {
            assert_eq!(Version::parse(bad), None, "{bad}");
        }
        assert!(Version::new(10, 0, 1) > Version::new(9, 9, 2));
        assert_eq!(Version::new(8, 2, 1).to_string(), "8.2p1");
    }

    #[test]
    fn banners() {
        let deb = identify("OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19 27 Jan 2026").unwrap();
        assert_eq!(deb.version, Version::new(9, 2, 1));
        assert!(deb.debian);
        let up =
            identify("unknown option -- V\nOpenSSH_8.2p1, OpenSSL 3.0.19 27 Jan 2026\nusage: sshd")
                .unwrap();
        assert_eq!(up.version, Version::new(8, 2, 1));
        assert!(!up.debian);
        assert!(
            identify("OpenSSH_9.6p1 Ubuntu-3ubuntu13.5, OpenSSL")
                .unwrap()
                .debian
        );
        assert_eq!(identify("sshd: command not found"), None);
    }

    #[test]
    fn features_by_release() {
        let v82 = Sshd {
            version: Version::new(8, 2, 1),
            debian: false,
        };
        assert_eq!(
            v82.option_needs("verify-required"),
            Some(Version::new(8, 4, 1))
        );
        assert_eq!(v82.option_needs("touch-required"), None);
        assert_eq!(
            v82.label(b"webauthn-sk-ecdsa-sha2-nistp256@openssh.com"),
            None
        );
        assert_eq!(DEFAULT.label(b"ssh-dss"), Some(Label::Plain(KeyType::Dsa)));
        let v10 = Sshd {
            version: Version::new(10, 0, 1),
            debian: false,
        };
        assert_eq!(v10.label(b"ssh-dss"), None);
        assert_eq!(v10.blob_type(b"dsa"), None);
        assert_eq!(DEFAULT.blob_type(b"rsa"), Some(Label::Plain(KeyType::Rsa)));
        assert_eq!(
            DEFAULT.blob_type(b"ssh-rsa-cert-v01@openssh.com"),
            Some(Label::Certificate)
        );
        assert_eq!(DEFAULT.label(b"RSA"), None);
    }
}
