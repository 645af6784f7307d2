//! A second real sshd: OpenSSH 8.2p1, the release Synology DSM 7 ships,
//! built from source by tests/oracle/build.sh (skipped without the source),
//! on DSM's stock sshd_config. setup records the release, keyward judges
//! lines as 8.2 reads them, and check says so.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;

fn sshd82() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/oracle/8.2p1/sshd");
    p.exists().then_some(p)
}

#[test]
fn dsm_release_logs_in_and_check_explains_a_line_it_cannot_read() {
    let Some(sshd_bin) = sshd82() else {
        eprintln!(
            "skipped: no source (tests/oracle/build.sh builds sshd 8.2p1 from ../shared/openssh)"
        );
        return;
    };
    let sshd_arg = sshd_bin.to_str().unwrap();
    let t = Tree::new();
    let config = t.root.join("sshd_config");
    let stock = fs::read_to_string("tests/fixtures/dsm7-sshd_config").unwrap();
    write(&config, &stock, 0o644);
    let homes = t.root.join("homes");
    mkdir(&homes, 0o755);
    // Synology's home: drwxrwxrwx. One plain key, one that needs 8.4.
    let u = User::new(&homes, 0o777);
    let (key, public) = t.keygen("dsm");
    let (newer, newer_public) = t.keygen("fido-only");
    write(
        &t.user_file(&u.name),
        format!("{public}\nverify-required {newer_public}\n"),
        0o644,
    );

    let o = setup_on(&t, &config, &["--sshd", sshd_arg]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("recorded OpenSSH 8.2p1 in"),
        "{}",
        stdout(&o)
    );
    let recorded = fs::read_to_string(t.record()).unwrap();
    assert!(
        recorded.contains("version = \"8.2p1\"\ndebian = false\n"),
        "{recorded}"
    );

    let sshd = Sshd::on_config(&t, &sshd_bin, &config, &["UsePAM=no", "LogLevel=DEBUG1"]);
    // The 0777 home logs in with the plain key, as on a NAS.
    let o = sshd.ssh(&key, &u.name, "echo in");
    assert_eq!(stdout(&o), "in\n", "{}\n{}", stderr(&o), sshd.log());
    // The verify-required line is not served, and keyward says why.
    let o = sshd.ssh(&newer, &u.name, "echo in");
    assert_ne!(o.status.code(), Some(0), "{}", sshd.log());
    let msgs = t.syslog.drain();
    expect_msg(
        &msgs,
        WARNING,
        &[":2: line skipped: option verify-required needs OpenSSH 8.4p1; this sshd is 8.2p1"],
    );

    // check tells the same story about this sshd, exit 0: login works.
    let check = |user: &str| {
        t.admin(&[
            "check",
            "--sshd",
            sshd_arg,
            "--sshd-config",
            config.to_str().unwrap(),
            user,
        ])
    };
    let o = check(&u.name);
    let text = stdout(&o);
    assert_eq!(code(&o), 0, "{text}{}", stderr(&o));
    assert!(
        text.contains("ok:      sshd: OpenSSH 8.2p1 (recorded by keyward setup)"),
        "{text}"
    );
    assert!(
        text.contains("line skipped: option verify-required needs OpenSSH 8.4p1; this sshd is 8.2p1, which never uses this line"),
        "{text}"
    );

    // And that is what sshd 8.2 itself does with such a line: a user whose
    // own file (safe home, StrictModes satisfied) holds only that line.
    let v = User::new(&homes, 0o755);
    v.own_authorized_keys(&format!("verify-required {newer_public}\n"), 0o600);
    let o = sshd.ssh(&newer, &v.name, "echo in");
    assert_ne!(o.status.code(), Some(0), "{}", sshd.log());
    assert!(
        sshd.log().contains("bad key options: unknown key option"),
        "{}",
        sshd.log()
    );
    // For that user check says which line sshd skips and why, and that no
    // key login works (exit 1).
    let o = check(&v.name);
    let text = stdout(&o);
    assert_eq!(code(&o), 1, "{text}");
    assert!(
        text.contains("authorized_keys:1: sshd skips this line: option verify-required needs OpenSSH 8.4p1; this sshd is 8.2p1"),
        "{text}"
    );
    assert!(text.contains("error:   no key login works for"), "{text}");

    drop(sshd);
    let o = setup_on(&t, &config, &["--sshd", sshd_arg, "--undo"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(fs::read_to_string(&config).unwrap(), stock);
}
