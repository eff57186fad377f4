//! Shared by the store's integration tests: a throwaway PostgreSQL database per test.
//!
//! `.ci/run` (through `scripts/postgres-test-cluster.sh`) starts a throwaway cluster and
//! exports `ECGR1_TEST_POSTGRES_ADMIN_URL` (a superuser, used to create one database per test,
//! prepare it with `init-postgres` and play the tampering superuser) and
//! `ECGR1_TEST_POSTGRES_URL` (the login role the workstations use, a member of the
//! application role). Without them the PostgreSQL tests say why they skip and pass.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod child;
pub mod records;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use ecgr1_app::store::{DbLocation, InitPostgres, PostgresUrl, init_postgres};

pub const ADMIN_URL_VAR: &str = "ECGR1_TEST_POSTGRES_ADMIN_URL";
pub const APP_URL_VAR: &str = "ECGR1_TEST_POSTGRES_URL";
pub const OWNER_ROLE: &str = "ecgr1_owner";
pub const APP_ROLE: &str = "ecgr1_app";
/// A second workstation login (another member of the application role).
pub const SECOND_LOGIN: &str = "ecgr1_test_ward_b";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// One database of the test cluster, dropped with the value.
pub struct TestDb {
    pub admin: PostgresUrl,
    /// The first workstation login on this database.
    pub app: PostgresUrl,
    /// A second workstation login on this database.
    pub second: PostgresUrl,
    pub name: String,
}

fn env_url(var: &str) -> Option<PostgresUrl> {
    let text = std::env::var(var).ok().filter(|v| !v.is_empty())?;
    match DbLocation::parse(&text) {
        Ok(DbLocation::Postgres(url)) => Some(url),
        other => panic!("{var} is not a postgres:// URL: {other:?}"),
    }
}

/// Runs SQL as the test cluster's superuser on `db` (or the maintenance database).
pub fn admin_sql(admin: &PostgresUrl, statements: &[&str]) -> Result<(), String> {
    use sqlx::{Connection, Executor};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(admin.connect_str())
            .await
            .map_err(|e| e.to_string())?;
        for s in statements {
            conn.execute(sqlx::AssertSqlSafe(s.to_string()))
                .await
                .map_err(|e| format!("{s}: {e}"))?;
        }
        conn.close().await.map_err(|e| e.to_string())
    })
}

impl TestDb {
    /// A new, `init-postgres`-prepared database, or `None` (with the reason printed) when no
    /// test cluster is configured.
    pub fn new(tag: &str) -> Option<Self> {
        Self::create(tag, true)
    }

    /// A new empty database owned by the workstation login, without `init-postgres` (the
    /// store migrates it itself on first open).
    pub fn bare(tag: &str) -> Option<Self> {
        Self::create(tag, false)
    }

    fn create(tag: &str, prepare: bool) -> Option<Self> {
        let (Some(admin), Some(app)) = (env_url(ADMIN_URL_VAR), env_url(APP_URL_VAR)) else {
            eprintln!(
                "skipping the PostgreSQL part of this test: {ADMIN_URL_VAR} / {APP_URL_VAR} are not set \
                 (scripts/postgres-test-cluster.sh starts a throwaway server; .ci/run does)"
            );
            return None;
        };
        let name = format!(
            "ecgr1_t_{}_{}_{}",
            tag,
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let login = app
            .user()
            .expect("the app URL names its login role")
            .to_string();
        let db_admin = admin.with_database(&name);
        if prepare {
            admin_sql(&admin, &[&format!("CREATE DATABASE {name}")]).unwrap();
            init_postgres(&InitPostgres {
                admin: db_admin.clone(),
                owner_role: OWNER_ROLE.into(),
                app_role: APP_ROLE.into(),
                logins: vec![login, SECOND_LOGIN.into()],
            })
            .unwrap();
        } else {
            admin_sql(
                &admin,
                &[
                    &format!(
                        "DO $$ BEGIN CREATE ROLE {login} LOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
                    ),
                    &format!("CREATE DATABASE {name} OWNER {login}"),
                ],
            )
            .unwrap();
        }
        Some(Self {
            app: app.with_database(&name),
            second: app.with_database(&name).with_user(SECOND_LOGIN),
            admin: db_admin,
            name,
        })
    }

    pub fn location(&self) -> DbLocation {
        DbLocation::Postgres(self.app.clone())
    }

    /// Runs SQL on this database as the superuser.
    pub fn admin_sql(&self, statements: &[&str]) -> Result<(), String> {
        admin_sql(&self.admin, statements)
    }

    /// Runs SQL on this database as the workstation login.
    pub fn app_sql(&self, statements: &[&str]) -> Result<(), String> {
        admin_sql(&self.app, statements)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let maintenance = self.admin.with_database("postgres");
        let _ = admin_sql(
            &maintenance,
            &[&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )],
        );
    }
}

/// A temporary folder, removed with the value.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("ecgr1-store-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
