pub mod build;
pub mod demo;
pub mod gt;
pub mod info;
pub mod search;
pub mod split;
