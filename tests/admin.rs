//! The admin commands against real users, real homes, a real `sshd -T` and
//! the real binary: add, remove, list, import, check, audit.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, chown, symlink};
use std::process::Command;

use common::*;

#[test]
fn add_checks_every_line_refuses_duplicates_and_writes_root_0644() {
    let t = Tree::new();
    let u = User::new(&homes(&t), 0o755);
    let (_, k1) = t.keygen("one");
    let (_, k2) = t.keygen("two");
    let file = t.root.join("one.pub");
    write(&file, format!("{k1}\n"), 0o644);

    let o = t.admin(&["add", &u.name, file.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&fingerprint(&k1, "sha256")),
        "{}",
        stdout(&o)
    );
    let stored = t.user_file(&u.name);
    let meta = fs::metadata(&stored).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (0, 0, 0o644)
    );
    assert_eq!(fs::read_to_string(&stored).unwrap(), format!("{k1}\n"));

    // The same key again, or a batch with one broken line: nothing changes.
    let o = t.admin(&["add", &u.name, file.to_str().unwrap()]);
    assert_eq!(code(&o), 65);
    assert!(stderr(&o).contains("already in"), "{}", stderr(&o));
    let batch = format!("{k2}\nssh-ed25519 AAAAnot-base64!! broken\n");
    let o = t.admin_with_input(&["add", &u.name, "-"], batch.as_bytes());
    assert_eq!(code(&o), 65);
    assert!(stderr(&o).contains("-:2:"), "{}", stderr(&o));
    assert_eq!(fs::read_to_string(&stored).unwrap(), format!("{k1}\n"));

    // From stdin, CRLF and leading blanks normalised; served to sshd.
    let o = t.admin_with_input(&["add", &u.name], format!("   {k2}\r\n").as_bytes());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        fs::read_to_string(&stored).unwrap(),
        format!("{k1}\n{k2}\n")
    );
    let served = t.keys_as_nobody(&[&u.name, &fingerprint(&k2, "sha256")]);
    assert_eq!(stdout(&served), format!("{k2}\n"));

    // An account that does not exist needs --force.
    let o = t.admin_with_input(&["add", "kwt-nosuchuser"], k1.as_bytes());
    assert_eq!(code(&o), 65);
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    let o = t.admin_with_input(&["add", "--force", "kwt-nosuchuser"], k1.as_bytes());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn add_refuses_hostile_input_without_touching_the_store() {
    let t = Tree::new();
    let u = User::new(&homes(&t), 0o755);
    let (_, k1) = t.keygen("one");
    write(&t.user_file(&u.name), format!("{k1}\n"), 0o644);

    let fifo = t.root.join("fifo");
    mkfifo(&fifo);
    let o = t.admin(&["add", &u.name, fifo.to_str().unwrap()]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));

    let huge = t.root.join("huge");
    let f = fs::File::create(&huge).unwrap();
    f.set_len(100 << 20).unwrap();
    let o = t.admin(&["add", &u.name, huge.to_str().unwrap()]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert!(stderr(&o).contains("larger than"), "{}", stderr(&o));

    for bad in ["../x", "a\nb", "a/b", ""] {
        let o = t.admin_with_input(&["add", "--force", "--", bad], k1.as_bytes());
        assert_ne!(code(&o), 0, "{bad:?}");
    }
    assert_eq!(
        fs::read_to_string(t.user_file(&u.name)).unwrap(),
        format!("{k1}\n")
    );
    let names: Vec<_> = fs::read_dir(t.store.join("users")).unwrap().collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn add_to_a_fragment_directory_writes_its_own_fragment() {
    let t = Tree::new();
    let u = User::new(&homes(&t), 0o755);
    let (_, k1) = t.keygen("one");
    let (_, k2) = t.keygen("two");
    let dir = t.user_file(&u.name);
    mkdir(&dir, 0o755);
    write(&dir.join("10-laptop"), &k1, 0o644);
    let o = t.admin_with_input(&["add", &u.name], k2.as_bytes());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(fs::read_to_string(dir.join("10-laptop")).unwrap(), k1);
    assert_eq!(
        fs::read_to_string(dir.join("keyward")).unwrap(),
        format!("{k2}\n")
    );
    assert_eq!(
        stdout(&t.keys_as_nobody(&[&u.name])),
        format!("{k1}\n{k2}\n")
    );
}

#[test]
fn concurrent_adds_lose_no_line() {
    let t = Tree::new();
    let u = User::new(&homes(&t), 0o755);
    let keys: Vec<String> = (0..16).map(|i| t.keygen(&format!("k{i}")).1).collect();
    let children: Vec<_> = keys
        .iter()
        .map(|k| {
            let mut c = Command::new(&t.bin)
                .arg("--config")
                .arg(&t.config)
                .args(["add", &u.name])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            use std::io::Write;
            c.stdin.take().unwrap().write_all(k.as_bytes()).unwrap();
            c
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let stored = fs::read_to_string(t.user_file(&u.name)).unwrap();
    for k in &keys {
        assert_eq!(stored.matches(k.as_str()).count(), 1, "{k} in {stored}");
    }
    assert_eq!(stored.lines().count(), keys.len());
}

#[test]
fn crash_between_write_and_rename_keeps_the_old_store() {
    let t = Tree::new();
    let u = User::new(&homes(&t), 0o755);
    let (_, k1) = t.keygen("one");
    let (_, k2) = t.keygen("two");
    let (_, k3) = t.keygen("three");
    assert_eq!(
        t.admin_with_input(&["add", &u.name], k1.as_bytes())
            .status
            .code(),
        Some(0)
    );

    // Debug builds abort right before the rename when asked to.
    let mut c = Command::new(&t.bin)
        .arg("--config")
        .arg(&t.config)
        .args(["add", &u.name])
        .env("KEYWARD_TEST_CRASH", "before-rename")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        c.stdin.take().unwrap().write_all(k2.as_bytes()).unwrap();
    }
    let st = c.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(st.signal(), Some(6), "{st:?}");

    // The old file is whole; the synced new one waits in the temp dir.
    assert_eq!(
        fs::read_to_string(t.user_file(&u.name)).unwrap(),
        format!("{k1}\n")
    );
    assert_eq!(stdout(&t.keys_as_nobody(&[&u.name])), format!("{k1}\n"));
    let tmp = t.store.join(".keyward.tmp");
    assert_eq!(fs::read_dir(&tmp).unwrap().count(), 1);
    let o = t.admin(&["audit"]);
    assert!(stdout(&o).contains("interrupted"), "{}", stdout(&o));

    // The next writer clears the leftover and works.
    let o = t.admin_with_input(&["add", &u.name], k3.as_bytes());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
    assert_eq!(
        fs::read_to_string(t.user_file(&u.name)).unwrap(),
        format!("{k1}\n{k3}\n")
    );
}

#[test]
fn remove_by_fingerprint_or_comment_keeps_every_other_byte() {
    let t = Tree::new();
    let u = User::new(&homes(&t), 0o755);
    let (_, k1) = t.keygen("laptop");
    let (_, k2) = t.keygen("desk");
    let (_, k3) = t.keygen("phone");
    let before = format!("# keys of {}\n{k1}\n\n{k2}\nnot a key line\n{k3}", u.name);
    write(&t.user_file(&u.name), &before, 0o644);

    let o = t.admin(&["remove", &u.name, &fingerprint(&k2, "sha256")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains(":4: ssh-ed25519"), "{}", stdout(&o));
    let o = t.admin(&["remove", &u.name, "phone"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        fs::read_to_string(t.user_file(&u.name)).unwrap(),
        format!("# keys of {}\n{k1}\n\nnot a key line", u.name)
    );
    let o = t.admin(&["remove", &u.name, &fingerprint(&k3, "md5")]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("nothing removed"), "{}", stderr(&o));
}

#[test]
fn list_shows_each_key_with_expiry_and_source() {
    let t = Tree::new();
    let u = User::new(&homes(&t), 0o755);
    let (_, k1) = t.keygen("laptop");
    let (_, rsa) = keygen(&t.root.join("keys"), "desk", "rsa");
    write(
        &t.user_file(&u.name),
        format!("expiry-time=\"20200101\" {k1}\nrestrict {rsa}\n"),
        0o644,
    );
    let o = t.admin(&["list", &u.name]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.starts_with("USER "), "{text}");
    assert!(text.contains(&fingerprint(&k1, "sha256")), "{text}");
    let rows = json(&t.admin(&["list", "--json"]));
    let rows = rows.as_array().unwrap();
    let row = |fp: &str| {
        rows.iter()
            .find(|r| r["fingerprint"] == fp)
            .unwrap_or_else(|| panic!("{fp} not in {rows:?}"))
    };
    let a = row(&fingerprint(&k1, "sha256"));
    assert_eq!(a["user"], u.name.as_str());
    assert_eq!(a["type"], "ssh-ed25519");
    assert_eq!(a["bits"], 256);
    assert_eq!(a["expired"], true);
    assert_eq!(a["comment"], "laptop");
    assert_eq!(a["line"], 1);
    let b = row(&fingerprint(&rsa, "sha256"));
    assert_eq!(b["bits"], 3072);
    assert_eq!(b["options"], "restrict");
    assert_eq!(b["expired"], false);
}

#[test]
fn import_takes_valid_keys_skips_the_rest_and_changes_no_home() {
    let t = Tree::new();
    // The Synology case: a 0777 home that sshd refuses.
    let u = User::new(&homes(&t), 0o777);
    let (_, k1) = t.keygen("laptop");
    let (_, k2) = t.keygen("desk");
    let (_, secret) = t.keygen("secret");
    write(&t.user_file(&u.name), format!("{k2}\n"), 0o644);
    let own = u.own_authorized_keys(
        &format!("{k1}\n{k2}\nssh-ed25519 !!! broken\n{k1}\n"),
        0o644,
    );
    // authorized_keys2: a hard link to a root-only file the user cannot read.
    let private = t.root.join("root-only");
    write(&private, format!("{secret}\n"), 0o600);
    let second = u.home.join(".ssh/authorized_keys2");
    fs::hard_link(&private, &second).unwrap();
    let before = fs::read(&own).unwrap();
    let mtime = fs::metadata(&own).unwrap().mtime_nsec();
    let config = t.sshd_config(
        22,
        "AuthorizedKeysFile .ssh/authorized_keys .ssh/authorized_keys2\n",
    );
    // The admin vouches for this home (tests/security.rs: what happens
    // without that).
    let sshd = [
        "--sshd-config",
        config.to_str().unwrap(),
        "--accept-unsafe-home",
        &u.name,
    ];

    let o = t.admin(&[&["import", "--dry-run"][..], &sshd, &[&u.name]].concat());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("1 key(s) to take, 3 line(s) skipped"),
        "{text}"
    );
    assert!(text.contains("is already in"), "{text}");
    assert!(text.contains("not readable by its user"), "{text}");
    assert!(text.contains("dry run: nothing written"), "{text}");
    assert_eq!(
        fs::read_to_string(t.user_file(&u.name)).unwrap(),
        format!("{k2}\n")
    );

    let o = t.admin(&[&["import", "--json"][..], &sshd, &[&u.name]].concat());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let report = json(&o);
    let user = &report["users"][0];
    assert_eq!(user["taken"].as_array().unwrap().len(), 1);
    assert_eq!(user["skipped"].as_array().unwrap().len(), 3);
    assert_eq!(user["files"][1]["status"], "refused");
    assert_eq!(
        fs::read_to_string(t.user_file(&u.name)).unwrap(),
        format!("{k2}\n{k1}\n")
    );
    assert!(
        !fs::read_to_string(t.user_file(&u.name))
            .unwrap()
            .contains(&secret)
    );
    // Homes are only read.
    assert_eq!(fs::read(&own).unwrap(), before);
    assert_eq!(fs::metadata(&own).unwrap().mtime_nsec(), mtime);
}

#[test]
fn import_follows_no_symlink_and_reads_no_fifo() {
    let t = Tree::new();
    let u = User::new(&homes(&t), 0o755);
    let (_, k1) = t.keygen("outside");
    let outside = t.root.join("outside.pub");
    write(&outside, format!("{k1}\n"), 0o644);
    let ssh = u.home.join(".ssh");
    mkdir(&ssh, 0o700);
    symlink(&outside, ssh.join("authorized_keys")).unwrap();
    let fifo = ssh.join("authorized_keys2");
    mkfifo(&fifo);
    for p in [&ssh, &fifo] {
        chown(p, Some(u.uid), Some(u.gid)).unwrap();
    }
    let config = t.sshd_config(
        22,
        "AuthorizedKeysFile .ssh/authorized_keys .ssh/authorized_keys2\n",
    );
    let o = t.admin(&["import", "--sshd-config", config.to_str().unwrap(), &u.name]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("is a symbolic link"), "{text}");
    assert!(text.contains("not a regular file"), "{text}");
    assert!(!t.user_file(&u.name).exists());
}

/// `keyward check` for the Synology case, against the tree's sshd config.
#[test]
fn check_explains_the_synology_home_step_by_step() {
    let t = Tree::new();
    let u = User::new(&homes(&t), 0o777);
    let (_, k1) = t.keygen("laptop");
    u.own_authorized_keys(&format!("{k1}\n"), 0o600);
    write(&t.user_file(&u.name), format!("{k1}\n"), 0o644);
    let config = t.sshd_config(22, "");
    let o = t.admin(&["check", "--sshd-config", config.to_str().unwrap(), &u.name]);
    let text = stdout(&o);
    // The home is unsafe, but the store key works: login works, exit 0.
    assert_eq!(code(&o), 0, "{text}{}", stderr(&o));
    assert!(
        text.contains("ok:      sshd: PubkeyAuthentication yes"),
        "{text}"
    );
    // Lines come in the order they refer to each other.
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle}: {text}"))
    };
    assert!(
        at("ok:      store: 1 key(s)") < at("as nobody: exit 0"),
        "{text}"
    );
    // Where to read keyward's messages: journalctl only where journald runs.
    if std::path::Path::new("/run/systemd/journal/socket").exists() {
        assert!(text.contains("journalctl -t keyward"), "{text}");
    } else {
        assert!(!text.contains("journalctl"), "{text}");
        assert!(text.contains("/var/log/auth.log"), "{text}");
    }
    // The probe run is check's business, not a lookup sshd made.
    let logged = t.syslog.drain();
    assert!(
        logged.iter().all(|m| !m.text.contains("found at")),
        "{logged:#?}"
    );
    assert!(
        text.contains("ok:      sshd: AuthorizedKeysCommandUser nobody"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "as nobody: exit 0, key {} ({}:1) is served",
            fingerprint(&k1, "sha256"),
            t.user_file(&u.name).display()
        )),
        "{text}"
    );
    assert!(text.contains("ok:      store: 1 key(s)"), "{text}");
    assert!(
        text.contains(&format!(
            "warning: sshd refuses {}/.ssh/authorized_keys of user {}: directory {0} is group- and \
             world-writable (mode 0777, owner {1})",
            u.home.display(),
            u.name,
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("fix: chmod go-w {}", u.home.display())),
        "{text}"
    );
    let report = json(&t.admin(&[
        "check",
        "--json",
        "--sshd-config",
        config.to_str().unwrap(),
        &u.name,
    ]));
    let levels: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["level"].as_str().unwrap())
        .collect();
    assert!(
        levels.contains(&"warning") && !levels.contains(&"error"),
        "{levels:?}"
    );

    // A home the admin accepts: check and audit say so.
    t.write_config(&format!(
        "[home_check]\naccepted_homes = [\"{}/*\"]",
        homes(&t).display()
    ));
    let text = stdout(&t.admin(&["check", "--sshd-config", config.to_str().unwrap(), &u.name]));
    assert!(
        text.contains("(accepted in keyward.toml: logged at info)")
            && !text.contains("\nwarning: sshd refuses"),
        "{text}"
    );
    let audit = stdout(&t.admin(&["audit"]));
    assert!(
        audit.contains("home warnings lowered to info (accepted in keyward.toml)"),
        "{audit}"
    );
    t.write_config("");

    // Without a store key the login fails: exit 1, and no fingerprint is
    // made up to try the command with.
    fs::remove_file(t.user_file(&u.name)).unwrap();
    let o = t.admin(&["check", "--sshd-config", config.to_str().unwrap(), &u.name]);
    let text = stdout(&o);
    assert_eq!(code(&o), 1, "{text}");
    assert!(
        text.contains("the command was not tried: the store has no usable key"),
        "{text}"
    );
    assert!(!text.contains("SHA256:AAAA"), "{text}");
    assert!(
        text.contains(&format!("error:   no key login works for {}", u.name)),
        "{text}"
    );
}

#[test]
fn check_names_what_breaks_the_command_line() {
    let t = Tree::new();
    let u = User::new(&homes(&t), 0o755);
    let (_, k1) = t.keygen("laptop");
    write(&t.user_file(&u.name), format!("{k1}\n"), 0o644);
    let bin = t.bin.display().to_string();
    let cfg = t.config.display().to_string();
    let cases = [
        (
            format!("AuthorizedKeysCommand {bin} --config {cfg} keys %u %f # keyward\n"),
            "sshd passes a trailing comment as arguments",
        ),
        (
            format!("AuthorizedKeysCommand {bin} --config {cfg} keys %u %C\n"),
            "uses %C, which OpenSSH 9.2p1 (Debian) does not expand",
        ),
        (
            format!("AuthorizedKeysCommand {bin} --config {cfg} keys %u %t\n"),
            "the second argument is \"%t\", not %k or %f",
        ),
        (
            format!("AuthorizedKeysCommand {bin} --config {cfg} keys %u %f %U %h\n"),
            "are \"%U %h\", not %h %U",
        ),
        (
            "AuthorizedKeysCommand /usr/bin/true %u\n".to_string(),
            "not keyward",
        ),
        (
            format!(
                "AuthorizedKeysCommandUser kwt-nosuchuser\nAuthorizedKeysCommand {bin} --config {cfg} keys %u %f\n"
            ),
            "AuthorizedKeysCommandUser kwt-nosuchuser does not exist",
        ),
        (
            "PubkeyAuthentication no\n".to_string(),
            "PubkeyAuthentication no",
        ),
    ];
    for (extra, want) in cases {
        let config = t.sshd_config(22, &extra);
        let o = t.admin(&["check", "--sshd-config", config.to_str().unwrap(), &u.name]);
        let text = stdout(&o);
        assert_eq!(code(&o), 1, "{extra}: {text}{}", stderr(&o));
        let line = text
            .lines()
            .find(|l| l.contains(want))
            .unwrap_or_else(|| panic!("{extra}: no {want:?} in\n{text}"));
        assert!(line.starts_with("error:"), "{line}");
    }

    // A binary sshd will not run, and a store nobody cannot read.
    let bad = t.root.join("open");
    mkdir(&bad, 0o777);
    let st = Command::new("install")
        .args(["-m", "0755"])
        .arg(&t.bin)
        .arg(bad.join("keyward"))
        .status()
        .unwrap();
    assert!(st.success());
    let config = t.sshd_config(
        22,
        &format!(
            "AuthorizedKeysCommand {} --config {cfg} keys %u %f\n",
            bad.join("keyward").display()
        ),
    );
    let text = stdout(&t.admin(&["check", "--sshd-config", config.to_str().unwrap(), &u.name]));
    assert!(
        text.contains(&format!("fix: chmod go-w {}", bad.display())),
        "{text}"
    );
    chmod(&t.user_file(&u.name), 0o600);
    let config = t.sshd_config(22, "");
    let text = stdout(&t.admin(&["check", "--sshd-config", config.to_str().unwrap(), &u.name]));
    assert!(text.contains("as nobody exits 74"), "{text}");
}

#[test]
fn audit_finds_every_kind_of_problem_and_exits_1() {
    let t = Tree::new();
    let u = User::new(&homes(&t), 0o755);
    let (_, k1) = t.keygen("laptop");
    let (_, k2) = t.keygen("desk");
    write(&t.user_file(&u.name), format!("{k1}\n"), 0o644);
    let o = t.admin(&["audit"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("1 user(s), 1 key(s), nothing to fix"),
        "{}",
        stdout(&o)
    );

    write(
        &t.user_file(&u.name),
        format!("{k1}\nexpiry-time=\"20200101\" {k2}\nbogus line\n{k1}\n"),
        0o644,
    );
    write(&t.user_file("kwt-gone"), format!("{k2}\n"), 0o644);
    let tampered = User::new(&homes(&t), 0o755);
    write(&t.user_file(&tampered.name), format!("{k2}\n"), 0o664);
    let o = t.admin(&["audit"]);
    let text = stdout(&o);
    assert_eq!(code(&o), 1, "{text}");
    let f = t.user_file(&u.name).display().to_string();
    for want in [
        format!(
            "warning: {f}:2: key {} of {} is past its expiry-time",
            fingerprint(&k2, "sha256"),
            u.name
        ),
        format!("warning: {f}:3: line skipped"),
        format!(
            "warning: {f}:4: key {} of {} is already at {f}:1",
            fingerprint(&k1, "sha256"),
            u.name
        ),
        "no user kwt-gone in the user database".to_string(),
        format!(
            "error:   {} is owned by root (uid 0) with mode 0664",
            t.user_file(&tampered.name).display()
        ),
    ] {
        assert!(text.contains(&want), "{want}\n{text}");
    }
    let report = json(&t.admin(&["audit", "--json"]));
    assert_eq!(report["users"], 3);
    assert!(report["findings"].as_array().unwrap().len() >= 5);
}

#[test]
fn big_users_are_served_through_an_index_that_never_goes_stale() {
    let t = Tree::new();
    let u = User::new(&homes(&t), 0o755);
    let (_, k1) = t.keygen("laptop");
    let (_, k2) = t.keygen("desk");
    let (_, ca) = t.keygen("ca");
    let filler = |r: std::ops::Range<u32>| r.map(|i| filler_key(i) + "\n").collect::<String>();
    let lines = format!(
        "{}{k1}\ncert-authority {ca}\n{}",
        filler(0..2000),
        filler(2000..4000)
    );
    let input = t.root.join("big.pub");
    write(&input, &lines, 0o644);
    let o = t.admin(&["add", &u.name, input.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let index = t.store.join("index").join(&u.name);
    let meta = fs::metadata(&index).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o644));

    // Through the index: the key and the CA line, in file order.
    t.syslog.drain();
    let o = t.keys_as_nobody(&[&u.name, &fingerprint(&k1, "sha256")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("{k1}\ncert-authority {ca}\n"));
    expect_msg(
        &t.syslog.drain(),
        INFO,
        &["found at", ":2001 (via the index)"],
    );

    // A hand edit makes the index stale: the files are read in full, the
    // new key is served, and the admin is told how to refresh the index.
    use std::io::Write;
    let stored = t.user_file(&u.name);
    fs::OpenOptions::new()
        .append(true)
        .open(&stored)
        .unwrap()
        .write_all(format!("{k2}\n").as_bytes())
        .unwrap();
    let o = t.keys_as_nobody(&[&u.name, &fingerprint(&k2, "sha256")]);
    assert_eq!(stdout(&o), format!("cert-authority {ca}\n{k2}\n"));
    let msgs = t.syslog.drain();
    expect_msg(
        &msgs,
        NOTICE,
        &["does not match the store files", "keyward index"],
    );
    assert!(
        !msgs.iter().any(|m| m.text.contains("via the index")),
        "{msgs:#?}"
    );
    let o = t.admin(&["audit"]);
    assert!(stdout(&o).contains("out of date"), "{}", stdout(&o));
    assert_eq!(code(&o), 1);

    let o = t.admin(&["index"]);
    assert_eq!(stdout(&o), format!("{}: index written\n", u.name));
    let o = t.keys_as_nobody(&[&u.name, &fingerprint(&k2, "sha256")]);
    assert_eq!(stdout(&o), format!("cert-authority {ca}\n{k2}\n"));
    expect_msg(&t.syslog.drain(), INFO, &["(via the index)"]);

    // The index is part of the store: a writable one fails closed.
    chmod(&index, 0o666);
    let o = t.keys_as_nobody(&[&u.name, &fingerprint(&k2, "sha256")]);
    assert_eq!(code(&o), 77);
    assert_eq!(stdout(&o), "");
    chmod(&index, 0o644);

    // Removing keys until the user is small drops the index.
    fs::write(&stored, "").unwrap();
    let o = t.admin(&["index", &u.name]);
    assert!(stdout(&o).contains("no index"), "{}", stdout(&o));
    assert!(!index.exists());
}

/// Runs `keyward ARGS` with a terminal on stdin, the way a person types it.
fn on_a_terminal(t: &Tree, args: &str) -> std::process::Output {
    Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "{} --config {} {args}",
            t.bin.display(),
            t.config.display()
        ))
        .arg("/dev/null")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn what_a_new_admin_stumbles_on_is_said_plainly() {
    let t = Tree::new();
    let u = User::new(&homes(&t), 0o755);
    let (private, k1) = t.keygen("shared");
    let (_, k2) = t.keygen("shared2");
    let k2 = k2.replace("shared2", "shared");
    let before = format!("{k1}\n{k2}\n");
    write(&t.user_file(&u.name), &before, 0o644);

    // remove: two keys share the comment; nothing goes without --all.
    let o = t.admin(&["remove", &u.name, "shared"]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("2 keys match; nothing removed. Add --all"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains(&fingerprint(&k2, "sha256")),
        "{}",
        stderr(&o)
    );
    let o = t.admin(&["remove", "--dry-run", &u.name, "shared"]);
    assert_eq!(code(&o), 0);
    assert!(
        stdout(&o).contains("dry run: would remove 2 key(s)"),
        "{}",
        stdout(&o)
    );
    assert_eq!(fs::read_to_string(t.user_file(&u.name)).unwrap(), before);
    let o = t.admin(&["remove", "--all", &u.name, "shared"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(fs::read_to_string(t.user_file(&u.name)).unwrap(), "");

    // add: a private key is named, never echoed; --dry-run writes nothing.
    let o = t.admin(&["add", &u.name, private.to_str().unwrap()]);
    assert_eq!(code(&o), 65);
    assert!(
        stderr(&o).contains("is a private key; nothing added"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains(".pub"), "{}", stderr(&o));
    let secret = fs::read_to_string(&private).unwrap();
    let body = secret.lines().nth(1).unwrap();
    assert!(!stderr(&o).contains(body) && !stdout(&o).contains(body));
    let o = t.admin_with_input(&["add", "--dry-run", &u.name, "-"], k1.as_bytes());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("dry run: would add 1 key(s)"),
        "{}",
        stdout(&o)
    );
    assert_eq!(fs::read_to_string(t.user_file(&u.name)).unwrap(), "");

    // On a terminal: add says where it reads; keys --help is help, not a
    // lookup (sshd's stdin is never a terminal, so a user "--help" still is).
    let o = on_a_terminal(&t, &format!("add {}", u.name));
    assert!(
        stdout(&o).contains("reading key lines for"),
        "{}",
        stdout(&o)
    );
    let o = on_a_terminal(&t, "keys --help");
    assert_eq!(code(&o), 64, "{}", stdout(&o));
    assert!(stdout(&o).contains("usage: keyward"), "{}", stdout(&o));
    assert!(t.syslog.drain().iter().all(|m| !m.text.contains("--help")));
    let o = t.keys_as_nobody(&["--help"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).is_empty());

    // list: an unknown user is named as such.
    let o = t.admin(&["list", "kwt-nosuchuser"]);
    assert!(
        stderr(&o).contains("no user kwt-nosuchuser in the user database"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn config_shows_the_effective_settings_or_each_problem_at_its_line() {
    let t = Tree::new();
    let o = t.admin(&["config"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains(&format!("read from {}", t.config.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("store = \"{}\"", t.store.display())),
        "{text}"
    );
    assert!(text.contains("warn_interval = 0"), "{text}");

    write(
        &t.config,
        "store = \"relative\"\n[syslog]\nsocket = \"/dev/log\"\nfacility = \"nosuch\"\n",
        0o644,
    );
    let o = t.admin(&["config"]);
    assert_eq!(code(&o), 78);
    let cfg = t.config.display().to_string();
    assert_eq!(
        stdout(&o).lines().collect::<Vec<_>>(),
        [
            format!("error: {cfg}:1: store = \"relative\" must be an absolute path"),
            format!(
                "error: {cfg}:4: [syslog] facility = \"nosuch\" is not a syslog facility (try \"authpriv\" or \"auth\")"
            ),
        ]
    );
    write(&t.config, "[home_check]\nenabled = maybe\n", 0o644);
    let o = t.admin(&["config"]);
    assert_eq!(code(&o), 78);
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!("error: {cfg}:2: ")),
        "{lines:?}"
    );
}

/// `check` exits 0 exactly when a login works, whatever carries the key:
/// an unsafe store file fails keyward closed, but the user's own file in a
/// safe home still logs them in.
#[test]
fn check_exit_says_whether_login_works_whatever_source_carries_the_key() {
    let t = Tree::new();
    let u = User::new(&homes(&t), 0o755);
    let (_, k) = t.keygen("own");
    u.own_authorized_keys(&format!("{k}\n"), 0o600);
    write(&t.user_file(&u.name), format!("{k}\n"), 0o664);
    let config = t.sshd_config(22, "");
    let check = || t.admin(&["check", "--sshd-config", config.to_str().unwrap(), &u.name]);
    let o = check();
    let text = stdout(&o);
    assert_eq!(code(&o), 0, "{text}{}", stderr(&o));
    assert!(
        text.contains("warning: store: keyward serves nothing"),
        "{text}"
    );
    // Without the user's own file nothing works: exit 1, and why.
    std::fs::remove_file(u.home.join(".ssh/authorized_keys")).unwrap();
    let o = check();
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("keyward serves nothing (the store, above)"),
        "{}",
        stdout(&o)
    );
}

/// An account that does not exist: check says so and what to do, and
/// suggests nothing that needs the account (no `keyward import`).
#[test]
fn check_of_an_unknown_user_suggests_no_import() {
    let t = Tree::new();
    let config = t.sshd_config(22, "");
    let o = t.admin(&[
        "check",
        "--sshd-config",
        config.to_str().unwrap(),
        "kwtnosuchuser",
    ]);
    let text = stdout(&o);
    assert_eq!(code(&o), 1, "{text}");
    assert!(
        text.contains("no user kwtnosuchuser in the user database"),
        "{text}"
    );
    assert!(!text.contains("keyward import"), "{text}");
}
