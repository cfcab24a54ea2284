//! The one rule every stored question obeys, whoever wrote it (SPEC §3 Quizzes): 2–6 distinct
//! options and exactly one correct answer among them. Admin-written and generated questions go
//! through the same function, so a broken question is repaired or rejected before it is stored,
//! never after a student meets it.

use serde::Deserialize;
use utoipa::ToSchema;

/// Fewest and most options a question may have.
pub const MIN_OPTIONS: usize = 2;
pub const MAX_OPTIONS: usize = 6;
/// Longest question text, option and explanation kept.
pub const MAX_QUESTION_CHARS: usize = 2000;
pub const MAX_OPTION_CHARS: usize = 500;
pub const MAX_EXPLANATION_CHARS: usize = 4000;

/// A multiple-choice question before it is stored: what an admin writes or a generator returns.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct QuestionDraft {
    #[garde(length(chars, max = MAX_QUESTION_CHARS))]
    pub question_text: String,
    /// 2 to 6 options, distinct after trimming and ignoring case.
    #[garde(inner(length(chars, max = MAX_OPTION_CHARS)))]
    pub options: Vec<String>,
    /// One of the options (matched ignoring case and surrounding spaces).
    #[garde(length(chars, max = MAX_OPTION_CHARS))]
    pub correct_answer: String,
    #[garde(inner(length(chars, max = MAX_EXPLANATION_CHARS)))]
    pub explanation: Option<String>,
}

/// Why a question was rejected: the part of it at fault (`question_text`, `options`,
/// `correct_answer`) and a message for the author.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct QuestionError {
    pub field: &'static str,
    pub message: String,
}

fn reject(field: &'static str, message: impl Into<String>) -> QuestionError {
    QuestionError {
        field,
        message: message.into(),
    }
}

/// How two answers are compared: surrounding spaces and case never make a different answer.
pub fn answer_key(text: &str) -> String {
    text.trim().to_lowercase()
}

/// The option `answer` stands for (equal after trimming and case-folding), if any.
pub fn matching_option<'a>(options: &'a [String], answer: &str) -> Option<&'a String> {
    let key = answer_key(answer);
    options.iter().find(|o| answer_key(o) == key)
}

/// SPEC §3 Quizzes: checks a question and returns it repaired, or says why it cannot be stored.
///
/// Repairs: trims the text, the options and the explanation (a blank explanation becomes
/// none), and sets the correct answer to the option it names when it differs only in case or
/// spaces. Rejects: a blank question, fewer than 2 or more than 6 options, a blank option, two
/// options that are the same answer, and a correct answer that is none of the options — that
/// one cannot be repaired without guessing what the author meant.
pub fn validate_question(q: QuestionDraft) -> Result<QuestionDraft, QuestionError> {
    let question_text = q.question_text.trim().to_string();
    if question_text.is_empty() {
        return Err(reject("question_text", "must not be blank"));
    }
    let options: Vec<String> = q.options.iter().map(|o| o.trim().to_string()).collect();
    if !(MIN_OPTIONS..=MAX_OPTIONS).contains(&options.len()) {
        return Err(reject(
            "options",
            format!(
                "a question needs {MIN_OPTIONS} to {MAX_OPTIONS} options, not {}",
                options.len()
            ),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for option in &options {
        if option.is_empty() {
            return Err(reject("options", "an option is blank"));
        }
        if !seen.insert(answer_key(option)) {
            return Err(reject(
                "options",
                format!("the option {option:?} appears twice"),
            ));
        }
    }
    let correct_answer = matching_option(&options, &q.correct_answer)
        .cloned()
        .ok_or_else(|| reject("correct_answer", "must be one of the options"))?;
    let explanation = q
        .explanation
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty());
    Ok(QuestionDraft {
        question_text,
        options,
        correct_answer,
        explanation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(options: &[&str], key: &str) -> QuestionDraft {
        QuestionDraft {
            question_text: "  Which is the powerhouse of the cell? ".into(),
            options: options.iter().map(|o| o.to_string()).collect(),
            correct_answer: key.into(),
            explanation: Some("  It makes ATP.  ".into()),
        }
    }

    #[test]
    fn a_good_question_is_kept_trimmed() {
        let q = validate_question(draft(&["Mitochondrion ", "Nucleus"], "Mitochondrion")).unwrap();
        assert_eq!(q.question_text, "Which is the powerhouse of the cell?");
        assert_eq!(q.options, vec!["Mitochondrion", "Nucleus"]);
        assert_eq!(q.correct_answer, "Mitochondrion");
        assert_eq!(q.explanation.as_deref(), Some("It makes ATP."));
    }

    #[test]
    fn a_key_differing_in_case_or_spaces_is_repaired_to_the_option() {
        let q = validate_question(draft(&["Mitochondrion", "Nucleus"], "  nUCLEUS ")).unwrap();
        assert_eq!(q.correct_answer, "Nucleus");
    }

    #[test]
    fn a_key_missing_from_the_options_is_rejected() {
        let err = validate_question(draft(&["Mitochondrion", "Nucleus"], "Ribosome")).unwrap_err();
        assert_eq!(err.field, "correct_answer");
    }

    #[test]
    fn option_counts_outside_two_to_six_are_rejected() {
        assert_eq!(
            validate_question(draft(&["A"], "A")).unwrap_err().field,
            "options"
        );
        let seven = ["A", "B", "C", "D", "E", "F", "G"];
        assert_eq!(
            validate_question(draft(&seven, "A")).unwrap_err().field,
            "options"
        );
        assert!(validate_question(draft(&seven[..6], "F")).is_ok());
        assert!(validate_question(draft(&seven[..2], "B")).is_ok());
    }

    #[test]
    fn options_equal_after_trimming_and_case_folding_are_rejected() {
        let err =
            validate_question(draft(&["Nucleus", " nucleus", "Ribosome"], "Ribosome")).unwrap_err();
        assert_eq!(err.field, "options");
    }

    #[test]
    fn blank_text_or_options_are_rejected_and_blank_explanations_dropped() {
        let mut q = draft(&["A", "B"], "A");
        q.question_text = "   ".into();
        assert_eq!(validate_question(q).unwrap_err().field, "question_text");
        assert_eq!(
            validate_question(draft(&["A", "  "], "A"))
                .unwrap_err()
                .field,
            "options"
        );
        let mut q = draft(&["A", "B"], "A");
        q.explanation = Some(" ".into());
        assert_eq!(validate_question(q).unwrap().explanation, None);
    }
}
