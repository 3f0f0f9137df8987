/// What is counted for a deployment in an hour (or summed over any span): views, unique
/// visitors, clicks, dismissals and leads. Counts are only ever added to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub views: i64,
    pub unique_visitors: i64,
    pub clicks: i64,
    pub dismissals: i64,
    pub leads: i64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.views += other.views;
        self.unique_visitors += other.unique_visitors;
        self.clicks += other.clicks;
        self.dismissals += other.dismissals;
        self.leads += other.leads;
    }
}
