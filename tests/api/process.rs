//! The `barkeep` binary as an operator runs it: configuration errors, `migrate`, and
//! SIGTERM while a request is in flight.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::fresh_database;

const BIN: &str = env!("CARGO_BIN_EXE_barkeep");

fn barkeep(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BARKEEP_DATA_DIR", data_dir)
        .env("BARKEEP_LOG_FORMAT", "json");
    cmd
}

#[test]
fn version_and_help() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(help.contains("serve") && help.contains("migrate"), "{help}");
}

#[test]
fn a_bad_database_url_stops_start_up_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for url in [
        "mysql://root:secret@localhost/x",
        "postgres://nobody:secret@127.0.0.1:1/nothing",
    ] {
        let out = barkeep(dir.path())
            .env("BARKEEP_DATABASE_URL", url)
            .arg("serve")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{url}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("BARKEEP_DATABASE_URL"), "{stderr}");
        assert!(!stderr.contains("secret"), "the password leaked: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
    }
}

#[test]
fn other_bad_values_name_their_variable_too() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("BARKEEP_LISTEN", "everywhere"),
        ("BARKEEP_MAIL_URL", "pigeon://coop"),
        ("BARKEEP_TRUSTED_PROXIES", "nonsense"),
    ] {
        let out = barkeep(dir.path()).env(var, value).output().unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains(var));
    }
}

#[tokio::test]
async fn migrate_prepares_an_empty_database() {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(dir.path()).await;
    let url = database.url.clone();
    let out = barkeep(dir.path())
        .env("BARKEEP_DATABASE_URL", &url)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = sea_orm::Database::connect(&url).await.unwrap();
    use sea_orm::{EntityTrait, PaginatorTrait};
    assert_eq!(
        barkeep::db::entities::member::Entity::find()
            .count(&db)
            .await
            .unwrap(),
        0
    );
}

/// Starts the binary on a random port and returns it with its address.
fn start(cmd: &mut Command) -> (Child, String) {
    let mut child = cmd
        .env("BARKEEP_LISTEN", "127.0.0.1:0")
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"] == "barkeep is listening" {
            let address = v["address"].as_str().unwrap().to_string();
            // Keep draining the log so the process never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return (child, address);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).ok();
    panic!("barkeep did not start: {err}");
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "barkeep did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish_then_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(dir.path()).await;
    let url = database.url.clone();
    let (mut child, address) = start(barkeep(dir.path()).env("BARKEEP_DATABASE_URL", &url));

    // A signup whose body arrives in two halves, with SIGTERM in between.
    let body = br#"{"email":"inflight@example.com","password":"correct horse battery staple"}"#;
    let (first, second) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "POST /api/v1/signup HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(first).unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));

    sigterm(&child);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "it waits for the request"
    );
    assert!(
        TcpStream::connect(&address).is_err(),
        "no new connections after SIGTERM"
    );

    stream.write_all(second).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut response = String::new();
    let mut buf = [0u8; 4096];
    while !response.contains("inflight@example.com") {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        response.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    drop(stream);

    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(0));

    // The account it created is there.
    let db = sea_orm::Database::connect(&url).await.unwrap();
    use sea_orm::{EntityTrait, PaginatorTrait};
    assert_eq!(
        barkeep::db::entities::member::Entity::find()
            .count(&db)
            .await
            .unwrap(),
        1
    );
}

#[test]
fn an_idle_server_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address) = start(&mut barkeep(dir.path()));
    assert!(TcpStream::connect(&address).is_ok());
    sigterm(&child);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(20)).code(),
        Some(0)
    );
    // The default SQLite file and mail folder live in the data dir.
    assert!(dir.path().join("barkeep.db").exists());
    assert!(dir.path().join("mail-out").is_dir());
}

/// Starts the binary and keeps every line it logs, on stdout and stderr.
fn start_logging(
    cmd: &mut Command,
) -> (Child, String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let mut child = cmd
        .env("BARKEEP_LISTEN", "127.0.0.1:0")
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = |stream: Box<dyn Read + Send>,
                lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>| {
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        })
    };
    keep(Box::new(child.stdout.take().unwrap()), lines.clone());
    keep(Box::new(child.stderr.take().unwrap()), lines.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let address = lines.lock().unwrap().iter().find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            (v["message"] == "barkeep is listening")
                .then(|| v["address"].as_str().unwrap().to_string())
        });
        if let Some(address) = address {
            return (child, address, lines);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("barkeep did not start: {:?}", lines.lock().unwrap());
}

#[tokio::test]
async fn a_providers_key_never_reaches_the_log_even_at_trace_level() {
    // No server runs in this process: its HTTP clients need the TLS provider installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    use serde_json::json;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const GOOD: &str = "kit-key-that-must-stay-secret-GOOD";
    const BAD: &str = "kit-key-that-was-revoked-long-ago-BAD";
    let kit = MockServer::start().await;
    let fixture = |name: &str| -> serde_json::Value {
        let file = format!(
            "{}/tests/fixtures/esp/kit/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
    };
    Mock::given(method("GET"))
        .and(path("/v4/forms"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("lists.response")["body"].clone()),
        )
        .mount(&kit)
        .await;
    Mock::given(method("GET"))
        .and(path("/v4/tags"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("tags.response")["body"].clone()),
        )
        .mount(&kit)
        .await;
    // Once saved, the key is revoked at Kit: every add is refused.
    Mock::given(method("POST"))
        .and(header("x-kit-api-key", GOOD))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(fixture("bad_key.response")["body"].clone()),
        )
        .mount(&kit)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(dir.path()).await;
    let (mut child, address, lines) = start_logging(
        barkeep(dir.path())
            .env("BARKEEP_DATABASE_URL", &database.url)
            .env("BARKEEP_LOG", "trace")
            .env("BARKEEP_TRUSTED_PROXIES", "127.0.0.1")
            .env("BARKEEP_ESP_KIT_URL", kit.uri()),
    );
    let base = format!("http://{address}");
    let client = reqwest::Client::new();
    let email = "keeper@example.com";
    let password = "correct horse battery staple";
    let res = client
        .post(format!("{base}/api/v1/signup"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    let mail = dir.path().join("mail-out");
    let deadline = Instant::now() + Duration::from_secs(20);
    let confirm = loop {
        if let Some(m) = crate::processes::read_mail_dir(&mail)
            .into_iter()
            .find(|m| m.subject.contains("Confirm"))
        {
            break m.link("/confirm-email");
        }
        assert!(Instant::now() < deadline, "no confirmation email");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        client
            .get(&confirm)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let res = client
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let cookie = crate::helpers::session_cookie(&res).unwrap();
    let call = |m: reqwest::Method, p: &str, body: serde_json::Value| {
        client
            .request(m, format!("{base}{p}"))
            .header("cookie", &cookie)
            .json(&body)
            .send()
    };
    let site: serde_json::Value = call(
        reqwest::Method::POST,
        "/api/v1/sites",
        json!({"name": "Shop", "hostnames": ["shop.example"]}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let site = site["id"].as_i64().unwrap();
    // A wrong key first: refused, and named in no line.
    let res = call(
        reqwest::Method::PUT,
        &format!("/api/v1/sites/{site}/list-forward"),
        json!({"provider": "kit", "key": BAD, "list_id": "form:1"}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    let res = call(
        reqwest::Method::PUT,
        &format!("/api/v1/sites/{site}/list-forward"),
        json!({"provider": "kit", "key": GOOD, "list_id": "form:5612847"}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    // A lead, sent to Kit by the delivery job, which Kit refuses: the forward stops.
    let bar: serde_json::Value = call(
        reqwest::Method::POST,
        &format!("/api/v1/sites/{site}/bars"),
        json!({"goal": "email", "message": "Join the list"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let published: serde_json::Value = call(
        reqwest::Method::POST,
        &format!("/api/v1/bars/{}/publish", bar["id"]),
        json!({}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let deployment = published["deployments"][0]["id"].as_i64().unwrap();
    let res = client
        .post(format!("{base}/l"))
        .header("content-type", "text/plain;charset=UTF-8")
        .header("user-agent", crate::helpers::BROWSER_UA)
        .header("origin", "https://shop.example")
        .header("x-forwarded-for", "10.30.0.1")
        .body(
            json!({"d": deployment, "h": "shop.example", "m": "jane.doe@example.com", "hp": ""})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::NO_CONTENT);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let forward: serde_json::Value = call(
            reqwest::Method::GET,
            &format!("/api/v1/sites/{site}/list-forward"),
            json!(null),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        if forward["stopped_at"].is_string() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the forward never stopped: {forward}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sigterm(&child);
    wait_exit(&mut child, Duration::from_secs(20));
    let lines = lines.lock().unwrap();
    assert!(
        lines.iter().any(|l| l.contains("list forward was stopped")),
        "the stop is logged"
    );
    assert!(lines.len() > 50, "trace logs were written: {}", lines.len());
    for key in [GOOD, BAD] {
        for l in lines.iter() {
            assert!(
                !l.contains(key) && !l.contains(&key[..16]),
                "the key in: {l}"
            );
        }
    }
}
