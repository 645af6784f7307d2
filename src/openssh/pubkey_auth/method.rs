//! Step 2: whether a key may log in at all (`authmethod_lookup`).

use super::*;

impl Run<'_, '_> {
    // Step 2: the method.
    pub(super) fn method(&mut self) -> Next {
        let user = self.login.user;
        if !self.s().yes("pubkeyauthentication") {
            let log = self.method_log("not enabled");
            return self.refuse(Refusal {
                step: Step::Method,
                reason: "pubkey-disabled",
                what: format!("PubkeyAuthentication is no for {user} from {}: no key is ever tried", self.ip()),
                cause: self.directive("PubkeyAuthentication"),
                log: log.0,
                log_level: log.1,
                fix: "PubkeyAuthentication yes (in the Match block that turns it off, too), then reload sshd".into(),
            });
        }
        self.pass(Step::Method, "PubkeyAuthentication yes");
        let methods = self
            .s()
            .get("authenticationmethods")
            .unwrap_or("any")
            .to_string();
        if methods == "any" {
            self.pass(
                Step::Method,
                "AuthenticationMethods any: a key alone logs in",
            );
            return Ok(());
        }
        let lists: Vec<&str> = methods.split_whitespace().collect();
        if lists.contains(&"publickey") {
            self.pass(
                Step::Method,
                format!(
                    "AuthenticationMethods {methods}: the list \"publickey\" lets a key alone in"
                ),
            );
            return Ok(());
        }
        let starts = lists
            .iter()
            .find(|l| l.split(',').next() == Some("publickey"))
            .map(|l| l.to_string());
        match starts {
            Some(l) => self.refuse(Refusal {
                step: Step::Method,
                reason: "key-not-enough",
                what: format!("AuthenticationMethods {methods}: after the key sshd still asks for {} (the key is accepted as a partial success only)", &l["publickey,".len()..]),
                cause: self.directive("AuthenticationMethods"),
                log: format!("Partial publickey for {user} {} ssh2: {} {}", self.client(), self.login.key.short_type(), self.login.key.fingerprint()),
                log_level: LogLevel::Verbose,
                fix: "log in with the next method too (the client shows \"partial success\"), or add a list that is only publickey".into(),
                }),
                None => self.refuse(Refusal {
                step: Step::Method,
                reason: "methods-without-key",
                what: format!("AuthenticationMethods {methods}: no list starts with publickey"),
                cause: self.directive("AuthenticationMethods"),
                log: self.method_log("not allowed by AuthenticationMethods").0,
                log_level: self.method_log("").1,
                fix: "add publickey to AuthenticationMethods (AuthenticationMethods publickey), then reload sshd".into(),
                }),
                }
    }

    /// `authmethod_lookup`'s line for a publickey request it turns away
    /// (its own wording from 8.9).
    fn method_log(&self, why: &str) -> (String, LogLevel) {
        if self.v(8, 9) {
            (
                format!("authmethod_lookup: method publickey {why} [preauth]"),
                LogLevel::Debug3,
            )
        } else {
            (
                "Unrecognized authentication method name: publickey [preauth]".into(),
                LogLevel::Debug2,
            )
        }
    }
}
