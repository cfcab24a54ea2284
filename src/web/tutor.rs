//! The tutor's pages: my doubt threads, a thread with its messages, and asking a question
//! whose reply streams in token by token.
//!
//! A question is posted by htmx. The handler runs `doubts::prepare` (so a blank question, a
//! thread of someone else's or a used-up allowance answer at once, beside the form) and starts
//! `doubts::answer` in its own task, exactly as the JSON route does; the reply's events wait
//! in a channel under a one-time token. The answer is a fragment that shows the question and
//! opens an EventSource on `GET /tutor/streams/{token}`, which forwards the events as HTML:
//! `delta` pieces of text, then `message` (the stored reply with its citations) or `failed`
//! (a readable error), then `done`. Without htmx the form posts normally, waits for the whole
//! reply and lands on the thread.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::markdown::to_safe_html;
use super::page::{FormErrors, Layout, WebForm, message, render, render_status, status_of};
use super::session::{self, Csrf, WebUser};
use crate::accounts::CurrentUser;
use crate::ai::SourceKind;
use crate::content::service as content;
use crate::html;
use crate::http::error::{AppError, AppResult};
use crate::http::extract::PageParams;
use crate::state::AppState;
use crate::tutor::doubts::{self, Prepared};
use crate::tutor::model::{
    Citation, CitedPassage, DoubtMessageView, DoubtSessionView, ExchangeResponse, MAX_MESSAGE_CHARS,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tutor", get(index).post(ask_new))
        .route("/tutor/{id}", get(thread))
        .route("/tutor/{id}/messages", post(ask_follow_up))
        .route("/tutor/streams/{token}", get(stream))
}

// ---------------------------------------------------------------------------------------------
// Topics for a select (shared with the quiz pages)

/// One subject's topics, for an `<optgroup>`.
pub struct TopicGroup {
    pub subject: String,
    pub topics: Vec<(Uuid, String)>,
}

/// Every subject's topics, in the catalogue's order.
pub async fn topic_groups(state: &AppState) -> AppResult<Vec<TopicGroup>> {
    let all = || PageParams {
        limit: Some(100),
        cursor: None,
    };
    let subjects = content::list_subjects(state, all()).await?;
    let mut groups = Vec::new();
    for subject in subjects.items {
        let topics = content::list_topics(state, subject.id, all()).await?;
        if topics.items.is_empty() {
            continue;
        }
        groups.push(TopicGroup {
            subject: subject.name,
            topics: topics.items.into_iter().map(|t| (t.id, t.name)).collect(),
        });
    }
    Ok(groups)
}

// ---------------------------------------------------------------------------------------------
// What the templates show

/// A citation as a link to its passage, with the passage's text to open in place.
pub struct CitationView {
    pub n: u32,
    pub href: String,
    pub source: &'static str,
    pub label: String,
    pub text: String,
}

/// One message of a thread, ready to show.
pub struct MessageView {
    pub id: Uuid,
    pub from_student: bool,
    /// The student's question as text, or the reply as safe HTML.
    pub text: String,
    pub html: String,
    pub citations: Vec<CitationView>,
}

impl MessageView {
    /// A reply with no citation: the tutor found nothing in the lessons to ground it in.
    pub fn not_covered(&self) -> bool {
        !self.from_student && self.citations.is_empty()
    }
}

fn citation_view(c: &Citation, passages: &HashMap<Uuid, CitedPassage>) -> CitationView {
    let passage = passages.get(&c.id);
    let (href, source) = match c.kind {
        SourceKind::Lesson => (
            match passage.and_then(|p| p.position) {
                Some(pos) => format!("/learn/lessons/{}#passage-{pos}", c.parent_id),
                None => format!("/learn/lessons/{}", c.parent_id),
            },
            "Lesson",
        ),
        SourceKind::Material => (format!("/materials/{}", c.parent_id), "Your notes"),
    };
    CitationView {
        n: c.n,
        href,
        source,
        label: c
            .heading
            .clone()
            .filter(|h| !h.trim().is_empty())
            .unwrap_or_else(|| source.to_string()),
        text: passage.map_or_else(|| c.excerpt.clone(), |p| p.text.clone()),
    }
}

async fn message_views(
    state: &AppState,
    user: &CurrentUser,
    messages: Vec<DoubtMessageView>,
) -> AppResult<Vec<MessageView>> {
    let citations: Vec<Citation> = messages
        .iter()
        .flat_map(|m| m.citations.iter().cloned())
        .collect();
    let passages = doubts::cited_passages(state, user.id, &citations).await?;
    Ok(messages
        .into_iter()
        .map(|m| {
            let from_student = m.role == "user";
            MessageView {
                id: m.id,
                from_student,
                html: if from_student {
                    String::new()
                } else {
                    to_safe_html(&m.message_text)
                },
                citations: m
                    .citations
                    .iter()
                    .map(|c| citation_view(c, &passages))
                    .collect(),
                text: m.message_text,
            }
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Templates

/// The ask form; `topics` only for a new thread.
pub struct AskForm {
    pub action: String,
    pub errors: FormErrors,
    pub message: String,
    pub topic_id: Option<Uuid>,
    pub topics: Option<Vec<TopicGroup>>,
    pub csrf: String,
    pub max_chars: usize,
    /// Sent along with an exchange, to take the place of the form that asked.
    pub oob: bool,
}

impl AskForm {
    fn new(action: String, csrf: &str, topics: Option<Vec<TopicGroup>>) -> Self {
        Self {
            action,
            errors: FormErrors::default(),
            message: String::new(),
            topic_id: None,
            topics,
            csrf: csrf.to_string(),
            max_chars: MAX_MESSAGE_CHARS,
            oob: false,
        }
    }

    /// Where htmx puts the exchange: under the form of a new thread, or at the end of the
    /// thread's messages.
    fn target(&self) -> &'static str {
        if self.topics.is_some() {
            "#tutor-new"
        } else {
            "#messages"
        }
    }

    fn swap(&self) -> &'static str {
        if self.topics.is_some() {
            "innerHTML"
        } else {
            "beforeend"
        }
    }

    fn selected(&self, id: &Uuid) -> bool {
        self.topic_id.as_ref() == Some(id)
    }
}

#[derive(Template)]
#[template(path = "tutor/index.html")]
struct IndexPage {
    layout: Layout,
    form: AskForm,
    threads: Vec<DoubtSessionView>,
    next_cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "tutor/thread.html")]
struct ThreadPage {
    layout: Layout,
    title: String,
    messages: Vec<MessageView>,
    form: AskForm,
}

#[derive(Template)]
#[template(path = "tutor/form_partial.html")]
struct FormPartial {
    form: AskForm,
}

#[derive(Template)]
#[template(path = "tutor/exchange_partial.html")]
struct ExchangePartial {
    question: String,
    token: Uuid,
    /// For a new thread: the fragment is the whole conversation, not items to append.
    new_thread: bool,
    form: AskForm,
}

#[derive(Template)]
#[template(path = "tutor/reply_partial.html")]
struct ReplyPartial {
    msg: MessageView,
    thread: Option<Uuid>,
    withheld: bool,
}

#[derive(Template)]
#[template(path = "tutor/failed_partial.html")]
struct FailedPartial {
    message: String,
}

// ---------------------------------------------------------------------------------------------
// Pages

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    cursor: Option<String>,
}

async fn index(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let layout = Layout::signed_in(&state, &user, csrf, "Tutor", "tutor").await?;
    let form = AskForm::new(
        "/tutor".into(),
        &layout.csrf,
        Some(topic_groups(&state).await?),
    );
    index_page(&state, &user, layout, form, q.cursor, StatusCode::OK).await
}

async fn index_page(
    state: &AppState,
    user: &CurrentUser,
    layout: Layout,
    form: AskForm,
    cursor: Option<String>,
    status: StatusCode,
) -> AppResult<Response> {
    let page = doubts::list(
        state,
        user.id,
        PageParams {
            limit: Some(20),
            cursor,
        },
    )
    .await?;
    Ok(render_status(
        status,
        &IndexPage {
            layout,
            form,
            threads: page.items,
            next_cursor: page.next_cursor,
        },
    ))
}

async fn thread(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    let detail = doubts::detail(&state, user.id, id).await?;
    let layout =
        Layout::signed_in(&state, &user, csrf, detail.session.title.clone(), "tutor").await?;
    let form = AskForm::new(format!("/tutor/{id}/messages"), &layout.csrf, None);
    thread_page(&state, &user, layout, detail, form, StatusCode::OK).await
}

async fn thread_page(
    state: &AppState,
    user: &CurrentUser,
    layout: Layout,
    detail: crate::tutor::model::DoubtDetail,
    form: AskForm,
    status: StatusCode,
) -> AppResult<Response> {
    let messages = message_views(state, user, detail.messages).await?;
    Ok(render_status(
        status,
        &ThreadPage {
            layout,
            title: detail.session.title,
            messages,
            form,
        },
    ))
}

// ---------------------------------------------------------------------------------------------
// Asking

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AskFields {
    message: String,
    topic_id: String,
}

/// The errors of a refused question; a used-up allowance says so in words, with when it resets.
pub fn ask_errors(err: &AppError) -> FormErrors {
    match err {
        AppError::QuotaExceeded {
            retry_after_secs,
            detail,
        } => FormErrors::general(quota_message(*retry_after_secs, detail)),
        other => FormErrors::from_error(other),
    }
}

/// "You have used up today's allowance (…). You can ask again in about 3 hours."
pub fn quota_message(retry_after_secs: u64, detail: &str) -> String {
    let hours = retry_after_secs.div_ceil(3600);
    let when = if retry_after_secs < 3600 {
        "within the hour".to_string()
    } else if hours == 1 {
        "in about an hour".to_string()
    } else {
        format!("in about {hours} hours")
    };
    format!("You have used up today's allowance: {detail}. You can try again {when}.")
}

fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// The form again with its errors, in place of the one that was sent (htmx).
fn form_with_errors(err: &AppError, form: AskForm) -> Response {
    let mut res = render_status(status_of(err), &FormPartial { form });
    let h = res.headers_mut();
    h.insert("hx-retarget", HeaderValue::from_static("#ask-form"));
    h.insert("hx-reswap", HeaderValue::from_static("outerHTML"));
    res
}

async fn ask_new(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
    headers: HeaderMap,
    WebForm(fields): WebForm<AskFields>,
) -> AppResult<Response> {
    let topic_id = match fields.topic_id.trim() {
        "" => Ok(None),
        t => t
            .parse::<Uuid>()
            .map(Some)
            .map_err(|_| AppError::invalid("topic_id", "no such topic")),
    };
    let prepared = match topic_id {
        Ok(topic_id) => doubts::prepare(&state, user.id, None, topic_id, &fields.message)
            .await
            .map(|p| (p, topic_id)),
        Err(err) => Err(err),
    };
    match prepared {
        Ok((prepared, _)) => {
            if is_htmx(&headers) {
                let form =
                    AskForm::new("/tutor".into(), &csrf.0, Some(topic_groups(&state).await?));
                Ok(start_stream(
                    &state,
                    &user,
                    prepared,
                    fields.message,
                    true,
                    form,
                ))
            } else {
                let exchange = doubts::answer(&state, prepared, |_| {}).await?;
                Ok(session::redirect(
                    &headers,
                    &format!("/tutor/{}", exchange.doubt_session.id),
                ))
            }
        }
        Err(err) => {
            let mut form =
                AskForm::new("/tutor".into(), &csrf.0, Some(topic_groups(&state).await?));
            form.errors = ask_errors(&err);
            form.message = fields.message;
            form.topic_id = fields.topic_id.trim().parse().ok();
            if is_htmx(&headers) {
                return Ok(form_with_errors(&err, form));
            }
            if matches!(err, AppError::Internal(_)) {
                return Err(err);
            }
            let layout = Layout::signed_in(&state, &user, csrf, "Tutor", "tutor").await?;
            index_page(&state, &user, layout, form, None, status_of(&err)).await
        }
    }
}

async fn ask_follow_up(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    csrf: Csrf,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    WebForm(fields): WebForm<AskFields>,
) -> AppResult<Response> {
    let action = format!("/tutor/{id}/messages");
    match doubts::prepare(&state, user.id, Some(id), None, &fields.message).await {
        Ok(prepared) => {
            if is_htmx(&headers) {
                let form = AskForm::new(action, &csrf.0, None);
                Ok(start_stream(
                    &state,
                    &user,
                    prepared,
                    fields.message,
                    false,
                    form,
                ))
            } else {
                doubts::answer(&state, prepared, |_| {}).await?;
                Ok(session::redirect(&headers, &format!("/tutor/{id}")))
            }
        }
        Err(err @ (AppError::NotFound(_) | AppError::Internal(_))) => Err(err),
        Err(err) => {
            let mut form = AskForm::new(action, &csrf.0, None);
            form.errors = ask_errors(&err);
            form.message = fields.message;
            if is_htmx(&headers) {
                return Ok(form_with_errors(&err, form));
            }
            let detail = doubts::detail(&state, user.id, id).await?;
            let layout =
                Layout::signed_in(&state, &user, csrf, detail.session.title.clone(), "tutor")
                    .await?;
            thread_page(&state, &user, layout, detail, form, status_of(&err)).await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Streaming

/// What the answering task reports.
enum Step {
    Delta(String),
    Done(Box<ExchangeResponse>),
    Failed(String),
}

/// A reply being written, waiting for its page to connect.
struct Pending {
    user_id: Uuid,
    new_thread: bool,
    since: Instant,
    rx: mpsc::UnboundedReceiver<Step>,
}

/// A stream nobody connected to within this long is dropped (its reply is stored anyway).
const PENDING_TTL: Duration = Duration::from_secs(600);

static PENDING: LazyLock<Mutex<HashMap<Uuid, Pending>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Starts answering in its own task (a page that goes away does not lose the reply) and
/// answers with the fragment that connects to the stream.
fn start_stream(
    state: &AppState,
    user: &CurrentUser,
    prepared: Prepared,
    question: String,
    new_thread: bool,
    mut form: AskForm,
) -> Response {
    form.oob = true;
    let (tx, rx) = mpsc::unbounded_channel();
    let token = Uuid::new_v4();
    {
        let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        pending.retain(|_, p| p.since.elapsed() < PENDING_TTL);
        pending.insert(
            token,
            Pending {
                user_id: user.id,
                new_thread,
                since: Instant::now(),
                rx,
            },
        );
    }
    let state = state.clone();
    tokio::spawn(async move {
        let deltas = tx.clone();
        let result = doubts::answer(&state, prepared, move |text| {
            let _ = deltas.send(Step::Delta(text.to_string()));
        })
        .await;
        let last = match result {
            Ok(exchange) => Step::Done(Box::new(exchange)),
            Err(err) => {
                if let AppError::Internal(cause) = &err {
                    tracing::error!(error = ?cause, "tutor reply failed");
                }
                Step::Failed(message(&err))
            }
        };
        let _ = tx.send(last);
    });
    render(&ExchangePartial {
        question: question.trim().to_string(),
        token,
        new_thread,
        form,
    })
}

fn html_of(template: &impl Template) -> String {
    template.render().unwrap_or_else(|err| {
        tracing::error!(error = %err, "rendering a reply failed");
        "<p>The reply could not be shown; reload the page.</p>".into()
    })
}

async fn stream(
    State(state): State<AppState>,
    WebUser(user): WebUser,
    Path(token): Path<Uuid>,
) -> AppResult<Response> {
    let pending = {
        let mut map = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&token) {
            Some(p) if p.user_id == user.id => map.remove(&token),
            _ => None,
        }
    };
    let Some(pending) = pending else {
        return Err(AppError::NotFound("reply stream"));
    };
    let new_thread = pending.new_thread;
    // 0: forwarding the reply; 1: the reply is shown, say `done`; 2: the end.
    let events = futures_util::stream::unfold(
        (pending.rx, state, user, 0u8),
        move |(mut rx, state, user, phase)| async move {
            let done = || Event::default().event("done").data("end");
            match phase {
                0 => {}
                1 => return Some((Ok::<_, Infallible>(done()), (rx, state, user, 2))),
                _ => return None,
            }
            let (event, next) = match rx.recv().await {
                Some(Step::Delta(text)) => (
                    Event::default().event("delta").data(format!(
                        "<span>{}</span>",
                        html::escape(&text.replace('\r', ""))
                    )),
                    0,
                ),
                Some(Step::Done(exchange)) => {
                    let thread = new_thread.then_some(exchange.doubt_session.id);
                    let withheld = exchange.answer_withheld;
                    let views =
                        message_views(&state, &user, vec![exchange.assistant_message]).await;
                    let html = match views {
                        Ok(mut views) if !views.is_empty() => html_of(&ReplyPartial {
                            msg: views.remove(0),
                            thread,
                            withheld,
                        }),
                        _ => html_of(&FailedPartial {
                            message: "The reply was stored, but could not be shown here; \
                                      reload the page to see it."
                                .into(),
                        }),
                    };
                    (Event::default().event("message").data(html), 1)
                }
                Some(Step::Failed(message)) => (
                    Event::default()
                        .event("failed")
                        .data(html_of(&FailedPartial { message })),
                    1,
                ),
                None => (done(), 2),
            };
            Some((Ok(event), (rx, state, user, next)))
        },
    );
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}
