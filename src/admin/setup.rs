//! `keyward setup [--undo]`: register keyward with sshd, safely.
//!
//! sshd has one AuthorizedKeysCommand slot and takes the first value, so
//! setup reads the effective configuration from sshd itself, refuses to take
//! the slot from another helper unless told to, writes a drop-in where sshd
//! reads drop-ins and otherwise a marked block before every directive of the
//! main file (with a dated backup), and then proves the result with `sshd -t`
//! and `sshd -T` before reloading sshd. On any failure the previous files
//! are put back.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Failure, Out, Outcome};
use crate::config::{ChainConfig, Config, Record};
use crate::exit::Exit;
use crate::openssh::sshd::{self, Settings};
use crate::openssh::sshd_config as text;
use crate::openssh::strict_modes;
use crate::openssh::{self, Sshd};

pub const DEFAULT_SSHD_CONFIG: &str = "/etc/ssh/sshd_config";

pub struct Request<'a> {
    pub undo: bool,
    pub dry_run: bool,
    pub replace: bool,
    /// Adopt the AuthorizedKeysCommand that holds the slot as a `[[chain]]`.
    pub chain: bool,
    pub reload: bool,
    /// Register `%f` instead of `%k`.
    pub fingerprint: bool,
    pub binary: Option<&'a Path>,
    pub command_user: Option<&'a str>,
    /// keyward's own `--config`, passed on in the command line sshd runs.
    pub config_path: Option<&'a Path>,
    pub sshd: &'a Path,
    pub sshd_config: Option<&'a Path>,
}

/// One file as it was before setup touched it, to put back on failure.
struct Saved {
    path: PathBuf,
    before: Option<Vec<u8>>,
}

impl Saved {
    fn take(path: &Path) -> Result<Saved, Failure> {
        let before = match fs::read(path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_failure(path, e)),
        };
        Ok(Saved {
            path: path.to_path_buf(),
            before,
        })
    }

    fn restore(&self) -> Result<(), Failure> {
        match &self.before {
            Some(b) => write_file(&self.path, b),
            None => match fs::remove_file(&self.path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io_failure(&self.path, e)),
            },
        }
    }
}

fn io_failure(path: &Path, e: std::io::Error) -> Failure {
    Failure::new(Exit::IoErr, format!("{}: {e}", path.display()))
}

/// What setup records, decided and checked before sshd is touched: the
/// record file's new content, and keyward.toml without the tables setup
/// once wrote there.
struct Recording {
    record_path: PathBuf,
    record: Record,
    /// keyward.toml and its text without setup's old tables, when it had some.
    migrated: Option<(PathBuf, String)>,
    said: Vec<String>,
    /// A chained command asks for sshd's `%C`/`%D`: keyward must get them.
    connection: bool,
}

/// The comments setup used to write above its tables in keyward.toml.
const RECORDED_MARK: &str = "Recorded by `keyward setup`";
const ADOPTED_MARK: &str = "Adopted by `keyward setup --chain`";

impl Recording {
    /// The record with `found` and, with `--chain`, the adopted command
    /// (`adopt`: command and the user it runs as). Checked as the lookup
    /// will read it, together with keyward.toml, before anything is written.
    fn plan(
        config_path: Option<&Path>,
        found: Sshd,
        adopt: Option<(&str, &str)>,
    ) -> Result<Recording, Failure> {
        let own = Config::load_own(config_path)?;
        let mut record = Record::load(&own.record)?;
        let mut said = Vec::new();
        let migrated = migrate(config_path, found, &mut record, &mut said)?;
        let own = match &migrated {
            Some((path, text)) => Config::parse(text.as_bytes(), path)?,
            None => own,
        };
        record.sshd = crate::config::SshdConfig {
            version: Some(found.version.to_string()),
            debian: Some(found.debian),
        };
        said.push(format!(
            "recorded {} in {}: keyward judges lines, homes and the command as this release does",
            found.describe(),
            own.record.display()
        ));
        if let Some(v) = &own.sshd.version
            && openssh::Version::parse(v) != Some(found.version)
        {
            said.push(format!(
                "warning: keyward.toml sets [sshd] version = {v:?}, which wins over what setup found \
                 ({}); remove it there to follow the installed sshd",
                found.describe()
            ));
        }
        if let Some((command, user)) = adopt {
            if !record
                .chain
                .iter()
                .chain(&own.chain)
                .any(|c| c.command == command)
            {
                record.chain.push(ChainConfig {
                    command: command.to_string(),
                    timeout: crate::config::DEFAULT_CHAIN_TIMEOUT,
                    max_output: crate::config::DEFAULT_CHAIN_OUTPUT,
                });
            }
            said.push(format!(
                "chained: sshd's previous AuthorizedKeysCommand {command} now runs after keyward's store, as \
                 {user} (keyward runs as {user} too, with no more privilege than that command had); \
                 `keyward setup --undo` gives the slot back to it"
            ));
        }
        // The record as the lookup will read it: under keyward.toml, then
        // alone, as the file it will be.
        let merged = own.clone().with_record(record.clone());
        for c in &merged.chain {
            c.validate(&merged.sshd()).map_err(|why| {
                Failure::new(
                    Exit::Config,
                    format!(
                        "keyward cannot run the command {:?} for {}: {why}. Nothing changed",
                        c.command,
                        merged.sshd().describe()
                    ),
                )
            })?;
        }
        Record::parse(record.to_toml().as_bytes(), &own.record)?;
        Ok(Recording {
            record_path: own.record.clone(),
            record,
            migrated,
            said,
            connection: merged.chain.iter().any(ChainConfig::uses_connection),
        })
    }

    /// Writes the record (and keyward.toml, when tables moved out of it);
    /// what was there before, to put back if a later step fails.
    fn write(&self) -> Result<Vec<Saved>, Failure> {
        let mut saved = vec![Saved::take(&self.record_path)?];
        if let Some(dir) = self.record_path.parent()
            && !dir.is_dir()
        {
            // 0755 whatever the umask: the lookup trusts nothing under a
            // directory others may write, and would fail closed.
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir)
                .map_err(|e| io_failure(dir, e))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
                .map_err(|e| io_failure(dir, e))?;
        }
        write_file(&self.record_path, self.record.to_toml().as_bytes())?;
        if let Some((path, text)) = &self.migrated {
            saved.push(Saved::take(path)?);
            write_file(path, text.as_bytes())?;
        }
        Ok(saved)
    }

    fn said(&self) -> String {
        self.said.join("\n")
    }
}

/// keyward.toml without the `[sshd]` and `[[chain]]` tables an earlier
/// setup wrote into it (found by the comments it wrote above them, or, for
/// `[sshd]`, by holding exactly what setup finds now); their values go into
/// `record`. `None` when there is nothing to move. Every other byte of the
/// admin's file stays.
fn migrate(
    config_path: Option<&Path>,
    found: Sshd,
    record: &mut Record,
    said: &mut Vec<String>,
) -> Result<Option<(PathBuf, String)>, Failure> {
    let path = config_path.unwrap_or(Path::new(crate::config::DEFAULT_PATH));
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_failure(path, e)),
    };
    let own = Config::parse(text.as_bytes(), path)?;
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        Failure::new(Exit::Config, format!("{}: {}", path.display(), e.message()))
    })?;
    let marked = |t: &toml_edit::Table, mark: &str| {
        t.iter().any(|(k, _)| {
            t.key(k)
                .and_then(|k| k.leaf_decor().prefix())
                .and_then(|p| p.as_str())
                .is_some_and(|p| p.contains(mark))
        })
    };
    let mut moved = Vec::new();
    let current = crate::config::SshdConfig {
        version: Some(found.version.to_string()),
        debian: Some(found.debian),
    };
    if let Some(t) = doc.get("sshd").and_then(|i| i.as_table())
        && (marked(t, RECORDED_MARK) || own.sshd == current)
    {
        doc.remove("sshd");
        moved.push("[sshd]".to_string());
    }
    if let Some(tables) = doc
        .get_mut("chain")
        .and_then(|i| i.as_array_of_tables_mut())
    {
        let before = tables.len();
        let mut adopted = Vec::new();
        tables.retain(|t| {
            let ours = marked(t, ADOPTED_MARK);
            if ours && let Some(c) = t.get("command").and_then(|c| c.as_str()) {
                adopted.push(c.to_string());
            }
            !ours
        });
        if tables.len() < before {
            moved.push(format!("{} [[chain]]", before - tables.len()));
        }
        if tables.is_empty() {
            doc.remove("chain");
        }
        for c in own.chain.iter().filter(|c| adopted.contains(&c.command)) {
            if !record.chain.iter().any(|r| r.command == c.command) {
                record.chain.push(c.clone());
            }
        }
    }
    if moved.is_empty() {
        return Ok(None);
    }
    let new = doc.to_string();
    Config::parse(new.as_bytes(), path)?;
    said.push(format!(
        "moved {} that an earlier setup wrote out of {} into its own record (keyward.toml is yours; \
         setup no longer writes it)",
        moved.join(" and "),
        path.display()
    ));
    Ok(Some((path.to_path_buf(), new)))
}

/// Replaces `path` whole (temp file, fsync, rename), keeping the old file's
/// owner and mode, or root 0644 for a new file.
fn write_file(path: &Path, data: &[u8]) -> Result<(), Failure> {
    let (uid, gid, mode) = match fs::metadata(path) {
        Ok(m) => (m.uid(), m.gid(), m.mode() & 0o7777),
        Err(_) => (0, 0, 0o644),
    };
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.keyward-tmp"));
    let err = |e| io_failure(&tmp, e);
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&tmp)
        .map_err(err)?;
    f.write_all(data).map_err(err)?;
    std::os::unix::fs::fchown(&f, Some(uid), Some(gid)).map_err(err)?;
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| io_failure(path, e))?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The change setup would make: a drop-in file, or a new main file.
enum Plan {
    DropIn { path: PathBuf, content: String },
    MainFile { content: String },
}

pub fn run(config: &Config, req: &Request, out: &mut Out) -> Outcome {
    if !nix::unistd::geteuid().is_root() {
        return Err(Failure::new(
            Exit::NoPerm,
            "setup changes sshd's configuration: run it as root",
        ));
    }
    let given = req.sshd_config.unwrap_or(Path::new(DEFAULT_SSHD_CONFIG));
    // A link (configuration management often makes one): setup edits the
    // file it names and leaves the link, so that both keep working; a
    // replace by rename would put a regular file where the link was.
    let main = &linked_file(given)?;
    let main_text = fs::read_to_string(main).map_err(|e| io_failure(main, e))?;
    let cfg_arg = req.sshd_config;
    let before = sshd::global(req.sshd, cfg_arg).map_err(|e| {
        Failure::new(
            Exit::Config,
            format!("sshd does not accept its configuration as it is; fix that first: {e}"),
        )
    })?;
    let drop_dir = text::drop_in_dir(&main_text);
    if let Some(dir) = &drop_dir {
        own_drop_in_dir(main, dir)?;
    }
    let drop_path = drop_dir.as_ref().map(|d| d.join(text::DROP_IN));
    if req.undo {
        return undo(req, main, &main_text, drop_path.as_deref(), out);
    }

    // Which sshd this is decides how every line, home and command is
    // judged from now on; setup records it (`Recording`).
    let found = sshd::identify(req.sshd).map_err(|e| {
        Failure::new(
            Exit::Config,
            format!("cannot tell which OpenSSH release sshd is: {e}"),
        )
    })?;
    if found.version < openssh::OLDEST_MODELLED {
        return Err(Failure::new(
            Exit::Config,
            format!(
                "{} is {}; keyward models OpenSSH {} and later (older releases parse key options \
                 with code keyward does not mirror), so it cannot say what this sshd will do. Nothing changed",
                req.sshd.display(),
                found.describe(),
                openssh::OLDEST_MODELLED
            ),
        ));
    }
    let config = &config.with_sshd(found);
    let binary = binary(req.binary)?;
    // Another program in the slot: --chain adopts it, --replace evicts it,
    // neither refuses. Ours: written by setup, or a command line whose
    // program is this keyward (same path or same file). Its arguments prove
    // nothing: a foreign helper may well take `keys %u` too.
    let foreign = before.command.as_ref().filter(|other| {
        !(ours(&main_text, drop_path.as_deref()).is_some_and(|o| o.contains(other.as_str()))
            || sshd::argv_split(other).is_ok_and(|argv| runs_keyward(&argv[0], &binary)))
    });
    if let Some(other) = foreign
        && !req.replace
        && !req.chain
    {
        return Err(Failure::new(
            Exit::Config,
            format!(
                "sshd already runs AuthorizedKeysCommand {other} (as {}); sshd has one such slot and \
                 taking it would lock out whoever relies on that helper. Nothing changed. Run \
                 `keyward setup --chain` to serve its keys after keyward's own, `keyward setup \
                 --replace` to put keyward in its place, or remove it yourself",
                before.command_user.as_deref().unwrap_or("no user")
            ),
        ));
    }
    let adopt = foreign.filter(|_| req.chain);
    let (user, create_user) = match (adopt, &before.command_user, req.command_user) {
        // The chained command ran as that user and may need to: keyward
        // runs as it too, with exactly the privileges the command had.
        (Some(other), Some(prev), None) => {
            if uzers::get_user_by_name(prev.as_str()).is_some_and(|pw| pw.uid() == 0) {
                return Err(Failure::new(
                    Exit::DataErr,
                    format!(
                        "{other} runs as {prev}, which is root; keyward will not run as root before \
                         authentication: pass --command-user with the unprivileged user that command \
                         can work as. Nothing changed"
                    ),
                ));
            }
            (prev.clone(), false)
        }
        _ => command_user(req.command_user, config)?,
    };
    // Everything setup will record, checked before sshd is touched: a
    // record keyward cannot read must never follow a change to sshd.
    let recording = Recording::plan(
        req.config_path,
        found,
        adopt.map(|other| (other.as_str(), user.as_str())),
    )?;
    let command = command_line(
        &binary,
        req.config_path,
        req.fingerprint,
        recording.connection,
    )?;
    if registered(&before, &command, &user) {
        if !req.dry_run {
            recording.write()?;
        }
        let msg = format!(
            "keyward is already sshd's AuthorizedKeysCommand ({command}, as {user}); nothing changed in sshd's configuration\n{}",
            recording.said()
        );
        let mut warnings = match_warnings(main, drop_dir.as_deref());
        warnings.extend(syslog_warning(config));
        let state = ensure_state(config, &user);
        out.emit(
            &serde_json::json!({"changed": false, "message": msg, "state": state, "warnings": warnings}),
            |w| {
                writeln!(w, "{msg}")?;
                writeln!(w, "{state}")?;
                warnings
                    .iter()
                    .try_for_each(|x| writeln!(w, "warning: {x}"))
            },
        )?;
        return Ok(Exit::Ok);
    }
    // sshd refuses to run a program under a writable directory; say so now
    // rather than after every key is refused.
    match strict_modes::program_check(&binary, config.group_exception()) {
        Ok(o) if o.is_empty() => {}
        Ok(o) => {
            let fix: Vec<String> = o.iter().flat_map(|x| x.fixes("root".as_ref())).collect();
            return Err(Failure::new(
                Exit::NoPerm,
                format!(
                    "sshd would refuse to run {}: {}; fix: {}",
                    binary.display(),
                    o.iter()
                        .map(|x| x.describe())
                        .collect::<Vec<_>>()
                        .join("; "),
                    fix.join(" && ")
                ),
            ));
        }
        Err(e) => return Err(Failure::new(Exit::NoPerm, e)),
    }

    let plan = match &drop_path {
        Some(path) => Plan::DropIn {
            path: path.clone(),
            content: test_damage(text::drop_in(&command, &user)),
        },
        None => {
            let clean = text::remove_block(&main_text).unwrap_or_else(|| main_text.clone());
            Plan::MainFile {
                content: test_damage(text::insert_block(&clean, &command, &user)),
            }
        }
    };
    if req.dry_run {
        let diff = match &plan {
            Plan::DropIn { path, content } => {
                let old = fs::read_to_string(path).unwrap_or_default();
                let old_name = if old.is_empty() {
                    "/dev/null".into()
                } else {
                    path.display().to_string()
                };
                text::diff(&old_name, &path.display().to_string(), &old, content)
            }
            Plan::MainFile { content } => {
                let name = main.display().to_string();
                text::diff(&name, &name, &main_text, content)
            }
        };
        let creates = create_user.then(|| format!("would create the system user {user}"));
        let records = format!(
            "dry run, nothing recorded; setup would have:\n{}",
            recording.said()
        );
        out.emit(
            &serde_json::json!({"changed": false, "dry_run": true, "diff": diff, "creates": creates, "sshd": records}),
            |w| {
                if let Some(c) = &creates {
                    writeln!(w, "{c}")?;
                }
                writeln!(w, "{records}")?;
                write!(w, "{diff}")
            },
        )?;
        return Ok(Exit::Ok);
    }

    let created = if create_user {
        create_command_user(&user)?;
        Some(format!(
            "created the system user {user} (no home, no shell)"
        ))
    } else if req.command_user.is_none() && user == "nobody" {
        Some(
            "command user nobody: on Synology DSM, which owns /etc/passwd and may rewrite it on \
             update, setup creates no account of its own (--command-user picks another)"
                .to_string(),
        )
    } else {
        None
    };
    let saved_record = recording.write()?;
    let restore_record = || {
        for s in &saved_record {
            let _ = s.restore();
        }
    };
    let (saved, backup) = match &plan {
        Plan::DropIn { path, content } => {
            let saved = Saved::take(path)?;
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).map_err(|e| io_failure(dir, e))?;
            }
            write_file(path, content.as_bytes())?;
            (saved, None)
        }
        Plan::MainFile { content } => {
            let saved = Saved::take(main)?;
            let backup = backup_path(main);
            write_file(&backup, main_text.as_bytes())?;
            write_file(main, content.as_bytes())?;
            (saved, Some(backup))
        }
    };
    let check = sshd::test(req.sshd, cfg_arg)
        .map_err(|e| e.to_string())
        .and_then(|()| sshd::global(req.sshd, cfg_arg).map_err(|e| e.to_string()))
        .and_then(|after| {
            if registered(&after, &command, &user) {
                Ok(())
            } else {
                Err(format!(
                    "after the change sshd still runs AuthorizedKeysCommand {} as {}: another \
                     setting comes first; remove it, then run setup again",
                    after.command.as_deref().unwrap_or("none"),
                    after.command_user.as_deref().unwrap_or("none")
                ))
            }
        });
    if let Err(why) = check {
        restore_record();
        saved.restore()?;
        if let Some(b) = &backup {
            let _ = fs::remove_file(b);
        }
        return Err(Failure::new(
            Exit::Config,
            format!("{why}; the previous configuration is restored, nothing changed"),
        ));
    }
    let reloaded = match reload(req, main) {
        Ok(msg) => msg,
        Err(why) => {
            restore_record();
            saved.restore()?;
            return Err(Failure::new(
                Exit::Config,
                format!("{why}; the previous configuration is restored"),
            ));
        }
    };
    let store = ensure_store(config)?;
    let state = ensure_state(config, &user);
    let recorded = recording.said();
    let written = match &plan {
        Plan::DropIn { path, .. } => path.display().to_string(),
        Plan::MainFile { .. } => main.display().to_string(),
    };
    let mut warnings = match_warnings(main, drop_dir.as_deref());
    warnings.extend(syslog_warning(config));
    let report = serde_json::json!({
        "changed": true,
        "written": written,
        "backup": backup.as_ref().map(|b| b.display().to_string()),
        "command": command,
        "command_user": user,
        "reload": reloaded,
        "store": store,
        "state": state,
        "sshd": recorded,
        "warnings": warnings,
        "created": created,
    });
    out.emit(&report, |w| {
        writeln!(
            w,
            "sshd now runs: AuthorizedKeysCommand {command} (as {user})"
        )?;
        if let Some(c) = &created {
            writeln!(w, "{c}")?;
        }
        for warning in &warnings {
            writeln!(w, "warning: {warning}")?;
        }
        writeln!(w, "written: {written}")?;
        if let Some(b) = &backup {
            writeln!(w, "backup of the previous file: {}", b.display())?;
        }
        writeln!(w, "{reloaded}")?;
        writeln!(w, "{store}")?;
        writeln!(w, "{recorded}")?;
        writeln!(w, "{state}")?;
        writeln!(w, "undo with: keyward setup --undo")
    })?;
    Ok(Exit::Ok)
}

/// Match blocks in the main file and the drop-ins that give some users
/// another AuthorizedKeysCommand: setup registers keyward globally, and
/// those users are not served by it. Said, not changed: the admin put them
/// there.
fn match_warnings(main: &Path, drop_dir: Option<&Path>) -> Vec<String> {
    let mut files = vec![main.to_path_buf()];
    if let Some(entries) = drop_dir.and_then(|d| fs::read_dir(d).ok()) {
        let mut confs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect();
        confs.sort();
        files.extend(confs);
    }
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        for (n, block, line) in text::match_overrides(&text) {
            out.push(format!(
                "{}:{n}: `{line}` inside `{block}`: the connections that block matches do not \
                 run keyward; `keyward check USER` shows what sshd runs for a user",
                file.display()
            ));
        }
    }
    out
}

/// Debug builds only: `KEYWARD_TEST_BREAK_SETUP=1` adds a line sshd cannot
/// parse to what setup writes, so tests can watch the real `sshd -t` fail
/// and the rollback happen.
fn test_damage(content: String) -> String {
    #[cfg(debug_assertions)]
    if std::env::var_os("KEYWARD_TEST_BREAK_SETUP").is_some() {
        return content + "ThisIsNotAnSshdKeyword yes\n";
    }
    content
}

/// Whether sshd's effective settings run exactly this command as this user.
fn registered(s: &Settings, command: &str, user: &str) -> bool {
    s.command.as_deref() == Some(command) && s.command_user.as_deref() == Some(user)
}

/// Whether `program` is the keyward binary at `binary` or this very
/// executable: the same file (device and inode), whatever name it has.
fn runs_keyward(program: &str, binary: &Path) -> bool {
    let id = |p: &Path| fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let Some(theirs) = id(Path::new(program)) else {
        return false;
    };
    id(binary) == Some(theirs) || std::env::current_exe().ok().and_then(|e| id(&e)) == Some(theirs)
}

/// keyward's registration as it stands in the files, if any.
fn ours(main_text: &str, drop_path: Option<&Path>) -> Option<String> {
    if let Some(b) = text::block(main_text) {
        return Some(b.to_string());
    }
    let d = fs::read_to_string(drop_path?).ok()?;
    d.starts_with(text::MARKER).then_some(d)
}

fn undo(
    req: &Request,
    main: &Path,
    main_text: &str,
    drop_path: Option<&Path>,
    out: &mut Out,
) -> Outcome {
    let mut saved = Vec::new();
    let mut removed = Vec::new();
    let mut backup = None;
    if let Some(p) = drop_path {
        if fs::read_to_string(p).is_ok_and(|d| d.starts_with(text::MARKER)) {
            if !req.dry_run {
                saved.push(Saved::take(p)?);
                fs::remove_file(p).map_err(|e| io_failure(p, e))?;
            }
            removed.push(p.display().to_string());
        }
    }
    if let Some(clean) = text::remove_block(main_text) {
        if req.dry_run {
            let name = main.display().to_string();
            let diff = text::diff(&name, &name, main_text, &clean);
            out.emit(&serde_json::json!({"dry_run": true, "diff": diff}), |w| {
                write!(w, "{diff}")
            })?;
            return Ok(Exit::Ok);
        }
        saved.push(Saved::take(main)?);
        let b = backup_path(main);
        write_file(&b, main_text.as_bytes())?;
        write_file(main, clean.as_bytes())?;
        backup = Some(b.display().to_string());
        removed.push(format!("keyward's block in {}", main.display()));
    }
    if removed.is_empty() {
        let msg = format!(
            "keyward is not registered in {}; nothing to undo",
            main.display()
        );
        out.emit(
            &serde_json::json!({"changed": false, "message": msg}),
            |w| writeln!(w, "{msg}"),
        )?;
        return Ok(Exit::Ok);
    }
    if req.dry_run {
        let msg = format!("would remove {}", removed.join(" and "));
        out.emit(&serde_json::json!({"dry_run": true, "message": msg}), |w| {
            writeln!(w, "{msg}")
        })?;
        return Ok(Exit::Ok);
    }
    let restore = |why: String| -> Failure {
        for s in &saved {
            let _ = s.restore();
        }
        Failure::new(Exit::Config, format!("{why}; nothing changed"))
    };
    sshd::test(req.sshd, req.sshd_config).map_err(|e| restore(e.to_string()))?;
    let reloaded = reload(req, main).map_err(restore)?;
    let report = serde_json::json!({"changed": true, "removed": removed, "backup": backup, "reload": reloaded});
    out.emit(&report, |w| {
        writeln!(w, "removed {}", removed.join(" and "))?;
        if let Some(b) = &backup {
            writeln!(w, "backup of the previous file: {b}")?;
        }
        writeln!(w, "{reloaded}")?;
        writeln!(w, "the store is left as it is")
    })?;
    Ok(Exit::Ok)
}

/// `path`, or the file it links to.
fn linked_file(path: &Path) -> Result<PathBuf, Failure> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            fs::canonicalize(path).map_err(|e| io_failure(path, e))
        }
        _ => Ok(path.to_path_buf()),
    }
}

/// A backup name no earlier backup has: a setup and an undo within one
/// second must not overwrite each other's copy.
fn backup_path(main: &Path) -> PathBuf {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    let name = main.file_name().unwrap_or_default().to_string_lossy();
    let base = main.with_file_name(format!("{name}.keyward-backup-{stamp}"));
    (1..)
        .map(|n| match n {
            1 => base.clone(),
            n => PathBuf::from(format!("{}.{n}", base.display())),
        })
        .find(|p| fs::symlink_metadata(p).is_err())
        .unwrap_or(base)
}

/// With `--sshd-config` naming a copy, the drop-in must go into a directory
/// beside that copy: the directory it includes may be the live one
/// (`/etc/ssh/sshd_config.d`, where a relative Include always points), and
/// writing there would change the running sshd, not the copy.
fn own_drop_in_dir(main: &Path, dir: &Path) -> Result<(), Failure> {
    let real = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let main = real(main);
    if main == real(Path::new(DEFAULT_SSHD_CONFIG)) {
        return Ok(());
    }
    if main.parent() == Some(real(dir).as_path()) || main.parent() == real(dir).parent() {
        return Ok(());
    }
    Err(Failure::new(
        Exit::Config,
        format!(
            "{} includes drop-ins from {}, which is not beside it: writing there would change \
             the sshd that reads {DEFAULT_SSHD_CONFIG}, not this copy. Nothing changed. Point the \
             copy's Include at a directory next to it, or run setup on {DEFAULT_SSHD_CONFIG} itself",
            main.display(),
            dir.display()
        ),
    ))
}

fn binary(given: Option<&Path>) -> Result<PathBuf, Failure> {
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe().map_err(|e| {
            Failure::new(Exit::IoErr, format!("cannot find keyward's own path: {e}"))
        })?,
    };
    fs::canonicalize(&path).map_err(|e| io_failure(&path, e))
}

/// The AuthorizedKeysCommand value: sshd splits it on blanks and expands
/// `%`, so paths with either are refused rather than quoted.
fn command_line(
    binary: &Path,
    config: Option<&Path>,
    fingerprint: bool,
    connection: bool,
) -> Result<String, Failure> {
    let mut parts = vec![binary.display().to_string()];
    if let Some(c) = config {
        parts.push("--config".into());
        parts.push(c.display().to_string());
    }
    for p in &parts {
        // A line break would end the directive and start another one.
        if p.contains([' ', '\t', '"', '\'', '\\', '%', '#']) || p.chars().any(char::is_control) {
            return Err(Failure::new(
                Exit::Usage,
                format!(
                    "{}: sshd splits and expands this path; choose one without blanks, line \
                     breaks, quotes, % or #",
                    crate::log::escape(p.as_bytes())
                ),
            ));
        }
    }
    // %k: the offered key itself, found by comparing bytes, and for a
    // certificate only its CA's line; %h and %U give the home check sshd's
    // own view of the account. %f where the admin asks for it: Linux passes
    // no argument over 128 KiB (MAX_ARG_STRLEN), so sshd cannot run the
    // command at all for a certificate over about 96 KiB given as %k.
    let offered = if fingerprint { "%f" } else { "%k" };
    parts.extend(["keys", "%u", offered, "%h", "%U"].map(String::from));
    // %C and %D (9.4 and later) only for a chained command that asks for
    // them: an older sshd drops the connection on them.
    if connection {
        parts.extend(["%C", "%D"].map(String::from));
    }
    Ok(parts.join(" "))
}

/// The AuthorizedKeysCommandUser setup registers by default: an account of
/// keyward's own, as sshd_config(5) recommends. With `nobody`, every other
/// process running as nobody (NFS, other daemons) could signal keyward or,
/// where Yama is off, ptrace it while it reads the store.
pub const COMMAND_USER: &str = "keyward";

/// The command user and whether setup must create it first. On Synology
/// DSM, which owns /etc/passwd and may rewrite it on update, no account is
/// created: keyward runs as `nobody` there unless told otherwise.
fn command_user(given: Option<&str>, config: &Config) -> Result<(String, bool), Failure> {
    let dsm = config.home_check.platform.resolve() == crate::platform::Platform::Synology;
    let name = match given {
        Some(n) => n,
        None if dsm => "nobody",
        None => COMMAND_USER,
    };
    let Some(pw) = uzers::get_user_by_name(name) else {
        if given.is_none() && !dsm {
            return Ok((name.to_string(), true));
        }
        let hint = if given.is_some() {
            "check the name with `getent passwd`"
        } else {
            "there is no `nobody` here (DSM, for one, may lack it): pass --command-user with an \
             existing unprivileged account, never root; do not create accounts with useradd on DSM"
        };
        return Err(Failure::new(
            Exit::DataErr,
            format!("no user {name} for AuthorizedKeysCommandUser; {hint}"),
        ));
    };
    if pw.uid() == 0 {
        return Err(Failure::new(
            Exit::DataErr,
            format!(
                "{name} is root; keyward needs no privilege to serve keys: choose an unprivileged account"
            ),
        ));
    }
    Ok((name.to_string(), false))
}

/// `useradd --system` for the command user: no home, no login shell, a
/// group of its own. Another setup (or the package) may create it at the
/// same moment, and useradd gives up while /etc/passwd is locked: both end
/// well when the account exists afterwards.
fn create_command_user(name: &str) -> Result<(), Failure> {
    let mut why = String::new();
    for _ in 0..30 {
        if uzers::get_user_by_name(name).is_some() {
            return Ok(());
        }
        let out = Command::new("useradd")
            .args(["--system", "--user-group", "--no-create-home"])
            .args(["--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"])
            .args(["--comment", "keyward AuthorizedKeysCommand", name])
            .output()
            .map_err(|e| {
                Failure::new(
                    Exit::Config,
                    format!(
                        "cannot run useradd to create the system user {name}: {e}; create an \
                         unprivileged account yourself and pass it with --command-user"
                    ),
                )
            })?;
        if out.status.success() {
            return Ok(());
        }
        why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if uzers::get_user_by_name(name).is_some() {
        return Ok(());
    }
    Err(Failure::new(
        Exit::Config,
        format!(
            "could not create the system user {name}: {why}; nothing changed. Create an \
             unprivileged account and pass it with --command-user"
        ),
    ))
}

/// When keyward's messages would reach nobody, said before it matters.
fn syslog_warning(config: &Config) -> Option<String> {
    crate::log::probe(&config.syslog.socket).err().map(|why| {
        format!(
            "syslog: {why}: keyward's warnings and errors would reach nobody (sshd discards \
             their fallback, stderr); {}",
            crate::log::probe_fix()
        )
    })
}

/// The home warnings' state directory: root-owned parents, the directory
/// itself the command user's, mode 0700 (see `warned`). A failure here is
/// said, not fatal: without it keyward warns on every lookup.
fn ensure_state(config: &Config, user: &str) -> String {
    let dir = &config.home_check.state;
    let result = (|| -> Result<(), String> {
        let pw = uzers::get_user_by_name(user).ok_or(format!("no user {user}"))?;
        let parent = dir.parent().ok_or("no parent directory")?;
        if !parent.is_dir() {
            fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            fs::set_permissions(parent, fs::Permissions::from_mode(0o755))
                .map_err(|e| e.to_string())?;
        }
        match fs::symlink_metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err("something other than a directory is there".into()),
            Err(_) => fs::create_dir(dir).map_err(|e| e.to_string())?,
        }
        let (uid, gid) = (pw.uid(), pw.primary_group_id());
        std::os::unix::fs::chown(dir, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| e.to_string())?;
        // Records of an earlier command user (setup --chain adopts the
        // holder's user): the lookup trusts only its own, so hand them over,
        // or every lookup would warn from now on. Links are not followed.
        for entry in fs::read_dir(dir).map_err(|e| e.to_string())?.flatten() {
            let is_record = entry.file_type().is_ok_and(|t| t.is_file());
            if is_record {
                std::os::unix::fs::lchown(entry.path(), Some(uid), Some(gid))
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => format!(
            "home warnings: at most one per user every {} s, remembered in {} ({user}, 0700)",
            config.home_check.warn_interval,
            dir.display()
        ),
        Err(e) => format!(
            "home warnings: cannot prepare {}: {e}; keyward warns on every lookup instead",
            dir.display()
        ),
    }
}

/// Makes the store's `users/` directory when it is missing.
fn ensure_store(config: &Config) -> Result<String, Failure> {
    let users = config.users_dir();
    if users.is_dir() {
        return Ok(format!("store: {}", users.display()));
    }
    fs::create_dir_all(&users).map_err(|e| io_failure(&users, e))?;
    for d in [&config.store, &users] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).map_err(|e| io_failure(d, e))?;
    }
    Ok(format!("store: created {} (root, 0755)", users.display()))
}

/// Tells the running sshd to reread its configuration, the platform's way.
/// Only for the system's own sshd_config; a test config is left alone.
fn reload(req: &Request, main: &Path) -> Result<String, String> {
    if !req.reload || main != Path::new(DEFAULT_SSHD_CONFIG) {
        return Ok(format!(
            "sshd not reloaded ({}); it reads the change when it next starts or reloads",
            if req.reload {
                "not the system sshd_config"
            } else {
                "--no-reload"
            }
        ));
    }
    // Where systemd is not running, systemctl says so on stderr; that is an
    // answer here, not news for the admin.
    let ok = |cmd: &mut Command| {
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    for unit in ["ssh", "sshd"] {
        if ok(Command::new("systemctl").args(["is-active", "--quiet", unit])) {
            return if ok(Command::new("systemctl").args(["reload", unit])) {
                Ok(format!("sshd reloaded (systemctl reload {unit})"))
            } else {
                Err(format!("`systemctl reload {unit}` failed"))
            };
        }
    }
    // DSM 6 has no systemd; its service tool lives in one of these.
    let syno = [
        "/usr/syno/sbin/synoservicectl",
        "/usr/syno/bin/synoservicectl",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists());
    if let Some(tool) = syno {
        return if ok(Command::new(tool).args(["--reload", "sshd"])) {
            Ok("sshd reloaded (synoservicectl --reload sshd)".into())
        } else {
            Err("`synoservicectl --reload sshd` failed".into())
        };
    }
    for pidfile in ["/run/sshd.pid", "/var/run/sshd.pid"] {
        let Ok(pid) = fs::read_to_string(pidfile) else {
            continue;
        };
        if let Ok(pid) = pid.trim().parse::<i32>() {
            return if ok(Command::new("kill").args(["-HUP", &pid.to_string()])) {
                Ok(format!(
                    "sshd reloaded (SIGHUP to pid {pid} from {pidfile})"
                ))
            } else {
                Err(format!("could not signal sshd (pid {pid} from {pidfile})"))
            };
        }
    }
    Ok("sshd is not running; it reads the change when it starts".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openssh::Version;

    const V82: Sshd = Sshd {
        version: Version::new(8, 2, 1),
        debian: false,
    };

    /// keyward.toml as an earlier setup left it: the admin's lines, its
    /// [sshd] table and an adopted [[chain]], and a chain of the admin's.
    const OLD: &str = "# mine\nstore = \"/etc/keyward\"\n\n[[chain]]\ncommand = \"/usr/bin/mine %u\"\n\n\
        [sshd]\n# Recorded by `keyward setup` from `sshd -V`: keyward reads key lines, homes\n\
        # and the command line as this OpenSSH release does.\nversion = \"8.2p1\"\ndebian = false\n\n\
        [[chain]]\n# Adopted by `keyward setup --chain`: sshd's AuthorizedKeysCommand before keyward,\n\
        # run as nobody. Its keys are served after keyward's own.\ncommand = \"/usr/bin/sss %u\"\n";

    fn migrated(text: &str, found: Sshd) -> (Option<String>, Record) {
        let dir = std::env::temp_dir().join(format!("keyward-migrate-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keyward.toml");
        fs::write(&path, text).unwrap();
        let mut record = Record::default();
        let out = migrate(Some(&path), found, &mut record, &mut Vec::new()).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        (out.map(|(_, t)| t), record)
    }

    #[test]
    fn setups_old_tables_leave_keyward_toml_and_nothing_else_does() {
        let (text, record) = migrated(OLD, openssh::DEFAULT);
        assert_eq!(
            text.unwrap(),
            "# mine\nstore = \"/etc/keyward\"\n\n[[chain]]\ncommand = \"/usr/bin/mine %u\"\n"
        );
        assert_eq!(record.chain.len(), 1);
        assert_eq!(record.chain[0].command, "/usr/bin/sss %u");
        // An [sshd] of the admin's own (no mark) stays unless it says what
        // setup finds anyway.
        let pinned = "[sshd]\nversion = \"8.2p1\" # DSM\ndebian = false\n";
        assert_eq!(migrated(pinned, openssh::DEFAULT).0, None);
        assert_eq!(migrated(pinned, V82).0.unwrap(), "");
        // Nothing of setup's: nothing to move.
        assert_eq!(migrated("store = \"/srv/k\"\n", V82).0, None);
    }

    #[test]
    fn connection_tokens_are_registered_only_when_a_chain_needs_them() {
        let bin = Path::new("/usr/bin/keyward");
        assert_eq!(
            command_line(bin, None, false, false).unwrap(),
            "/usr/bin/keyward keys %u %k %h %U"
        );
        assert_eq!(
            command_line(bin, None, false, true).unwrap(),
            "/usr/bin/keyward keys %u %k %h %U %C %D"
        );
        let c = |command: &str| ChainConfig {
            command: command.into(),
            timeout: 5,
            max_output: 1024,
        };
        let v105 = Sshd {
            version: Version::new(10, 5, 1),
            debian: false,
        };
        assert!(c("/x %u %C").validate(&openssh::DEFAULT).is_err());
        assert!(c("/x %u %C %D").validate(&v105).is_ok());
        assert!(c("/x %u %D").uses_connection() && !c("/x %u %%C").uses_connection());
    }
}
