//! Property tests of `servos-common`'s public API, in one test binary so it links once.

mod env_file;
mod envelope;
