//! Hybrid search over one user's material chunks (SPEC §3 "Materials"): full-text candidates
//! (SQLite FTS5 `bm25()` / PostgreSQL `ts_rank_cd` over the index of migration 12) fused with
//! the exact cosine similarity of the query's embedding to every one of the user's chunk
//! vectors ([`super::vectors`], from an in-process copy checked against the database), by a
//! convex combination of the two sides' normalised scores ([`combine`]); reciprocal-rank
//! fusion ([`fuse`]) is kept for the evaluation, which measures the combination above it.
//!
//! Only the user's own materials in `ready` state are read, so another user's chunks cannot
//! appear. The vector side scores off the async runtime; text is loaded for the final hits
//! alone, to make their snippets.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    AccessMode, ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend,
    DbErr, EntityTrait, IsolationLevel, QueryFilter, QueryOrder, QuerySelect, Statement,
    TransactionTrait, Value,
};
use uuid::Uuid;

use crate::entity::{material_chunks, materials};
use crate::html::escape_into;
use crate::tutor::retrieval::query_terms;

/// `materials.processing_status` of a material whose chunks may be searched.
pub const STATUS_READY: &str = "ready";
/// The RRF constant: damps the weight of the first few ranks so neither list dominates.
pub const RRF_K: f64 = 60.0;
/// The text side's share in [`combine`]: chosen before measuring, as the two sides' even
/// split tilted towards the index that sees every word exactly (the offline embedding folds
/// words into 256 hashed dimensions, so its similarities are noisier).
pub const TEXT_WEIGHT: f64 = 0.6;
/// Candidates taken from each side before fusion.
const CANDIDATES: usize = 100;
/// Words shown in a snippet.
const SNIPPET_WORDS: usize = 36;

/// Which ranking to use: the hybrid one serves requests; the single sides are for the
/// evaluation, which compares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The convex combination of the normalised scores ([`combine`]).
    Hybrid,
    /// Reciprocal-rank fusion of the two rankings ([`fuse`]), for comparison.
    Rrf,
    FullText,
    Vector,
}

/// A query: its text and its embedding (by the model named, which chunk vectors must share).
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub text: &'a str,
    pub embedding: &'a [f32],
    pub embedding_model: &'a str,
}

/// One chunk found by [`search`].
#[derive(Debug, Clone, PartialEq)]
pub struct MaterialHit {
    pub material_id: Uuid,
    pub title: String,
    pub file_name: String,
    pub chunk_id: Uuid,
    pub chunk_index: i32,
    /// The fused score, best first (a sum of `1 / (60 + rank)` over the lists that hold it).
    pub score: f64,
    /// Up to 36 words of the chunk around the query's terms, HTML-escaped, matched words
    /// wrapped in `<mark>…</mark>`.
    pub snippet: String,
    /// The chunk's whole text (for the tutor and quiz generation; not sent by the API).
    pub text: String,
}

/// The user's ready chunks that best match `query`, best first, at most `limit`; only
/// materials on `topic_id` when given.
pub async fn search(
    conn: &DatabaseConnection,
    user_id: Uuid,
    query: Query<'_>,
    limit: usize,
    topic_id: Option<Uuid>,
) -> Result<Vec<MaterialHit>, DbErr> {
    search_with(conn, user_id, query, limit, topic_id, Mode::Hybrid).await
}

/// [`search`] with a chosen ranking.
///
/// Its reads share one snapshot (a read-only transaction, repeatable read on PostgreSQL), so a
/// material whose chunks are replaced meanwhile (reprocessed, re-embedded) is found by its old
/// chunks or its new ones, never lost between the ranking and the loading of the hits.
pub async fn search_with(
    conn: &DatabaseConnection,
    user_id: Uuid,
    query: Query<'_>,
    limit: usize,
    topic_id: Option<Uuid>,
    mode: Mode,
) -> Result<Vec<MaterialHit>, DbErr> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let txn = match conn.get_database_backend() {
        DbBackend::Postgres => {
            conn.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await?
        }
        // A SQLite transaction always reads one snapshot.
        _ => conn.begin().await?,
    };
    let conn = &txn;
    let candidates = CANDIDATES.max(limit);
    let text_ranked = if mode == Mode::Vector {
        Vec::new()
    } else {
        full_text(conn, user_id, query.text, candidates, topic_id).await?
    };
    let vector_ranked = if mode == Mode::FullText || query.embedding.is_empty() {
        Vec::new()
    } else {
        nearest(conn, user_id, &query, candidates, topic_id).await?
    };
    let fused = match mode {
        Mode::Rrf => {
            let ids = |list: &[(Uuid, f64)]| list.iter().map(|(id, _)| *id).collect::<Vec<_>>();
            fuse(&[&ids(&text_ranked), &ids(&vector_ranked)], limit)
        }
        _ => combine(&text_ranked, &vector_ranked, TEXT_WEIGHT, limit),
    };
    let hits = hydrate(conn, user_id, query.text, &fused).await?;
    txn.commit().await?;
    Ok(hits)
}

/// Reciprocal-rank fusion of ranked id lists: the `limit` ids with the largest
/// `Σ 1 / (k + rank)`, ties broken by the id for a stable order.
pub fn fuse(lists: &[&[Uuid]], limit: usize) -> Vec<(Uuid, f64)> {
    let mut scores: HashMap<Uuid, f64> = HashMap::new();
    for list in lists {
        for (i, id) in list.iter().enumerate() {
            *scores.entry(*id).or_default() += 1.0 / (RRF_K + (i + 1) as f64);
        }
    }
    let mut out: Vec<(Uuid, f64)> = scores.into_iter().collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out.truncate(limit);
    out
}

/// The convex combination of the two sides' scores (Bruch et al., "An Analysis of Fusion
/// Functions for Hybrid Retrieval", 2023: it beats RRF in- and out-of-domain): each side's
/// score divided by its best candidate's (so the best is 1 and no match is 0: BM25 and
/// `ts_rank_cd` are unbounded, cosine here 0..1), then `weight · text + (1 − weight) · vector`.
/// A chunk one side did not return counts 0 on that side. Ties go to the smaller id.
pub fn combine(
    text: &[(Uuid, f64)],
    vector: &[(Uuid, f64)],
    weight: f64,
    limit: usize,
) -> Vec<(Uuid, f64)> {
    let mut scores: HashMap<Uuid, f64> = HashMap::new();
    for (list, w) in [(text, weight), (vector, 1.0 - weight)] {
        let best = list.iter().map(|(_, s)| *s).fold(0.0_f64, f64::max);
        if best <= 0.0 {
            continue;
        }
        for (id, s) in list {
            *scores.entry(*id).or_default() += w * (s / best).max(0.0);
        }
    }
    let mut out: Vec<(Uuid, f64)> = scores.into_iter().collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out.truncate(limit);
    out
}

/// The filter every query of this module shares: the user's ready materials (on the topic).
fn owner_clause(backend: DbBackend, first: usize, topic_id: Option<Uuid>) -> String {
    let p = |i: usize| match backend {
        DbBackend::Postgres => format!("${i}"),
        _ => format!("?{i}"),
    };
    let mut clause = format!(
        "m.user_id = {} AND m.processing_status = '{STATUS_READY}'",
        p(first)
    );
    if topic_id.is_some() {
        clause.push_str(&format!(" AND m.topic_id = {}", p(first + 1)));
    }
    clause
}

/// Full-text candidates, best first: the query's content terms OR-ed, ranked by the index.
async fn full_text(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    text: &str,
    candidates: usize,
    topic_id: Option<Uuid>,
) -> Result<Vec<(Uuid, f64)>, DbErr> {
    let terms = query_terms(text);
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let (sql, query) = match backend {
        DbBackend::Postgres => (
            format!(
                "SELECT c.id, ts_rank_cd(c.search_vector, q)::float8 AS rank \
                 FROM material_chunks c JOIN materials m ON m.id = c.material_id, \
                 to_tsquery('english', $1) q \
                 WHERE c.search_vector @@ q AND {} \
                 ORDER BY rank DESC, c.id LIMIT {candidates}",
                owner_clause(backend, 2, topic_id)
            ),
            terms.join(" | "),
        ),
        // The owner's token is part of the MATCH (see migration 12), so the index ranks only
        // the user's chunks; the ready (and topic) check joins the few it returns. Without a
        // topic the index stops at twice the candidates (chunks of a material still being
        // processed are the only ones the join may drop); with one, it ranks them all.
        _ => (
            format!(
                "SELECT t.id, t.rank FROM (SELECT f.chunk_id AS id, -f.rank AS rank \
                 FROM material_chunks_fts f \
                 WHERE material_chunks_fts MATCH \
                 ('owner:u' || lower(hex(?2)) || ' AND chunk_text:(' || ?1 || ')') \
                 ORDER BY f.rank{}) t \
                 JOIN material_chunks c ON c.id = t.id JOIN materials m ON m.id = c.material_id \
                 WHERE {} ORDER BY t.rank DESC, t.id LIMIT {candidates}",
                if topic_id.is_some() {
                    String::new()
                } else {
                    format!(" LIMIT {}", candidates * 2)
                },
                owner_clause(backend, 2, topic_id)
            ),
            terms
                .iter()
                .map(|t| format!("\"{t}\""))
                .collect::<Vec<_>>()
                .join(" OR "),
        ),
    };
    let mut values: Vec<Value> = vec![query.into(), user_id.into()];
    if let Some(topic) = topic_id {
        values.push(topic.into());
    }
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<Uuid>("", "id")?, r.try_get::<f64>("", "rank")?)))
        .collect()
}

/// The `candidates` chunks whose vectors are nearest the query's by cosine similarity, best
/// first: exact, over every ready chunk of the user embedded by the query's model.
async fn nearest(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    query: &Query<'_>,
    candidates: usize,
    topic_id: Option<Uuid>,
) -> Result<Vec<(Uuid, f64)>, DbErr> {
    let backend = conn.get_database_backend();
    let owner = owner_clause(backend, 1, topic_id);
    let materials = super::vectors::load(
        conn,
        user_id,
        topic_id,
        &owner,
        query.embedding_model,
        query.embedding.len(),
    )
    .await?;
    let q = query.embedding.to_vec();
    crate::cpu::run(move || super::vectors::nearest(&q, &materials, candidates))
        .await
        .map_err(|e| DbErr::Custom(format!("vector scoring failed: {e}")))
}

/// The fused ids as hits, in order, with their material, text and snippet.
async fn hydrate(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    query: &str,
    fused: &[(Uuid, f64)],
) -> Result<Vec<MaterialHit>, DbErr> {
    if fused.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = fused.iter().map(|(id, _)| *id).collect();
    let rows: Vec<(Uuid, Uuid, i32, String, String, String)> = material_chunks::Entity::find()
        .select_only()
        .column(material_chunks::Column::Id)
        .column(material_chunks::Column::MaterialId)
        .column(material_chunks::Column::ChunkIndex)
        .column(material_chunks::Column::ChunkText)
        .column(materials::Column::Title)
        .column(materials::Column::FileName)
        .inner_join(materials::Entity)
        .filter(material_chunks::Column::Id.is_in(ids))
        .filter(materials::Column::UserId.eq(user_id))
        .into_tuple()
        .all(conn)
        .await?;
    let mut by_id: HashMap<Uuid, (Uuid, i32, String, String, String)> = rows
        .into_iter()
        .map(|(id, material, index, text, title, file)| (id, (material, index, text, title, file)))
        .collect();
    let terms = query_terms(query);
    Ok(fused
        .iter()
        .filter_map(|(id, score)| {
            let (material_id, chunk_index, text, title, file_name) = by_id.remove(id)?;
            Some(MaterialHit {
                material_id,
                title,
                file_name,
                chunk_id: *id,
                chunk_index,
                score: *score,
                snippet: snippet(&text, &terms),
                text,
            })
        })
        .collect())
}

/// A chunk of one of a user's materials, for quiz generation.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicChunk {
    pub chunk_id: Uuid,
    pub material_id: Uuid,
    pub title: String,
    pub text: String,
}

/// The chunks of `user_id`'s ready materials filed under `topic_id`, oldest material first and
/// in order within each, at most `limit`.
pub async fn topic_chunks(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    topic_id: Uuid,
    limit: u64,
) -> Result<Vec<TopicChunk>, DbErr> {
    let rows: Vec<(Uuid, Uuid, String, String)> = material_chunks::Entity::find()
        .select_only()
        .column(material_chunks::Column::Id)
        .column(material_chunks::Column::MaterialId)
        .column(materials::Column::Title)
        .column(material_chunks::Column::ChunkText)
        .inner_join(materials::Entity)
        .filter(materials::Column::UserId.eq(user_id))
        .filter(materials::Column::TopicId.eq(topic_id))
        .filter(materials::Column::ProcessingStatus.eq(STATUS_READY))
        .order_by_asc(materials::Column::UploadedAt)
        .order_by_asc(materials::Column::Id)
        .order_by_asc(material_chunks::Column::ChunkIndex)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(chunk_id, material_id, title, text)| TopicChunk {
            chunk_id,
            material_id,
            title,
            text,
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Snippets

/// A light stem for highlighting: the same on both backends (the indexes' own stemmers are
/// not available to the application).
fn light_stem(word: &str) -> String {
    let w = word.to_lowercase();
    for suffix in [
        "ations", "ation", "ings", "ing", "ies", "es", "ed", "ly", "s",
    ] {
        if let Some(base) = w.strip_suffix(suffix)
            && base.chars().count() >= 3
        {
            return base.to_string();
        }
    }
    w
}

/// Up to [`SNIPPET_WORDS`] words of `text` around the densest run of the query's `terms`,
/// HTML-escaped, each matching word in `<mark>…</mark>`, with `…` where the text was cut.
pub fn snippet(text: &str, terms: &[String]) -> String {
    let stems: Vec<String> = terms.iter().map(|t| light_stem(t)).collect();
    let words: Vec<&str> = text.split_whitespace().collect();
    let matches: Vec<bool> = words
        .iter()
        .map(|w| {
            let core = w.trim_matches(|c: char| !c.is_alphanumeric());
            !core.is_empty() && stems.contains(&light_stem(core))
        })
        .collect();
    // The window with the most matches; the earliest among equals.
    let window = SNIPPET_WORDS.min(words.len());
    let mut best = (0usize, 0usize);
    let mut count = matches[..window].iter().filter(|m| **m).count();
    best.1 = count;
    for start in 1..=(words.len() - window) {
        count += usize::from(matches[start + window - 1]);
        count -= usize::from(matches[start - 1]);
        if count > best.1 {
            best = (start, count);
        }
    }
    // Start a little before the first match of the window, for context.
    let mut start = best.0;
    if best.1 > 0
        && let Some(first) = (start..start + window).find(|&i| matches[i])
    {
        start = first.saturating_sub(4).min(words.len() - window);
    }
    let mut out = String::new();
    if start > 0 {
        out.push_str("\u{2026} ");
    }
    for i in start..start + window {
        if i > start {
            out.push(' ');
        }
        let word = words[i];
        if matches[i] {
            let begin = word.find(|c: char| c.is_alphanumeric()).unwrap_or(0);
            let end = word
                .rfind(|c: char| c.is_alphanumeric())
                .map_or(word.len(), |j| {
                    j + word[j..].chars().next().map_or(1, char::len_utf8)
                });
            escape_into(&word[..begin], &mut out);
            out.push_str("<mark>");
            escape_into(&word[begin..end], &mut out);
            out.push_str("</mark>");
            escape_into(&word[end..], &mut out);
        } else {
            escape_into(word, &mut out);
        }
    }
    if start + window < words.len() {
        out.push_str(" \u{2026}");
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Writing chunks without the upload pipeline (the evaluation, the benchmark, tests)

/// Tokens a chunk aims at, at most, and how many it shares with the one before.
pub const CHUNK_TOKENS: usize = 400;
pub const CHUNK_OVERLAP: usize = 60;

/// `text` split into overlapping Markdown-aware chunks of at most [`CHUNK_TOKENS`] cl100k
/// tokens, each with its token count.
pub fn split_chunks(text: &str) -> anyhow::Result<Vec<(String, usize)>> {
    use text_splitter::{ChunkConfig, MarkdownSplitter};
    let bpe = tiktoken_rs::cl100k_base()?;
    let config = ChunkConfig::new(CHUNK_TOKENS)
        .with_overlap(CHUNK_OVERLAP)?
        .with_sizer(&bpe);
    let splitter = MarkdownSplitter::new(config);
    Ok(splitter
        .chunks(text)
        .map(|c| (c.to_string(), bpe.encode_ordinary(c).len()))
        .collect())
}

/// The bytes `material_chunks.embedding_vector` holds: little-endian f32s.
pub fn vector_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A ready material of `user_id` holding `text`, chunked and embedded with `provider` (in one
/// transaction of the caller's). For the evaluation, the benchmark and tests: uploads go
/// through the processing job instead. Returns the material's id.
pub async fn insert_text_material(
    conn: &impl ConnectionTrait,
    provider: &crate::ai::Provider,
    user_id: Uuid,
    topic_id: Option<Uuid>,
    title: &str,
    text: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Uuid> {
    let chunks = split_chunks(text)?;
    let texts: Vec<String> = chunks.iter().map(|(t, _)| t.clone()).collect();
    let (vectors, _usage) = provider.embed(&texts).await?;
    let id = Uuid::now_v7();
    materials::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        topic_id: Set(topic_id),
        title: Set(title.to_string()),
        file_name: Set(format!("{title}.md")),
        content_type: Set("text/markdown".into()),
        file_size: Set(i64::try_from(text.len()).unwrap_or(i64::MAX)),
        s3_url: Set(format!("inline/{id}")),
        processing_status: Set(STATUS_READY.into()),
        processing_error: Set(None),
        uploaded_at: Set(now),
        updated_at: Set(now),
    }
    .insert(conn)
    .await?;
    let rows: Vec<material_chunks::ActiveModel> = chunks
        .into_iter()
        .zip(vectors)
        .enumerate()
        .map(
            |(i, ((text, tokens), vector))| material_chunks::ActiveModel {
                id: Set(Uuid::now_v7()),
                material_id: Set(id),
                chunk_index: Set(i32::try_from(i).unwrap_or(i32::MAX)),
                chunk_text: Set(text),
                token_count: Set(i32::try_from(tokens).unwrap_or(i32::MAX)),
                embedding_dim: Set(Some(i32::try_from(vector.len()).unwrap_or(i32::MAX))),
                embedding_vector: Set(Some(vector_bytes(&vector))),
                embedding_model: Set(Some(provider.embedding_model().to_string())),
                created_at: Set(now),
            },
        )
        .collect();
    if !rows.is_empty() {
        material_chunks::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_mark_the_query_words_and_escape_the_rest() {
        let text = "Notes <b>&</b> on photosynthesis: the light reactions split water.";
        let s = snippet(text, &query_terms("light reaction"));
        assert_eq!(
            s,
            "Notes &lt;b&gt;&amp;&lt;/b&gt; on photosynthesis: the <mark>light</mark> \
             <mark>reactions</mark> split water."
        );
        let long = format!(
            "{} osmosis here {}",
            "word ".repeat(100),
            "tail ".repeat(100)
        );
        let s = snippet(&long, &query_terms("osmosis"));
        assert!(
            s.starts_with("\u{2026} ") && s.ends_with(" \u{2026}"),
            "{s}"
        );
        assert!(s.contains("<mark>osmosis</mark>"), "{s}");
        assert_eq!(snippet("", &query_terms("x")), "");
    }

    #[test]
    fn fusion_prefers_what_both_lists_rank_high() {
        let (a, b, c, d) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let fused = fuse(&[&[a, b, c], &[b, d, a]], 3);
        assert_eq!(fused[0].0, b);
        assert_eq!(fused[1].0, a);
        assert_eq!(fused.len(), 3);
        assert!((fused[0].1 - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-12);
    }

    #[test]
    fn text_is_split_into_overlapping_token_bounded_chunks() {
        let text = (0..300)
            .map(|i| format!("Sentence number {i} about the water cycle and evaporation."))
            .collect::<Vec<_>>()
            .join(" ");
        let chunks = split_chunks(&text).unwrap();
        assert!(chunks.len() >= 3, "{}", chunks.len());
        assert!(chunks.iter().all(|(_, n)| *n <= CHUNK_TOKENS));
    }
}
