//! sshd's `%f`: `SHA256:` + unpadded base64 of SHA-256 over the key blob, or
//! `MD5:` + colon-separated hex under `FingerprintHash md5`.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use md5::{Digest as _, Md5};
use sha2::Sha256;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fingerprint {
    Sha256([u8; 32]),
    Md5([u8; 16]),
}

#[derive(Debug, PartialEq, Eq)]
pub struct BadFingerprint;

impl fmt::Display for BadFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not a key fingerprint as sshd's %f gives it (SHA256:<43 base64 characters> or MD5:<16 hex pairs>)"
        )
    }
}

impl Fingerprint {
    pub fn parse(s: &[u8]) -> Result<Fingerprint, BadFingerprint> {
        if let Some(b64) = s.strip_prefix(b"SHA256:") {
            let bytes = STANDARD_NO_PAD.decode(b64).map_err(|_| BadFingerprint)?;
            return bytes
                .try_into()
                .map(Fingerprint::Sha256)
                .map_err(|_| BadFingerprint);
        }
        if let Some(hex) = s.strip_prefix(b"MD5:") {
            let mut out = [0u8; 16];
            let mut parts = hex.split(|&b| b == b':');
            for byte in out.iter_mut() {
                let part = parts.next().ok_or(BadFingerprint)?;
                // Two hex digits exactly: from_str_radix alone takes "+7".
                if part.len() != 2 || !part.iter().all(u8::is_ascii_hexdigit) {
                    return Err(BadFingerprint);
                }
                let text = std::str::from_utf8(part).map_err(|_| BadFingerprint)?;
                *byte = u8::from_str_radix(text, 16).map_err(|_| BadFingerprint)?;
            }
            if parts.next().is_some() {
                return Err(BadFingerprint);
            }
            return Ok(Fingerprint::Md5(out));
        }
        Err(BadFingerprint)
    }

    pub fn of_sha256(blob: &[u8]) -> Fingerprint {
        Fingerprint::Sha256(Sha256::digest(blob).into())
    }

    pub fn matches(&self, blob: &[u8]) -> bool {
        match self {
            Fingerprint::Sha256(want) => Sha256::digest(blob).as_slice() == want,
            Fingerprint::Md5(want) => Md5::digest(blob).as_slice() == want,
        }
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fingerprint::Sha256(h) => write!(f, "SHA256:{}", STANDARD_NO_PAD.encode(h)),
            Fingerprint::Md5(h) => {
                write!(f, "MD5:")?;
                for (i, b) in h.iter().enumerate() {
                    write!(f, "{}{b:02x}", if i == 0 { "" } else { ":" })?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    // From `ssh-keygen -lf` and `ssh-keygen -E md5 -lf` on the same key.
    const BLOB: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIH0N4saguHZjm5JJuuLTp/fxY41ZKz8LH/Mtp58jMGCe";
    const SHA: &str = "SHA256:XRWtJIs5DWA/7+yjkGtxNm+ex7pm/L1fWlsM6gi8aAs";
    const MD5: &str = "MD5:7b:37:60:99:7f:5a:53:8e:0a:17:ba:f8:38:4d:39:ec";

    #[test]
    fn matches_what_ssh_keygen_prints() {
        let blob = STANDARD.decode(BLOB).unwrap();
        let sha = Fingerprint::parse(SHA.as_bytes()).unwrap();
        let md5 = Fingerprint::parse(MD5.as_bytes()).unwrap();
        assert!(sha.matches(&blob));
        assert!(md5.matches(&blob));
        assert!(!sha.matches(b"other"));
        assert_eq!(sha.to_string(), SHA);
        assert_eq!(md5.to_string(), MD5);
        assert_eq!(Fingerprint::of_sha256(&blob), sha);
    }

    #[test]
    fn malformed_fingerprints_are_refused() {
        for bad in [
            "",
            "XRWtJIs5DWA/7+yjkGtxNm+ex7pm/L1fWlsM6gi8aAs",
            "SHA256:",
            "SHA256:XRWtJIs5DWA/7+yjkGtxNm+ex7pm/L1fWlsM6gi8aAs=",
            "SHA256:XRWtJIs5DWA/7+yjkGtxNm+ex7pm/L1fWlsM6gi8a",
            "sha256:XRWtJIs5DWA/7+yjkGtxNm+ex7pm/L1fWlsM6gi8aAs",
            "MD5:7b:37",
            "MD5:7b:37:60:99:7f:5a:53:8e:0a:17:ba:f8:38:4d:39:ec:00",
            "MD5:7b:37:60:99:7f:5a:53:8e:0a:17:ba:f8:38:4d:39:zz",
            "MD5:7b:37:60:99:7f:5a:53:8e:0a:17:ba:f8:38:4d:39:e",
            "MD5:+7:37:60:99:7f:5a:53:8e:0a:17:ba:f8:38:4d:39:ec",
            "MD5:7b:37:60:99:7f:5a:53:8e:0a:17:ba:f8:38:4d:39:-1",
        ] {
            assert_eq!(
                Fingerprint::parse(bad.as_bytes()),
                Err(BadFingerprint),
                "{bad}"
            );
        }
    }
}
