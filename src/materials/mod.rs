//! Materials (SPEC §3 Materials): files students upload — stored in the object store
//! (`storage`), recorded in `materials` (`service`, `routes`), and processed in the background
//! into embedded `material_chunks` (`extract` → `chunk` → `process`).

pub mod chunk;
pub mod extract;
pub mod model;
pub mod process;
pub mod routes;
pub mod service;
pub mod storage;

pub use storage::Storage;
