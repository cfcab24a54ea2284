//! Materials (SPEC §3 Materials): files students upload — stored in the object store
//! (`storage`), recorded in `materials` (`service`, `routes`), processed in the background into
//! embedded `material_chunks` (`extract` → `chunk` → `process`; `reembed` after a change of embedding model), and searched by full text and
//! vectors together (`search`, `search_routes`; `eval` measures it).

pub mod chunk;
pub mod eval;
pub mod extract;
pub mod model;
pub mod process;
pub mod reembed;
pub mod routes;
pub mod search;
pub mod search_bench;
pub mod search_routes;
pub mod service;
pub mod storage;
pub mod vectors;

pub use storage::Storage;
