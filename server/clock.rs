//! The one source of "now". Every subsystem asks its clock, never the system directly,
//! so tests can move time forward instead of sleeping or editing stored times.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// How far ahead of the system clock this clock runs, in microseconds; `None` for the
    /// system clock itself, which cannot be moved.
    ahead: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock { ahead: None }
    }

    /// A clock that starts at the system time, runs with it, and can be moved forward.
    pub fn adjustable() -> Clock {
        Clock {
            ahead: Some(Arc::new(AtomicI64::new(0))),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        match &self.ahead {
            None => now,
            Some(ahead) => now + Duration::microseconds(ahead.load(Ordering::Relaxed)),
        }
    }

    /// Moves an adjustable clock forward (every copy of it moves). Returns false for the
    /// system clock, which stays where it is.
    pub fn advance(&self, by: Duration) -> bool {
        match &self.ahead {
            None => false,
            Some(ahead) => {
                let micros = by.num_microseconds().unwrap_or(i64::MAX);
                ahead.fetch_add(micros, Ordering::Relaxed);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adjustable_clock_moves_and_its_copies_with_it() {
        let clock = Clock::adjustable();
        let copy = clock.clone();
        let before = copy.now();
        assert!(clock.advance(Duration::days(3)));
        let after = copy.now();
        assert!(after - before >= Duration::days(3));
        assert!(after - before < Duration::days(3) + Duration::seconds(5));
        assert!(!Clock::system().advance(Duration::days(1)));
    }
}
