//! The search benchmark (`studium bench-search`, driven by `bench/materials_search.py`): one
//! student holding 10k, then 100k generated chunks (Zipf-distributed pseudo-words, offline
//! embeddings) beside another student's 5k, and the latency of [`search::search`] — query
//! embedding included — measured one query at a time, next to a ceiling measured in the same
//! run: a `SELECT 1` through the same read pool.

use std::time::{Duration, Instant};

use sea_orm::ActiveValue::Set;
use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use uuid::Uuid;

use super::search::{self, Query, STATUS_READY, vector_bytes};
use crate::ai::offline::{self, Offline};
use crate::entity::{material_chunks, materials};
use crate::state::AppState;

/// Words a generated chunk holds (about 400 cl100k tokens of pseudo-words).
const CHUNK_WORDS: usize = 200;
/// Chunks per generated material.
const CHUNKS_PER_MATERIAL: usize = 100;
/// Distinct words of the generated notes: a student's notes over many subjects use tens of
/// thousands, most of them rare (Zipf).
const VOCABULARY: usize = 40_000;
/// Rows per INSERT and per write transaction.
const BATCH: usize = 500;
const TXN_ROWS: usize = 5000;
/// Chunks of the other student, which no search of the first may read.
const OTHER_CHUNKS: usize = 5000;

/// splitmix64: a small deterministic generator, so every run writes the same text.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Corpus {
    words: Vec<String>,
    /// Cumulative Zipf weights (s = 1) of `words`.
    cumulative: Vec<f64>,
}

impl Corpus {
    fn new(rng: &mut Rng) -> Self {
        const SYLLABLES: &[&str] = &[
            "ka", "lo", "mi", "nu", "pe", "ra", "si", "to", "ve", "zu", "bar", "cen", "dor", "fel",
            "gan", "hol", "jit", "kem", "lun", "mor", "nix", "pol", "qua", "ris",
        ];
        let mut words = Vec::with_capacity(VOCABULARY);
        let mut seen = std::collections::HashSet::new();
        while words.len() < VOCABULARY {
            let n = 2 + rng.below(4);
            let word: String = (0..n)
                .map(|_| SYLLABLES[rng.below(SYLLABLES.len())])
                .collect();
            if seen.insert(word.clone()) {
                words.push(word);
            }
        }
        let mut total = 0.0;
        let cumulative = (0..VOCABULARY)
            .map(|r| {
                total += 1.0 / (r as f64 + 1.0);
                total
            })
            .collect();
        Self { words, cumulative }
    }

    fn word(&self, rng: &mut Rng) -> &str {
        let total = self.cumulative[VOCABULARY - 1];
        let x = (rng.next() as f64 / u64::MAX as f64) * total;
        let i = self.cumulative.partition_point(|c| *c < x);
        &self.words[i.min(VOCABULARY - 1)]
    }

    fn chunk(&self, rng: &mut Rng) -> String {
        let mut text = String::with_capacity(CHUNK_WORDS * 8);
        for i in 0..CHUNK_WORDS {
            if i > 0 {
                text.push(if i % 15 == 0 { '.' } else { ' ' });
                if i % 15 == 0 {
                    text.push(' ');
                }
            }
            text.push_str(self.word(rng));
        }
        text
    }

    /// A query of 3–5 words of middling frequency (rank 100–10,000, each in roughly 15 % to
    /// 0.2 % of the chunks): the content words a student types.
    fn query(&self, rng: &mut Rng) -> String {
        let n = 3 + rng.below(3);
        (0..n)
            .map(|_| self.words[100 + rng.below(9900)].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One measured row of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub what: String,
    pub chunks: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub mean: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn row(what: &str, chunks: usize, mut times: Vec<Duration>) -> Row {
    times.sort();
    let mean = times.iter().sum::<Duration>() / u32::try_from(times.len().max(1)).unwrap_or(1);
    Row {
        what: what.to_string(),
        chunks,
        p50: percentile(&times, 0.5),
        p99: percentile(&times, 0.99),
        mean,
    }
}

/// Adds `count` generated chunks to `user_id`, in materials of [`CHUNKS_PER_MATERIAL`].
async fn add_chunks(
    state: &AppState,
    rng: &mut Rng,
    corpus: &Corpus,
    user_id: Uuid,
    count: usize,
) -> anyhow::Result<()> {
    let now = state.clock.now();
    let mut done = 0;
    while done < count {
        let txn = state.db.begin_write().await?;
        let upto = (done + TXN_ROWS).min(count);
        let mut rows = Vec::with_capacity(BATCH);
        let mut material = Uuid::nil();
        for i in done..upto {
            if i % CHUNKS_PER_MATERIAL == 0 || material.is_nil() {
                material = Uuid::now_v7();
                materials::Entity::insert(materials::ActiveModel {
                    id: Set(material),
                    user_id: Set(user_id),
                    topic_id: Set(None),
                    title: Set(format!("Generated notes {i}")),
                    file_name: Set(format!("notes-{i}.md")),
                    content_type: Set("text/markdown".into()),
                    file_size: Set(0),
                    s3_url: Set(format!("bench/{material}")),
                    processing_status: Set(STATUS_READY.into()),
                    processing_error: Set(None),
                    uploaded_at: Set(now),
                    updated_at: Set(now),
                })
                .exec_without_returning(&txn)
                .await?;
            }
            let text = corpus.chunk(rng);
            let (vectors, _) = Offline.embed(std::slice::from_ref(&text));
            let vector = vectors.into_iter().next().unwrap_or_default();
            rows.push(material_chunks::ActiveModel {
                id: Set(Uuid::now_v7()),
                material_id: Set(material),
                chunk_index: Set(i32::try_from(i % CHUNKS_PER_MATERIAL).unwrap_or(0)),
                chunk_text: Set(text),
                token_count: Set(400),
                embedding_vector: Set(Some(vector_bytes(&vector))),
                embedding_model: Set(Some(offline::EMBEDDING_MODEL.into())),
                embedding_dim: Set(Some(i32::try_from(vector.len()).unwrap_or(0))),
                created_at: Set(now),
            });
            if rows.len() == BATCH {
                material_chunks::Entity::insert_many(std::mem::take(&mut rows))
                    .exec_without_returning(&txn)
                    .await?;
            }
        }
        if !rows.is_empty() {
            material_chunks::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        done = upto;
        tracing::info!(chunks = done, of = count, "benchmark chunks written");
    }
    Ok(())
}

/// Grows one student's chunks to each of `sizes` in turn and measures `queries` searches at
/// each size. `state` must be on an empty, migrated database.
pub async fn run(state: &AppState, sizes: &[usize], queries: usize) -> anyhow::Result<Vec<Row>> {
    let mut rng = Rng(0x5EED);
    let corpus = Corpus::new(&mut rng);
    let (user_id, _) = crate::accounts::service::create_admin(
        state,
        &format!("bench-{}@studium.local", Uuid::now_v7()),
        "bench-password-that-is-long-enough-42".into(),
        "Bench Student",
    )
    .await?;
    let (other_id, _) = crate::accounts::service::create_admin(
        state,
        &format!("bench-{}@studium.local", Uuid::now_v7()),
        "bench-password-that-is-long-enough-42".into(),
        "Other Student",
    )
    .await?;
    add_chunks(state, &mut rng, &corpus, other_id, OTHER_CHUNKS).await?;
    let db = state.db.read();
    let mut rows = Vec::new();
    let mut held = 0;
    for &size in sizes {
        if size > held {
            add_chunks(state, &mut rng, &corpus, user_id, size - held).await?;
            held = size;
        }
        if db.get_database_backend() == sea_orm::DbBackend::Postgres {
            db.execute_unprepared("ANALYZE").await?;
        }
        let texts: Vec<String> = (0..queries).map(|_| corpus.query(&mut rng)).collect();
        // Warm-up: the first queries read the tables into the page cache.
        for text in texts.iter().take(5) {
            time_search(state, user_id, text).await?;
        }
        let mut ceiling = Vec::with_capacity(queries);
        let mut times = Vec::with_capacity(queries);
        let mut hits = 0usize;
        for text in &texts {
            let start = Instant::now();
            db.query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT 1",
            ))
            .await?;
            ceiling.push(start.elapsed());
            let (elapsed, n) = time_search(state, user_id, text).await?;
            times.push(elapsed);
            hits += n;
        }
        anyhow::ensure!(hits > 0, "the searches found nothing");
        rows.push(row("SELECT 1 (ceiling)", size, ceiling));
        rows.push(row("hybrid search, limit 10", size, times));
    }
    Ok(rows)
}

async fn time_search(
    state: &AppState,
    user_id: Uuid,
    text: &str,
) -> anyhow::Result<(Duration, usize)> {
    let start = Instant::now();
    let (vectors, _) = state.ai.embed(&[text.to_string()]).await?;
    let embedding = vectors.into_iter().next().unwrap_or_default();
    let hits = search::search(
        state.db.read(),
        user_id,
        Query {
            text,
            embedding: &embedding,
            embedding_model: state.ai.embedding_model(),
        },
        10,
        None,
    )
    .await?;
    Ok((start.elapsed(), hits.len()))
}
