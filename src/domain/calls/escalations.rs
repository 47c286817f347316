//! Escalations planned: one cc and one chat per task and cycle, and the moves escalation makes.

use super::*;

/// One cc call and one chat call per task, for the assignees whose escalation is due.
pub(super) fn plan_escalations(
    rules: &[Rule],
    now: DateTime<Utc>,
    due: BTreeMap<String, Vec<DueEscalation<'_>>>,
    away: Option<&rustc_hash::FxHashSet<String>>,
    holders: &FxHashMap<String, Vec<String>>,
    users: &UserIndex<'_>,
    unsendable: &mut Vec<(String, String)>,
) -> Vec<Escalation> {
    let is_away = |id: &str| away.is_some_and(|a| a.contains(id));
    let mut out = Vec::new();
    for (task_id, pairs) in due {
        let lead = pairs
            .iter()
            .min_by_key(|p| p.rule)
            .expect("a group is never empty");
        let rule = &rules[lead.rule];
        let row = &lead.row;
        let Some(operator) = operator_of(rule, row, "", unsendable) else {
            continue;
        };
        // Everyone the escalated assignees' rules copy the task to.
        let mut cc_people: Vec<String> = Vec::new();
        for p in &pairs {
            let esc = rules[p.rule]
                .escalate
                .as_ref()
                .expect("due escalations have a rule");
            for who in &esc.cc {
                if let Some(id) = person(who, &p.row)
                    && !cc_people.contains(&id)
                    && !is_away(&id)
                {
                    cc_people.push(id);
                }
            }
        }
        let recipients =
            |kind_wanted: fn(&DueEscalation<'_>) -> bool| -> (Vec<Recipient>, Vec<String>) {
                pairs
                    .iter()
                    .filter(|p| kind_wanted(p))
                    .map(|p| {
                        (
                            Recipient {
                                user_id: p.user.id.clone(),
                                rule: rules[p.rule].name.clone(),
                                n: 1,
                            },
                            p.user.display_name().to_owned(),
                        )
                    })
                    .unzip()
            };
        let (cc_to, cc_names) = recipients(|p| p.cc);
        if !cc_to.is_empty() && !cc_people.is_empty() {
            out.push(Escalation {
                task_id: task_id.clone(),
                kind: CallKind::Cc,
                rule: lead.rule,
                operator: operator.clone(),
                assignees: cc_to,
                names: cc_names,
                people: cc_people.clone(),
                chat_id: None,
                chat_name: String::new(),
                opinion: String::new(),
                deputy: false,
            });
        }
        let (chat_with, chat_names) = recipients(|p| p.chat);
        if !chat_with.is_empty() {
            let mut invite: Vec<String> = chat_with.iter().map(|r| r.user_id.clone()).collect();
            for id in row.initiator_id.iter().chain(cc_people.iter()) {
                if !invite.contains(id) && !is_away(id) {
                    invite.push(id.clone());
                }
            }
            let esc = rule.escalate.as_ref().expect("due escalations have a rule");
            let chat_name = esc.chat_name.render(&OpinionValues {
                task_id: &task_id,
                label: display_label(&row.labels),
                age: row.facts().wall_age(now),
                n: row.sent,
                user: &chat_names.join(", "),
                initiator: row.initiator_label(),
                rule: &rule.name,
            });
            out.push(Escalation {
                task_id: task_id.clone(),
                kind: CallKind::Chat,
                rule: lead.rule,
                operator: operator.clone(),
                assignees: chat_with,
                names: chat_names,
                people: invite,
                chat_id: row.chat_id.clone(),
                chat_name,
                opinion: String::new(),
                deputy: false,
            });
        }
        let scene = Scene {
            rules,
            now,
            users,
            away,
        };
        out.extend(plan_moves(
            &scene,
            &task_id,
            &pairs,
            holders.get(&task_id),
            unsendable,
        ));
    }
    out
}

/// The moves an escalation makes (`transfer_to` / `add_assignee`): one call per target among
/// the assignees whose move is due, each under the earliest of their rules (its operator).
/// Nobody away is moved to, nor anyone a move of this task named before, nor — adding — anyone
/// who holds the task already.
pub(super) fn plan_moves(
    scene: &Scene<'_, '_>,
    task_id: &str,
    pairs: &[DueEscalation<'_>],
    holders: Option<&Vec<String>>,
    unsendable: &mut Vec<(String, String)>,
) -> Vec<Escalation> {
    let Scene {
        rules,
        now,
        users,
        away,
    } = *scene;
    let is_away = |id: &str| away.is_some_and(|a| a.contains(id));
    let mut groups: BTreeMap<(&'static str, Vec<String>), Vec<&DueEscalation<'_>>> =
        BTreeMap::new();
    for p in pairs.iter().filter(|p| p.moves) {
        if let Some(to) = rules[p.rule]
            .escalate
            .as_ref()
            .and_then(|e| e.move_to.as_ref())
        {
            groups
                .entry((to.kind().as_str(), to.people()))
                .or_default()
                .push(p);
        }
    }
    let mut out = Vec::new();
    for ((_, targets), due) in groups {
        let lead = due.iter().min_by_key(|p| p.rule).expect("never empty");
        let rule = &rules[lead.rule];
        let to = rule
            .escalate
            .as_ref()
            .and_then(|e| e.move_to.as_ref())
            .expect("grouped by it");
        let kind = to.kind();
        let people: Vec<String> = targets
            .into_iter()
            .filter(|id| {
                let holds =
                    kind == CallKind::AddAssignee && holders.is_some_and(|h| h.contains(id));
                let had = due.iter().any(|p| p.row.moved_to.contains(id));
                !(is_away(id) || had || holds)
            })
            .collect();
        let from: Vec<&&DueEscalation<'_>> = due
            .iter()
            .filter(|p| !people.contains(&p.user.id))
            .collect();
        if people.is_empty() || from.is_empty() {
            continue;
        }
        let row = &lead.row;
        let Some(operator) = operator_of(rule, row, ": not moved", unsendable) else {
            continue;
        };
        let names: Vec<String> = from
            .iter()
            .map(|p| p.user.display_name().to_owned())
            .collect();
        let text = match to {
            crate::domain::rule::MoveTo::AddAssignee(_) => ESCALATION_ADD_OPINION,
            crate::domain::rule::MoveTo::Transfer(_) => ESCALATION_TRANSFER_OPINION,
        };
        let template = OpinionTemplate::parse_with(text, &["deputy", "until"])
            .expect("the escalation move opinions are valid")
            .in_language(rule.opinion.lang());
        let opinion = template.render_with(
            &OpinionValues {
                task_id,
                label: display_label(&row.labels),
                age: row.facts().wall_age(now),
                n: from.iter().map(|p| p.row.sent).max().unwrap_or(0),
                user: &names.join(", "),
                initiator: row.initiator_label(),
                rule: &rule.name,
            },
            &[
                (
                    "deputy",
                    &people
                        .iter()
                        .map(|p| name_of(users, p))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                ("until", ""),
            ],
        );
        out.push(Escalation {
            task_id: task_id.to_owned(),
            kind,
            rule: lead.rule,
            operator,
            assignees: from
                .iter()
                .map(|p| Recipient {
                    user_id: p.user.id.clone(),
                    rule: rules[p.rule].name.clone(),
                    n: p.row.moved.as_ref().map_or(1, |m| m.next_n()),
                })
                .collect(),
            names,
            people,
            chat_id: None,
            chat_name: String::new(),
            opinion,
            deputy: false,
        });
    }
    out
}
