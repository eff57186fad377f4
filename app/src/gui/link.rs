//! The GUI's connection to the case store: the store shared with worker threads and the
//! acting user's session.

use std::sync::Arc;

use crate::store::{CaseStore, Session, StoreConfig, open_store as open_case_store};

/// The store as every view and worker sees it: through the backend-neutral trait.
pub type SharedStore = Arc<dyn CaseStore + Send + Sync>;

/// An open store and who is acting on it.
#[derive(Clone)]
pub struct StoreLink {
    pub store: SharedStore,
    pub session: Session,
    /// Where the database is, as shown in the status bar.
    pub location: String,
}

impl StoreLink {
    /// The same store acting as another user (a password, when given, is verified).
    pub fn relogin(&self, name: &str, password: Option<&str>) -> Result<Self, String> {
        let session = self
            .store
            .login(name, password)
            .map_err(|e| format!("cannot log in as '{name}': {e}"))?;
        Ok(Self {
            store: Arc::clone(&self.store),
            session,
            location: self.location.clone(),
        })
    }
}

/// Opens the store and logs `user` in without a password (reading and writing; signing asks
/// for the password again). Returns the link and the store's notices (a new database, ...).
pub fn open_store(config: &StoreConfig, user: &str) -> Result<(StoreLink, Vec<String>), String> {
    let location = config.db.describe();
    let store = open_case_store(config)
        .map_err(|e| format!("cannot open the case store {location}: {e}"))?;
    let notices = store.notices().to_vec();
    let session = store
        .login(user, None)
        .map_err(|e| format!("cannot log in as '{user}' to {location}: {e}"))?;
    Ok((
        StoreLink {
            store: Arc::from(store),
            session,
            location,
        },
        notices,
    ))
}
