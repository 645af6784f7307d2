//! `[[chain]]`: keyward runs another AuthorizedKeysCommand after its own
//! store. Commands that fail in every way sshd's own slot can fail, and a
//! real sshd login through each: the local user's key from the store always
//! works, and the log says what the chained command did.
//! (The real directory, OpenLDAP + SSSD, is in tests/sssd.rs.)

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// An executable script in a root-owned 0755 directory, written by another
/// process (a write descriptor in this one could make an exec elsewhere
/// fail with ETXTBSY).
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    mkdir(dir, 0o755);
    let tmp = dir.join(format!(".{name}.src"));
    write(&tmp, format!("#!/bin/sh\n{body}\n"), 0o644);
    let path = dir.join(name);
    let st = Command::new("install")
        .args(["-m", "0755"])
        .arg(&tmp)
        .arg(&path)
        .status()
        .unwrap();
    assert!(st.success());
    fs::remove_file(&tmp).unwrap();
    path
}

/// A tree whose config chains `command` (with `extra` settings), a user
/// whose only key is in the store, and a second key only the chained
/// command knows.
fn chained(command: &str, extra: &str) -> (Tree, User, PathBuf, String) {
    let t = Tree::new();
    let u = User::new(&homes(&t), 0o755);
    let (key, public) = t.keygen("local");
    write(&t.user_file(&u.name), format!("{public}\n"), 0o644);
    t.write_config(&format!("[[chain]]\ncommand = {command:?}\n{extra}"));
    (t, u, key, public)
}

fn offered(public: &str) -> String {
    public.split(' ').nth(1).unwrap().to_string()
}

fn login_works(t: &Tree, user: &str, key: &Path) {
    let sshd = Sshd::asking(t, "%k");
    let o = sshd.ssh(key, user, "echo in");
    assert_eq!(stdout(&o), "in\n", "{}\n{}", stderr(&o), sshd.log());
}

#[test]
fn a_good_chained_command_adds_its_keys_after_the_store() {
    let t0 = Tree::new();
    let (remote_key, remote_public) = t0.keygen("remote");
    let dir = t0.root.join("chained");
    let cmd = script(
        &dir,
        "keys.sh",
        &format!(
            "[ \"$1\" = \"$KWT_USER\" ] || true\necho \"# for $1 uid $2 home $3 type $4\"\necho 'not a key line'\necho '{remote_public}'"
        ),
    );
    let (t, u, key, public) = chained(&format!("{} %u %U %h %t %%x", cmd.display()), "");
    let o = t.keys_as_nobody(&[&u.name, &offered(&remote_public)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("{remote_public}\n"));
    let msgs = t.syslog.drain();
    let found = expect_msg(&msgs, INFO, &["found at"]);
    assert!(
        found
            .text
            .contains(&format!("{} %u %U %h %t %%x:3", cmd.display())),
        "{}",
        found.text
    );
    // The store's key: the store's line, nothing of the chained command's.
    let o = t.keys_as_nobody(&[&u.name, &offered(&public)]);
    assert_eq!(stdout(&o), format!("{public}\n"));
    // Every line, as with `keys USER` alone: the store's, then the chained
    // command's valid ones; its invalid line is dropped and logged with the
    // command's name. Without %k there is nothing for %t.
    t.write_config(&format!("[[chain]]\ncommand = \"{} %u\"\n", cmd.display()));
    let o = t.keys_as_nobody(&[&u.name]);
    assert_eq!(
        stdout(&o),
        format!("{public}\n{remote_public}\n"),
        "{}",
        stderr(&o)
    );
    let msgs = t.syslog.drain();
    expect_msg(
        &msgs,
        WARNING,
        &[&format!(
            "{} %u:2: line skipped: unknown key type \"not\"",
            cmd.display()
        )],
    );
    t.write_config(&format!(
        "[[chain]]\ncommand = \"{} %u %U %h %t %%x\"\n",
        cmd.display()
    ));
    // Both log in through a real sshd.
    login_works(&t, &u.name, &key);
    login_works(&t, &u.name, &remote_key);
}

/// Each way a chained command can fail: no keys from it, an error naming
/// it, the store's key still served and still logging in.
#[test]
fn failing_chained_commands_cost_only_their_own_keys() {
    let t0 = Tree::new();
    let dir = t0.root.join("chained");
    let (_, remote_public) = t0.keygen("remote");
    // Group-writable by a group with a member other than root (nogroup).
    let open = t0.root.join("open");
    let unsafe_cmd = script(&open, "unsafe.sh", &format!("echo '{remote_public}'"));
    nix::unistd::chown(&open, None, Some(nix::unistd::Gid::from_raw(65534))).unwrap();
    chmod(&open, 0o775);
    let cases: Vec<(PathBuf, &str, &str)> = vec![
        (
            script(&dir, "hang.sh", "sleep 60"),
            "timeout = 1",
            "did not finish within 1 s and was killed",
        ),
        // It leaves its process group for keyward's own, out of reach of
        // a kill of the group alone.
        (
            script(
                &dir,
                "escapes.sh",
                "exec python3 -c 'import os, time; os.setpgid(0, os.getpgid(os.getppid())); time.sleep(30)'",
            ),
            "timeout = 1",
            "did not finish within 1 s and was killed",
        ),
        (
            script(
                &dir,
                "flood.sh",
                "yes 'ssh-ed25519 AAAA flood' | head -c 104857600",
            ),
            "",
            "printed more than 1048576 bytes and was killed",
        ),
        (
            script(
                &dir,
                "fails.sh",
                &format!("echo '{remote_public}'\necho 'lookup failed' >&2\nexit 1"),
            ),
            "",
            "failed, status 1",
        ),
        (
            unsafe_cmd,
            "",
            "is refused as sshd refuses an unsafe command",
        ),
    ];
    for (cmd, extra, why) in cases {
        let (t, u, key, public) = chained(&format!("{} %u", cmd.display()), extra);
        let started = std::time::Instant::now();
        let o = t.keys_as_nobody(&[&u.name, &offered(&remote_public)]);
        assert_eq!(code(&o), 0, "{why}: {}", stderr(&o));
        assert_eq!(stdout(&o), "", "{why}");
        assert!(
            started.elapsed().as_secs() < 10,
            "{why}: {:?}",
            started.elapsed()
        );
        let msgs = t.syslog.drain();
        let e = expect_msg(&msgs, ERR, &["chained command", why]);
        assert!(
            e.text
                .contains("none of its keys are served (keyward's own are)"),
            "{}",
            e.text
        );
        if why.starts_with("failed") {
            expect_msg(&msgs, NOTICE, &["said: lookup failed"]);
        }
        let o = t.keys_as_nobody(&[&u.name, &offered(&public)]);
        assert_eq!(stdout(&o), format!("{public}\n"), "{why}");
        login_works(&t, &u.name, &key);
    }
}

#[test]
fn chain_commands_are_checked_when_the_config_is_read() {
    let t = Tree::new();
    for (command, want) in [
        ("relative/x %u", "must be an absolute path"),
        ("/bin/true %C", "unknown token %C"),
        ("/bin/true \"open", "invalid quotes"),
    ] {
        t.write_config(&format!("[[chain]]\ncommand = {command:?}\n"));
        let o = t.admin(&["config"]);
        assert_eq!(code(&o), 78, "{command}");
        assert!(
            stderr(&o).contains(want) || stdout(&o).contains(want),
            "{command}: {}{}",
            stdout(&o),
            stderr(&o)
        );
    }
    t.write_config("[[chain]]\ncommand = \"/bin/true\"\ntimeout = 0\n");
    assert_eq!(code(&t.admin(&["config"])), 78);
}

/// A chained command is asked about the account sshd asked about: `%u`,
/// `%h` and the no-argument form carry the bytes sshd passed, not the form
/// keyward escapes for its log (`DOMAIN\x5calice` is another account, one
/// anybody could hold).
#[test]
fn chained_commands_get_the_bytes_sshd_passed() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let t0 = Tree::new();
    let (_, remote_public) = t0.keygen("remote");
    // Prints the key only for these two names, byte for byte, and only
    // with the home sshd passed for them.
    let cmd = script(
        &t0.root.join("chained"),
        "keys.sh",
        &format!(
            "n=$(printf '%s' \"$1\" | od -An -tx1 | tr -d ' \\n')\n\
             case \"$n\" in 444f4d41494e5c616c696365|6afc7267656e) ;; *) echo \"# not for $n\"; exit 0 ;; esac\n\
             if [ $# -ge 2 ] && [ \"$2\" != \"/home/$1\" ]; then echo '# wrong home'; exit 0; fi\n\
             echo '{remote_public}'"
        ),
    );
    let key = offered(&remote_public);
    for name in [&b"DOMAIN\\alice"[..], &b"j\xfcrgen"[..]] {
        let t = Tree::new();
        let name = OsStr::from_bytes(name);
        let home = OsStr::from_bytes(&[b"/home/", name.as_bytes()].concat()).to_os_string();
        for command in [
            format!("{} %u %h", cmd.display()),
            cmd.display().to_string(),
        ] {
            t.write_config(&format!("[[chain]]\ncommand = {command:?}\n"));
            let o = t.keys_as_nobody(&[name, OsStr::new(&key), &home, OsStr::new("4242")]);
            assert_eq!(code(&o), 0, "{}", stderr(&o));
            assert_eq!(
                stdout(&o),
                format!("{remote_public}\n"),
                "{name:?} with {command}: {:?}",
                t.syslog.drain()
            );
        }
    }
}

/// A chained command that writes thousands of lines to stderr: a few reach
/// syslog, then one line with the count of the rest.
#[test]
fn a_chatty_chained_command_is_logged_briefly() {
    let t0 = Tree::new();
    let (_, remote_public) = t0.keygen("remote");
    let cmd = script(
        &t0.root.join("chained"),
        "chatty.sh",
        &format!(
            "i=0; while [ $i -lt 5000 ]; do echo \"note $i\" >&2; i=$((i+1)); done\necho '{remote_public}'"
        ),
    );
    let (t, u, _, _) = chained(&format!("{} %u", cmd.display()), "");
    let o = t.keys_as_nobody(&[&u.name, &offered(&remote_public)]);
    assert_eq!(stdout(&o), format!("{remote_public}\n"), "{}", stderr(&o));
    let msgs = t.syslog.drain();
    let said: Vec<_> = msgs.iter().filter(|m| m.text.contains(" said")).collect();
    assert_eq!(said.len(), 11, "{said:?}");
    expect_msg(&msgs, NOTICE, &["said: note 0"]);
    expect_msg(
        &msgs,
        NOTICE,
        &["said 4990 more line(s) on stderr, not logged"],
    );
}

/// `keyward check` runs a chained command as sshd would, whatever the
/// admin's shell has: no descriptor above 2, the command user's own
/// environment, and its supplementary groups (sshd's initgroups).
#[test]
fn check_runs_chained_commands_as_sshd_does() {
    let t = Tree::new();
    let u = User::new(&homes(&t), 0o755);
    let runner = User::new(&homes(&t), 0o755);
    let st = Command::new("usermod")
        .args(["-aG", "users", &runner.name])
        .status()
        .unwrap();
    assert!(st.success());
    let cmd = script(
        &t.root.join("chained"),
        "env.sh",
        "echo \"fds: $(ls /proc/self/fd | tr '\\n' ' ')\" >&2\n\
         echo \"home: $HOME path: $PATH\" >&2\n\
         echo \"groups: $(id -G)\" >&2",
    );
    t.write_config(&format!("[[chain]]\ncommand = \"{} %u\"\n", cmd.display()));
    let config = t.sshd_config(22, &format!("AuthorizedKeysCommandUser {}\n", runner.name));
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "exec 7</etc/shadow; exec {} --config {} check --sshd-config {} {}",
            t.bin.display(),
            t.config.display(),
            config.display(),
            u.name
        ))
        .env("HOME", "/root")
        .output()
        .unwrap();
    let text = stdout(&o);
    let said = |what: &str| {
        text.lines()
            .find_map(|l| {
                l.split_once(&format!("said: {what}: "))
                    .map(|p| p.1.to_string())
            })
            .unwrap_or_else(|| panic!("no {what}: {text}{}", stderr(&o)))
    };
    // 0-2, and the descriptor ls opens to list them.
    assert_eq!(said("fds").split_whitespace().count(), 4, "{text}");
    assert!(!said("fds").split_whitespace().any(|f| f == "7"), "{text}");
    assert!(
        said("home").starts_with(&format!(
            "{} path: /usr/local/bin:/usr/bin:/bin:/usr/games",
            runner.home.display()
        )),
        "{text}"
    );
    let users = nix::unistd::Group::from_name("users").unwrap().unwrap().gid;
    assert!(
        said("groups")
            .split_whitespace()
            .any(|g| g == users.to_string()),
        "{text}"
    );
}

/// With a recorded sshd of 9.4 or later, a chained command may use `%C`
/// and `%D`; keyward takes them as its fifth and sixth arguments (setup
/// registers `keys %u %k %h %U %C %D` then) and passes them on as sshd
/// gave them.
#[test]
fn connection_tokens_reach_a_chained_command_on_9_4_and_later() {
    let t0 = Tree::new();
    let (_, remote_public) = t0.keygen("remote");
    let cmd = script(
        &t0.root.join("chained"),
        "conn.sh",
        &format!(
            "[ \"$2\" = '192.0.2.7 50022 192.0.2.1 22' ] && [ \"$3\" = rd1 ] && echo '{remote_public}'"
        ),
    );
    let t = Tree::new();
    let u = User::new(&homes(&t), 0o755);
    t.write_config(&format!(
        "[sshd]\nversion = \"10.5p1\"\ndebian = false\n\n[[chain]]\ncommand = \"{} %u %C %D\"\n",
        cmd.display()
    ));
    let home = u.home.display().to_string();
    let o = t.keys_as_nobody(&[
        u.name.as_str(),
        &offered(&remote_public),
        &home,
        "4242",
        "192.0.2.7 50022 192.0.2.1 22",
        "rd1",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!("{remote_public}\n"),
        "{:?}",
        t.syslog.drain()
    );
    // Registered without them, the command is not run, and the log says
    // what to register.
    let o = t.keys_as_nobody(&[u.name.as_str(), &offered(&remote_public), &home, "4242"]);
    assert_eq!(stdout(&o), "");
    expect_msg(
        &t.syslog.drain(),
        ERR,
        &["uses %C, which this lookup has no value for"],
    );
}
