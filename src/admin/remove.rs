//! `keyward remove USER FINGERPRINT|COMMENT`: drop the matching key lines
//! from the user's store files, each file replaced whole.

use std::ffi::OsStr;

use serde::Serialize;

use super::{Failure, Out, Outcome};
use crate::config::Config;
use crate::exit::Exit;
use crate::openssh::fingerprint::Fingerprint;
use crate::store::edit::Writer;
use crate::store::inventory::{self, Keys, Now, Record};

#[derive(Serialize)]
struct Removed<'a> {
    user: String,
    dry_run: bool,
    removed: &'a [Record],
}

/// `file:line: type fingerprint comment`, how every key is named here.
fn row(r: &Record) -> String {
    format!(
        "{}:{}: {} {} {}",
        r.source, r.line, r.kind, r.fingerprint, r.comment
    )
}

pub fn run(
    config: &Config,
    user: &OsStr,
    key: &OsStr,
    all: bool,
    dry_run: bool,
    out: &mut Out,
) -> Outcome {
    let user = super::user_name(user)?;
    let wanted = key.as_encoded_bytes();
    let fingerprint = Fingerprint::parse(wanted).ok();
    let comment = String::from_utf8_lossy(wanted);
    let now = Now::system();

    let writer = Writer::open(&config.store)?;
    let entry = writer.entry(&user)?;
    let sources = writer.read(&entry)?;
    // First what would go, so that a comment shared by several keys is
    // never a surprise.
    let mut matched: Vec<Record> = Vec::new();
    for source in &sources {
        let mut keys = Keys::default();
        inventory::scan_one(&source.path, &source.data, &now, &mut keys);
        matched.extend(keys.records.into_iter().filter(|r| match &fingerprint {
            Some(fp) => fp.matches(&r.blob),
            None => r.comment == comment.trim(),
        }));
    }
    let report = Removed {
        user: user.display(),
        dry_run,
        removed: &matched,
    };
    if matched.is_empty() {
        out.emit(&report, |_| Ok(()))?;
        return Err(Failure::new(
            Exit::Attention,
            format!(
                "no key of {} has the {} {}; nothing removed (see `keyward list {0}`)",
                report.user,
                if fingerprint.is_some() {
                    "fingerprint"
                } else {
                    "comment"
                },
                comment
            ),
        ));
    }
    if matched.len() > 1 && !all && !dry_run {
        let list: Vec<String> = matched.iter().map(|r| format!("  {}", row(r))).collect();
        return Err(Failure::new(
            Exit::DataErr,
            format!(
                "{} keys match; nothing removed. Add --all to remove them all, or name one by \
                 its fingerprint:\n{}",
                matched.len(),
                list.join("\n")
            ),
        ));
    }
    if !dry_run {
        for source in &sources {
            let gone = |line: usize| {
                matched
                    .iter()
                    .any(|r| r.path == source.path && r.line == line)
            };
            if !matched.iter().any(|r| r.path == source.path) {
                continue;
            }
            let kept: Vec<&[u8]> = source
                .data
                .split(|&b| b == b'\n')
                .enumerate()
                .filter(|(i, _)| !gone(i + 1))
                .map(|(_, l)| l)
                .collect();
            writer.rewrite(&entry, source, &kept.join(&b'\n'))?;
        }
        writer.reindex(&user)?;
    }
    out.emit(&report, |w| {
        if dry_run {
            writeln!(w, "dry run: would remove {} key(s):", matched.len())?;
        }
        for r in &matched {
            let verb = if dry_run { " " } else { "removed" };
            writeln!(w, "{verb} {}", row(r))?;
        }
        Ok(())
    })?;
    Ok(Exit::Ok)
}
