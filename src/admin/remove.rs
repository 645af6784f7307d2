//! `keyward remove USER FINGERPRINT|COMMENT`: drop the matching key lines
//! from the user's store files, each file replaced whole.

use std::ffi::OsStr;

use serde::Serialize;

use super::{Failure, Out, Outcome};
use crate::config::Config;
use crate::edit::Writer;
use crate::exit::Exit;
use crate::fingerprint::Fingerprint;
use crate::inventory::{self, Keys, Now, Record};

#[derive(Serialize)]
struct Removed<'a> {
    user: String,
    dry_run: bool,
    removed: &'a [Record],
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
    if matched.len() > 1 && !all && !dry_run {
        let list: Vec<String> = matched
            .iter()
            .map(|r| {
                format!(
                    "  {}:{}: {} {} {}",
                    r.source, r.line, r.kind, r.fingerprint, r.comment
                )
            })
            .collect();
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
    if dry_run {
        let report = Removed {
            user: user.display(),
            dry_run,
            removed: &matched,
        };
        out.emit(&report, |w| {
            writeln!(w, "dry run: would remove {} key(s):", matched.len())?;
            for r in &matched {
                writeln!(
                    w,
                    "  {}:{}: {} {} {}",
                    r.source, r.line, r.kind, r.fingerprint, r.comment
                )?;
            }
            Ok(())
        })?;
        return Ok(if matched.is_empty() {
            Exit::Attention
        } else {
            Exit::Ok
        });
    }
    let mut removed = Vec::new();
    for source in sources {
        let mut keys = Keys::default();
        inventory::scan_one(&source.path, &source.data, &now, &mut keys);
        let hits: Vec<Record> = keys
            .records
            .into_iter()
            .filter(|r| match &fingerprint {
                Some(fp) => fp.matches(&r.blob),
                None => r.comment == comment.trim(),
            })
            .collect();
        if hits.is_empty() {
            continue;
        }
        let kept: Vec<&[u8]> = source
            .data
            .split(|&b| b == b'\n')
            .enumerate()
            .filter(|(i, _)| !hits.iter().any(|h| h.line == i + 1))
            .map(|(_, l)| l)
            .collect();
        writer.rewrite(&entry, &source, &kept.join(&b'\n'))?;
        removed.extend(hits);
    }
    if !removed.is_empty() {
        writer.reindex(&user)?;
    }
    let report = Removed {
        user: user.display(),
        dry_run,
        removed: &removed,
    };
    if removed.is_empty() {
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
    out.emit(&report, |w| {
        for r in &removed {
            writeln!(
                w,
                "removed {}:{}: {} {} {}",
                r.source, r.line, r.kind, r.fingerprint, r.comment
            )?;
        }
        Ok(())
    })?;
    Ok(Exit::Ok)
}
