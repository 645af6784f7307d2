//! Step 5: what follows a match: security-key flags, PermitRootLogin, PAM
//! or /etc/nologin.

use super::*;

impl Run<'_, '_> {
    // Step 5: what follows a match.
    pub(super) fn after_match(&mut self, g: &Granted) -> Next {
        let key = self.login.key;
        let user = self.login.user;
        let sk = matches!(key.key.kind, KeyType::SkEd25519 | KeyType::SkEcdsaP256);
        let auth_options: Vec<String> = self
            .s()
            .list("pubkeyauthoptions")
            .iter()
            .map(|s| s.to_string())
            .collect();
        let has = |o: &str| auth_options.iter().any(|x| x == o);
        if sk {
            let touch = has("touch-required") || !g.no_touch_required;
            self.pass(
                Step::AfterMatch,
                if touch {
                    "security key: the token must be touched for every login (user presence)"
                } else {
                    "security key: no touch needed (no-touch-required, and PubkeyAuthOptions does not require it)"
                },
            );
            if self.v(8, 4) && (has("verify-required") || g.verify_required) {
                self.pass(
                    Step::AfterMatch,
                    "security key: verify-required: the token must verify the user (PIN or biometrics) on every login; a key made without `ssh-keygen -O verify-required` on a token that does not ask is refused with \"user verification requirement not met\"",
                );
            }
        } else if g.verify_required || has("verify-required") {
            self.pass(
                Step::AfterMatch,
                "verify-required applies to security keys only: this key is not one",
            );
        }
        if self.login.account.is_some_and(|a| a.uid == 0) {
            let prl = self
                .s()
                .get("permitrootlogin")
                .unwrap_or("prohibit-password")
                .to_string();
            let refused = match prl.as_str() {
                "no" => Some((
                    "PermitRootLogin no".to_string(),
                    "log in as another user and use sudo, or PermitRootLogin prohibit-password",
                )),
                // sshd's own quirk: the pre-auth process sees a forced
                // command where the monitor sees none, so the client is
                // told it authenticated before the connection drops.
                "forced-commands-only" if !g.forced_command => Some((
                    "PermitRootLogin forced-commands-only and the key has no command= (sshd_config's ForceCommand does not count; the client prints \"Authenticated\" and is then dropped)".to_string(),
                    "add command=\"...\" to the key's line, or PermitRootLogin prohibit-password",
                )),
                _ => None,
            };
            if let Some((why, fix)) = refused {
                return self.refuse(Refusal {
                    step: Step::AfterMatch,
                    reason: "root-login",
                    what: format!("{why}: sshd finds the key, then refuses root"),
                    cause: self.directive("PermitRootLogin"),
                    log: format!("ROOT LOGIN REFUSED FROM {} port PORT", self.ip()),
                    log_level: LogLevel::Info,
                    fix: fix.into(),
                });
            }
            self.pass(
                Step::AfterMatch,
                format!("root: PermitRootLogin {prl} lets a key in"),
            );
        }
        if self.s().yes("usepam") {
            // pam_unix's account check refuses an expired account whatever
            // else the stack says (Debian's common-account jumps past
            // pam_deny only on its success).
            let stack = self.world.pam_account();
            if self.login.account.is_some_and(|a| a.expired)
                && stack.iter().any(|l| l.contains("pam_unix.so"))
            {
                return self.refuse(Refusal {
                    step: Step::AfterMatch,
                    reason: "pam-account-expired",
                    what: "the account's expiry date has passed, and pam_unix is in PAM's account stack: it refuses the login after the key was accepted (pam_unix itself writes \"account USER has expired\" to the auth log)".into(),
                    cause: "the shadow entry's expiry date (chage -l), through pam_unix".into(),
                    log: format!("Access denied for user {user} by PAM account configuration [preauth]"),
                    log_level: LogLevel::Fatal,
                    fix: format!("chage -E -1 {user}"),
                });
            }
            let nologin = if self.world.nologin() {
                " /etc/nologin exists: pam_nologin, if the stack has it, refuses everyone but root."
            } else {
                ""
            };
            self.pass(
                Step::AfterMatch,
                format!("UsePAM yes: the PAM account stack has the last word (pam_nologin, pam_access, pam_unix's expiry); check does not run it.{nologin}"),
            );
        } else if self.login.account.is_some_and(|a| a.uid != 0) && self.world.nologin() {
            return self.refuse(Refusal {
                step: Step::AfterMatch,
                reason: "nologin",
                what: "/etc/nologin exists: sshd accepts the key, then ends the session for every user but root".into(),
                cause: "/etc/nologin".into(),
                log: format!("User {user} not allowed because /etc/nologin exists"),
                log_level: LogLevel::Info,
                fix: "rm /etc/nologin (once maintenance is over)".into(),
            });
        }
        Ok(())
    }
}
