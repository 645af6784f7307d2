//! `keyward audit`: the whole store, checked the way `keys` reads it, for a
//! cron job. Exits 1 when anything needs attention.

use std::ffi::OsStr;

use serde::Serialize;

use super::{Out, Outcome};
use crate::admin::report::{Level, Report};
use crate::config::Config;
use crate::store::index;
use crate::store::inventory::{self, Now};
use crate::store::trusted::{self, Kind};
use crate::store::{self, UserName};

#[derive(Serialize)]
struct AuditReport<'a> {
    store: String,
    users: usize,
    keys: usize,
    #[serde(flatten)]
    report: &'a Report,
}

pub fn run(config: &Config, out: &mut Out) -> Outcome {
    let mut r = Report::default();
    if config.sshd_recorded() {
        r.info(format!(
            "lines are judged as {} reads them (recorded by keyward setup)",
            config.sshd().describe()
        ));
    } else {
        r.info(format!(
            "no sshd recorded by keyward setup: lines are judged as {} (Debian 12) reads them; \
             `keyward setup` records the installed one",
            crate::openssh::DEFAULT.describe()
        ));
    }
    let (users, keys) = audit(config, &mut r);
    let hc = &config.home_check;
    if !hc.accepted_users.is_empty() || !hc.accepted_homes.is_empty() {
        r.info(format!(
            "home warnings lowered to info (accepted in keyward.toml) for users [{}] and homes [{}]",
            hc.accepted_users.join(", "),
            hc.accepted_homes.join(", ")
        ));
    }
    let store = crate::log::path(&config.store);
    if r.worst() < Level::Warning {
        r.ok(format!(
            "{store}: {users} user(s), {keys} key(s), nothing to fix"
        ));
    }
    let report = AuditReport {
        store,
        users,
        keys,
        report: &r,
    };
    out.emit(&report, |w| r.print_text(w))?;
    Ok(r.exit())
}

/// Returns how many users and keys were looked at.
fn audit(config: &Config, r: &mut Report) -> (usize, usize) {
    let users = match store::open_users(&config.store) {
        Ok(Some(u)) => u,
        Ok(None) => {
            r.info(format!(
                "{}: no users/ directory yet; keyward serves no keys",
                crate::log::path(&config.store)
            ));
            return (0, 0);
        }
        Err(e) => {
            r.error(super::Failure::from(e).message, None);
            return (0, 0);
        }
    };
    leftovers(config, r);
    let names = match store::list_dir(&users, true) {
        Ok(n) => n,
        Err(e) => {
            r.error(e.to_string(), None);
            return (0, 0);
        }
    };
    let now = Now::system();
    let (mut n_users, mut n_keys) = (0, 0);
    for raw in &names {
        let shown = crate::log::path(&users.path.join(raw));
        let user = match UserName::new(raw) {
            Ok(u) => u,
            Err(e) => {
                r.warning(
                    format!("{shown}: {e}; no login can ever use this entry"),
                    Some(format!("rm -r -- {shown}")),
                );
                continue;
            }
        };
        n_users += 1;
        let pw = uzers::get_user_by_name(user.as_os_str());
        if let Some(pw) = pw.as_ref().filter(|_| nix::unistd::geteuid().is_root()) {
            // A key planted in the user's home is news even though keyward
            // serves the store: someone is trying.
            match super::import::own_files(pw, &config.home_check.files, config.group_exception()) {
                Ok(found) => {
                    for (path, own) in &found {
                        super::import::report_own(pw.name(), path, own, r);
                    }
                }
                Err(e) => r.error(e.message, None),
            }
        }
        if pw.is_none() {
            r.warning(
                format!(
                    "{shown}: no user {} in the user database; sshd never asks for these keys",
                    user.display()
                ),
                Some(format!("rm -r -- {shown} (or create the account)")),
            );
        }
        let entry = match trusted::open_at(&users, raw) {
            Ok(e) => e,
            Err(e) => {
                r.error(
                    format!("{e}; keyward serves nothing for {}", user.display()),
                    None,
                );
                continue;
            }
        };
        if let Kind::Dir = entry.kind {
            ignored_fragments(&entry, r);
        }
        stale_index(config, &user, &entry, r);
        let sources = match store::read_entry(&entry) {
            Ok(s) => s,
            Err(e) => {
                r.error(
                    format!("{e}; keyward serves nothing for {}", user.display()),
                    None,
                );
                continue;
            }
        };
        let keys = inventory::scan(&sources, &now);
        n_keys += keys.records.len();
        let u = user.display();
        for bad in &keys.invalid {
            r.warning(
                format!("{}:{}: line skipped: {}", bad.source, bad.line, bad.reason),
                Some(format!(
                    "correct or delete line {} of {}",
                    bad.line, bad.source
                )),
            );
        }
        for (i, k) in keys.records.iter().enumerate() {
            if k.expired {
                r.warning(
                    format!(
                        "{}:{}: key {} of {u} is past its expiry-time; sshd refuses it",
                        k.source, k.line, k.fingerprint
                    ),
                    Some(format!("keyward remove {u} {}", k.fingerprint)),
                );
            }
            if let Some(first) = keys.records[..i].iter().find(|o| o.blob == k.blob) {
                r.warning(
                    format!(
                        "{}:{}: key {} of {u} is already at {}:{}",
                        k.source, k.line, k.fingerprint, first.source, first.line
                    ),
                    Some(format!("delete line {} of {}", k.line, k.source)),
                );
            }
        }
    }
    (n_users, n_keys)
}

/// An index that no longer describes the user's files: lookups still work
/// (they read the files in full) but lose the index's speed.
fn stale_index(config: &Config, user: &UserName, entry: &trusted::Trusted, r: &mut Report) {
    let Ok(root) = store::open_root(&config.store) else {
        return;
    };
    let Ok(Some(dir)) = store::open_at_if_present(&root, OsStr::new(index::DIR)) else {
        return;
    };
    let file = match store::open_at_if_present(&dir, user.as_os_str()) {
        Ok(Some(f)) => f,
        Ok(None) => return,
        Err(e) => {
            r.error(
                format!("{e}; keyward serves nothing for {}", user.display()),
                None,
            );
            return;
        }
    };
    let fresh = trusted::read_all(&file, index::MAX_BYTES)
        .ok()
        .zip(
            entry
                .try_clone()
                .and_then(store::Entry::new)
                .and_then(|e| e.identities())
                .ok(),
        )
        .and_then(|(bytes, ids)| index::lookup(&bytes, &ids, &[0; 32]));
    if fresh.is_none() {
        r.warning(
            format!(
                "{}: out of date: lookups read the store in full, more slowly",
                crate::log::path(&file.path)
            ),
            Some(format!("keyward index {}", user.display())),
        );
    }
}

/// Fragments `keys` skips on purpose: worth knowing, nothing to fix.
fn ignored_fragments(dir: &trusted::Trusted, r: &mut Report) {
    if let Ok(all) = store::list_dir(dir, true) {
        for name in all
            .iter()
            .filter(|n| store::is_skipped_fragment(n.as_encoded_bytes()))
        {
            r.info(format!(
                "{}: ignored (hidden, editor or package leftover)",
                crate::log::path(&dir.path.join(name))
            ));
        }
    }
}

/// Files a writer left when it died between write and rename.
fn leftovers(config: &Config, r: &mut Report) {
    let Ok(root) = trusted::open(&config.store) else {
        return;
    };
    let Ok(tmp) = trusted::open_at(&root, OsStr::new(crate::store::edit::TMP_DIR)) else {
        return;
    };
    if let Ok(names) = store::list_dir(&tmp, true) {
        if !names.is_empty() {
            r.info(format!(
                "{}: {} file(s) left by an interrupted add/remove; never served, removed by the next one",
                crate::log::path(&tmp.path),
                names.len()
            ));
        }
    }
}
