//! Where the case store is: an SQLite file, a throwaway in-memory SQLite database, or a
//! PostgreSQL database on a server.
//!
//! A value that looks like a URL (it has a scheme) is never taken for a file path: `sqlite:`
//! and `postgres://` (or `postgresql://`) select their backend and any other scheme is an error,
//! so a mistyped URL cannot silently create a file named after it.

use std::path::PathBuf;

/// Where the database is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DbLocation {
    /// An in-memory SQLite database (tests).
    Memory,
    /// An SQLite file.
    File(PathBuf),
    /// A PostgreSQL database.
    Postgres(PostgresUrl),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LocationError {
    #[error(
        "--db {scheme}://…: unknown database scheme '{scheme}' (use a file path, sqlite:PATH or postgres://USER@HOST/DB)"
    )]
    UnknownScheme { scheme: String },
    #[error("--db {shown}: not a valid PostgreSQL URL: {problem}")]
    BadPostgresUrl { shown: String, problem: String },
    #[error("--db sqlite: names no file (use sqlite:PATH or sqlite::memory:)")]
    EmptySqlitePath,
}

impl DbLocation {
    /// `:memory:`, `sqlite::memory:`, `sqlite:PATH`, `sqlite://PATH`, `postgres://…`,
    /// `postgresql://…` or a plain path.
    pub fn parse(text: &str) -> Result<Self, LocationError> {
        if text == ":memory:" {
            return Ok(Self::Memory);
        }
        let Some(scheme) = url_scheme(text) else {
            return Ok(Self::File(PathBuf::from(text)));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => {
                let rest = &text[scheme.len() + 1..];
                let rest = rest.strip_prefix("//").unwrap_or(rest);
                match rest {
                    "" => Err(LocationError::EmptySqlitePath),
                    ":memory:" => Ok(Self::Memory),
                    path => Ok(Self::File(PathBuf::from(path))),
                }
            }
            "postgres" | "postgresql" => PostgresUrl::parse(text).map(Self::Postgres),
            _ => Err(LocationError::UnknownScheme {
                scheme: scheme.to_string(),
            }),
        }
    }

    /// The location as shown to people: a path, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Self::Memory => ":memory:".into(),
            Self::File(p) => p.display().to_string(),
            Self::Postgres(url) => url.redacted(),
        }
    }
}

/// The scheme of `text` when it looks like a URL: letters, digits, `+`, `-` or `.` after a
/// leading letter, then `:`, with either `//` after it or a scheme name longer than one letter
/// (so a Windows drive letter such as `C:\data` stays a path).
fn url_scheme(text: &str) -> Option<&str> {
    let (scheme, rest) = text.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    if !first.is_ascii_alphabetic()
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let known = matches!(
        scheme.to_ascii_lowercase().as_str(),
        "sqlite" | "postgres" | "postgresql"
    );
    (rest.starts_with("//") || known).then_some(scheme)
}

/// A PostgreSQL connection URL. Its password, if it has one, is never shown: [`Self::redacted`]
/// is what error messages, the GUI and the audit history see.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(url::Url);

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresUrl({})", self.redacted())
    }
}

impl PostgresUrl {
    pub fn parse(text: &str) -> Result<Self, LocationError> {
        let bad = |problem: String| LocationError::BadPostgresUrl {
            shown: redact_text(text),
            problem,
        };
        let url = url::Url::parse(text).map_err(|e| bad(e.to_string()))?;
        if url.host_str().is_none_or(str::is_empty) && !url.query_pairs().any(|(k, _)| k == "host")
        {
            return Err(bad("it names no server (postgres://USER@HOST/DB)".into()));
        }
        if url.path().trim_start_matches('/').is_empty() {
            return Err(bad("it names no database (postgres://USER@HOST/DB)".into()));
        }
        Ok(Self(url))
    }

    /// The full URL, password included, for connecting only.
    pub fn connect_str(&self) -> &str {
        self.0.as_str()
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        let mut url = self.0.clone();
        if url.password().is_some() {
            // Setting a password only fails for URLs that cannot have one (no host).
            let _ = url.set_password(Some("***"));
        }
        url.to_string()
    }

    /// `host:port` of the server, as named in error messages.
    pub fn server(&self) -> String {
        let host = self.0.host_str().unwrap_or("localhost");
        format!("{host}:{}", self.0.port().unwrap_or(5432))
    }

    /// The database name.
    pub fn database(&self) -> String {
        self.0.path().trim_start_matches('/').to_string()
    }

    /// The user name in the URL, if any.
    pub fn user(&self) -> Option<&str> {
        Some(self.0.username()).filter(|u| !u.is_empty())
    }

    /// The same server and credentials, another database.
    pub fn with_database(&self, database: &str) -> Self {
        let mut url = self.0.clone();
        url.set_path(&format!("/{database}"));
        Self(url)
    }

    /// The same server and database, another user (no password).
    pub fn with_user(&self, user: &str) -> Self {
        let mut url = self.0.clone();
        // Both only fail for URLs without a host, which `parse` refuses.
        let _ = url.set_username(user);
        let _ = url.set_password(None);
        Self(url)
    }
}

/// Best-effort redaction of a URL that did not parse: drops everything between `://` and `@`.
fn redact_text(text: &str) -> String {
    match (text.find("://"), text.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            format!("{}***{}", &text[..start + 3], &text[at..])
        }
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_sqlite_and_postgres_urls_are_told_apart() {
        assert_eq!(DbLocation::parse(":memory:").unwrap(), DbLocation::Memory);
        assert_eq!(
            DbLocation::parse("sqlite::memory:").unwrap(),
            DbLocation::Memory
        );
        assert_eq!(
            DbLocation::parse("cases.sqlite").unwrap(),
            DbLocation::File("cases.sqlite".into())
        );
        assert_eq!(
            DbLocation::parse("sqlite:/var/lib/ecgr1/cases.sqlite").unwrap(),
            DbLocation::File("/var/lib/ecgr1/cases.sqlite".into())
        );
        assert_eq!(
            DbLocation::parse("sqlite://rel/cases.sqlite").unwrap(),
            DbLocation::File("rel/cases.sqlite".into())
        );
        assert_eq!(
            DbLocation::parse(r"C:\data\cases.sqlite").unwrap(),
            DbLocation::File(r"C:\data\cases.sqlite".into())
        );
        let DbLocation::Postgres(url) =
            DbLocation::parse("postgres://ward@db.example.org/cardio").unwrap()
        else {
            panic!("a postgres URL selects PostgreSQL")
        };
        assert_eq!(url.server(), "db.example.org:5432");
        assert_eq!(url.database(), "cardio");
        assert_eq!(url.user(), Some("ward"));
        assert!(matches!(
            DbLocation::parse("postgresql://a@h:6543/d").unwrap(),
            DbLocation::Postgres(_)
        ));
    }

    #[test]
    fn unknown_schemes_and_bad_urls_are_errors_not_files() {
        let e = DbLocation::parse("mysql://root@h/db").unwrap_err();
        assert_eq!(
            e,
            LocationError::UnknownScheme {
                scheme: "mysql".into()
            }
        );
        assert!(e.to_string().contains("unknown database scheme 'mysql'"));
        let e = DbLocation::parse("postgres://secret:hunter2@/db")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a valid PostgreSQL URL: empty host"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = DbLocation::parse("postgres://u@h").unwrap_err().to_string();
        assert!(e.contains("names no database"), "{e}");
        assert_eq!(
            DbLocation::parse("sqlite:").unwrap_err(),
            LocationError::EmptySqlitePath
        );
    }

    #[test]
    fn passwords_are_never_shown() {
        let db = DbLocation::parse("postgres://ward:hunter2@db:5433/cardio").unwrap();
        let shown = db.describe();
        assert_eq!(shown, "postgres://ward:***@db:5433/cardio");
        assert!(!format!("{db:?}").contains("hunter2"));
        let DbLocation::Postgres(url) = db else {
            unreachable!()
        };
        assert!(url.connect_str().contains("hunter2"));
        assert_eq!(url.server(), "db:5433");
        assert_eq!(
            url.with_user("bob").with_database("other").redacted(),
            "postgres://bob@db:5433/other"
        );
    }
}
