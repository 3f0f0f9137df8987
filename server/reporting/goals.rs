//! Did the bar help the site at all? Visits in which the bar was shown against visits held
//! out of it (assigned to no bar, shown nothing), per site goal: how often each reached the
//! goal, with an interval and a verdict that stay valid however often they are read (the
//! same sequential test as the A/B comparison), and the value per visit when the page
//! sends values.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use utoipa::ToSchema;

use super::sequential::{ALPHA, Arm, MIN_EACH, Sequence, benjamini_hochberg};
use super::verdict::{Bounds, Reading, percent, signed_points};
use crate::db::entities::site_goal;
use crate::db::goals::{Reached, Visits};
use crate::domain::{DeploymentId, VariantId};

/// A bar's holdout and the site's goals, from the first day both sides had visits to the
/// end of the range asked for.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct GoalsReport {
    /// Percent of new visitors held out now.
    pub holdout: u8,
    /// Visits in which the bar was shown (each visit once).
    pub shown_visits: i64,
    /// Visits held out of the bar.
    pub held_out_visits: i64,
    pub goals: Vec<GoalResult>,
    /// The result in one sentence.
    pub verdict: String,
}

/// One site goal: visits shown the bar against visits held out.
#[derive(Debug, Serialize, ToSchema)]
pub struct GoalResult {
    pub goal_id: i64,
    pub name: String,
    /// The page that reaches it (`null`: the page calls `barkeep.goal`).
    pub path: Option<String>,
    /// Days both sides had visits: the looks the test has had.
    pub days: i64,
    pub shown_visits: i64,
    pub shown_reached: i64,
    pub held_out_visits: i64,
    pub held_out_reached: i64,
    /// The shown visits' rate of reaching the goal minus the held-out visits' (0.004 is
    /// 0.4 points).
    pub difference: Option<f64>,
    /// The always-valid confidence interval of the difference.
    pub interval: Option<Bounds>,
    /// The difference relative to the held-out rate (0.125: shown visits reach the goal
    /// 12.5 % more often).
    pub lift: Option<f64>,
    /// The always-valid p-value.
    pub p_value: Option<f64>,
    /// The difference is real at the experiment's confidence (Benjamini–Hochberg across
    /// the site's goals).
    pub significant: bool,
    /// While nothing can be claimed: about how many more days at today's pace.
    pub days_needed: Option<i64>,
    /// The values the page sent with the goal, added up (in its own currency units).
    pub shown_value: f64,
    pub held_out_value: f64,
    /// Value per visit: revenue per visitor when the values are amounts paid.
    pub shown_value_per_visit: Option<f64>,
    pub held_out_value_per_visit: Option<f64>,
    /// The goal in visits that saw each variant.
    pub variants: Vec<VariantGoal>,
    pub verdict: String,
}

/// A variant's visits and goals over every day counted (not only the days compared).
#[derive(Debug, Serialize, ToSchema)]
pub struct VariantGoal {
    pub variant_id: VariantId,
    pub name: String,
    pub visits: i64,
    pub reached: i64,
    pub value: f64,
}

/// What the report is read from: per deployment and day, the visits; per deployment, goal
/// and day, the goals reached.
pub struct Counted<'a> {
    pub holdout: u8,
    pub goals: &'a [site_goal::Model],
    pub variants: &'a [(VariantId, String)],
    pub variant_of: &'a HashMap<DeploymentId, VariantId>,
    pub visits: &'a [(DeploymentId, i64, Visits)],
    pub reached: &'a [(DeploymentId, i64, i64, Reached)],
}

pub fn report(c: &Counted<'_>) -> GoalsReport {
    let mut visits_by_day: BTreeMap<i64, Visits> = BTreeMap::new();
    let mut visits_by_variant: HashMap<VariantId, i64> = HashMap::new();
    for (deployment, day, v) in c.visits {
        let d = visits_by_day.entry(*day).or_default();
        d.shown += v.shown;
        d.held_out += v.held_out;
        if let Some(variant) = c.variant_of.get(deployment) {
            *visits_by_variant.entry(*variant).or_default() += v.shown;
        }
    }
    // The days both sides had visits: a holdout added later compares only from then on.
    let both: Vec<i64> = visits_by_day
        .iter()
        .filter(|(_, v)| v.shown > 0 && v.held_out > 0)
        .map(|(day, _)| *day)
        .collect();
    let total = both.iter().fold(Visits::default(), |mut t, day| {
        let v = visits_by_day[day];
        t.shown += v.shown;
        t.held_out += v.held_out;
        t
    });

    let reads: Vec<Read> = c
        .goals
        .iter()
        .map(|g| read(g.id, c, &visits_by_day, &both, &visits_by_variant))
        .collect();
    let p_values: Vec<f64> = reads
        .iter()
        .map(|r| r.sequence.p_value().unwrap_or(1.0))
        .collect();
    let found = benjamini_hochberg(&p_values, ALPHA);
    let discoveries = found.iter().filter(|f| **f).count().max(1);
    let level = ALPHA * discoveries as f64 / reads.len().max(1) as f64;
    let projection_alpha = ALPHA / reads.len().max(1) as f64;
    let goals: Vec<GoalResult> = c
        .goals
        .iter()
        .zip(reads)
        .zip(found)
        .map(|((g, r), significant)| {
            let mut result = result_of(g, r, significant, level, projection_alpha, c);
            result.verdict = goal_verdict(&result, c.holdout);
            result
        })
        .collect();
    let verdict = overall_verdict(&goals, c.holdout, total);
    GoalsReport {
        holdout: c.holdout,
        shown_visits: total.shown,
        held_out_visits: total.held_out,
        goals,
        verdict,
    }
}

/// One goal read day by day over the days both sides had visits.
struct Read {
    days: u32,
    shown: Arm,
    held_out: Arm,
    sequence: Sequence,
    value: (i64, i64),
    /// Per variant: visits shown it, those that reached the goal, their values.
    by_variant: HashMap<VariantId, (i64, i64, i64)>,
}

fn read(
    goal: i64,
    c: &Counted<'_>,
    visits: &BTreeMap<i64, Visits>,
    both: &[i64],
    visits_by_variant: &HashMap<VariantId, i64>,
) -> Read {
    let mut reached_by_day: BTreeMap<i64, Reached> = BTreeMap::new();
    let mut by_variant: HashMap<VariantId, (i64, i64, i64)> = visits_by_variant
        .iter()
        .map(|(v, n)| (*v, (*n, 0, 0)))
        .collect();
    for (deployment, g, day, r) in c.reached {
        if *g != goal {
            continue;
        }
        if let Some(variant) = c.variant_of.get(deployment) {
            let v = by_variant.entry(*variant).or_default();
            v.1 += r.shown;
            v.2 += r.shown_value;
        }
        let d = reached_by_day.entry(*day).or_default();
        d.shown += r.shown;
        d.held_out += r.held_out;
        d.shown_value += r.shown_value;
        d.held_out_value += r.held_out_value;
    }
    let mut out = Read {
        days: 0,
        shown: Arm::default(),
        held_out: Arm::default(),
        sequence: Sequence::default(),
        value: (0, 0),
        by_variant,
    };
    for day in both {
        let v = visits[day];
        let r = reached_by_day.get(day).copied().unwrap_or_default();
        out.days += 1;
        out.shown.views += v.shown;
        out.shown.clicks += r.shown;
        out.held_out.views += v.held_out;
        out.held_out.clicks += r.held_out;
        out.value.0 += r.shown_value;
        out.value.1 += r.held_out_value;
        out.sequence.look(capped(out.held_out), capped(out.shown));
    }
    out
}

/// A goal reached just after midnight by a visit counted the day before can put a day's
/// goals above its visits; the running totals never may.
fn capped(a: Arm) -> Arm {
    Arm {
        views: a.views,
        clicks: a.clicks.min(a.views),
    }
}

fn result_of(
    g: &site_goal::Model,
    r: Read,
    significant: bool,
    level: f64,
    projection_alpha: f64,
    c: &Counted<'_>,
) -> GoalResult {
    let reading = Reading::of(
        capped(r.held_out),
        capped(r.shown),
        &r.sequence,
        r.days,
        significant,
        (level, projection_alpha),
    );
    let per_visit =
        |value: i64, visits: i64| (visits > 0).then(|| value as f64 / 100.0 / visits as f64);
    GoalResult {
        goal_id: g.id,
        name: g.name.clone(),
        path: g.path.clone(),
        days: i64::from(r.days),
        shown_visits: r.shown.views,
        shown_reached: r.shown.clicks,
        held_out_visits: r.held_out.views,
        held_out_reached: r.held_out.clicks,
        difference: reading.difference,
        interval: reading.interval,
        lift: reading.lift,
        p_value: reading.p_value,
        significant,
        days_needed: reading.days_needed,
        shown_value: r.value.0 as f64 / 100.0,
        held_out_value: r.value.1 as f64 / 100.0,
        shown_value_per_visit: per_visit(r.value.0, r.shown.views),
        held_out_value_per_visit: per_visit(r.value.1, r.held_out.views),
        variants: c
            .variants
            .iter()
            .filter_map(|(id, name)| {
                let (visits, reached, value) = r.by_variant.get(id).copied()?;
                Some(VariantGoal {
                    variant_id: *id,
                    name: name.clone(),
                    visits,
                    reached,
                    value: value as f64 / 100.0,
                })
            })
            .collect(),
        verdict: String::new(),
    }
}

/// One goal in words.
fn goal_verdict(g: &GoalResult, holdout: u8) -> String {
    let name = &g.name;
    if g.held_out_visits == 0 {
        return if holdout == 0 {
            format!(
                "This bar holds no one out: hold out a share of visitors to learn whether it changes how often visits reach {name}."
            )
        } else {
            format!(
                "No visits held out yet on days the bar was also shown; {name} cannot be compared yet."
            )
        };
    }
    let rates = format!(
        "{} against {} of visits",
        percent(g.shown_reached, g.shown_visits),
        percent(g.held_out_reached, g.held_out_visits)
    );
    let value = match (g.shown_value_per_visit, g.held_out_value_per_visit) {
        (Some(a), Some(b)) if g.shown_value > 0.0 || g.held_out_value > 0.0 => {
            format!(" Value per visit: {a:.2} shown against {b:.2} held out.")
        }
        _ => String::new(),
    };
    let Some(d) = g.difference.filter(|_| g.p_value.is_some()) else {
        return format!(
            "{name}: not enough data yet (each side needs at least {MIN_EACH} visits that reached it and {MIN_EACH} that did not).{value}"
        );
    };
    if g.significant {
        let how = match g.lift {
            Some(l) if d > 0.0 => format!("{:.0} % more often", l * 100.0),
            Some(l) => format!("{:.0} % less often", -l * 100.0),
            None => "more often".into(),
        };
        return format!(
            "Visitors who were shown this bar reached {name} {how} than visitors who were not ({rates}, {} points), {:.0} % sure, stable under daily reading.{value}",
            signed_points(d),
            (1.0 - ALPHA) * 100.0
        );
    }
    let so_far = format!(
        "No effect of the bar on {name} can be claimed yet ({} points so far, {rates})",
        signed_points(d)
    );
    match g.days_needed {
        Some(1) => format!("{so_far}; at today's rate about 1 more day.{value}"),
        Some(n) => format!("{so_far}; at today's rate about {n} more days.{value}"),
        None if d == 0.0 => format!("{so_far}; the two are level.{value}"),
        None => format!(
            "{so_far}; at today's rate a difference this small takes more than a year to show.{value}"
        ),
    }
}

fn overall_verdict(goals: &[GoalResult], holdout: u8, total: Visits) -> String {
    if goals.is_empty() {
        return if holdout > 0 {
            "Name a goal for the site (a thank-you page, or a call from the page) to compare visitors shown this bar with visitors held out.".into()
        } else {
            "Name a goal for the site and hold out a share of visitors to learn whether this bar changes what visitors do on the site.".into()
        };
    }
    if let [only] = goals {
        return only.verdict.clone();
    }
    if total.held_out == 0 {
        return goals[0].verdict.clone();
    }
    let found: Vec<&GoalResult> = goals.iter().filter(|g| g.significant).collect();
    match found.as_slice() {
        [] => format!(
            "No effect of the bar on the site's {} goals can be claimed yet (the share of false verdicts is held at {:.0} %).",
            goals.len(),
            ALPHA * 100.0
        ),
        [first, ..] => format!(
            "{} ({} of {} goals differ; the share of false verdicts is held at {:.0} %.)",
            first.verdict,
            found.len(),
            goals.len(),
            ALPHA * 100.0
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reporting::sequential::simulation::Rng;

    const DAY: i64 = 86_400;
    const LOOKS: i64 = 30;

    fn goal(id: i64, name: &str) -> site_goal::Model {
        site_goal::Model {
            id,
            site_id: crate::domain::SiteId(1),
            name: name.into(),
            path: Some("/thanks*".into()),
            created_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    /// A planted bar on one deployment: `visits` a day, `holdout` percent of them held
    /// out; each side reaches the goals at its rates. Returns the counts of the first
    /// `days` days.
    struct Planted {
        visits: Vec<(DeploymentId, i64, Visits)>,
        reached: Vec<(DeploymentId, i64, i64, Reached)>,
    }

    fn plant(rng: &mut Rng, visits: i64, holdout: f64, rates: &[(f64, f64)]) -> Planted {
        let mut p = Planted {
            visits: Vec::new(),
            reached: Vec::new(),
        };
        for day in 0..LOOKS {
            let held = rng.binomial(visits, holdout);
            let shown = visits - held;
            p.visits.push((
                DeploymentId(1),
                day * DAY,
                Visits {
                    shown,
                    held_out: held,
                },
            ));
            for (g, (shown_rate, held_rate)) in rates.iter().enumerate() {
                let s = rng.binomial(shown, *shown_rate);
                let h = rng.binomial(held, *held_rate);
                p.reached.push((
                    DeploymentId(1),
                    g as i64 + 1,
                    day * DAY,
                    Reached {
                        shown: s,
                        held_out: h,
                        shown_value: s * 4990,
                        held_out_value: h * 4990,
                    },
                ));
            }
        }
        p
    }

    /// The report a member reading on `day` sees (the days before it).
    fn read_on(p: &Planted, goals: &[site_goal::Model], day: i64) -> GoalsReport {
        let before = |d: i64| d < day * DAY;
        let visits: Vec<_> = p.visits.iter().copied().filter(|v| before(v.1)).collect();
        let reached: Vec<_> = p.reached.iter().copied().filter(|r| before(r.2)).collect();
        let variant_of = HashMap::from([(DeploymentId(1), VariantId(1))]);
        report(&Counted {
            holdout: 10,
            goals,
            variants: &[(VariantId(1), "A".into())],
            variant_of: &variant_of,
            visits: &visits,
            reached: &reached,
        })
    }

    /// Whether any of 30 daily readings called a goal.
    fn ever_called(p: &Planted, goals: &[site_goal::Model]) -> (bool, Option<i64>) {
        for day in 1..=LOOKS {
            if read_on(p, goals, day).goals.iter().any(|g| g.significant) {
                return (true, Some(day));
            }
        }
        (false, None)
    }

    #[test]
    fn a_bar_that_changes_nothing_is_rarely_called_over_thirty_daily_readings() {
        // 2,000 visits a day, 10 % held out (about 200), both sides reaching the goal 5 %
        // of the time: the bar changes nothing.
        let goals = [goal(1, "purchase")];
        let mut rng = Rng(20_261_207);
        let runs = 400;
        let called = (0..runs)
            .filter(|_| ever_called(&plant(&mut rng, 2_000, 0.10, &[(0.05, 0.05)]), &goals).0)
            .count();
        let share = called as f64 / runs as f64;
        println!(
            "A/A holdout: called in {:.1} % of {runs} bars",
            share * 100.0
        );
        assert!(share <= 0.05, "{share}");
    }

    #[test]
    fn two_goals_that_the_bar_leaves_alone_keep_the_false_discoveries_below_five_percent() {
        let goals = [goal(1, "purchase"), goal(2, "signup")];
        let mut rng = Rng(99);
        let runs = 300;
        let called = (0..runs)
            .filter(|_| {
                let p = plant(&mut rng, 1_000, 0.20, &[(0.04, 0.04), (0.10, 0.10)]);
                ever_called(&p, &goals).0
            })
            .count();
        let share = called as f64 / runs as f64;
        println!(
            "two A/A goals: called in {:.1} % of {runs} bars",
            share * 100.0
        );
        assert!(share <= 0.05, "{share}");
    }

    #[test]
    fn a_bar_that_lifts_the_goal_is_found_and_said_in_words() {
        // Shown visits reach the goal 6 % of the time, held-out ones 4 %, 2,000 visits a
        // day with 20 % held out.
        let goals = [goal(1, "purchase")];
        let mut rng = Rng(7);
        let runs = 200;
        let mut found = 0;
        for _ in 0..runs {
            let p = plant(&mut rng, 2_000, 0.20, &[(0.06, 0.04)]);
            let (called, _) = ever_called(&p, &goals);
            if called {
                found += 1;
                let last = read_on(&p, &goals, LOOKS);
                let g = &last.goals[0];
                assert!(g.significant, "a call once made stays");
                assert!(g.difference.unwrap() > 0.0);
                assert!(g.interval.unwrap().low > 0.0);
                assert!(
                    g.verdict
                        .starts_with("Visitors who were shown this bar reached purchase"),
                    "{}",
                    g.verdict
                );
                assert!(g.verdict.contains("more often"), "{}", g.verdict);
                assert!(g.verdict.contains("Value per visit"), "{}", g.verdict);
            }
        }
        let share = found as f64 / runs as f64;
        println!(
            "6 % against 4 %: found in {:.1} % of {runs} bars",
            share * 100.0
        );
        assert!(share > 0.8, "{share}");
    }

    #[test]
    fn counts_values_and_variants_add_up_and_days_without_a_held_out_visit_are_left_out() {
        let goals = [goal(1, "purchase")];
        let v = |shown, held_out| Visits { shown, held_out };
        let variant_of = HashMap::from([
            (DeploymentId(1), VariantId(1)),
            (DeploymentId(2), VariantId(2)),
        ]);
        let visits = [
            // Day 0: before the holdout began; not compared.
            (DeploymentId(1), 0, v(50, 0)),
            (DeploymentId(1), DAY, v(100, 20)),
            (DeploymentId(2), DAY, v(80, 0)),
        ];
        let r = |shown, held_out, shown_value, held_out_value| Reached {
            shown,
            held_out,
            shown_value,
            held_out_value,
        };
        let reached = [
            (DeploymentId(1), 1, 0, r(5, 0, 500, 0)),
            (DeploymentId(1), 1, DAY, r(9, 2, 1000, 150)),
            (DeploymentId(2), 1, DAY, r(7, 0, 700, 0)),
        ];
        let report = report(&Counted {
            holdout: 10,
            goals: &goals,
            variants: &[(VariantId(1), "A".into()), (VariantId(2), "B".into())],
            variant_of: &variant_of,
            visits: &visits,
            reached: &reached,
        });
        assert_eq!((report.shown_visits, report.held_out_visits), (180, 20));
        let g = &report.goals[0];
        assert_eq!(g.days, 1);
        assert_eq!((g.shown_visits, g.shown_reached), (180, 16));
        assert_eq!((g.held_out_visits, g.held_out_reached), (20, 2));
        assert_eq!((g.shown_value, g.held_out_value), (17.0, 1.5));
        assert_eq!(g.held_out_value_per_visit, Some(0.075));
        assert!(
            g.verdict.starts_with("purchase: not enough data yet"),
            "{}",
            g.verdict
        );
        // Per variant, every day counted.
        assert_eq!(g.variants.len(), 2);
        assert_eq!((g.variants[0].visits, g.variants[0].reached), (150, 14));
        assert_eq!(g.variants[0].value, 15.0);
        assert_eq!((g.variants[1].visits, g.variants[1].reached), (80, 7));
    }

    #[test]
    fn without_goals_or_a_holdout_the_verdict_says_what_to_do() {
        let none = report(&Counted {
            holdout: 0,
            goals: &[],
            variants: &[],
            variant_of: &HashMap::new(),
            visits: &[],
            reached: &[],
        });
        assert!(none.verdict.starts_with("Name a goal"), "{}", none.verdict);
        let goals = [goal(1, "purchase")];
        let no_holdout = report(&Counted {
            holdout: 0,
            goals: &goals,
            variants: &[],
            variant_of: &HashMap::new(),
            visits: &[(
                DeploymentId(1),
                0,
                Visits {
                    shown: 10,
                    held_out: 0,
                },
            )],
            reached: &[],
        });
        assert!(
            no_holdout.verdict.starts_with("This bar holds no one out"),
            "{}",
            no_holdout.verdict
        );
    }
}
