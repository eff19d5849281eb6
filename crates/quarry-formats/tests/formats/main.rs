//! Integration tests for quarry-formats, one binary with a module per format.

mod common;

mod bin;
mod chunks;
mod fixture;
mod groundtruth;
mod npy;
mod open;
mod vecs;
mod writer;
