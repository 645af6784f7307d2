//! `keyward check USER`, the doctor: what sshd will do with this user's keys
//! and why, asked of the installed sshd and tried the way sshd tries it.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use base64::Engine;
use serde::Serialize;
use uzers::os::unix::UserExt;

use super::{Out, Outcome};
use crate::admin::report::{Level, Report};
use crate::config::Config;
use crate::openssh::sshd::{self, Settings};
use crate::openssh::strict_modes::{self, Account, Finding};
use crate::store::inventory::{self, Now, Record};
use crate::store::{self, UserName};

pub struct Request<'a> {
    /// The `--config` given to this command, to compare with sshd's.
    pub config: Option<&'a Path>,
    pub user: &'a OsStr,
    pub sshd: &'a Path,
    pub sshd_config: Option<&'a Path>,
}

#[derive(Serialize)]
struct CheckReport<'a> {
    user: String,
    #[serde(flatten)]
    report: &'a Report,
}

/// The line `keyward setup` writes, for fixes.
const LINE: &str = "AuthorizedKeysCommand /usr/bin/keyward keys %u %k %h %U";

pub fn run(config: &Config, req: &Request, out: &mut Out) -> Outcome {
    let user = super::user_name(req.user)?;
    let mut r = Report::default();
    let pw = uzers::get_user_by_name(user.as_os_str());
    let account = match &pw {
        Some(pw) => Some(Account {
            name: pw.name().to_os_string(),
            uid: pw.uid(),
            home: pw.home_dir().to_path_buf(),
        }),
        None => {
            r.error(
                format!("no user {} in the user database: sshd refuses the login before any key is tried", user.display()),
                Some(format!("create the account, or check the spelling (getent passwd {})", user.display())),
            );
            None
        }
    };

    let settings = match sshd::effective(req.sshd, req.sshd_config, user.as_os_str()) {
        Ok(s) => Some(s),
        Err(e) => {
            r.error(
                format!("cannot ask sshd for its settings: {e}"),
                Some("run keyward check as root on the machine that runs sshd (sshd -T needs the host keys)".into()),
            );
            None
        }
    };
    // In the order the lines refer to each other: sshd's settings, the
    // store, then the command tried with a key from that store.
    let mut store_report = Report::default();
    let keys = store_keys(config, &user, account.is_some(), &mut store_report);
    // Keys for the user from chained commands.
    let mut chained = false;
    if let Some(s) = &settings {
        release(config, req.sshd, &mut r);
        sshd_settings(s, &user, &mut r);
        // cert-authority lines: the user logs in with certificates.
        let certificates = keys
            .as_deref()
            .is_some_and(|k| k.iter().any(|k| k.cert_authority));
        let argv = command(s, config, req.config, certificates, &mut r);
        let run_as = argv.as_ref().and_then(|_| command_user(s, &user, &mut r));
        r.findings.append(&mut store_report.findings);
        if let (Some(argv), Some(run_as), Some(account)) = (argv, run_as.as_ref(), &account) {
            try_command(
                &argv,
                &config.sshd(),
                run_as,
                account,
                keys.as_deref(),
                &mut r,
            );
        }
        if let (Some(run_as), Some(account)) = (run_as.as_ref(), &account) {
            chained = chains(config, run_as, account, keys.as_deref(), &mut r);
        }
    } else {
        r.findings.append(&mut store_report.findings);
    }
    match crate::log::probe(&config.syslog.socket) {
        Ok(()) => r.info(format!(
            "syslog: keyward logs to {}; read it with {}",
            crate::log::path(&config.syslog.socket),
            crate::log::where_to_look()
        )),
        Err(why) => r.warning(
            format!(
                "syslog: {why}: keyward's warnings and errors reach nobody (they go to stderr, \
                 which sshd discards)"
            ),
            Some(crate::log::probe_fix().into()),
        ),
    }
    if let Some(account) = &account {
        let files = match &settings {
            Some(s) => s.authorized_keys_files.clone(),
            None => config.home_check.files.clone(),
        };
        let strict = settings.as_ref().is_none_or(|s| s.strict_modes);
        let accepted = own_files(account, &files, strict, config, &mut r);
        // As root, read those files as import does and judge their lines as
        // the recorded sshd reads them: a file sshd opens but whose every
        // line it skips lets no one in.
        let read = match pw.as_ref().filter(|_| nix::unistd::geteuid().is_root()) {
            Some(pw) => Some(super::import::own_files(
                pw,
                &files,
                config.group_exception(),
            )?),
            None => None,
        };
        let own_ok = match &read {
            None => !accepted.is_empty(),
            Some(read) => read
                .iter()
                .filter(|(path, _)| accepted.contains(path))
                .any(|(path, own)| own_usable(path, own, &mut r)),
        };
        let usable = keys
            .as_deref()
            .is_some_and(|k| k.iter().any(Record::usable));
        // A store that fails the lookup closed stops the chained commands too.
        let chained = chained && keys.is_some();
        if !usable && !chained && !own_ok {
            let keyward = if keys.is_none() {
                "keyward serves nothing (the store, above)"
            } else {
                "keyward's store has no usable key for the user"
            };
            r.error(
                format!(
                    "no key login works for {}: {keyward}, and sshd reads none of the user's own files",
                    user.display()
                ),
                Some(format!(
                    "keyward add {0} KEYFILE (or keyward import {0})",
                    user.display()
                )),
            );
        }
        for (path, own) in read.iter().flatten() {
            super::import::report_own(&account.name, path, own, &mut r);
        }
    }

    let report = CheckReport {
        user: user.display(),
        report: &r,
    };
    out.emit(&report, |w| r.print_text(w))?;
    // Warnings (an unsafe home keyward serves around, a quiet syslog) do not
    // stop the login; only an error says it will fail.
    Ok(if r.worst() >= Level::Error {
        crate::exit::Exit::Attention
    } else {
        crate::exit::Exit::Ok
    })
}

/// Which OpenSSH release keyward judges for, and whether it is the one
/// installed.
fn release(config: &Config, sshd_path: &Path, r: &mut Report) {
    let judged = config.sshd();
    let fix = || Some("keyward setup (records the installed sshd)".to_string());
    match (sshd::identify(sshd_path), config.sshd_recorded()) {
        (Ok(found), true) if found == judged => r.ok(format!(
            "sshd: {} (recorded by keyward setup); lines, homes and the command are judged as it reads them",
            found.describe()
        )),
        (Ok(found), false) if found == judged => r.info(format!(
            "sshd: {} is {}, keyward's default (nothing recorded; `keyward setup` records it)",
            sshd_path.display(),
            found.describe()
        )),
        (Ok(found), recorded) => r.warning(
            format!(
                "sshd: {} is {}, but keyward judges as {}{}: what keyward says about lines and homes may be wrong",
                sshd_path.display(),
                found.describe(),
                judged.describe(),
                if recorded { " (recorded by keyward setup)" } else { " (nothing recorded; the default)" }
            ),
            fix(),
        ),
        (Err(e), _) => r.warning(
            format!("sshd: cannot tell its release ({e}); judging as {}", judged.describe()),
            None,
        ),
    }
}

fn sshd_settings(s: &Settings, user: &UserName, r: &mut Report) {
    if s.pubkey_authentication {
        r.ok("sshd: PubkeyAuthentication yes");
    } else {
        r.error(
            format!("sshd: PubkeyAuthentication no for {}: no key is ever accepted", user.display()),
            Some("set PubkeyAuthentication yes in sshd_config (and in any Match block for this user), then reload sshd".into()),
        );
    }
    let files = if s.authorized_keys_files.is_empty() {
        "none".to_string()
    } else {
        s.authorized_keys_files.join(" ")
    };
    r.info(format!(
        "sshd: StrictModes {}, AuthorizedKeysFile {files}",
        if s.strict_modes { "yes" } else { "no" }
    ));
}

/// Judges the AuthorizedKeysCommand line; returns its argv when sshd would
/// run it and it is keyward.
fn command(
    s: &Settings,
    config: &Config,
    config_path: Option<&Path>,
    certificates: bool,
    r: &mut Report,
) -> Option<Vec<String>> {
    let Some(line) = &s.command else {
        r.error(
            "sshd: no AuthorizedKeysCommand: sshd never asks keyward, the store is unused",
            Some("keyward setup (keyward setup --dry-run shows the change first)".into()),
        );
        return None;
    };
    let argv = match sshd::argv_split(line) {
        Ok(a) => a,
        Err(e) => {
            r.error(
                format!("sshd: AuthorizedKeysCommand \"{line}\" {e}: sshd skips it"),
                Some("fix the quotes on that line".into()),
            );
            return None;
        }
    };
    if !argv[0].starts_with('/') {
        r.error(
            format!(
                "sshd: AuthorizedKeysCommand {} is not an absolute path: sshd refuses to start",
                argv[0]
            ),
            Some("give the full path, /usr/bin/keyward".into()),
        );
        return None;
    }
    let Some((command_config, args)) = sshd::keyward_args(&argv) else {
        r.error(
            format!("sshd: AuthorizedKeysCommand is \"{line}\", not keyward: sshd has one such slot and the first value wins"),
            Some("remove the other command, or keep it and leave keyward out".into()),
        );
        return None;
    };
    let this_config = config_path.unwrap_or(Path::new(crate::config::DEFAULT_PATH));
    let theirs = command_config.map_or(Path::new(crate::config::DEFAULT_PATH), Path::new);
    if theirs != this_config {
        r.warning(
            format!(
                "sshd's command reads the config {}, this check read {}: the store findings may not be sshd's",
                theirs.display(),
                this_config.display()
            ),
            Some(format!("keyward --config {} check USER", theirs.display())),
        );
    }
    let mut good = true;
    for a in &argv[1..] {
        for t in sshd::unknown_tokens(a, crate::openssh::installed()) {
            good = false;
            r.error(
                format!(
                    "sshd: AuthorizedKeysCommand uses {t}, which {} does not expand: it drops the whole connection",
                    crate::openssh::installed().describe()
                ),
                Some(format!("use only the tokens of {LINE}")),
            );
        }
    }
    if let Some(hash) = args.iter().find(|a| a.starts_with('#')) {
        good = false;
        r.error(
            format!("sshd: the AuthorizedKeysCommand line ends in \"{hash} ...\": sshd passes a trailing comment as arguments and keyward refuses them"),
            Some("move the comment to a line of its own".into()),
        );
    } else if ![1, 2, 4, 6].contains(&args.len()) {
        good = false;
        r.error(
            format!("sshd: AuthorizedKeysCommand passes {} argument(s) after `keys`; keyward takes USER [KEY|FINGERPRINT [HOME UID [CONNECTION RDOMAIN]]] and exits 64", args.len()),
            Some(LINE.into()),
        );
    } else {
        if args[0] != "%u" {
            r.warning(
                format!("sshd: keyward is asked for \"{}\" instead of %u: every login looks up that name", args[0]),
                Some("pass %u as the first argument".into()),
            );
        }
        match args.get(1).map(String::as_str) {
            Some("%k") if certificates => r.info(
                "sshd: %k: a certificate over about 96 KiB cannot be passed as one argument (Linux's \
                 128 KiB limit): sshd logs \"AuthorizedKeysCommand execve\" with the whole command \
                 line, the reason cut off, and refuses it; if yours are that large, register %f \
                 instead (keyward setup --fingerprint)",
            ),
            Some("%k") => {}
            Some("%f") => r.info("sshd: %f: keyward hashes every key to find the offered one; %k (the key itself) is faster, and gives a certificate only its CA's line (keyward setup registers %k)"),
            None => r.info("sshd: no %k: keyward prints all of the user's keys and sshd picks; %k is faster for users with many keys"),
            Some(other) => {
                good = false;
                r.error(
                    format!("sshd: the second argument is \"{other}\", not %k or %f: keyward refuses anything but the offered key or its fingerprint there"),
                    Some(LINE.into()),
                );
            }
        }
        match args.get(2..) {
            Some([h, u]) if h == "%h" && u == "%U" => {}
            Some([h, u, c, d]) if h == "%h" && u == "%U" && c == "%C" && d == "%D" => {}
            Some([_, _, ..]) => {
                good = false;
                r.error(
                    format!(
                        "sshd: the arguments after the key are \"{}\", not %h %U (and %C %D for a chained command that uses them)",
                        args[2..].join(" ")
                    ),
                    Some(LINE.into()),
                );
            }
            _ => r.info("sshd: no %h %U: keyward asks the user database for the home on every lookup; with them it uses sshd's"),
        }
    }
    match strict_modes::program_check(Path::new(&argv[0]), config.group_exception()) {
        Ok(offenders) if offenders.is_empty() => {}
        Ok(offenders) => {
            let first = &offenders[0];
            let fix: Vec<String> = offenders
                .iter()
                .flat_map(|o| o.fixes("root".as_ref()))
                .collect();
            r.error(
                format!(
                    "sshd refuses to run {} (Unsafe AuthorizedKeysCommand: bad ownership or modes for {} {}): {}",
                    argv[0],
                    if first.is_dir { "directory" } else { "file" },
                    crate::log::path(&first.path),
                    offenders.iter().map(|o| o.describe()).collect::<Vec<_>>().join("; ")
                ),
                Some(fix.join(" && ")),
            );
            good = false;
        }
        Err(e) => {
            r.error(
                format!("sshd cannot run {}: {e}", argv[0]),
                Some("install keyward at that path, root-owned, mode 0755".into()),
            );
            good = false;
        }
    }
    if good {
        r.ok(format!("sshd: AuthorizedKeysCommand {line}"));
    }
    good.then_some(argv)
}

/// The user sshd runs the command as, if it exists.
fn command_user(s: &Settings, user: &UserName, r: &mut Report) -> Option<uzers::User> {
    let Some(raw) = &s.command_user else {
        r.error(
            "sshd: no AuthorizedKeysCommandUser: sshd skips the command (\"No user for AuthorizedKeysCommand specified\")",
            Some("keyward setup registers both lines, with the command user keyward".into()),
        );
        return None;
    };
    let raw_name = sshd::expand(raw, &[('u', user.as_os_str())]);
    let name = crate::log::escape(raw_name.as_bytes());
    let Some(pw) = uzers::get_user_by_name(&raw_name) else {
        r.error(
            format!(
                "sshd: AuthorizedKeysCommandUser {name} does not exist: sshd skips the command"
            ),
            Some(
                "set AuthorizedKeysCommandUser to an existing unprivileged account; `keyward setup` \
                 creates and registers its own, keyward"
                    .into(),
            ),
        );
        return None;
    };
    if pw.uid() == 0 {
        r.warning(
            format!("sshd: AuthorizedKeysCommandUser {name} is root; keyward needs no privilege to serve keys"),
            Some("AuthorizedKeysCommandUser keyward (keyward setup creates it)".into()),
        );
    } else {
        r.ok(format!(
            "sshd: AuthorizedKeysCommandUser {name} (uid {})",
            pw.uid()
        ));
    }
    Some(pw)
}

/// Runs the command exactly as sshd would (argv expanded, that user, sshd's
/// environment, cwd `/`, stdin /dev/null) with the fingerprint of one of the
/// user's keys, and checks the key comes back.
fn try_command(
    argv: &[String],
    sshd: &crate::openssh::Sshd,
    run_as: &uzers::User,
    account: &Account,
    keys: Option<&[Record]>,
    r: &mut Report,
) {
    if !nix::unistd::geteuid().is_root() {
        r.info("not root: the command was not tried as its user");
        return;
    }
    let Some(probe) = keys.and_then(|k| k.iter().find(|k| k.usable())) else {
        r.info("the command was not tried: the store has no usable key to offer it");
        return;
    };
    let (fp, kind, blob) = (
        probe.fingerprint.clone(),
        probe.kind.clone(),
        base64::engine::general_purpose::STANDARD.encode(&probe.blob),
    );
    let uid = account.uid.to_string();
    let values = [
        ('u', account.name.as_os_str()),
        ('U', uid.as_ref()),
        ('h', account.home.as_os_str()),
        ('f', fp.as_ref()),
        ('t', kind.as_ref()),
        ('k', blob.as_ref()),
    ];
    let run_name = run_as.name().to_string_lossy().into_owned();
    let (args, result) = run_like_sshd(argv, &values, run_as, sshd);
    let shown = format!(
        "{} {}",
        argv[0],
        crate::log::escape(args.join(OsStr::new(" ")).as_bytes())
    );
    let output = match result {
        Ok(o) => o,
        Err(e) => {
            r.error(
                format!("running `{shown}` as {run_name} failed: {e}"),
                Some(format!("make {} executable by {run_name}", argv[0])),
            );
            return;
        }
    };
    let code = output.status.code().unwrap_or(-1);
    if code != 0 {
        let why = match code {
            77 => "the store or config is unsafe",
            78 => "the config is broken or the store missing",
            74 => "an I/O error, most often: the command user cannot read the store",
            65 => "it refused the user name or fingerprint",
            64 => "a usage error: the arguments on the AuthorizedKeysCommand line are wrong",
            126 | 127 => "it could not be executed",
            _ => "see its message below",
        };
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said.trim();
        r.error(
            format!(
                "`{shown}` as {run_name} exits {code}: {why}; sshd rejects every key{}",
                if said.is_empty() {
                    String::new()
                } else {
                    format!("; it says: {}", said.replace('\n', " / "))
                }
            ),
            None,
        );
        return;
    }
    let lines = output
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    let k = probe;
    if output
        .stdout
        .split(|&b| b == b'\n')
        .any(|l| inventory::line_has_blob(l, &k.blob))
    {
        r.ok(format!(
            "sshd runs `{shown}` as {run_name}: exit 0, key {} ({}:{}) is served",
            k.fingerprint, k.source, k.line
        ))
    } else {
        r.error(
            format!(
                "sshd runs `{shown}` as {run_name}: exit 0, {lines} line(s), but key {} is not \
                 served; it says: {}",
                k.fingerprint,
                String::from_utf8_lossy(&output.stderr)
                    .trim()
                    .replace('\n', " / ")
            ),
            None,
        )
    }
}

/// The user's keys in the store, with what is wrong with them.
fn store_keys(
    config: &Config,
    user: &UserName,
    known: bool,
    r: &mut Report,
) -> Option<Vec<Record>> {
    let sources = match store::read_user(&config.store, user) {
        Ok(s) => s,
        Err(e) => {
            // Whether the login fails is said below, with the user's own
            // files weighed: keyward fails closed, sshd still reads those.
            let failure = super::Failure::from(e);
            r.warning(
                format!("store: keyward serves nothing (and no chained command's keys): {failure}"),
                None,
            );
            return None;
        }
    };
    let keys = inventory::scan(&sources, &Now::system());
    let u = user.display();
    let usable = keys.records.iter().filter(|k| !k.expired).count();
    for k in keys.records.iter().filter(|k| k.expired) {
        r.warning(
            format!(
                "store: {}:{}: key {} is past its expiry-time; sshd refuses it",
                k.source, k.line, k.fingerprint
            ),
            Some(format!("keyward remove {u} {}", k.fingerprint)),
        );
    }
    report_invalid(r, &keys.invalid, "store: ", "line skipped", true);
    if usable == 0 && known {
        r.warning(
            format!("store: no usable key for {u}: keyward serves nothing, sshd can only use the user's own files"),
            Some(format!("keyward import {u}, or keyward add {u} KEYFILE")),
        );
    } else if usable > 0 {
        r.ok(format!(
            "store: {usable} key(s) for {u} in {} file(s)",
            sources.len()
        ));
    }
    Some(keys.records)
}

/// Each `[[chain]]` command, run as sshd would run keyward (as the
/// command user) for this user, and what it returned.
fn chains(
    config: &Config,
    run_as: &uzers::User,
    account: &Account,
    keys: Option<&[Record]>,
    r: &mut Report,
) -> bool {
    let mut any = false;
    let sshd = config.sshd();
    let key = keys.and_then(|k| k.iter().find(|k| !k.cert_authority));
    let b64 = base64::engine::general_purpose::STANDARD;
    let values = crate::lookup::chain::Values {
        user: account.name.clone(),
        uid: Some(account.uid.to_string().into()),
        home: Some(account.home.clone().into_os_string()),
        key: key.map(|k| b64.encode(&k.blob).into()),
        key_type: key.map(|k| k.kind.clone().into()),
        fingerprint: key.map(|k| k.fingerprint.clone().into()),
        // A login from this machine, as the settings above are asked for.
        connection: Some("127.0.0.1 0 127.0.0.1 22".into()),
        rdomain: Some("".into()),
    };
    let as_root = nix::unistd::geteuid().is_root();
    let who = as_root.then(|| run_as_of(run_as));
    for c in &config.chain {
        let shown = crate::log::escape(c.command.as_bytes());
        let argv = match crate::lookup::chain::argv(c, &values, &sshd) {
            Ok(a) => a,
            Err(f) => {
                r.warning(
                    format!("chain: {shown} {f}: none of its keys are served"),
                    None,
                );
                continue;
            }
        };
        let ran =
            crate::lookup::chain::run(&argv, c, &sshd, config.group_exception(), who.as_ref());
        for line in &ran.stderr {
            r.info(format!("chain: {shown} said: {}", crate::log::escape(line)));
        }
        if ran.stderr_dropped > 0 {
            r.info(format!(
                "chain: {shown} said {} more line(s) on stderr",
                ran.stderr_dropped
            ));
        }
        if let Err(f) = &ran.result {
            r.warning(
                format!(
                    "chain: {shown} {f} (as {}, in {} ms): none of its keys are served; keyward's own are",
                    run_as.name().to_string_lossy(),
                    ran.took.as_millis()
                ),
                None,
            );
            continue;
        }
        let mut found = inventory::Keys::default();
        inventory::scan_one(
            Path::new(&c.command),
            &ran.stdout,
            &Now::system(),
            &mut found,
        );
        report_invalid(r, &found.invalid, "chain: ", "line dropped", false);
        any |= found.records.iter().any(Record::usable);
        let fps: Vec<&str> = found
            .records
            .iter()
            .map(|k| k.fingerprint.as_str())
            .collect();
        r.ok(format!(
            "chain: {shown} (as {}, {} ms): {} key line(s) for {}{}",
            run_as.name().to_string_lossy(),
            ran.took.as_millis(),
            fps.len(),
            crate::log::escape(account.name.as_bytes()),
            if fps.is_empty() {
                String::new()
            } else {
                format!(": {}", fps.join(", "))
            }
        ));
    }
    any
}

/// Runs one of sshd's helper commands (keys or principals) as sshd's
/// `subprocess()` would: its `%` tokens expanded with `values`, as
/// `run_as`, with sshd's environment. keyward's own messages go to stderr,
/// here, instead of to syslog as if sshd had asked. Returns the expanded
/// arguments too.
pub(super) fn run_like_sshd(
    argv: &[String],
    values: &[(char, &OsStr)],
    run_as: &uzers::User,
    sshd: &crate::openssh::Sshd,
) -> (Vec<OsString>, std::io::Result<std::process::Output>) {
    let args: Vec<OsString> = argv[1..].iter().map(|a| sshd::expand(a, values)).collect();
    let result = crate::lookup::chain::sshd_command(
        OsStr::new(&argv[0]),
        &args,
        Some(&run_as_of(run_as)),
        sshd,
    )
    .env(crate::lookup::keys::CHECK_ENV, "1")
    .output();
    (args, result)
}

/// The AuthorizedKeysCommandUser as sshd runs a command as it.
fn run_as_of(pw: &uzers::User) -> crate::lookup::chain::RunAs {
    crate::lookup::chain::RunAs {
        name: pw.name().to_os_string(),
        uid: pw.uid(),
        gid: pw.primary_group_id(),
        home: pw.home_dir().to_path_buf(),
    }
}

/// One warning per line sshd would not use: `<what>FILE:LINE: <verb>: reason`,
/// with the fix when the line is the admin's to correct.
fn report_invalid(
    r: &mut Report,
    invalid: &[inventory::Invalid],
    what: &str,
    verb: &str,
    fix: bool,
) {
    for bad in invalid {
        r.warning(
            format!("{what}{}:{}: {verb}: {}", bad.source, bad.line, bad.reason),
            fix.then(|| format!("correct or delete line {} of {}", bad.line, bad.source)),
        );
    }
}

/// Whether one of the user's own files, which sshd opens, holds a key sshd
/// can use; says which lines sshd skips, with its reason.
fn own_usable(path: &Path, own: &super::import::Own, r: &mut Report) -> bool {
    let super::import::Own::Read(f) = own else {
        return false;
    };
    let now = Now::system();
    let mut keys = inventory::Keys::default();
    inventory::scan_one(path, &f.data, &now, &mut keys);
    report_invalid(r, &keys.invalid, "", "sshd skips this line", true);
    keys.records.iter().any(Record::usable)
}

/// StrictModes' verdict on each of the user's own key files.
/// Returns the files sshd will open.
fn own_files(
    account: &Account,
    files: &[String],
    strict: bool,
    config: &Config,
    r: &mut Report,
) -> Vec<std::path::PathBuf> {
    let (group_exception, platform) = (config.group_exception(), config.home_check.platform);
    if !strict {
        r.info("StrictModes no: sshd reads the user's own files whatever their modes");
        return files
            .iter()
            .map(|p| strict_modes::expand(p, account))
            .filter(|p| p.is_file())
            .collect();
    }
    let findings = strict_modes::check(account, files, group_exception);
    let accepted = config.accepted(&account.name, &account.home);
    for f in &findings {
        let (mut what, fix) = f.parts(&account.name);
        let fix = fix.map(|x| platform.fix(x));
        let level = match f {
            Finding::CannotLook { .. } => Level::Info,
            _ if accepted => {
                what.push_str(" (accepted in keyward.toml: logged at info)");
                Level::Info
            }
            _ => Level::Warning,
        };
        r.push(level, what, fix);
    }
    let mut readable = Vec::new();
    for pattern in files {
        let path = strict_modes::expand(pattern, account);
        let named = findings.iter().any(|f| matches!(f, Finding::Refused { file, .. } | Finding::NotRegular { file } if *file == path));
        if named {
            continue;
        }
        if std::fs::metadata(&path).is_ok() {
            readable.push(path.clone());
            r.ok(format!(
                "{}: sshd accepts its modes (StrictModes)",
                crate::log::path(&path)
            ));
        } else {
            r.info(format!("{}: absent", crate::log::path(&path)));
        }
    }
    readable
}
