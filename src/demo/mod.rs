//! Demo content (`studium seed-demo`, SPEC §1): subjects, topics, lessons, quizzes and
//! achievements so that a new install is usable at once. The text lives in the TOML files of
//! `src/demo/data/` (format in `data/FORMAT.md`), embedded in the binary; this module parses
//! them, checks every invariant the API would enforce (a bad file fails loudly instead of
//! seeding half a catalogue), and writes them in one transaction.
//!
//! Seeding is idempotent: a subject or achievement whose name (title) already exists is skipped, by
//! the unique constraint on the name (`INSERT … ON CONFLICT DO NOTHING`), so re-running it or
//! racing two runs never duplicates anything.

use std::collections::HashSet;

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{ConnectionTrait, DatabaseBackend, EntityTrait, PaginatorTrait, TryInsertResult};
use serde::Deserialize;
use uuid::Uuid;

use crate::content::model::{CONTENT_TYPES, DIFFICULTY_MAX, DIFFICULTY_MIN, MAX_LESSON_CONTENT};
use crate::db::Db;
use crate::entity::{achievements, lessons, subjects, topics};
use crate::gamification::achievements::Criteria;
use crate::quizzes;
use crate::quizzes::validate::{MAX_OPTIONS, MIN_OPTIONS, QuestionDraft};
use crate::state::AppState;
use crate::tutor::retrieval;

/// The embedded subject files, by name (for error messages).
const SUBJECT_FILES: &[(&str, &str)] = &[
    (
        "subject-algebra.toml",
        include_str!("data/subject-algebra.toml"),
    ),
    (
        "subject-cell-biology.toml",
        include_str!("data/subject-cell-biology.toml"),
    ),
    (
        "subject-world-history.toml",
        include_str!("data/subject-world-history.toml"),
    ),
];

/// The embedded achievement definitions.
const ACHIEVEMENTS_FILE: (&str, &str) =
    ("achievements.toml", include_str!("data/achievements.toml"));

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectFile {
    pub subject: SubjectDef,
    #[serde(default)]
    pub topics: Vec<TopicDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectDef {
    pub name: String,
    pub description: Option<String>,
    pub icon: Option<String>,
    pub color: Option<String>,
    #[serde(default)]
    pub order_index: i32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicDef {
    pub name: String,
    pub description: Option<String>,
    /// 1 (beginner) to 5 (advanced).
    pub difficulty_level: Option<i32>,
    #[serde(default)]
    pub order_index: i32,
    #[serde(default)]
    pub lessons: Vec<LessonDef>,
    pub quiz: Option<QuizDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LessonDef {
    pub title: String,
    pub estimated_duration_minutes: Option<i32>,
    #[serde(default)]
    pub order_index: i32,
    #[serde(default)]
    pub content: String,
    /// `text` unless given.
    pub content_type: Option<String>,
    pub content_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuizDef {
    pub title: String,
    pub description: Option<String>,
    pub difficulty: Option<String>,
    #[serde(default)]
    pub questions: Vec<QuestionDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionDef {
    pub question_text: String,
    pub options: Vec<String>,
    pub correct_answer: String,
    pub explanation: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AchievementsFile {
    #[serde(default)]
    achievements: Vec<AchievementDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AchievementDef {
    pub title: String,
    pub description: String,
    pub badge_icon: Option<String>,
    pub criteria_type: String,
    pub criteria_value: i32,
    #[serde(default)]
    pub xp_reward: i32,
}

/// Everything the data files hold, parsed and checked.
#[derive(Debug)]
pub struct DemoData {
    pub subjects: Vec<SubjectFile>,
    pub achievements: Vec<AchievementDef>,
}

impl DemoData {
    /// Parses and checks the embedded files; an error names the file and the bad item.
    pub fn load() -> anyhow::Result<Self> {
        Self::parse(SUBJECT_FILES, ACHIEVEMENTS_FILE)
    }

    fn parse(subject_files: &[(&str, &str)], achievements: (&str, &str)) -> anyhow::Result<Self> {
        let mut subjects = Vec::with_capacity(subject_files.len());
        let mut names = HashSet::new();
        for (file, text) in subject_files {
            let parsed: SubjectFile =
                toml::from_str(text).with_context(|| format!("demo data {file}"))?;
            check_subject(&parsed).with_context(|| format!("demo data {file}"))?;
            ensure!(
                names.insert(parsed.subject.name.clone()),
                "demo data {file}: the subject name {:?} is used twice",
                parsed.subject.name
            );
            subjects.push(parsed);
        }
        let (file, text) = achievements;
        let parsed: AchievementsFile =
            toml::from_str(text).with_context(|| format!("demo data {file}"))?;
        check_achievements(&parsed.achievements).with_context(|| format!("demo data {file}"))?;
        Ok(Self {
            subjects,
            achievements: parsed.achievements,
        })
    }
}

fn check_text(what: &str, value: &str, max: usize) -> anyhow::Result<()> {
    ensure!(!value.trim().is_empty(), "{what} is blank");
    ensure!(value.len() <= max, "{what} is longer than {max} bytes");
    Ok(())
}

fn check_subject(file: &SubjectFile) -> anyhow::Result<()> {
    let s = &file.subject;
    check_text("subject name", &s.name, 100)?;
    ensure!(s.order_index >= 0, "subject order_index is negative");
    if let Some(color) = &s.color {
        let hex = color.strip_prefix('#').unwrap_or("");
        ensure!(
            matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit()),
            "subject color {color:?} is not #RGB or #RRGGBB"
        );
    }
    let mut topic_names = HashSet::new();
    for topic in &file.topics {
        check_topic(topic).with_context(|| format!("topic {:?}", topic.name))?;
        ensure!(
            topic_names.insert(topic.name.as_str()),
            "the topic name {:?} is used twice in the subject",
            topic.name
        );
    }
    Ok(())
}

fn check_topic(topic: &TopicDef) -> anyhow::Result<()> {
    check_text("topic name", &topic.name, 150)?;
    ensure!(topic.order_index >= 0, "order_index is negative");
    if let Some(level) = topic.difficulty_level {
        ensure!(
            (DIFFICULTY_MIN..=DIFFICULTY_MAX).contains(&level),
            "difficulty_level {level} is not within {DIFFICULTY_MIN}..={DIFFICULTY_MAX}"
        );
    }
    for lesson in &topic.lessons {
        check_lesson(lesson).with_context(|| format!("lesson {:?}", lesson.title))?;
    }
    if let Some(quiz) = &topic.quiz {
        check_text("quiz title", &quiz.title, 200)?;
        ensure!(!quiz.questions.is_empty(), "the quiz has no questions");
        for (i, q) in quiz.questions.iter().enumerate() {
            check_question(q).with_context(|| format!("quiz question {}", i + 1))?;
        }
    }
    Ok(())
}

fn check_lesson(lesson: &LessonDef) -> anyhow::Result<()> {
    check_text("title", &lesson.title, 200)?;
    ensure!(lesson.order_index >= 0, "order_index is negative");
    ensure!(
        lesson.content.len() <= MAX_LESSON_CONTENT,
        "content is longer than {MAX_LESSON_CONTENT} bytes"
    );
    if let Some(minutes) = lesson.estimated_duration_minutes {
        ensure!(
            (1..=600).contains(&minutes),
            "estimated_duration_minutes {minutes} is not within 1..=600"
        );
    }
    let content_type = lesson.content_type.as_deref().unwrap_or("text");
    ensure!(
        CONTENT_TYPES.contains(&content_type),
        "content_type {content_type:?} is not one of {CONTENT_TYPES:?}"
    );
    match (content_type, lesson.content_url.as_deref()) {
        ("text", _) => ensure!(!lesson.content.trim().is_empty(), "the text is blank"),
        (_, None) => bail!("a {content_type} lesson needs a content_url"),
        _ => {}
    }
    if let Some(url) = &lesson.content_url {
        ensure!(
            url.starts_with("https://") || url.starts_with("http://"),
            "content_url {url:?} is not an http(s) URL"
        );
    }
    Ok(())
}

/// SPEC §3 Quizzes: 2–6 distinct options and exactly one correct answer among them.
fn check_question(q: &QuestionDef) -> anyhow::Result<()> {
    check_text("question_text", &q.question_text, 2000)?;
    ensure!(
        (MIN_OPTIONS..=MAX_OPTIONS).contains(&q.options.len()),
        "{} options; a question needs {MIN_OPTIONS} to {MAX_OPTIONS}",
        q.options.len()
    );
    let mut seen = HashSet::new();
    for option in &q.options {
        ensure!(!option.trim().is_empty(), "an option is blank");
        // Options that differ only in case or surrounding spaces read as the same answer.
        ensure!(
            seen.insert(option.trim().to_lowercase()),
            "the option {option:?} appears twice"
        );
    }
    ensure!(
        q.options.iter().filter(|o| **o == q.correct_answer).count() == 1,
        "the correct_answer {:?} is not one of the options",
        q.correct_answer
    );
    Ok(())
}

fn check_achievements(list: &[AchievementDef]) -> anyhow::Result<()> {
    let mut names = HashSet::new();
    for a in list {
        let context = || format!("achievement {:?}", a.title);
        check_text("title", &a.title, 100).with_context(context)?;
        check_text("description", &a.description, 2000).with_context(context)?;
        ensure!(
            Criteria::parse(&a.criteria_type).is_some(),
            "achievement {:?}: criteria_type {:?} is unknown",
            a.title,
            a.criteria_type
        );
        ensure!(
            a.criteria_value >= 1,
            "achievement {:?}: criteria_value must be at least 1",
            a.title
        );
        ensure!(
            a.xp_reward >= 0,
            "achievement {:?}: xp_reward is negative",
            a.title
        );
        ensure!(
            names.insert(a.title.as_str()),
            "the achievement title {:?} is used twice",
            a.title
        );
    }
    Ok(())
}

/// What a seeding run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeedReport {
    pub subjects: usize,
    pub subjects_skipped: usize,
    pub topics: usize,
    pub lessons: usize,
    pub quizzes: usize,
    pub questions: usize,
    pub achievements: usize,
    pub achievements_skipped: usize,
}

fn inserted(result: TryInsertResult<u64>) -> bool {
    matches!(result, TryInsertResult::Inserted(n) if n > 0)
}

/// Seeds the demo content in one transaction (`studium seed-demo`). Subjects and achievements
/// whose name exists are left as they are, so running it again adds nothing.
pub async fn seed(db: &Db, now: DateTime<Utc>) -> anyhow::Result<SeedReport> {
    let data = DemoData::load()?;
    let txn = db.begin_write().await?;
    let mut report = SeedReport::default();
    for file in &data.subjects {
        if seed_subject(&txn, file, now, &mut report).await? {
            tracing::info!(subject = %file.subject.name, topics = file.topics.len(), "seeded demo subject");
        } else {
            report.subjects_skipped += 1;
            tracing::info!(subject = %file.subject.name, "demo subject already present, skipped");
        }
    }
    for a in &data.achievements {
        let result = achievements::Entity::insert(achievements::ActiveModel {
            id: Set(Uuid::now_v7()),
            title: Set(a.title.clone()),
            description: Set(a.description.clone()),
            badge_icon: Set(a.badge_icon.clone()),
            criteria_type: Set(a.criteria_type.clone()),
            criteria_value: Set(a.criteria_value),
            xp_reward: Set(a.xp_reward),
            created_at: Set(now),
        })
        .on_conflict_do_nothing_on([achievements::Column::Title])
        .exec_without_returning(&txn)
        .await?;
        if inserted(result) {
            report.achievements += 1;
        } else {
            report.achievements_skipped += 1;
        }
    }
    txn.commit().await?;
    if report.subjects == 0 && report.achievements == 0 {
        tracing::info!("the demo content is already present: nothing added");
        return Ok(report);
    }
    tracing::info!(
        subjects = report.subjects,
        subjects_skipped = report.subjects_skipped,
        topics = report.topics,
        lessons = report.lessons,
        quizzes = report.quizzes,
        questions = report.questions,
        achievements = report.achievements,
        achievements_skipped = report.achievements_skipped,
        "demo content seeded"
    );
    Ok(report)
}

/// Writes one subject with its topics, lessons and quizzes; false when a subject of that name exists.
async fn seed_subject(
    conn: &impl ConnectionTrait,
    file: &SubjectFile,
    now: DateTime<Utc>,
    report: &mut SeedReport,
) -> anyhow::Result<bool> {
    let s = &file.subject;
    let subject_id = Uuid::now_v7();
    let result = subjects::Entity::insert(subjects::ActiveModel {
        id: Set(subject_id),
        name: Set(s.name.clone()),
        description: Set(s.description.clone()),
        icon: Set(s.icon.clone()),
        color: Set(s.color.clone()),
        order_index: Set(s.order_index),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict_do_nothing_on([subjects::Column::Name])
    .exec_without_returning(conn)
    .await?;
    if !inserted(result) {
        return Ok(false);
    }
    report.subjects += 1;
    for t in &file.topics {
        let topic_id = Uuid::now_v7();
        topics::Entity::insert(topics::ActiveModel {
            id: Set(topic_id),
            subject_id: Set(subject_id),
            name: Set(t.name.clone()),
            description: Set(t.description.clone()),
            order_index: Set(t.order_index),
            difficulty_level: Set(t.difficulty_level),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(conn)
        .await?;
        report.topics += 1;
        for l in &t.lessons {
            let lesson_id = Uuid::now_v7();
            let content = l.content.trim();
            lessons::Entity::insert(lessons::ActiveModel {
                id: Set(lesson_id),
                topic_id: Set(topic_id),
                title: Set(l.title.clone()),
                content: Set(content.to_string()),
                content_type: Set(l.content_type.clone().unwrap_or_else(|| "text".into())),
                content_url: Set(l.content_url.clone()),
                order_index: Set(l.order_index),
                estimated_duration_minutes: Set(l.estimated_duration_minutes),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .exec_without_returning(conn)
            .await?;
            retrieval::index_lesson(conn, lesson_id, content, now).await?;
            report.lessons += 1;
        }
        if let Some(quiz) = &t.quiz {
            // Stored as `POST /admin/quizzes` stores a shared quiz, through the same validator.
            let questions: Vec<QuestionDraft> = quiz
                .questions
                .iter()
                .map(|q| QuestionDraft {
                    question_text: q.question_text.clone(),
                    options: q.options.clone(),
                    correct_answer: q.correct_answer.clone(),
                    explanation: q.explanation.clone(),
                })
                .collect();
            report.questions += questions.len();
            quizzes::service::store_quiz(
                conn,
                topic_id,
                None,
                None,
                &quiz.title,
                quiz.description.as_deref(),
                quiz.difficulty.as_deref(),
                quizzes::service::SOURCE_MANUAL,
                false,
                questions,
                now,
            )
            .await?;
            report.quizzes += 1;
        }
    }
    Ok(true)
}

/// At `serve` start: seeds the demo content when `STUDIUM_SEED_DEMO` is on, the database is
/// the embedded SQLite default, and the catalogue is empty — a first start of a new install.
/// A PostgreSQL deployment is a real one and gets demo content only by `studium seed-demo`.
/// A failure is logged, not fatal: the service works without demo content.
pub async fn seed_on_start(state: &AppState) {
    if !state.config.seed_demo || state.db.backend() != DatabaseBackend::Sqlite {
        return;
    }
    match subjects::Entity::find().count(state.db.read()).await {
        Ok(0) => {}
        Ok(_) => return,
        Err(err) => {
            tracing::error!(error = %err, "cannot tell whether to seed demo content");
            return;
        }
    }
    tracing::info!(
        "empty catalogue on first start: seeding demo content (STUDIUM_SEED_DEMO=false turns this off)"
    );
    if let Err(err) = seed(&state.db, state.clock.now()).await {
        tracing::error!(error = format!("{err:#}"), "seeding demo content failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_demo_data_is_valid_and_large_enough() {
        let data = DemoData::load().expect("the embedded demo data parses and is valid");
        assert!(data.subjects.len() >= 3, "at least 3 subjects");
        let topics: Vec<&TopicDef> = data.subjects.iter().flat_map(|s| &s.topics).collect();
        assert!(topics.len() >= 9, "at least 9 topics, got {}", topics.len());
        let lessons: usize = topics.iter().map(|t| t.lessons.len()).sum();
        assert!(lessons >= 30, "at least 30 lessons, got {lessons}");
        for t in &topics {
            assert!(!t.lessons.is_empty(), "topic {:?} has no lessons", t.name);
            assert!(t.quiz.is_some(), "topic {:?} has no quiz", t.name);
        }
        for c in Criteria::ALL {
            assert!(
                data.achievements
                    .iter()
                    .any(|a| a.criteria_type == c.as_str()),
                "no demo achievement uses criteria_type {}",
                c.as_str()
            );
        }
    }

    const SUBJECT: &str = r##"
[subject]
name = "S"
[[topics]]
name = "T"
[[topics.lessons]]
title = "L"
content = "Some text."
[topics.quiz]
title = "Q"
[[topics.quiz.questions]]
question_text = "Pick a"
options = OPTIONS
correct_answer = CORRECT
"##;

    fn with_question(options: &str, correct: &str) -> anyhow::Result<DemoData> {
        let text = SUBJECT
            .replace("OPTIONS", options)
            .replace("CORRECT", correct);
        DemoData::parse(&[("test.toml", &text)], ("achievements.toml", ""))
    }

    #[test]
    fn a_well_formed_question_passes() {
        with_question(r#"["a", "b", "c"]"#, r#""a""#).expect("valid");
    }

    #[test]
    fn bad_questions_are_refused_loudly() {
        for (options, correct) in [
            (r#"["a"]"#, r#""a""#),
            (r#"["a", "b", "c", "d", "e", "f", "g"]"#, r#""a""#),
            (r#"["a", "A ", "b"]"#, r#""a""#),
            (r#"["a", "b"]"#, r#""c""#),
            (r#"["a", ""]"#, r#""a""#),
        ] {
            let err = with_question(options, correct).expect_err(options);
            assert!(format!("{err:#}").contains("test.toml"), "{err:#}");
        }
    }

    #[test]
    fn unknown_fields_and_criteria_are_refused() {
        let text = SUBJECT
            .replace("OPTIONS", r#"["a", "b"]"#)
            .replace("CORRECT", r#""a""#)
            .replace("title = \"L\"", "title = \"L\"\ncolour = \"red\"");
        assert!(DemoData::parse(&[("t.toml", &text)], ("a.toml", "")).is_err());
        let achievements = r#"
[[achievements]]
title = "X"
description = "x"
criteria_type = "karma"
criteria_value = 1
"#;
        let err = DemoData::parse(&[], ("a.toml", achievements)).expect_err("unknown criteria");
        assert!(format!("{err:#}").contains("karma"), "{err:#}");
    }

    #[test]
    fn a_video_lesson_needs_a_url() {
        let text = SUBJECT
            .replace("OPTIONS", r#"["a", "b"]"#)
            .replace("CORRECT", r#""a""#)
            .replace("title = \"L\"", "title = \"L\"\ncontent_type = \"video\"");
        let err = DemoData::parse(&[("t.toml", &text)], ("a.toml", "")).expect_err("no url");
        assert!(format!("{err:#}").contains("content_url"), "{err:#}");
    }
}
