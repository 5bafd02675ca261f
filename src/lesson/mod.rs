//! Lessons as data: the file format (`model`), loading embedded or from a folder (`loader`),
//! variables in commands (`vars`), the race grammar (`race`), which scripts are shipped
//! (`scripts`) and validation (`validate`).

pub mod catalogue;
pub mod check;
pub mod course;
pub mod loader;
pub mod model;
pub mod race;
pub mod scripts;
pub mod validate;
pub mod vars;
