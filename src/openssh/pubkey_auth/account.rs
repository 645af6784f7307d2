//! Step 1: the account, as `getpwnam` and `allowed_user()` judge it.

use super::*;

impl Run<'_, '_> {
    // Step 1: getpwnam and allowed_user().
    pub(super) fn account(&mut self) -> Next {
        let user = self.login.user;
        let Some(a) = self.login.account else {
            let log = format!("Invalid user {user} {}", self.client());
            return self.refuse(Refusal {
                step: Step::Account,
                reason: "no-such-user",
                what: format!("there is no user {user}: sshd treats the login as an invalid user and reads no key source"),
                cause: "the user database (getent passwd)".into(),
                log,
                log_level: LogLevel::Info,
                fix: format!("create the account, or fix the name (getent passwd {user} prints nothing)"),
            });
        };
        self.pass(
            Step::Account,
            format!("{user} exists (uid {}, home {})", a.uid, a.home.display()),
        );
        let use_pam = self.s().yes("usepam");
        if !use_pam {
            if a.expired {
                let mut log = format!("Account {user} has expired");
                // 9.0 moved the expiry check into platform_locked_account().
                if self.v(9, 0) {
                    log.push_str(&format!(
                        "; then: User {user} not allowed because account is locked"
                    ));
                }
                return self.refuse(Refusal {
                    step: Step::Account,
                    reason: "account-expired",
                    what: "the account's expiry date has passed (UsePAM no: sshd checks the shadow entry itself)".into(),
                    cause: "the shadow entry's expiry date (chage -l)".into(),
                    log,
                    log_level: LogLevel::Info,
                    fix: format!("chage -E -1 {user}"),
                });
            }
            if a.locked {
                return self.refuse(Refusal {
                    step: Step::Account,
                    reason: "account-locked",
                    what: "the account is locked: its password field starts with '!' (UsePAM no: sshd refuses locked accounts even for keys)".into(),
                    cause: "the shadow entry's password field".into(),
                    log: format!("User {user} not allowed because account is locked"),
                    log_level: LogLevel::Info,
                    fix: format!("usermod -U {user}, or set the password field to '*' (no password, not locked): usermod -p '*' {user}"),
                });
            }
            self.pass(
                Step::Account,
                "not locked, not expired (UsePAM no: sshd checks the shadow entry)",
            );
        }
        let chroot = self.s().get("chrootdirectory").is_some();
        if !chroot {
            let shell = if a.shell.as_os_str().is_empty() {
                Path::new("/bin/sh")
            } else {
                a.shell.as_path()
            };
            let (reason, how) = match a.shell_state {
                ShellState::Executable => {
                    self.pass(
                        Step::Account,
                        format!("login shell {} is executable", shell.display()),
                    );
                    (None, "")
                }
                ShellState::Missing => (Some("shell-missing"), "does not exist"),
                ShellState::NotExecutable => (Some("shell-not-executable"), "is not executable"),
            };
            if let Some(reason) = reason {
                return self.refuse(Refusal {
                    step: Step::Account,
                    reason,
                    what: format!("the login shell {} {how}", shell.display()),
                    cause: "the user's login shell (getent passwd)".into(),
                    log: format!(
                    "User {user} not allowed because shell {} {how}",
                    shell.display()
                    ),
                    log_level: LogLevel::Info,
                    fix: format!("usermod -s /bin/bash {user} (or any executable shell listed in /etc/shells)"),
                });
            }
        }
        self.access_lists(a)?;
        if a.uid == 0 {
            let prl = self
                .s()
                .get("permitrootlogin")
                .unwrap_or("prohibit-password");
            self.pass(
                Step::Account,
                format!("root: PermitRootLogin {prl} is judged after the key is found (step 5), as sshd does"),
            );
        }
        if use_pam {
            let stack = self.world.pam_account();
            self.pass(
                Step::Account,
                format!(
                    "UsePAM yes: after the key, PAM's account stack decides (sshd does not look at locked or expired passwords itself): {}",
                    if stack.is_empty() {
                        "no account lines found in sshd's PAM service".to_string()
                    } else {
                        stack.join("; ")
                    }
                ),
            );
        }
        Ok(())
    }

    /// DenyUsers, AllowUsers, DenyGroups, AllowGroups, in that order.
    fn access_lists(&mut self, a: &Account) -> Next {
        let user = self.login.user;
        let ip = self.ip();
        // UseDNS no (the default): the host is the address.
        let host = ip.clone();
        let dns = if self.s().yes("usedns") {
            " (UseDNS yes: sshd also matches the client's DNS name, which check does not look up)"
        } else {
            ""
        };
        let deny = self.s().list("denyusers");
        if let Some(p) = deny.iter().find(|p| match_user(user, &ip, p)) {
            let p = p.to_string();
            return self.refuse(Refusal {
                step: Step::Account,
                reason: "deny-users",
                what: format!("DenyUsers lists {p}, which matches {user} from {ip}{dns}"),
                cause: self.directive("DenyUsers"),
                log: format!("User {user} from {host} not allowed because listed in DenyUsers"),
                log_level: LogLevel::Info,
                fix: format!("remove {p} from DenyUsers, then reload sshd"),
            });
        }
        let allow = self.s().list("allowusers");
        if !allow.is_empty() {
            if !allow.iter().any(|p| match_user(user, &ip, p)) {
                return self.refuse(Refusal {
                    step: Step::Account,
                    reason: "allow-users",
                    what: format!("AllowUsers is set and no entry matches {user} from {ip}{dns}"),
                    cause: self.directive("AllowUsers"),
                    log: format!(
                        "User {user} from {host} not allowed because not listed in AllowUsers"
                    ),
                    log_level: LogLevel::Info,
                    fix: format!("add {user} to AllowUsers, then reload sshd"),
                });
            }
            self.pass(Step::Account, "AllowUsers lists the user");
        }
        let (deny_g, allow_g) = (self.s().list("denygroups"), self.s().list("allowgroups"));
        if deny_g.is_empty() && allow_g.is_empty() {
            return Ok(());
        }
        if a.groups.is_empty() {
            return self.refuse(Refusal {
                step: Step::Account,
                reason: "no-groups",
                what: "AllowGroups/DenyGroups are set and the user is in no group".into(),
                cause: self.directive(if allow_g.is_empty() {
                    "DenyGroups"
                } else {
                    "AllowGroups"
                }),
                log: format!("User {user} from {host} not allowed because not in any group"),
                log_level: LogLevel::Info,
                fix: "fix the group database (id USER)".into(),
            });
        }
        let in_list = |list: &[&str]| {
            a.groups
                .iter()
                .find(|g| list.iter().any(|p| match_pattern_list(g, p) == 1))
                .cloned()
        };
        if let Some(g) = in_list(&deny_g) {
            return self.refuse(Refusal {
                step: Step::Account,
                reason: "deny-groups",
                what: format!("DenyGroups matches the user's group {g}"),
                cause: self.directive("DenyGroups"),
                log: format!(
                    "User {user} from {host} not allowed because a group is listed in DenyGroups"
                ),
                log_level: LogLevel::Info,
                fix: format!("remove {g} from DenyGroups, or the user from {g}"),
            });
        }
        if !allow_g.is_empty() {
            if in_list(&allow_g).is_none() {
                return self.refuse(Refusal {
                    step: Step::Account,
                    reason: "allow-groups",
                    what: format!(
                    "AllowGroups is set and none of the user's groups ({}) is listed",
                    a.groups.join(", ")
                    ),
                    cause: self.directive("AllowGroups"),
                    log: format!("User {user} from {host} not allowed because none of user's groups are listed in AllowGroups"),
                    log_level: LogLevel::Info,
                    fix: format!("usermod -aG {} {user}, or add a group of the user's to AllowGroups", allow_g[0]),
                });
            }
            self.pass(Step::Account, "AllowGroups lists one of the user's groups");
        }
        Ok(())
    }
}
