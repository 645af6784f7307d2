//! `keyward index [USER...]`: rebuild the fingerprint index after the store
//! was edited by hand. `add`, `remove` and `import` keep it current already.

use std::ffi::OsString;

use serde::Serialize;

use super::{Out, Outcome};
use crate::config::Config;
use crate::exit::Exit;
use crate::store::edit::Writer;

#[derive(Serialize)]
struct Row {
    user: String,
    indexed: bool,
}

pub fn run(config: &Config, users: &[OsString], out: &mut Out) -> Outcome {
    let writer = Writer::open(&config.store)?;
    let names = if users.is_empty() {
        writer.user_names()?
    } else {
        users
            .iter()
            .map(|u| super::user_name(u))
            .collect::<Result<_, _>>()?
    };
    let mut rows = Vec::new();
    for name in &names {
        rows.push(Row {
            user: name.display(),
            indexed: writer.reindex(name)?,
        });
    }
    out.emit(&rows, |w| {
        for r in &rows {
            if r.indexed {
                writeln!(w, "{}: index written", r.user)?;
            } else {
                writeln!(w, "{}: small enough to read in full; no index", r.user)?;
            }
        }
        Ok(())
    })?;
    Ok(Exit::Ok)
}
