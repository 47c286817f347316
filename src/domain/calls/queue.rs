//! The fair queue calls wait in, and the daily cap's arithmetic.

use super::*;

/// Calls waiting to be sent, taken fairly: each [`pop`](Self::pop) gives the call whose
/// assignees were picked least so far (a call counts as its most-picked assignee), the most
/// overdue among equals, then the lowest task id, then the earliest pushed.
///
/// Taking a call changes the standing of every other call of its assignees, so calls cannot
/// sit in one heap under a fixed key. Each assignee keeps a queue of their calls, most overdue
/// first; a heap over the assignees, keyed by (times picked, their queue's head), finds the
/// next call. A head whose other assignees were picked more is parked until this assignee
/// catches up (the call is reached meanwhile through its most-picked assignee). Pushing or
/// taking a call costs O(k log n) for its k assignees (at most 20), whatever the backlog's shape.
#[derive(Default)]
pub struct FairQueue {
    /// Every call pushed, by its push order; `None` once taken.
    slots: Vec<Option<Call>>,
    /// Each call's assignees, as indexes into `people`.
    members: Vec<Vec<u32>>,
    ids: FxHashMap<String, u32>,
    people: Vec<Assignee>,
    /// (times picked, head of the queue, assignee), smallest first; stale entries are skipped.
    heads: BinaryHeap<Reverse<(usize, Rank, u32)>>,
    waiting: usize,
}

/// Where a call stands among an assignee's calls: most overdue first, then by task id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    due_at: DateTime<Utc>,
    task_id: Arc<str>,
    seq: usize,
}

#[derive(Default)]
struct Assignee {
    picked: usize,
    queue: BinaryHeap<Reverse<Rank>>,
    /// Calls whose other assignees were picked more: back in `queue` once this assignee has
    /// been picked as often as the count they wait for.
    parked: BinaryHeap<Reverse<(usize, Rank)>>,
}

impl FairQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls waiting.
    pub fn len(&self) -> usize {
        self.waiting
    }

    pub fn is_empty(&self) -> bool {
        self.waiting == 0
    }

    /// The calls still waiting, in no particular order.
    pub fn remaining(&self) -> impl Iterator<Item = &Call> {
        self.slots.iter().flatten()
    }

    pub fn push(&mut self, call: Call) {
        let seq = self.slots.len();
        let rank = Rank {
            due_at: call.due_at,
            task_id: Arc::from(call.task_id.as_str()),
            seq,
        };
        let mut members: Vec<u32> = Vec::with_capacity(call.assignees.len().max(1));
        // A call naming nobody stands with an assignee no call names: never picked.
        let names = call.assignees.iter().map(|a| a.user_id.as_str());
        let names: Vec<&str> = if call.assignees.is_empty() {
            vec![""]
        } else {
            names.collect()
        };
        for name in names {
            let who = self.person(name, call.assignees.is_empty());
            if !members.contains(&who) {
                members.push(who);
            }
        }
        for &who in &members {
            self.people[who as usize].queue.push(Reverse(rank.clone()));
            self.push_head(who);
        }
        self.members.push(members);
        self.slots.push(Some(call));
        self.waiting += 1;
    }

    /// The next call to send, `None` when none waits.
    pub fn pop(&mut self) -> Option<Call> {
        while let Some(Reverse((picked, rank, who))) = self.heads.pop() {
            let person = &mut self.people[who as usize];
            let current = person
                .queue
                .peek()
                .is_some_and(|Reverse(head)| head.seq == rank.seq);
            if picked != person.picked || !current {
                continue; // an older view of this assignee
            }
            person.queue.pop();
            if self.slots[rank.seq].is_none() {
                self.push_head(who); // taken through another assignee
                continue;
            }
            let key = self.key(rank.seq);
            if key > picked {
                self.people[who as usize].parked.push(Reverse((key, rank)));
                self.push_head(who);
                continue;
            }
            let call = self.slots[rank.seq].take().expect("checked above");
            self.waiting -= 1;
            for i in 0..self.members[rank.seq].len() {
                let m = self.members[rank.seq][i];
                let person = &mut self.people[m as usize];
                // The stand-in for a call naming nobody is never picked.
                if !call.assignees.is_empty() {
                    person.picked += 1;
                }
                while let Some(Reverse((wait_for, _))) = person.parked.peek()
                    && *wait_for <= person.picked
                {
                    let Reverse((_, back)) = person.parked.pop().expect("peeked");
                    person.queue.push(Reverse(back));
                }
                self.push_head(m);
            }
            return Some(call);
        }
        None
    }

    /// How often the call's most-picked assignee was picked.
    fn key(&self, seq: usize) -> usize {
        self.members[seq]
            .iter()
            .map(|m| self.people[*m as usize].picked)
            .max()
            .unwrap_or(0)
    }

    fn person(&mut self, user_id: &str, nobody: bool) -> u32 {
        let key = if nobody { "\0" } else { user_id };
        if let Some(i) = self.ids.get(key) {
            return *i;
        }
        let i = self.people.len() as u32;
        self.people.push(Assignee::default());
        self.ids.insert(key.to_owned(), i);
        i
    }

    fn push_head(&mut self, who: u32) {
        let person = &self.people[who as usize];
        if let Some(Reverse(head)) = person.queue.peek() {
            self.heads.push(Reverse((person.picked, head.clone(), who)));
        }
    }
}

/// The most overdue first, and nobody receives a run of reminders while others wait: each call
/// goes to the assignees who have been picked least so far, the most overdue among equals.
pub fn order_fairly(calls: Vec<Call>) -> Vec<Call> {
    let mut queue = FairQueue::new();
    let n = calls.len();
    for call in calls {
        queue.push(call);
    }
    let mut ordered = Vec::with_capacity(n);
    while let Some(call) = queue.pop() {
        ordered.push(call);
    }
    ordered
}

/// The start of `now`'s calendar day in `tz`: where the daily cap's count starts. Where
/// midnight does not exist (a DST jump at 00:00), the day starts at its first valid moment.
pub fn day_start(now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let date = now.with_timezone(&tz).date_naive();
    (0..=180)
        .filter_map(|m| {
            let local = date.and_hms_opt(0, 0, 0)? + chrono::TimeDelta::minutes(m);
            tz.from_local_datetime(&local).earliest()
        })
        .next()
        .map_or(now, |t| t.with_timezone(&Utc))
}

/// What is left of an assignee's daily allowance, given what they got today: `None` without a
/// cap (0).
pub fn allowance_left(cap: u32, sent_today: u32) -> Option<u32> {
    (cap > 0).then(|| cap.saturating_sub(sent_today))
}
