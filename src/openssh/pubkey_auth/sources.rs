//! Step 4: where sshd looks for the key (`user_key_allowed`), and what the
//! line that carries it (`auth_check_authkey_line`, `auth_authorise_keyopts`)
//! or the certificate (`sshkey_cert_check_authority`) still says.

use super::*;

impl Run<'_, '_> {
    // Step 4: the sources, in user_key_allowed's order; the first that
    // accepts wins.
    pub(super) fn sources(&mut self) -> Next<Granted> {
        let mut first: Option<Refusal> = None;
        let note = |first: &mut Option<Refusal>, r: Refusal| {
            if first.is_none() {
                *first = Some(r);
            }
        };
        let Some(a) = self.login.account else {
            return Err(Refused);
        };
        for pattern in self.s().authorized_keys_files.clone() {
            let path = expand_path(&pattern, a, self.login.user);
            match self.key_file("AuthorizedKeysFile", &path, "authorized keys") {
                Ok(data) => match self.lines(&data, &path.display().to_string()) {
                    Ok(g) => return Ok(g),
                    Err(Some(r)) => note(&mut first, r),
                    Err(None) => self.pass(
                        Step::Sources,
                        format!("{}: the key is not in it", path.display()),
                    ),
                },
                Err(Some(r)) => note(&mut first, r),
                Err(None) => {}
            }
        }
        if self.login.key.cert.is_some() {
            match self.trusted_ca() {
                Ok(g) => return Ok(g),
                Err(Some(r)) => note(&mut first, r),
                Err(None) => {}
            }
        }
        match self.command() {
            Ok(g) => return Ok(g),
            Err(Some(r)) => note(&mut first, r),
            Err(None) => {}
        }
        let r = first.unwrap_or_else(|| self.not_found());
        self.j.refusal = Some(r);
        Err(Refused)
    }

    /// Refusal for a key no source carries.
    fn not_found(&self) -> Refusal {
        let key = self.login.key;
        let user = self.login.user;
        let what = if key.cert.is_some() {
            "no source trusts the certificate's CA: no cert-authority line carries it and TrustedUserCAKeys does not list it"
        } else {
            "no source carries the key"
        };
        Refusal {
            step: Step::Sources,
            reason: "key-not-found",
            what: what.into(),
            cause: self.sources_consulted(),
            log: format!(
                "Failed publickey for {user} {} ssh2: {} {}",
                self.client(),
                key.short_type(),
                key.fingerprint()
            ),
            log_level: LogLevel::Verbose,
            fix: if key.cert.is_some() {
                format!(
                    "keyward add {user} CA.pub (the CA's public key, added as a cert-authority line), or add it to TrustedUserCAKeys"
                )
            } else {
                format!("keyward add {user} KEYFILE")
            },
        }
    }

    /// The sources sshd consults for this key, as configured.
    fn sources_consulted(&self) -> String {
        let s = self.s();
        let mut out = Vec::new();
        if !s.authorized_keys_files.is_empty() {
            out.push(format!(
                "AuthorizedKeysFile {}",
                s.authorized_keys_files.join(" ")
            ));
        }
        if self.login.key.cert.is_some()
            && let Some(t) = s.get("trustedusercakeys")
        {
            out.push(format!("TrustedUserCAKeys {t}"));
        }
        if let Some(c) = &s.command {
            out.push(format!("AuthorizedKeysCommand {c}"));
        }
        if out.is_empty() {
            "nothing: AuthorizedKeysFile none and no AuthorizedKeysCommand".into()
        } else {
            out.join("; ")
        }
    }

    /// Opens one file as sshd does; `Err(None)` when it is simply absent.
    pub(super) fn key_file(
        &mut self,
        directive: &str,
        path: &Path,
        what: &str,
    ) -> Result<Vec<u8>, Option<Refusal>> {
        let user = self.login.user;
        let p = path.display().to_string();
        let cause = format!("{directive}: {p}");
        // 9.1 (auth2-pubkeyfile.c) names the user and logs at INFO.
        let new_log = self.v(9, 1);
        match self.world.key_file(path) {
            KeyFile::Lines(d) => Ok(d),
            KeyFile::Absent => {
                self.pass(Step::Sources, format!("{p}: absent"));
                Err(None)
            }
            KeyFile::CannotOpen(e) => Err(Some(Refusal::source(
                &cause,
                "file-unreadable",
                format!("{p} cannot be opened as {user}: {e}"),
                if new_log {
                    format!("Could not open user '{user}' {what} '{p}': {e}")
                } else {
                    format!("Could not open {what} '{p}': {e}")
                },
                if new_log {
                    LogLevel::Info
                } else {
                    LogLevel::Debug1
                },
                format!("let {user} read it: chown {user} {p}; chmod 600 {p}"),
            ))),
            KeyFile::NotRegular => Err(Some(Refusal::source(
                &cause,
                "file-not-regular",
                format!("{p} is not a regular file"),
                if new_log {
                    format!("User '{user}' {what} '{p}' is not a regular file")
                } else {
                    format!("User {user} {what} {p} is not a regular file")
                },
                LogLevel::Info,
                format!("move it aside (mv {p} {p}.bad) and put the keys in a regular file"),
            ))),
            KeyFile::Unsafe { log, fix } => Err(Some(Refusal::source(
                &cause,
                "strict-modes",
                format!("StrictModes: sshd does not read {p}"),
                log,
                LogLevel::Info,
                fix,
            ))),
        }
    }

    /// `auth_check_authkeys_file`: every line; the key is accepted if one
    /// line accepts it. `Err(None)`: no line carries the key.
    fn lines(&mut self, data: &[u8], loc: &str) -> Result<Granted, Option<Refusal>> {
        let mut first = None;
        for (n, raw) in data.split(|&b| b == b'\n').enumerate() {
            let at = format!("{loc}:{}", n + 1);
            match self.line(raw, &at) {
                LineVerdict::Accepted(mut g) => {
                    self.j.accepted_at = Some(at.clone());
                    self.pass(
                        Step::Sources,
                        format!("{at}: carries the key and lets it in"),
                    );
                    if let Some(note) = g.note.take() {
                        self.pass(Step::Sources, note);
                    }
                    return Ok(g);
                }
                LineVerdict::Refused(r) => {
                    if first.is_none() {
                        first = Some(*r);
                    }
                }
                LineVerdict::Other => {}
            }
        }
        Err(first)
    }

    fn line(&self, raw: &[u8], at: &str) -> LineVerdict {
        let key = self.login.key;
        let sshd = &self.login.sshd;
        let refuse = |reason, what, log, level, fix| {
            LineVerdict::Refused(Box::new(Refusal::source(at, reason, what, log, level, fix)))
        };
        let line = match authorized_keys::parse_line_as(raw, sshd) {
            Ok(Some(l)) => l,
            Ok(None) => return LineVerdict::Other,
            Err(e) => {
                // Only a line that carries this key (or its CA) matters.
                let target = key.cert.as_ref().map_or(&key.key.blob, |c| &c.ca.blob);
                let carries = authorized_keys::key_blob(raw).is_some_and(|b| &b == target);
                if !carries {
                    return LineVerdict::Other;
                }
                return match e {
                    // A certificate only looks at cert-authority lines.
                    LineError::PrincipalsWithoutCa if key.cert.is_some() => refuse(
                        "cert-authority-marker",
                        "the line carries the certificate's CA key without cert-authority: sshd never matches a certificate there".into(),
                        "(no line: sshd skips it silently)".into(),
                        LogLevel::None,
                        format!("add cert-authority in front of line {at}"),
                    ),
                    LineError::PrincipalsWithoutCa => refuse(
                        "principals-without-ca",
                        "the line has principals= without cert-authority".into(),
                        format!("{at}: principals on non-CA key; then: Refused by key options"),
                        LogLevel::Debug1,
                        format!(
                            "remove principals= from line {at}, or mark the line cert-authority"
                        ),
                    ),
                    other => {
                        let (log, level) = line_error_log(&other, at);
                        refuse(
                            "bad-line",
                            format!("sshd skips the line that carries the key: {other}"),
                            log,
                            level,
                            format!("correct line {at}"),
                        )
                    }
                };
            }
        };
        match &key.cert {
            None => {
                if line.blob != key.key.blob {
                    return LineVerdict::Other;
                }
                if line.options.cert_authority {
                    return refuse(
                        "cert-authority-marker",
                        "the line carries the key but is marked cert-authority: sshd only matches certificates signed by it there".into(),
                        "(no line: sshd skips it silently)".into(),
                        LogLevel::None,
                        format!("remove cert-authority from line {at}"),
                    );
                }
                match self.authorise(&line.options, true, at, "key") {
                    Err(r) => LineVerdict::Refused(Box::new(r)),
                    Ok(()) => LineVerdict::Accepted(granted(&line.options, None)),
                }
            }
            Some(cert) => {
                if line.blob != cert.ca.blob {
                    return LineVerdict::Other;
                }
                if !line.options.cert_authority {
                    return refuse(
                        "cert-authority-marker",
                        "the line carries the certificate's CA key without cert-authority: sshd never matches a certificate there".into(),
                        "(no line: sshd skips it silently)".into(),
                        LogLevel::None,
                        format!("add cert-authority in front of line {at}"),
                    );
                }
                if let Err(r) = self.authorise(&line.options, true, at, "key") {
                    return LineVerdict::Refused(Box::new(r));
                }
                let principals = line.options.principals.as_deref();
                let name = principals.is_none().then_some(self.login.user);
                // 10.3 wants principals in every certificate; before, a CA
                // line took one without any for every user.
                if let Err(r) = self.certificate(cert, at, principals, name, self.v(10, 3), false) {
                    return LineVerdict::Refused(Box::new(r));
                }
                let mut g = granted(&line.options, Some(cert));
                if cert.principals.is_empty() && principals.is_none() {
                    g.note = Some(format!(
                        "the certificate lists no principals and {at} has no principals=: {} lets it in as any user whose keys carry this CA line (10.3 and later refuse it); add principals= to the line",
                        self.login.sshd.describe()
                    ));
                }
                LineVerdict::Accepted(g)
            }
        }
    }

    /// `auth_authorise_keyopts` for a key line's options.
    pub(super) fn authorise(
        &self,
        o: &Options,
        allow_ca: bool,
        at: &str,
        what: &str,
    ) -> Result<(), Refusal> {
        let user = self.login.user;
        let ip = self.ip();
        let refused_by = if self.v(10, 1) {
            format!("Refused by {what} options at {at}")
        } else {
            format!("Refused by {what} options")
        };
        if let Some(t) = o.valid_before
            && t < self.login.now
        {
            return Err(Refusal::source(
                at,
                "expiry-time",
                format!("the line's expiry-time passed ({})", local_time(t)),
                format!(
                    "{at}: entry expired at {}; then: {refused_by}",
                    local_time(t)
                ),
                LogLevel::Debug1,
                format!("update or remove expiry-time on line {at}"),
            ));
        }
        if !allow_ca && o.cert_authority {
            return Err(Refusal::source(
                at,
                "cert-authority-invalid-here",
                "cert-authority is not allowed on a principals line".into(),
                format!("{at}: cert-authority flag invalid here; then: {refused_by}"),
                LogLevel::Debug1,
                format!("remove cert-authority from {at}"),
            ));
        }
        if let Some(from) = &o.from {
            // Matched as sshd reads it, shown escaped: the line may come
            // from a home others may write.
            let matched = from_matches(&String::from_utf8_lossy(from), self.login.from);
            let list = crate::log::escape(from);
            if !matched {
                return Err(Refusal::source(
                    at,
                    "from",
                    format!("from=\"{list}\" does not match the client {ip}"),
                    format!(
                        "{at}: Authentication tried for {user} with correct key but not from a permitted host (host={ip}, ip={ip}, required={list}).; then: {refused_by}"
                    ),
                    LogLevel::Info,
                    format!("add {ip} to from= on line {at}, or log in from a listed address"),
                ));
            }
        }
        Ok(())
    }

    /// The AuthorizedKeysCommand's output, judged like a file.
    fn command(&mut self) -> Result<Granted, Option<Refusal>> {
        let Some(cmd) = self.s().command.clone() else {
            return Err(None);
        };
        match self.world.command() {
            CommandOutput::Lines(data) => match self.lines(&data, &cmd) {
                Ok(g) => Ok(g),
                Err(None) => {
                    self.pass(
                        Step::Sources,
                        format!(
                            "AuthorizedKeysCommand {cmd}: exit 0, the key is not in its output"
                        ),
                    );
                    Err(None)
                }
                Err(r) => Err(r),
            },
            CommandOutput::Failed {
                what,
                log,
                level,
                fix,
            } => Err(Some(Refusal {
                step: Step::Sources,
                reason: "command-failed",
                what,
                cause: self.directive("AuthorizedKeysCommand"),
                log,
                log_level: level,
                fix,
            })),
            CommandOutput::NotRun(why) => {
                self.pass(
                    Step::Sources,
                    format!("AuthorizedKeysCommand {cmd}: not run ({why})"),
                );
                Err(None)
            }
        }
    }
}

/// What sshd logs when it skips a line for `e` (`auth_check_authkey_line`).
fn line_error_log(e: &LineError, at: &str) -> (String, LogLevel) {
    match e {
        LineError::BadOption(reason) => {
            (format!("{at}: bad key options: {reason}"), LogLevel::Debug1)
        }
        LineError::UnknownOption(_) => (
            format!("{at}: bad key options: unknown key option"),
            LogLevel::Debug1,
        ),
        LineError::NeedsRelease { what, .. } if what.starts_with("option") => (
            format!("{at}: bad key options: unknown key option"),
            LogLevel::Debug1,
        ),
        LineError::InvalidFrom => (
            format!("{at}: invalid from criteria; then: Refused by key options"),
            LogLevel::Debug1,
        ),
        LineError::UnterminatedQuote => ("invalid key option string".into(), LogLevel::Error),
        // The key does not read: sshd moves on to the next line.
        _ => (
            "(nothing: sshd skips the line silently)".into(),
            LogLevel::None,
        ),
    }
}

enum LineVerdict {
    Accepted(Granted),
    Refused(Box<Refusal>),
    /// Not this key's line.
    Other,
}

pub(super) fn granted(o: &Options, cert: Option<&Certificate>) -> Granted {
    let has = |c: &Certificate, n: &[u8]| c.critical.iter().any(|(k, _)| k == n);
    Granted {
        forced_command: o.command.is_some() || cert.is_some_and(|c| has(c, b"force-command")),
        no_touch_required: o.no_touch_required
            || cert.is_some_and(|c| c.extensions.iter().any(|e| e == b"no-touch-required")),
        verify_required: o.verify_required || cert.is_some_and(|c| has(c, b"verify-required")),
        note: None,
    }
}

/// `format_absolute_time`: local time, `%Y-%m-%dT%H:%M:%S`.
pub(super) fn local_time(t: u64) -> String {
    i64::try_from(t)
        .ok()
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|d| {
            d.with_timezone(&chrono::Local)
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| "forever".into())
}

/// `expand_authorized_keys`: `%%`, `%h`, `%u`, `%U`; a relative path is
/// under the home.
pub(super) fn expand_path(pattern: &str, a: &Account, user: &str) -> PathBuf {
    let mut out = String::new();
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('%') => out.push('%'),
            Some('h') => out.push_str(&a.home.to_string_lossy()),
            Some('u') => out.push_str(user),
            Some('U') => out.push_str(&a.uid.to_string()),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    let p = PathBuf::from(out);
    if p.is_absolute() { p } else { a.home.join(p) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_paths_expand_like_sshd() {
        let a = Account {
            uid: 1000,
            home: "/home/alice".into(),
            shell: "/bin/sh".into(),
            shell_state: ShellState::Executable,
            groups: Vec::new(),
            locked: false,
            expired: false,
        };
        assert_eq!(
            expand_path(".ssh/authorized_keys", &a, "alice"),
            PathBuf::from("/home/alice/.ssh/authorized_keys")
        );
        assert_eq!(
            expand_path("/etc/keys/%u.%U%%", &a, "alice"),
            PathBuf::from("/etc/keys/alice.1000%")
        );
        assert_eq!(
            expand_path("%h/k", &a, "alice"),
            PathBuf::from("/home/alice/k")
        );
    }
}
