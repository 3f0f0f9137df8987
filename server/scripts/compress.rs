//! Compressing site scripts, on one thread of its own: never on the threads that answer
//! requests, one script at a time, and its memory stays in one place.
//!
//! A script is compressed twice. First quickly (brotli at quality 5, gzip at its best):
//! a millisecond or two even for a site of 100 bars, so a publish reaches visitors at
//! once and a burst of publishes does not queue up behind the compressor. Then, once the
//! script has stayed the current one for [`SETTLE`], brotli at its best (quality 11), about
//! a tenth smaller and some fifty milliseconds of work for a site of 100 bars, spent once
//! per burst instead of once per publish. A script is polished only while no quick job
//! waits; a quick job that arrives during a polish waits for that one to end.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;

/// Brotli's quality for a script's first compression.
pub const QUICK: u32 = 5;
/// Brotli's quality once the script has settled.
pub const BEST: u32 = 11;
/// How long a script must stay the current one before it is compressed at its best.
pub const SETTLE: Duration = Duration::from_secs(5);

/// A script's compressed forms.
pub struct Packed {
    pub plain: String,
    pub gzip: Vec<u8>,
    pub brotli: Vec<u8>,
}

/// Compresses a script: gzip at its best, brotli at `quality`. Compression into memory
/// cannot really fail; if it ever did, the caller gets the error rather than an empty
/// body labelled gzip.
pub fn pack(js: String, quality: u32) -> anyhow::Result<Packed> {
    let gzip = {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(js.as_bytes()).context("gzip")?;
        enc.finish().context("gzip")?
    };
    let brotli = brotli(js.as_bytes(), quality)?;
    Ok(Packed {
        plain: js,
        gzip,
        brotli,
    })
}

/// Brotli at `quality`, with a window just large enough for the text.
pub fn brotli(text: &[u8], quality: u32) -> anyhow::Result<Vec<u8>> {
    let mut w = brotli::CompressorWriter::new(Vec::new(), 4096, quality, window(text.len()));
    w.write_all(text).context("brotli")?;
    w.flush().context("brotli")?;
    Ok(w.into_inner())
}

/// The smallest brotli window (log2 of its size, 10 to 22) that holds `len` bytes: a
/// script of a few kilobytes needs kilobytes, not the 4 MB of the largest window, and the
/// encoder's memory grows with the window.
fn window(len: usize) -> u32 {
    // A window of 2^n bytes holds 2^n − 16 of them.
    let need = len.saturating_add(16).max(2);
    (usize::BITS - (need - 1).leading_zeros()).clamp(10, 22)
}

type Reply = tokio::sync::oneshot::Sender<anyhow::Result<Packed>>;

/// A script to compress at its best once it has settled.
pub struct Polish {
    /// The script's text.
    pub plain: Bytes,
    /// Whether the script is still worth it when its turn comes (still the current one).
    pub wanted: Box<dyn Fn() -> bool + Send>,
    /// Receives the best brotli form.
    pub done: Box<dyn FnOnce(Bytes) + Send>,
}

enum Job {
    Pack(String, Reply),
    Polish(Instant, Polish),
}

/// The compression thread, as the rest of the process sees it.
pub struct Compressor {
    jobs: Sender<Job>,
    settle: Duration,
}

impl Compressor {
    pub fn start() -> anyhow::Result<Compressor> {
        Compressor::with_settle(SETTLE)
    }

    /// With another settling time (tests).
    pub fn with_settle(settle: Duration) -> anyhow::Result<Compressor> {
        let (jobs, queue) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("barkeep-compress".into())
            .spawn(move || run(queue))
            .context("starting the compression thread")?;
        Ok(Compressor { jobs, settle })
    }

    /// The script compressed quickly.
    pub async fn pack(&self, js: String) -> anyhow::Result<Packed> {
        let (reply, packed) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Job::Pack(js, reply))
            .map_err(|_| anyhow::anyhow!("the compression thread has stopped"))?;
        packed
            .await
            .map_err(|_| anyhow::anyhow!("the compression thread has stopped"))?
    }

    /// Compresses the script at its best once it has settled, if it is still wanted then.
    pub fn polish(&self, job: Polish) {
        // A stopped thread only means the quick form stays.
        let _ = self
            .jobs
            .send(Job::Polish(Instant::now() + self.settle, job));
    }
}

/// The thread's loop: quick jobs as they come; polishing when its time has come and no
/// quick job waits. Polish jobs all wait the same time, so they come due in the order
/// they arrived.
fn run(queue: Receiver<Job>) {
    let mut waiting: VecDeque<(Instant, Polish)> = VecDeque::new();
    loop {
        let next = match waiting.front() {
            None => queue.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some((at, _)) => queue.recv_timeout(at.saturating_duration_since(Instant::now())),
        };
        match next {
            Ok(Job::Pack(js, reply)) => {
                let _ = reply.send(pack(js, QUICK));
            }
            Ok(Job::Polish(at, job)) => waiting.push_back((at, job)),
            Err(RecvTimeoutError::Timeout) => {
                let Some((_, job)) = waiting.pop_front() else {
                    continue;
                };
                if (job.wanted)() {
                    match brotli(&job.plain, BEST) {
                        Ok(best) => (job.done)(Bytes::from(best)),
                        Err(err) => tracing::error!(
                            error = format!("{err:#}"),
                            "could not compress a script at its best; its quick form stays"
                        ),
                    }
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn unbrotli(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        brotli::Decompressor::new(b, 4096)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// A configuration like a site of 100 bars': varied words, links and colours.
    fn script() -> String {
        const WORDS: [&str; 12] = [
            "Free", "shipping", "on", "orders", "over", "sale", "ends", "Sunday", "new",
            "arrivals", "join", "today",
        ];
        let mut n: u64 = 7;
        let mut next = move || {
            n = n
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (n >> 33) as usize
        };
        let mut js = String::from("(()=>{const s={\"b\":[");
        for i in 0..100 {
            let message: Vec<&str> = (0..6).map(|_| WORDS[next() % WORDS.len()]).collect();
            js.push_str(&format!(
                r##"{{"i":{i},"g":"link","m":"{}","u":"https://shop{}.example/p/{}","c":["#{:06x}","#{:06x}"]}},"##,
                message.join(" "),
                next() % 10,
                next() % 100_000,
                next() % 0xff_ffff,
                next() % 0xff_ffff,
            ));
        }
        js.push_str("]};})()");
        js
    }

    #[test]
    fn both_forms_decode_to_the_script() {
        let js = script();
        let p = pack(js.clone(), QUICK).unwrap();
        let mut out = String::new();
        flate2::read::GzDecoder::new(&p.gzip[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, js);
        assert_eq!(unbrotli(&p.brotli), js.as_bytes());
        let best = brotli(js.as_bytes(), BEST).unwrap();
        assert_eq!(unbrotli(&best), js.as_bytes());
        assert!(
            best.len() < p.brotli.len(),
            "{} < {}",
            best.len(),
            p.brotli.len()
        );
    }

    #[test]
    fn the_window_fits_the_text() {
        assert_eq!(window(0), 10);
        assert_eq!(window(1008), 10);
        assert_eq!(window(1009), 11);
        assert_eq!(window(30_000), 15);
        assert_eq!(window(usize::MAX), 22);
    }

    /// A polish job that records its result.
    fn job(js: &str, wanted: bool) -> (Polish, tokio::sync::oneshot::Receiver<Bytes>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = Polish {
            plain: Bytes::from(js.to_string()),
            wanted: Box::new(move || wanted),
            done: Box::new(move |b| {
                let _ = tx.send(b);
            }),
        };
        (job, rx)
    }

    #[tokio::test]
    async fn a_settled_script_is_compressed_at_its_best() {
        let c = Compressor::with_settle(Duration::from_millis(50)).unwrap();
        let js = script();
        let quick = c.pack(js.clone()).await.unwrap();
        let (polish, best) = job(&js, true);
        c.polish(polish);
        let best = tokio::time::timeout(Duration::from_secs(10), best)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(unbrotli(&best), js.as_bytes());
        assert!(best.len() < quick.brotli.len());
    }

    #[tokio::test]
    async fn a_script_no_longer_wanted_is_left_alone() {
        let c = Compressor::with_settle(Duration::from_millis(10)).unwrap();
        let (skipped, skipped_rx) = job("old", false);
        c.polish(skipped);
        let (kept, kept_rx) = job("new", true);
        c.polish(kept);
        // Jobs come due in order: once the second is done, the first was decided.
        tokio::time::timeout(Duration::from_secs(10), kept_rx)
            .await
            .unwrap()
            .unwrap();
        assert!(
            skipped_rx.await.is_err(),
            "an unwanted script was compressed"
        );
    }

    #[tokio::test]
    async fn quick_work_does_not_wait_for_polishing() {
        // Polishing waits an hour: quick jobs still go through at once.
        let c = Compressor::with_settle(Duration::from_secs(3600)).unwrap();
        let asked = Arc::new(AtomicBool::new(false));
        let seen = asked.clone();
        c.polish(Polish {
            plain: Bytes::from(script()),
            wanted: Box::new(move || {
                seen.store(true, Ordering::SeqCst);
                true
            }),
            done: Box::new(|_| {}),
        });
        let p = tokio::time::timeout(Duration::from_secs(10), c.pack(script()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(unbrotli(&p.brotli), script().as_bytes());
        assert!(!asked.load(Ordering::SeqCst));
    }
}
