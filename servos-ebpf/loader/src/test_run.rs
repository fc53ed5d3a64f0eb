//! Running the classifier on crafted packets without attaching it
//! (`BPF_PROG_TEST_RUN`): for tests and for measuring its cost per packet.

use std::time::Duration;

use aya::{Ebpf, TestRun as _, TestRunOptions, TestRunResult};

use crate::classifier::{load, program, Classifier, LinkLayer};
use crate::error::LoaderError;

/// What the program decided for a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Let through (`TC_ACT_UNSPEC`: to whatever else is attached, and on).
    Pass,
    /// Dropped (`TC_ACT_SHOT`).
    Drop,
    /// Any other return value: never expected.
    Other(i32),
}

impl Verdict {
    fn from_return_value(value: u32) -> Self {
        match value as i32 {
            -1 => Self::Pass,
            2 => Self::Drop,
            other => Self::Other(other),
        }
    }
}

/// The classifier loaded with maps of its own (not pinned, gone with this
/// value) and attached nowhere.
#[derive(Debug)]
pub struct ProgramUnderTest {
    ebpf: Ebpf,
    classifier: Classifier,
}

impl ProgramUnderTest {
    /// Loads the classifier for frames with an Ethernet header, which is
    /// what `BPF_PROG_TEST_RUN` hands a TC program. Needs root.
    pub fn load() -> Result<Self, LoaderError> {
        let (ebpf, classifier) = load(LinkLayer::Ethernet, None)?;
        Ok(Self { ebpf, classifier })
    }

    /// The classifier's maps, to apply policies and read counters.
    pub fn classifier(&mut self) -> &mut Classifier {
        &mut self.classifier
    }

    /// Runs the program once on `frame` (Ethernet header first, and at least
    /// one byte after it: the kernel refuses shorter input).
    pub fn run(&mut self, frame: &[u8]) -> Result<Verdict, LoaderError> {
        let result = self.test_run(frame, 1)?;
        Ok(Verdict::from_return_value(result.return_value))
    }

    /// Runs the program `repeat` times on `frame` in the kernel and returns
    /// the mean time per run.
    pub fn mean_run_time(&mut self, frame: &[u8], repeat: u32) -> Result<Duration, LoaderError> {
        Ok(self.test_run(frame, repeat)?.duration)
    }

    fn test_run(&mut self, frame: &[u8], repeat: u32) -> Result<TestRunResult, LoaderError> {
        let options = TestRunOptions {
            data_in: Some(frame),
            repeat,
            ..TestRunOptions::default()
        };
        program(&mut self.ebpf)?
            .test_run(options)
            .map_err(|err| LoaderError::TestRun(Box::new(err)))
    }
}
