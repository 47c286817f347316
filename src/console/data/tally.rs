//! The overview's figures over what one visitor sees: counts by state, the most overdue
//! assignees, every rule's figures.

use super::*;

/// The `n` most overdue: most due pairs first, then the longest wait.
pub(super) fn top(m: HashMap<String, Overdue>, n: usize) -> Vec<Overdue> {
    let mut v: Vec<Overdue> = m.into_values().collect();
    v.sort_by(|a, b| {
        b.due
            .cmp(&a.due)
            .then(b.oldest_age_seconds.cmp(&a.oldest_age_seconds))
            .then(a.id.cmp(&b.id))
    });
    v.truncate(n);
    v
}

/// The overview's figures over what one visitor sees.
pub(crate) struct Tally {
    pub pairs: u64,
    pub counts: BTreeMap<String, u64>,
    pub assignees: Vec<Overdue>,
    pub rules: Vec<Overdue>,
}

impl Index {
    /// The overview's counts, the most overdue assignees and every rule's figures, over the
    /// pairs `scope` sees (all of them: as built).
    pub(crate) fn tally(&self, scope: &Scope) -> Tally {
        if scope.is_all() {
            return Tally {
                pairs: self.rows.len() as u64,
                counts: self.counts.clone(),
                assignees: self.assignees.clone(),
                rules: self.rules.clone(),
            };
        }
        let config = &self.config;
        let mut counts = BTreeMap::new();
        let mut pairs = 0;
        let mut assignees: HashMap<String, Overdue> = HashMap::new();
        let mut rules: HashMap<String, Overdue> = HashMap::new();
        let now = self.computed_at.timestamp_millis();
        for r in self.rows.iter().filter(|r| scope.sees(&r.user_id)) {
            pairs += 1;
            *counts.entry(r.status.to_owned()).or_default() += 1;
            if r.escalated {
                *counts.entry("escalated".into()).or_default() += 1;
            }
            let due = u64::from(r.status == "due");
            let age = u64::try_from((now - r.started) / 1000).unwrap_or(0);
            let name = config
                .users
                .iter()
                .find(|u| *u.id == *r.user_id)
                .map_or(r.user_id.to_string(), |u| u.display_name().to_owned());
            let add = |m: &mut HashMap<String, Overdue>, id: String, name: String| {
                let o = m.entry(id.clone()).or_insert_with(|| Overdue {
                    id,
                    name,
                    due: 0,
                    pending: 0,
                    oldest_age_seconds: 0,
                });
                o.due += due;
                o.pending += 1;
                o.oldest_age_seconds = o.oldest_age_seconds.max(age);
            };
            add(&mut assignees, r.user_id.to_string(), name);
            if let Some(rule) = r.rule.and_then(|i| config.rules.get(i as usize)) {
                add(&mut rules, rule.name.clone(), rule.name.clone());
            }
        }
        Tally {
            pairs,
            counts,
            assignees: top(assignees, 10),
            rules: top(rules, usize::MAX),
        }
    }
}
