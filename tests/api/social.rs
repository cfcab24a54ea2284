//! Friends and leaderboards (SPEC §3 Friends, Leaderboards; §4 social).

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use studium::entity::{friends, user_achievements};
use uuid::Uuid;

use crate::db_test;
use crate::gamification::{create_achievement, uid};
use crate::helpers::*;

async fn named(app: &TestApp, name: &str) -> TestUser {
    let email = app.unique_email("friend");
    let res = app.register_as(&email, PASSWORD, name).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    user_from(&res, &email)
}

async fn ask(app: &TestApp, from: &TestUser, to: &TestUser) -> Resp {
    app.post(
        "/friends/requests",
        Some(&from.access),
        json!({"addressee_id": to.id}),
    )
    .await
}

/// Makes `a` and `b` friends through the API.
pub async fn befriend(app: &TestApp, a: &TestUser, b: &TestUser) {
    let res = ask(app, a, b).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    let id = res.body["id"].as_str().expect("id").to_string();
    let res = app
        .post(
            &format!("/friends/requests/{id}/accept"),
            Some(&b.access),
            json!({}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
}

async fn pair_rows(app: &TestApp, a: &TestUser, b: &TestUser) -> Vec<friends::Model> {
    friends::Entity::find()
        .filter(friends::Column::RequesterId.is_in([uid(a), uid(b)]))
        .filter(friends::Column::AddresseeId.is_in([uid(a), uid(b)]))
        .all(app.state.db.read())
        .await
        .expect("friends rows")
}

async fn friend_ids(app: &TestApp, user: &TestUser) -> Vec<String> {
    let res = app.get("/friends", Some(&user.access)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    res.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|f| f["user_id"].as_str().expect("user_id").to_string())
        .collect()
}

db_test!(
    requests_crossing_at_the_same_moment_make_one_accepted_friendship,
    |app| {
        for _ in 0..5 {
            let a = app.student().await;
            let b = app.student().await;
            let (ab, ba) = tokio::join!(ask(&app, &a, &b), ask(&app, &b, &a));
            let mut statuses = [ab.status, ba.status];
            statuses.sort();
            // One request was created, the other found it and accepted it.
            assert_eq!(
                statuses,
                [StatusCode::OK, StatusCode::CREATED],
                "{} / {}",
                ab.text,
                ba.text
            );
            let rows = pair_rows(&app, &a, &b).await;
            assert_eq!(rows.len(), 1, "{rows:?}");
            assert_eq!(rows[0].status, "accepted");
            assert_eq!(friend_ids(&app, &a).await, vec![b.id.clone()]);
            assert_eq!(friend_ids(&app, &b).await, vec![a.id.clone()]);
        }
    }
);

db_test!(a_request_to_someone_who_asked_me_accepts_theirs, |app| {
    let a = app.student().await;
    let b = app.student().await;
    let first = ask(&app, &a, &b).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert_eq!(first.body["status"], "pending");
    let again = ask(&app, &a, &b).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert_eq!(again.problem_slug(), "request-exists");
    let back = ask(&app, &b, &a).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.text);
    assert_eq!(back.body["status"], "accepted");
    assert_eq!(back.body["id"], first.body["id"]);
    assert_eq!(pair_rows(&app, &a, &b).await.len(), 1);
    let third = ask(&app, &b, &a).await;
    assert_eq!(third.status, StatusCode::CONFLICT);
    assert_eq!(third.problem_slug(), "already-friends");
});

db_test!(
    only_the_addressee_accepts_and_the_requester_cancels,
    |app| {
        let a = app.student().await;
        let b = app.student().await;
        let stranger = app.student().await;
        let req = ask(&app, &a, &b).await;
        let id = req.body["id"].as_str().expect("id").to_string();

        // Listed on both sides, with the other user's name only.
        let incoming = app
            .get("/friends/requests?direction=incoming", Some(&b.access))
            .await;
        assert_eq!(
            incoming.body["items"][0]["id"],
            id.as_str(),
            "{}",
            incoming.text
        );
        assert_eq!(incoming.body["items"][0]["other_user"]["id"], a.id.as_str());
        assert!(
            incoming.body["items"][0]["other_user"]
                .get("email")
                .is_none()
        );
        let outgoing = app
            .get("/friends/requests?direction=outgoing", Some(&a.access))
            .await;
        assert_eq!(outgoing.body["items"][0]["id"], id.as_str());
        let none = app
            .get("/friends/requests?direction=outgoing", Some(&b.access))
            .await;
        assert_eq!(none.body["items"], json!([]));
        let bad = app
            .get("/friends/requests?direction=sideways", Some(&b.access))
            .await;
        assert!(
            bad.status.is_client_error() && bad.is_problem(),
            "{}",
            bad.text
        );

        // The requester cannot accept; a stranger sees nothing.
        let accept = format!("/friends/requests/{id}/accept");
        let res = app.post(&accept, Some(&a.access), json!({})).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text);
        let res = app.post(&accept, Some(&stranger.access), json!({})).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text);
        let res = app
            .delete(&format!("/friends/requests/{id}"), Some(&stranger.access))
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.text);
        let res = app
            .post(
                &format!("/friends/requests/{}/accept", Uuid::now_v7()),
                Some(&b.access),
                json!({}),
            )
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
        assert_eq!(pair_rows(&app, &a, &b).await[0].status, "pending");

        // The requester cancels: gone for both; accepting it now is 404.
        let res = app
            .delete(&format!("/friends/requests/{id}"), Some(&a.access))
            .await;
        assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
        let res = app.post(&accept, Some(&b.access), json!({})).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
        assert!(pair_rows(&app, &a, &b).await.is_empty());

        // The addressee declines a new one.
        let req = ask(&app, &a, &b).await;
        let id = req.body["id"].as_str().expect("id").to_string();
        let res = app
            .delete(&format!("/friends/requests/{id}"), Some(&b.access))
            .await;
        assert_eq!(res.status, StatusCode::NO_CONTENT);
        assert!(pair_rows(&app, &a, &b).await.is_empty());

        // Accepted: both list each other, and either may unfriend; a friendship is no request.
        befriend(&app, &a, &b).await;
        let friends = app.get("/friends", Some(&a.access)).await;
        let f = &friends.body["items"][0];
        assert_eq!(f["user_id"], b.id.as_str(), "{}", friends.text);
        assert_eq!(f["full_name"], "Ada Student");
        assert_eq!(f["total_xp"], 0);
        assert_eq!(f["level"], 1);
        assert_eq!(f["current_streak"], 0);
        let id = pair_rows(&app, &a, &b).await[0].id;
        let res = app
            .delete(&format!("/friends/requests/{id}"), Some(&a.access))
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
        let res = app
            .delete(&format!("/friends/{}", a.id), Some(&stranger.access))
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
        let res = app
            .delete(&format!("/friends/{}", a.id), Some(&b.access))
            .await;
        assert_eq!(res.status, StatusCode::NO_CONTENT);
        assert!(friend_ids(&app, &a).await.is_empty());
        assert!(friend_ids(&app, &b).await.is_empty());
        let res = app
            .delete(&format!("/friends/{}", a.id), Some(&b.access))
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
    }
);

db_test!(bad_friend_requests_change_nothing, |app| {
    let a = app.student().await;
    let b = app.student().await;
    let cases = [
        json!({"addressee_id": a.id}),
        json!({}),
        json!({"addressee_id": b.id, "email": b.email}),
        json!({"addressee_id": "not-a-uuid"}),
        json!({"addressee_id": b.id, "extra": 1}),
    ];
    for body in cases {
        let res = app
            .post("/friends/requests", Some(&a.access), body.clone())
            .await;
        assert!(
            res.status.is_client_error() && res.is_problem(),
            "{body}: {}",
            res.text
        );
    }
    let res = app
        .post(
            "/friends/requests",
            Some(&a.access),
            json!({"addressee_id": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = app
        .post("/friends/requests", None, json!({"addressee_id": b.id}))
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(pair_rows(&app, &a, &b).await.is_empty());
    // By exact email (any case) it works.
    let res = app
        .post(
            "/friends/requests",
            Some(&a.access),
            json!({"email": b.email.to_uppercase()}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    assert_eq!(res.body["addressee_id"], b.id.as_str());
});

db_test!(
    user_search_reveals_ids_and_names_of_active_users_only,
    |app| {
        let admin = app.admin().await;
        let me = app.student().await;
        let tag = &Uuid::now_v7().simple().to_string()[24..];
        let grace = named(&app, &format!("Grace{tag} Hopper")).await;
        let _gracie = named(&app, &format!("Grace{tag}ful Percent")).await;
        let gone = named(&app, &format!("Grace{tag} Gone")).await;
        let res = app
            .patch(
                &format!("/admin/users/{}", gone.id),
                Some(&admin.access),
                json!({"is_active": false}),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);

        let res = app
            .get(&format!("/users/search?q=grace{tag}"), Some(&me.access))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let items = res.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 2, "{}", res.text);
        for item in items {
            let keys: Vec<&String> = item.as_object().expect("object").keys().collect();
            assert_eq!(keys, ["full_name", "id"]);
            assert_ne!(item["id"], gone.id.as_str());
        }
        // A name in the middle does not match; wildcards are literal.
        let res = app.get("/users/search?q=hopper", Some(&me.access)).await;
        assert!(
            res.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .all(|i| i["id"] != grace.id.as_str())
        );
        let res = app.get("/users/search?q=%25%25", Some(&me.access)).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.body["items"], json!([]));
        // An exact email finds its user; a part of one does not; an inactive user never shows.
        let res = app
            .get(
                &format!("/users/search?q={}", grace.email),
                Some(&me.access),
            )
            .await;
        assert_eq!(
            res.body["items"][0]["id"],
            grace.id.as_str(),
            "{}",
            res.text
        );
        let res = app
            .get(
                &format!("/users/search?q={}", &grace.email[..10]),
                Some(&me.access),
            )
            .await;
        assert_eq!(res.body["items"], json!([]));
        let res = app
            .get(&format!("/users/search?q={}", gone.email), Some(&me.access))
            .await;
        assert_eq!(res.body["items"], json!([]));
        // An inactive user cannot be asked either.
        let res = ask(&app, &me, &gone).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
        let res = app.get("/users/search?q=a", Some(&me.access)).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
        assert!(res.is_problem());
    }
);

db_test!(
    user_search_and_friend_requests_are_rate_limited,
    config = |c| {
        c.rate_limit_user_search_per_user = 3;
        c.rate_limit_friend_requests_per_user = 2;
    },
    |app| {
        let me = app.student().await;
        for _ in 0..3 {
            let res = app.get("/users/search?q=ada", Some(&me.access)).await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        }
        let res = app.get("/users/search?q=ada", Some(&me.access)).await;
        assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.text);
        assert!(res.headers.get("retry-after").is_some());
        // Another user has their own allowance.
        let other = app.student().await;
        let res = app.get("/users/search?q=ada", Some(&other.access)).await;
        assert_eq!(res.status, StatusCode::OK);

        for _ in 0..2 {
            let to = app.student().await;
            assert_eq!(ask(&app, &me, &to).await.status, StatusCode::CREATED);
        }
        let to = app.student().await;
        let res = ask(&app, &me, &to).await;
        assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(pair_rows(&app, &me, &to).await.is_empty());
    }
);

db_test!(
    accepting_a_friend_fires_friends_achievements_for_both,
    |app| {
        let admin = app.admin().await;
        let achievement = create_achievement(&app, &admin, "friends", 1, 0).await;
        let a = app.student().await;
        let b = app.student().await;
        befriend(&app, &a, &b).await;
        for user in [&a, &b] {
            let unlocked = user_achievements::Entity::find()
                .filter(user_achievements::Column::UserId.eq(uid(user)))
                .filter(user_achievements::Column::AchievementId.eq(achievement))
                .count(app.state.db.read())
                .await
                .expect("count");
            assert_eq!(unlocked, 1);
        }
    }
);
