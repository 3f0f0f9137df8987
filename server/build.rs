//! Builds the bar runtime (`widget/src/bar.js`) with esbuild, so the server embeds the
//! minified script, and copies the user-agent pattern list of the pinned npm `isbot`
//! package, which the event endpoint uses to tell bots from people. The first build
//! installs the widget's pinned npm packages.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=widget/src");
    println!("cargo:rerun-if-changed=widget/package.json");
    println!("cargo:rerun-if-changed=widget/package-lock.json");

    let widget = Path::new("widget");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("bar.min.js");
    // Either the native binary or npm's launcher for it, depending on how npm installed
    // it; both run directly.
    let esbuild = widget.join("node_modules/.bin/esbuild");
    let isbot = widget.join("node_modules/isbot/package.json");

    if !esbuild.exists() || !isbot.exists() {
        run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(widget),
            "npm ci (in widget/)",
        );
    }
    run(
        Command::new(std::fs::canonicalize(&esbuild).expect("esbuild installed"))
            .args([
                "src/bar.js",
                "--minify",
                "--target=es2020",
                "--legal-comments=none",
            ])
            .arg(format!("--outfile={}", out.display()))
            .current_dir(widget),
        "esbuild",
    );

    let js = std::fs::read_to_string(&out).expect("read the minified runtime");
    if js.matches("__BK_CONFIG__").count() != 1 {
        panic!("the minified runtime must contain __BK_CONFIG__ exactly once");
    }

    let patterns = Command::new("node")
        .args([
            "-e",
            "const {list} = require('isbot'); \
             const {version} = require('isbot/package.json'); \
             process.stdout.write(JSON.stringify({version, list}))",
        ])
        .current_dir(widget)
        .output()
        .expect("node runs");
    if !patterns.status.success() {
        panic!(
            "reading isbot's pattern list failed: {}",
            String::from_utf8_lossy(&patterns.stderr)
        );
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out_dir.join("isbot-patterns.json"), patterns.stdout)
        .expect("write the isbot pattern list");
}

fn run(cmd: &mut Command, what: &str) {
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("{what} failed ({s}); Node.js and npm are needed to build the bar runtime"),
        Err(e) => {
            panic!("could not run {what}: {e}; Node.js and npm are needed to build the bar runtime")
        }
    }
}
