//! Teaching rounds: de-identified case sets, sessions over them, trainees' answers, and the
//! cases as shown to trainees.

use serde_json::json;

use super::super::sql::{Backend, RowRead, SqlTx};
use super::super::{Result, Role, Session, StoreError, TeachingCase};
use super::Store;
use super::cases::case_exists;
use super::chain::{Draft, append_events};
use super::reading::{RUN_SELECT, run_record_from_row};

impl<B: Backend> Store<B> {
    pub(super) async fn create_case_set_async(
        &self,
        session: &Session,
        name: &str,
        case_ids: &[i64],
    ) -> Result<i64> {
        self.require(session, &[Role::Trainer], "create case sets")
            .await?;
        let mut tx = self.backend.write().await?;
        for case_id in case_ids {
            case_exists(&mut tx, *case_id).await?;
        }
        let id = tx
            .insert(
                "INSERT INTO case_sets (name, created_at, created_by) VALUES ($1, $2, $3) RETURNING id",
                &[
                    name.into(),
                    (&self.clock.now()).into(),
                    session.user_id.into(),
                ],
            )
            .await?;
        for (position, case_id) in case_ids.iter().enumerate() {
            tx.execute(
                "INSERT INTO case_set_items (case_set_id, position, case_id) VALUES ($1, $2, $3)",
                &[id.into(), (position as i64).into(), (*case_id).into()],
            )
            .await?;
        }
        append_events(
            &mut tx,
            &self.key,
            &self.clock,
            &session.into(),
            &[Draft::new("create", "case_set", id)
                .after(json!({ "name": name, "case_ids": case_ids }))],
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    pub(super) async fn create_teaching_session_async(
        &self,
        session: &Session,
        case_set_id: i64,
        title: &str,
    ) -> Result<i64> {
        self.require(session, &[Role::Trainer], "create teaching sessions")
            .await?;
        let mut tx = self.backend.write().await?;
        let found = tx
            .fetch_optional(
                "SELECT id FROM case_sets WHERE id = $1",
                &[case_set_id.into()],
            )
            .await?;
        if found.is_none() {
            return Err(StoreError::NotFound {
                entity: "case set",
                id: case_set_id.to_string(),
            });
        }
        let id = tx
            .insert(
                "INSERT INTO teaching_sessions (case_set_id, title, created_at, created_by) \
                 VALUES ($1, $2, $3, $4) RETURNING id",
                &[
                    case_set_id.into(),
                    title.into(),
                    (&self.clock.now()).into(),
                    session.user_id.into(),
                ],
            )
            .await?;
        append_events(
            &mut tx,
            &self.key,
            &self.clock,
            &session.into(),
            &[Draft::new("create", "teaching_session", id)
                .after(json!({ "case_set_id": case_set_id, "title": title }))],
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    pub(super) async fn record_trainee_answer_async(
        &self,
        session: &Session,
        teaching_session_id: i64,
        case_id: i64,
        answer: &str,
    ) -> Result<i64> {
        self.require(
            session,
            &[Role::Cardiologist, Role::Trainer, Role::Admin],
            "answer in a teaching session",
        )
        .await?;
        let mut tx = self.backend.write().await?;
        let in_set = tx
            .fetch_optional(
                "SELECT i.case_id FROM teaching_sessions t JOIN case_set_items i ON i.case_set_id = t.case_set_id \
                 WHERE t.id = $1 AND i.case_id = $2",
                &[teaching_session_id.into(), case_id.into()],
            )
            .await?;
        if in_set.is_none() {
            return Err(StoreError::NotFound {
                entity: "case in teaching session",
                id: format!("{case_id} in session {teaching_session_id}"),
            });
        }
        let id = tx
            .insert(
                "INSERT INTO trainee_answers (session_id, case_id, trainee, answer, answered_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[
                    teaching_session_id.into(),
                    case_id.into(),
                    session.user_id.into(),
                    answer.into(),
                    (&self.clock.now()).into(),
                ],
            )
            .await?;
        append_events(
            &mut tx,
            &self.key,
            &self.clock,
            &session.into(),
            &[Draft::new("create", "trainee_answer", id).after(json!({
                "session_id": teaching_session_id, "case_id": case_id, "answer": answer,
            }))],
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    pub(super) async fn teaching_case_async(
        &self,
        session: &Session,
        teaching_session_id: i64,
        position: usize,
    ) -> Result<TeachingCase> {
        self.require(
            session,
            &[Role::Trainer, Role::Cardiologist, Role::Admin],
            "view teaching cases",
        )
        .await?;
        let mut tx = self.backend.write().await?;
        let items: Vec<i64> = tx
            .fetch_all(
                "SELECT i.case_id FROM teaching_sessions t JOIN case_set_items i ON i.case_set_id = t.case_set_id \
                 WHERE t.id = $1 ORDER BY i.position",
                &[teaching_session_id.into()],
            )
            .await?
            .iter()
            .map(|r| r.i64(0))
            .collect::<Result<_>>()?;
        let Some(&case_id) = items.get(position) else {
            return Err(StoreError::NotFound {
                entity: "case in teaching session",
                id: format!("position {position} of session {teaching_session_id}"),
            });
        };
        let input = tx
            .fetch_one(
                "SELECT i.format, i.kind, i.original FROM cases c JOIN ecg_inputs i ON i.id = c.ecg_input_id \
                 WHERE c.id = $1",
                &[case_id.into()],
            )
            .await?;
        let sql = format!(
            "{RUN_SELECT} WHERE r.case_id = $1 AND r.status = 'completed' ORDER BY r.id DESC LIMIT 1"
        );
        let run = tx
            .fetch_optional(&sql, &[case_id.into()])
            .await?
            .as_ref()
            .map(run_record_from_row)
            .transpose()?;
        let signed_run = tx
            .fetch_optional(
                "SELECT d.run_id FROM decisions d WHERE d.case_id = $1 ORDER BY d.id DESC LIMIT 1",
                &[case_id.into()],
            )
            .await?
            .map(|r| r.i64(0))
            .transpose()?;
        append_events(
            &mut tx,
            &self.key,
            &self.clock,
            &session.into(),
            &[Draft::new("view", "teaching_case", case_id).after(json!({
                "session_id": teaching_session_id, "position": position,
            }))],
        )
        .await?;
        tx.commit().await?;
        let signed = match signed_run {
            Some(run_id) => self.decisions_async(run_id).await?.pop(),
            None => None,
        };
        Ok(TeachingCase {
            case_id,
            position,
            count: items.len(),
            format: input.text(0)?,
            kind: input.text(1)?,
            bytes: input.blob(2)?,
            run,
            signed,
        })
    }
}
