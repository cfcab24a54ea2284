//! The materials search evaluation (`studium eval-materials`): realistic student notes
//! (`eval/materials/*.md`) stored as one student's ready materials, and questions about them
//! (`eval/materials_questions.toml`), each labelled with the notes file and a phrase of the
//! passage that answers it; the relevant chunks are that file's chunks holding the phrase. It
//! reports nDCG@10 (binary relevance), hit@3 and MRR@10 for full-text alone, vector alone and
//! the hybrid fusion, so the fusion is shown to earn its place. Two question sets: the
//! original one ([`QUESTIONS`]) and a held-out one ([`HELDOUT`]) of misspelt and paraphrased
//! questions.

use std::collections::HashMap;

use anyhow::Context;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::Deserialize;
use uuid::Uuid;

use super::search::{Mode, Query, insert_text_material, search_with};
use crate::entity::{material_chunks, materials, users};
use crate::state::AppState;

/// The notes, by file name.
pub const DOCUMENTS: &[(&str, &str)] = &[
    (
        "biology-respiration.md",
        include_str!("../../eval/materials/biology-respiration.md"),
    ),
    (
        "chemistry-acids.md",
        include_str!("../../eval/materials/chemistry-acids.md"),
    ),
    (
        "computing-sorting.md",
        include_str!("../../eval/materials/computing-sorting.md"),
    ),
    (
        "economics-markets.md",
        include_str!("../../eval/materials/economics-markets.md"),
    ),
    (
        "geography-tectonics.md",
        include_str!("../../eval/materials/geography-tectonics.md"),
    ),
    (
        "history-cold-war.md",
        include_str!("../../eval/materials/history-cold-war.md"),
    ),
    (
        "literature-macbeth.md",
        include_str!("../../eval/materials/literature-macbeth.md"),
    ),
    (
        "maths-probability.md",
        include_str!("../../eval/materials/maths-probability.md"),
    ),
    (
        "physics-forces.md",
        include_str!("../../eval/materials/physics-forces.md"),
    ),
];

/// The questions the fusion's weight was set on.
pub const QUESTIONS: &str = include_str!("../../eval/materials_questions.toml");
/// Questions as students really type them (misspelt, run together, paraphrased), written
/// before measuring and never tuned on: reported as held out.
pub const HELDOUT: &str = include_str!("../../eval/materials_questions_heldout.toml");

/// Ranks looked at.
const DEPTH: usize = 10;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionSet {
    pub question: Vec<Question>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub question: String,
    /// The notes file that answers it.
    pub document: String,
    /// Words of the passage that answers it (white space need not match).
    pub phrase: String,
}

impl QuestionSet {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        toml::from_str(text).context("materials question set")
    }
}

/// The figures of one ranking.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scores {
    pub ndcg_at_10: f64,
    pub hit_at_3: f64,
    pub mrr: f64,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub questions: usize,
    pub chunks: usize,
    pub full_text: Scores,
    pub vector: Scores,
    pub rrf: Scores,
    pub hybrid: Scores,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} questions over {} chunks of {} notes files",
            self.questions,
            self.chunks,
            DOCUMENTS.len()
        )?;
        writeln!(f, "| ranking | nDCG@10 | hit@3 | MRR@10 |")?;
        writeln!(f, "|---|---|---|---|")?;
        for (name, s) in [
            ("full-text", self.full_text),
            ("vector", self.vector),
            ("reciprocal-rank fusion", self.rrf),
            ("hybrid (convex combination, served)", self.hybrid),
        ] {
            writeln!(
                f,
                "| {name} | {:.3} | {:.3} | {:.3} |",
                s.ndcg_at_10, s.hit_at_3, s.mrr
            )?;
        }
        writeln!(
            f,
            "hybrid - full-text nDCG@10: {:+.3}",
            self.hybrid.ndcg_at_10 - self.full_text.ndcg_at_10
        )
    }
}

fn squash(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// nDCG@10, hit@3 and reciprocal rank of one ranking, given which ids are relevant.
fn score(ranked: &[Uuid], relevant: &[Uuid]) -> Scores {
    let gain = |i: usize| 1.0 / ((i + 2) as f64).log2();
    let dcg: f64 = ranked
        .iter()
        .take(DEPTH)
        .enumerate()
        .filter(|(_, id)| relevant.contains(id))
        .map(|(i, _)| gain(i))
        .sum();
    let ideal: f64 = (0..relevant.len().min(DEPTH)).map(gain).sum();
    let first = ranked
        .iter()
        .take(DEPTH)
        .position(|id| relevant.contains(id));
    Scores {
        ndcg_at_10: if ideal > 0.0 { dcg / ideal } else { 0.0 },
        hit_at_3: f64::from(u8::from(first.is_some_and(|r| r < 3))),
        mrr: first.map_or(0.0, |r| 1.0 / (r + 1) as f64),
    }
}

fn mean(all: &[Scores]) -> Scores {
    let n = all.len().max(1) as f64;
    Scores {
        ndcg_at_10: all.iter().map(|s| s.ndcg_at_10).sum::<f64>() / n,
        hit_at_3: all.iter().map(|s| s.hit_at_3).sum::<f64>() / n,
        mrr: all.iter().map(|s| s.mrr).sum::<f64>() / n,
    }
}

/// Stores the notes for a new student, runs every question through the three rankings and
/// removes the student and their notes again. A label that matches no chunk is an error.
pub async fn run(state: &AppState, set: &QuestionSet) -> anyhow::Result<Report> {
    let (user_id, _) = crate::accounts::service::create_admin(
        state,
        &format!("eval-{}@studium.local", Uuid::now_v7()),
        "evaluation-password-long-enough-42".into(),
        "Evaluation Student",
    )
    .await?;
    let result = evaluate(state, user_id, set).await;
    let txn = state.db.begin_write().await?;
    materials::Entity::delete_many()
        .filter(materials::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    users::Entity::delete_by_id(user_id).exec(&txn).await?;
    txn.commit().await?;
    result
}

async fn evaluate(state: &AppState, user_id: Uuid, set: &QuestionSet) -> anyhow::Result<Report> {
    let now = state.clock.now();
    let mut by_document: HashMap<&str, Uuid> = HashMap::new();
    let txn = state.db.begin_write().await?;
    for (name, text) in DOCUMENTS {
        let title = name.trim_end_matches(".md");
        let id = insert_text_material(&txn, &state.ai, user_id, None, title, text, now).await?;
        by_document.insert(name, id);
    }
    txn.commit().await?;
    let db = state.db.read();
    let chunks: Vec<(Uuid, Uuid, String)> = material_chunks::Entity::find()
        .select_only()
        .column(material_chunks::Column::Id)
        .column(material_chunks::Column::MaterialId)
        .column(material_chunks::Column::ChunkText)
        .filter(material_chunks::Column::MaterialId.is_in(by_document.values().copied()))
        .into_tuple()
        .all(db)
        .await?;
    let (mut text, mut vector, mut rrf, mut hybrid) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for q in &set.question {
        let material = *by_document
            .get(q.document.as_str())
            .with_context(|| format!("{:?} names no notes file", q.document))?;
        let phrase = squash(&q.phrase);
        let relevant: Vec<Uuid> = chunks
            .iter()
            .filter(|(_, m, t)| *m == material && squash(t).contains(&phrase))
            .map(|(id, _, _)| *id)
            .collect();
        anyhow::ensure!(
            !relevant.is_empty(),
            "no chunk of {} holds {:?} (question {:?})",
            q.document,
            q.phrase,
            q.question
        );
        let (vectors, _) = state.ai.embed(std::slice::from_ref(&q.question)).await?;
        let embedding = vectors.into_iter().next().unwrap_or_default();
        let query = Query {
            text: &q.question,
            embedding: &embedding,
            embedding_model: state.ai.embedding_model(),
        };
        for (mode, out) in [
            (Mode::FullText, &mut text),
            (Mode::Vector, &mut vector),
            (Mode::Rrf, &mut rrf),
            (Mode::Hybrid, &mut hybrid),
        ] {
            let hits = search_with(db, user_id, query, DEPTH, None, mode).await?;
            let ranked: Vec<Uuid> = hits.iter().map(|h| h.chunk_id).collect();
            out.push(score(&ranked, &relevant));
        }
    }
    Ok(Report {
        questions: set.question.len(),
        chunks: chunks.len(),
        full_text: mean(&text),
        vector: mean(&vector),
        rrf: mean(&rrf),
        hybrid: mean(&hybrid),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_question_set_parses_and_ndcg_is_standard() {
        let set = QuestionSet::parse(QUESTIONS).unwrap();
        assert!(set.question.len() >= 30);
        assert!(QuestionSet::parse(HELDOUT).unwrap().question.len() >= 30);
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let s = score(&[a, b, c], &[b]);
        assert!((s.ndcg_at_10 - 1.0 / 3f64.log2()).abs() < 1e-12);
        assert_eq!(s.hit_at_3, 1.0);
        assert_eq!(s.mrr, 0.5);
        assert_eq!(score(&[a, b], &[a, b]).ndcg_at_10, 1.0);
        assert_eq!(score(&[c], &[a]).mrr, 0.0);
    }
}
