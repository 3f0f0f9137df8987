//! What every part of `make bench` shares: starting the release binary (killed when the
//! bench ends, whatever happens), wrk runs read as numbers, resident memory, the machine,
//! the report file, and signing in through the API. Each bench uses part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_barkeep");
pub const PASSWORD: &str = "correct horse battery staple";

/// Kills the process if the bench panics, so nothing is left behind.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The release binary on a fresh data folder (and `database_url`, else SQLite there),
/// with `vars` besides; returns it and its base URL once it listens.
pub fn start_barkeep(
    data: &Path,
    database_url: Option<&str>,
    vars: &[(&str, String)],
) -> (Proc, String) {
    // `BENCH_BIN` names another build to measure, to compare two side by side.
    let bin = std::env::var("BENCH_BIN").unwrap_or_else(|_| BIN.to_string());
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BARKEEP_DATA_DIR", data)
        .env("BARKEEP_LISTEN", "127.0.0.1:0")
        .env("BARKEEP_LOG_FORMAT", "json")
        .env("BARKEEP_LOG", "warn,barkeep::app::startup=info")
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    // The allocator's own settings pass through, to compare runs with and without them.
    for (k, v) in std::env::vars().filter(|(k, _)| k.starts_with("MALLOC_")) {
        cmd.env(k, v);
    }
    if let Some(url) = database_url {
        cmd.env("BARKEEP_DATABASE_URL", url);
    }
    let mut server = Proc(cmd.spawn().unwrap());
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    while let Some(Ok(line)) = lines.next() {
        let v: Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"] == "barkeep is listening" {
            let address = format!("http://{}", v["address"].as_str().unwrap());
            std::thread::spawn(move || for _ in lines {});
            return (server, address);
        }
    }
    panic!("barkeep did not start");
}

/// The database the bench's barkeep uses, for writing a population straight into it.
pub fn database_url(data: &Path, database_url: Option<&str>) -> String {
    database_url
        .map(str::to_string)
        .unwrap_or_else(|| format!("sqlite://{}?mode=rw", data.join("barkeep.db").display()))
}

/// Signs up and in; the `Cookie` value of the session.
pub async fn session(client: &reqwest::Client, base: &str, email: &str) -> String {
    client
        .post(format!("{base}/api/v1/signup"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let res = client
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// A JSON `POST` as the member of `cookie`; panics unless it succeeds.
pub async fn post_json(client: &reqwest::Client, cookie: &str, url: String, body: Value) -> Value {
    let res = client
        .post(url)
        .header("cookie", cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    res.json::<Value>().await.unwrap()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One wrk run's numbers.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub requests: u64,
    pub non_2xx: u64,
    pub socket_errors: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// The Lua that every run shares: a `done` that prints the numbers as JSON.
const DONE_LUA: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH {"requests":%d,"non_2xx":%d,"socket_errors":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99)))
end
"#;

pub fn wrk_command(
    url: &str,
    connections: u32,
    duration: u64,
    lua: &str,
    dir: &Path,
    name: &str,
) -> Command {
    let script = dir.join(format!("{name}.lua"));
    std::fs::write(&script, format!("{lua}\n{DONE_LUA}")).unwrap();
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t1",
        &format!("-c{connections}"),
        &format!("-d{duration}s"),
        "--timeout",
        "5s",
        "-s",
    ])
    .arg(&script)
    .arg(url);
    cmd
}

pub fn parse_wrk(stdout: &[u8]) -> Run {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("BENCH "))
        .unwrap_or_else(|| panic!("wrk printed no result:\n{text}"));
    let v: Value = serde_json::from_str(line).unwrap();
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    Run {
        requests: n("requests"),
        non_2xx: n("non_2xx"),
        socket_errors: n("socket_errors"),
        rps: n("requests") as f64 / (n("duration_us") as f64 / 1e6),
        p50_ms: n("p50_us") as f64 / 1000.0,
        p99_ms: n("p99_us") as f64 / 1000.0,
    }
}

pub fn wrk(url: &str, connections: u32, duration: u64, lua: &str, dir: &Path, name: &str) -> Run {
    let out = wrk_command(url, connections, duration, lua, dir, name)
        .output()
        .expect("run wrk (Debian package `wrk`; `make bench` installs it)");
    parse_wrk(&out.stdout)
}

/// CPU time a process has used so far (user and system, all its threads), in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command's closing parenthesis; utime and stime are the 12th
    // and 13th of them, in clock ticks of 1/100 s.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}

/// Resident memory now and at its peak, in kB (`VmRSS`, `VmHWM`).
pub fn rss_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Starts counting the peak (`VmHWM`) afresh from the memory in use now.
pub fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_string()))
        .unwrap_or_default();
    let kernel = Command::new("uname")
        .arg("-r")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {mem} RAM, Linux {kernel}")
}

/// Adds a part to target/bench/results.md (the load bench starts it afresh).
pub fn append_report(part: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("results.md");
    let before = std::fs::read_to_string(&file).unwrap_or_default();
    std::fs::write(&file, format!("{before}{part}")).unwrap();
}

/// `SQLite` or `PostgreSQL`, as the report names the database.
pub fn backend(url: &str) -> &'static str {
    if url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    }
}
