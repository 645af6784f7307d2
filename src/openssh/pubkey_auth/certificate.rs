//! Certificates: the checks of `sshkey_cert_check_authority` and
//! `sshauthopt_from_cert` on a `cert-authority` line's match, and the
//! TrustedUserCAKeys path (`user_cert_trusted_ca`) with its principals file.

use super::sources::{expand_path, granted, local_time};
use super::*;
use crate::openssh::public_key;

impl Run<'_, '_> {
    /// The certificate's own checks, as `auth_check_authkey_line` (a CA
    /// line, `principals` its option) or `user_cert_trusted_ca` (`trusted`)
    /// makes them.
    pub(super) fn certificate(
        &self,
        cert: &Certificate,
        at: &str,
        principals: Option<&[u8]>,
        name: Option<&str>,
        require_principal: bool,
        trusted: bool,
    ) -> Result<(), Refusal> {
        let user = self.login.user;
        let ip = self.ip();
        // 10.1 names the certificate and where its CA was found.
        let wrap = |reason: &str| {
            if self.v(10, 1) {
                format!(
                    "Refusing certificate ID \"{}\" serial={} signed by {} CA {}{}: {reason}",
                    crate::log::escape(&cert.key_id),
                    cert.serial,
                    cert.ca.kind.short_name(),
                    Fingerprint::of_sha256(&cert.ca.blob),
                    if trusted {
                        String::new()
                    } else {
                        format!(" via {at}")
                    }
                )
            } else {
                reason.to_string()
            }
        };
        // sshauthopt_from_cert: critical options this release knows, their
        // values read as sshd reads them.
        let mut source = None;
        for (name, value) in &cert.critical {
            let n = crate::log::escape(name);
            let (known, string) = match name.as_slice() {
                b"force-command" | b"source-address" => (true, true),
                b"verify-required" => (self.v(8, 4), false),
                _ => (false, false),
            };
            let why = if !known {
                Some(format!(
                    "Certificate critical option \"{n}\" is not supported"
                ))
            } else if string {
                match public_key::option_string(value) {
                    Ok(v) => {
                        if name == b"source-address" {
                            source = Some(String::from_utf8_lossy(v).into_owned());
                        }
                        None
                    }
                    Err(e) => Some(format!("Certificate option \"{n}\" {e}")),
                }
            } else {
                None
            };
            if let Some(why) = why {
                let what = if known {
                    format!("the certificate's critical option \"{n}\" does not read")
                } else {
                    format!(
                        "the certificate carries critical option \"{n}\", which {} does not know",
                        self.login.sshd.describe()
                    )
                };
                return Err(Refusal::source(
                    at,
                    "certificate-critical-option",
                    what,
                    format!("{why}; then: {}", wrap("Invalid certificate options")),
                    LogLevel::Error,
                    "re-issue the certificate without it (ssh-keygen -s ... without -O for it), or upgrade sshd".into(),
                ));
            }
        }
        if let Some(list) = source
            && !from_matches(&list, self.login.from)
        {
            let loc = if trusted { "cert" } else { at };
            return Err(Refusal::source(
            at,
                "certificate-source-address",
                format!("the certificate's source-address {list} does not include {ip}"),
                format!("{loc}: Authentication tried for {user} with valid certificate but not from a permitted source address ({ip}).; then: {}", wrap("Refused by certificate options")),
                LogLevel::Info,
                "re-issue the certificate with a source-address that includes this client, or log in from a listed address".into(),
            ));
        }
        let names: Vec<String> = cert
            .principals
            .iter()
            .map(|p| crate::log::escape(p))
            .collect();
        if let Some(list) = principals {
            let ok = cert.principals.iter().any(|p| {
                let (p, list) = (String::from_utf8_lossy(p), String::from_utf8_lossy(list));
                if self.principals_exact() {
                    list.split(',').any(|x| x == p)
                } else {
                    match_list_any(&p, &list)
                }
            });
            // From a file others may write: shown escaped.
            let list = crate::log::escape(list);
            if !ok {
                return Err(Refusal::source(
                    at,
                    "certificate-principal",
                    format!(
                        "principals=\"{list}\" names none of the certificate's principals ({})",
                        names.join(", ")
                    ),
                    wrap("Certificate does not contain an authorized principal"),
                    LogLevel::Error,
                    format!(
                        "add one of {} to principals= on {at}, or re-issue the certificate (ssh-keygen -s CA -n NAME)",
                        names.join(",")
                    ),
                ));
            }
        }
        let (reason, text, fix): (&str, String, String) = if cert.cert_type != 1 {
            (
                "certificate-type",
                "Certificate invalid: not a user certificate".into(),
                "issue a user certificate (ssh-keygen -s CA without -h)".into(),
            )
        } else if self.login.now < cert.valid_after {
            (
                "certificate-not-yet-valid",
                "Certificate invalid: not yet valid".into(),
                "wait, re-issue with an earlier -V start, or fix the server's clock".into(),
            )
        } else if self.login.now >= cert.valid_before {
            (
                "certificate-expired",
                "Certificate invalid: expired".into(),
                "re-issue the certificate (ssh-keygen -s CA -V ...)".into(),
            )
        } else if cert.principals.is_empty() && require_principal {
            (
                "certificate-no-principals",
                "Certificate lacks principal list".into(),
                format!("re-issue the certificate with principals (ssh-keygen -s CA -n {user})"),
            )
        } else if let Some(name) = name.filter(|n| {
            !cert.principals.is_empty() && !cert.principals.iter().any(|p| p == n.as_bytes())
        }) {
            (
                "certificate-principal",
                "Certificate invalid: name is not a listed principal".into(),
                format!(
                    "re-issue the certificate with -n {name} (it lists {}), or add principals= to the CA line",
                    names.join(",")
                ),
            )
        } else {
            return Ok(());
        };
        Err(Refusal::source(
            at,
            reason,
            format!(
                "{text} (the certificate is {}; principals: {})",
                validity(cert),
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            ),
            wrap(&text),
            LogLevel::Error,
            fix,
        ))
    }

    /// Debian's 9.2p1 (CVE-2026-35414) and upstream from 10.3 compare
    /// `principals=` entries exactly; before, `match_list`.
    fn principals_exact(&self) -> bool {
        self.login.sshd.debian || self.v(10, 3)
    }

    /// `user_cert_trusted_ca`.
    pub(super) fn trusted_ca(&mut self) -> Result<Granted, Option<Refusal>> {
        let Some(cert) = &self.login.key.cert else {
            return Err(None);
        };
        let Some(file) = self.s().get("trustedusercakeys").map(str::to_string) else {
            return Err(None);
        };
        let Some(a) = self.login.account else {
            return Err(None);
        };
        let path = PathBuf::from(&file);
        // Read by sshd as root: neither the user's uid nor StrictModes.
        let listed = match self.world.root_file(&path) {
            Ok(d) => d
                .split(|&b| b == b'\n')
                .any(|l| authorized_keys::key_blob(l).is_some_and(|b| b == cert.ca.blob)),
            Err(_) => false,
        };
        if !listed {
            self.pass(
                Step::Sources,
                format!("TrustedUserCAKeys {file}: does not list the certificate's CA"),
            );
            return Err(None);
        }
        let principals_file = self
            .s()
            .get("authorizedprincipalsfile")
            .map(|p| expand_path(p, a, self.login.user));
        let command = self.s().get("authorizedprincipalscommand").is_some();
        let at = format!("TrustedUserCAKeys {file}");
        let mut opts = Options::default();
        if principals_file.is_some() || command {
            let mut found = None;
            if let Some(p) = &principals_file {
                match self.key_file("AuthorizedPrincipalsFile", p, "authorized principals") {
                    Ok(data) => {
                        found =
                            principal_line(&data, cert, &p.display().to_string(), &self.login.sshd)
                    }
                    Err(Some(r)) => return Err(Some(r)),
                    Err(None) => {}
                }
            }
            // sshd asks the command only when the file named nobody.
            let mut failed = None;
            let mut not_run = None;
            if found.is_none() && command {
                match self.world.principals_command() {
                    CommandOutput::Lines(data) => {
                        found = principal_line(&data, cert, "(command)", &self.login.sshd);
                    }
                    CommandOutput::Failed {
                        what,
                        log,
                        level,
                        fix,
                    } => {
                        failed = Some(Refusal {
                            step: Step::Sources,
                            reason: "principals-command-failed",
                            what,
                            cause: self.directive("AuthorizedPrincipalsCommand"),
                            log: format!(
                                "{log}; then: Certificate does not contain an authorized principal"
                            ),
                            log_level: level,
                            fix,
                        });
                    }
                    CommandOutput::NotRun(why) => not_run = Some(why),
                }
            }
            match found {
                Some((loc, o)) => {
                    self.pass(
                        Step::Sources,
                        format!("{loc}: names a principal of the certificate"),
                    );
                    if let Err(r) = self.authorise(&o, false, &loc, "certificate principals") {
                        return Err(Some(r));
                    }
                    opts = o;
                }
                None => {
                    if let Some(r) = failed {
                        return Err(Some(r));
                    }
                    let names: Vec<String> = cert
                        .principals
                        .iter()
                        .map(|p| crate::log::escape(p))
                        .collect();
                    let more = match not_run {
                        Some(why) => format!(
                            " (the AuthorizedPrincipalsCommand was not run: {why}; if it prints one of them, sshd goes on)"
                        ),
                        None => String::new(),
                    };
                    let (sources, directive) = match (&principals_file, command) {
                        (Some(_), true) => (
                            "the AuthorizedPrincipalsFile or the AuthorizedPrincipalsCommand's output",
                            "AuthorizedPrincipalsFile",
                        ),
                        (None, true) => (
                            "the AuthorizedPrincipalsCommand's output",
                            "AuthorizedPrincipalsCommand",
                        ),
                        _ => ("the AuthorizedPrincipalsFile", "AuthorizedPrincipalsFile"),
                    };
                    return Err(Some(Refusal {
                        step: Step::Sources,
                        reason: "principals-not-listed",
                        what: format!(
                            "the certificate's principals ({}) are not in {sources}{more}",
                            names.join(", ")
                        ),
                        cause: self.directive(directive),
                        log: "Certificate does not contain an authorized principal".into(),
                        log_level: LogLevel::Error,
                        fix: format!(
                            "list one of {} for this user (principals file or command)",
                            names.join(", ")
                        ),
                    }));
                }
            }
        }
        // With a principals file or command, sshd matches no name: the
        // principal was found there.
        let name = (principals_file.is_none() && !command).then_some(self.login.user);
        self.certificate(cert, &at, None, name, true, true)
            .map_err(Some)?;
        self.j.accepted_at = Some(at.clone());
        self.pass(
            Step::Sources,
            format!("{at}: lists the CA and the certificate is valid"),
        );
        Ok(granted(&opts, Some(cert)))
    }
}

/// `auth_check_principals_line`: the first line whose principal (the last
/// word) is one of the certificate's, with its options.
fn principal_line(
    data: &[u8],
    cert: &Certificate,
    file: &str,
    sshd: &Sshd,
) -> Option<(String, Options)> {
    for (n, raw) in data.split(|&b| b == b'\n').enumerate() {
        let raw = match memchr::memchr(b'#', raw) {
            Some(i) => &raw[..i],
            None => raw,
        };
        let line = String::from_utf8_lossy(raw);
        let line = line.trim_matches(|c| c == ' ' || c == '\t' || c == '\r');
        if line.is_empty() {
            continue;
        }
        let (opts, name) = match line.rfind([' ', '\t']) {
            Some(i) => (line[..i].trim(), line[i..].trim()),
            None => ("", line),
        };
        if !cert.principals.iter().any(|p| p == name.as_bytes()) {
            continue;
        }
        let options = if opts.is_empty() {
            Some(Options::default())
        } else {
            authorized_keys::options_of(opts.as_bytes(), sshd)
        };
        if let Some(o) = options {
            return Some((format!("{file}:{}", n + 1), o));
        }
    }
    None
}

/// `valid forever`, `valid from ... until ...`, as `ssh-keygen -L` says it.
fn validity(c: &Certificate) -> String {
    match (c.valid_after, c.valid_before) {
        (0, u64::MAX) => "valid forever".into(),
        (0, end) => format!("valid until {}", local_time(end)),
        (start, u64::MAX) => format!("valid from {}", local_time(start)),
        (start, end) => format!("valid from {} until {}", local_time(start), local_time(end)),
    }
}
