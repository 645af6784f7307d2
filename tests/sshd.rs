//! The real thing: OpenSSH's sshd on 127.0.0.1 with keyward as its
//! AuthorizedKeysCommand, a real ssh client and real users. Each test starts
//! its own sshd on a free port and stops it on drop.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use common::*;

/// sshd with the config docs/admin-guide.md documents, plus test-only settings.
fn start(t: &Tree) -> Sshd {
    let port = free_port();
    let config = t.sshd_config(port, "AuthorizedKeysFile .ssh/authorized_keys\n");
    Sshd::start(&config, &[], port, &t.root.join("sshd.log"))
}

fn setup(home_mode: u32) -> (Tree, User) {
    let t = Tree::new();
    let homes = t.root.join("homes");
    mkdir(&homes, 0o755);
    let u = User::new(&homes, home_mode);
    (t, u)
}

/// Signs `key`'s public half with `ca` for `principal`, valid for an hour:
/// `<key>-cert.pub` beside it, where ssh finds it by itself.
fn certify(ca: &std::path::Path, key: &std::path::Path, principal: &str, id: &str) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-s"])
        .arg(ca)
        .args(["-I", id, "-n", principal, "-V", "-5m:+1h"])
        .arg(format!("{}.pub", key.display()))
        .status()
        .unwrap();
    assert!(st.success());
}

fn accepted(sshd: &Sshd, user: &str) -> bool {
    sshd.log()
        .contains(&format!("Accepted publickey for {user} from"))
}

#[test]
fn synology_home_refuses_own_key_and_keyward_fixes_it() {
    let (t, u) = setup(0o777);
    let (key, public) = t.keygen("alice");
    u.own_authorized_keys(&format!("{public}\n"), 0o600);
    let sshd = start(&t);

    // 1. The seed's failure, reproduced: sshd refuses the user's own file.
    let out = sshd.ssh(&key, &u.name, "true");
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let home = u.home.display().to_string();
    assert!(
        sshd.log().contains(&format!(
            "Authentication refused: bad ownership or modes for directory {home}"
        )),
        "{}",
        sshd.log()
    );
    assert!(!accepted(&sshd, &u.name));
    t.syslog.drain();

    // 2. The fix: the same key in keyward's store.
    write(&t.user_file(&u.name), format!("{public}\n"), 0o644);
    let out = sshd.ssh(&key, &u.name, "id -un");
    assert_eq!(out.status.code(), Some(0), "{out:?}\n{}", sshd.log());
    assert_eq!(stdout(&out).trim(), u.name);
    assert!(accepted(&sshd, &u.name), "{}", sshd.log());
    expect_msg(
        &t.syslog.drain(),
        WARNING,
        &[&home, "mode 0777", &format!("fix: chmod go-w {home}")],
    );
}

#[test]
fn key_not_in_store_is_refused() {
    let (t, u) = setup(0o755);
    let (_, stored) = t.keygen("stored");
    let (other, _) = t.keygen("other");
    write(&t.user_file(&u.name), format!("{stored}\n"), 0o644);
    let sshd = start(&t);
    let out = sshd.ssh(&other, &u.name, "true");
    assert_ne!(out.status.code(), Some(0));
    assert!(!accepted(&sshd, &u.name));
}

#[test]
fn tampered_store_is_refused_and_logged() {
    let (t, u) = setup(0o755);
    let (key, public) = t.keygen("k");
    let file = t.user_file(&u.name);
    write(&file, format!("{public}\n"), 0o664);
    let sshd = start(&t);
    let out = sshd.ssh(&key, &u.name, "true");
    assert_ne!(out.status.code(), Some(0));
    assert!(!accepted(&sshd, &u.name));
    // sshd saw a non-zero exit even though the line would have matched.
    assert!(sshd.log().contains("failed, status 77"), "{}", sshd.log());
    expect_msg(
        &t.syslog.drain(),
        ERR,
        &[&file.display().to_string(), "chmod g-w"],
    );

    chmod(&file, 0o644);
    std::os::unix::fs::chown(&file, Some(u.uid), None).unwrap();
    let out = sshd.ssh(&key, &u.name, "true");
    assert_ne!(out.status.code(), Some(0));
    expect_msg(&t.syslog.drain(), ERR, &[&format!("owned by {}", u.name)]);
}

/// A syntactically valid ed25519 line for a key nobody holds.
#[test]
fn thousand_keys_and_fragment_directory() {
    let (t, u) = setup(0o755);
    let (key, public) = t.keygen("last");
    let mut content: String = (0..999).map(|i| filler_key(i) + "\n").collect();
    content.push_str(&public);
    content.push('\n');
    write(&t.user_file(&u.name), &content, 0o644);
    let sshd = start(&t);
    let out = sshd.ssh(&key, &u.name, "true");
    assert_eq!(out.status.code(), Some(0), "{out:?}\n{}", sshd.log());
    assert!(accepted(&sshd, &u.name));

    // What sshd receives for that key: exactly its one line.
    let fp = fingerprint(&public, "sha256");
    let run = t.keys_as_nobody(&[&u.name, &fp]);
    assert_eq!(stdout(&run), format!("{public}\n"));

    // The same user's keys as fragments.
    fs::remove_file(t.user_file(&u.name)).unwrap();
    let dir = t.user_file(&u.name);
    mkdir(&dir, 0o755);
    write(&dir.join("10-fillers"), content.replace(&public, ""), 0o644);
    write(&dir.join("20-laptop"), format!("{public}\n"), 0o644);
    let out = sshd.ssh(&key, &u.name, "true");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn certificate_login_through_cert_authority_line() {
    let (t, u) = setup(0o755);
    let (ca, ca_public) = t.keygen("ca");
    let (key, _) = t.keygen("user");
    certify(&ca, &key, &u.name, "test-cert");
    write(
        &t.user_file(&u.name),
        format!("cert-authority {ca_public}\n"),
        0o644,
    );
    let sshd = start(&t);
    // ssh picks up user-cert.pub beside the key by itself.
    let out = sshd.ssh(&key, &u.name, "true");
    assert_eq!(out.status.code(), Some(0), "{out:?}\n{}", sshd.log());
    assert!(
        sshd.log().contains("Accepted certificate ID \"test-cert\""),
        "{}",
        sshd.log()
    );
}

#[test]
fn safe_home_with_own_key_still_works_without_warning() {
    let (t, u) = setup(0o755);
    let (key, public) = t.keygen("own");
    u.own_authorized_keys(&format!("{public}\n"), 0o600);
    let sshd = start(&t);
    let out = sshd.ssh(&key, &u.name, "true");
    assert_eq!(out.status.code(), Some(0), "{out:?}\n{}", sshd.log());
    assert!(accepted(&sshd, &u.name));
    let msgs = t.syslog.drain();
    assert!(msgs.iter().all(|m| m.severity > NOTICE), "{msgs:#?}");
}

#[test]
fn twenty_parallel_logins_never_mix_users() {
    let t = Tree::new();
    let homes = t.root.join("homes");
    mkdir(&homes, 0o777); // the parents of a home are not sshd's concern
    let users: Vec<(User, PathBuf)> = (0..5)
        .map(|i| {
            let u = User::new(&homes, 0o777);
            let (key, public) = t.keygen(&format!("p{i}"));
            write(&t.user_file(&u.name), format!("{public}\n"), 0o644);
            (u, key)
        })
        .collect();
    let sshd = start(&t);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let (u, key) = &users[i % users.len()];
                let sshd = &sshd;
                s.spawn(move || (u.name.clone(), sshd.ssh(key, &u.name, "id -un")))
            })
            .collect();
        for h in handles {
            let (name, out) = h.join().unwrap();
            assert_eq!(out.status.code(), Some(0), "{name}: {out:?}");
            assert_eq!(stdout(&out).trim(), name);
        }
    });
    // A key offered for the wrong user is refused.
    let out = sshd.ssh(&users[1].1, &users[0].0.name, "true");
    assert_ne!(out.status.code(), Some(0));
}

/// The home warning through real logins: it says what keyward actually did,
/// comes once per user and interval across logins, and drops to info for a
/// home the admin accepted.
#[test]
fn home_warning_is_true_heard_once_and_can_be_accepted() {
    use std::os::unix::fs::chown;
    let (t, u) = setup(0o777);
    let (key, public) = t.keygen("alice");
    u.own_authorized_keys(&format!("{public}\n"), 0o600);
    let sshd = start(&t);
    let home = u.home.display().to_string();
    let warnings = |msgs: &[Msg]| {
        msgs.iter()
            .filter(|m| m.severity == WARNING && m.text.contains("sshd refuses"))
            .count()
    };

    // No key in the store: the warning says so and what to run.
    assert_ne!(sshd.ssh(&key, &u.name, "true").status.code(), Some(0));
    expect_msg(
        &t.syslog.drain(),
        WARNING,
        &[
            &format!("fix: chmod go-w {home}"),
            &format!(
                "keyward's store has no keys for {} either: `keyward import {0}`",
                u.name
            ),
        ],
    );

    // A tampered store: the lookup failed, and the warning does not pretend.
    write(&t.user_file(&u.name), format!("{public}\n"), 0o664);
    assert_ne!(sshd.ssh(&key, &u.name, "true").status.code(), Some(0));
    expect_msg(
        &t.syslog.drain(),
        WARNING,
        &["keyward's own lookup failed too"],
    );
    chmod(&t.user_file(&u.name), 0o644);

    // Once an hour: two logins (each runs keyward at least twice) warn once.
    let state = t.root.join("state/warned");
    mkdir(&state, 0o700);
    chmod(state.parent().unwrap(), 0o755);
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    chown(&state, Some(nobody.uid.as_raw()), None).unwrap();
    t.write_config(&format!(
        "[home_check]\nwarn_interval = 3600\nstate = \"{}\"",
        state.display()
    ));
    for _ in 0..2 {
        let out = sshd.ssh(&key, &u.name, "true");
        assert_eq!(out.status.code(), Some(0), "{out:?}\n{}", sshd.log());
    }
    let msgs = t.syslog.drain();
    assert_eq!(warnings(&msgs), 1, "{msgs:#?}");
    expect_msg(
        &msgs,
        WARNING,
        &["keyward served the offered key from its store instead"],
    );
    let served = msgs.iter().filter(|m| m.text.contains("found at")).count();
    assert!(served >= 4, "keyward ran {served} times: {msgs:#?}");

    // An accepted home: the same news at info, and the login works.
    t.write_config(&format!(
        "[home_check]\nwarn_interval = 0\naccepted_homes = [\"{}/*\"]",
        u.home.parent().unwrap().display()
    ));
    assert_eq!(sshd.ssh(&key, &u.name, "true").status.code(), Some(0));
    let msgs = t.syslog.drain();
    assert_eq!(warnings(&msgs), 0, "{msgs:#?}");
    expect_msg(&msgs, INFO, &["sshd refuses", "(accepted in keyward.toml)"]);
}

/// With no syslog daemon, keyward's messages would go where sshd discards
/// them: the login still works, and setup and check say so beforehand.
#[test]
fn without_a_syslog_socket_login_works_and_setup_and_check_say_so() {
    let (t, u) = setup(0o755);
    let (key, public) = t.keygen("k");
    write(&t.user_file(&u.name), format!("{public}\n"), 0o644);
    let port = free_port();
    let config = t.sshd_config(port, "AuthorizedKeysFile .ssh/authorized_keys\n");
    let sshd = Sshd::start(&config, &[], port, &t.root.join("sshd.log"));
    let with_socket = |socket: &std::path::Path| {
        write(
            &t.config,
            format!(
                "store = \"{}\"\n[syslog]\nsocket = \"{}\"\n[home_check]\nstate = \"{}\"\n",
                t.store.display(),
                socket.display(),
                t.root.join("state/warned").display()
            ),
            0o644,
        );
    };
    let check = || {
        let o = t.admin(&["check", "--sshd-config", config.to_str().unwrap(), &u.name]);
        (o.status.code(), stdout(&o))
    };

    let missing = t.root.join("no-such.sock");
    with_socket(&missing);
    let out = sshd.ssh(&key, &u.name, "true");
    assert_eq!(out.status.code(), Some(0), "{out:?}\n{}", sshd.log());
    let (code, text) = check();
    assert_eq!(
        code,
        Some(0),
        "a quiet syslog does not stop the login: {text}"
    );
    assert!(
        text.contains(&format!(
            "warning: syslog: there is no syslog socket at {}",
            missing.display()
        )) && text.contains("reach nobody"),
        "{text}"
    );
    let o = t.admin(&[
        "setup",
        "--binary",
        t.bin.to_str().unwrap(),
        "--sshd-config",
        config.to_str().unwrap(),
        "--command-user",
        "nobody",
    ]);
    assert!(
        stdout(&o).contains("warning: syslog: there is no syslog socket"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );

    // A socket file nobody reads, and a stream socket.
    let dead = t.root.join("dead.sock");
    drop(std::os::unix::net::UnixDatagram::bind(&dead).unwrap());
    with_socket(&dead);
    assert!(
        check().1.contains("nothing is listening on"),
        "{}",
        check().1
    );
    let stream = t.root.join("stream.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&stream).unwrap();
    with_socket(&stream);
    assert!(check().1.contains("is a stream socket"), "{}", check().1);
}

/// sshd's `%k`: the offered key itself, compared as bytes. A plain key gets
/// exactly its own line; a certificate only the line of the CA that signed
/// it; a key not in the store nothing.
#[test]
fn offered_key_k_selects_exactly_the_line_sshd_can_use() {
    let (t, u) = setup(0o755);
    let (key, public) = t.keygen("laptop");
    let (_, other) = t.keygen("other");
    let (stranger, _) = t.keygen("stranger");
    let (ca, ca_public) = t.keygen("ca");
    let (_, other_ca) = t.keygen("other-ca");
    let (certified, _) = t.keygen("certified");
    certify(&ca, &certified, &u.name, "k-cert");
    write(
        &t.user_file(&u.name),
        format!("{other}\ncert-authority {other_ca}\n{public}\ncert-authority {ca_public}\n"),
        0o644,
    );
    let sshd = Sshd::asking(&t, "%k");

    // What sshd gets for each: the plain key's own line, the signing CA's line.
    let b64 = |line: &str| line.split(' ').nth(1).unwrap().to_string();
    let run = t.keys_as_nobody(&[&u.name, &b64(&public)]);
    assert_eq!(stdout(&run), format!("{public}\n"), "{}", stderr(&run));
    let cert = fs::read_to_string(format!("{}-cert.pub", certified.display())).unwrap();
    let run = t.keys_as_nobody(&[&u.name, &b64(&cert)]);
    assert_eq!(stdout(&run), format!("cert-authority {ca_public}\n"));
    let msgs = t.syslog.drain();
    expect_msg(
        &msgs,
        INFO,
        &[
            "certificate for key SHA256:",
            "served 1 cert-authority line(s) of its CA",
        ],
    );

    // And through sshd: a plain key, a certificate, a stranger.
    let out = sshd.ssh(&key, &u.name, "true");
    assert_eq!(out.status.code(), Some(0), "{out:?}\n{}", sshd.log());
    expect_msg(
        &t.syslog.drain(),
        INFO,
        &[&format!("key {} found at", fingerprint(&public, "sha256"))],
    );
    let out = sshd.ssh(&certified, &u.name, "true");
    assert_eq!(out.status.code(), Some(0), "{out:?}\n{}", sshd.log());
    assert!(
        sshd.log().contains("Accepted certificate ID \"k-cert\""),
        "{}",
        sshd.log()
    );
    let out = sshd.ssh(&stranger, &u.name, "true");
    assert_ne!(out.status.code(), Some(0));
    // Two logins accepted (the key, the certificate), the stranger failed;
    // sshd found each accepted key on line 1 of what keyward printed.
    let log = sshd.log();
    assert_eq!(
        log.matches(&format!("Accepted publickey for {}", u.name))
            .count(),
        2,
        "{log}"
    );
    assert!(
        log.contains(&format!("Failed publickey for {}", u.name)),
        "{log}"
    );
    assert!(
        log.contains("keys %u %k %h %U:1") && !log.contains("%U:2"),
        "{log}"
    );
}

/// Certificates as ssh-keygen makes them, each logging in through `%k` as
/// it would through an AuthorizedKeysFile: no -V ("forever", validity past
/// 2^63), always:forever, an extension written twice, a key ID that is not
/// UTF-8; and a CA line that spells the CA key as sshd also reads it.
#[test]
fn certificates_as_ssh_keygen_makes_them_log_in_through_k() {
    use base64::Engine;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let (t, u) = setup(0o755);
    let (ca, ca_public) = t.keygen("ca");
    // The same CA key with "ED25519" as the type inside the blob.
    let b64 = base64::engine::general_purpose::STANDARD;
    let ca_blob = b64.decode(ca_public.split(' ').nth(1).unwrap()).unwrap();
    let short = [&[0, 0, 0, 7][..], b"ED25519", &ca_blob[15..]].concat();
    write(
        &t.user_file(&u.name),
        format!("cert-authority ssh-ed25519 {} ca\n", b64.encode(&short)),
        0o644,
    );
    let sshd = Sshd::asking(&t, "%k");
    let cases: [(&str, &[&[u8]]); 4] = [
        ("forever", &[b"-I", b"forever"]),
        ("always", &[b"-I", b"always", b"-V", b"always:forever"]),
        (
            "twice",
            &[
                b"-I",
                b"twice",
                b"-O",
                b"extension:permit-pty",
                b"-V",
                b"-5m:forever",
            ],
        ),
        ("latin1", &[b"-I", b"caf\xe9"]),
    ];
    for (name, args) in cases {
        let (key, _) = t.keygen(name);
        let st = Command::new("ssh-keygen")
            .args(["-q", "-s"])
            .arg(&ca)
            .args(args.iter().map(|a| OsStr::from_bytes(a)))
            .args(["-n", &u.name])
            .arg(format!("{}.pub", key.display()))
            .status()
            .unwrap();
        assert!(st.success(), "{name}");
        let out = sshd.ssh(&key, &u.name, "true");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {out:?}\n{}\n{:?}",
            sshd.log(),
            t.syslog.drain()
        );
    }
    let log = sshd.log();
    // sshd says "Accepted certificate" twice per login (the query, then the
    // signature), and "Accepted publickey" once.
    let accepted = format!("Accepted publickey for {} from", u.name);
    assert_eq!(log.matches(&accepted).count(), 4, "{log}");
    assert!(!log.contains("failed, status"), "{log}");
}

/// Linux passes no argument over 128 KiB: a certificate over about 96 KiB
/// cannot reach keyward as `%k` (sshd's execve fails and it refuses the
/// key), and logs in through `%f`, which `keyward setup --fingerprint`
/// registers.
#[test]
fn a_certificate_too_large_for_k_logs_in_through_f() {
    let (t, u) = setup(0o755);
    let (ca, ca_public) = t.keygen("ca");
    let (key, _) = t.keygen("big");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-s"])
        .arg(&ca)
        .args(["-I", "big", "-n", &u.name, "-O"])
        .arg(format!(
            "extension:note@example.com={}",
            "x".repeat(100_000)
        ))
        .arg(format!("{}.pub", key.display()))
        .status()
        .unwrap();
    assert!(st.success());
    write(
        &t.user_file(&u.name),
        format!("cert-authority {ca_public}\n"),
        0o644,
    );
    for (token, works) in [("%k", false), ("%f", true)] {
        let sshd = Sshd::asking(&t, token);
        let out = sshd.ssh(&key, &u.name, "true");
        assert_eq!(
            out.status.code() == Some(0),
            works,
            "{token}: {}",
            sshd.log()
        );
        if !works {
            // sshd's execve failed; its reason (E2BIG) falls off the end of
            // a log line that holds the whole command line.
            assert!(
                sshd.log().contains("AuthorizedKeysCommand execve \""),
                "{}",
                sshd.log()
            );
        }
    }
}
