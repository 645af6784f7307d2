//! Findings of `check` and `audit`: one line each, with a mark a person can
//! scan and, where something is wrong, the command that fixes it.

use std::io::{self, Write};

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Info,
    Warning,
    Error,
}

impl Level {
    fn mark(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub level: Level,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn push(&mut self, level: Level, message: impl Into<String>, fix: Option<String>) {
        self.findings.push(Finding {
            level,
            message: message.into(),
            fix,
        });
    }

    pub fn ok(&mut self, message: impl Into<String>) {
        self.push(Level::Ok, message, None);
    }

    pub fn info(&mut self, message: impl Into<String>) {
        self.push(Level::Info, message, None);
    }

    pub fn warning(&mut self, message: impl Into<String>, fix: Option<String>) {
        self.push(Level::Warning, message, fix);
    }

    pub fn error(&mut self, message: impl Into<String>, fix: Option<String>) {
        self.push(Level::Error, message, fix);
    }

    /// The worst level found; `Ok` for an empty report.
    pub fn worst(&self) -> Level {
        self.findings
            .iter()
            .map(|f| f.level)
            .max()
            .unwrap_or(Level::Ok)
    }

    /// 1 (`Attention`) when anything is a warning or worse, for cron jobs.
    pub fn exit(&self) -> crate::exit::Exit {
        if self.worst() >= Level::Warning {
            crate::exit::Exit::Attention
        } else {
            crate::exit::Exit::Ok
        }
    }

    /// `warning: ...` lines, each fix indented below its finding.
    pub fn print_text(&self, out: &mut dyn Write) -> io::Result<()> {
        for f in &self.findings {
            writeln!(out, "{:<9}{}", format!("{}:", f.level.mark()), f.message)?;
            if let Some(fix) = &f.fix {
                writeln!(out, "         fix: {fix}")?;
            }
        }
        Ok(())
    }
}

/// Writes `value` as one JSON document and a newline.
pub fn print_json<T: Serialize>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_puts_the_fix_under_its_finding() {
        let mut r = Report::default();
        r.ok("StrictModes yes");
        r.warning("home is 0777", Some("chmod go-w /home/a".into()));
        let mut out = Vec::new();
        r.print_text(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ok:      StrictModes yes\nwarning: home is 0777\n         fix: chmod go-w /home/a\n"
        );
        assert_eq!(r.worst(), Level::Warning);
    }
}
