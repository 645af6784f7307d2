//! Command-line parsing (clap) and dispatch.
//!
//! Everything after `keys` is data: sshd substitutes `%u` and `%f` there, and
//! a user called `-x` or `--help` is a user, never an option.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::exit::Exit;
use crate::keys;

#[derive(Parser, Debug)]
#[command(
    name = "keyward",
    version,
    about = "Serve SSH keys to sshd from a root-owned store, and say why a home breaks key login",
    long_about = "keyward is run by sshd as its AuthorizedKeysCommand:\n\n    \
        AuthorizedKeysCommand /usr/bin/keyward keys %u %f\n    \
        AuthorizedKeysCommandUser nobody\n\n\
        It prints the user's lines from /etc/keyward/users/USER (a file, or a directory of \
        fragments) and logs to syslog when sshd's StrictModes would refuse the user's own \
        ~/.ssh/authorized_keys, with the command that fixes it.",
    after_help = "Exit status: 0 keys served (possibly none); 64 usage error; 65 refused user name or \
        fingerprint; 74 I/O error; 77 unsafe or tampered store or config; 78 broken config."
)]
pub struct Cli {
    /// Config file [default: /etc/keyward/keyward.toml; built-in defaults if absent]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print USER's authorized_keys lines (the AuthorizedKeysCommand)
    #[command(
        disable_help_flag = true,
        long_about = "Print USER's authorized_keys lines from the store on stdout.\n\n\
            With FINGERPRINT (sshd's %f, SHA256:... or MD5:...), print only the line(s) for that \
            key plus every cert-authority line. Every argument is taken as data, never as an \
            option. On any doubt nothing is printed and the exit status is non-zero; the reason \
            goes to syslog."
    )]
    Keys {
        /// USER [FINGERPRINT]
        #[arg(
            value_name = "USER [FINGERPRINT]",
            num_args = 1..=2,
            allow_hyphen_values = true,
            trailing_var_arg = true,
            required = true
        )]
        args: Vec<OsString>,
    },
}

/// Parses `args` (program name first) and runs the command.
pub fn main<I: IntoIterator<Item = OsString>>(args: I) -> Exit {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let usage = e.use_stderr();
            let _ = e.print();
            return if usage { Exit::Usage } else { Exit::Ok };
        }
    };
    match cli.command {
        Command::Keys { args } => {
            // clap enforces one or two values; match rather than index anyway.
            let (user, fingerprint) = match args.as_slice() {
                [user] => (user, None),
                [user, fp] => (user, Some(fp.as_os_str())),
                _ => return Exit::Usage,
            };
            let req = keys::Request {
                config: cli.config.as_deref(),
                user,
                fingerprint,
            };
            let mut out = std::io::stdout().lock();
            let exit = keys::run(&req, &mut out);
            let _ = out.flush();
            exit
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("keyward").chain(args.iter().copied()))
    }

    fn keys_args(args: &[&str]) -> Vec<OsString> {
        match parse(args).unwrap().command {
            Command::Keys { args } => args,
        }
    }

    #[test]
    fn every_argument_after_keys_is_data() {
        for name in ["-x", "--help", "-h", "--config", "--version", "-"] {
            assert_eq!(
                keys_args(&["keys", name]),
                vec![OsString::from(name)],
                "{name}"
            );
        }
        assert_eq!(
            keys_args(&["keys", "--help", "SHA256:x"]),
            vec![OsString::from("--help"), OsString::from("SHA256:x")]
        );
    }

    #[test]
    fn config_goes_before_keys() {
        let cli = parse(&["--config", "/x.toml", "keys", "alice"]).unwrap();
        assert_eq!(cli.config, Some(PathBuf::from("/x.toml")));
    }

    #[test]
    fn wrong_argument_counts_are_usage_errors() {
        assert!(parse(&["keys"]).is_err());
        assert!(parse(&["keys", "a", "b", "c"]).is_err());
        assert!(parse(&[]).is_err());
    }
}
