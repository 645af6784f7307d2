//! `keyward check USER --key FILE` against the real thing: every scenario
//! is first tried as a real login through a private sshd on 127.0.0.1 (the
//! system's Debian 9.2p1, and the 8.2p1 that tests/oracle/build.sh builds),
//! whose log must show sshd's own reason; then check, on the same
//! sshd_config, must exit 1 naming that reason, or 0 where the login worked.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const SSHD92: &str = "/usr/sbin/sshd";

/// An sshd that tests/oracle/build.sh built from source, if it did.
fn built(version: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/oracle")
        .join(version)
        .join("sshd");
    p.exists().then_some(p)
}

/// One tree, one sshd binary; each case gets its own sshd_config and sshd.
struct Lab {
    t: Tree,
    homes: PathBuf,
    sshd: PathBuf,
    case: u32,
    /// More `ssh -o` options for the next logins.
    client: Vec<&'static str>,
}

/// A key pair: the private key for ssh, the public file for check.
struct Pair {
    private: PathBuf,
    public: PathBuf,
    line: String,
}

impl Lab {
    fn new(sshd: &Path) -> Lab {
        let t = Tree::new();
        let homes = homes(&t);
        Lab {
            t,
            homes,
            sshd: sshd.to_path_buf(),
            case: 0,
            client: Vec::new(),
        }
    }

    fn key(&self, name: &str, kind: &str) -> Pair {
        let (private, line) = keygen(&self.t.root.join("keys"), name, kind);
        Pair {
            public: PathBuf::from(format!("{}.pub", private.display())),
            private,
            line,
        }
    }

    /// A CA and a certificate for `key` made with `args` (-n, -V, -O ...).
    fn certify(&self, ca: &Pair, key: &Pair, args: &[&str]) -> PathBuf {
        let st = Command::new("ssh-keygen")
            .args(["-q", "-s"])
            .arg(&ca.private)
            .args(["-I", "check-test"])
            .args(args)
            .arg(&key.public)
            .status()
            .unwrap();
        assert!(st.success());
        PathBuf::from(format!("{}-cert.pub", key.private.display()))
    }

    fn store(&self, user: &str, lines: &str) {
        write(&self.t.user_file(user), lines, 0o644);
    }

    /// The tree's sshd_config with `first` before the test settings (sshd
    /// takes the first value) and `last` at the end (Match blocks).
    fn config(&mut self, port: u16, first: &str, last: &str) -> PathBuf {
        self.case += 1;
        // 10.x's listener runs sshd-session and sshd-auth from where they
        // were installed; these were built beside it.
        let dir = self.sshd.parent().unwrap();
        let split = if dir.join("sshd-session").exists() {
            format!(
                "SshdSessionPath {}\nSshdAuthPath {}\n",
                dir.join("sshd-session").display(),
                dir.join("sshd-auth").display()
            )
        } else {
            String::new()
        };
        let base = self
            .t
            .sshd_config(port, &format!("{first}{split}LogLevel DEBUG1\n"));
        let path = self.t.root.join(format!("sshd_config.{}", self.case));
        let text = fs::read_to_string(&base).unwrap();
        write(&path, format!("{text}{last}"), 0o644);
        path
    }

    /// Logs in through a real sshd on this config; returns whether it
    /// worked and sshd's log.
    fn login(
        &mut self,
        first: &str,
        last: &str,
        user: &str,
        key: &Path,
    ) -> (bool, String, PathBuf) {
        let port = free_port();
        let config = self.config(port, first, last);
        let log = self.t.root.join(format!("sshd.{}.log", self.case));
        let sshd = Sshd::start_binary(&self.sshd, &config, &[], port, &log);
        let o = sshd.ssh_with(key, user, "echo in", &self.client);
        let worked = stdout(&o) == "in\n";
        // sshd writes the last lines as the connection closes.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let text = sshd.log();
        (worked, text, config)
    }

    fn check(&self, config: &Path, user: &str, public: &Path) -> (i32, serde_json::Value, String) {
        let sshd = self.sshd.to_str().unwrap();
        let args = [
            "check",
            "--sshd",
            sshd,
            "--sshd-config",
            config.to_str().unwrap(),
            "--key",
            public.to_str().unwrap(),
            "--from",
            "127.0.0.1",
            user,
        ];
        let text = self.t.admin(&args);
        let mut with_json = args.to_vec();
        with_json.insert(1, "--json");
        let o = self.t.admin(&with_json);
        assert_eq!(code(&o), code(&text), "{}", stdout(&text));
        (code(&o), json(&o), stdout(&text))
    }

    /// sshd refuses the login and logs `needle`; check exits 1 with `reason`
    /// at `step`.
    #[allow(clippy::too_many_arguments)]
    fn refused(
        &mut self,
        first: &str,
        last: &str,
        user: &str,
        private: &Path,
        public: &Path,
        needle: &str,
        reason: &str,
        step: u64,
    ) -> String {
        let (worked, log, config) = self.login(first, last, user, private);
        assert!(!worked, "{reason}: sshd let the key in\n{log}");
        assert!(
            log.contains(needle),
            "{reason}: sshd did not log {needle:?}:\n{log}"
        );
        let (code, json, text) = self.check(&config, user, public);
        // Shown with --nocapture, and with a failure.
        eprintln!("{text}");
        assert_eq!(code, 1, "{reason}: check exit {code}\n{text}");
        let v = &json["verdict"];
        assert_eq!(v["accepted"], false, "{json}");
        // The JSON carries the steps the text shows, and the same verdict.
        let steps = json["steps"].as_array().unwrap();
        assert_eq!(
            steps.len(),
            text.lines()
                .filter(|l| l.starts_with("  ") && l.as_bytes()[2].is_ascii_digit())
                .count(),
            "{json}"
        );
        for f in ["what", "cause", "log", "log_level", "fix", "step"] {
            assert!(v[f].is_string(), "{f}: {json}");
        }
        assert_eq!(v["reason"], reason, "{reason}: {text}");
        assert_eq!(v["number"], step, "{reason}: {text}");
        assert!(text.contains(&format!("REFUSED at step {step}")), "{text}");
        // The lines check says sshd logs are in sshd's log, word for word
        // (up to the client's port, which check cannot know).
        let said = v["log"].as_str().unwrap();
        for part in said.split("; then: ").filter(|p| !p.starts_with('(')) {
            let probe = part.split("PORT").next().unwrap();
            assert!(
                log.contains(probe),
                "{reason}: check says sshd logs {probe:?}; it does not:\n{log}"
            );
        }
        text
    }

    /// sshd lets the key in, and check says so (exit 0).
    fn accepted(&mut self, first: &str, user: &str, private: &Path, public: &Path) -> String {
        let (worked, log, config) = self.login(first, "", user, private);
        assert!(worked, "sshd refused:\n{log}");
        let (code, json, text) = self.check(&config, user, public);
        eprintln!("{text}");
        assert_eq!(code, 0, "{text}");
        assert_eq!(json["verdict"]["accepted"], true, "{json}");
        assert!(text.contains("ACCEPTED"), "{text}");
        text
    }

    fn user(&self, home_mode: u32) -> User {
        User::new(&self.homes, home_mode)
    }
}

fn usermod(args: &[&str]) {
    let st = Command::new("usermod").args(args).status().unwrap();
    assert!(st.success(), "usermod {args:?}");
}

#[test]
fn step_1_the_account() {
    let mut lab = Lab::new(Path::new(SSHD92));
    let k = lab.key("acct", "ed25519");
    let (p, q) = (&k.private, &k.public);

    let ghost = "kwtnosuchuser";
    lab.refused(
        "",
        "",
        ghost,
        p,
        q,
        &format!("Invalid user {ghost} from 127.0.0.1"),
        "no-such-user",
        1,
    );

    let u = lab.user(0o755);
    lab.store(&u.name, &format!("{}\n", k.line));
    let n = u.name.as_str();
    lab.refused(
        &format!("DenyUsers {n}\n"),
        "",
        n,
        p,
        q,
        "not allowed because listed in DenyUsers",
        "deny-users",
        1,
    );
    // A user@address pattern: denied from this address only.
    lab.refused(
        &format!("DenyUsers {n}@127.0.0.0/8\n"),
        "",
        n,
        p,
        q,
        "listed in DenyUsers",
        "deny-users",
        1,
    );
    lab.accepted(&format!("DenyUsers {n}@10.0.0.0/8\n"), n, p, q);
    lab.refused(
        "AllowUsers root\n",
        "",
        n,
        p,
        q,
        "not listed in AllowUsers",
        "allow-users",
        1,
    );
    lab.refused(
        &format!("DenyGroups {n}\n"),
        "",
        n,
        p,
        q,
        "a group is listed in DenyGroups",
        "deny-groups",
        1,
    );
    lab.refused(
        "AllowGroups root\n",
        "",
        n,
        p,
        q,
        "none of user's groups are listed in AllowGroups",
        "allow-groups",
        1,
    );

    // UsePAM no (the tests' sshd_config): sshd reads the shadow entry.
    usermod(&["-s", "/nonexistent/shell", n]);
    lab.refused(
        "",
        "",
        n,
        p,
        q,
        "because shell /nonexistent/shell does not exist",
        "shell-missing",
        1,
    );
    usermod(&["-s", "/bin/sh", n]);
    usermod(&["-p", "!", n]);
    let text = lab.refused(
        "",
        "",
        n,
        p,
        q,
        "not allowed because account is locked",
        "account-locked",
        1,
    );
    assert!(text.contains(&format!("usermod -U {n}")), "{text}");
    usermod(&["-p", "*", n]);
    usermod(&["-e", "1970-01-02", n]);
    lab.refused(
        "",
        "",
        n,
        p,
        q,
        &format!("Account {n} has expired"),
        "account-expired",
        1,
    );
    usermod(&["-e", "", n]);
    lab.accepted("", n, p, q);

    // UsePAM yes (Debian's default): sshd does not look at the lock, PAM's
    // account stack does not either, and the key logs in; pam_unix does
    // refuse an expired account, after the key.
    usermod(&["-p", "!", n]);
    let text = lab.accepted("UsePAM yes\n", n, p, q);
    assert!(text.contains("pam_unix.so"), "{text}");
    usermod(&["-p", "*", n]);
    usermod(&["-e", "1970-01-02", n]);
    lab.refused(
        "UsePAM yes\n",
        "",
        n,
        p,
        q,
        "by PAM account configuration",
        "pam-account-expired",
        5,
    );
    usermod(&["-e", "", n]);
}

#[test]
fn step_2_the_method() {
    let mut lab = Lab::new(Path::new(SSHD92));
    let k = lab.key("method", "ed25519");
    let (p, q) = (&k.private, &k.public);
    let u = lab.user(0o755);
    let n = u.name.as_str();
    lab.store(n, &format!("{}\n", k.line));
    // Turned off for this user only, by a Match block: check asks sshd -T
    // with the user and address, and names the line.
    let text = lab.refused(
        "LogLevel DEBUG3\n",
        &format!("Match User {n}\n    PubkeyAuthentication no\n"),
        n,
        p,
        q,
        "authmethod_lookup: method publickey not enabled [preauth]",
        "pubkey-disabled",
        2,
    );
    assert!(text.contains(&format!("in \"Match User {n}\"")), "{text}");
    // A key alone is not enough: sshd accepts it as a partial success.
    lab.refused(
        "KbdInteractiveAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive\n",
        "",
        n,
        p,
        q,
        &format!("Partial publickey for {n} from 127.0.0.1"),
        "key-not-enough",
        2,
    );
}

#[test]
fn step_3_the_key() {
    let mut lab = Lab::new(Path::new(SSHD92));
    let k = lab.key("ed", "ed25519");
    let rsa = lab.key("rsa", "rsa");
    let u = lab.user(0o755);
    let n = u.name.as_str();
    let ca = lab.key("ca", "ed25519");
    let user_key = lab.key("certified", "ed25519");
    let cert = lab.certify(&ca, &user_key, &["-n", n]);
    lab.store(
        n,
        &format!("{}\n{}\ncert-authority {}\n", k.line, rsa.line, ca.line),
    );

    let text = lab.refused(
        "PubkeyAcceptedAlgorithms rsa-sha2-512\n",
        "",
        n,
        &k.private,
        &k.public,
        "signature algorithm ssh-ed25519 not in PubkeyAcceptedAlgorithms",
        "algorithm-not-accepted",
        3,
    );
    assert!(
        text.contains("PubkeyAcceptedAlgorithms +ssh-ed25519"),
        "{text}"
    );
    // Only SHA-1 RSA listed: a current client signs with rsa-sha2-512.
    let text = lab.refused(
        "PubkeyAcceptedAlgorithms ssh-rsa\n",
        "",
        n,
        &rsa.private,
        &rsa.public,
        "signature algorithm rsa-sha2-512 not in PubkeyAcceptedAlgorithms",
        "algorithm-not-accepted",
        3,
    );
    assert!(text.contains("only ssh-rsa, SHA-1, is listed"), "{text}");
    lab.refused(
        "RequiredRSASize 4096\n",
        "",
        n,
        &rsa.private,
        &rsa.public,
        "refusing RSA key: Invalid key length",
        "rsa-too-small",
        3,
    );
    lab.refused(
        "CASignatureAlgorithms rsa-sha2-512\n",
        "",
        n,
        &user_key.private,
        &cert,
        "certificate signature algorithm ssh-ed25519: signature algorithm not supported",
        "ca-signature-algorithm",
        3,
    );
    // A KRL that revokes the key, read through ssh-keygen -Q.
    let krl = lab.t.root.join("revoked.krl");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-k", "-f"])
        .arg(&krl)
        .arg(&k.public)
        .status()
        .unwrap();
    assert!(st.success());
    lab.refused(
        &format!("RevokedKeys {}\n", krl.display()),
        "",
        n,
        &k.private,
        &k.public,
        "revoked by file",
        "revoked",
        3,
    );
    // The same KRL does not revoke the RSA key, which logs in.
    lab.accepted(
        &format!("RevokedKeys {}\n", krl.display()),
        n,
        &rsa.private,
        &rsa.public,
    );
    // A missing revocation file refuses every key.
    lab.refused(
        "RevokedKeys /nonexistent/revoked\n",
        "",
        n,
        &rsa.private,
        &rsa.public,
        "Error checking authentication key",
        "revoked-keys-unreadable",
        3,
    );
}

#[test]
fn step_4_the_sources() {
    let mut lab = Lab::new(Path::new(SSHD92));
    let k = lab.key("src", "ed25519");
    let (p, q) = (&k.private, &k.public);

    // Not anywhere.
    let u = lab.user(0o755);
    let n = u.name.as_str();
    lab.refused(
        "",
        "",
        n,
        p,
        q,
        &format!("Failed publickey for {n}"),
        "key-not-found",
        4,
    );

    // Only in the user's own file, in a home anyone can write.
    let open = lab.user(0o777);
    open.own_authorized_keys(&format!("{}\n", k.line), 0o600);
    let text = lab.refused(
        "",
        "",
        &open.name,
        p,
        q,
        &format!(
            "bad ownership or modes for directory {}",
            open.home.display()
        ),
        "strict-modes",
        4,
    );
    assert!(text.contains("chmod"), "{text}");

    // A file the user cannot read (root's, 0600).
    let closed = lab.user(0o755);
    let file = closed.own_authorized_keys(&format!("{}\n", k.line), 0o600);
    std::os::unix::fs::chown(&file, Some(0), Some(0)).unwrap();
    lab.refused(
        "",
        "",
        &closed.name,
        p,
        q,
        "authorized keys",
        "file-unreadable",
        4,
    );

    // A FIFO where the file belongs: sshd opens it without blocking and
    // refuses it; so does check, without hanging.
    let fifo = lab.user(0o755);
    let file = fifo.own_authorized_keys("", 0o600);
    fs::remove_file(&file).unwrap();
    mkfifo(&file);
    std::os::unix::fs::chown(&file, Some(fifo.uid), Some(fifo.gid)).unwrap();
    lab.refused(
        "",
        "",
        &fifo.name,
        p,
        q,
        "is not a regular file",
        "file-not-regular",
        4,
    );

    // Line options, in the user's own file (safe home).
    let own = lab.user(0o755);
    own.own_authorized_keys(&format!("from=\"10.9.9.9\" {}\n", k.line), 0o600);
    let text = lab.refused(
        "",
        "",
        &own.name,
        p,
        q,
        "not from a permitted host",
        "from",
        4,
    );
    assert!(text.contains("authorized_keys:1"), "{text}");
    own.own_authorized_keys(&format!("expiry-time=\"20000101\" {}\n", k.line), 0o600);
    lab.refused(
        "",
        "",
        &own.name,
        p,
        q,
        "entry expired at",
        "expiry-time",
        4,
    );
    own.own_authorized_keys(&format!("principals=\"x\" {}\n", k.line), 0o600);
    lab.refused(
        "",
        "",
        &own.name,
        p,
        q,
        "principals on non-CA key",
        "principals-without-ca",
        4,
    );

    // The same options on a line keyward serves from the store.
    lab.store(&u.name, &format!("from=\"10.9.9.9\" {}\n", k.line));
    let text = lab.refused("", "", n, p, q, "not from a permitted host", "from", 4);
    assert!(text.contains("keys %u %f %h %U:1"), "{text}");

    // The command fails: a store file anyone may write.
    lab.store(&u.name, &format!("{}\n", k.line));
    chmod(&lab.t.user_file(&u.name), 0o666);
    lab.refused("", "", n, p, q, "failed, status 77", "command-failed", 4);
    chmod(&lab.t.user_file(&u.name), 0o644);
}

#[test]
fn step_4_certificates() {
    let mut lab = Lab::new(Path::new(SSHD92));
    let u = lab.user(0o755);
    let n = u.name.clone();
    let ca = lab.key("ca", "ed25519");
    let key = lab.key("certified", "ed25519");
    let p = key.private.clone();
    lab.store(&n, &format!("cert-authority {}\n", ca.line));

    let cert = lab.certify(&ca, &key, &["-n", "someone-else"]);
    lab.refused(
        "",
        "",
        &n,
        &p,
        &cert,
        "name is not a listed principal",
        "certificate-principal",
        4,
    );
    let cert = lab.certify(&ca, &key, &["-n", &n, "-V", "20000101:20000102"]);
    lab.refused(
        "",
        "",
        &n,
        &p,
        &cert,
        "Certificate invalid: expired",
        "certificate-expired",
        4,
    );
    let cert = lab.certify(&ca, &key, &["-n", &n, "-O", "source-address=10.9.9.0/24"]);
    lab.refused(
        "",
        "",
        &n,
        &p,
        &cert,
        "not from a permitted source address",
        "certificate-source-address",
        4,
    );

    // A critical option this release does not know.
    let cert = lab.certify(&ca, &key, &["-n", &n, "-O", "critical:no-such-option=x"]);
    lab.refused(
        "",
        "",
        &n,
        &p,
        &cert,
        "Certificate critical option \"no-such-option\" is not supported",
        "certificate-critical-option",
        4,
    );

    // No principals at all: 9.2 takes it on a CA line without principals=,
    // for any user (10.0 refused it); check says so, and why.
    let cert = lab.certify(&ca, &key, &[]);
    let text = lab.accepted("", &n, &p, &cert);
    assert!(
        text.contains("the certificate lists no principals"),
        "{text}"
    );

    // TrustedUserCAKeys with a principals file that names someone else.
    lab.store(&n, "");
    let trusted = lab.t.root.join("trusted_ca");
    write(&trusted, format!("{}\n", ca.line), 0o644);
    let principals = lab.t.root.join("principals");
    mkdir(&principals, 0o755);
    write(&principals.join(&n), "someone-else\n", 0o644);
    let cert = lab.certify(&ca, &key, &["-n", &n]);
    let first = format!(
        "TrustedUserCAKeys {}\nAuthorizedPrincipalsFile {}/%u\n",
        trusted.display(),
        principals.display()
    );
    lab.refused(
        &first,
        "",
        &n,
        &p,
        &cert,
        "Certificate does not contain an authorized principal",
        "principals-not-listed",
        4,
    );
    write(&principals.join(&n), format!("{n}\n"), 0o644);
    lab.accepted(&first, &n, &p, &cert);

    // An AuthorizedPrincipalsCommand instead, run as sshd runs it (as
    // nobody, with %u and the certificate's %i): it says what out.txt
    // says and exits with rc.txt.
    let helper = lab.t.root.join("bin/principals");
    let out = lab.t.root.join("principals.out");
    let rc = lab.t.root.join("principals.rc");
    write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$2\" = check-test ] || exit 9\ncat {}\nexit $(cat {})\n",
            out.display(),
            rc.display()
        ),
        0o755,
    );
    let first = format!(
        "TrustedUserCAKeys {}\nAuthorizedPrincipalsCommand {} %u %i\nAuthorizedPrincipalsCommandUser nobody\n",
        trusted.display(),
        helper.display()
    );
    write(&out, "someone-else\n", 0o644);
    write(&rc, "0\n", 0o644);
    lab.refused(
        &first,
        "",
        &n,
        &p,
        &cert,
        "Certificate does not contain an authorized principal",
        "principals-not-listed",
        4,
    );
    write(&out, format!("{n}\n"), 0o644);
    lab.accepted(&first, &n, &p, &cert);
    write(&rc, "3\n", 0o644);
    lab.refused(
        &first,
        "",
        &n,
        &p,
        &cert,
        "failed, status 3",
        "principals-command-failed",
        4,
    );
}

#[test]
fn step_5_after_the_match() {
    let mut lab = Lab::new(Path::new(SSHD92));
    let k = lab.key("root", "ed25519");
    // root's key in the tree's store, never in /root.
    lab.store("root", &format!("{}\n", k.line));
    lab.refused(
        "PermitRootLogin no\n",
        "",
        "root",
        &k.private,
        &k.public,
        "ROOT LOGIN REFUSED FROM 127.0.0.1",
        "root-login",
        5,
    );
    lab.refused(
        "PermitRootLogin forced-commands-only\n",
        "",
        "root",
        &k.private,
        &k.public,
        "ROOT LOGIN REFUSED FROM 127.0.0.1",
        "root-login",
        5,
    );
}

#[test]
fn working_logins_exit_0() {
    let mut lab = Lab::new(Path::new(SSHD92));
    let k = lab.key("ok", "ed25519");
    let rsa = lab.key("okrsa", "rsa");
    // Synology's home: keyward's store lets the key in.
    let nas = lab.user(0o777);
    lab.store(&nas.name, &format!("{}\n{}\n", k.line, rsa.line));
    let text = lab.accepted("", &nas.name, &k.private, &k.public);
    assert!(text.contains("keys %u %f %h %U:1"), "{text}");
    let text = lab.accepted("", &nas.name, &rsa.private, &rsa.public);
    // 9.2's default no longer takes SHA-1 signatures.
    assert!(
        text.contains("ssh-rsa (SHA-1) is not in PubkeyAcceptedAlgorithms"),
        "{text}"
    );
    // The user's own file, safe home, nothing in the store.
    let own = lab.user(0o755);
    own.own_authorized_keys(&format!("{}\n", k.line), 0o600);
    let text = lab.accepted("", &own.name, &k.private, &k.public);
    assert!(text.contains(".ssh/authorized_keys:1"), "{text}");
    // A certificate through a cert-authority line in the store.
    let ca = lab.key("okca", "ed25519");
    let ck = lab.key("okcert", "ed25519");
    lab.store(&own.name, &format!("cert-authority {}\n", ca.line));
    let cert = lab.certify(&ca, &ck, &["-n", &own.name]);
    lab.accepted("", &own.name, &ck.private, &cert);
}

/// DSM's release: its directive name, its default for RSA, an option it
/// does not know, and StrictModes.
#[test]
fn openssh_8_2() {
    let Some(bin) = built("8.2p1") else {
        eprintln!(
            "skipped: no source (tests/oracle/build.sh builds sshd 8.2p1 from ../shared/openssh)"
        );
        return;
    };
    let mut lab = Lab::new(&bin);
    let k = lab.key("ed", "ed25519");
    let rsa = lab.key("rsa", "rsa");
    let u = lab.user(0o755);
    let n = u.name.clone();
    lab.store(&n, &format!("{}\n{}\n", k.line, rsa.line));

    let text = lab.refused(
        "PubkeyAcceptedKeyTypes rsa-sha2-512\n",
        "",
        &n,
        &k.private,
        &k.public,
        "key type ssh-ed25519 not in PubkeyAcceptedKeyTypes",
        "algorithm-not-accepted",
        3,
    );
    assert!(
        text.contains("PubkeyAcceptedKeyTypes +ssh-ed25519"),
        "{text}"
    );
    // 8.2 accepts RSA by default (its list still has ssh-rsa)...
    let text = lab.accepted("", &n, &rsa.private, &rsa.public);
    assert!(
        text.contains("rsa-sha2-512 is in PubkeyAcceptedKeyTypes"),
        "{text}"
    );
    // ...but a list of only ssh-rsa refuses a current client's RSA
    // signature, and 8.2 names the key type in its log.
    lab.refused(
        "PubkeyAcceptedKeyTypes ssh-rsa\n",
        "",
        &n,
        &rsa.private,
        &rsa.public,
        "key type ssh-rsa not in PubkeyAcceptedKeyTypes",
        "algorithm-not-accepted",
        3,
    );
    // verify-required: an option 8.2 does not know; the line is skipped.
    let own = lab.user(0o755);
    own.own_authorized_keys(&format!("verify-required {}\n", k.line), 0o600);
    let text = lab.refused(
        "",
        "",
        &own.name,
        &k.private,
        &k.public,
        "bad key options: unknown key option",
        "bad-line",
        4,
    );
    assert!(text.contains("needs OpenSSH 8.4p1"), "{text}");
    // StrictModes.
    let open = lab.user(0o777);
    open.own_authorized_keys(&format!("{}\n", k.line), 0o600);
    lab.refused(
        "",
        "",
        &open.name,
        &k.private,
        &k.public,
        "bad ownership or modes for directory",
        "strict-modes",
        4,
    );
}

/// Debian's 9.2 reads verify-required, which only security keys feel: the
/// line that 8.2 skips lets an ed25519 key in.
#[test]
fn verify_required_on_9_2() {
    let mut lab = Lab::new(Path::new(SSHD92));
    let k = lab.key("vr", "ed25519");
    let own = lab.user(0o755);
    own.own_authorized_keys(&format!("verify-required {}\n", k.line), 0o600);
    let text = lab.accepted("", &own.name, &k.private, &k.public);
    assert!(
        text.contains("verify-required applies to security keys only"),
        "{text}"
    );
}

/// What is not a key, an address or a user name is refused with a clear
/// message and a code of its own, never judged.
#[test]
fn bad_input_gets_a_clear_error() {
    let lab = Lab::new(Path::new(SSHD92));
    let k = lab.key("input", "ed25519");
    let check = |args: &[&str]| {
        let mut all = vec!["check"];
        all.extend_from_slice(args);
        lab.t.admin(&all)
    };
    let public = k.public.to_str().unwrap();

    let o = check(&["--key", "/nonexistent/id.pub", "root"]);
    assert_eq!(code(&o), 74, "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot read"), "{}", stderr(&o));

    let fifo = lab.t.root.join("fifo.pub");
    mkfifo(&fifo);
    let o = check(&["--key", fifo.to_str().unwrap(), "root"]);
    assert_ne!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));

    let garbage = lab.t.root.join("garbage.pub");
    write(&garbage, b"\x1b[31m\x00\xff not a key\n", 0o644);
    let o = check(&["--key", garbage.to_str().unwrap(), "root"]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert!(!stderr(&o).contains('\x1b'), "{}", stderr(&o));

    // A private key is refused, and nothing of it is printed.
    let o = check(&["--key", k.private.to_str().unwrap(), "root"]);
    assert_eq!(code(&o), 65, "{}", stderr(&o));
    assert!(!stdout(&o).contains("PRIVATE") && !stderr(&o).contains("PRIVATE"));

    let o = check(&["--key", public, "--from", "not-an-address", "root"]);
    assert_eq!(code(&o), 64, "{}", stderr(&o));
    let o = check(&["--from", "127.0.0.1", "root"]);
    assert_eq!(code(&o), 64, "--from needs --key: {}", stderr(&o));

    for bad in ["../x", "a/b", &"x".repeat(10_000)] {
        let o = check(&["--key", public, bad]);
        assert_eq!(code(&o), 65, "{bad}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    }
}

/// Upstream's newest: certificate refusals name the certificate and the
/// line, key-option refusals the line, and a certificate without
/// principals no longer passes a CA line (10.3).
#[test]
fn openssh_10_5() {
    let Some(bin) = built("10.5p1") else {
        eprintln!(
            "skipped: no source (tests/oracle/build.sh builds sshd 10.5p1 from ../shared/openssh)"
        );
        return;
    };
    let mut lab = Lab::new(&bin);
    let u = lab.user(0o755);
    let n = u.name.clone();
    let ca = lab.key("ca", "ed25519");
    let key = lab.key("certified", "ed25519");
    let p = key.private.clone();
    lab.store(&n, &format!("cert-authority {}\n", ca.line));

    let cert = lab.certify(&ca, &key, &[]);
    let text = lab.refused(
        "",
        "",
        &n,
        &p,
        &cert,
        "Certificate lacks principal list",
        "certificate-no-principals",
        4,
    );
    assert!(text.contains("sshd logs at ERROR: Refusing certificate ID \"check-test\" serial=0 signed by ED25519 CA"), "{text}");
    let cert = lab.certify(&ca, &key, &["-n", "someone-else"]);
    lab.refused(
        "",
        "",
        &n,
        &p,
        &cert,
        "name is not a listed principal",
        "certificate-principal",
        4,
    );
    let cert = lab.certify(&ca, &key, &["-n", &n]);
    lab.accepted("", &n, &p, &cert);

    let own = lab.user(0o755);
    own.own_authorized_keys(&format!("from=\"10.9.9.9\" {}\n", key.line), 0o600);
    let text = lab.refused(
        "",
        "",
        &own.name,
        &p,
        &key.public,
        "not from a permitted host",
        "from",
        4,
    );
    assert!(text.contains("Refused by key options at "), "{text}");
    let open = lab.user(0o777);
    open.own_authorized_keys(&format!("{}\n", key.line), 0o600);
    lab.refused(
        "",
        "",
        &open.name,
        &p,
        &key.public,
        "bad ownership or modes for directory",
        "strict-modes",
        4,
    );

    // setup reads this sshd's mixed-case sshd -T as well (10.4 changed it).
    let config = lab.config(free_port(), "", "");
    let o = setup_on(
        &lab.t,
        &config,
        &["--sshd", bin.to_str().unwrap(), "--dry-run"],
    );
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("recorded OpenSSH 10.5p1"),
        "{}",
        stdout(&o)
    );

    // A record that names another release: check judges as the sshd that
    // answers, and says the record is stale.
    mkdir(lab.t.record().parent().unwrap(), 0o755);
    write(
        &lab.t.record(),
        "[sshd]\nversion = \"9.2p1\"\ndebian = true\n",
        0o644,
    );
    let (code, json, text) = lab.check(&config, &n, &cert);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("as OpenSSH 10.5p1 judges it"), "{text}");
    assert!(
        text.contains("warning: keyward's record says OpenSSH 9.2p1 (Debian)"),
        "{text}"
    );
    assert!(
        json["warning"]
            .as_str()
            .unwrap()
            .contains("run keyward setup"),
        "{json}"
    );

    // DSA: 10.0 removed it. A client that still offers it (told to) is
    // refused at the algorithm, whatever the store says.
    let dsa = lab.key("dsa", "dsa");
    lab.store(&n, &format!("{}\n", dsa.line));
    lab.client = vec!["PubkeyAcceptedAlgorithms=+ssh-dss"];
    lab.refused(
        "",
        "",
        &n,
        &dsa.private,
        &dsa.public,
        "unsupported public key algorithm: ssh-dss",
        "algorithm-unknown",
        3,
    );
    lab.client.clear();
}
