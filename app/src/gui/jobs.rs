//! Work that must not run on the frame loop (file reading, engine runs, database queries)
//! runs on a worker thread and hands its result back through a channel. The frame loop only
//! polls, so the window stays responsive while an 8B model loads.

use std::sync::mpsc::{Receiver, TryRecvError, channel};

/// One piece of background work producing a `T`.
pub struct Job<T> {
    rx: Receiver<T>,
    /// What the job is doing, shown next to its spinner.
    pub label: String,
}

/// What polling a job found.
pub enum Polled<T> {
    Running,
    Done(T),
    /// The worker ended without an answer (it panicked): say so instead of spinning forever.
    Lost,
}

impl<T: Send + 'static> Job<T> {
    /// Runs `work` on a new thread and asks for a repaint when it finishes.
    pub fn spawn(
        ctx: &egui::Context,
        label: impl Into<String>,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Self {
        let (tx, rx) = channel();
        let ctx = ctx.clone();
        std::thread::spawn(move || {
            let result = work();
            // The window may have closed, or the job been dropped: nobody wants the result.
            let _ = tx.send(result);
            ctx.request_repaint();
        });
        Self {
            rx,
            label: label.into(),
        }
    }

    pub fn poll(&self) -> Polled<T> {
        match self.rx.try_recv() {
            Ok(v) => Polled::Done(v),
            Err(TryRecvError::Empty) => Polled::Running,
            Err(TryRecvError::Disconnected) => Polled::Lost,
        }
    }
}

/// An optional job in a slot: `take_done` empties the slot when the job has finished.
pub struct JobSlot<T>(Option<Job<T>>);

impl<T> Default for JobSlot<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<T: Send + 'static> JobSlot<T> {
    pub fn start(&mut self, job: Job<T>) {
        self.0 = Some(job);
    }

    pub fn is_running(&self) -> bool {
        self.0.is_some()
    }

    pub fn label(&self) -> Option<&str> {
        self.0.as_ref().map(|j| j.label.as_str())
    }

    /// The result once the job has finished; `Err` with a message when the worker was lost.
    pub fn take_done(&mut self) -> Option<Result<T, String>> {
        let job = self.0.as_ref()?;
        let out = match job.poll() {
            Polled::Running => return None,
            Polled::Done(v) => Ok(v),
            Polled::Lost => Err(format!(
                "{}: the worker stopped without an answer",
                job.label
            )),
        };
        self.0 = None;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait<T: Send + 'static>(slot: &mut JobSlot<T>) -> Result<T, String> {
        for _ in 0..2000 {
            if let Some(r) = slot.take_done() {
                return r;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        panic!("job did not finish");
    }

    #[test]
    fn a_finished_job_hands_back_its_result_once() {
        let ctx = egui::Context::default();
        let mut slot = JobSlot::default();
        slot.start(Job::spawn(&ctx, "adding", || 2 + 2));
        assert!(slot.is_running());
        assert_eq!(wait(&mut slot), Ok(4));
        assert!(!slot.is_running());
        assert!(slot.take_done().is_none());
    }

    #[test]
    fn a_panicking_worker_is_reported_not_awaited_forever() {
        let ctx = egui::Context::default();
        let mut slot: JobSlot<i32> = JobSlot::default();
        slot.start(Job::spawn(&ctx, "failing", || panic!("boom")));
        let err = wait(&mut slot).unwrap_err();
        assert!(err.contains("failing"), "{err}");
    }
}
