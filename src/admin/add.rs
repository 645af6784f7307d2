//! `keyward add USER [FILE|-]`: validate key lines and append them to the
//! user's store entry. All or nothing: one invalid or duplicate line and the
//! store is left as it was.

use std::ffi::OsStr;
use std::path::Path;

use serde::Serialize;

use super::{Failure, Out, Outcome, Skipped};
use crate::config::Config;
use crate::exit::Exit;
use crate::store::edit::Writer;
use crate::store::inventory::{self, Now, Record};

#[derive(Serialize)]
struct Added<'a> {
    user: String,
    file: String,
    dry_run: bool,
    added: &'a [Record],
}

pub fn run(
    config: &Config,
    user: &OsStr,
    input: &Path,
    force: bool,
    dry_run: bool,
    out: &mut Out,
) -> Outcome {
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
    if input == Path::new("-") && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        super::warn(&format!(
            "reading key lines for {} from standard input; end with Ctrl-D (or give a file: \
             keyward add USER KEYFILE)",
            user.display()
        ));
    }
    let data = super::read_input(input)?;
    if let Some(n) = private_key_line(&data) {
        // Never echo it: the error names the line, not its content.
        return Err(Failure::new(
            Exit::DataErr,
            format!(
                "{}:{n} is a private key; nothing added. Give the public key, usually the same \
                 file name ending in .pub (ssh-keygen -y -f KEY prints it)",
                crate::log::path(input)
            ),
        ));
    }
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
    let file = if dry_run {
        String::new()
    } else {
        writer.append(&user, &lines)?
    };
    let report = Added {
        user: user.display(),
        file,
        dry_run,
        added: &added,
    };
    out.emit(&report, |w| {
        if dry_run {
            writeln!(
                w,
                "dry run: would add {} key(s) for {}:",
                added.len(),
                report.user
            )?;
        } else {
            writeln!(
                w,
                "added {} key(s) for {} to {}:",
                added.len(),
                report.user,
                report.file
            )?;
        }
        for r in &added {
            writeln!(w, "  {} {} {}", r.kind, r.fingerprint, r.comment)?;
        }
        Ok(())
    })?;
    Ok(Exit::Ok)
}

/// The first line that starts a private key (OpenSSH or PEM), 1-based.
fn private_key_line(data: &[u8]) -> Option<usize> {
    data.split(|&b| b == b'\n')
        .position(|l| {
            let l = l.trim_ascii();
            l.starts_with(b"-----BEGIN ") && l.windows(11).any(|w| w == b"PRIVATE KEY")
        })
        .map(|i| i + 1)
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
