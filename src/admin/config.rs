//! `keyward config`: the configuration as keyward reads it, or every
//! problem in it, one per line with its line number.

use std::path::Path;

use serde::Serialize;

use super::{Out, Outcome};
use crate::config::{Config, ConfigError, DEFAULT_PATH};
use crate::exit::Exit;

#[derive(Serialize)]
struct ConfigReport {
    file: String,
    /// `read`, `absent` (built-in defaults) or `broken`.
    status: &'static str,
    problems: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    effective: Option<Config>,
}

pub fn run(path: Option<&Path>, out: &mut Out) -> Outcome {
    let file = path.unwrap_or(Path::new(DEFAULT_PATH));
    let absent = path.is_none() && !file.exists();
    let (report, exit) = match Config::load(path) {
        Ok(c) => (
            ConfigReport {
                file: crate::log::path(file),
                status: if absent { "absent" } else { "read" },
                problems: Vec::new(),
                effective: Some(c),
            },
            Exit::Ok,
        ),
        Err(e) => (
            ConfigReport {
                file: crate::log::path(file),
                status: "broken",
                problems: e.problems(),
                effective: None,
            },
            match e {
                ConfigError::Unsafe(u) if !u.is_io() => Exit::NoPerm,
                _ => Exit::Config,
            },
        ),
    };
    out.emit(&report, |w| {
        match (&report.effective, report.status) {
            (Some(c), status) => {
                let source = if status == "absent" {
                    format!("{} is absent: built-in defaults", report.file)
                } else {
                    format!("read from {}", report.file)
                };
                writeln!(w, "# keyward's effective configuration, {source}")?;
                write!(w, "{}", c.to_toml())?;
            }
            (None, _) => {
                for p in &report.problems {
                    writeln!(w, "error: {p}")?;
                }
            }
        }
        Ok(())
    })?;
    Ok(exit)
}
