//! Item statistics for quiz authors (issue 8 "Item statistics"): which questions work.
//!
//! - **Counted attempts**: each student's *first* attempt on the quiz. A retake follows the
//!   results page, which showed every key and explanation, so it measures memory of that page,
//!   not the item.
//! - **Facility** (classical p-value): the share of counted attempts that answered the question
//!   correctly; a question left out counts as wrong.
//! - **Discrimination**: the corrected point-biserial correlation — Pearson's r between the
//!   item score (0/1) and the rest score (correct answers on the *other* questions). Leaving
//!   the item out of the total keeps it from correlating with itself, which inflates r on
//!   short quizzes. Undefined (null) when the item or the rest score does not vary.
//! - **Flags** once `MIN_ATTEMPTS_FOR_FLAGS` attempts are counted: facility above 0.9 (too
//!   easy) or below 0.2 (too hard), or discrimination below 0.2 (strong and weak students do
//!   about equally well: an ambiguous stem, a wrong key, or a giveaway).

use std::collections::{HashMap, HashSet};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::model::{ItemStats, QuizStats};
use super::validate::answer_key;
use crate::entity::{quiz_attempts, quiz_questions, quizzes};
use crate::http::error::{AppError, AppResult};
use crate::state::AppState;

/// Fewer counted attempts than this say too little about an item to flag it.
pub const MIN_ATTEMPTS_FOR_FLAGS: usize = 20;
/// Facility outside `[MIN_FACILITY, MAX_FACILITY]` flags an item.
pub const MIN_FACILITY: f64 = 0.2;
pub const MAX_FACILITY: f64 = 0.9;
/// Discrimination below this flags an item.
pub const MIN_DISCRIMINATION: f64 = 0.2;

/// Pearson's correlation of two equally long series; `None` when either has no variance.
pub fn correlation(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    if n < 2 {
        return None;
    }
    let mean = |v: &[f64]| v.iter().take(n).sum::<f64>() / n as f64;
    let (mx, my) = (mean(x), mean(y));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (dx, dy) = (x[i] - mx, y[i] - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx <= f64::EPSILON || syy <= f64::EPSILON {
        return None;
    }
    Some(sxy / (sxx * syy).sqrt())
}

/// Facility, discrimination and flags of each item from a 0/1 score matrix (one row per
/// counted attempt, one column per question).
pub fn item_statistics(
    scores: &[Vec<bool>],
    items: usize,
) -> Vec<(Option<f64>, Option<f64>, Vec<String>)> {
    let n = scores.len();
    let totals: Vec<f64> = scores
        .iter()
        .map(|row| row.iter().filter(|c| **c).count() as f64)
        .collect();
    (0..items)
        .map(|j| {
            let item: Vec<f64> = scores
                .iter()
                .map(|row| {
                    if row.get(j).copied().unwrap_or(false) {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect();
            let rest: Vec<f64> = totals.iter().zip(&item).map(|(t, x)| t - x).collect();
            let facility = (n > 0).then(|| item.iter().sum::<f64>() / n as f64);
            let discrimination = correlation(&item, &rest);
            let mut flags = Vec::new();
            if n >= MIN_ATTEMPTS_FOR_FLAGS {
                if let Some(p) = facility {
                    if p > MAX_FACILITY {
                        flags.push("too_easy".to_string());
                    } else if p < MIN_FACILITY {
                        flags.push("too_hard".to_string());
                    }
                }
                if discrimination.is_some_and(|d| d < MIN_DISCRIMINATION) {
                    flags.push("low_discrimination".to_string());
                }
            }
            (facility, discrimination, flags)
        })
        .collect()
}

/// `GET /admin/quizzes/{id}/stats`: item statistics of any quiz (shared or a student's own).
pub async fn quiz_stats(state: &AppState, quiz_id: Uuid) -> AppResult<QuizStats> {
    let db = state.db.read();
    quizzes::Entity::find_by_id(quiz_id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("quiz"))?;
    let questions = quiz_questions::Entity::find()
        .filter(quiz_questions::Column::QuizId.eq(quiz_id))
        .order_by_asc(quiz_questions::Column::OrderIndex)
        .order_by_asc(quiz_questions::Column::Id)
        .all(db)
        .await?;
    let attempts = quiz_attempts::Entity::find()
        .filter(quiz_attempts::Column::QuizId.eq(quiz_id))
        .order_by_asc(quiz_attempts::Column::CompletedAt)
        .order_by_asc(quiz_attempts::Column::Id)
        .all(db)
        .await?;
    let attempt_count = attempts.len();
    let mut students = HashSet::new();
    let keys: Vec<String> = questions
        .iter()
        .map(|q| answer_key(&q.correct_answer))
        .collect();
    let scores: Vec<Vec<bool>> = attempts
        .iter()
        .filter(|a| students.insert(a.user_id))
        .map(|a| {
            let given: HashMap<Uuid, String> = a
                .answers
                .as_array()
                .map(|list| {
                    list.iter()
                        .filter_map(|e| {
                            let id = e.get("question_id")?.as_str()?.parse().ok()?;
                            Some((id, answer_key(e.get("answer")?.as_str()?)))
                        })
                        .collect()
                })
                .unwrap_or_default();
            questions
                .iter()
                .zip(&keys)
                .map(|(q, key)| given.get(&q.id) == Some(key))
                .collect()
        })
        .collect();
    let stats = item_statistics(&scores, questions.len());
    Ok(QuizStats {
        quiz_id,
        attempt_count: i64::try_from(attempt_count).unwrap_or(i64::MAX),
        counted_attempts: i64::try_from(scores.len()).unwrap_or(i64::MAX),
        min_attempts_for_flags: MIN_ATTEMPTS_FOR_FLAGS as i64,
        questions: questions
            .into_iter()
            .zip(stats)
            .map(|(q, (facility, discrimination, flags))| ItemStats {
                question_id: q.id,
                order_index: q.order_index,
                question_text: q.question_text,
                facility,
                discrimination,
                flagged: !flags.is_empty(),
                flags,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_of_perfectly_aligned_series_is_one_and_of_constants_undefined() {
        let r = correlation(&[0.0, 1.0, 0.0, 1.0], &[1.0, 3.0, 1.0, 3.0]).unwrap();
        assert!((r - 1.0).abs() < 1e-12);
        assert!(correlation(&[1.0, 1.0, 1.0], &[0.0, 1.0, 2.0]).is_none());
    }

    #[test]
    fn an_item_everyone_gets_right_is_too_easy_once_enough_attempts_exist() {
        // Item 0 always right; item 1 and 2 go together.
        let row = |b: bool| vec![true, b, b];
        let few: Vec<Vec<bool>> = (0..10).map(|i| row(i % 2 == 0)).collect();
        let stats = item_statistics(&few, 3);
        assert_eq!(stats[0].0, Some(1.0));
        assert!(stats[0].2.is_empty(), "too few attempts to flag");
        let many: Vec<Vec<bool>> = (0..20).map(|i| row(i % 2 == 0)).collect();
        let stats = item_statistics(&many, 3);
        assert_eq!(stats[0].2, vec!["too_easy"]);
        assert_eq!(stats[0].1, None);
        assert_eq!(stats[1].0, Some(0.5));
        assert!((stats[1].1.unwrap() - 1.0).abs() < 1e-12);
        assert!(stats[1].2.is_empty());
    }
}
