//! The team editor's preview at organisation size: a team of 250 people with 5,000 pending
//! (task, assignee) pairs, in a database of 50,000 pending pairs (the rest in 9 other teams),
//! a draft that changes the team's rule. `documents::preview` runs the planner twice (the stored
//! version and the draft) over the team's pairs. Asked once cold, then ten times; the first,
//! the median and the slowest. Run with `cargo bench --bench team_preview`.

#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use expediter::config::Config;
use expediter::feishu::ListedTask;
use expediter::store::{Database, ListedAssignment, NewTeamVersion, Store};

const TEAMS: usize = 10;
const PEOPLE: usize = 250;
const PAIRS_EACH: usize = 20;

fn config(db: &Path) -> String {
    let mut teams = String::new();
    for t in 0..TEAMS {
        teams.push_str(&format!("\n[[teams]]\nname = \"team{t}\"\n"));
    }
    format!(
        "[feishu]\napp_id = \"cli_bench\"\napp_secret = \"bench\"\n\n[storage]\ndatabase = \"{}\"\n\n[expedite]\noperator_user_id = \"7000\"\nmax_per_user_per_day = 3\n\n[[rules]]\nname = \"org\"\nafter = \"72h\"\n{teams}",
        db.display()
    )
}

/// A team's document: its 250 people and one rule.
fn document(t: usize, after: &str) -> String {
    let mut doc = String::new();
    for p in 0..PEOPLE {
        doc.push_str(&format!(
            "[[users]]\nid = \"u{t}_{p:03}\"\nname = \"User {t}-{p}\"\n\n"
        ));
    }
    doc.push_str(&format!(
        "[[rules]]\nname = \"main\"\nafter = \"{after}\"\nrepeat = \"12h\"\nmax_times = 3\n"
    ));
    doc
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db");
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config(&db)).unwrap();
    let config = Config::load(&path).unwrap();
    let store = Store::open(&Database::Sqlite(db.clone())).await.unwrap();
    let now = Utc::now();
    let started = Instant::now();
    for t in 0..TEAMS {
        let text = document(t, "24h");
        let v = NewTeamVersion {
            team: &format!("team{t}"),
            based_on: 0,
            document: &text,
            author: "bench",
            comment: "first",
            restores: None,
        };
        store.save_team_version(&v, now).await.unwrap();
        let mut batch = Vec::new();
        for p in 0..PEOPLE {
            for k in 0..PAIRS_EACH {
                let id = format!("t{t}_{p:03}_{k:02}");
                batch.push(ListedAssignment {
                    user: format!("u{t}_{p:03}"),
                    flow_set: None,
                    task: ListedTask {
                        task_id: id.clone(),
                        instance_id: Some(id),
                        labels: vec![("2052".into(), format!("报销审批 {t}-{p}-{k}"))],
                        status: None,
                        initiator_id: Some("9".into()),
                        initiator_name: Some("Zhao Lei".into()),
                        start_time: Some(now - chrono::TimeDelta::hours((k * 7) as i64)),
                        text_hash: (t * 100_000 + p * 100 + k) as u64,
                    },
                });
            }
        }
        store.record_listed(&batch, now).await.unwrap();
    }
    eprintln!(
        "{} teams × {PEOPLE} people × {PAIRS_EACH} pairs recorded in {:.1?}",
        TEAMS,
        started.elapsed()
    );
    let draft = document(3, "4h");
    let mut times = Vec::new();
    let mut changed = 0;
    for _ in 0..11 {
        let at = Instant::now();
        let p = expediter::documents::preview(&config, &store, "team3", &draft, now)
            .await
            .unwrap();
        times.push(at.elapsed());
        changed = p.changed.len();
        assert_eq!(p.pairs, PEOPLE * PAIRS_EACH);
    }
    let first = times[0];
    let mut rest: Vec<Duration> = times[1..].to_vec();
    rest.sort();
    println!(
        "preview of team3 ({} pairs, {changed} change): first {:.0?}, median {:.0?}, slowest {:.0?}",
        PEOPLE * PAIRS_EACH,
        first,
        rest[rest.len() / 2],
        rest[rest.len() - 1]
    );
    store.close().await;
}
