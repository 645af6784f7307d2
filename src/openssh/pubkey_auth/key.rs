//! Step 3: the key itself (`userauth_pubkey`), then RevokedKeys.

use super::*;

impl Run<'_, '_> {
    // Step 3: userauth_pubkey() on the key, then RevokedKeys.
    pub(super) fn key(&mut self) -> Next {
        let key = self.login.key;
        let sshd = self.login.sshd;
        let kind = key.key.kind;
        let alg = key.algorithm();
        if !sshd.has_type(kind) {
            return self.refuse(Refusal {
                step: Step::Key,
                reason: "algorithm-unknown",
                what: format!(
                    "{} does not know {} keys at all",
                    sshd.describe(),
                    kind.name()
                ),
                cause: "the sshd release".into(),
                log: format!("userauth_pubkey: unsupported public key algorithm: {alg} [preauth]"),
                log_level: LogLevel::Verbose,
                fix: "use an ed25519 key (ssh-keygen -t ed25519)".into(),
            });
        }
        let (directive, keyword) = if self.v(8, 5) {
            ("PubkeyAcceptedAlgorithms", "pubkeyacceptedalgorithms")
        } else {
            ("PubkeyAcceptedKeyTypes", "pubkeyacceptedkeytypes")
        };
        let accepted = self.s().get(keyword).unwrap_or("").to_string();
        if match_pattern_list(&alg, &accepted) != 1 {
            // Before 9.0 sshd named the key's type, not the algorithm.
            let log = if self.v(9, 0) {
                format!(
                    "userauth_pubkey: signature algorithm {alg} not in PubkeyAcceptedAlgorithms [preauth]"
                )
            } else {
                let name = match &key.cert {
                    None => kind.name().to_string(),
                    Some(_) => key.key.kind.cert_name(),
                };
                format!("userauth_pubkey: key type {name} not in {directive} [preauth]")
            };
            let old = if kind == KeyType::Rsa {
                let sha1 = if key.cert.is_some() {
                    "ssh-rsa-cert-v01@openssh.com"
                } else {
                    "ssh-rsa"
                };
                if match_pattern_list(sha1, &accepted) == 1 {
                    format!(
                        " (only {sha1}, SHA-1, is listed: old clients that sign with it get in, a current client signs with {alg})"
                    )
                } else {
                    format!(" (a current OpenSSH client signs RSA keys with {alg})")
                }
            } else {
                String::new()
            };
            return self.refuse(Refusal {
                step: Step::Key,
                reason: "algorithm-not-accepted",
                what: format!("{alg} is not in {directive}{old}"),
                cause: self.directive(directive),
                log,
                log_level: LogLevel::Info,
                fix: format!(
                    "{directive} +{alg} (or remove the line that narrows it), then reload sshd"
                ),
            });
        }
        self.pass(Step::Key, format!("{alg} is in {directive}"));
        if kind == KeyType::Rsa && key.cert.is_none() {
            // The SHA-1 default changed in 8.8: say which clients it affects.
            self.pass(
                Step::Key,
                if match_pattern_list("ssh-rsa", &accepted) == 1 {
                    format!("ssh-rsa (SHA-1) is in {directive} too: clients that sign only with it (OpenSSH before 7.2, old libraries) get in")
                } else {
                    format!("ssh-rsa (SHA-1) is not in {directive}: clients that sign only with it (OpenSSH before 7.2, old libraries) are refused")
                },
            );
        }
        if let Some(cert) = &key.cert {
            let sig = String::from_utf8_lossy(&cert.signature_type).into_owned();
            let allowed = self
                .s()
                .get("casignaturealgorithms")
                .unwrap_or("")
                .to_string();
            if match_pattern_list(&sig, &allowed) != 1 {
                return self.refuse(Refusal {
                    step: Step::Key,
                    reason: "ca-signature-algorithm",
                    what: format!("the CA signed the certificate with {sig}, which CASignatureAlgorithms does not list"),
                    cause: self.directive("CASignatureAlgorithms"),
                    log: format!("userauth_pubkey: certificate signature algorithm {sig}: signature algorithm not supported [preauth]"),
                    log_level: LogLevel::Info,
                    fix: format!("re-sign the certificate with an accepted algorithm (ssh-keygen -s CA -t rsa-sha2-512 ...), or CASignatureAlgorithms +{sig}"),
                });
            }
            self.pass(
                Step::Key,
                format!("CA signature {sig} is in CASignatureAlgorithms"),
            );
        }
        if kind == KeyType::Rsa && self.v(9, 1) {
            let required: u32 = self
                .s()
                .get("requiredrsasize")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1024);
            if key.key.bits < required {
                return self.refuse(Refusal {
                    step: Step::Key,
                    reason: "rsa-too-small",
                    what: format!(
                        "the RSA key has {} bits, RequiredRSASize is {required}",
                        key.key.bits
                    ),
                    cause: self.directive("RequiredRSASize"),
                    log: "refusing RSA key: Invalid key length [preauth]".into(),
                    log_level: LogLevel::Info,
                    fix: format!(
                        "make a larger key (ssh-keygen -t rsa -b {}), or an ed25519 key",
                        required.max(3072)
                    ),
                });
            }
            self.pass(
                Step::Key,
                format!("RSA {} bits, RequiredRSASize {required}", key.key.bits),
            );
        }
        self.revoked_keys()
    }

    /// `auth_key_is_revoked` for the key, then for a certificate's CA.
    fn revoked_keys(&mut self) -> Next {
        // 10.3 takes several files.
        let files: Vec<String> = if self.v(10, 3) {
            self.s()
                .list("revokedkeys")
                .iter()
                .map(|s| s.to_string())
                .collect()
        } else {
            self.s()
                .get("revokedkeys")
                .map(str::to_string)
                .into_iter()
                .collect()
        };
        if files.is_empty() {
            return Ok(());
        }
        let key = self.login.key;
        let mut checked: Vec<(String, String, Vec<u8>)> =
            vec![(key.short_type(), key.fingerprint(), key.wire())];
        if let Some(c) = &key.cert {
            checked.push((
                c.ca.kind.short_name().to_string(),
                Fingerprint::of_sha256(&c.ca.blob).to_string(),
                c.ca.blob.clone(),
            ));
        }
        for (i, (kt, fp, blob)) in checked.iter().enumerate() {
            let whose = if i == 0 {
                "the key"
            } else {
                "the certificate's CA"
            };
            for f in &files {
                match self.world.revoked(Path::new(f), blob) {
                    Revocation::Clean => {}
                    Revocation::Revoked => {
                        return self.refuse(Refusal {
                            step: Step::Key,
                            reason: "revoked",
                            what: format!("{f} revokes {whose} ({kt} {fp})"),
                            cause: self.directive("RevokedKeys"),
                            log: format!("Authentication key {kt} {fp} revoked by file {f}"),
                            log_level: LogLevel::Error,
                            fix: format!("use another key, or take it out of {f} (and out of the KRL it was built from)"),
                        });
                    }
                    Revocation::Error(e) => {
                        return self.refuse(Refusal {
                            step: Step::Key,
                            reason: "revoked-keys-unreadable",
                            what: format!("sshd cannot read RevokedKeys {f} ({e}): it refuses every key"),
                            cause: self.directive("RevokedKeys"),
                            log: format!("Error checking authentication key {kt} {fp} in revoked keys file {f}: {e}"),
                            log_level: LogLevel::Error,
                            fix: format!("create or repair {f} (root-readable; ssh-keygen -k -f {f} makes an empty KRL), or RevokedKeys none"),
                        });
                    }
                }
            }
        }
        self.pass(
            Step::Key,
            format!("not revoked by RevokedKeys {}", files.join(" ")),
        );
        Ok(())
    }
}
