//! Real processes a test starts for itself, shared by the API tests and `make bench`: a
//! PostgreSQL server of its own (so stopping it disturbs no other test), an SMTP server
//! that keeps what it receives, HAProxy in front of barkeep nodes, and the scenario of
//! three nodes behind it (`cluster`). Everything listens on loopback ports picked here.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

pub mod cluster;

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real SMTP server (aiosmtpd, Debian's python3-aiosmtpd; `tests/smtp/server.py`)
/// keeping each message exactly as received. Recipients starting with `bounce` are
/// refused with a permanent 550; those starting with `soft` get a temporary 451 the first
/// time they are seen (greylisting), and are accepted after.
pub struct SmtpServer {
    child: std::process::Child,
    pub port: u16,
    maildir: PathBuf,
    _dir: TempDir,
}

impl SmtpServer {
    pub fn start_on(port: u16) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("Maildir");
        let python = ["/usr/bin/python3", "python3"]
            .into_iter()
            .find(|p| {
                Command::new(p)
                    .args(["-c", "import aiosmtpd"])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .expect(
                "python3 with aiosmtpd (Debian package python3-aiosmtpd; `make test` installs it)",
            );
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/server.py");
        let child = Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the SMTP server");
        let server = SmtpServer {
            child,
            port,
            maildir,
            _dir: dir,
        };
        wait_for_port(port, "the SMTP server");
        server
    }

    pub fn start() -> SmtpServer {
        Self::start_on(free_port())
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn messages(&self) -> Vec<Email> {
        let mut out = Vec::new();
        if let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) {
            for e in entries.flatten() {
                out.push(Email::parse(&std::fs::read(e.path()).unwrap()));
            }
        }
        out
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One parsed email.
#[derive(Debug, Clone)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub raw: Vec<u8>,
}

impl Email {
    pub fn parse(raw: &[u8]) -> Email {
        let msg = mail_parser::MessageParser::default()
            .parse(raw)
            .expect("a parseable email");
        let to = msg
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_string();
        Email {
            to,
            subject: msg.subject().unwrap_or_default().to_string(),
            text: msg.body_text(0).map(|t| t.to_string()).unwrap_or_default(),
            html: msg.body_html(0).map(|t| t.to_string()).unwrap_or_default(),
            raw: raw.to_vec(),
        }
    }

    /// The first link in the text part whose path starts with `path`.
    pub fn link(&self, path: &str) -> String {
        self.text
            .split_whitespace()
            .find(|w| w.starts_with("http") && w.contains(path))
            .unwrap_or_else(|| panic!("no {path} link in: {}", self.text))
            .to_string()
    }

    pub fn token(&self, path: &str) -> String {
        let link = self.link(path);
        link.split("token=")
            .nth(1)
            .expect("a token in the link")
            .to_string()
    }
}

pub fn read_mail_dir(dir: &Path) -> Vec<Email> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| Email::parse(&std::fs::read(p).expect("read email")))
        .collect()
}

/// A PostgreSQL server of the test's own, so stopping it disturbs no other test.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
    bin: std::path::PathBuf,
}

impl PrivatePostgres {
    pub fn launch() -> PrivatePostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries in /usr/lib/postgresql")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|p| p.join("initdb").exists())
            .expect("initdb");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let pg = PrivatePostgres { dir, port, bin };
        // PostgreSQL refuses to run as root; run it as the postgres user then.
        Command::new("chmod")
            .args(["777", &pg.dir.path().display().to_string()])
            .status()
            .unwrap();
        let data = pg.dir.path().join("data");
        let ok = pg
            .run(
                "initdb",
                &[
                    "-D",
                    &data.display().to_string(),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "--no-sync",
                ],
            )
            .success();
        assert!(ok, "initdb failed");
        pg.start();
        pg
    }

    fn run(&self, tool: &str, args: &[&str]) -> std::process::ExitStatus {
        let exe = self.bin.join(tool).display().to_string();
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0"))
            .unwrap_or(false);
        let mut cmd = if root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", &exe]);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
    }

    fn pg_ctl(&self, action: &str) {
        let data = self.dir.path().join("data").display().to_string();
        let log = self.dir.path().join("log").display().to_string();
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let ok = match action {
            "start" => self.run(
                "pg_ctl",
                &["-D", &data, "-l", &log, "-o", &opts, "-w", "start"],
            ),
            _ => self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]),
        };
        assert!(ok.success(), "pg_ctl {action} failed");
    }

    pub fn start(&self) {
        self.pg_ctl("start");
    }

    pub fn stop(&self) {
        self.pg_ctl("stop");
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").display().to_string();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

/// HAProxy (Debian's package) on a loopback port, balancing over barkeep nodes: round
/// robin, health checks every 200 ms on `/healthz`, a request whose node refused the
/// connection or closed it without an answer tried on another, and the answering node
/// named in `X-Barkeep-Node`.
pub struct Haproxy {
    child: Child,
    pub port: u16,
    _dir: TempDir,
}

impl Haproxy {
    pub fn start(nodes: &[u16]) -> Haproxy {
        Self::start_on(free_port(), nodes)
    }

    pub fn start_on(port: u16, nodes: &[u16]) -> Haproxy {
        let exe = ["/usr/sbin/haproxy", "haproxy"]
            .into_iter()
            .find(|p| {
                Command::new(p)
                    .arg("-v")
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .expect("haproxy (Debian package haproxy; `make test` installs it)");
        let dir = tempfile::tempdir().unwrap();
        let servers: String = nodes
            .iter()
            .enumerate()
            .map(|(i, p)| format!("  server n{} 127.0.0.1:{p} check\n", i + 1))
            .collect();
        let config = format!(
            "global\n  maxconn 4096\n\
             defaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n\
             \x20 retries 3\n  option redispatch 1\n  retry-on conn-failure empty-response\n\
             frontend visitors\n  bind 127.0.0.1:{port}\n  option forwardfor\n  default_backend nodes\n\
             backend nodes\n  balance roundrobin\n  option httpchk GET /healthz\n\
             \x20 default-server inter 200ms fall 2 rise 1\n\
             \x20 http-response set-header X-Barkeep-Node %s\n{servers}"
        );
        let file = dir.path().join("haproxy.cfg");
        std::fs::write(&file, config).unwrap();
        let child = Command::new(exe)
            .arg("-db")
            .arg("-f")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy");
        wait_for_port(port, "haproxy");
        Haproxy {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until something listens on a loopback port.
pub fn wait_for_port(port: u16, what: &str) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not start on port {port}");
}
