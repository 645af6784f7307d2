//! Other AuthorizedKeysCommands, run after keyward's own store (`[[chain]]`
//! in keyward.toml or setup's record): sshd has one command slot, and keyward shares it with
//! the command that held it (`sss_ssh_authorizedkeys`, EC2 Instance Connect,
//! `userdbctl ssh-authorized-keys`).
//!
//! Each command is treated as sshd treats its AuthorizedKeysCommand: split
//! with the release's `argv_split`, tokens expanded in the arguments only,
//! the program checked like sshd's `safe_path` (root-owned, not group- or
//! world-writable up to `/`), run with sshd's environment and stdin from
//! /dev/null. Beyond sshd: a time limit and an output cap, after which the
//! whole process group is killed. Its output goes through the same line
//! grammar and key filter as the store's; a command that fails contributes
//! nothing and never stops keyward's own keys.
//!
//! Runs before authentication, as the AuthorizedKeysCommandUser.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::config::ChainConfig;
use crate::openssh::sshd;
use crate::openssh::strict_modes;
use crate::openssh::{Sshd, c_library};

/// What the tokens stand for in one lookup: the bytes sshd passed keyward
/// (or that were derived from them), never a form escaped for a log.
#[derive(Debug, Default, Clone)]
pub struct Values {
    pub user: OsString,
    pub uid: Option<OsString>,
    pub home: Option<OsString>,
    /// sshd's `%k` as keyward received it (a key or a certificate).
    pub key: Option<OsString>,
    pub key_type: Option<OsString>,
    pub fingerprint: Option<OsString>,
    /// sshd's `%C` and `%D`, when sshd passed them to keyward.
    pub connection: Option<OsString>,
    pub rdomain: Option<OsString>,
}

#[derive(Debug)]
pub enum Failure {
    /// The command line does not split, or names an unknown token.
    Invalid(String),
    /// A token this lookup has no value for (`%k` when sshd passed `%f`).
    NoValue(char),
    /// sshd would refuse to run the program.
    Unsafe(String),
    Spawn(std::io::Error),
    Exit(i32),
    Signal(i32),
    Timeout(u64),
    TooMuch(u64),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Invalid(why) => write!(f, "cannot be run: {why}"),
            Failure::NoValue(t) => {
                let (passed, line) = match t {
                    'k' | 't' => ("a fingerprint, not the key", "keys %u %k %h %U"),
                    'C' | 'D' => (
                        "no such argument",
                        "keys %u %k %h %U %C %D (keyward setup does)",
                    ),
                    _ => ("no such argument", "keys %u %k %h %U"),
                };
                write!(
                    f,
                    "uses %{t}, which this lookup has no value for (sshd passed keyward {passed}); register keyward with `{line}`"
                )
            }
            Failure::Unsafe(why) => {
                write!(f, "is refused as sshd refuses an unsafe command: {why}")
            }
            Failure::Spawn(e) => write!(f, "could not be started: {e}"),
            Failure::Exit(code) => write!(f, "failed, status {code}"),
            Failure::Signal(sig) => write!(f, "was killed by signal {sig}"),
            Failure::Timeout(secs) => write!(f, "did not finish within {secs} s and was killed"),
            Failure::TooMuch(cap) => write!(f, "printed more than {cap} bytes and was killed"),
        }
    }
}

/// The argv sshd would run: split, tokens expanded in the arguments (never
/// in the program), one value per argument; with no arguments, the user name.
pub fn argv(c: &ChainConfig, values: &Values, sshd: &Sshd) -> Result<Vec<OsString>, Failure> {
    c.validate(sshd).map_err(Failure::Invalid)?;
    let split = sshd::argv_split_as(&c.command, sshd).map_err(|e| Failure::Invalid(e.into()))?;
    let mut argv = vec![OsString::from(&split[0])];
    if split.len() == 1 {
        argv.push(values.user.clone());
        return Ok(argv);
    }
    let have: Vec<(char, &OsStr)> = [
        ('u', Some(values.user.as_os_str())),
        ('U', values.uid.as_deref()),
        ('h', values.home.as_deref()),
        ('k', values.key.as_deref()),
        ('t', values.key_type.as_deref()),
        ('f', values.fingerprint.as_deref()),
        ('C', values.connection.as_deref()),
        ('D', values.rdomain.as_deref()),
    ]
    .into_iter()
    .filter_map(|(t, v)| v.map(|v| (t, v)))
    .collect();
    for arg in &split[1..] {
        if let Some(missing) = sshd::tokens_used(arg)
            .into_iter()
            .find(|t| *t != '%' && !have.iter().any(|(k, _)| k == t))
        {
            return Err(Failure::NoValue(missing));
        }
        argv.push(sshd::expand(arg, &have));
    }
    Ok(argv)
}

/// What one run gave.
pub struct Ran {
    pub stdout: Vec<u8>,
    /// The first `MAX_STDERR_LINES` lines of stderr (each at most
    /// `MAX_STDERR` bytes in all).
    pub stderr: Vec<Vec<u8>>,
    /// Lines of stderr past those, counted only.
    pub stderr_dropped: usize,
    pub result: Result<(), Failure>,
    pub took: Duration,
}

impl Ran {
    /// A command that was not run, and why.
    pub fn not_run(why: Failure) -> Ran {
        Ran {
            stdout: Vec::new(),
            stderr: Vec::new(),
            stderr_dropped: 0,
            result: Err(why),
            took: Duration::ZERO,
        }
    }
}

/// The most stderr kept for the log, in bytes and in lines: a command that
/// writes thousands of lines must not flood syslog on every lookup (the
/// skipped-line warnings have the same kind of cap).
const MAX_STDERR: usize = 4096;
pub const MAX_STDERR_LINES: usize = 10;

/// The account root (`keyward check`) runs a command as: sshd's
/// AuthorizedKeysCommandUser.
pub struct RunAs {
    pub name: OsString,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

/// A command set up as sshd's `subprocess()` sets up an
/// AuthorizedKeysCommand: sshd's environment for the account it runs as
/// (PATH, USER, LOGNAME, HOME, and LANG if sshd has it), stdin from
/// /dev/null, cwd `/`. Under sshd (`run_as` None) keyward was started that
/// way, so it passes on what it was given. As root, for `run_as`, it also
/// starts as sshd does: that user's groups, gid and uid, and no descriptor
/// above 2.
pub fn sshd_command(
    program: &OsStr,
    args: &[OsString],
    run_as: Option<&RunAs>,
    sshd: &Sshd,
) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .stdin(Stdio::null())
        .current_dir("/");
    match run_as {
        None => {
            for var in ["PATH", "USER", "LOGNAME", "HOME", "LANG"] {
                if let Some(v) = std::env::var_os(var) {
                    cmd.env(var, v);
                }
            }
        }
        Some(who) => {
            cmd.env("PATH", sshd.std_path())
                .env("USER", &who.name)
                .env("LOGNAME", &who.name)
                .env("HOME", &who.home);
            if let Some(lang) = std::env::var_os("LANG") {
                cmd.env("LANG", lang);
            }
            let gid = nix::unistd::Gid::from_raw(who.gid);
            let groups = std::ffi::CString::new(who.name.as_bytes())
                .ok()
                .and_then(|n| nix::unistd::getgrouplist(&n, gid).ok())
                .unwrap_or_else(|| vec![gid]);
            c_library::start_as(&mut cmd, who.uid, who.gid, groups);
        }
    }
    cmd
}

/// Ends the command: its process group (its children) and the command
/// itself, which may have left that group (`setpgid` to another one).
fn kill_all(pid: i32) {
    let _ = kill(Pid::from_raw(-pid), Signal::SIGKILL);
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
}

/// Runs `argv` after sshd's program check, as the current user (the
/// lookup) or, for `keyward check` running as root, as `run_as`.
pub fn run(
    argv: &[OsString],
    c: &ChainConfig,
    sshd: &Sshd,
    group_exception: bool,
    run_as: Option<&RunAs>,
) -> Ran {
    match strict_modes::program_check(Path::new(&argv[0]), group_exception) {
        Ok(o) if o.is_empty() => {}
        Ok(o) => {
            let why: Vec<String> = o.iter().map(|x| x.describe()).collect();
            return Ran::not_run(Failure::Unsafe(why.join("; ")));
        }
        Err(e) => return Ran::not_run(Failure::Unsafe(e)),
    }
    let start = Instant::now();
    let mut cmd = sshd_command(&argv[0], &argv[1..], run_as, sshd);
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a timeout kills its children too.
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Ran::not_run(Failure::Spawn(e)),
    };
    let pid = child.id() as i32;
    let deadline = start + Duration::from_secs(c.timeout);
    // Both were asked for as pipes; never panic before authentication.
    let (Some(mut out), Some(mut err)) = (child.stdout.take(), child.stderr.take()) else {
        kill_all(pid);
        let _ = child.wait();
        return Ran::not_run(Failure::Spawn(std::io::Error::other("no output pipes")));
    };
    let mut stdout = Vec::new();
    let mut errors = Stderr::default();
    let (mut out_open, mut err_open) = (true, true);
    let mut result = Ok(());
    let mut buf = vec![0u8; 64 * 1024];
    while out_open || err_open {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            result = Err(Failure::Timeout(c.timeout));
            break;
        }
        let ready: Vec<bool> = {
            let mut fds = Vec::new();
            if out_open {
                fds.push(PollFd::new(out.as_fd(), PollFlags::POLLIN));
            }
            if err_open {
                fds.push(PollFd::new(err.as_fd(), PollFlags::POLLIN));
            }
            let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    result = Err(Failure::Spawn(e.into()));
                    break;
                }
            }
            fds.iter().map(|f| f.any().unwrap_or(true)).collect()
        };
        let mut i = 0;
        if out_open {
            if ready[i] {
                match out.read(&mut buf) {
                    Ok(0) | Err(_) => out_open = false,
                    Ok(n) => stdout.extend_from_slice(&buf[..n]),
                }
            }
            i += 1;
        }
        if err_open && ready[i] {
            match err.read(&mut buf) {
                Ok(0) | Err(_) => err_open = false,
                Ok(n) => errors.take(&buf[..n]),
            }
        }
        if stdout.len() as u64 > c.max_output {
            result = Err(Failure::TooMuch(c.max_output));
            break;
        }
    }
    let status = if result.is_err() {
        kill_all(pid);
        // SIGKILL cannot be caught: the wait ends.
        let _ = child.wait();
        None
    } else {
        // Both pipes are closed; the program is on its way out, or keeps
        // running without them: wait for it, in short and then longer naps,
        // until the deadline.
        let mut nap = Duration::from_micros(20);
        loop {
            match child.try_wait() {
                Ok(Some(st)) => break Some(st),
                Ok(None) if Instant::now() >= deadline => {
                    kill_all(pid);
                    let _ = child.wait();
                    result = Err(Failure::Timeout(c.timeout));
                    break None;
                }
                Ok(None) => {
                    std::thread::sleep(nap);
                    nap = (nap * 2).min(Duration::from_millis(5));
                }
                Err(e) => {
                    result = Err(Failure::Spawn(e));
                    break None;
                }
            }
        }
    };
    use std::os::unix::process::ExitStatusExt;
    if let Some(st) = status
        && !st.success()
    {
        result = match st.code() {
            Some(code) => Err(Failure::Exit(code)),
            None => Err(Failure::Signal(st.signal().unwrap_or(0))),
        };
    }
    if result.is_err() {
        // sshd uses no key from a command that failed, even a matching one.
        stdout.clear();
    }
    let (stderr, stderr_dropped) = errors.finish();
    Ran {
        stdout,
        stderr,
        stderr_dropped,
        result,
        took: start.elapsed(),
    }
}

/// stderr as it arrives: the first lines kept, the rest counted.
#[derive(Default)]
struct Stderr {
    lines: Vec<Vec<u8>>,
    partial: Vec<u8>,
    kept: usize,
    dropped: usize,
}

impl Stderr {
    fn take(&mut self, data: &[u8]) {
        for (i, piece) in data.split(|&b| b == b'\n').enumerate() {
            if i > 0 {
                self.end_line();
            }
            let room = MAX_STDERR.saturating_sub(self.kept + self.partial.len());
            self.partial
                .extend_from_slice(&piece[..piece.len().min(room)]);
        }
    }

    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.partial);
        if line.is_empty() {
            return;
        }
        if self.lines.len() < MAX_STDERR_LINES && self.kept < MAX_STDERR {
            self.kept += line.len();
            self.lines.push(line);
        } else {
            self.dropped += 1;
        }
    }

    fn finish(mut self) -> (Vec<Vec<u8>>, usize) {
        self.end_line();
        (self.lines, self.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(command: &str) -> ChainConfig {
        ChainConfig {
            command: command.into(),
            timeout: crate::config::DEFAULT_CHAIN_TIMEOUT,
            max_output: crate::config::DEFAULT_CHAIN_OUTPUT,
        }
    }

    #[test]
    fn commands_split_and_expand_as_sshd_does() {
        let d = &crate::openssh::DEFAULT;
        let v = Values {
            user: "alice".into(),
            uid: Some("1001".into()),
            home: Some("/home/alice".into()),
            fingerprint: Some("SHA256:x".into()),
            ..Values::default()
        };
        assert_eq!(
            argv(&chain("/usr/bin/sss_ssh_authorizedkeys %u"), &v, d).unwrap(),
            ["/usr/bin/sss_ssh_authorizedkeys", "alice"]
        );
        // No arguments: sshd passes the user name.
        assert_eq!(argv(&chain("/x"), &v, d).unwrap(), ["/x", "alice"]);
        // Tokens stay one argument each; %% is a percent sign.
        assert_eq!(
            argv(&chain("/x \"%u %U\" %h%% %f"), &v, d).unwrap(),
            ["/x", "alice 1001", "/home/alice%", "SHA256:x"]
        );
        assert!(matches!(
            argv(&chain("/x %k"), &v, d),
            Err(Failure::NoValue('k'))
        ));
        for bad in ["x %u", "/x %C", "/x %", "/x \"open"] {
            assert!(chain(bad).validate(d).is_err(), "{bad}");
        }
    }
}
