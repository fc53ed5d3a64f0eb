//! A running job's cancel and lease flags: raised by its lease keeper,
//! checked by its steps between commands.

use std::sync::atomic::{AtomicBool, Ordering};

use super::StepError;

/// A job's cancel and lease flags, checked between steps.
#[derive(Debug, Default)]
pub struct JobFlags {
    cancel: AtomicBool,
    lost: AtomicBool,
}

impl JobFlags {
    /// `Err` when the job must stop: its lease was lost, or a cancel came.
    pub fn check(&self) -> Result<(), StepError> {
        if self.lost.load(Ordering::SeqCst) {
            Err(StepError::LeaseLost)
        } else if self.cancel.load(Ordering::SeqCst) {
            Err(StepError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// True once a cancel was asked for.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// True once another worker holds the job.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Raises the cancel flag.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }

    /// Raises the lost flag.
    pub fn lose(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }
}
