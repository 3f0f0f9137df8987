//! Builds the bar runtime (`widget/src`) with `widget/build.mjs` (esbuild), so the server
//! embeds its minified parts, and copies the user-agent pattern list of the pinned npm `isbot`
//! package, which the event endpoint uses to tell bots from people.
//!
//! A build needs Node.js and npm: the first one installs the widget's pinned npm
//! packages (`widget/package-lock.json`) under the target directory
//! (`target/widget-npm/`), never into the source tree, and installs them again only
//! when the lockfile changes.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=widget/src");
    println!("cargo:rerun-if-changed=widget/build.mjs");
    println!("cargo:rerun-if-changed=widget/package.json");
    println!("cargo:rerun-if-changed=widget/package-lock.json");

    let widget = std::fs::canonicalize("widget").expect("the widget folder");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let npm = install_packages(&widget, &out_dir);
    // The runtime in parts (a head, its modules, a tail), minified by esbuild; every
    // site's script is assembled from them (see widget/README.md).
    run(
        Command::new("node")
            .arg(widget.join("build.mjs"))
            .arg(&out_dir)
            .env("BARKEEP_NODE_MODULES", npm.join("node_modules"))
            .current_dir(&widget),
        "widget/build.mjs",
    );
    let parts = std::fs::read_to_string(out_dir.join("runtime.json")).expect("read runtime.json");
    if parts.matches("__BK_CONFIG__").count() != 1 {
        panic!("the runtime's parts must contain __BK_CONFIG__ exactly once");
    }

    let patterns = Command::new("node")
        .args([
            "-e",
            "const {list} = require('isbot'); \
             const {version} = require('isbot/package.json'); \
             process.stdout.write(JSON.stringify({version, list}))",
        ])
        .current_dir(&npm)
        .output()
        .expect("node runs");
    if !patterns.status.success() {
        panic!(
            "reading isbot's pattern list failed: {}",
            String::from_utf8_lossy(&patterns.stderr)
        );
    }
    std::fs::write(out_dir.join("isbot-patterns.json"), patterns.stdout)
        .expect("write the isbot pattern list");
}

/// The widget's pinned npm packages, installed under the target directory (`OUT_DIR` is
/// `<target>/<profile>/build/<package>/out`, so every profile shares one install).
fn install_packages(widget: &Path, out_dir: &Path) -> PathBuf {
    let dir = out_dir
        .ancestors()
        .nth(4)
        .unwrap_or(out_dir)
        .join("widget-npm");
    std::fs::create_dir_all(&dir).expect("create the npm folder under target/");
    let lock = std::fs::read(widget.join("package-lock.json")).expect("widget/package-lock.json");
    let installed = std::fs::read(dir.join("package-lock.json")).ok();
    let complete = dir.join("node_modules/.bin/esbuild").exists()
        && dir.join("node_modules/isbot/package.json").exists();
    if installed.as_deref() != Some(&lock[..]) || !complete {
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(widget.join(file), dir.join(file))
                .expect("copy the widget's npm manifest");
        }
        run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir),
            "npm ci (under target/widget-npm)",
        );
    }
    dir
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
