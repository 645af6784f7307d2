//! The security review's findings (issue 10), each as a test that failed
//! before its fix: planted keys, attacker bytes in output, a lying index,
//! a foreign command's slot, many fragments, and setup's edge cases.

mod common;

use std::fs;

use base64::Engine;
use common::*;

/// No byte that steers a terminal or splits a log line.
fn assert_inert(what: &str, bytes: &[u8]) {
    assert!(
        !bytes.iter().any(|&b| (b < 0x20 && b != b'\n') || b == 0x7f),
        "{what} carries control bytes: {:?}",
        String::from_utf8_lossy(bytes)
    );
}

/// A line whose key blob names a type that keyward quotes in its error: a
/// forged syslog line and a terminal escape.
fn blob_with_hostile_error() -> String {
    let mut blob = Vec::new();
    for field in [
        &b"x\nsshd[1]: Accepted publickey for root\x1b[2K"[..],
        &[4; 32],
    ] {
        blob.extend_from_slice(&(field.len() as u32).to_be_bytes());
        blob.extend_from_slice(field);
    }
    format!(
        "ssh-ed25519 {}",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

#[test]
fn attacker_bytes_never_reach_a_log_line_or_a_terminal() {
    let t = Tree::new();
    let u = User::new(&homes(&t), 0o755);
    let (_, key) = t.keygen("laptop");
    let (kind, b64) = key.split_once(' ').unwrap();
    let b64 = b64.split(' ').next().unwrap();
    // Backspaces, an escape sequence and a CR rewrite a terminal row.
    let comment = "laptop\x1b[2K\x08\x08root-ok \u{202e}evil";
    let hostile = format!(
        "command=\"echo \x1b[8mhidden\" {kind} {b64} {comment}\n{}\n{} x\rroot-ok\n",
        blob_with_hostile_error(),
        filler_key(7)
    );
    write(&t.user_file(&u.name), &hostile, 0o644);

    // The sshd path: every line is judged, the bad one logged.
    let o = t.keys_as_nobody(&[&u.name]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let msgs = t.syslog.drain();
    let skipped = expect_msg(&msgs, WARNING, &["line skipped"]);
    assert!(skipped.text.contains("\\x0asshd[1]"), "{}", skipped.text);
    // sshd reads a CR as any other byte of a comment: the line is served
    // as it is, to sshd's pipe only.
    assert!(stdout(&o).contains(" x\rroot-ok\n"), "{}", stdout(&o));
    for m in &msgs {
        assert_inert("a syslog message", m.text.as_bytes());
    }

    // Admin commands on a terminal-bound stdout and stderr.
    for args in [
        vec!["list", u.name.as_str()],
        vec!["audit"],
        vec!["remove", u.name.as_str(), "nothing-has-this-comment"],
    ] {
        let o = t.admin(&args);
        assert_inert(&format!("{args:?} stdout"), &o.stdout);
        assert_inert(&format!("{args:?} stderr"), &o.stderr);
        assert!(!stdout(&o).contains('\u{202e}'), "{args:?}: {}", stdout(&o));
    }
    let text = stdout(&t.admin(&["list", &u.name]));
    assert!(text.contains("laptop\\x1b[2K\\x08\\x08root-ok"), "{text}");
    assert!(text.contains("echo \\x1b[8mhidden"), "{text}");
    assert!(text.contains("x\\x0droot-ok"), "{text}");
    let audit = stdout(&t.admin(&["audit"]));
    assert!(audit.contains("x\\x0asshd[1]: Accepted"), "{audit}");

    // JSON stays exact.
    let rows = json(&t.admin(&["list", "--json", &u.name]));
    assert_eq!(rows[0]["comment"], comment);
    assert_eq!(rows[0]["options"], "command=\"echo \x1b[8mhidden\"");

    // Removing by that comment prints it escaped, and does remove it.
    let o = t.admin(&["remove", &u.name, comment]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_inert("remove's output", &o.stdout);
    assert!(stdout(&o).contains("laptop\\x1b[2K"), "{}", stdout(&o));
}

/// Runs `sh -c SCRIPT` as `u`, the way a local user acts.
fn as_user(u: &User, script: &str) {
    let st = std::process::Command::new("setpriv")
        .arg(format!("--reuid={}", u.uid))
        .arg(format!("--regid={}", u.gid))
        .args(["--clear-groups", "sh", "-c", script])
        .status()
        .unwrap();
    assert!(st.success(), "{script}");
}

fn import(t: &Tree, config: &std::path::Path, args: &[&str]) -> std::process::Output {
    let sshd = ["--sshd-config", config.to_str().unwrap()];
    t.admin(&[&["import"][..], &sshd, args].concat())
}

#[test]
fn a_key_planted_in_a_writable_home_never_reaches_the_store() {
    let t = Tree::new();
    // The Synology case: homes anyone can write.
    let victim = User::new(&homes(&t), 0o777);
    let attacker = User::new(&homes(&t), 0o755);
    let (_, evil) = t.keygen("evil");
    let config = t.sshd_config(22, "");
    let store = t.user_file(&victim.name);

    // 1. The attacker creates the victim's ~/.ssh/authorized_keys.
    as_user(
        &attacker,
        &format!(
            "mkdir -m 700 {h}/.ssh && echo '{evil}' > {h}/.ssh/authorized_keys && chmod 644 {h}/.ssh/authorized_keys",
            h = victim.home.display()
        ),
    );
    for args in [
        vec![victim.name.as_str()],
        vec!["--accept-unsafe-home", &victim.name, &victim.name],
        vec!["--all"],
    ] {
        let o = import(&t, &config, &args);
        assert_eq!(code(&o), 1, "{args:?}: {}{}", stdout(&o), stderr(&o));
        let text = stdout(&o);
        assert!(
            text.contains(&format!("{}: refused", victim.name)),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "owned by {} (uid {})",
                attacker.name, attacker.uid
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!("refused ({}", victim.name))
                || text.contains(&format!(", {}", victim.name)),
            "{text}"
        );
        assert!(!store.exists(), "{args:?} stored a planted key");
    }

    let check = stdout(&t.admin(&[
        "check",
        "--sshd-config",
        config.to_str().unwrap(),
        &victim.name,
    ]));
    assert!(
        check.contains("another user may have planted it; `keyward import"),
        "{check}"
    );

    // 2. The attacker moves the victim's own ~/.ssh aside and puts theirs
    // in its place: same verdict.
    fs::remove_dir_all(victim.home.join(".ssh")).unwrap();
    let (_, own) = t.keygen("own");
    victim.own_authorized_keys(&format!("{own}\n"), 0o600);
    as_user(
        &attacker,
        &format!(
            "mv {h}/.ssh {h}/.ssh-old && mkdir -m 755 {h}/.ssh && echo '{evil}' > {h}/.ssh/authorized_keys",
            h = victim.home.display()
        ),
    );
    let o = import(
        &t,
        &config,
        &["--accept-unsafe-home", &victim.name, &victim.name],
    );
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("another user may have planted it"),
        "{}",
        stdout(&o)
    );
    assert!(!store.exists());

    // 3. The victim's own file in the 0777 home: not taken unless the admin
    // names the user, and then shown with owner and time.
    fs::remove_dir_all(victim.home.join(".ssh")).unwrap();
    fs::remove_dir_all(victim.home.join(".ssh-old")).unwrap();
    victim.own_authorized_keys(&format!("{own}\n"), 0o600);
    let o = import(&t, &config, &[&victim.name]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let text = stdout(&o);
    assert!(
        text.contains("has mode 0777 (group- and world-writable)"),
        "{text}"
    );
    assert!(text.contains("--accept-unsafe-home"), "{text}");
    assert!(!store.exists());
    let o = import(&t, &config, &["--all", "--json"]);
    assert_eq!(code(&o), 1);
    let report = json(&o);
    assert!(
        report["refused"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u == victim.name.as_str())
    );
    assert!(!store.exists());

    let o = import(
        &t,
        &config,
        &["--accept-unsafe-home", &victim.name, &victim.name],
    );
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains(&format!("owner {} (uid {})", victim.name, victim.uid)),
        "{text}"
    );
    assert!(text.contains("modified 20"), "{text}");
    assert_eq!(fs::read_to_string(&store).unwrap(), format!("{own}\n"));

    // The cron job hears of a planted file too.
    fs::remove_dir_all(victim.home.join(".ssh")).unwrap();
    as_user(
        &attacker,
        &format!(
            "mkdir {h}/.ssh && echo '{evil}' > {h}/.ssh/authorized_keys",
            h = victim.home.display()
        ),
    );
    let o = t.admin(&["audit"]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("another user may have planted it"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn setup_takes_only_its_own_slot_and_writes_only_what_it_means() {
    let t = Tree::new();
    let config = t.root.join("sshd_config");
    let head = format!(
        "HostKey {}\nUsePAM no\nPidFile none\n",
        t.host_key().display()
    );

    // A foreign helper whose first argument happens to be `keys`.
    let foreign = format!(
        "{head}AuthorizedKeysCommand /usr/bin/true keys %u\nAuthorizedKeysCommandUser nobody\n"
    );
    write(&config, &foreign, 0o644);
    let o = setup_on(&t, &config, &[]);
    assert_eq!(code(&o), 78, "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("--replace"), "{}", stderr(&o));
    assert_eq!(fs::read_to_string(&config).unwrap(), foreign);

    // keyward under another name (an older install, a hard link) is ours.
    let old = t.root.join("bin/keyward-old");
    fs::hard_link(&t.bin, &old).unwrap();
    let older = format!(
        "{head}AuthorizedKeysCommand {} keys %u %f\nAuthorizedKeysCommandUser nobody\n",
        old.display()
    );
    write(&config, &older, 0o644);
    let o = setup_on(&t, &config, &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));

    // A line break in the config path would start a directive of its own.
    write(&config, &head, 0o644);
    let odd = t.root.join("k\nMatch all.toml");
    fs::copy(&t.config, &odd).unwrap();
    let o = std::process::Command::new(&t.bin)
        .arg("--config")
        .arg(&odd)
        .args([
            "setup",
            "--binary",
            t.bin.to_str().unwrap(),
            "--sshd-config",
            config.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(code(&o), 64, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("k\\x0aMatch all.toml"),
        "{}",
        stderr(&o)
    );
    assert_eq!(fs::read_to_string(&config).unwrap(), head);

    // A setup and an undo within one second keep two backups.
    let stock = fs::read_to_string("tests/fixtures/dsm7-sshd_config").unwrap();
    let dsm = t.root.join("dsm/sshd_config");
    mkdir(dsm.parent().unwrap(), 0o755);
    write(&dsm, &stock, 0o644);
    assert_eq!(code(&setup_on(&t, &dsm, &[])), 0);
    let o = setup_on(&t, &dsm, &["--undo"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let kept = backups(dsm.parent().unwrap());
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(fs::read_to_string(&kept[0]).unwrap(), stock);
    assert_eq!(fs::read_to_string(&dsm).unwrap(), stock);

    // A Match block that gives some users another command is named.
    let with_match = format!("{stock}Match User bob\n    AuthorizedKeysCommand /usr/bin/true %u\n");
    write(&dsm, &with_match, 0o644);
    let o = setup_on(&t, &dsm, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let lines = with_match.lines().count();
    assert!(
        stdout(&o).contains(&format!(
            "sshd_config:{}: `AuthorizedKeysCommand /usr/bin/true %u` inside `Match User bob`",
            lines + 4
        )),
        "{}",
        stdout(&o)
    );
}

#[test]
fn setup_on_a_copy_never_writes_the_live_drop_in_directory() {
    let t = Tree::new();
    let live = std::path::Path::new("/etc/ssh/sshd_config.d/40-keyward.conf");
    let was_there = live.exists();
    let copy = t.root.join("copy/sshd_config");
    mkdir(copy.parent().unwrap(), 0o755);
    for include in ["/etc/ssh/sshd_config.d/*.conf", "sshd_config.d/*.conf"] {
        write(
            &copy,
            format!(
                "Include {include}\nHostKey {}\nUsePAM no\nPidFile none\n",
                t.host_key().display()
            ),
            0o644,
        );
        let o = setup_on(&t, &copy, &[]);
        assert_eq!(code(&o), 78, "{include}: {}{}", stdout(&o), stderr(&o));
        assert!(stderr(&o).contains("not beside it"), "{}", stderr(&o));
        assert_eq!(live.exists(), was_there);
    }
}

#[test]
fn thousands_of_fragments_do_not_run_the_command_user_out_of_descriptors() {
    let t = Tree::new();
    let u = User::new(&homes(&t), 0o755);
    let dir = t.user_file(&u.name);
    mkdir(&dir, 0o755);
    for i in 0..1100 {
        write(
            &dir.join(format!("{i:05}")),
            format!("{}\n", filler_key(i)),
            0o644,
        );
    }
    let (_, key) = t.keygen("last");
    write(&dir.join("99999-laptop"), format!("{key}\n"), 0o644);
    // sshd starts the command with the system's usual soft limit of 1,024.
    let o = std::process::Command::new("prlimit")
        .args([
            "--nofile=1024:1024",
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "--",
        ])
        .arg(&t.bin)
        .arg("--config")
        .arg(&t.config)
        .args(["keys", &u.name, &fingerprint(&key, "sha256")])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}{:#?}", stderr(&o), t.syslog.drain());
    assert_eq!(stdout(&o), format!("{key}\n"));
}

#[test]
fn odd_arguments_from_sshd_are_judged_as_data() {
    let t = Tree::new();
    let (_, key) = t.keygen("k");
    write(&t.user_file("--"), format!("{key}\n"), 0o644);
    let fp = fingerprint(&key, "sha256");
    // A user called `--`, in every shape sshd's line can have.
    for args in [
        vec!["--"],
        vec!["--", &fp],
        vec!["--", &fp, "/nonexistent", "4242"],
    ] {
        let o = t.keys_as_nobody(&args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), format!("{key}\n"), "{args:?}");
    }
    // `+7` is no hex byte.
    let md5 = fingerprint(&key, "md5");
    let forged = format!("MD5:+{}", &md5[5..]);
    let o = t.keys_as_nobody(&["--", &forged]);
    assert_eq!(code(&o), 65, "{forged}");
    assert!(stdout(&o).is_empty());
}

#[test]
fn other_processes_of_the_command_user_cannot_trace_keyward() {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let t = Tree::new();
    let u = User::new(&homes(&t), 0o755);
    // More than a pipe holds: keyward blocks writing until we read.
    let lines: String = (0..3000).map(|i| filler_key(i) + "\n").collect();
    write(&t.user_file(&u.name), &lines, 0o644);
    let mut child = std::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(&t.bin)
        .arg("--config")
        .arg(&t.config)
        .args(["keys", &u.name])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let proc_dir = std::path::PathBuf::from(format!("/proc/{}", child.id()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut owner = u32::MAX;
    while std::time::Instant::now() < deadline {
        let comm = fs::read_to_string(proc_dir.join("comm")).unwrap_or_default();
        owner = fs::metadata(proc_dir.join("environ"))
            .map(|m| m.uid())
            .unwrap_or(u32::MAX);
        if comm == "keyward\n" && owner == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // A non-dumpable process's /proc files belong to root, and another
    // process of the same user may neither ptrace it nor read its memory.
    assert_eq!(
        owner, 0,
        "keyward is dumpable: its /proc files belong to uid {owner}"
    );
    let peek = std::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "cat"])
        .arg(proc_dir.join("environ"))
        .output()
        .unwrap();
    assert!(!peek.status.success(), "nobody read keyward's environment");
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(out, lines);
}
