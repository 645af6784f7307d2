//! `keyward keys`: what sshd runs for every key a client offers, before
//! authentication, as the AuthorizedKeysCommandUser, with arguments the
//! client chose (the user name, the offered key).
//!
//! The contract, which every module here keeps:
//! - stdout carries authorized_keys lines only, and only after the whole
//!   lookup succeeded;
//! - on any doubt (unsafe store, broken config, I/O error) nothing on
//!   stdout, a non-zero exit, and the reason in syslog: fail closed;
//! - no panics, no unwrap on input; the cost is bounded by the offered key
//!   and the store, never by what a client can send;
//! - nothing here depends on `admin` (a unit test in this module holds it).
//!
//! `keys` is the command, `offered` reads sshd's `%k`/`%f`, `chain` runs the
//! AuthorizedKeysCommands keyward shares sshd's slot with, `warned` keeps
//! the once-per-interval state of the home warning.

pub mod chain;
pub mod keys;
pub mod offered;
pub mod warned;

#[cfg(test)]
mod tests {
    /// The pre-authentication code must not reach into the root-only
    /// commands: a reviewer reads `lookup/` and what it imports, not `admin/`.
    #[test]
    fn nothing_here_imports_admin() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lookup");
        // Spelled in two halves so that this file does not match itself.
        let needles = [
            ["crate", "::admin"].concat(),
            ["keyward", "::admin"].concat(),
        ];
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                assert!(
                    !needles.iter().any(|n| line.contains(n.as_str())),
                    "{}:{}: lookup code imports admin: {line}",
                    path.display(),
                    n + 1
                );
            }
            checked += 1;
        }
        assert!(checked >= 5, "only {checked} files in {}", dir.display());
    }
}
