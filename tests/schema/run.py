#!/usr/bin/env python3
"""Property-based tests of the member API from its own OpenAPI document (schemathesis).

Starts the barkeep binary on a fresh database (SQLite, or PostgreSQL when
BARKEEP_TEST_POSTGRES_URL names a server), signs a member up through the API (the
confirmation link comes from the mail folder), makes an API token and one of everything,
then lets schemathesis call every operation with generated input. It fails on any 5xx,
any status the document does not list, and any response that breaks its schema.

    tests/schema/run.py target/debug/barkeep [schemathesis]
"""

import email
import email.policy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
import uuid
from pathlib import Path

PASSWORD = "correct horse battery staple"


def call(base, method, path, body=None, token=None, cookie=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if body is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    if cookie:
        req.add_header("cookie", cookie)
    with urllib.request.urlopen(req) as res:
        text = res.read().decode()
        return res, (json.loads(text) if text else None)


def start(binary, data_dir, database_url):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "BARKEEP_LISTEN": "127.0.0.1:0",
        "BARKEEP_DATA_DIR": str(data_dir),
        "BARKEEP_DATABASE_URL": database_url,
        "BARKEEP_LOG_FORMAT": "json",
        "BARKEEP_LOG": "warn",
    }
    # "barkeep is listening" is logged at info; ask for that line only.
    env["BARKEEP_LOG"] = "warn,barkeep::app::startup=info"
    proc = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("message") == "barkeep is listening":
            # Keep reading, or a full pipe would stall the server.
            log = open(data_dir / "server.log", "w")
            threading.Thread(target=lambda: [log.write(l) for l in proc.stdout], daemon=True).start()
            return proc, "http://" + event["address"]
    proc.kill()
    sys.exit("barkeep did not start")


def member(base, mail_dir):
    address = "schema@example.com"
    call(base, "POST", "/api/v1/signup", {"email": address, "password": PASSWORD})
    # The mail worker writes the confirmation within a moment.
    for _ in range(100):
        files = sorted(mail_dir.glob("*.eml")) if mail_dir.exists() else []
        if files:
            break
        subprocess.run(["sleep", "0.1"])
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()
    token = re.search(r"confirm-email\?token=([A-Za-z0-9_-]+)", text).group(1)
    call(base, "POST", "/api/v1/email/confirm", {"token": token})
    res, _ = call(base, "POST", "/api/v1/login", {"email": address, "password": PASSWORD})
    cookie = res.headers["set-cookie"].split(";")[0]
    _, created = call(base, "POST", "/api/v1/tokens", {"name": "schemathesis"}, cookie=cookie)
    api = created["token"]
    _, site = call(base, "POST", "/api/v1/sites",
                   {"name": "Shop", "hostnames": ["shop.example"]}, token=api)
    _, bar = call(base, "POST", f"/api/v1/sites/{site['id']}/bars",
                  {"goal": "link", "message": "Hello", "button_label": "Go",
                   "link_url": "https://shop.example/"}, token=api)
    call(base, "POST", f"/api/v1/bars/{bar['id']}/variants", {"message": "Other"}, token=api)
    call(base, "POST", f"/api/v1/bars/{bar['id']}/publish", {}, token=api)
    return api


def run_schemathesis(args):
    """Runs schemathesis, once more when it stopped on an error of its own.

    A failed check (a 5xx, an undocumented status, a response off its schema) is barkeep's
    and fails at once. Hypothesis, under schemathesis's test-case generation, now and then
    reports its own generator as flaky ("Runtime Error ... Inconsistent results") before any
    request is sent; such a run, with no failed check, is run a second time.
    """
    for attempt in (1, 2):
        result = subprocess.run(args, capture_output=True, text=True)
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        sys.stdout.flush()
        own_error = (
            result.returncode != 0
            and " FAILURES " not in result.stdout
            and "Runtime Error" in result.stdout
        )
        if not own_error or attempt == 2:
            return result
        print("schemathesis stopped on an error of its own, with no failed check; "
              "running it once more", flush=True)


def main():
    binary = sys.argv[1]
    schemathesis = sys.argv[2] if len(sys.argv) > 2 else "schemathesis"
    admin = os.environ.get("BARKEEP_TEST_POSTGRES_URL", "")
    work = Path(tempfile.mkdtemp(prefix="barkeep-schema-"))
    database, backend = None, "sqlite"
    if admin:
        database = "barkeep_test_schema_" + uuid.uuid4().hex
        subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{database}"'], check=True)
        url = admin.rsplit("/", 1)[0] + "/" + database
        backend = "postgres"
    else:
        url = f"sqlite://{work / 'schema.db'}?mode=rwc"
    proc, base = start(binary, work, url)
    try:
        token = member(base, work / "mail-out")
        print(f"schemathesis against {base} on {backend}", flush=True)
        result = run_schemathesis([
            schemathesis, "run", f"{base}/api/v1/openapi.json",
            "--header", f"Authorization: Bearer {token}",
            "--checks", "not_a_server_error,status_code_conformance,"
                        "content_type_conformance,response_schema_conformance",
            "--phases", "examples,coverage,fuzzing",
            "--max-examples", os.environ.get("SCHEMA_MAX_EXAMPLES", "20"),
            "--seed", os.environ.get("SCHEMA_SEED", "20261202"),
            "--workers", "2",
            "--request-timeout", "10",
            # Deleting its own token would leave the rest of the run signed out.
            "--exclude-path", "/api/v1/tokens/{token_id}",
            "--report", "junit",
            "--report-dir", str(Path("target") / "schemathesis" / backend),
            "--warnings", "off",
        ])
        # What the run reached: answers by status class, so a run that only ever met 401s
        # or 404s would show.
        with urllib.request.urlopen(base + "/metrics") as res:
            metrics = res.read().decode()
        classes = {}
        for m in re.finditer(r'^barkeep_http_requests_total\{[^}]*status="(\d)\d\d"\} (\d+)', metrics, re.M):
            classes[m.group(1) + "xx"] = classes.get(m.group(1) + "xx", 0) + int(m.group(2))
        print("answers by status:", dict(sorted(classes.items())), flush=True)
        if classes.get("2xx", 0) < 100:
            print("too few successful answers: the run did not get past authentication or validation")
            return 1
        if result.returncode != 0:
            print("--- the server's warnings and errors ---")
            print((work / "server.log").read_text()[-20000:])
        return result.returncode
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if database:
            subprocess.run(["psql", admin, "-qc",
                            f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
