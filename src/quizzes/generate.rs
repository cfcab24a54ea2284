//! `POST /topics/{id}/quizzes`: a quiz generated for one student from a topic's lessons, or
//! from the student's own ready materials on the topic (`source: materials`)
//! (SPEC §3 Quizzes; issue 8 item 6).
//!
//! The provider (offline cloze generator or a hosted model with structured output) proposes
//! questions; every one then passes [`validate_question`] (2–6 distinct options, exactly one
//! correct, repaired where that is safe) and one more check generators get wrong: the key must
//! be supported by the passage the question cites (or, when it cites none, by one of the
//! passages it was given). A question that fails is dropped and reported, never stored. The
//! quiz is the student's own (`owner_id`): nobody else sees it.
//!
//! The call is reserved against the daily `quiz` allowance first and settled to the tokens it
//! used — also when no question survived, since those tokens were spent. With no valid
//! question the answer is a 422 from the offline generator (the text is too thin, a retry gives
//! the same) and a 503 `ai-unavailable` from a hosted model.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::QuizView;
use super::service::store_quiz;
use super::validate::{QuestionDraft, validate_question};
use crate::ai::provider::{GeneratedQuestion, QuizRequest};
use crate::ai::usage;
use crate::ai::{AiError, Feature, Provider, Source, SourceKind};
use crate::entity::{lesson_passages, lessons, quiz_questions, topics};
use crate::http::error::{AppError, AppResult};
use crate::state::AppState;
use crate::tutor::guard::AnswerKeys;

/// Questions a generated quiz has by default, and at most.
pub const DEFAULT_QUESTIONS: u32 = 5;
pub const MAX_GENERATED_QUESTIONS: u32 = 20;
/// Passages sent to the generator at most (the topic's first ones, in lesson order).
const MAX_SOURCES: u64 = 60;
/// `quizzes.source` of a quiz generated from lessons.
pub const SOURCE_LESSONS: &str = "lessons";
/// `quizzes.source` of a quiz generated from a student's own materials.
pub const SOURCE_MATERIALS: &str = "materials";

/// What a quiz is generated from.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GenerateFrom {
    /// The topic's lessons.
    #[default]
    Lessons,
    /// My uploaded materials on the topic.
    Materials,
}

/// `POST /topics/{id}/quizzes`.
#[derive(Debug, Default, Deserialize, garde::Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateQuizRequest {
    /// How many questions, 1 to 20 (default 5). Fewer come back when the text does not allow
    /// as many good ones.
    #[garde(inner(range(min = 1, max = MAX_GENERATED_QUESTIONS)))]
    pub num_questions: Option<u32>,
    #[garde(skip)]
    pub source: Option<GenerateFrom>,
}

/// A generated question that was not stored, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct RejectedQuestion {
    pub question_text: String,
    pub reason: String,
}

/// The generated quiz (answers hidden, as for `GET /quizzes/{id}`), with what was dropped.
#[derive(Debug, Serialize, ToSchema)]
pub struct GeneratedQuizResponse {
    pub quiz: QuizView,
    pub requested: u32,
    /// Questions the generator proposed that broke a rule; never stored.
    pub rejected: Vec<RejectedQuestion>,
}

/// Repairs or rejects one generated question.
pub fn check_generated(q: GeneratedQuestion, sources: &[Source]) -> Result<QuestionDraft, String> {
    let draft = validate_question(QuestionDraft {
        question_text: q.question_text,
        options: q.options,
        correct_answer: q.correct_answer,
        explanation: q.explanation,
    })
    .map_err(|e| e.to_string())?;
    let key = AnswerKeys::new([&draft.correct_answer]);
    let supported = match q.source_id {
        Some(id) => sources
            .iter()
            .filter(|s| s.id == id)
            .any(|s| key.leaks(&s.text)),
        None => sources.iter().any(|s| key.leaks(&s.text)),
    };
    if !supported {
        return Err("correct_answer: the passage it cites does not support it".into());
    }
    Ok(draft)
}

/// The topic's lesson passages, in lesson order.
async fn lesson_sources(
    conn: &impl sea_orm::ConnectionTrait,
    topic_id: Uuid,
) -> AppResult<Vec<Source>> {
    let rows = lesson_passages::Entity::find()
        .inner_join(lessons::Entity)
        .filter(lessons::Column::TopicId.eq(topic_id))
        .order_by_asc(lessons::Column::OrderIndex)
        .order_by_asc(lessons::Column::Id)
        .order_by_asc(lesson_passages::Column::Position)
        .limit(MAX_SOURCES)
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|p| Source {
            kind: SourceKind::Lesson,
            id: p.id,
            parent_id: p.lesson_id,
            heading: p.heading,
            text: p.passage_text,
        })
        .collect())
}

/// The chunks of the user's ready materials on the topic, oldest material first.
async fn material_sources(
    conn: &impl sea_orm::ConnectionTrait,
    user_id: Uuid,
    topic_id: Uuid,
) -> AppResult<Vec<Source>> {
    let chunks =
        crate::materials::search::topic_chunks(conn, user_id, topic_id, MAX_SOURCES).await?;
    Ok(chunks
        .into_iter()
        .map(|c| Source {
            kind: SourceKind::Material,
            id: c.chunk_id,
            parent_id: c.material_id,
            heading: Some(c.title),
            text: c.text,
        })
        .collect())
}

/// Generates, checks and stores a quiz on `topic_id` for `user_id`.
pub async fn generate(
    state: &AppState,
    user_id: Uuid,
    topic_id: Uuid,
    req: GenerateQuizRequest,
) -> AppResult<GeneratedQuizResponse> {
    let db = state.db.read();
    let topic = topics::Entity::find_by_id(topic_id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("topic"))?;
    let requested = req.num_questions.unwrap_or(DEFAULT_QUESTIONS);
    let from = req.source.unwrap_or_default();
    let sources = match from {
        GenerateFrom::Lessons => lesson_sources(db, topic_id).await?,
        GenerateFrom::Materials => material_sources(db, user_id, topic_id).await?,
    };
    if sources.is_empty() {
        return Err(AppError::invalid(
            "source",
            match from {
                GenerateFrom::Lessons => {
                    "there is no text to build a quiz from: the topic has no lessons"
                }
                GenerateFrom::Materials => {
                    "there is no text to build a quiz from: you have no ready materials on this topic"
                }
            },
        ));
    }
    let now = state.clock.now();
    let reservation = usage::reserve(
        &state.db,
        &state.config,
        user_id,
        Feature::Quiz,
        state.ai.chat_model(),
        now,
    )
    .await?;
    let generated = match state
        .ai
        .generate_quiz(QuizRequest {
            topic_title: topic.name.clone(),
            num_questions: requested as usize,
            sources: sources.clone(),
        })
        .await
    {
        Ok(g) => g,
        Err(e) => {
            reservation.release(&state.db, state.clock.now()).await?;
            return Err(e.into());
        }
    };
    let usage = generated.usage.clone();
    let mut drafts: Vec<QuestionDraft> = Vec::new();
    let mut rejected = Vec::new();
    for q in generated.questions {
        let text = q.question_text.clone();
        match check_generated(q, &sources) {
            Ok(d)
                if drafts
                    .iter()
                    .any(|e| e.question_text.eq_ignore_ascii_case(&d.question_text)) =>
            {
                rejected.push(RejectedQuestion {
                    question_text: text,
                    reason: "the same question twice".into(),
                });
            }
            Ok(d) if drafts.len() < requested as usize => drafts.push(d),
            Ok(_) => {}
            Err(reason) => rejected.push(RejectedQuestion {
                question_text: text,
                reason,
            }),
        }
    }
    if drafts.is_empty() {
        // The tokens were spent: settle, then say why there is no quiz. The offline generator
        // is deterministic, so its empty hand is the text's limit (a retry gives the same); a
        // hosted model's may be better next time.
        reservation
            .settle(&state.db, &usage, state.clock.now())
            .await?;
        if matches!(state.ai, Provider::Offline(_)) {
            return Err(AppError::invalid(
                "source",
                "the text holds too few key terms to build a multiple-choice question from",
            ));
        }
        return Err(AiError::Malformed("the generator produced no valid question".into()).into());
    }
    let title = if generated.title.trim().is_empty() {
        format!("{} practice quiz", topic.name)
    } else {
        generated.title
    };
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    let stored = store_quiz(
        &txn,
        topic_id,
        Some(user_id),
        Some(user_id),
        &title,
        Some(&match from {
            GenerateFrom::Lessons => format!(
                "Generated from the lessons of \u{201c}{}\u{201d}.",
                topic.name
            ),
            GenerateFrom::Materials => format!(
                "Generated from your materials on \u{201c}{}\u{201d}.",
                topic.name
            ),
        }),
        None,
        match from {
            GenerateFrom::Lessons => SOURCE_LESSONS,
            GenerateFrom::Materials => SOURCE_MATERIALS,
        },
        true,
        drafts,
        now,
    )
    .await;
    // The quiz and the call's settlement commit together; if either fails, neither is kept
    // and the unit is given back.
    // The block owns the transaction: on an error it is rolled back (dropped) before the
    // release below needs the write connection.
    let committed = async {
        let quiz = stored?;
        reservation.settle_in(&txn, &usage).await?;
        txn.commit().await?;
        Ok::<_, sea_orm::DbErr>(quiz)
    }
    .await;
    let quiz = match committed {
        Ok(quiz) => {
            reservation.settled();
            quiz
        }
        Err(e) => {
            reservation.release(&state.db, now).await?;
            return Err(e.into());
        }
    };
    let questions = quiz_questions::Entity::find()
        .filter(quiz_questions::Column::QuizId.eq(quiz.id))
        .order_by_asc(quiz_questions::Column::OrderIndex)
        .all(state.db.read())
        .await?;
    Ok(GeneratedQuizResponse {
        quiz: QuizView::new(quiz, &questions),
        requested,
        rejected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Source {
        Source {
            kind: SourceKind::Lesson,
            id: Uuid::now_v7(),
            parent_id: Uuid::now_v7(),
            heading: None,
            text: text.into(),
        }
    }

    fn question(options: &[&str], key: &str, source_id: Option<Uuid>) -> GeneratedQuestion {
        GeneratedQuestion {
            question_text: "Which organelle makes ATP?".into(),
            options: options.iter().map(|o| o.to_string()).collect(),
            correct_answer: key.into(),
            explanation: None,
            source_id,
        }
    }

    #[test]
    fn a_key_must_be_an_option_and_supported_by_its_passage() {
        let s = source("The mitochondria make ATP for the cell.");
        let other = source("Ribosomes build proteins.");
        let sources = vec![s.clone(), other.clone()];
        let ok = check_generated(
            question(
                &["Mitochondria", "Ribosome", "Nucleus"],
                "mitochondria",
                Some(s.id),
            ),
            &sources,
        )
        .unwrap();
        assert_eq!(ok.correct_answer, "Mitochondria", "repaired to the option");
        let missing = check_generated(
            question(&["Ribosome", "Nucleus"], "Mitochondria", Some(s.id)),
            &sources,
        );
        assert!(missing.unwrap_err().contains("correct_answer"));
        let unsupported = check_generated(
            question(
                &["Mitochondria", "Ribosome"],
                "Mitochondria",
                Some(other.id),
            ),
            &sources,
        );
        assert!(unsupported.unwrap_err().contains("does not support"));
        let duplicate = check_generated(
            question(&["Mitochondria", "mitochondria "], "Mitochondria", None),
            &sources,
        );
        assert!(duplicate.is_err());
    }
}
