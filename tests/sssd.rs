//! The real directory: OpenLDAP's slapd on 127.0.0.1 with the openssh-lpk
//! schema, SSSD (ldap id provider, ssh responder) with libnss-sss, and a
//! real sshd whose AuthorizedKeysCommand was `sss_ssh_authorizedkeys %u`
//! until `keyward setup --chain` put keyward in front of it. An LDAP-only
//! user logs in with a key that is only in LDAP, a local user with a key
//! that is only in keyward's store; with sssd stopped the local user still
//! logs in and the failure is logged. tests/run.sh installs the packages.
//! One test function: the machine has one sssd.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const SSS_KEYS: &str = "/usr/bin/sss_ssh_authorizedkeys";

/// A daemon that is stopped when the test ends, however it ends.
struct Daemon {
    name: &'static str,
    child: Option<Child>,
    pidfile: Option<PathBuf>,
}

impl Daemon {
    fn stop(&mut self) {
        let running = self.child.is_some() || self.pidfile.is_some();
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(10);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(p) = self.pidfile.take()
            && let Ok(pid) = fs::read_to_string(&p)
            && let Ok(pid) = pid.trim().parse::<i32>()
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        if running {
            eprintln!("{} stopped", self.name);
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

const LPK_SCHEMA: &str = "\
attributetype ( 1.3.6.1.4.1.24552.500.1.1.1.13 NAME 'sshPublicKey'
  DESC 'OpenSSH public key'
  EQUALITY octetStringMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 )
objectclass ( 1.3.6.1.4.1.24552.500.1.1.2.0 NAME 'ldapPublicKey' SUP top AUXILIARY
  DESC 'OpenSSH LPK objectclass'
  MAY ( sshPublicKey $ uid ) )
";

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn slapd(dir: &Path, port: u16, user: &str, uid: u32, home: &Path, public: &str) -> Daemon {
    mkdir(dir, 0o755);
    let db = dir.join("db");
    mkdir(&db, 0o700);
    write(&dir.join("lpk.schema"), LPK_SCHEMA, 0o644);
    let conf = dir.join("slapd.conf");
    write(
        &conf,
        format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/nis.schema\n\
             include {schema}\n\
             pidfile {dir}/slapd.pid\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             database mdb\n\
             suffix \"dc=kwt,dc=test\"\n\
             rootdn \"cn=admin,dc=kwt,dc=test\"\n\
             rootpw secret\n\
             directory {db}\n",
            schema = dir.join("lpk.schema").display(),
            dir = dir.display(),
            db = db.display()
        ),
        0o644,
    );
    let ldif = dir.join("data.ldif");
    write(
        &ldif,
        format!(
            "dn: dc=kwt,dc=test\nobjectClass: dcObject\nobjectClass: organization\no: kwt\ndc: kwt\n\n\
             dn: ou=people,dc=kwt,dc=test\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: uid={user},ou=people,dc=kwt,dc=test\nobjectClass: account\nobjectClass: posixAccount\n\
             objectClass: ldapPublicKey\nuid: {user}\ncn: {user}\nuidNumber: {uid}\ngidNumber: {uid}\n\
             homeDirectory: {home}\nloginShell: /bin/sh\nsshPublicKey: {public}\n",
            home = home.display()
        ),
        0o644,
    );
    let st = Command::new("slapadd")
        .arg("-f")
        .arg(&conf)
        .arg("-l")
        .arg(&ldif)
        .status()
        .unwrap();
    assert!(st.success(), "slapadd");
    let st = Command::new("slapd")
        .arg("-f")
        .arg(&conf)
        .arg("-h")
        .arg(format!("ldap://127.0.0.1:{port}/"))
        .status()
        .unwrap();
    assert!(st.success(), "slapd");
    let d = Daemon {
        name: "slapd",
        child: None,
        pidfile: Some(dir.join("slapd.pid")),
    };
    wait_for("slapd listening", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    d
}

/// `sss` in /etc/nsswitch.conf for the test's duration only: the file as
/// it was comes back when this is dropped, however the test ends.
/// (tests/run.sh puts back what installing libnss-sss changed there.)
struct Nss {
    before: Vec<u8>,
}

impl Nss {
    const PATH: &str = "/etc/nsswitch.conf";

    fn with_sss() -> Nss {
        let before = fs::read(Self::PATH).unwrap();
        let text = String::from_utf8_lossy(&before)
            .lines()
            .map(|l| match l.split_once(':') {
                Some((db @ ("passwd" | "group"), rest))
                    if !rest.split_whitespace().any(|s| s == "sss") =>
                {
                    format!("{db}:{rest} sss")
                }
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        fs::write(Self::PATH, format!("{text}\n")).unwrap();
        Nss { before }
    }
}

impl Drop for Nss {
    fn drop(&mut self) {
        let _ = fs::write(Self::PATH, &self.before);
    }
}

fn sssd(dir: &Path, port: u16, user: &str) -> Daemon {
    // One sssd per machine: its caches live at fixed paths. Start clean, so
    // an earlier run's answers cannot stand in for this one's.
    let _ = Command::new("pkill").args(["-x", "sssd"]).status();
    for d in ["/var/lib/sss/db", "/var/lib/sss/mc"] {
        if let Ok(entries) = fs::read_dir(d) {
            for e in entries.flatten() {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    let conf = dir.join("sssd.conf");
    write(
        &conf,
        format!(
            "[sssd]\nservices = nss, ssh\ndomains = kwt\n\n\
             [nss]\nmemcache_timeout = 0\nentry_negative_timeout = 0\n\n\
             [ssh]\n\n\
             [domain/kwt]\nid_provider = ldap\nauth_provider = none\n\
             ldap_uri = ldap://127.0.0.1:{port}\nldap_search_base = dc=kwt,dc=test\n\
             ldap_schema = rfc2307\nldap_user_ssh_public_key = sshPublicKey\n\
             entry_cache_timeout = 1\ncache_credentials = false\n"
        ),
        0o600,
    );
    let child = Command::new("sssd")
        .args(["-i", "-c"])
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(dir.join("sssd.log")).unwrap())
        .spawn()
        .unwrap();
    let d = Daemon {
        name: "sssd",
        child: Some(child),
        pidfile: None,
    };
    wait_for("the LDAP user through NSS", || {
        Command::new("getent")
            .args(["passwd", user])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    d
}

#[test]
fn ldap_keys_through_sssd_and_store_keys_through_keyward_share_one_sshd() {
    for bin in ["/usr/sbin/slapd", "/usr/sbin/sssd", SSS_KEYS] {
        if !Path::new(bin).exists() {
            eprintln!(
                "skipped: {bin} is not installed (tests/run.sh installs slapd, sssd-ldap and libnss-sss)"
            );
            return;
        }
    }
    let _nss = Nss::with_sss();
    let t = Tree::new();
    let homes = homes(&t);
    let local = User::new(&homes, 0o755);
    let (local_key, local_public) = t.keygen("local");
    write(
        &t.user_file(&local.name),
        format!("{local_public}\n"),
        0o644,
    );

    // The LDAP-only user: uid far from local ones, a home sshd can enter.
    let ldap_user = format!("kwtldap{}", std::process::id());
    let uid = 27000 + std::process::id() % 1000;
    let ldap_home = homes.join(&ldap_user);
    mkdir(&ldap_home, 0o755);
    nix::unistd::chown(
        &ldap_home,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(uid)),
    )
    .unwrap();
    let (ldap_key, ldap_public) = t.keygen("ldap");
    let ldap_port = free_port();
    let _slapd = slapd(
        &t.root.join("ldap"),
        ldap_port,
        &ldap_user,
        uid,
        &ldap_home,
        &ldap_public,
    );
    let mut sssd = sssd(&t.root, ldap_port, &ldap_user);
    let o = Command::new(SSS_KEYS).arg(&ldap_user).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        ldap_public.trim()
    );

    // sshd as a directory-backed server has it: sss_ssh_authorizedkeys in
    // the slot, in the main file after the Include of the drop-ins.
    let drop_ins = t.root.join("sshd_config.d");
    mkdir(&drop_ins, 0o755);
    let config = t.root.join("sshd_config");
    let before = format!(
        "Include {}/*.conf\n\
         PubkeyAuthentication yes\n\
         AuthorizedKeysFile .ssh/authorized_keys\n\
         AuthorizedKeysCommand {SSS_KEYS} %u\n\
         AuthorizedKeysCommandUser nobody\n\
         UsePAM no\n",
        drop_ins.display()
    );
    write(&config, &before, 0o644);
    let o = setup_on(&t, &config, &[]);
    assert_eq!(
        code(&o),
        78,
        "without --chain setup keeps refusing: {}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("--chain"), "{}", stderr(&o));
    let o = setup_on(&t, &config, &["--chain"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!(
            "chained: sshd's previous AuthorizedKeysCommand {SSS_KEYS} %u"
        )),
        "{}",
        stdout(&o)
    );
    // In setup's record, not in keyward.toml.
    let recorded = fs::read_to_string(t.record()).unwrap();
    assert!(recorded.contains("[[chain]]\n"), "{recorded}");
    assert!(!fs::read_to_string(&t.config).unwrap().contains("[[chain]]"));
    assert!(
        recorded.contains(&format!("command = \"{SSS_KEYS} %u\"\n")),
        "{recorded}"
    );
    // keyward runs as the user the chained command ran as.
    let drop_in = fs::read_to_string(drop_ins.join("40-keyward.conf")).unwrap();
    assert!(
        drop_in.contains("AuthorizedKeysCommandUser nobody\n"),
        "{drop_in}"
    );

    let start = || Sshd::on_config(&t, Path::new("/usr/sbin/sshd"), &config, &[]);
    let sshd = start();
    let o = sshd.ssh(&ldap_key, &ldap_user, "echo ldap");
    assert_eq!(stdout(&o), "ldap\n", "{}\n{}", stderr(&o), sshd.log());
    let o = sshd.ssh(&local_key, &local.name, "echo local");
    assert_eq!(stdout(&o), "local\n", "{}\n{}", stderr(&o), sshd.log());
    let msgs = t.syslog.drain();
    let found = expect_msg(
        &msgs,
        INFO,
        &[&format!("user {ldap_user}: key"), "found at"],
    );
    assert!(
        found.text.contains(&format!("{SSS_KEYS} %u:1")),
        "{}",
        found.text
    );

    // check shows the chained source and what it returned.
    let o = t.admin(&[
        "check",
        "--sshd-config",
        config.to_str().unwrap(),
        &ldap_user,
    ]);
    let text = stdout(&o);
    assert_eq!(code(&o), 0, "{text}{}", stderr(&o));
    assert!(
        text.contains(&format!("ok:      chain: {SSS_KEYS} %u (as nobody"))
            && text.contains("1 key line(s) for"),
        "{text}"
    );

    // The directory goes away: the local user still logs in, and the log
    // says the chained command failed.
    sssd.stop();
    drop(sshd);
    let sshd = start();
    let o = sshd.ssh(&local_key, &local.name, "echo local");
    assert_eq!(stdout(&o), "local\n", "{}\n{}", stderr(&o), sshd.log());
    let msgs = t.syslog.drain();
    expect_msg(
        &msgs,
        ERR,
        &[&format!("chained command {SSS_KEYS} %u failed, status 1")],
    );
    expect_msg(&msgs, NOTICE, &["said: Error looking up public keys"]);
    drop(sshd);

    // --undo gives the slot back, byte for byte.
    let o = setup_on(&t, &config, &["--undo"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(fs::read_to_string(&config).unwrap(), before);
    assert!(!drop_ins.join("40-keyward.conf").exists());
}
