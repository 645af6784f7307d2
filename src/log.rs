//! Syslog output: RFC 3164 datagrams on a Unix socket, ident `keyward`.
//!
//! sshd discards the command's stderr in production (plain `sshd -D` points the
//! session's fd 2 at /dev/null), so syslog is the only channel an admin sees.
//! When the socket cannot be reached we fall back to one short line on stderr:
//! a logging failure must never change what the lookup returns.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use syslog::{Facility, LogFormat, Logger, LoggerBackend};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Err,
    Warning,
    Notice,
    Info,
}

impl Severity {
    fn label(self) -> &'static str {
        match self {
            Severity::Err => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
            Severity::Info => "info",
        }
    }
}

/// How long one message may wait for room in the syslog daemon's queue. sshd
/// waits on us, so a stuck syslog daemon must not stall logins: after one
/// timeout the rest of this run's messages go to stderr.
const SEND_TIMEOUT: Duration = Duration::from_millis(100);

/// RFC 3164's header as syslog daemons read it: `<PRI>Mmm dd hh:mm:ss
/// keyward[PID]: `, local time, the day padded with a blank (`Dec  1`), as
/// the RFC has it and as sshd's own lines come.
pub struct Rfc3164 {
    facility: Facility,
    pid: u32,
}

impl<T: std::fmt::Display> LogFormat<T> for Rfc3164 {
    fn format<W: Write>(
        &self,
        w: &mut W,
        severity: syslog::Severity,
        message: T,
    ) -> syslog::Result<()> {
        let pri = self.facility as u8 | severity as u8;
        let head = header(pri, chrono::Local::now().naive_local(), self.pid);
        write!(w, "{head}{message}").map_err(syslog::Error::Write)
    }
}

fn header(pri: u8, when: chrono::NaiveDateTime, pid: u32) -> String {
    format!("<{pri}>{} keyward[{pid}]: ", when.format("%b %e %H:%M:%S"))
}

pub struct Log {
    backend: Option<Logger<LoggerBackend, Rfc3164>>,
}

impl Log {
    /// Messages on stderr only: for `keyward check`, which runs the command
    /// the way sshd does and shows its reasons itself, so that a check is
    /// never logged as if sshd had asked.
    pub fn stderr() -> Log {
        Log { backend: None }
    }

    /// Connects to the syslog socket at `socket`. Never fails: an unreachable
    /// socket turns the logger into a stderr fallback.
    pub fn open(socket: &Path, facility: Facility) -> Log {
        let formatter = Rfc3164 {
            facility,
            pid: std::process::id(),
        };
        let mut backend = syslog::unix_custom(formatter, socket).ok();
        let timed = match backend.as_ref().map(|l| &l.backend) {
            Some(LoggerBackend::Unix(sock)) => sock.set_write_timeout(Some(SEND_TIMEOUT)).is_ok(),
            // A stream socket (or anything else) cannot be bounded the same way.
            _ => false,
        };
        if !timed {
            backend = None;
        }
        Log { backend }
    }

    /// Logs `message`; true when syslog took it (false: it went to stderr).
    pub fn send(&mut self, severity: Severity, message: &str) -> bool {
        // The word itself, since rsyslog's default format drops the priority.
        let message = format!("{}: {}", severity.label(), scrub(message, false));
        let sent = match self.backend.as_mut() {
            Some(logger) => match severity {
                Severity::Err => logger.err(&message),
                Severity::Warning => logger.warning(&message),
                Severity::Notice => logger.notice(&message),
                Severity::Info => logger.info(&message),
            }
            .is_ok(),
            None => false,
        };
        if !sent {
            self.backend = None;
            // One line per message; a failing stderr is ignored like a failing socket.
            let _ = writeln!(std::io::stderr(), "keyward: {message}");
        }
        sent
    }

    pub fn err(&mut self, message: &str) {
        self.send(Severity::Err, message);
    }
    pub fn warning(&mut self, message: &str) {
        self.send(Severity::Warning, message);
    }
    pub fn notice(&mut self, message: &str) {
        self.send(Severity::Notice, message);
    }
    pub fn info(&mut self, message: &str) {
        self.send(Severity::Info, message);
    }
}

/// Whether messages sent to `socket` reach a syslog daemon; `Err` says why
/// not, for `setup` and `check` to tell the admin before it matters: sshd
/// discards the command's stderr, where keyward's messages go otherwise.
pub fn probe(socket: &Path) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    let p = path(socket);
    let meta =
        std::fs::metadata(socket).map_err(|e| format!("there is no syslog socket at {p} ({e})"))?;
    if !meta.file_type().is_socket() {
        return Err(format!("{p} is not a socket"));
    }
    let sock = std::os::unix::net::UnixDatagram::unbound()
        .map_err(|e| format!("cannot make a socket to test {p}: {e}"))?;
    match sock.connect(socket) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(nix::libc::EPROTOTYPE) => Err(format!(
            "{p} is a stream socket, and keyward sends datagrams"
        )),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err(format!("nothing is listening on {p}"))
        }
        Err(e) => Err(format!("cannot send to {p}: {e}")),
    }
}

/// Where an admin reads keyward's messages on this machine.
pub fn where_to_look() -> &'static str {
    if Path::new("/run/systemd/journal/socket").exists() {
        "journalctl -t keyward"
    } else {
        "your syslog daemon's authpriv log (/var/log/auth.log on Debian)"
    }
}

/// What to do when `probe` fails.
pub fn probe_fix() -> &'static str {
    "start a syslog daemon that reads it (apt-get install rsyslog; on systemd machines \
     journald provides /dev/log), or point [syslog] socket in keyward.toml at the one you have"
}

/// Renders bytes from the outside world (user names, paths, key comments,
/// a parser's error text) for a log line or a terminal: printable ASCII as
/// is, everything else as `\xNN`, so that no input can forge a second log
/// line, move a terminal's cursor or hide in escape sequences. A backslash
/// is escaped too, so the rendering cannot be faked either.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            out.push(b as char);
        } else {
            push_hex(&mut out, &[b]);
        }
    }
    out
}

/// The last line of defence, applied to every message as it leaves for
/// syslog or a terminal: characters that steer a terminal or a log reader
/// (C0 and C1 controls, DEL, and the invisible bidirectional and format
/// characters that reorder what a reader sees) become `\xNN`. Text keyward
/// wrote itself passes unchanged, so anything escaped here is input that
/// escaped `escape`. `keep_newlines` is for multi-line terminal output.
pub fn scrub(text: &str, keep_newlines: bool) -> std::borrow::Cow<'_, str> {
    let hostile = |c: char| {
        (c.is_control() && !(keep_newlines && c == '\n'))
            || matches!(c, '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}' | '\u{feff}')
    };
    if !text.chars().any(hostile) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if hostile(c) {
            push_hex(&mut out, c.encode_utf8(&mut [0; 4]).as_bytes());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    use std::fmt::Write;
    for b in bytes {
        let _ = write!(out, "\\x{b:02x}");
    }
}

/// `escape` for a path.
pub fn path(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    escape(p.as_os_str().as_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_header_is_rfc_3164s() {
        let at = |d, h| {
            chrono::NaiveDate::from_ymd_opt(2026, 12, d)
                .unwrap()
                .and_hms_opt(h, 5, 9)
                .unwrap()
        };
        assert_eq!(
            header(86, at(1, 7), 42),
            "<86>Dec  1 07:05:09 keyward[42]: "
        );
        assert_eq!(
            header(86, at(31, 23), 42),
            "<86>Dec 31 23:05:09 keyward[42]: "
        );
    }

    use super::*;

    #[test]
    fn escape_keeps_printable_and_hides_control_bytes() {
        assert_eq!(escape(b"alice"), "alice");
        assert_eq!(escape(b"a\nb"), "a\\x0ab");
        assert_eq!(escape(b"a\\b"), "a\\x5cb");
        assert_eq!(escape(&[0xff, 0x1b]), "\\xff\\x1b");
    }

    #[test]
    fn scrub_neutralises_terminal_and_log_controls_only() {
        assert_eq!(scrub("plain ü \\x0a text", false), "plain ü \\x0a text");
        assert_eq!(scrub("a\nb\r\x1b[2K", false), "a\\x0ab\\x0d\\x1b[2K");
        assert_eq!(scrub("a\nb\r", true), "a\nb\\x0d");
        // C1 CSI and a right-to-left override.
        assert_eq!(
            scrub("x\u{9b}y\u{202e}z", true),
            "x\\xc2\\x9by\\xe2\\x80\\xaez"
        );
    }

    #[test]
    fn unreachable_socket_falls_back_without_panicking() {
        let mut log = Log::open(
            Path::new("/nonexistent/keyward.sock"),
            Facility::LOG_AUTHPRIV,
        );
        assert!(log.backend.is_none());
        log.info("quiet");
        log.err("to stderr");
    }
}
