//! The vector side of materials search: exact cosine similarity over every ready chunk vector
//! of a user, served from an in-process copy of each material's vectors.
//!
//! Reading 100k vectors (1 KiB each) from the database on every search is what made a large
//! library slow, so each material's vectors are kept here as one contiguous matrix of unit rows
//! once read. The copy is checked before every use against the database at the cost of one
//! index lookup per material: a material's chunks only ever change all at once (processing
//! replaces them, deletion removes them), and each replacement gives them fresh ids, so the id
//! of a material's first chunk names the exact set of vectors it holds. A stale copy is read
//! again; a deleted or no longer ready material is simply not asked for. The search stays exact.
//!
//! The copy is bounded ([`CAPACITY_FLOATS`], about 128 MiB); past it, copies of other users'
//! materials are dropped first, and a material that does not fit is scored straight from its
//! rows without being kept.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};
use uuid::Uuid;

/// The most vector components kept in memory at once (128 MiB of `f32`).
pub const CAPACITY_FLOATS: usize = 32 * 1024 * 1024;

/// One material's chunk vectors that share the query's model, as unit rows.
#[derive(Debug)]
pub struct MaterialVectors {
    material: Uuid,
    /// The id of the material's first chunk when read: the version of this copy.
    first_chunk: Uuid,
    owner: Uuid,
    model: String,
    dim: usize,
    ids: Vec<Uuid>,
    /// `ids.len() × dim` components, each row scaled to length 1.
    rows: Vec<f32>,
}

impl MaterialVectors {
    fn floats(&self) -> usize {
        self.rows.len()
    }
}

#[derive(Default)]
struct Cache {
    by_material: HashMap<Uuid, Arc<MaterialVectors>>,
    floats: usize,
}

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(|| Mutex::new(Cache::default()));

fn placeholder(backend: DbBackend, i: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${i}"),
        _ => format!("?{i}"),
    }
}

/// The vectors of the materials selected by `owner_clause` (whose first placeholder is the user
/// and second, when given, the topic), by the query's model and dimension, fresh from the
/// cache or read again.
pub async fn load(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    topic_id: Option<Uuid>,
    owner_clause: &str,
    model: &str,
    dim: usize,
) -> Result<Vec<Arc<MaterialVectors>>, DbErr> {
    let backend = conn.get_database_backend();
    let mut values: Vec<Value> = vec![user_id.into()];
    if let Some(topic) = topic_id {
        values.push(topic.into());
    }
    let sql = format!(
        "SELECT m.id AS material_id, c.id AS first_chunk FROM materials m \
         JOIN material_chunks c ON c.material_id = m.id AND c.chunk_index = 0 \
         WHERE {owner_clause}"
    );
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    let mut current = Vec::with_capacity(rows.len());
    for row in &rows {
        let material: Uuid = row.try_get("", "material_id")?;
        let first: Uuid = row.try_get("", "first_chunk")?;
        current.push((material, first));
    }

    let mut found = Vec::with_capacity(current.len());
    let mut stale = Vec::new();
    {
        let cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        for (material, first) in &current {
            match cache.by_material.get(material) {
                Some(v) if v.first_chunk == *first && v.model == model && v.dim == dim => {
                    found.push(v.clone());
                }
                _ => stale.push((*material, *first)),
            }
        }
    }
    for (material, first) in stale {
        let Some(vectors) = read(conn, user_id, material, first, model, dim).await? else {
            continue;
        };
        let vectors = Arc::new(vectors);
        keep(&vectors);
        found.push(vectors);
    }
    Ok(found)
}

/// Reads one material's vectors of `model` and `dim`; `None` when its chunks changed since
/// `first` was read (the next search sees the new ones).
async fn read(
    conn: &impl ConnectionTrait,
    owner: Uuid,
    material: Uuid,
    first: Uuid,
    model: &str,
    dim: usize,
) -> Result<Option<MaterialVectors>, DbErr> {
    let backend = conn.get_database_backend();
    let sql = format!(
        "SELECT id, chunk_index, embedding_vector FROM material_chunks \
         WHERE material_id = {} AND embedding_model = {} AND embedding_dim = {} \
         AND embedding_vector IS NOT NULL ORDER BY chunk_index",
        placeholder(backend, 1),
        placeholder(backend, 2),
        placeholder(backend, 3),
    );
    let values: Vec<Value> = vec![
        material.into(),
        model.into(),
        i32::try_from(dim).unwrap_or(i32::MAX).into(),
    ];
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    let mut vectors = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: Uuid = row.try_get("", "id")?;
        let index: i32 = row.try_get("", "chunk_index")?;
        if index == 0 && id != first {
            return Ok(None);
        }
        let bytes: Vec<u8> = row.try_get("", "embedding_vector")?;
        if bytes.len() == dim * 4 {
            let v = bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
            vectors.push((id, v.collect()));
        }
    }
    Ok(Some(MaterialVectors::new(
        material, first, owner, model, dim, vectors,
    )))
}

impl MaterialVectors {
    /// The copy of one material's `vectors` (those not `dim` long are left out), as unit rows.
    pub fn new(
        material: Uuid,
        first_chunk: Uuid,
        owner: Uuid,
        model: &str,
        dim: usize,
        vectors: Vec<(Uuid, Vec<f32>)>,
    ) -> Self {
        let mut ids = Vec::with_capacity(vectors.len());
        let mut rows = Vec::with_capacity(vectors.len() * dim);
        for (id, mut v) in vectors.into_iter().filter(|(_, v)| v.len() == dim) {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                v.iter_mut().for_each(|x| *x /= norm);
            }
            rows.extend(v);
            ids.push(id);
        }
        Self {
            material,
            first_chunk,
            owner,
            model: model.to_string(),
            dim,
            ids,
            rows,
        }
    }
}

/// Keeps `vectors` in the cache, dropping other users' copies first (then any) to make room;
/// a copy larger than the whole cache is not kept.
fn keep(vectors: &Arc<MaterialVectors>) {
    if vectors.floats() > CAPACITY_FLOATS {
        return;
    }
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(old) = cache.by_material.remove(&vectors.material) {
        cache.floats -= old.floats();
    }
    while cache.floats + vectors.floats() > CAPACITY_FLOATS {
        let victim = cache
            .by_material
            .iter()
            .find(|(_, v)| v.owner != vectors.owner)
            .or_else(|| cache.by_material.iter().next())
            .map(|(k, _)| *k);
        let Some(victim) = victim else { break };
        if let Some(old) = cache.by_material.remove(&victim) {
            cache.floats -= old.floats();
        }
    }
    cache.floats += vectors.floats();
    cache.by_material.insert(vectors.material, vectors.clone());
}

/// The ids of the `k` chunks most similar to `q` by cosine similarity, best first; vectors
/// pointing away from `q` are left out.
pub fn nearest(q: &[f32], materials: &[Arc<MaterialVectors>], k: usize) -> Vec<(Uuid, f64)> {
    let q_norm = q.iter().map(|x| x * x).sum::<f32>().sqrt();
    if q_norm == 0.0 {
        return Vec::new();
    }
    let mut scored: Vec<(f32, Uuid)> = Vec::new();
    for m in materials.iter().filter(|m| m.dim == q.len()) {
        for (id, row) in m.ids.iter().zip(m.rows.chunks_exact(m.dim)) {
            let dot: f32 = q.iter().zip(row).map(|(a, b)| a * b).sum();
            let cos = dot / q_norm;
            if cos > 0.0 {
                scored.push((cos, *id));
            }
        }
    }
    let by_score = |a: &(f32, Uuid), b: &(f32, Uuid)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if scored.len() > k {
        scored.select_nth_unstable_by(k, by_score);
        scored.truncate(k);
    }
    scored.sort_by(by_score);
    scored
        .into_iter()
        .map(|(cos, id)| (id, f64::from(cos)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_ranking_is_exact_and_skips_other_dimensions() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let m = |vectors| {
            Arc::new(MaterialVectors::new(
                Uuid::now_v7(),
                Uuid::now_v7(),
                Uuid::nil(),
                "m",
                2,
                vectors,
            ))
        };
        let materials = vec![
            m(vec![(a, vec![1.0, 0.0]), (c, vec![1.0, 0.0, 0.0])]),
            m(vec![(b, vec![0.6, 0.8])]),
        ];
        let ids = |v: Vec<(Uuid, f64)>| v.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
        assert_eq!(ids(nearest(&[0.0, 1.0], &materials, 5)), vec![b]);
        assert_eq!(ids(nearest(&[1.0, 0.1], &materials, 1)), vec![a]);
        assert_eq!(ids(nearest(&[1.0, 0.1], &materials, 5)), vec![a, b]);
        let top = nearest(&[0.0, 2.0], &materials, 5);
        assert!((top[0].1 - 0.8).abs() < 1e-6);
        // A query of another dimension meets no vector.
        assert!(nearest(&[1.0, 0.0, 0.0], &materials, 5).is_empty());
    }
}
