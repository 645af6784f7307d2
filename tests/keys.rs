//! `keyward keys` as sshd runs it: the built binary, copied into a root-owned
//! tree, run as nobody, its syslog lines received on a real socket.

mod common;

use std::fs;
use std::os::unix::fs::{chown, symlink};
use std::path::Path;

use common::*;

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
fn serves_all_lines_or_the_one_for_the_fingerprint() {
    let t = Tree::new();
    let (_, a) = t.keygen("a");
    let (_, b) = t.keygen("b");
    let (_, ec) = keygen(&t.root.join("keys"), "ec", "ecdsa");
    write(&t.user_file("alice"), format!("{a}\n{b}\n{ec}\n"), 0o644);

    let all = t.keys_as_nobody(&["alice"]);
    assert_eq!(all.status.code(), Some(0), "{all:?}");
    assert_eq!(
        lines(&stdout(&all)),
        vec![a.as_str(), b.as_str(), ec.as_str()]
    );

    for hash in ["sha256", "md5"] {
        let fp = fingerprint(&b, hash);
        let one = t.keys_as_nobody(&["alice", &fp]);
        assert_eq!(one.status.code(), Some(0), "{one:?}");
        assert_eq!(lines(&stdout(&one)), vec![b.as_str()], "{hash}");
    }
    let msgs = t.syslog.drain();
    let fp = fingerprint(&b, "sha256");
    let served = expect_msg(&msgs, INFO, &[&fp, "found at", "users/alice:2"]);
    assert_eq!(served.facility, AUTHPRIV);

    // A key that is not in the store: nothing, and still success.
    let (_, other) = t.keygen("other");
    let none = t.keys_as_nobody(&["alice", &fingerprint(&other, "sha256")]);
    assert_eq!(none.status.code(), Some(0));
    assert_eq!(stdout(&none), "");
    expect_msg(
        &t.syslog.drain(),
        INFO,
        &["no key in the store has fingerprint"],
    );
}

#[test]
fn same_answer_every_time_and_as_root() {
    let t = Tree::new();
    let (_, a) = t.keygen("a");
    write(&t.user_file("alice"), format!("# mine\n{a}\n"), 0o644);
    let first = t.keys_as_nobody(&["alice"]);
    for _ in 0..3 {
        assert_eq!(t.keys_as_nobody(&["alice"]).stdout, first.stdout);
    }
    assert_eq!(t.keys_as_root(&["alice"]).stdout, first.stdout);
}

#[test]
fn comments_blanks_crlf_and_missing_final_newline() {
    let t = Tree::new();
    let (_, a) = t.keygen("a");
    let (_, b) = t.keygen("b");
    write(
        &t.user_file("alice"),
        format!(
            "# comment\n\n   \r\n  {a}\r\n\t# indented\nrestrict,command=\"echo \\\"hi\\\"\" {b}"
        ),
        0o644,
    );
    let out = t.keys_as_nobody(&["alice"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        format!("{a}\nrestrict,command=\"echo \\\"hi\\\"\" {b}\n")
    );
}

#[test]
fn invalid_lines_are_skipped_and_logged_with_file_and_line() {
    let t = Tree::new();
    let (_, a) = t.keygen("a");
    let blob = a.split_whitespace().nth(1).unwrap();
    let bad = [
        format!("ssh-foo {blob}"),          // 1: unknown type
        "ssh-ed25519 AAAA!!!!".to_string(), // 2: bad base64
        format!("ssh-rsa {blob}"),          // 3: type/blob mismatch
        format!("command=\"oops {a}"),      // 4: unterminated quote
        format!("no-bogus {a}"),            // 5: unknown option
        format!("principals=\"x\" {a}"),    // 6: principals on a plain key
    ];
    let mut content = bad.join("\n");
    content.push_str(&format!("\n{a}\n"));
    write(&t.user_file("alice"), &content, 0o644);

    let out = t.keys_as_nobody(&["alice"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), format!("{a}\n"));
    let msgs = t.syslog.drain();
    let file = t.user_file("alice").display().to_string();
    for (line, reason) in [
        (1, "unknown key type"),
        (2, "not valid base64"),
        (3, "does not match the key"),
        (4, "unterminated quote"),
        (5, "unknown key option"),
        (6, "principals= without cert-authority"),
    ] {
        expect_msg(
            &msgs,
            WARNING,
            &[&format!("{file}:{line}: line skipped"), reason],
        );
    }
}

#[test]
fn binary_garbage_is_skipped_not_served() {
    let t = Tree::new();
    let (_, a) = t.keygen("a");
    let mut data: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    data.extend_from_slice(format!("\n{a}\n").as_bytes());
    write(&t.user_file("alice"), &data, 0o644);
    let out = t.keys_as_nobody(&["alice"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), format!("{a}\n"));
}

#[test]
fn cert_authority_lines_come_with_any_fingerprint() {
    let t = Tree::new();
    let (_, ca) = t.keygen("ca");
    let (_, user) = t.keygen("user");
    write(
        &t.user_file("alice"),
        format!("cert-authority,principals=\"alice\" {ca}\n{user}\n"),
        0o644,
    );
    let (_, unrelated) = t.keygen("unrelated");
    let out = t.keys_as_nobody(&["alice", &fingerprint(&unrelated, "sha256")]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        format!("cert-authority,principals=\"alice\" {ca}\n")
    );
}

#[test]
fn fragment_directory_is_read_in_name_order_skipping_leftovers() {
    let t = Tree::new();
    let dir = t.user_file("alice");
    mkdir(&dir, 0o755);
    let (_, a) = t.keygen("a");
    let (_, b) = t.keygen("b");
    let (_, junk) = t.keygen("junk");
    write(&dir.join("20-laptop"), format!("{b}\n"), 0o644);
    write(&dir.join("10-desktop"), format!("{a}\n"), 0o644);
    for leftover in [".hidden", "30-old~", "40.dpkg-old", "50.rpmnew", "60.swp"] {
        write(&dir.join(leftover), format!("{junk}\n"), 0o644);
    }
    let out = t.keys_as_nobody(&["alice"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(lines(&stdout(&out)), vec![a.as_str(), b.as_str()]);
}

#[test]
fn nothing_in_the_store_is_no_keys_and_success() {
    let t = Tree::new();
    for user in ["nosuchuser", "-x", "--help", "-h"] {
        let out = t.keys_as_nobody(&[user]);
        assert_eq!(out.status.code(), Some(0), "{user}: {out:?}");
        assert_eq!(stdout(&out), "");
    }
    fs::remove_dir(t.store.join("users")).unwrap();
    let out = t.keys_as_nobody(&["alice"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "");
}

#[test]
fn missing_store_root_is_a_config_error() {
    let t = Tree::new();
    fs::remove_dir_all(&t.store).unwrap();
    let out = t.keys_as_nobody(&["alice"]);
    assert_eq!(out.status.code(), Some(78));
    assert_eq!(stdout(&out), "");
    expect_msg(&t.syslog.drain(), ERR, &["does not exist", "install -d"]);
}

#[test]
fn hostile_user_names_are_refused_before_any_file_is_read() {
    let t = Tree::new();
    let (_, a) = t.keygen("a");
    // A key an attacker would like to reach through "../".
    write(&t.store.join("x"), format!("{a}\n"), 0o644);
    let long = "a".repeat(10 * 1024);
    for (user, why) in [
        ("../x", "contains '/'"),
        ("..", "\".\" or \"..\""),
        ("", "empty"),
        ("a\nb", "control characters"),
        (long.as_str(), "10240 bytes long"),
    ] {
        let out = t.keys_as_nobody(&[user]);
        assert_eq!(out.status.code(), Some(65), "{user:?}");
        assert_eq!(stdout(&out), "");
        let msgs = t.syslog.drain();
        let m = expect_msg(&msgs, ERR, &["refusing lookup", why]);
        assert!(!m.text.contains('\n'), "log line injection: {m:?}");
        assert!(m.text.len() < 400, "name not truncated: {}", m.text.len());
    }
}

#[test]
fn bad_fingerprint_argument_fails_closed() {
    let t = Tree::new();
    let (_, a) = t.keygen("a");
    write(&t.user_file("alice"), format!("{a}\n"), 0o644);
    let out = t.keys_as_nobody(&["alice", "SHA256:nope"]);
    assert_eq!(out.status.code(), Some(65));
    assert_eq!(stdout(&out), "");
    expect_msg(
        &t.syslog.drain(),
        ERR,
        &["second argument is not a key fingerprint"],
    );
    // Nor is anything that is not a key a %k.
    for bad in ["AAAA", "not base64!", "c3NoLWVkMjU1MTk="] {
        let out = t.keys_as_nobody(&["alice", bad]);
        assert_eq!(out.status.code(), Some(65), "{bad}");
        assert_eq!(stdout(&out), "");
        expect_msg(
            &t.syslog.drain(),
            ERR,
            &["second argument is not a key as sshd's %k gives it"],
        );
    }
}

fn assert_refused(t: &Tree, parts: &[&str]) {
    let out = t.keys_as_nobody(&["alice"]);
    assert_eq!(out.status.code(), Some(77), "{out:?}");
    assert_eq!(stdout(&out), "", "fail closed: nothing on stdout");
    expect_msg(&t.syslog.drain(), ERR, parts);
}

#[test]
fn tampered_store_fails_closed_with_the_reason_and_fix() {
    let t = Tree::new();
    let (_, a) = t.keygen("a");
    let file = t.user_file("alice");
    let p = file.display().to_string();
    write(&file, format!("{a}\n"), 0o664);
    assert_refused(
        &t,
        &[
            &p,
            "mode 0664 (group-writable)",
            &format!("fix: chmod g-w {p}"),
        ],
    );

    chmod(&file, 0o646);
    assert_refused(&t, &[&p, "(world-writable)", "chmod o-w"]);

    chmod(&file, 0o644);
    chown(&file, Some(65534), None).unwrap();
    assert_refused(
        &t,
        &[
            &p,
            "owned by nobody (uid 65534)",
            &format!("chown root:root {p}"),
        ],
    );
    chown(&file, Some(0), None).unwrap();

    // An unsafe directory anywhere above the entry poisons the whole lookup.
    let users = t.store.join("users");
    chmod(&users, 0o777);
    assert_refused(&t, &[&users.display().to_string(), "chmod go-w"]);
    chmod(&users, 0o755);
    chmod(&t.store, 0o775);
    assert_refused(&t, &[&t.store.display().to_string(), "chmod g-w"]);
    chmod(&t.store, 0o755);

    assert_eq!(t.keys_as_nobody(&["alice"]).status.code(), Some(0));
}

#[test]
fn symlinks_fifos_and_directories_where_files_belong_fail_closed() {
    let t = Tree::new();
    let (_, a) = t.keygen("a");
    let real = t.store.join("real");
    write(&real, format!("{a}\n"), 0o644);
    let entry = t.user_file("alice");

    symlink(&real, &entry).unwrap();
    assert_refused(&t, &["symbolic link"]);
    fs::remove_file(&entry).unwrap();

    nix::unistd::mkfifo(&entry, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    assert_refused(&t, &["is a FIFO"]);
    fs::remove_file(&entry).unwrap();

    // Inside a fragment directory.
    mkdir(&entry, 0o755);
    write(&entry.join("10-ok"), format!("{a}\n"), 0o644);
    symlink(&real, entry.join("20-link")).unwrap();
    assert_refused(&t, &["20-link", "symbolic link"]);
    fs::remove_file(entry.join("20-link")).unwrap();
    mkdir(&entry.join("30-subdir"), 0o755);
    assert_refused(&t, &["30-subdir", "directory"]);
    fs::remove_dir(entry.join("30-subdir")).unwrap();

    // The store root itself behind a symlink.
    let link = t.root.join("store-link");
    symlink(&t.store, &link).unwrap();
    fs::write(
        &t.config,
        format!(
            "store = \"{}\"\n[syslog]\nsocket = \"{}\"\n",
            link.display(),
            t.syslog.path.display()
        ),
    )
    .unwrap();
    assert_refused(&t, &["store-link", "symbolic link"]);
}

#[test]
fn oversized_store_file_fails_closed() {
    let t = Tree::new();
    let file = t.user_file("alice");
    let f = fs::File::create(&file).unwrap();
    f.set_len(65 * 1024 * 1024).unwrap(); // sparse: no disk used
    chmod(&file, 0o644);
    assert_refused(&t, &["bytes, over the limit"]);
}

#[test]
fn config_errors_fail_closed() {
    let t = Tree::new();
    let (_, a) = t.keygen("a");
    write(&t.user_file("alice"), format!("{a}\n"), 0o644);
    let run = |t: &Tree| {
        let out = t.keys_as_nobody(&["alice"]);
        assert_eq!(stdout(&out), "");
        out.status.code()
    };
    // The errors go to the default /dev/log, which the test cannot read; the
    // exit codes and an empty stdout are what sshd sees.
    write(&t.config, "store = [broken", 0o644);
    assert_eq!(run(&t), Some(78));
    write(&t.config, "stroe = \"/etc/keyward\"\n", 0o644);
    assert_eq!(run(&t), Some(78));
    t.write_config("");
    chmod(&t.config, 0o666);
    assert_eq!(run(&t), Some(77));
    fs::remove_file(&t.config).unwrap();
    assert_eq!(run(&t), Some(78), "a missing --config file is an error");
}

#[test]
fn unreachable_syslog_falls_back_to_stderr_and_changes_nothing() {
    let t = Tree::new();
    let (_, a) = t.keygen("a");
    write(&t.user_file("alice"), format!("{a}\n"), 0o644);
    fs::write(
        &t.config,
        format!(
            "store = \"{}\"\n[syslog]\nsocket = \"/nonexistent/log\"\n",
            t.store.display()
        ),
    )
    .unwrap();
    let out = t.keys_as_nobody(&["alice"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), format!("{a}\n"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("keyward: info: user alice: served 1"),
        "{err}"
    );
}

// --- the home check, with real users -------------------------------------

fn home_tree() -> (Tree, std::path::PathBuf) {
    let t = Tree::new();
    let homes = t.root.join("homes");
    mkdir(&homes, 0o755);
    (t, homes)
}

#[test]
fn synology_home_0777_gets_a_warning_with_path_mode_and_fix() {
    let (t, homes) = home_tree();
    let u = User::new(&homes, 0o777);
    let (_, key) = t.keygen("k");
    u.own_authorized_keys(&format!("{key}\n"), 0o600);
    write(&t.user_file(&u.name), format!("{key}\n"), 0o644);

    let out = t.keys_as_nobody(&[&u.name]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the home check never changes the result"
    );
    assert_eq!(stdout(&out), format!("{key}\n"));
    let home = u.home.display().to_string();
    let msgs = t.syslog.drain();
    let m = expect_msg(
        &msgs,
        WARNING,
        &[&format!(
            "warning: sshd refuses {home}/.ssh/authorized_keys of user {}, if it exists ({home}/.ssh is \
                 closed to keyward, and what is above it already decides): directory {home} is group- and \
                 world-writable (mode 0777, owner {0}); fix: chmod go-w {home}; keyward served {0}'s 1 key \
                 line(s) from its store instead",
            u.name
        )],
    );
    assert_eq!(m.facility, AUTHPRIV);
    assert!(!m.text.contains("Synology"), "{}", m.text);

    // On DSM the same fix says what chmod does to the folder's ACL.
    t.write_config("[home_check]\nplatform = \"synology\"");
    t.keys_as_nobody(&[&u.name]);
    expect_msg(
        &t.syslog.drain(),
        WARNING,
        &[
            &format!("fix: chmod go-w {home} (on Synology DSM, chmod removes the folder's ACL"),
            "DSM-safe",
        ],
    );
}

/// With sshd's `%h %U`, the home check judges the account sshd has, and
/// asks the user database nothing.
#[test]
fn home_and_uid_from_sshd_are_used_and_checked() {
    let (t, homes) = home_tree();
    let (_, key) = t.keygen("k");
    // No such account in NSS: only sshd's arguments describe it.
    let name = "kwt-from-sshd";
    write(&t.user_file(name), format!("{key}\n"), 0o644);
    let home = homes.join(name);
    mkdir(&home, 0o777);
    let fp = fingerprint(&key, "sha256");
    let out = t.keys_as_nobody(&[name, &fp, home.to_str().unwrap(), "4242"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), format!("{key}\n"));
    let msgs = t.syslog.drain();
    expect_msg(
        &msgs,
        NOTICE,
        &[
            &format!(
                "sshd would refuse any authorized_keys of user {name} in home {0}: directory {0} is \
                 group- and world-writable (mode 0777, owner root)",
                home.display()
            ),
            &format!("fix: chmod go-w {}", home.display()),
        ],
    );
    assert!(
        !msgs
            .iter()
            .any(|m| m.text.contains("not in the user database")),
        "{msgs:#?}"
    );

    for (h, u, why) in [
        ("relative/home", "4242", "is not an absolute path"),
        ("/home/x", "-1", "is not a number"),
        ("/home/x", "", "is not a number"),
    ] {
        let out = t.keys_as_nobody(&[name, &fp, h, u]);
        assert_eq!(out.status.code(), Some(65), "{h} {u}");
        assert_eq!(stdout(&out), "");
        expect_msg(&t.syslog.drain(), ERR, &[why, "%u %k %h %U"]);
    }
}

#[test]
fn unsafe_home_without_key_files_gets_a_notice() {
    let (t, homes) = home_tree();
    let u = User::new(&homes, 0o777);
    let out = t.keys_as_nobody(&[&u.name]);
    assert_eq!(out.status.code(), Some(0));
    expect_msg(
        &t.syslog.drain(),
        NOTICE,
        &[
            &format!("in home {}: directory", u.home.display()),
            "chmod go-w",
        ],
    );
}

#[test]
fn safe_home_gets_no_warning() {
    let (t, homes) = home_tree();
    let u = User::new(&homes, 0o755);
    let (_, key) = t.keygen("k");
    u.own_authorized_keys(&format!("{key}\n"), 0o600);
    let out = t.keys_as_nobody(&[&u.name]);
    assert_eq!(out.status.code(), Some(0));
    let msgs = t.syslog.drain();
    assert!(
        msgs.iter().all(|m| m.severity > NOTICE),
        "no warning or notice for a safe home: {msgs:#?}"
    );
}

#[test]
fn file_and_ssh_dir_offenders_are_all_named() {
    let (t, homes) = home_tree();
    let u = User::new(&homes, 0o755);
    let file = u.own_authorized_keys("", 0o666);
    chmod(&u.home.join(".ssh"), 0o777);
    let _ = t.keys_as_nobody(&[&u.name]);
    let f = file.display().to_string();
    let ssh = u.home.join(".ssh").display().to_string();
    expect_msg(
        &t.syslog.drain(),
        WARNING,
        &[
            &format!(
                "sshd refuses {f} of user {}: file {f} is group- and world-writable",
                u.name
            ),
            &format!("chmod go-w {f} && chmod go-w {ssh}"),
        ],
    );
}

#[test]
fn debian_group_exception_follows_the_setting() {
    let (t, homes) = home_tree();
    // 0775 with the user's private group: Debian's sshd accepts it.
    let u = User::new(&homes, 0o775);
    u.own_authorized_keys("", 0o600);
    t.write_config("[home_check]\ngroup_exception = \"on\"");
    let _ = t.keys_as_nobody(&[&u.name]);
    let msgs = t.syslog.drain();
    assert!(msgs.iter().all(|m| m.severity != WARNING), "{msgs:#?}");

    t.write_config("[home_check]\ngroup_exception = \"off\"");
    let _ = t.keys_as_nobody(&[&u.name]);
    expect_msg(
        &t.syslog.drain(),
        WARNING,
        // The group is named: its write bit is the reason.
        &[
            &format!("is writable by group {} (mode 0775, owner {0})", u.name),
            "chmod g-w",
        ],
    );
}

#[test]
fn home_the_command_user_cannot_enter_is_said_at_info() {
    let (t, homes) = home_tree();
    let u = User::new(&homes, 0o700);
    u.own_authorized_keys("", 0o600);
    let out = t.keys_as_nobody(&[&u.name]);
    assert_eq!(out.status.code(), Some(0));
    let msgs = t.syslog.drain();
    expect_msg(&msgs, INFO, &["cannot check", "Permission denied"]);
    assert!(msgs.iter().all(|m| m.severity != WARNING));
    // Root can look, and finds nothing wrong.
    let _ = t.keys_as_root(&[&u.name]);
    let msgs = t.syslog.drain();
    assert!(
        msgs.iter().all(|m| !m.text.contains("cannot check")),
        "{msgs:#?}"
    );
}

#[test]
fn home_check_can_be_turned_off() {
    let (t, homes) = home_tree();
    let u = User::new(&homes, 0o777);
    t.write_config("[home_check]\nenabled = false");
    let _ = t.keys_as_nobody(&[&u.name]);
    let msgs = t.syslog.drain();
    assert!(msgs.iter().all(|m| !m.text.contains("home")), "{msgs:#?}");
}

#[test]
fn symlinked_home_is_judged_by_its_real_path() {
    // DSM: pw_dir is /var/services/homes/u, a symlink to /volume1/homes/u.
    let (t, homes) = home_tree();
    let u = User::new(&homes, 0o777);
    let services = t.root.join("services");
    mkdir(&services, 0o755);
    let link = services.join(&u.name);
    symlink(&u.home, &link).unwrap();
    let st = std::process::Command::new("usermod")
        .arg("-d")
        .arg(&link)
        .arg(&u.name)
        .status()
        .unwrap();
    assert!(st.success());
    u.own_authorized_keys("", 0o600);
    let _ = t.keys_as_nobody(&[&u.name]);
    let real = u.home.display().to_string();
    expect_msg(
        &t.syslog.drain(),
        WARNING,
        &[&format!("directory {real} "), &format!("chmod go-w {real}")],
    );
    assert!(Path::new(&link).exists());
}

/// A home warning that reached nobody (no syslog socket yet) does not use
/// up the user's interval: the next lookup that can be heard warns.
#[test]
fn an_undelivered_warning_keeps_the_users_slot() {
    let t = Tree::new();
    let u = User::new(&homes(&t), 0o777);
    let (_, public) = t.keygen("k");
    u.own_authorized_keys(&format!("{public}\n"), 0o600);
    write(&t.user_file(&u.name), format!("{public}\n"), 0o644);
    let state = t.root.join("state/warned");
    mkdir(&state, 0o700);
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    std::os::unix::fs::chown(&state, Some(nobody.uid.as_raw()), None).unwrap();
    let config = |socket: &std::path::Path| {
        format!(
            "store = \"{}\"\n[home_check]\nwarn_interval = 3600\nstate = \"{}\"\n[syslog]\nsocket = \"{}\"\n",
            t.store.display(),
            state.display(),
            socket.display()
        )
    };
    let key = public.split(' ').nth(1).unwrap().to_string();
    let home = u.home.display().to_string();
    let uid = u.uid.to_string();
    let args = [u.name.as_str(), &key, &home, &uid];
    write(&t.config, config(&t.root.join("no-syslog-yet.sock")), 0o644);
    let o = t.keys_as_nobody(&args);
    assert!(stderr(&o).contains("sshd refuses"), "{}", stderr(&o));
    write(&t.config, config(&t.syslog.path), 0o644);
    let heard = |t: &Tree| {
        t.syslog
            .drain()
            .iter()
            .filter(|m| m.severity == WARNING && m.text.contains("sshd refuses"))
            .count()
    };
    t.keys_as_nobody(&args);
    assert_eq!(heard(&t), 1);
    // Heard now: quiet for the rest of the interval.
    t.keys_as_nobody(&args);
    assert_eq!(heard(&t), 0);
}
