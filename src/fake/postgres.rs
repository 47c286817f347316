//! A fresh, empty PostgreSQL database per test on the throwaway cluster `.ci/with-postgres`
//! starts (its URL in `EXPEDITER_TEST_PG`). Without that variable the tests that need
//! PostgreSQL fail, naming the command to run them with; they never pass unrun.

use std::str::FromStr;

use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;

/// The variable that names the test cluster.
pub const TEST_PG: &str = "EXPEDITER_TEST_PG";

/// The test cluster's URL, or a panic that says how to run the tests.
pub fn cluster_url() -> String {
    std::env::var(TEST_PG).unwrap_or_else(|_| {
        panic!(
            "{TEST_PG} is not set: these tests need PostgreSQL; run them as `bash .ci/with-postgres cargo test --locked`"
        )
    })
}

/// Creates an empty database on the test cluster and gives its URL.
pub async fn fresh_database() -> String {
    let admin = cluster_url();
    let name = format!("expediter_t{:016x}", fastrand::u64(..));
    let mut conn = PgConnectOptions::from_str(&admin)
        .expect("EXPEDITER_TEST_PG is a PostgreSQL URL")
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test cluster at {admin}: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    with_database(&admin, &name)
}

/// `url` naming database `name` instead.
pub fn with_database(url: &str, name: &str) -> String {
    let mut u = reqwest::Url::parse(url).expect("a URL");
    u.set_path(&format!("/{name}"));
    u.to_string()
}
