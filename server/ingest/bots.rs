//! Telling bots from people by their user agent. The patterns are those of the npm
//! `isbot` package, which follows public crawler lists; the version pinned in
//! `widget/package.json` is read at build time (`server/build.rs`), so updating the list
//! is updating that pin. A few patterns of barkeep's own cover agents the list lets
//! through (see docs/counting.md). Verdicts are remembered per user agent: real traffic
//! repeats a few thousand of them, and the list is long.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::RwLock;

use anyhow::Context;
use regex::bytes::{Regex, RegexBuilder};
use serde::Deserialize;

/// `{"version": "5.2.3", "list": ["pattern", …]}` from the pinned package.
const ISBOT: &str = include_str!(concat!(env!("OUT_DIR"), "/isbot-patterns.json"));

/// Agents the list (5.2.3) lets through, found by replaying public lists of monitors,
/// AI fetchers, scanners and HTTP clients (tests/api/user_agents.rs). Matched
/// case-insensitively, like the list.
const OWN: &[&str] = &[
    r"thousandeyes",
    r"nikto",
    r"acunetix",
    r"onetrust",
    r"chatgpt-user",
    r"perplexity",
    r"\(dart:io\)",
];

/// Remembered verdicts; past this many (a flood of made-up user agents) they start over.
const MAX_VERDICTS: usize = 50_000;

#[derive(Deserialize)]
struct List {
    version: String,
    list: Vec<String>,
}

/// A pattern with a look-behind at its start or a look-ahead at its end, which Rust's
/// regex engine does not have: the core is matched, then the text before and after it
/// is checked.
struct Guarded {
    core: Regex,
    /// The text before the match must not end with this.
    not_after: Option<Regex>,
    /// The text after the match must not start with this.
    not_before: Option<Regex>,
}

impl Guarded {
    fn matches(&self, ua: &[u8]) -> bool {
        let mut from = 0;
        while from <= ua.len() {
            let Some(m) = self.core.find_at(ua, from) else {
                return false;
            };
            let before_ok = self
                .not_after
                .as_ref()
                .is_none_or(|r| !r.is_match(&ua[..m.start()]));
            let after_ok = self
                .not_before
                .as_ref()
                .is_none_or(|r| !r.is_match(&ua[m.end()..]));
            if before_ok && after_ok {
                return true;
            }
            from = m.start() + 1;
        }
        false
    }
}

/// JavaScript reads a `-` next to a class escape inside `[…]` (as in `[\w\d-.]`) as a
/// plain hyphen; Rust's parser wants it escaped.
fn from_javascript(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let (mut in_class, mut escaped, mut after_class_escape) = (false, false, false);
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if escaped {
            escaped = false;
            after_class_escape = in_class && "wWdDsS".contains(c);
            out.push(c);
            continue;
        }
        match c {
            '\\' => escaped = true,
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '-' if in_class
                && (after_class_escape
                    || (chars.peek() == Some(&'\\') && {
                        let mut ahead = chars.clone();
                        ahead.next();
                        ahead.next().is_some_and(|e| "wWdDsS".contains(e))
                    })) =>
            {
                out.push_str("\\-");
                after_class_escape = false;
                continue;
            }
            _ => {}
        }
        after_class_escape = false;
        out.push(c);
    }
    out
}

fn case_insensitive(pattern: &str) -> anyhow::Result<Regex> {
    // ASCII semantics for \w, \d and \b, as in JavaScript. The long alternation needs a
    // roomier lazy DFA than the default to stay fast on user agents never seen before
    // (about 0.2 µs instead of 15 µs each).
    RegexBuilder::new(&from_javascript(pattern))
        .case_insensitive(true)
        .unicode(false)
        .dfa_size_limit(16 << 20)
        .build()
        .with_context(|| format!("the bot pattern `{pattern}`"))
}

/// Splits a leading `(?<!…)` and a trailing `(?!…)` off a pattern.
fn guarded(pattern: &str) -> anyhow::Result<Guarded> {
    let mut core = pattern;
    let mut not_after = None;
    if let Some(rest) = core.strip_prefix("(?<!") {
        let close = closing_paren(rest)
            .with_context(|| format!("unbalanced look-behind in `{pattern}`"))?;
        not_after = Some(case_insensitive(&format!("(?:{})$", &rest[..close]))?);
        core = &rest[close + 1..];
    }
    let mut not_before = None;
    if let Some(open) = core.find("(?!") {
        let inner = &core[open + 3..];
        let close = closing_paren(inner)
            .with_context(|| format!("unbalanced look-ahead in `{pattern}`"))?;
        if close + 1 != inner.len() {
            anyhow::bail!("a look-ahead that does not end the pattern: `{pattern}`");
        }
        not_before = Some(case_insensitive(&format!("^(?:{})", &inner[..close]))?);
        core = &core[..open];
    }
    if core.contains("(?<") || core.contains("(?=") || core.contains("(?!") {
        anyhow::bail!("a look-around barkeep cannot split off: `{pattern}`");
    }
    Ok(Guarded {
        core: case_insensitive(core)?,
        not_after,
        not_before,
    })
}

/// The index of the parenthesis closing the group that `s` is the inside of.
fn closing_paren(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '(' => depth += 1,
            ')' if depth == 0 => return Some(i),
            ')' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn has_lookaround(p: &str) -> bool {
    p.contains("(?<!") || p.contains("(?<=") || p.contains("(?!") || p.contains("(?=")
}

pub struct Bots {
    plain: Regex,
    guarded: Vec<Guarded>,
    verdicts: RwLock<HashMap<u64, bool>>,
    hasher: RandomState,
    /// The isbot version the patterns came from.
    pub version: String,
}

impl Bots {
    pub fn load() -> anyhow::Result<Bots> {
        let list: List = serde_json::from_str(ISBOT).context("the isbot pattern list")?;
        let (with, without): (Vec<&String>, Vec<&String>) =
            list.list.iter().partition(|p| has_lookaround(p));
        let plain: Vec<String> = without
            .iter()
            .map(|p| p.to_string())
            .chain(OWN.iter().map(|p| p.to_string()))
            .collect();
        // Each on its own first, so an error names the pattern rather than all of them.
        for p in &plain {
            case_insensitive(p)?;
        }
        Ok(Bots {
            plain: case_insensitive(&plain.join("|"))?,
            guarded: with
                .into_iter()
                .map(|p| guarded(p))
                .collect::<Result<_, _>>()?,
            verdicts: RwLock::new(HashMap::new()),
            hasher: RandomState::new(),
            version: list.version,
        })
    }

    /// Whether a user agent is a bot's. No user agent at all is a bot's too.
    pub fn is_bot(&self, user_agent: Option<&str>) -> bool {
        let Some(ua) = user_agent.filter(|ua| !ua.trim().is_empty()) else {
            return true;
        };
        let key = self.hasher.hash_one(ua);
        if let Some(verdict) = self
            .verdicts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return *verdict;
        }
        let bytes = ua.as_bytes();
        let verdict = self.plain.is_match(bytes) || self.guarded.iter().any(|g| g.matches(bytes));
        let mut verdicts = self.verdicts.write().unwrap_or_else(|e| e.into_inner());
        if verdicts.len() >= MAX_VERDICTS {
            verdicts.clear();
        }
        verdicts.insert(key, verdict);
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_arounds_keep_their_meaning() {
        let g = guarded("(?<! channel/|google/)google(?!(?:wv|app|/google| pixel))").unwrap();
        assert!(g.matches(b"Mozilla/5.0 (compatible; Googlebot/2.1)"));
        assert!(!g.matches(b"Mozilla/5.0 Chrome/120 GoogleApp/1.0"));
        assert!(!g.matches(b"Mozilla/5.0 channel/google"));
        assert!(
            g.matches(b"x channel/google google crawler"),
            "a later match counts"
        );
        let g = guarded("(?<!cam)scan").unwrap();
        assert!(g.matches(b"NetScan/1"));
        assert!(!g.matches(b"CamScanner/6"));
        let g = guarded("java(?!;)").unwrap();
        assert!(g.matches(b"Java/17.0.2"));
        assert!(!g.matches(b"Mozilla/5.0 (Linux; U; Java;"));
    }

    #[test]
    fn hyphens_next_to_class_escapes_are_plain() {
        assert_eq!(from_javascript(r"[\w\d-.]"), r"[\w\d\-.]");
        assert_eq!(from_javascript(r"[a-z\-]"), r"[a-z\-]");
        assert_eq!(from_javascript(r"[.-\d]"), r"[.\-\d]");
        assert_eq!(from_javascript(r"a-b"), "a-b");
    }

    #[test]
    fn every_pattern_of_the_pinned_list_compiles() {
        let bots = Bots::load().unwrap();
        assert!(
            bots.guarded.len() >= 5,
            "the look-around patterns were found"
        );
        assert!(bots.is_bot(None));
        assert!(bots.is_bot(Some("  ")));
        assert!(bots.is_bot(Some(
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
        )));
        assert!(!bots.is_bot(Some(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
        )));
    }

    use proptest::prelude::*;

    /// Characters that trip up text handling (NUL, bidi controls, combining marks,
    /// ligatures, multi-byte letters, separators), mixed with plain ones.
    fn hostile_char() -> impl Strategy<Value = char> {
        prop_oneof![
            4 => proptest::sample::select(vec![
                '\u{0}', '\u{202e}', '\u{2066}', 'é', 'ﬀ', '\u{301}', '.', '*', '-', '@', ':',
                '/', '%', ' ', '\n', '\r', '\t', '"', ',', '=', '\'', '<', '>', ';', '#', '?',
                '&', '+', '[', ']', '\\', '\u{feff}', '\u{200b}', '\u{85}', '\u{a0}', 'İ', 'ß',
                '€', '\u{1f600}',
            ]),
            1 => any::<char>(),
            3 => proptest::char::range('a', 'z'),
            1 => proptest::char::range('A', 'Z'),
            2 => proptest::char::range('0', '9'),
        ]
    }

    /// Arbitrary text: anything at all, hostile characters, name-like text, and long
    /// strings (up to a few thousand characters).
    fn hostile() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            proptest::collection::vec(hostile_char(), 0..80)
                .prop_map(|v| v.into_iter().collect::<String>()),
            "[a-z0-9.*-]{0,40}",
            ".{0,3000}",
        ]
    }

    /// The patterns, compiled once for every case.
    fn bots() -> &'static Bots {
        static BOTS: std::sync::OnceLock<Bots> = std::sync::OnceLock::new();
        BOTS.get_or_init(|| Bots::load().expect("the pinned pattern list compiles"))
    }

    fn user_agent() -> impl Strategy<Value = String> {
        prop_oneof![
            hostile(),
            proptest::collection::vec(
                prop_oneof![
                    3 => proptest::sample::select(vec![
                        "Mozilla/5.0 ", "(Windows NT 10.0; Win64; x64) ", "AppleWebKit/537.36 ",
                        "(KHTML, like Gecko) ", "Chrome/131.0.0.0 ", "Safari/537.36", "google",
                        "Google/", " channel/", "GoogleApp/1.0", "bot", "cubot", " cu", "scan",
                        "Cam", "java", "Java;", "lib", "http", "news", "(?<!", ")", "\\", "[",
                    ])
                    .prop_map(String::from),
                    1 => hostile_char().prop_map(String::from),
                    1 => "[a-zA-Z0-9/ ;.()]{1,12}",
                ],
                0..16,
            )
            .prop_map(|parts| parts.concat()),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_user_agents_never_panic_and_get_the_same_verdict_twice(ua in user_agent()) {
            let first = bots().is_bot(Some(&ua));
            prop_assert_eq!(bots().is_bot(Some(&ua)), first, "{:?}", ua);
            if ua.trim().is_empty() {
                prop_assert!(first, "a blank user agent is a bot's: {:?}", ua);
            }
        }

        #[test]
        fn a_user_agent_naming_googlebot_is_a_bot(
            before in prop_oneof![hostile(), user_agent()],
            name in proptest::sample::select(vec!["Googlebot", "googlebot", "GOOGLEBOT", "GoogleBot", "Googlebots"]),
            // Googlebot as a word: followed by a non-word character, or by nothing.
            next in proptest::sample::select(vec!["/", " ", ";", ")", ",", "-", "é", "\u{0}", ""]),
            after in prop_oneof![hostile(), user_agent()],
        ) {
            let ua = if next.is_empty() {
                format!("{before}{name}")
            } else {
                format!("{before}{name}{next}{after}")
            };
            prop_assert!(bots().is_bot(Some(&ua)), "{:?} was taken for a person", ua);
        }
    }
}
