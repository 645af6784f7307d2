//! `keyward setup` against real `sshd -t`/`sshd -T` and a real sshd: a
//! Debian-style config with drop-ins, DSM's stock config with trailing Match
//! blocks, another helper in the slot, and a broken edit.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// `sshd -T -f CONFIG [-C user=USER,...]`: (command, command user).
fn effective(config: &Path, user: Option<&str>) -> (String, String) {
    let mut cmd = Command::new("/usr/sbin/sshd");
    cmd.arg("-T").arg("-f").arg(config);
    if let Some(u) = user {
        cmd.arg("-C")
            .arg(format!("user={u},host=localhost,addr=127.0.0.1"));
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let value = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k} in sshd -T"))
            .to_string()
    };
    (
        value("authorizedkeyscommand "),
        value("authorizedkeyscommanduser "),
    )
}

fn ours(t: &Tree) -> String {
    format!(
        "{} --config {} keys %u %k %h %U",
        t.bin.display(),
        t.config.display()
    )
}

/// A Debian 12 style sshd_config: Include of a drop-in directory first.
fn debian(t: &Tree, extra: &str) -> (PathBuf, PathBuf) {
    let dir = t.root.join("sshd_config.d");
    mkdir(&dir, 0o755);
    let config = t.root.join("sshd_config");
    write(
        &config,
        format!(
            "# Debian-like\nInclude {}/*.conf\n{extra}HostKey {}\nUsePAM no\nPidFile none\n",
            dir.display(),
            t.host_key().display()
        ),
        0o644,
    );
    (config, dir)
}

#[test]
fn drop_in_where_sshd_reads_them_idempotent_and_undone() {
    let t = Tree::new();
    let (config, dir) = debian(&t, "");
    let main_before = fs::read(&config).unwrap();
    let config_before = fs::read(&t.config).unwrap();
    let drop_in = dir.join("40-keyward.conf");

    let o = setup_on(&t, &config, &["--dry-run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("+AuthorizedKeysCommand {}", ours(&t))),
        "{}",
        stdout(&o)
    );
    assert!(!drop_in.exists());

    let o = setup_on(&t, &config, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("not the system sshd_config"),
        "{}",
        stdout(&o)
    );
    assert_eq!(effective(&config, None), (ours(&t), "keyward".into()));
    // setup recorded which sshd this is, read from the binary itself, in
    // its own record; keyward.toml (a package's conffile) is untouched.
    let recorded = fs::read_to_string(t.record()).unwrap();
    assert!(
        recorded.ends_with("[sshd]\nversion = \"9.2p1\"\ndebian = true\n"),
        "{recorded}"
    );
    assert_eq!(fs::read(&t.config).unwrap(), config_before);
    assert!(
        stdout(&o).contains("recorded OpenSSH 9.2p1 (Debian)"),
        "{}",
        stdout(&o)
    );
    // setup made the dedicated command user: a system account, no shell.
    let pw = nix::unistd::User::from_name("keyward").unwrap().unwrap();
    assert!(pw.uid.as_raw() < 1000 && pw.uid.as_raw() > 0, "{pw:?}");
    assert_eq!(pw.shell, Path::new("/usr/sbin/nologin"));
    // ...and the home warnings' state directory, the command user's, 0700.
    let state = fs::metadata(t.root.join("state/warned")).unwrap();
    assert_eq!(state.uid(), pw.uid.as_raw());
    assert_eq!(state.mode() & 0o7777, 0o700);
    assert!(
        stdout(&o).contains("home warnings: at most one per user every"),
        "{}",
        stdout(&o)
    );
    assert_eq!(fs::read(&config).unwrap(), main_before);
    let mtime = fs::metadata(&drop_in).unwrap().modified().unwrap();

    let o = setup_on(&t, &config, &[]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("nothing changed"), "{}", stdout(&o));
    assert_eq!(fs::metadata(&drop_in).unwrap().modified().unwrap(), mtime);

    // %f where the admin asks for it (certificates too large for %k),
    // kept on a second run with the flag, %k again without it.
    let with_f = ours(&t).replace("%k", "%f");
    for _ in 0..2 {
        let o = setup_on(&t, &config, &["--fingerprint"]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert_eq!(effective(&config, None).0, with_f);
    }
    let o = setup_on(&t, &config, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(effective(&config, None).0, ours(&t));

    let o = setup_on(&t, &config, &["--undo"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!drop_in.exists());
    assert_eq!(effective(&config, None), ("none".into(), "none".into()));
    let o = setup_on(&t, &config, &["--undo"]);
    assert!(stdout(&o).contains("nothing to undo"), "{}", stdout(&o));
}

#[test]
fn dsm_config_gets_the_lines_before_its_match_blocks_and_logins_work() {
    let t = Tree::new();
    let config = t.root.join("sshd_config");
    let stock = fs::read_to_string("tests/fixtures/dsm7-sshd_config").unwrap();
    write(&config, &stock, 0o644);
    let homes = t.root.join("homes");
    mkdir(&homes, 0o755);
    let u = User::new(&homes, 0o777);
    let (key, public) = t.keygen("dsm");
    write(&t.user_file(&u.name), format!("{public}\n"), 0o644);

    let o = setup_on(&t, &config, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let now = fs::read_to_string(&config).unwrap();
    let akc = now.find("AuthorizedKeysCommand ").unwrap();
    assert!(akc < now.find("\nMatch ").unwrap(), "{now}");
    // The dated backup is the stock file, byte for byte.
    let b = backups(&t.root);
    assert_eq!(b.len(), 1);
    assert_eq!(fs::read_to_string(&b[0]).unwrap(), stock);
    // In effect for an ordinary user and inside the trailing Match block.
    for who in [u.name.as_str(), "anonymous", "root"] {
        assert_eq!(
            effective(&config, Some(who)),
            (ours(&t), "keyward".into()),
            "{who}"
        );
    }

    // A real sshd on that file (test-only settings given with -o, which
    // win because sshd takes the first value): the 0777 home logs in.
    let sshd = Sshd::on_config(&t, Path::new("/usr/sbin/sshd"), &config, &["UsePAM=no"]);
    let o = sshd.ssh(&key, &u.name, "echo in");
    assert_eq!(stdout(&o), "in\n", "{}\n{}", stderr(&o), sshd.log());

    let o = setup_on(&t, &config, &["--undo"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(fs::read_to_string(&config).unwrap(), stock);
}

#[test]
fn another_helper_keeps_its_slot_unless_replaced() {
    let t = Tree::new();
    let other = "AuthorizedKeysCommand /usr/bin/true %u\nAuthorizedKeysCommandUser nobody\n";
    let config = t.root.join("sshd_config");
    write(&config, format!("UsePAM no\n{other}"), 0o644);
    let before = fs::read(&config).unwrap();

    let o = setup_on(&t, &config, &[]);
    assert_eq!(code(&o), 78);
    assert!(
        stderr(&o).contains("sshd already runs AuthorizedKeysCommand /usr/bin/true %u"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("--replace"), "{}", stderr(&o));
    assert_eq!(fs::read(&config).unwrap(), before);
    assert!(backups(&t.root).is_empty());

    let o = setup_on(&t, &config, &["--replace"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(effective(&config, None), (ours(&t), "keyward".into()));

    // A helper in an earlier drop-in still wins: setup notices and undoes.
    let t = Tree::new();
    let (config, dir) = debian(&t, "");
    write(&dir.join("10-other.conf"), other, 0o644);
    let o = setup_on(&t, &config, &["--replace"]);
    assert_eq!(code(&o), 78);
    assert!(
        stderr(&o).contains("still runs AuthorizedKeysCommand /usr/bin/true"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.join("40-keyward.conf").exists());
}

#[test]
fn broken_edit_is_rolled_back() {
    let t = Tree::new();
    let config = t.root.join("sshd_config");
    let stock = fs::read_to_string("tests/fixtures/dsm7-sshd_config").unwrap();
    write(&config, &stock, 0o644);
    // Debug builds add a line sshd cannot parse to what setup writes.
    let broken_setup = |config: &Path| {
        Command::new(&t.bin)
            .arg("--config")
            .arg(&t.config)
            .args([
                "setup",
                "--binary",
                t.bin.to_str().unwrap(),
                "--sshd-config",
            ])
            .arg(config)
            .env("KEYWARD_TEST_BREAK_SETUP", "1")
            .output()
            .unwrap()
    };
    let o = broken_setup(&config);
    assert_eq!(code(&o), 78, "{}", stdout(&o));
    assert!(
        stderr(&o).contains("Bad configuration option"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("restored"), "{}", stderr(&o));
    assert_eq!(fs::read_to_string(&config).unwrap(), stock);
    assert!(backups(&t.root).is_empty());

    let (config, dir) = debian(&t, "");
    let o = broken_setup(&config);
    assert_eq!(code(&o), 78, "{}", stdout(&o));
    assert!(!dir.join("40-keyward.conf").exists());
}

#[test]
fn a_missing_command_user_is_named() {
    let t = Tree::new();
    let (config, dir) = debian(&t, "");
    let o = setup_on(&t, &config, &["--command-user", "kwt-nosuchuser"]);
    assert_eq!(code(&o), 65);
    assert!(
        stderr(&o).contains("no user kwt-nosuchuser"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.join("40-keyward.conf").exists());
}

/// packaging/synology: install into a root-owned base directory, then the
/// boot-up task puts the lines back after a "DSM update" reset the file.
#[test]
fn synology_scripts_install_and_reapply_after_an_update() {
    let t = Tree::new();
    let base = t.root.join("syno");
    let config = t.root.join("sshd_config");
    let stock = fs::read_to_string("tests/fixtures/dsm7-sshd_config").unwrap();
    write(&config, &stock, 0o644);
    let script = |name: &str, args: &[&str]| {
        Command::new("sh")
            .arg(format!("packaging/synology/{name}"))
            .args(args)
            .env("KEYWARD_BASE", &base)
            .output()
            .unwrap()
    };
    let o = script(
        "install.sh",
        &[
            t.bin.to_str().unwrap(),
            "--sshd-config",
            config.to_str().unwrap(),
            "--no-reload",
        ],
    );
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("command user nobody: on Synology DSM, which owns /etc/passwd"),
        "{}",
        stdout(&o)
    );
    let want = format!(
        "{0}/bin/keyward --config {0}/keyward.toml keys %u %k %h %U",
        base.display()
    );
    assert_eq!(
        effective(&config, Some("root")),
        (want.clone(), "nobody".into())
    );
    assert!(base.join("store/users").is_dir());
    // setup's record beside the store too, where DSM updates leave it.
    let record = fs::read_to_string(base.join("state/setup.toml")).unwrap();
    assert!(record.contains("version = \"9.2p1\""), "{record}");
    // The warnings' state beside the store, the command user's.
    let state = fs::metadata(base.join("state/warned")).unwrap();
    assert_eq!(state.mode() & 0o7777, 0o700);

    let o = script("reapply.sh", &[]);
    assert!(
        stdout(&o).contains("nothing changed"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    // A DSM update puts the stock file back; the boot-up task repairs it.
    write(&config, &stock, 0o644);
    let o = Command::new("sh")
        .arg(base.join("reapply.sh"))
        .env("KEYWARD_BASE", &base)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(effective(&config, Some("root")), (want, "nobody".into()));
}

/// `--chain` on DSM's layout (no drop-ins: a block at the top of the main
/// file) over an `sss_ssh_authorizedkeys` line, and `--undo`, byte for byte;
/// and a command set only inside a Match block, which is not adopted.
#[test]
fn chain_adopts_the_global_command_and_undo_gives_it_back() {
    let t = Tree::new();
    let config = t.root.join("sshd_config");
    let stock = fs::read_to_string("tests/fixtures/dsm7-sshd_config").unwrap();
    let at = stock.find("\nMatch ").unwrap() + 1;
    let held = format!(
        "{}AuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys %u\nAuthorizedKeysCommandUser nobody\n{}",
        &stock[..at],
        &stock[at..]
    );
    write(&config, &held, 0o644);
    let o = setup_on(&t, &config, &["--chain", "--dry-run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(fs::read_to_string(&config).unwrap(), held);
    assert!(!t.record().exists());
    let config_before = fs::read(&t.config).unwrap();

    let o = setup_on(&t, &config, &["--chain"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(effective(&config, None), (ours(&t), "nobody".into()));
    let record = fs::read_to_string(t.record()).unwrap();
    assert_eq!(record.matches("[[chain]]").count(), 1, "{record}");
    assert!(
        record.contains("command = \"/usr/bin/sss_ssh_authorizedkeys %u\"\n"),
        "{record}"
    );
    assert_eq!(fs::read(&t.config).unwrap(), config_before);
    // Again: nothing changes, the chain is not added twice.
    let o = setup_on(&t, &config, &["--chain"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(fs::read_to_string(t.record()).unwrap(), record);

    let o = setup_on(&t, &config, &["--undo"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(fs::read_to_string(&config).unwrap(), held);

    // Set only inside a Match block: the users it matches keep their own
    // command; setup registers keyward for the rest and names the block.
    let t = Tree::new();
    let (config, _dir) = debian(&t, "");
    let mut before = fs::read_to_string(&config).unwrap();
    before.push_str(
        "Match User ldapusers\n    AuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys %u\n    AuthorizedKeysCommandUser nobody\n",
    );
    write(&config, &before, 0o644);
    let o = setup_on(&t, &config, &["--chain"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains(
            "inside `Match User ldapusers`: the connections that block matches do not run keyward"
        ),
        "{}",
        stdout(&o)
    );
    assert!(
        !fs::read_to_string(t.record())
            .unwrap()
            .contains("[[chain]]")
    );
    assert_eq!(
        effective(&config, Some("ldapusers")).0,
        "/usr/bin/sss_ssh_authorizedkeys %u"
    );
    let o = setup_on(&t, &config, &["--undo"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(fs::read_to_string(&config).unwrap(), before);
}

/// Everything setup records is decided and checked before sshd is touched:
/// a record keyward could not use must never follow a change to sshd.
#[test]
fn setup_records_nothing_it_cannot_use_and_touches_sshd_last() {
    // A held command with %C, a token 9.2 does not have (it drops the
    // connection on it): keyward will not adopt it into a 9.2 record.
    let t = Tree::new();
    let (config, dir) = debian(
        &t,
        "AuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys %u %C\nAuthorizedKeysCommandUser nobody\n",
    );
    let before = fs::read(&config).unwrap();
    let o = setup_on(&t, &config, &["--chain"]);
    assert_eq!(code(&o), 78, "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("unknown token %C"), "{}", stderr(&o));
    assert!(stderr(&o).contains("Nothing changed"), "{}", stderr(&o));
    assert_eq!(fs::read(&config).unwrap(), before);
    assert!(!dir.join("40-keyward.conf").exists());
    assert!(!t.record().exists());
    assert_eq!(
        effective(&config, None).0,
        "/usr/bin/sss_ssh_authorizedkeys %u %C"
    );

    // keyward.toml with an [sshd] header written by hand, comment and all:
    // read as TOML, never as lines; it stays as the admin wrote it.
    let t = Tree::new();
    let (config, _) = debian(&t, "");
    let mine = format!(
        "{}[sshd] # pinned by hand\ndebian = true\n",
        fs::read_to_string(&t.config).unwrap()
    );
    write(&t.config, &mine, 0o644);
    let o = setup_on(&t, &config, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(fs::read_to_string(&t.config).unwrap(), mine);
    assert!(
        fs::read_to_string(t.record())
            .unwrap()
            .contains("version = \"9.2p1\""),
    );
    assert_eq!(effective(&config, None).0, ours(&t));
    let o = t.admin(&["config"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("version = \"9.2p1\""), "{}", stdout(&o));
}

/// keyward.toml as an earlier setup left it ([sshd] and an adopted
/// [[chain]] written into it): the next setup moves exactly those tables
/// into the record, and keyward keeps working as before.
#[test]
fn setup_moves_its_old_tables_out_of_keyward_toml() {
    let t = Tree::new();
    let (config, _) = debian(&t, "");
    let admin_part = fs::read_to_string(&t.config).unwrap();
    write(
        &t.config,
        format!(
            "{admin_part}\n[sshd]\n# Recorded by `keyward setup` from `sshd -V`: keyward reads key lines, homes\n\
             # and the command line as this OpenSSH release does. Run setup again after\n\
             # an OpenSSH upgrade; `keyward check` says when the two differ.\nversion = \"9.2p1\"\ndebian = true\n\n\
             [[chain]]\n# Adopted by `keyward setup --chain`: sshd's AuthorizedKeysCommand before keyward,\n\
             # run as nobody. Its keys are served after keyward's own.\ncommand = \"/bin/true %u\"\n"
        ),
        0o644,
    );
    let o = setup_on(&t, &config, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("moved [sshd] and 1 [[chain]]"),
        "{}",
        stdout(&o)
    );
    assert_eq!(fs::read_to_string(&t.config).unwrap(), admin_part);
    let record = fs::read_to_string(t.record()).unwrap();
    assert!(record.contains("command = \"/bin/true %u\""), "{record}");
    let o = t.admin(&["config"]);
    assert!(
        stdout(&o).contains("command = \"/bin/true %u\""),
        "{}",
        stdout(&o)
    );
}

/// The home warnings' records belong to the command user: when setup
/// changes that user, it hands the records over, or the lookup (which
/// trusts only its own) would warn on every login from then on.
#[test]
fn a_new_command_user_gets_the_warning_records() {
    let t = Tree::new();
    let (config, _) = debian(&t, "");
    let state = t.root.join("state/warned");
    fs::create_dir_all(&state).unwrap();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let record = state.join("alice");
    write(&record, "keyward-warned 1 1\n", 0o600);
    for p in [&state, &record] {
        nix::unistd::chown(p, Some(nobody.uid), Some(nobody.gid)).unwrap();
    }
    let o = setup_on(&t, &config, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let keyward = nix::unistd::User::from_name("keyward").unwrap().unwrap();
    assert_eq!(fs::metadata(&state).unwrap().uid(), keyward.uid.as_raw());
    assert_eq!(fs::metadata(&record).unwrap().uid(), keyward.uid.as_raw());
}

/// An sshd_config that is a link: setup edits the file it names, the link
/// stays a link, and undo gives that file back byte for byte.
#[test]
fn a_linked_sshd_config_stays_a_link() {
    let t = Tree::new();
    let real_dir = t.root.join("managed");
    mkdir(&real_dir, 0o755);
    let real = real_dir.join("sshd_config");
    let text = format!(
        "# managed elsewhere\nHostKey {}\nUsePAM no\nPidFile none\n",
        t.host_key().display()
    );
    write(&real, &text, 0o644);
    let link = t.root.join("sshd_config");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let o = setup_on(&t, &link, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(fs::read_to_string(&real).unwrap().contains(&ours(&t)));
    assert_eq!(effective(&link, None).0, ours(&t));
    let o = setup_on(&t, &link, &["--undo"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read_to_string(&real).unwrap(), text);
}

/// The directories setup makes for its record are 0755 whatever the
/// admin's umask: the lookup trusts nothing under a directory others may
/// write, and would refuse every login.
#[test]
fn setup_under_a_loose_umask_leaves_nothing_writable() {
    let t = Tree::new();
    let (config, _) = debian(&t, "");
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "umask 0002; exec {} --config {} setup --binary {} --sshd-config {}",
            t.bin.display(),
            t.config.display(),
            t.bin.display(),
            config.display()
        ))
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let state = fs::metadata(t.root.join("state")).unwrap();
    assert_eq!(state.mode() & 0o7777, 0o755);
    let o = t.keys_as_nobody(&["nosuchuser"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}
