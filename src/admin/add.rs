//! `keyward add USER [FILE|-]`: validate key lines and append them to the
//! user's store entry. All or nothing: one invalid or duplicate line and the
//! store is left as it was.

use std::ffi::OsStr;
use std::path::Path;

use serde::Serialize;

use super::{Failure, Out, Outcome, Skipped};
use crate::config::Config;
use crate::edit::Writer;
use crate::exit::Exit;
use crate::inventory::{self, Now, Record};

#[derive(Serialize)]
struct Added<'a> {
    user: String,
    file: String,
    added: &'a [Record],
}

pub fn run(config: &Config, user: &OsStr, input: &Path, force: bool, out: &mut Out) -> Outcome {
    let user = super::user_name(user)?;
    if !force && uzers::get_user_by_name(user.as_os_str()).is_none() {
        return Err(Failure::new(
            Exit::DataErr,
            format!(
                "no user {} in the user database (getent passwd {0}); sshd would never ask for these keys. \
                 Create the account first, or add --force to store keys for it now",
                user.display()
            ),
        ));
    }
    let data = super::read_input(input)?;
    let now = Now::system();

    let writer = Writer::open(&config.store)?;
    let entry = writer.entry(&user)?;
    let mut known = inventory::scan(&writer.read(&entry)?, &now);
    let mut lines = Vec::new();
    let (added, skipped) = super::take_new(&data, input, &mut known, &now, &mut lines);
    if !skipped.is_empty() {
        return Err(refusal(&skipped));
    }
    if added.is_empty() {
        return Err(Failure::new(
            Exit::DataErr,
            format!(
                "{} holds no key lines; nothing added",
                crate::log::path(input)
            ),
        ));
    }
    let file = writer.append(&user, &lines)?;
    let report = Added {
        user: user.display(),
        file,
        added: &added,
    };
    out.emit(&report, |w| {
        writeln!(
            w,
            "added {} key(s) for {} to {}:",
            added.len(),
            report.user,
            report.file
        )?;
        for r in &added {
            writeln!(w, "  {} {} {}", r.kind, r.fingerprint, r.comment)?;
        }
        Ok(())
    })?;
    Ok(Exit::Ok)
}

fn refusal(skipped: &[Skipped]) -> Failure {
    let lines: Vec<String> = skipped
        .iter()
        .map(|s| format!("  {}:{}: {}", s.source, s.line, s.reason))
        .collect();
    Failure::new(
        Exit::DataErr,
        format!(
            "nothing added; fix or remove these line(s) and run again:\n{}",
            lines.join("\n")
        ),
    )
}
