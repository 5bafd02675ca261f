//! Lessons as data: the file format (`model`), parsing one file (`parse`), loading embedded or
//! from a folder (`loader`), variables in commands (`vars`), the race grammar (`race`), which
//! scripts are shipped (`scripts`), questions asked with other values (`vary`), the course's parts (`course`) and validation (`validate`).
//! Nothing here sends a command or draws: the engine (`runner`) runs lessons, `term` shows them.

pub mod catalogue;
pub mod check;
pub mod course;
pub mod loader;
pub mod model;
pub mod parse;
pub mod race;
pub mod scripts;
pub mod validate;
pub mod vars;
pub mod vary;
