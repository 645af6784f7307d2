//! Real parts for the integration tests: a root-owned tree, the built binary
//! copied into it, real users from useradd, keys from ssh-keygen, and a real
//! Unix datagram socket that receives keyward's syslog lines.
//!
//! These tests need root (CI runs as root): they chown, useradd and setpriv.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests create users and root-owned trees: run them as root (sudo cargo test)"
    );
}

fn unique() -> String {
    format!(
        "{}{}",
        std::process::id() % 100_000,
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn mkdir(path: &Path, mode: u32) {
    fs::create_dir_all(path).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

pub fn write(path: &Path, data: impl AsRef<[u8]>, mode: u32) {
    fs::write(path, data).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

pub fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(st.success(), "mkfifo {}", path.display());
}

pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A root-owned 0755 directory under /var/lib/keyward-test (never /tmp,
/// which is world-writable and so refused by keyward and by sshd), holding a
/// copy of the binary, a store, a config and a syslog socket. Removed on drop.
pub struct Tree {
    pub root: PathBuf,
    pub bin: PathBuf,
    pub store: PathBuf,
    pub config: PathBuf,
    pub syslog: Syslog,
}

impl Tree {
    pub fn new() -> Tree {
        require_root();
        mkdir(Path::new("/var/lib/keyward-test"), 0o755);
        let root = PathBuf::from(format!("/var/lib/keyward-test/t{}", unique()));
        let _ = fs::remove_dir_all(&root);
        mkdir(&root, 0o755);
        mkdir(&root.join("bin"), 0o755);
        let bin = root.join("bin/keyward");
        // Copied by another process: a write descriptor in this one would be
        // inherited by children other test threads fork, and their exec of
        // this file would then fail with ETXTBSY.
        let st = Command::new("install")
            .args(["-m", "0755", env!("CARGO_BIN_EXE_keyward")])
            .arg(&bin)
            .status()
            .unwrap();
        assert!(st.success());
        let store = root.join("store");
        mkdir(&store.join("users"), 0o755);
        let syslog = Syslog::bind(&root.join("log.sock"));
        let config = root.join("keyward.toml");
        let tree = Tree {
            root,
            bin,
            store,
            config,
            syslog,
        };
        tree.write_config("");
        tree
    }

    /// Writes the config: store and syslog socket of this tree, plus `extra`.
    /// Home warnings come on every lookup (`warn_interval = 0`, and state
    /// in the tree, never the system's) unless `extra` sets an interval
    /// itself: the tests that count them do.
    pub fn write_config(&self, extra: &str) {
        let quiet = format!(
            "warn_interval = 0\nstate = \"{}\"",
            self.root.join("state/warned").display()
        );
        let extra = if extra.contains("warn_interval") {
            extra.to_string()
        } else if extra.contains("[home_check]") {
            extra.replacen("[home_check]", &format!("[home_check]\n{quiet}"), 1)
        } else {
            format!("{extra}\n[home_check]\n{quiet}")
        };
        // setup's record in the tree too, never the system's.
        let text = format!(
            "store = \"{}\"\nrecord = \"{}\"\n{extra}\n[syslog]\nsocket = \"{}\"\n",
            self.store.display(),
            self.record().display(),
            self.syslog.path.display()
        );
        write(&self.config, text, 0o644);
    }

    /// Where `keyward setup` records what it found, for this tree.
    pub fn record(&self) -> PathBuf {
        self.root.join("state/setup.toml")
    }

    pub fn user_file(&self, user: &str) -> PathBuf {
        self.store.join("users").join(user)
    }

    /// Runs `keyward --config <cfg> keys ARGS` as sshd does: as nobody, with
    /// sshd's environment, stdin from /dev/null, cwd /.
    pub fn keys_as_nobody<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(&self.bin)
            .arg("--config")
            .arg(&self.config)
            .arg("keys")
            .args(args);
        sshd_like(&mut cmd)
    }

    /// The same as root (what an admin runs by hand).
    pub fn keys_as_root(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--config").arg(&self.config).arg("keys").args(args);
        sshd_like(&mut cmd)
    }

    /// The sshd_config docs/admin-guide.md documents, pointed at this tree's binary
    /// and config, listening on 127.0.0.1:`port`, with `extra` lines first
    /// (sshd takes the first value of a keyword).
    pub fn sshd_config(&self, port: u16, extra: &str) -> PathBuf {
        let host_key = self.host_key();
        let config = self.root.join("sshd_config");
        write(
            &config,
            format!(
                "{extra}\
                 ListenAddress 127.0.0.1:{port}\n\
                 HostKey {}\n\
                 PidFile none\n\
                 StrictModes yes\n\
                 UsePAM no\n\
                 LogLevel VERBOSE\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 MaxStartups 100\n\
                 MaxSessions 100\n\
                 AuthorizedKeysCommand {} --config {} keys %u %f %h %U\n\
                 AuthorizedKeysCommandUser nobody\n",
                host_key.display(),
                self.bin.display(),
                self.config.display()
            ),
            0o644,
        );
        config
    }

    /// This tree's sshd host key, made on first use.
    pub fn host_key(&self) -> PathBuf {
        let host_key = self.root.join("ssh_host_ed25519_key");
        if !host_key.exists() {
            let st = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&host_key)
                .status()
                .unwrap();
            assert!(st.success());
        }
        host_key
    }

    /// Runs `keyward --config <cfg> ARGS` as root, stdin from /dev/null.
    pub fn admin(&self, args: &[&str]) -> Output {
        self.admin_with_input(args, b"")
    }

    /// The same with `input` on stdin.
    pub fn admin_with_input(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut child = Command::new(&self.bin)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A command that refuses its arguments exits without reading stdin.
        let _ = child.stdin.take().unwrap().write_all(input);
        child.wait_with_output().unwrap()
    }

    /// A fresh ed25519 key pair in the tree; returns (private key path, public line).
    pub fn keygen(&self, name: &str) -> (PathBuf, String) {
        keygen(&self.root.join("keys"), name, "ed25519")
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn sshd_like(cmd: &mut Command) -> Output {
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/games")
        .env("USER", "nobody")
        .env("LOGNAME", "nobody")
        .env("HOME", "/nonexistent")
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

pub fn keygen(dir: &Path, name: &str, kind: &str) -> (PathBuf, String) {
    mkdir(dir, 0o755);
    let key = dir.join(name);
    let _ = fs::remove_file(&key);
    let _ = fs::remove_file(key.with_extension("pub"));
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", name, "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    let public = fs::read_to_string(format!("{}.pub", key.display())).unwrap();
    (key, public.trim_end().to_string())
}

/// `SHA256:...` as ssh-keygen prints it for a public key line.
pub fn fingerprint(public: &str, hash: &str) -> String {
    let out = Command::new("ssh-keygen")
        .args(["-E", hash, "-l", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(public.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

/// One received syslog datagram.
#[derive(Debug, Clone)]
pub struct Msg {
    pub facility: u8,
    pub severity: u8,
    pub text: String,
}

pub const ERR: u8 = 3;
pub const WARNING: u8 = 4;
pub const NOTICE: u8 = 5;
pub const INFO: u8 = 6;
pub const AUTHPRIV: u8 = 10;

/// A real syslog socket: a bound Unix datagram socket anyone may write to,
/// drained by a thread so that keyward never finds the queue full.
pub struct Syslog {
    pub path: PathBuf,
    received: Arc<Mutex<Vec<Msg>>>,
}

impl Syslog {
    pub fn bind(path: &Path) -> Syslog {
        let _ = fs::remove_file(path);
        let sock = UnixDatagram::bind(path).unwrap();
        chmod(path, 0o666);
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&received);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            // Ends when the tree (and so the socket file) is gone and the test exits.
            while let Ok(n) = sock.recv(&mut buf) {
                let raw = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock().unwrap().push(parse(&raw));
            }
        });
        Syslog {
            path: path.to_path_buf(),
            received,
        }
    }

    /// Every datagram received so far. keyward has exited when this is
    /// called, but its last datagram may still be in flight for a moment.
    pub fn drain(&self) -> Vec<Msg> {
        std::thread::sleep(Duration::from_millis(50));
        std::mem::take(&mut *self.received.lock().unwrap())
    }
}

fn parse(raw: &str) -> Msg {
    let close = raw.find('>').expect("RFC 3164 <PRI>");
    let pri: u8 = raw[1..close].parse().unwrap();
    assert!(raw.contains("keyward["), "ident: {raw}");
    Msg {
        facility: pri >> 3,
        severity: pri & 7,
        text: raw[close + 1..].to_string(),
    }
}

/// Finds the one message of `severity` containing every piece of `parts`.
pub fn expect_msg<'a>(msgs: &'a [Msg], severity: u8, parts: &[&str]) -> &'a Msg {
    msgs.iter()
        .find(|m| m.severity == severity && parts.iter().all(|p| m.text.contains(p)))
        .unwrap_or_else(|| panic!("no severity-{severity} message with {parts:?} in {msgs:#?}"))
}

/// A real account made with useradd (private group, password field `*`),
/// its home at `home` with `mode`. Removed with its group on drop.
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

impl User {
    pub fn new(parent: &Path, mode: u32) -> User {
        let name = format!("kwt{}", unique());
        let home = parent.join(&name);
        let _ = Command::new("userdel").arg(&name).output();
        // Tests run in parallel and useradd gives up when /etc/passwd is locked.
        let mut tries = 0;
        loop {
            let out = Command::new("useradd")
                .args(["-M", "-U", "-s", "/bin/sh", "-p", "*", "-d"])
                .arg(&home)
                .arg(&name)
                .output()
                .unwrap();
            tries += 1;
            if out.status.success() {
                break;
            }
            assert!(tries < 20, "useradd: {out:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let pw = nix::unistd::User::from_name(&name).unwrap().unwrap();
        mkdir(&home, mode);
        chown(&home, Some(pw.uid.as_raw()), Some(pw.gid.as_raw())).unwrap();
        chmod(&home, mode);
        User {
            name,
            uid: pw.uid.as_raw(),
            gid: pw.gid.as_raw(),
            home,
        }
    }

    /// `~/.ssh/authorized_keys` holding `lines`, owned by the user, ~/.ssh 0700.
    pub fn own_authorized_keys(&self, lines: &str, mode: u32) -> PathBuf {
        let ssh = self.home.join(".ssh");
        mkdir(&ssh, 0o700);
        let file = ssh.join("authorized_keys");
        write(&file, lines, mode);
        for p in [&ssh, &file] {
            chown(p, Some(self.uid), Some(self.gid)).unwrap();
        }
        file
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).output();
        let _ = fs::remove_dir_all(&self.home);
    }
}

/// The exit status, -1 for a signal.
pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// stdout as one JSON document.
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", stdout(o), stderr(o)))
}

/// A root-owned 0755 directory for the tree's users' homes.
pub fn homes(t: &Tree) -> PathBuf {
    let h = t.root.join("homes");
    mkdir(&h, 0o755);
    h
}

/// `keyward setup --binary <tree's> --sshd-config CONFIG EXTRA...`.
pub fn setup_on(t: &Tree, config: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "setup",
        "--binary",
        t.bin.to_str().unwrap(),
        "--sshd-config",
        config.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    t.admin(&args)
}

/// The backups setup left in `dir`, oldest first.
pub fn backups(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("keyward-backup"))
        .collect();
    found.sort();
    found
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A valid ed25519 key line nobody holds the private key of, number `i`.
pub fn filler_key(i: u32) -> String {
    use base64::Engine;
    let mut blob = Vec::new();
    blob.extend_from_slice(&11u32.to_be_bytes());
    blob.extend_from_slice(b"ssh-ed25519");
    blob.extend_from_slice(&32u32.to_be_bytes());
    let mut k = [0u8; 32];
    k[..4].copy_from_slice(&i.to_be_bytes());
    k[31] = 0x5a;
    blob.extend_from_slice(&k);
    format!(
        "ssh-ed25519 {} filler{i}",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real sshd in the foreground (`-D -e`), logging to `log`; killed on drop.
pub struct Sshd {
    child: std::process::Child,
    pub port: u16,
    log: PathBuf,
}

impl Sshd {
    /// `sshd -D -e -f CONFIG EXTRA...`, waiting until `port` accepts.
    pub fn start(config: &Path, extra: &[&str], port: u16, log: &Path) -> Sshd {
        Sshd::start_binary(Path::new("/usr/sbin/sshd"), config, extra, port, log)
    }

    /// `binary` on an existing sshd_config, the test-only settings given
    /// with `-o` (they win: sshd takes the first value): a free port on
    /// 127.0.0.1, the tree's host key, no pid file, then `extra`.
    /// sshd that reads no user file and asks the tree's keyward with
    /// `offered` (`%k` or `%f`) for the key.
    pub fn asking(t: &Tree, offered: &str) -> Sshd {
        let port = free_port();
        let config = t.sshd_config(
            port,
            &format!(
                "AuthorizedKeysFile none\nAuthorizedKeysCommand {} --config {} keys %u {offered} %h %U\n",
                t.bin.display(),
                t.config.display()
            ),
        );
        let log = t
            .root
            .join(format!("sshd-{}.log", offered.trim_start_matches('%')));
        Sshd::start(&config, &[], port, &log)
    }

    pub fn on_config(t: &Tree, binary: &Path, config: &Path, extra: &[&str]) -> Sshd {
        let port = free_port();
        let listen = format!("ListenAddress=127.0.0.1:{port}");
        let hk = format!("HostKey={}", t.host_key().display());
        let mut args = vec!["-o", &listen, "-o", &hk, "-o", "PidFile=none"];
        for e in extra {
            args.extend(["-o", e]);
        }
        Sshd::start_binary(binary, config, &args, port, &t.root.join("sshd.log"))
    }

    /// The same with another sshd binary (one built from source).
    pub fn start_binary(
        binary: &Path,
        config: &Path,
        extra: &[&str],
        port: u16,
        log: &Path,
    ) -> Sshd {
        use std::time::{Duration, Instant};
        mkdir(Path::new("/run/sshd"), 0o755);
        let child = Command::new(binary)
            .args(["-D", "-e", "-f"])
            .arg(config)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not start: {}",
                fs::read_to_string(log).unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Sshd {
            child,
            port,
            log: log.to_path_buf(),
        }
    }

    /// `ssh -i KEY USER@127.0.0.1 COMMAND`, non-interactive, keys only.
    pub fn ssh(&self, key: &Path, user: &str, command: &str) -> Output {
        self.ssh_with(key, user, command, &[])
    }

    /// The same with more client options (`-o NAME=VALUE` each).
    pub fn ssh_with(&self, key: &Path, user: &str, command: &str, options: &[&str]) -> Output {
        let mut extra = Vec::new();
        for o in options {
            extra.extend(["-o", o]);
        }
        Command::new("ssh")
            .args(["-F", "/dev/null"])
            .args(&extra)
            .arg("-i")
            .arg(key)
            .args([
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "PasswordAuthentication=no",
                "-o",
                "ConnectTimeout=20",
                "-o",
                "LogLevel=ERROR",
                "-p",
            ])
            .arg(self.port.to_string())
            .arg(format!("{user}@127.0.0.1"))
            .arg(command)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
