//! Command-line parsing (clap) and dispatch.
//!
//! Everything after `keys` is data: sshd substitutes `%u` and `%f` there, and
//! a user called `-x` or `--help` is a user, never an option.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::admin;
use crate::exit::Exit;
use crate::lookup::keys;

#[derive(Parser, Debug)]
#[command(
    name = "keyward",
    version,
    about = "Serve SSH keys to sshd from a root-owned store, and say why a home breaks key login",
    long_about = "keyward is run by sshd as its AuthorizedKeysCommand:\n\n    \
        AuthorizedKeysCommand /usr/bin/keyward keys %u %k %h %U\n    \
        AuthorizedKeysCommandUser keyward\n\n\
        It prints the user's lines from /etc/keyward/users/USER (a file, or a directory of \
        fragments) and logs to syslog when sshd's StrictModes would refuse the user's own \
        ~/.ssh/authorized_keys, with the command that fixes it.",
    after_help = "Exit status: 0 done (for keys: keys served, possibly none); 1 check or audit found \
        something to fix, or remove matched nothing; 64 usage error; 65 refused input (user name, \
        fingerprint, key line, duplicate key); 74 I/O error; 75 store locked by another keyward; \
        77 unsafe or tampered store or config, or not root; 78 broken config or missing store."
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
        long_about = "Print USER's authorized_keys lines from the store on stdout. sshd runs \
            this as registered by keyward setup: keys %u %k %h %U.\n\n\
            With KEY (sshd's %k, the offered key or certificate in base64), print only the lines \
            sshd can use for it: those of exactly that key, or for a certificate the \
            cert-authority lines of the CA that signed it. With FINGERPRINT (sshd's %f, \
            SHA256:... or MD5:...), the line(s) for that key plus every cert-authority line. \
            HOME and UID (sshd's %h and %U) spare the home check a user-database lookup. \
            CONNECTION and RDOMAIN (sshd's %C and %D, 9.4 and later) are only passed on to \
            chained commands that use them. Every argument is taken as data, never as an \
            option. On any doubt nothing is printed and the exit status is non-zero; the reason \
            goes to syslog."
    )]
    Keys {
        /// USER [KEY|FINGERPRINT [HOME UID [CONNECTION RDOMAIN]]]
        #[arg(
            value_name = "USER [KEY|FINGERPRINT [HOME UID [CONNECTION RDOMAIN]]]",
            num_args = 1..=6,
            allow_hyphen_values = true,
            trailing_var_arg = true,
            required = true
        )]
        args: Vec<OsString>,
    },

    /// Add key lines to USER's store entry (checked as sshd reads them; all or nothing)
    Add {
        /// Store keys for a user the user database does not know (yet)
        #[arg(long)]
        force: bool,
        /// Check the lines and show what would be added; write nothing
        #[arg(long)]
        dry_run: bool,
        /// Print one JSON document instead of text
        #[arg(long)]
        json: bool,
        user: OsString,
        /// Key file, or - for standard input
        #[arg(value_name = "FILE|-", default_value = "-")]
        file: PathBuf,
    },

    /// Remove USER's keys with this fingerprint (SHA256:... or MD5:...) or comment
    Remove {
        /// Remove every key that matches, when more than one does
        #[arg(long)]
        all: bool,
        /// Show what would be removed; write nothing
        #[arg(long)]
        dry_run: bool,
        /// Print one JSON document instead of text
        #[arg(long)]
        json: bool,
        user: OsString,
        #[arg(value_name = "FINGERPRINT|COMMENT")]
        key: OsString,
    },

    /// One row per key in the store: type, bits, fingerprint, expiry, source, options, comment
    List {
        /// Print one JSON document instead of text
        #[arg(long)]
        json: bool,
        user: Option<OsString>,
    },

    /// Copy keys from users' own AuthorizedKeysFiles into the store (homes are only read)
    Import {
        /// Every account in the user database
        #[arg(long, conflicts_with = "users")]
        all: bool,
        /// Show what would be taken and skipped; write nothing
        #[arg(long)]
        dry_run: bool,
        /// Take USER's keys even though others may write their home, ~/.ssh or
        /// key file (a key there may have been planted); repeat for more users
        #[arg(long, value_name = "USER")]
        accept_unsafe_home: Vec<OsString>,
        /// Print one JSON document instead of text
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        sshd: SshdArgs,
        /// Accounts whose keys to import
        #[arg(value_name = "USER")]
        users: Vec<OsString>,
    },

    /// Explain what sshd will do with USER's keys, and what to change
    #[command(
        long_about = "Explain what sshd will do with USER's keys, and what to change.\n\n\
        Without --key: every key keyward can find for USER (the store, chained commands, the \
        user's own files), the StrictModes verdict on the home, and keyward's registration.\n\n\
        With --key: whether sshd accepts that key (or certificate) for USER from --from, \
        judged in sshd's own order for the installed release: the account, the method, the \
        key, the sources, what follows the match. Prints each step passed, then the verdict: \
        the step and reason that refuse, the directive (with file:line) or key line \
        responsible, the line sshd logs and at which LogLevel, and the fix. Exit 0 if sshd \
        accepts the key, 1 if it refuses it. Changes nothing and logs nobody in.",
        after_long_help = "Examples:\n  keyward check alice\n  keyward check alice --key /home/alice/.ssh/id_ed25519.pub --from 192.0.2.7\n  keyward check alice --key id_ed25519-cert.pub --json"
    )]
    Check {
        /// Print one JSON document instead of text
        #[arg(long)]
        json: bool,
        /// Judge this public key or certificate (id_ed25519.pub, id_ed25519-cert.pub)
        #[arg(long, value_name = "PUBFILE")]
        key: Option<PathBuf>,
        /// The client's address, for Match Address, from=, source-address and user@host patterns [default: 127.0.0.1]
        #[arg(long, value_name = "ADDR", requires = "key")]
        from: Option<String>,
        #[command(flatten)]
        sshd: SshdArgs,
        user: OsString,
    },

    /// Rebuild the fingerprint index of big users after editing the store by hand
    Index {
        /// Print one JSON document instead of text
        #[arg(long)]
        json: bool,
        /// Users to index [default: every user in the store]
        users: Vec<OsString>,
    },

    /// Register keyward as sshd's AuthorizedKeysCommand (or, with --undo, remove it)
    #[command(long_about = "Register keyward as sshd's AuthorizedKeysCommand.\n\n\
        Reads the effective configuration with `sshd -T`; refuses, naming it, when another \
        AuthorizedKeysCommand is active, unless --chain (keyward serves that command's keys after \
        its own, as [[chain]] in keyward.toml, and runs as its user) or --replace; records the sshd \
        release (`sshd -V`) as [sshd] in keyward.toml; writes a drop-in where sshd_config \
        includes sshd_config.d/*.conf, otherwise a marked block before every directive of \
        sshd_config (before any Match block) with a dated backup; checks the result with `sshd -t` \
        and `sshd -T`; reloads sshd the platform's way; puts the old files back if anything fails. \
        Running it again changes nothing.")]
    Setup {
        /// Remove what setup wrote; the store is left alone
        #[arg(long)]
        undo: bool,
        /// Print the change as a diff; write nothing
        #[arg(long)]
        dry_run: bool,
        /// Take the slot from another AuthorizedKeysCommand
        #[arg(long, conflicts_with = "chain")]
        replace: bool,
        /// Share the slot: run the AuthorizedKeysCommand that holds it after keyward's store
        #[arg(long)]
        chain: bool,
        /// Write the configuration but do not reload sshd
        #[arg(long)]
        no_reload: bool,
        /// Register %f (the key's fingerprint) instead of %k (the key): only for certificates over
        /// about 96 KiB, which Linux cannot pass to a command as one argument
        #[arg(long)]
        fingerprint: bool,
        /// The keyward binary sshd should run [default: this one]
        #[arg(long, value_name = "PATH")]
        binary: Option<PathBuf>,
        /// AuthorizedKeysCommandUser [default: keyward, created if missing; nobody on Synology DSM]
        #[arg(long, value_name = "USER")]
        command_user: Option<String>,
        /// Print one JSON document instead of text
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        sshd: SshdArgs,
    },

    /// Print a shell completion script (bash or zsh); the packages install both
    #[command(hide = true)]
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },

    /// Print the keyward(8) man page: packaging/man/keyward.8.in with the
    /// synopsis and each command's options generated from this parser
    #[command(hide = true)]
    Man,

    /// Check keyward.toml: print the effective configuration, or each problem with its line
    Config {
        /// Print one JSON document instead of text
        #[arg(long)]
        json: bool,
    },

    /// Check the whole store; exit 1 if anything needs attention (for cron)
    Audit {
        /// Print one JSON document instead of text
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Shell {
    Bash,
    Zsh,
}

/// The completion script for `shell`, generated from the parser itself.
/// keyward(8): the hand-kept prose of packaging/man/keyward.8.in, with
/// the synopsis of every admin command and each one's option list made by
/// clap_mangen from the parser itself, so that they cannot drift from what
/// keyward accepts.
pub fn man_page() -> String {
    use clap::CommandFactory;
    let cmd = Cli::command();
    // clap_mangen writes a section header and its string definitions first;
    // the template has the definitions once, and the sections its own way.
    let body = |render: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| -> String {
        let mut out = Vec::new();
        let _ = render(&mut out);
        String::from_utf8_lossy(&out)
            .lines()
            .filter(|l| !l.starts_with(".SH ") && !l.starts_with(".ie ") && !l.starts_with(".el "))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let named = |name: &str| {
        let sub = cmd.find_subcommand(name).map(|s| {
            s.clone()
                .bin_name(format!("keyward [--config FILE] {name}"))
                .display_name(format!("keyward [--config FILE] {name}"))
        });
        sub.map(clap_mangen::Man::new)
    };
    let mut page = include_str!("../packaging/man/keyward.8.in").to_string();
    let admin: Vec<&str> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "keys")
        .map(|s| s.get_name())
        .collect();
    let synopsis: Vec<String> = admin
        .iter()
        .filter_map(|name| named(name))
        .map(|man| body(&|w: &mut Vec<u8>| man.render_synopsis_section(w)))
        .collect();
    page = page.replace(".\\\" @SYNOPSIS@\n", &synopsis.join(".br\n"));
    for name in &admin {
        let marker = format!(".\\\" @OPTIONS {name}@\n");
        if let Some(man) = named(name) {
            let options = body(&|w: &mut Vec<u8>| man.render_options_section(w));
            page = page.replace(&marker, &format!(".RS\n{options}.RE\n"));
        }
    }
    page
}

pub fn completions(shell: Shell) -> Vec<u8> {
    use clap::CommandFactory;
    let mut out = Vec::new();
    let mut cmd = Cli::command();
    match shell {
        Shell::Bash => {
            clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "keyward", &mut out)
        }
        Shell::Zsh => {
            clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, "keyward", &mut out)
        }
    }
    out
}

/// Which sshd to ask (`sshd -T`), for systems with more than one.
#[derive(clap::Args, Debug)]
pub struct SshdArgs {
    /// sshd binary to run `-T` with [default: /usr/sbin/sshd, else /usr/bin/sshd]
    #[arg(long, value_name = "PATH")]
    pub sshd: Option<PathBuf>,
    /// sshd_config to read instead of sshd's default
    #[arg(long, value_name = "FILE")]
    pub sshd_config: Option<PathBuf>,
}

impl SshdArgs {
    fn path(&self) -> PathBuf {
        self.sshd
            .clone()
            .unwrap_or_else(crate::openssh::sshd::default_sshd)
    }
}

/// Parses `args` (program name first) and runs the command.
pub fn main<I: IntoIterator<Item = OsString>>(args: I) -> Exit {
    // Not dumpable: no other process of the command user (nobody is shared
    // with other daemons) may ptrace keyward or read its memory through
    // /proc, and no core file keeps what it read. Failing to set it changes
    // nothing that is served.
    let _ = nix::sys::prctl::set_dumpable(false);
    let args: Vec<OsString> = args.into_iter().collect();
    // sshd's own command line goes straight to the lookup: building clap's
    // whole command tree was a quarter of a lookup's instructions, paid
    // twice per key. A unit test holds this to clap's reading of the same
    // arguments; anything else (`--config=FILE`, help, errors) goes to clap.
    if let Some((config, keys_args)) = sshd_command_line(&args) {
        return run_keys(config, keys_args);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let usage = e.use_stderr();
            let _ = e.print();
            return if usage { Exit::Usage } else { Exit::Ok };
        }
    };
    match cli.command {
        Command::Keys { args } => run_keys(cli.config.as_deref(), &args),
        command => match admin(cli.config.as_deref(), command) {
            Ok(exit) => exit,
            Err(f) => {
                admin::warn(&f.message);
                f.exit
            }
        },
    }
}

/// `keyward [--config FILE] keys USER [FINGERPRINT [HOME UID]]`, spelled the way a
/// sshd_config line spells it: the config and the arguments after `keys`.
fn sshd_command_line(args: &[OsString]) -> Option<(Option<&Path>, &[OsString])> {
    let (config, rest) = match args.get(1..)? {
        [opt, file, rest @ ..] if opt == "--config" => (Some(Path::new(file)), rest),
        rest => (None, rest),
    };
    // Every shape sshd's line can produce, the four-argument one included:
    // clap would take a user called `--` for its end-of-options marker.
    match rest {
        [keys, data @ ..] if keys == "keys" && [1, 2, 4, 6].contains(&data.len()) => {
            Some((config, data))
        }
        _ => None,
    }
}

fn run_keys(config: Option<&Path>, args: &[OsString]) -> Exit {
    // `keyward keys --help` typed by a person. Safe to single out: sshd
    // runs the command with stdin on /dev/null and stdout on a pipe, never
    // a terminal, so a user called `--help` logging in is still looked up
    // as a user; a person has a terminal on one side or the other.
    if let [one] = args {
        let person = std::io::IsTerminal::is_terminal(&std::io::stdin())
            || std::io::IsTerminal::is_terminal(&std::io::stdout());
        if (one == "--help" || one == "-h") && person {
            eprintln!(
                "usage: keyward [--config FILE] keys USER [KEY|FINGERPRINT [HOME UID [CONNECTION RDOMAIN]]]\n\
                 sshd runs this (AuthorizedKeysCommand ... keys %u %k %h %U); every argument is \
                 data. See keyward(8)."
            );
            return Exit::Usage;
        }
    }
    // clap enforces one to six values; HOME comes only with UID, and
    // sshd's %C (the connection) only with its %D (the routing domain).
    fn pair<'a>(a: &'a OsString, b: &'a OsString) -> Option<(&'a OsStr, &'a OsStr)> {
        Some((a.as_os_str(), b.as_os_str()))
    }
    let (user, offered, home_uid, connection) = match args {
        [user] => (user, None, None, None),
        [user, fp] => (user, Some(fp.as_os_str()), None, None),
        [user, fp, home, uid] => (user, Some(fp.as_os_str()), pair(home, uid), None),
        [user, fp, home, uid, conn, rdomain] => (
            user,
            Some(fp.as_os_str()),
            pair(home, uid),
            pair(conn, rdomain),
        ),
        _ => {
            eprintln!("keyward: keys takes USER [KEY|FINGERPRINT [HOME UID [CONNECTION RDOMAIN]]]");
            return Exit::Usage;
        }
    };
    let req = keys::Request {
        config,
        user,
        offered,
        home_uid,
        connection,
    };
    let mut out = std::io::stdout().lock();
    // sshd reads a pipe and needs the lines byte for byte; an admin running
    // `keys` by hand reads a terminal, which must not obey a comment's escapes.
    if std::io::IsTerminal::is_terminal(&out) {
        let mut buf = Vec::new();
        let exit = keys::run(&req, &mut buf);
        let _ = out.write_all(crate::log::scrub(&String::from_utf8_lossy(&buf), true).as_bytes());
        return exit;
    }
    let exit = keys::run(&req, &mut out);
    let _ = out.flush();
    exit
}

fn admin(config_path: Option<&Path>, command: Command) -> admin::Outcome {
    if let Command::Man = command {
        return std::io::stdout()
            .write_all(man_page().as_bytes())
            .map(|()| Exit::Ok)
            .map_err(|e| admin::Failure::new(Exit::IoErr, format!("cannot write: {e}")));
    }
    if let Command::Completions { shell } = command {
        return std::io::stdout()
            .write_all(&completions(shell))
            .map(|()| Exit::Ok)
            .map_err(|e| admin::Failure::new(Exit::IoErr, format!("cannot write: {e}")));
    }
    if let Command::Config { json } = command {
        let mut stdout = std::io::stdout().lock();
        let out = &mut admin::Out {
            json,
            stdout: &mut stdout,
        };
        return admin::config::run(config_path, out);
    }
    let config = admin::load_config(config_path)?;
    let json = match &command {
        Command::Keys { .. } | Command::Completions { .. } | Command::Man => false,
        Command::Add { json, .. }
        | Command::Remove { json, .. }
        | Command::List { json, .. }
        | Command::Import { json, .. }
        | Command::Check { json, .. }
        | Command::Index { json, .. }
        | Command::Setup { json, .. }
        | Command::Config { json }
        | Command::Audit { json } => *json,
    };
    let mut stdout = std::io::stdout().lock();
    let out = &mut admin::Out {
        json,
        stdout: &mut stdout,
    };
    match command {
        Command::Keys { .. } => Ok(Exit::Usage),
        Command::Add {
            force,
            dry_run,
            user,
            file,
            ..
        } => admin::add::run(&config, &user, &file, force, dry_run, out),
        Command::Remove {
            user,
            key,
            all,
            dry_run,
            ..
        } => admin::remove::run(&config, &user, &key, all, dry_run, out),
        Command::List { user, .. } => admin::list::run(&config, user.as_deref(), out),
        Command::Import {
            all,
            dry_run,
            accept_unsafe_home,
            sshd,
            users,
            ..
        } => {
            let req = admin::import::Request {
                users: &users,
                all,
                accept_unsafe: &accept_unsafe_home,
                dry_run,
                sshd: &sshd.path(),
                sshd_config: sshd.sshd_config.as_deref(),
            };
            admin::import::run(&config, &req, out)
        }
        Command::Check {
            sshd,
            user,
            key: Some(key),
            from,
            ..
        } => {
            let req = admin::check_key::Request {
                user: &user,
                key: &key,
                from: from.as_deref(),
                sshd: &sshd.path(),
                sshd_config: sshd.sshd_config.as_deref(),
            };
            admin::check_key::run(&config, &req, out)
        }
        Command::Check { sshd, user, .. } => {
            let req = admin::check::Request {
                config: config_path,
                user: &user,
                sshd: &sshd.path(),
                sshd_config: sshd.sshd_config.as_deref(),
            };
            admin::check::run(&config, &req, out)
        }
        Command::Setup {
            undo,
            dry_run,
            replace,
            chain,
            no_reload,
            fingerprint,
            binary,
            command_user,
            sshd,
            ..
        } => {
            let sshd_path = sshd.path();
            let req = admin::setup::Request {
                undo,
                dry_run,
                replace,
                chain,
                reload: !no_reload,
                fingerprint,
                binary: binary.as_deref(),
                command_user: command_user.as_deref(),
                config_path,
                sshd: &sshd_path,
                sshd_config: sshd.sshd_config.as_deref(),
            };
            admin::setup::run(&config, &req, out)
        }
        Command::Index { users, .. } => admin::reindex::run(&config, &users, out),
        Command::Audit { .. } => admin::audit::run(&config, out),
        Command::Config { .. } | Command::Completions { .. } | Command::Man => Ok(Exit::Usage),
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
            other => panic!("{other:?}"),
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
    fn sshd_command_lines_skip_clap_but_read_the_same() {
        let cases: &[&[&str]] = &[
            &["keys", "alice"],
            &["keys", "alice", "SHA256:x"],
            &["keys", "--help"],
            &["keys", "-x", "--version"],
            &["--config", "/k.toml", "keys", "alice", "SHA256:x"],
            &["--config", "/k.toml", "keys", "--config"],
            &["--config", "keys", "keys", "a"],
            &["keys", "alice", "SHA256:x", "/home/alice", "1000"],
            &["keys", "a", "k", "/h", "1", "10.0.0.1 5555 10.0.0.2 22", ""],
            // Not sshd's shape: clap decides.
            &["keys"],
            &["keys", "a", "b", "c", "d", "e"],
            &["keys", "a", "b", "c", "d", "e", "f", "g"],
            &["keys", "a", "b", "c"],
            &["--config=/k.toml", "keys", "a"],
            &["--config", "/k.toml", "list"],
            &["list", "keys"],
            &["--help"],
            &[],
        ];
        for case in cases {
            let argv: Vec<OsString> = std::iter::once("keyward")
                .chain(case.iter().copied())
                .map(OsString::from)
                .collect();
            let fast = sshd_command_line(&argv);
            match (fast, Cli::try_parse_from(&argv)) {
                (Some((config, args)), Ok(cli)) => {
                    let Command::Keys { args: clap_args } = cli.command else {
                        panic!("{case:?}: fast path took a non-keys command");
                    };
                    assert_eq!(config, cli.config.as_deref(), "{case:?}");
                    assert_eq!(args, clap_args.as_slice(), "{case:?}");
                }
                (Some(_), Err(e)) => panic!("{case:?}: fast path took what clap refuses: {e}"),
                (None, _) => {}
            }
        }
        assert!(sshd_command_line(&["keyward", "keys", "a"].map(OsString::from)).is_some());
    }

    #[test]
    fn a_user_called_double_dash_is_a_user_in_every_shape() {
        for data in [
            &["--"][..],
            &["--", "SHA256:x"],
            &["--", "SHA256:x", "/home/x", "1000"],
        ] {
            let argv: Vec<OsString> = ["keyward", "keys"]
                .iter()
                .chain(data)
                .map(OsString::from)
                .collect();
            let (_, args) = sshd_command_line(&argv).expect("sshd's shape");
            assert_eq!(args, &argv[2..], "{data:?}");
        }
    }

    #[test]
    fn packaged_man_page_is_what_the_parser_generates() {
        // After changing an option or the template:
        // keyward man > packaging/man/keyward.8
        let page = man_page();
        assert!(
            !page.contains("@SYNOPSIS@") && !page.contains("@OPTIONS"),
            "{page}"
        );
        assert_eq!(page, include_str!("../packaging/man/keyward.8"));
    }

    #[test]
    fn packaged_completions_are_what_the_parser_generates() {
        // After changing an option: keyward completions bash > packaging/completions/keyward.bash
        // and keyward completions zsh > packaging/completions/_keyward.
        assert_eq!(
            String::from_utf8(completions(Shell::Bash)).unwrap(),
            include_str!("../packaging/completions/keyward.bash")
        );
        assert_eq!(
            String::from_utf8(completions(Shell::Zsh)).unwrap(),
            include_str!("../packaging/completions/_keyward")
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
        assert!(parse(&["keys", "a", "b", "c", "d", "e", "f", "g"]).is_err());
        assert!(parse(&[]).is_err());
        // Three or five pass clap, which cannot pair them; run_keys refuses.
        for odd in [&["a", "b", "c"][..], &["a", "b", "c", "d", "e"]] {
            let args: Vec<OsString> = odd.iter().map(OsString::from).collect();
            assert_eq!(run_keys(None, &args), Exit::Usage);
        }
    }
}

#[cfg(test)]
mod man_page {
    use clap::CommandFactory;

    /// keyward(8)'s synopsis shows every command with every long option
    /// it takes.
    #[test]
    fn keyward_8_synopsis_shows_every_command_and_option() {
        let man = include_str!("../packaging/man/keyward.8").replace("\\-", "-");
        let synopsis =
            &man[man.find(".SH SYNOPSIS").unwrap()..man.find(".SH DESCRIPTION").unwrap()];
        let mut missing = Vec::new();
        let cli = super::Cli::command();
        for sub in cli.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = sub.get_name();
            let Some(block) = synopsis
                .split(".br")
                // `keys` is written by hand; the others come from clap_mangen.
                .find(|b| {
                    b.lines().any(|l| l == format!(".B {name}"))
                        || b.contains(&format!(" {name}\\fR"))
                })
            else {
                missing.push(name.to_string());
                continue;
            };
            for long in sub.get_arguments().filter_map(|a| a.get_long()) {
                if !block.contains(&format!("--{long}")) {
                    missing.push(format!("{name} --{long}"));
                }
            }
        }
        assert!(missing.is_empty(), "keyward.8's synopsis lacks {missing:?}");
    }
}
