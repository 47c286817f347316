//! The store's tests, on both backends where the behaviour is both's.

use super::*;
use crate::clock::Clock;
use crate::domain::Recipient;
use crate::feishu::ListedTask;

fn task(id: &str) -> ListedTask {
    ListedTask {
        task_id: id.into(),
        instance_id: Some(format!("w{id}")),
        labels: vec![("2052".into(), "报销".into())],
        status: None,
        initiator_id: Some("9".into()),
        initiator_name: None,
        start_time: None,
        text_hash: 1,
    }
}

fn expedite<'a>(task_id: &'a str, recipients: &'a [Recipient]) -> Intent<'a> {
    Intent {
        kind: crate::domain::CallKind::Expedite,
        task_id,
        rule: "r",
        operator: "7000",
        opinion: "hi",
        recipients,
        people: &[],
    }
}

/// A new store of each backend, acting (PostgreSQL: holding a lease).
async fn stores() -> Vec<(tempfile::TempDir, Store)> {
    let mut out = Vec::new();
    for db in [
        Database::Sqlite(PathBuf::from("sub/e.db")),
        Database::Postgres(crate::fake::postgres::fresh_database().await),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = match db {
            Database::Sqlite(p) => Database::Sqlite(dir.path().join(p)),
            pg => pg,
        };
        let store = Store::open(&db)
            .await
            .unwrap()
            .with_lease(Lease::new(LeaseSettings {
                app_id: "cli_test".into(),
                duration: std::time::Duration::from_secs(30),
            }));
        assert!(matches!(
            store.elect().await.unwrap(),
            Election::Active { .. }
        ));
        out.push((dir, store));
    }
    out
}

#[tokio::test]
async fn pages_upsert_and_complete_listings_finish() {
    for (_d, s) in stores().await {
        let t0 = Clock::system().now();
        assert_eq!(
            s.record_page("u1", None, &[task("1"), task("2")], t0)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            s.record_page("u2", Some("flowA"), &[task("2")], t0)
                .await
                .unwrap(),
            0
        );
        assert_eq!(s.pending_pairs().await.unwrap().len(), 3);
        // One listing that lacks a task only marks it missing; the next one finishes it.
        let t1 = t0 + chrono::TimeDelta::minutes(10);
        let t2 = t1 + chrono::TimeDelta::minutes(10);
        assert_eq!(
            s.record_absent("u1", &["1".to_owned()], t1).await.unwrap(),
            Absent {
                finished: 0,
                missing: 1
            }
        );
        let pairs = s.pending_pairs().await.unwrap();
        assert_eq!(pairs.len(), 3);
        let one = pairs.iter().find(|p| p.task_id == "1").unwrap();
        assert_eq!(one.missing_since.map(ms), Some(ms(t1)));
        assert_eq!(
            s.record_absent("u1", &["1".to_owned()], t2).await.unwrap(),
            Absent {
                finished: 1,
                missing: 0
            }
        );
        let pairs = s.pending_pairs().await.unwrap();
        assert_eq!(pairs.len(), 2);
        assert!(pairs.iter().all(|p| p.task_id == "2"));
        assert_eq!(
            pairs.iter().find(|p| p.user_id == "u2").unwrap().flow_sets,
            vec!["flowA"]
        );
        assert_eq!(s.task_counts().await.unwrap(), (1, 1));
        // Task 2 is still pending for u2, so it is not finished when u1 no longer has it.
        s.record_absent("u1", &["2".to_owned()], t1).await.unwrap();
        assert_eq!(
            s.record_absent("u1", &["2".to_owned()], t2)
                .await
                .unwrap()
                .finished,
            1
        );
        assert_eq!(s.task_counts().await.unwrap(), (1, 1));
        // A task that comes back is pending again.
        s.record_page("u1", None, &[task("1")], t0).await.unwrap();
        assert_eq!(s.task_counts().await.unwrap(), (2, 0));
    }
}

#[tokio::test]
async fn a_fingerprint_lasts_until_the_users_tasks_change() {
    for (_d, s) in stores().await {
        let t0 = from_ms(ms(Clock::system().now()));
        s.record_page("u1", None, &[task("1"), task("2")], t0)
            .await
            .unwrap();
        let fingerprint = |pages: Vec<u64>| ListingFingerprint {
            pages,
            tasks: vec![1, 2],
            oldest_start: t0,
            missing: 0,
        };
        let listed = |user: &str, fingerprint: Option<ListingFingerprint>| CompleteListing {
            user: user.into(),
            at: t0,
            fingerprint,
        };
        s.record_listings(&[
            listed("u1", Some(fingerprint(vec![7, u64::MAX]))),
            listed("u2", Some(fingerprint(vec![9]))),
        ])
        .await
        .unwrap();
        let read = s.listing_fingerprints().await.unwrap();
        assert_eq!(read["u1"], fingerprint(vec![7, u64::MAX]));
        // A listing time alone keeps the fingerprint.
        s.record_listings(&[listed("u1", None)]).await.unwrap();
        assert_eq!(s.listing_fingerprints().await.unwrap().len(), 2);
        // Writing u1's tasks clears u1's fingerprint, not u2's.
        s.record_page("u1", None, &[task("3")], t0).await.unwrap();
        let read = s.listing_fingerprints().await.unwrap();
        assert!(!read.contains_key("u1") && read.contains_key("u2"));
        // So does marking one of u2's tasks missing.
        s.record_absent("u2", &["1".to_owned()], t0).await.unwrap();
        assert!(s.listing_fingerprints().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_task_listed_again_after_one_miss_stays_pending() {
    for (_d, s) in stores().await {
        let t0 = Clock::system().now();
        s.record_page("u1", None, &[task("1"), task("2")], t0)
            .await
            .unwrap();
        let t1 = t0 + chrono::TimeDelta::minutes(10);
        s.record_absent("u1", &["2".to_owned()], t1).await.unwrap();
        assert!(s.all_snapshots().await.unwrap()["u1"]["2"].missing);
        // Listed again: the mark is cleared, so a later single miss does not finish it.
        s.record_page("u1", None, &[task("2")], t1).await.unwrap();
        assert!(!s.all_snapshots().await.unwrap()["u1"]["2"].missing);
        let t2 = t1 + chrono::TimeDelta::minutes(10);
        assert_eq!(
            s.record_absent("u1", &["2".to_owned()], t2).await.unwrap(),
            Absent {
                finished: 0,
                missing: 1
            }
        );
        assert_eq!(s.pending_pairs().await.unwrap().len(), 2);
    }
}

#[tokio::test]
async fn read_only_opening_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = Database::Sqlite(dir.path().join("e.db"));
    assert!(
        Store::open_read_only(&path).await.unwrap().is_none(),
        "no file: nothing recorded yet"
    );
    assert!(!dir.path().join("e.db").exists(), "nothing created");
    let s = Store::open(&path).await.unwrap();
    s.record_page("u1", None, &[task("1")], Clock::system().now())
        .await
        .unwrap();
    s.close().await;
    let r = Store::open_read_only(&path)
        .await
        .unwrap()
        .expect("a store");
    assert_eq!(r.pending_pairs().await.unwrap().len(), 1);
    let err = r
        .record_page("u1", None, &[task("2")], Clock::system().now())
        .await
        .expect_err("read-only");
    assert!(err.to_string().contains("e.db"), "{err}");
}

#[tokio::test]
async fn a_postgresql_database_without_tables_reads_as_nothing_recorded_yet() {
    let url = crate::fake::postgres::fresh_database().await;
    let db = Database::Postgres(url.clone());
    assert!(
        Store::open_read_only(&db).await.unwrap().is_none(),
        "an empty database: nothing recorded yet"
    );
    let tables = || async {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        pool.close().await;
        n
    };
    assert_eq!(tables().await, 0, "looking created nothing");
    let s = Store::open(&db).await.unwrap();
    s.record_page("u1", None, &[task("1")], Clock::system().now())
        .await
        .unwrap();
    s.close().await;
    let r = Store::open_read_only(&db).await.unwrap().expect("a store");
    assert_eq!(r.pending_pairs().await.unwrap().len(), 1);
    r.close().await;

    // Another program's table and no migrations of ours: not ours, said so.
    let other = crate::fake::postgres::fresh_database().await;
    let pool = sqlx::PgPool::connect(&other).await.unwrap();
    sqlx::query("CREATE TABLE invoices (id int)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let err = Store::open_read_only(&Database::Postgres(other))
        .await
        .err()
        .expect("a database of another program");
    assert!(
        err.to_string().contains("not an expediter database"),
        "{err}"
    );
}

#[tokio::test]
async fn the_same_expedite_is_recorded_once() {
    for (_d, s) in stores().await {
        let now = Clock::system().now();
        s.record_page("u1", None, &[task("1")], now).await.unwrap();
        let a = vec![Recipient {
            user_id: "u1".into(),
            rule: "r".into(),
            n: 1,
        }];
        let id = s.record_intent(&expedite("1", &a), now).await.unwrap();
        let again = s.record_intent(&expedite("1", &a), now).await;
        assert!(
            matches!(again, Err(StoreError::AlreadyRecorded { n: 1, .. })),
            "{again:?}"
        );
        // Once failed, the same n may be tried again.
        s.record_outcome(
            id,
            Outcome::Failed,
            Some(2320001),
            Some("param is invalid"),
            None,
            now,
        )
        .await
        .unwrap();
        assert_eq!(s.pending_pairs().await.unwrap()[0].sent, 0);
        let id2 = s.record_intent(&expedite("1", &a), now).await.unwrap();
        let pair = &s.pending_pairs().await.unwrap()[0];
        assert_eq!(
            (pair.sent, pair.last_sent.map(|t| t.timestamp_millis())),
            (1, Some(now.timestamp_millis()))
        );
        // An intent without an outcome is settled as unknown and still counts.
        let settled = s.settle_unfinished_intents(now).await.unwrap();
        assert_eq!(settled.iter().map(|e| e.id).collect::<Vec<_>>(), vec![id2]);
        assert_eq!(s.pending_pairs().await.unwrap()[0].sent, 1);
        let all = s.expedites().await.unwrap();
        assert_eq!(
            all.iter().map(|e| e.outcome.as_str()).collect::<Vec<_>>(),
            vec!["failed", "unknown"]
        );
        assert_eq!(all[0].feishu_code, Some(2320001));
        // An outcome is written once: a late answer after the settling (or a settling after
        // an answer) changes nothing — the settled one still counts, the failed one does not.
        s.record_outcome(id2, Outcome::Failed, Some(1), None, None, now)
            .await
            .unwrap();
        s.record_outcome(id, Outcome::Unknown, None, None, None, now)
            .await
            .unwrap();
        assert_eq!(s.pending_pairs().await.unwrap()[0].sent, 1);
        let all = s.expedites().await.unwrap();
        assert_eq!(
            all.iter().map(|e| e.outcome.as_str()).collect::<Vec<_>>(),
            vec!["failed", "unknown"]
        );
    }
}

#[tokio::test]
async fn prune_removes_only_old_finished_tasks_and_their_history() {
    for (_d, s) in stores().await {
        let long_ago = Clock::system().now() - chrono::TimeDelta::days(100);
        s.record_page(
            "u1",
            Some("f"),
            &[task("old"), task("new"), task("open")],
            long_ago,
        )
        .await
        .unwrap();
        let a = vec![Recipient {
            user_id: "u1".into(),
            rule: "r".into(),
            n: 1,
        }];
        s.record_intent(&expedite("old", &a), long_ago)
            .await
            .unwrap();
        s.record_intent(&expedite("new", &a), long_ago)
            .await
            .unwrap();
        for at in [long_ago, long_ago + chrono::TimeDelta::minutes(1)] {
            s.record_absent("u1", &["old".to_owned()], at)
                .await
                .unwrap();
        }
        let recently = Clock::system().now() - chrono::TimeDelta::minutes(1);
        for at in [recently, Clock::system().now()] {
            s.record_absent("u1", &["new".to_owned()], at)
                .await
                .unwrap();
        }
        let (tasks, expedites) = s
            .prune(Clock::system().now() - chrono::TimeDelta::days(90))
            .await
            .unwrap();
        assert_eq!((tasks, expedites), (1, 1));
        assert_eq!(s.task_counts().await.unwrap(), (1, 1));
        assert_eq!(
            s.expedites()
                .await
                .unwrap()
                .iter()
                .map(|e| e.task_id.as_str())
                .collect::<Vec<_>>(),
            vec!["new"]
        );
    }
}

#[tokio::test]
async fn unusable_path_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-db");
    std::fs::write(
        &file,
        b"this is not sqlite, just text long enough to look like a header......",
    )
    .unwrap();
    let err = Store::open(&Database::Sqlite(file))
        .await
        .err()
        .expect("garbage file must not open");
    assert!(err.to_string().contains("not-a-db"), "{err}");
}

/// An instance of the pair on `db` (PostgreSQL), with a lease of `duration`, not elected yet.
async fn leased(db: &Database, duration: std::time::Duration) -> Store {
    Store::open(db)
        .await
        .unwrap()
        .with_lease(Lease::new(LeaseSettings {
            app_id: "cli_pair".into(),
            duration,
        }))
}

/// Two instances on one PostgreSQL database: only the lease's holder of the current epoch
/// writes intents; a standby settles nothing; a takeover settles what the old epoch left.
#[tokio::test]
async fn postgres_intents_are_fenced_by_the_lease() {
    let url = crate::fake::postgres::fresh_database().await;
    let db = Database::Postgres(url.clone());
    let thirty = std::time::Duration::from_secs(30);
    let (a, b) = (leased(&db, thirty).await, leased(&db, thirty).await);
    assert_eq!(a.elect().await.unwrap(), Election::Active { epoch: 1 });
    let Election::Standby(holder) = b.elect().await.unwrap() else {
        panic!("the lease is held")
    };
    assert_eq!(
        (holder.holder.as_str(), holder.epoch),
        (a.lease().unwrap().me(), 1)
    );
    assert!(a.acting() && !b.acting());
    let now = crate::clock::Clock::system().now();
    a.record_page("u1", None, &[task("1"), task("2")], now)
        .await
        .unwrap();
    let r = |n| {
        vec![Recipient {
            user_id: "u1".into(),
            rule: "r".into(),
            n,
        }]
    };
    let (r1, r2) = (r(1), r(2));
    let open_one = a.record_intent(&expedite("1", &r1), now).await.unwrap();
    // The standby writes no intent and settles nothing: the open one is the active's call.
    assert!(matches!(
        b.record_intent(&expedite("2", &r1), now).await,
        Err(StoreError::NotLeader { .. })
    ));
    assert!(b.settle_unfinished_intents(now).await.unwrap().is_empty());
    // The lease runs out (by the database's clock); the standby takes over with epoch 2.
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query("UPDATE lease SET expires_at = now() - interval '1 second'")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(b.elect().await.unwrap(), Election::Active { epoch: 2 });
    // The old holder still trusts its clock, but the database refuses its intent, and it
    // stops acting.
    assert!(a.acting());
    let refused = a.record_intent(&expedite("1", &r2), now).await;
    assert!(
        matches!(refused, Err(StoreError::NotLeader { epoch: 1, .. })),
        "{refused:?}"
    );
    assert!(!a.acting());
    assert!(!a.renew().await.unwrap(), "no renewing a lease taken over");
    // The new holder settles the old epoch's open intent, and may go on.
    let settled = b.settle_unfinished_intents(now).await.unwrap();
    assert_eq!(
        settled.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![open_one]
    );
    assert!(matches!(
        b.record_intent(&expedite("1", &r1), now).await,
        Err(StoreError::AlreadyRecorded { n: 1, .. })
    ));
    b.record_intent(&expedite("1", &r2), now).await.unwrap();
    let all = b.expedites().await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.outcome.as_str()).collect::<Vec<_>>(),
        vec!["unknown", "pending"]
    );
    // A clean close gives the lease up: the other takes it at once.
    b.close().await;
    assert_eq!(a.elect().await.unwrap(), Election::Active { epoch: 3 });
}

/// A digest is claimed once per fire time; on PostgreSQL only by the holder the database
/// knows — an instance whose own clock still says it holds (one that slept through a takeover)
/// is refused, and stops acting.
#[tokio::test]
async fn a_digest_post_is_claimed_once_and_only_under_the_lease() {
    let now = crate::clock::Clock::system().now();
    let (next, day) = (
        now + chrono::TimeDelta::minutes(10),
        chrono::TimeDelta::days(40),
    );
    for (_dir, store) in stores().await {
        assert!(store.claim_digest_post("ops", now, now).await.unwrap());
        assert!(
            !store.claim_digest_post("ops", now, now).await.unwrap(),
            "twice"
        );
        assert!(store.claim_digest_post("ops", next, now).await.unwrap());
        assert!(store.claim_digest_post("finance", now, now).await.unwrap());
        // Pruned with the rest of what is old.
        store
            .prune(now + chrono::TimeDelta::seconds(1))
            .await
            .unwrap();
        assert!(
            store
                .claim_digest_post("ops", now, now + day)
                .await
                .unwrap()
        );
        assert!(!store.claim_digest_post("ops", next, now).await.unwrap());
        store.close().await;
    }
    let url = crate::fake::postgres::fresh_database().await;
    let db = Database::Postgres(url.clone());
    let thirty = std::time::Duration::from_secs(30);
    let (a, b) = (leased(&db, thirty).await, leased(&db, thirty).await);
    assert_eq!(a.elect().await.unwrap(), Election::Active { epoch: 1 });
    assert!(matches!(b.elect().await.unwrap(), Election::Standby(_)));
    assert!(matches!(
        b.claim_digest_post("ops", now, now).await,
        Err(StoreError::NotLeader { .. })
    ));
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query("UPDATE lease SET expires_at = now() - interval '1 second'")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(b.elect().await.unwrap(), Election::Active { epoch: 2 });
    assert!(b.claim_digest_post("ops", now, now).await.unwrap());
    assert!(a.acting(), "a's own clock still says it holds");
    assert!(matches!(
        a.claim_digest_post("ops", next, now).await,
        Err(StoreError::NotLeader { epoch: 1, .. })
    ));
    assert!(!a.acting());
}

/// Epochs count per app: two apps sharing a database each settle only their own open intents
/// (another app's open intent is its instance's call in flight).
#[tokio::test]
async fn postgres_settling_touches_only_the_apps_own_intents() {
    let url = crate::fake::postgres::fresh_database().await;
    let db = Database::Postgres(url);
    let app = |id: &str| {
        let db = db.clone();
        let id = id.to_owned();
        async move {
            Store::open(&db)
                .await
                .unwrap()
                .with_lease(Lease::new(LeaseSettings {
                    app_id: id,
                    duration: std::time::Duration::from_secs(30),
                }))
        }
    };
    let (a, b) = (app("cli_a").await, app("cli_b").await);
    assert_eq!(a.elect().await.unwrap(), Election::Active { epoch: 1 });
    // b's epochs climb past a's: elected, given up, elected again.
    assert_eq!(b.elect().await.unwrap(), Election::Active { epoch: 1 });
    b.stand_down().await;
    assert_eq!(b.elect().await.unwrap(), Election::Active { epoch: 2 });
    let now = crate::clock::Clock::system().now();
    a.record_page("u1", None, &[task("1")], now).await.unwrap();
    let r = vec![Recipient {
        user_id: "u1".into(),
        rule: "r".into(),
        n: 1,
    }];
    let open = a.record_intent(&expedite("1", &r), now).await.unwrap();
    assert!(b.settle_unfinished_intents(now).await.unwrap().is_empty());
    let settled = a.settle_unfinished_intents(now).await.unwrap();
    assert_eq!(settled.iter().map(|e| e.id).collect::<Vec<_>>(), vec![open]);
}

/// A takeover waits for an intent being written: the intent statement holds the lease row
/// `FOR SHARE` until it commits, so the new epoch begins after it and the new holder's
/// settling sees it. (Here the intent is held up by an uncommitted row with the same key.)
#[tokio::test]
async fn postgres_a_takeover_waits_for_an_intent_being_written() {
    use sqlx::Connection as _;
    use std::time::{Duration, Instant};
    let url = crate::fake::postgres::fresh_database().await;
    let db = Database::Postgres(url.clone());
    let second = Duration::from_secs(1);
    let (a, b) = (leased(&db, second).await, leased(&db, second).await);
    assert_eq!(a.elect().await.unwrap(), Election::Active { epoch: 1 });
    let now = crate::clock::Clock::system().now();
    a.record_page("u1", None, &[task("1")], now).await.unwrap();
    // Another session writes the same (task, assignee, kind, n) and does not commit yet.
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut blocker = conn.begin().await.unwrap();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO expedites (task_id, rule, operator_id, opinion, intent_at, outcome, kind, epoch)
         VALUES ('1', 'r', '7000', 'x', 0, 'pending', 'expedite', 1) RETURNING id",
    )
    .fetch_one(&mut *blocker)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO expedite_assignees (expedite_id, task_id, user_id, rule, n, kind)
         VALUES ($1, '1', 'u1', 'r', 1, 'expedite')",
    )
    .bind(id)
    .execute(&mut *blocker)
    .await
    .unwrap();
    let r1 = vec![Recipient {
        user_id: "u1".into(),
        rule: "r".into(),
        n: 1,
    }];
    let started = Instant::now();
    let intent = async {
        let r = a.record_intent(&expedite("1", &r1), now).await;
        (r, Instant::now())
    };
    // The lease runs out (1 s, by the database's clock) while the intent waits; then the
    // other instance tries to take it over.
    let takeover = async {
        tokio::time::sleep(Duration::from_millis(1400)).await;
        let r = b.elect().await;
        (r, Instant::now())
    };
    let release = async {
        tokio::time::sleep(Duration::from_millis(2200)).await;
        let at = Instant::now();
        blocker.rollback().await.unwrap();
        at
    };
    let ((written, written_at), (elected, elected_at), released_at) =
        tokio::time::timeout(Duration::from_secs(20), async {
            tokio::join!(intent, takeover, release)
        })
        .await
        .expect("neither waits forever");
    let id = written.expect("the intent began while the lease held, so it is written");
    assert_eq!(elected.unwrap(), Election::Active { epoch: 2 });
    assert!(
        elected_at > released_at,
        "the takeover waited for the intent: written after {:?}, taken over after {:?}, released after {:?}",
        written_at - started,
        elected_at - started,
        released_at - started
    );
    // So the new holder's settling finds it.
    let settled = b.settle_unfinished_intents(now).await.unwrap();
    assert_eq!(settled.iter().map(|e| e.id).collect::<Vec<_>>(), vec![id]);
}

/// A frozen instance's open transaction does not hold up the one that took over: the server
/// ends a session of ours idle inside a transaction, and the rows it had written are free.
#[tokio::test]
async fn postgres_a_frozen_transaction_is_ended_and_its_rows_freed() {
    use sqlx::{ConnectOptions as _, Connection as _};
    use std::time::{Duration, Instant};
    let url = crate::fake::postgres::fresh_database().await;
    let db = Database::Postgres(url.clone());
    let b = leased(&db, Duration::from_secs(30)).await;
    assert_eq!(b.elect().await.unwrap(), Election::Active { epoch: 1 });
    let now = crate::clock::Clock::system().now();
    b.record_page("u1", None, &[task("1")], now).await.unwrap();
    // A session like the frozen one's: it wrote u1's rows inside a transaction, then stopped.
    let mut frozen = postgres::session_options(&url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut tx = frozen.begin().await.unwrap();
    sqlx::query("UPDATE assignments SET last_seen = last_seen + 1 WHERE user_id = 'u1'")
        .execute(&mut *tx)
        .await
        .unwrap();
    let started = Instant::now();
    tokio::time::timeout(
        Duration::from_secs(20),
        b.record_page("u1", None, &[task("1")], now),
    )
    .await
    .expect("the rows were freed")
    .unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(10),
        "waited {waited:?} for the frozen session's rows"
    );
    assert!(
        tx.commit().await.is_err(),
        "the frozen session was ended: it commits nothing"
    );
}

#[tokio::test]
async fn the_consoles_page_filters_sorts_and_pages_in_sql() {
    for (_d, s) in stores().await {
        let t0 = Clock::system().now();
        let mut listed = Vec::new();
        for (i, (user, label)) in [
            ("u1", "报销 Travel"),
            ("u2", "Purchase 100%_off"),
            ("u1", "Leave"),
            ("u3", "报销 Taxi"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut t = task(&format!("t{i}"));
            t.labels = vec![("1033".into(), label.into())];
            // t0 started first, t3 last.
            t.start_time = Some(t0 - chrono::TimeDelta::hours(10 - i as i64));
            listed.push((user, t));
        }
        for (user, t) in &listed {
            s.record_page(user, None, std::slice::from_ref(t), t0)
                .await
                .unwrap();
        }
        let page = |q: PairQuery<'static>| {
            let s = s.clone();
            async move { s.pair_page(&q).await.unwrap() }
        };
        let ids = |keys: &[(String, String)]| keys.iter().map(|k| k.0.clone()).collect::<Vec<_>>();
        let all = PairQuery {
            limit: 10,
            ..Default::default()
        };
        let (keys, total) = page(all.clone()).await;
        assert_eq!(
            (ids(&keys), total),
            (vec!["t0".into(), "t1".into(), "t2".into(), "t3".into()], 4)
        );
        let (keys, total) = page(PairQuery {
            sort: PairSort::Newest,
            limit: 2,
            offset: 1,
            ..all.clone()
        })
        .await;
        assert_eq!((ids(&keys), total), (vec!["t2".into(), "t1".into()], 4));
        let (keys, total) = page(PairQuery {
            user: Some("u1"),
            ..all.clone()
        })
        .await;
        assert_eq!((ids(&keys), total), (vec!["t0".into(), "t2".into()], 2));
        let team: &'static [String] = Box::leak(Box::new(["u2".to_owned(), "u3".to_owned()]));
        let (keys, _) = page(PairQuery {
            users: Some(team),
            ..all.clone()
        })
        .await;
        assert_eq!(ids(&keys), vec!["t1".to_owned(), "t3".to_owned()]);
        // Text: in any case, non-ASCII too, wildcards literal; or the task id.
        let (keys, _) = page(PairQuery {
            text: Some("报销"),
            ..all.clone()
        })
        .await;
        assert_eq!(ids(&keys), vec!["t0".to_owned(), "t3".to_owned()]);
        let (keys, _) = page(PairQuery {
            text: Some("TRAVEL"),
            ..all.clone()
        })
        .await;
        assert_eq!(ids(&keys), vec!["t0".to_owned()]);
        let (keys, _) = page(PairQuery {
            text: Some("0%_"),
            ..all.clone()
        })
        .await;
        assert_eq!(ids(&keys), vec!["t1".to_owned()]);
        let (keys, _) = page(PairQuery {
            text: Some("_"),
            ..all.clone()
        })
        .await;
        assert_eq!(ids(&keys), vec!["t1".to_owned()]);
        let (keys, _) = page(PairQuery {
            text: Some("t2"),
            ..all.clone()
        })
        .await;
        assert_eq!(ids(&keys), vec!["t2".to_owned()]);
        // A page's pairs, read whole.
        let wanted = vec!["t1".to_owned(), "t3".to_owned()];
        let mut pairs = Vec::new();
        s.visit_pending_pairs(PairScope::Tasks(&wanted), None, |p| pairs.push(p.task_id))
            .await
            .unwrap();
        assert_eq!(pairs, wanted);
        // The task's record.
        let r = s.task_record("t1").await.unwrap().unwrap();
        assert_eq!(
            (r.label.as_str(), r.assignments.len()),
            ("Purchase 100%_off", 1)
        );
        assert!(s.task_record("nope").await.unwrap().is_none());
    }
}

#[tokio::test]
async fn a_grant_is_used_once_and_a_session_ends_on_the_server() {
    for (_d, s) in stores().await {
        let now = Clock::system().now();
        let later = now + chrono::TimeDelta::minutes(10);
        s.add_grant("h1", "link", "cli:root", later).await.unwrap();
        assert_eq!(s.use_grant("h1", "oauth_state", now).await.unwrap(), None);
        assert_eq!(
            s.use_grant("h1", "link", later).await.unwrap(),
            None,
            "expired"
        );
        assert_eq!(
            s.use_grant("h1", "link", now).await.unwrap().as_deref(),
            Some("cli:root")
        );
        assert_eq!(s.use_grant("h1", "link", now).await.unwrap(), None, "used");
        let session = Session {
            who: "token".into(),
            csrf: "c".into(),
            expires_at: later,
            kind: "token".into(),
            open_id: None,
            email: None,
            token_digest: Some("d1".into()),
        };
        s.add_session("sid", &session, now).await.unwrap();
        let back = s.session("sid", now).await.unwrap().unwrap();
        assert_eq!(
            (
                back.who.as_str(),
                back.kind.as_str(),
                back.token_digest.as_deref()
            ),
            ("token", "token", Some("d1"))
        );
        // Listed by a prefix of its hash, ended by it.
        let feishu = Session {
            who: "Li (ou_1)".into(),
            kind: "feishu".into(),
            open_id: Some("ou_1".into()),
            email: Some("li@corp.example".into()),
            token_digest: None,
            ..session.clone()
        };
        s.add_session("abc123", &feishu, now).await.unwrap();
        let listed = s.sessions(now).await.unwrap();
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert_eq!(s.end_sessions(Some("abc"), now).await.unwrap(), 1);
        assert!(s.session("abc123", now).await.unwrap().is_none());
        assert_eq!(
            s.end_sessions(Some("zz"), now).await.unwrap(),
            0,
            "not hex: nothing"
        );
        s.remember_person("ou_1", "Li", Some("li@corp.example"), now)
            .await
            .unwrap();
        s.remember_person("ou_1", "Li Si", None, now).await.unwrap();
        assert!(s.session("sid", later).await.unwrap().is_none(), "expired");
        s.end_session("sid", now).await.unwrap();
        assert!(s.session("sid", now).await.unwrap().is_none(), "ended");
        // Forgotten once long expired or ended: the session and the used grant.
        assert_eq!(s.forget_console(now).await.unwrap(), 0);
        assert_eq!(
            s.forget_console(later + chrono::TimeDelta::seconds(1))
                .await
                .unwrap(),
            3
        );
    }
}

/// The queries about moves name the ledger's strings of every kind that moves, and no other.
#[test]
fn the_sql_list_of_moves_is_every_kind_that_moves() {
    let kinds: Vec<String> = crate::domain::CallKind::ALL
        .into_iter()
        .filter(|k| k.moves())
        .map(|k| format!("'{}'", k.as_str()))
        .collect();
    assert_eq!(move_kinds!(), format!("({})", kinds.join(", ")));
}

/// The audit trail keeps what it is given, reads back newest first, and its prune forgets only
/// what is older than the cutoff — never touched by the tasks' prune.
#[tokio::test]
async fn the_audit_trail_is_kept_until_its_own_cutoff() {
    for (_d, s) in stores().await {
        let now = Clock::system().now();
        let teams = ["finance".to_owned()];
        for (days, action) in [(500, "sign_in"), (10, "silence_added"), (0, "away_added")] {
            let entry = NewAudit {
                who: "Lead (ou_1)",
                address: Some("10.0.0.7"),
                action,
                teams: &teams,
                detail: "what",
            };
            s.add_audit(&entry, now - chrono::TimeDelta::days(days))
                .await
                .unwrap();
        }
        let all = s
            .audit_since(now - chrono::TimeDelta::days(1000))
            .await
            .unwrap();
        let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["away_added", "silence_added", "sign_in"]);
        assert_eq!(all[0].teams, teams);
        assert_eq!(all[0].address.as_deref(), Some("10.0.0.7"));
        s.prune(now).await.unwrap();
        assert_eq!(
            s.audit_since(now - chrono::TimeDelta::days(1000))
                .await
                .unwrap()
                .len(),
            3
        );
        let pruned = s
            .prune_audit(now - chrono::TimeDelta::days(400))
            .await
            .unwrap();
        assert_eq!(pruned, 1);
        let kept = s
            .audit_since(now - chrono::TimeDelta::days(1000))
            .await
            .unwrap();
        assert_eq!(kept.len(), 2);
    }
}
