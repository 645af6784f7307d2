//! `keyward list [USER]`: one row per key the store holds.

use std::ffi::OsStr;
use std::io::Write;

use serde::Serialize;

use super::{Out, Outcome};
use crate::config::Config;
use crate::exit::Exit;
use crate::store::inventory::{self, Now, Record};
use crate::store::{self, UserName};

#[derive(Serialize)]
struct Row<'a> {
    user: &'a str,
    #[serde(flatten)]
    record: &'a Record,
}

pub fn run(config: &Config, user: Option<&OsStr>, out: &mut Out) -> Outcome {
    let now = Now::system();
    let mut users: Vec<(String, Vec<Record>)> = Vec::new();
    let mut problems = Vec::new();
    let names = match user {
        Some(u) => {
            let name = super::user_name(u)?;
            if uzers::get_user_by_name(name.as_os_str()).is_none() {
                super::warn(&format!(
                    "no user {} in the user database: sshd never asks keyward for this name's keys",
                    name.display()
                ));
            }
            vec![name]
        }
        None => match store::open_users(&config.store)? {
            None => Vec::new(),
            Some(dir) => store::list_dir(&dir, true)?
                .iter()
                .filter_map(|n| UserName::new(n).ok())
                .collect(),
        },
    };
    for name in &names {
        match store::read_user(&config.store, name) {
            Ok(sources) => {
                let keys = inventory::scan(&sources, &now);
                users.push((name.display(), keys.records));
            }
            // One unsafe entry must not hide the others; say it at the end.
            Err(e) if user.is_none() => problems.push(e.to_string()),
            Err(e) => return Err(e.into()),
        }
    }
    let rows: Vec<Row> = users
        .iter()
        .flat_map(|(u, records)| records.iter().map(move |r| Row { user: u, record: r }))
        .collect();
    if user.is_some() && rows.is_empty() {
        super::warn(&format!(
            "no keys for {} in the store",
            names.first().map(UserName::display).unwrap_or_default()
        ));
    }
    out.emit(&rows, |w| table(w, &rows))?;
    if !problems.is_empty() {
        for p in &problems {
            super::warn(p);
        }
        super::warn("keys in these entries are not served; `keyward audit` lists every fix");
        return Ok(Exit::NoPerm);
    }
    Ok(Exit::Ok)
}

fn table(w: &mut dyn Write, rows: &[Row]) -> std::io::Result<()> {
    const HEAD: [&str; 8] = [
        "USER",
        "TYPE",
        "BITS",
        "FINGERPRINT",
        "EXPIRED",
        "SOURCE",
        "OPTIONS",
        "COMMENT",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            let k = r.record;
            [
                r.user.to_string(),
                k.kind.clone(),
                k.bits.map_or("-".into(), |b| b.to_string()),
                k.fingerprint.clone(),
                if k.expired { "yes" } else { "no" }.into(),
                format!("{}:{}", k.source, k.line),
                if k.options.is_empty() {
                    "-".into()
                } else {
                    k.options.clone()
                },
                k.comment.clone(),
            ]
        })
        .collect();
    let mut width = HEAD.map(str::len);
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut line = |cols: &[String]| -> std::io::Result<()> {
        let mut s = String::new();
        for (i, c) in cols.iter().enumerate() {
            if i + 1 == cols.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
        }
        writeln!(w, "{}", s.trim_end())
    };
    line(&HEAD.map(String::from))?;
    for row in &cells {
        line(row)?;
    }
    Ok(())
}
