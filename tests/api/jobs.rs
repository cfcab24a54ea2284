//! The background-job queue: unique keys, leases, retries, dead jobs, several workers, a worker
//! killed mid-job, and the admin endpoints.

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use studium::entity::jobs;
use studium::jobs::{Enqueued, NewJob, queue};
use studium::mail::Email;
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, run};
use crate::support::SmtpSink;
use crate::{backend_test, db_test};

async fn job(app: &TestApp, id: Uuid) -> jobs::Model {
    jobs::Entity::find_by_id(id)
        .one(app.state.db.read())
        .await
        .unwrap()
        .expect("the job exists")
}

async fn enqueue(app: &TestApp, new: NewJob) -> Enqueued {
    let txn = app.state.db.begin_write().await.unwrap();
    let queued = studium::jobs::enqueue(&txn, new, app.clock.now(), 5)
        .await
        .unwrap();
    txn.commit().await.unwrap();
    queued
}

fn queued_id(e: Enqueued) -> Uuid {
    match e {
        Enqueued::Queued(id) => id,
        Enqueued::Duplicate => panic!("expected a new job"),
    }
}

fn email_job(to: &str, subject: &str) -> NewJob {
    let email = Email {
        to: to.into(),
        subject: subject.into(),
        body: format!("{subject}\n"),
    };
    NewJob::new(
        studium::jobs::handlers::EMAIL_SEND,
        serde_json::to_value(email).unwrap(),
    )
}

/// Moves the clock to the job's next try when it is waiting for one (a retry's backoff).
async fn skip_backoff(app: &TestApp, id: Uuid) {
    let row = job(app, id).await;
    if row.status == "queued" && row.run_at > app.clock.now() {
        app.set_time(row.run_at);
    }
}

/// Polls (every 20 ms, up to 15 s) until the job is in `status`.
async fn wait_for_status(app: &TestApp, id: Uuid, status: &str) -> jobs::Model {
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(15);
    loop {
        let row = job(app, id).await;
        if row.status == status {
            return row;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} never became {status}: {row:?}"
        );
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
}

db_test!(a_unique_key_queues_one_live_job, |app| {
    // Far in the future, so the app's worker leaves them alone.
    let later = app.clock.now() + Duration::days(30);
    let first = enqueue(
        &app,
        NewJob::new("report.build", json!({"n": 1}))
            .unique("report:1")
            .at(later),
    )
    .await;
    let id = queued_id(first);
    let second = enqueue(
        &app,
        NewJob::new("report.build", json!({"n": 2}))
            .unique("report:1")
            .at(later),
    )
    .await;
    assert_eq!(second, Enqueued::Duplicate);
    let count = jobs::Entity::find()
        .filter(jobs::Column::UniqueKey.eq("report:1"))
        .count(app.state.db.read())
        .await
        .unwrap();
    assert_eq!(count, 1);
    assert_eq!(job(&app, id).await.payload, json!({"n": 1}));

    // A job queued in a transaction that rolls back is not queued.
    let txn = app.state.db.begin_write().await.unwrap();
    let ghost = studium::jobs::enqueue(
        &txn,
        NewJob::new("report.build", json!({})).at(later),
        app.clock.now(),
        5,
    )
    .await
    .unwrap();
    txn.rollback().await.unwrap();
    let ghost = queued_id(ghost);
    assert!(
        jobs::Entity::find_by_id(ghost)
            .one(app.state.db.read())
            .await
            .unwrap()
            .is_none()
    );

    // Once the job is done, the key is free for new work.
    let lock = "test-worker/1";
    let claimed = queue::claim(&app.state.db, lock, later, StdDuration::from_secs(60), 5)
        .await
        .unwrap()
        .pop()
        .expect("the due job is claimed");
    assert_eq!(claimed.id, id);
    assert_eq!(claimed.attempts, 1);
    assert!(
        queue::complete(app.state.db.write(), id, lock, later)
            .await
            .unwrap()
    );
    let third = enqueue(
        &app,
        NewJob::new("report.build", json!({"n": 3}))
            .unique("report:1")
            .at(later),
    )
    .await;
    assert!(matches!(third, Enqueued::Queued(_)));

    // The maintenance run is queued once per interval, however often it is asked for, even
    // after it has run.
    let every = StdDuration::from_secs(3600);
    let a = studium::maintenance::queue_run(&app.state, every)
        .await
        .unwrap();
    assert!(matches!(a, Enqueued::Queued(_)));
    let b = studium::maintenance::queue_run(&app.state, every)
        .await
        .unwrap();
    assert_eq!(b, Enqueued::Duplicate);
    wait_for_status(&app, queued_id(a), "done").await;
    let c = studium::maintenance::queue_run(&app.state, every)
        .await
        .unwrap();
    assert_eq!(c, Enqueued::Duplicate);
    app.clock.advance(Duration::hours(1));
    let d = studium::maintenance::queue_run(&app.state, every)
        .await
        .unwrap();
    assert!(matches!(d, Enqueued::Queued(_)));
});

async fn several_workers_run_each_job_once(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    run(
        backend,
        move |c| c.smtp_url = Some(url),
        move |app| async move {
            // Three workers over one database: this instance's, a second instance's, and one
            // more loop beside them.
            let second = app.second_instance().await;
            let (_stop, stopped) = tokio::sync::watch::channel(false);
            let third = tokio::spawn(studium::jobs::worker::run(app.state.clone(), stopped));

            const N: usize = 40;
            let addresses: Vec<String> = (0..N)
                .map(|i| app.unique_email(&format!("w{i}.")))
                .collect();
            let txn = app.state.db.begin_write().await.unwrap();
            let mut ids = Vec::new();
            for to in &addresses {
                let queued =
                    studium::jobs::enqueue(&txn, email_job(to, "Batch"), app.clock.now(), 5)
                        .await
                        .unwrap();
                ids.push(queued_id(queued));
            }
            txn.commit().await.unwrap();

            for id in &ids {
                let row = wait_for_status(&app, *id, "done").await;
                assert_eq!(row.attempts, 1, "{row:?}");
            }
            for to in &addresses {
                assert_eq!(sink.count_to(to), 1, "{to}");
            }
            third.abort();
            drop(second);
        },
    )
    .await;
}
backend_test!(
    several_workers_run_each_job_once_across_instances,
    several_workers_run_each_job_once
);

async fn a_job_whose_worker_died_runs_again_after_its_lease(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    run(
        backend,
        move |c| {
            c.smtp_url = Some(url);
            c.job_lease_secs = 30;
        },
        move |app| async move {
            let to = app.unique_email("lease");
            // Due in a minute; a worker whose clock runs ahead of the app's (so the app's worker
            // cannot beat it to the claim) takes the job and dies without a word.
            let ahead = app.clock.now() + Duration::minutes(1);
            let id = queued_id(enqueue(&app, email_job(&to, "Leased").at(ahead)).await);
            let dead_lock = "dead-worker/1";
            let lease = StdDuration::from_secs(30);
            let claimed = queue::claim(&app.state.db, dead_lock, ahead, lease, 1)
                .await
                .unwrap()
                .pop()
                .expect("claimed");
            assert_eq!(claimed.id, id);
            assert_eq!(claimed.status, "running");

            // Once the lease has passed, a live worker takes it and sends the email, once.
            app.clock
                .advance(Duration::minutes(1) + Duration::seconds(31));
            let row = wait_for_status(&app, id, "done").await;
            assert_eq!(row.attempts, 2);
            assert_ne!(row.locked_by.as_deref(), Some(dead_lock));
            sink.wait_for(&to, "Leased").await;
            assert_eq!(sink.count_to(&to), 1);

            // The first worker, coming back, can neither renew nor finish what is no longer its.
            let now = app.clock.now();
            let db = app.state.db.write();
            assert!(
                !queue::heartbeat(db, id, dead_lock, now, lease)
                    .await
                    .unwrap()
            );
            assert!(!queue::complete(db, id, dead_lock, now).await.unwrap());
            let after = queue::fail(db, &claimed, dead_lock, now, "late", lease)
                .await
                .unwrap();
            assert_eq!(after, queue::Failure::LeaseLost);
            assert_eq!(job(&app, id).await.status, "done");
        },
    )
    .await;
}
backend_test!(
    a_job_whose_worker_died_is_taken_again_after_its_lease,
    a_job_whose_worker_died_runs_again_after_its_lease
);

async fn a_killed_worker_process_leaves_its_job_to_another(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    run(
        backend,
        move |c| c.smtp_url = Some(url),
        move |app| async move {
            // The first delivery hangs, so the worker process is mid-job when it is killed.
            sink.stall_next(1);
            let to = app.unique_email("killed");
            // Due by the real clock (the `studium worker` process), not yet by the app's,
            // which stands months earlier: only the process can claim it at first.
            let id = queued_id(enqueue(&app, email_job(&to, "Survivor").at(Utc::now())).await);

            let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_studium"))
                .arg("worker")
                .env_clear()
                .env("STUDIUM_DATABASE_URL", &app.state.config.database_url)
                .env("STUDIUM_SMTP_URL", sink.url())
                .env("STUDIUM_JOB_LEASE_SECS", "2")
                .env("STUDIUM_JOB_POLL_MS", "50")
                .env("STUDIUM_MAINTENANCE_INTERVAL_SECS", "86400")
                .env("STUDIUM_DB_MAX_CONNECTIONS", "2")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("starting studium worker");

            // The process claims the job and hangs in SMTP; its heartbeat renews the lease.
            let deadline = tokio::time::Instant::now() + StdDuration::from_secs(30);
            let first = loop {
                let row = job(&app, id).await;
                if row.status == "running" && sink.stalled() == 1 {
                    break row;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the worker process never claimed the job: {row:?}"
                );
                tokio::time::sleep(StdDuration::from_millis(20)).await;
            };
            let first_lease = first.locked_until.expect("leased");
            loop {
                let row = job(&app, id).await;
                if row.locked_until.is_some_and(|l| l > first_lease) {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the lease was never renewed: {row:?}"
                );
                tokio::time::sleep(StdDuration::from_millis(50)).await;
            }

            // SIGKILL: no chance to give the lease back.
            child.start_kill().expect("kill -9");
            child.wait().await.expect("the worker process ends");
            let killed = job(&app, id).await;
            assert_eq!(killed.status, "running");
            assert_eq!(sink.count_to(&to), 0);

            // The app's worker, its clock now past the dead worker's lease, delivers it once.
            app.set_time(Utc::now() + Duration::seconds(3));
            let row = wait_for_status(&app, id, "done").await;
            assert_eq!(row.attempts, 2, "{row:?}");
            assert_ne!(row.locked_by, killed.locked_by);
            sink.wait_for(&to, "Survivor").await;
            assert_eq!(sink.count_to(&to), 1);
        },
    )
    .await;
}
backend_test!(
    a_worker_killed_mid_job_has_it_delivered_once_by_another,
    a_killed_worker_process_leaves_its_job_to_another
);

db_test!(
    a_job_that_always_fails_ends_dead_with_its_error,
    config = |c| {
        // The test walks the clock hours ahead.
        c.access_token_ttl_secs = 7 * 24 * 60 * 60;
    },
    |app| {
        let admin = app.admin().await;
        let id = queued_id(
            enqueue(
                &app,
                NewJob::new("no.such.kind", json!({"x": 1})).max_attempts(3),
            )
            .await,
        );
        // Each failure waits for its backoff; walk the clock past it until the job is dead.
        let deadline = tokio::time::Instant::now() + StdDuration::from_secs(20);
        let body = loop {
            let res = app
                .get(&format!("/admin/jobs/{id}"), Some(&admin.access))
                .await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.text);
            if res.body["status"] == "dead" {
                break res.body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never dead: {}",
                res.text
            );
            skip_backoff(&app, id).await;
            tokio::time::sleep(StdDuration::from_millis(30)).await;
        };
        assert_eq!(body["attempts"], 3);
        assert_eq!(body["max_attempts"], 3);
        assert!(
            body["last_error"]
                .as_str()
                .unwrap()
                .contains("no handler for job kind"),
            "{body}"
        );
        assert!(body["locked_until"].is_null());

        // Listed among the dead jobs of its kind.
        let res = app
            .get(
                "/admin/jobs?status=dead&kind=no.such.kind",
                Some(&admin.access),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let items = res.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["id"], id.to_string());

        // Retried: queued again with its attempts reset; it fails its way to dead again.
        let res = app
            .post(
                &format!("/admin/jobs/{id}/retry"),
                Some(&admin.access),
                json!({}),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        assert_eq!(res.body["attempts"], 0);
        assert_ne!(res.body["status"], "dead");
        let deadline = tokio::time::Instant::now() + StdDuration::from_secs(20);
        while job(&app, id).await.status != "dead" {
            assert!(tokio::time::Instant::now() < deadline, "never dead again");
            skip_backoff(&app, id).await;
            tokio::time::sleep(StdDuration::from_millis(30)).await;
        }
        assert_eq!(job(&app, id).await.attempts, 3);
    }
);

db_test!(admins_list_inspect_and_retry_jobs_and_nobody_else, |app| {
    let admin = app.admin().await;
    let student = app.student().await;
    // The student's verification email is a job; it is sent (to the log) and done.
    let emails = app
        .get("/admin/jobs?kind=email.send", Some(&admin.access))
        .await;
    assert_eq!(emails.status, StatusCode::OK, "{}", emails.text);
    let email_job = emails.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["payload"]["to"] == student.email.as_str())
        .expect("the verification email is a job")
        .clone();
    let email_id: Uuid = email_job["id"].as_str().unwrap().parse().unwrap();
    wait_for_status(&app, email_id, "done").await;

    // A done job cannot be retried; an unknown one is not found.
    let res = app
        .post(
            &format!("/admin/jobs/{email_id}/retry"),
            Some(&admin.access),
            json!({}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.text);
    assert!(res.is_problem());
    assert_eq!(res.problem_slug(), "job-not-retryable");
    let unknown = Uuid::now_v7();
    for res in [
        app.get(&format!("/admin/jobs/{unknown}"), Some(&admin.access))
            .await,
        app.post(
            &format!("/admin/jobs/{unknown}/retry"),
            Some(&admin.access),
            json!({}),
        )
        .await,
    ] {
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text);
        assert!(res.is_problem());
    }

    // Students are refused everywhere.
    for res in [
        app.get("/admin/jobs", Some(&student.access)).await,
        app.get(&format!("/admin/jobs/{email_id}"), Some(&student.access))
            .await,
        app.post(
            &format!("/admin/jobs/{email_id}/retry"),
            Some(&student.access),
            json!({}),
        )
        .await,
    ] {
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text);
        assert!(res.is_problem());
    }
    assert_eq!(
        app.get("/admin/jobs", None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Bad filters are 4xx problems.
    for path in [
        "/admin/jobs?status=lost",
        "/admin/jobs?limit=0",
        "/admin/jobs?cursor=not-a-cursor",
        "/admin/jobs?colour=blue",
    ] {
        let res = app.get(path, Some(&admin.access)).await;
        assert!(res.status.is_client_error(), "{path}: {}", res.text);
        assert!(res.is_problem(), "{path}");
    }

    // Keyset pages, newest first, each job once.
    let later = app.clock.now() + Duration::days(30);
    let mut queued = Vec::new();
    for n in 0..5 {
        queued.push(queued_id(
            enqueue(&app, NewJob::new("page.test", json!({"n": n})).at(later)).await,
        ));
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/admin/jobs?kind=page.test&status=queued&limit=2&cursor={c}"),
            None => "/admin/jobs?kind=page.test&status=queued&limit=2".to_string(),
        };
        let res = app.get(&path, Some(&admin.access)).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        for item in res.body["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().parse::<Uuid>().unwrap());
        }
        match res.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    queued.reverse();
    assert_eq!(seen, queued);
});

async fn an_email_accepted_while_the_mail_server_is_down_arrives_later(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    run(
        backend,
        move |c| {
            c.smtp_url = Some(url);
            c.access_token_ttl_secs = 7 * 24 * 60 * 60;
        },
        move |app| async move {
            // The mail server turns the first two deliveries away.
            sink.refuse_next(2);
            let user = app.student().await;
            let email_job = jobs::Entity::find()
                .filter(jobs::Column::Kind.eq("email.send"))
                .one(app.state.db.read())
                .await
                .unwrap()
                .expect("registering queued the verification email");
            // Each retry waits for its backoff: walk the clock past it until the email is sent.
            let deadline = tokio::time::Instant::now() + StdDuration::from_secs(20);
            loop {
                let row = job(&app, email_job.id).await;
                if row.status == "done" {
                    assert_eq!(row.attempts, 3, "{row:?}");
                    assert!(row.last_error.is_some_and(|e| e.contains("421")));
                    break;
                }
                assert_ne!(row.status, "dead", "{row:?}");
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "never sent: {row:?}"
                );
                skip_backoff(&app, email_job.id).await;
                tokio::time::sleep(StdDuration::from_millis(30)).await;
            }
            sink.wait_for(&user.email, "Confirm your email").await;
            assert_eq!(sink.count_to(&user.email), 1);
        },
    )
    .await;
}
backend_test!(
    an_email_is_retried_until_the_mail_server_takes_it,
    an_email_accepted_while_the_mail_server_is_down_arrives_later
);

async fn a_stopped_worker_process_gives_back_its_unfinished_job(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    run(
        backend,
        move |c| c.smtp_url = Some(url),
        move |app| async move {
            sink.stall_next(1);
            let to = app.unique_email("stopped");
            let id = queued_id(enqueue(&app, email_job(&to, "Handed back").at(Utc::now())).await);
            let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_studium"))
                .arg("worker")
                .env_clear()
                .env("STUDIUM_DATABASE_URL", &app.state.config.database_url)
                .env("STUDIUM_SMTP_URL", sink.url())
                .env("STUDIUM_JOB_POLL_MS", "50")
                .env("STUDIUM_MAINTENANCE_INTERVAL_SECS", "86400")
                .env("STUDIUM_DB_MAX_CONNECTIONS", "2")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("starting studium worker");
            let deadline = tokio::time::Instant::now() + StdDuration::from_secs(30);
            loop {
                let row = job(&app, id).await;
                if row.status == "running" && sink.stalled() == 1 {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "never claimed: {row:?}"
                );
                tokio::time::sleep(StdDuration::from_millis(20)).await;
            }

            // SIGTERM: the process waits for its job, then gives the lease back and exits.
            let pid = child.id().expect("pid").to_string();
            let status = tokio::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .await
                .expect("kill -TERM");
            assert!(status.success());
            let exit = tokio::time::timeout(StdDuration::from_secs(30), child.wait())
                .await
                .expect("the worker stops after its grace period")
                .expect("wait");
            assert!(exit.success(), "{exit:?}");
            let row = job(&app, id).await;
            assert_eq!(row.status, "queued", "{row:?}");
            assert_eq!(row.attempts, 0);
            assert!(row.locked_by.is_none() && row.locked_until.is_none());

            // Another worker takes it at once, without waiting for a lease to pass.
            app.set_time(Utc::now());
            wait_for_status(&app, id, "done").await;
            sink.wait_for(&to, "Handed back").await;
            assert_eq!(sink.count_to(&to), 1);
        },
    )
    .await;
}
backend_test!(
    a_worker_stopped_by_sigterm_hands_back_its_unfinished_job,
    a_stopped_worker_process_gives_back_its_unfinished_job
);

db_test!(a_panicking_handler_fails_its_job_not_the_worker, |app| {
    let later = app.clock.now() + Duration::days(30);
    let id = queued_id(
        enqueue(
            &app,
            NewJob::new("fragile.work", json!({}))
                .at(later)
                .max_attempts(2),
        )
        .await,
    );
    let worker = studium::jobs::worker::Worker::new(app.state.clone());
    let lease = StdDuration::from_secs(60);
    let lock = "panicking-worker/1".to_string();
    let claimed = queue::claim(&app.state.db, &lock, later, lease, 1)
        .await
        .unwrap()
        .pop()
        .expect("claimed");
    app.set_time(later);
    let (_keep, give_up) = tokio::sync::watch::channel(false);
    let outcome = worker
        .execute_with(claimed, lock, give_up, async {
            panic!("the parser fell over");
        })
        .await
        .expect("the outcome is recorded");
    assert_eq!(outcome, studium::jobs::worker::Outcome::Retry(id));
    let row = job(&app, id).await;
    assert_eq!(row.status, "queued");
    assert_eq!(row.attempts, 1);
    assert_eq!(
        row.last_error.as_deref(),
        Some("the handler panicked: the parser fell over")
    );
    // The worker goes on: its next job runs (and fails: no handler for this kind) normally.
    skip_backoff(&app, id).await;
    let (_keep, give_up) = tokio::sync::watch::channel(false);
    let lock = "panicking-worker/2".to_string();
    let again = queue::claim(&app.state.db, &lock, app.clock.now(), lease, 1)
        .await
        .unwrap()
        .pop();
    // The app's own worker may have taken it first; either way it ends dead, not stuck.
    if let Some(again) = again {
        let outcome = worker.execute(again, lock, give_up).await.unwrap();
        assert_eq!(outcome, studium::jobs::worker::Outcome::Dead(id));
    }
    let row = wait_for_status(&app, id, "dead").await;
    assert!(row.last_error.unwrap().contains("no handler for job kind"));
});
